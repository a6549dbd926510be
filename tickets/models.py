"""Ticketed Spaces: payout accounts, ticket offers, tickets, payouts and the Stripe event log.

Data and constraints only. The invariants that money and seats depend on are database constraints,
so no code path (a race, a retried task, a bug) can break them:

- ``0 <= seats_taken <= capacity`` on every offer (``seats_taken`` counts held and paid tickets);
- one live ticket (held or paid) per buyer per Space, one ticket per PaymentIntent;
- ``price = host_net + platform_fee`` on every split ticket and ``gross = host_net + platform_fee``
  on every payout; one payout per Space.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from rooms.models import Space
from spaces_project.common.models import TimeStampedModel

PRICE_MIN_CENTS = 100  # USD 1
PRICE_MAX_CENTS = 99_900  # USD 999


class PayoutAccount(TimeStampedModel):
    """A host's Stripe Connect (Express) account; its state follows ``account.updated`` webhooks."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="payout_account")
    stripe_account_id = models.CharField(max_length=64, unique=True)
    details_submitted = models.BooleanField(default=False)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    transfers_active = models.BooleanField(default=False)
    # ``created`` of the newest account event applied; an older event arriving late is ignored.
    stripe_state_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.stripe_account_id} ({self.user_id})"

    @property
    def can_receive_payouts(self) -> bool:
        return self.payouts_enabled and self.transfers_active


class TicketOffer(TimeStampedModel):
    """The ticketing of one Space: price, seats and sales end. ``seats_taken`` counts live tickets."""

    space = models.OneToOneField(Space, on_delete=models.CASCADE, related_name="ticket_offer")
    price_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    capacity = models.PositiveIntegerField()
    seats_taken = models.PositiveIntegerField(default=0)
    sales_end = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(price_cents__gte=PRICE_MIN_CENTS, price_cents__lte=PRICE_MAX_CENTS),
                name="offer_price_range",
            ),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="offer_capacity_positive"),
            models.CheckConstraint(
                condition=Q(seats_taken__gte=0, seats_taken__lte=F("capacity")), name="offer_never_oversold"
            ),
        ]

    def __str__(self) -> str:
        return f"offer space={self.space_id} {self.price_cents}c {self.seats_taken}/{self.capacity}"

    @property
    def seats_left(self) -> int:
        return max(self.capacity - self.seats_taken, 0)


class TicketStatus(models.TextChoices):
    HELD = "held"  # seat reserved, payment pending until hold_expires_at
    PAID = "paid"  # Stripe's signed webhook confirmed the payment
    EXPIRED = "expired"  # hold ran out; seat released
    CANCELED = "canceled"  # payment canceled or failed to start; seat released
    REFUND_PENDING = "refund_pending"  # refund requested from Stripe, not yet confirmed; seat released
    REFUNDED = "refunded"


# Statuses that occupy a seat (counted by TicketOffer.seats_taken).
SEAT_STATUSES = (TicketStatus.HELD, TicketStatus.PAID)


class Ticket(TimeStampedModel):
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="tickets")
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tickets")
    status = models.CharField(max_length=16, choices=TicketStatus.choices, default=TicketStatus.HELD)
    price_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    payment_intent_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    refund_id = models.CharField(max_length=255, null=True, blank=True)
    hold_expires_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    # The revenue split, written when the Space's payout is computed.
    host_net_cents = models.PositiveIntegerField(null=True, blank=True)
    platform_fee_cents = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["space", "buyer"],
                condition=Q(status__in=["held", "paid"]),
                name="ticket_one_live_per_buyer",
            ),
            models.CheckConstraint(condition=Q(status__in=[s.value for s in TicketStatus]), name="ticket_status_valid"),
            models.CheckConstraint(
                condition=Q(host_net_cents__isnull=True, platform_fee_cents__isnull=True)
                | Q(price_cents=F("host_net_cents") + F("platform_fee_cents")),
                name="ticket_split_balances",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "hold_expires_at"]),
            models.Index(fields=["space", "status"]),
            models.Index(fields=["buyer", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"ticket {self.pk} space={self.space_id} buyer={self.buyer_id} {self.status}"


class PayoutStatus(models.TextChoices):
    PENDING = "pending"  # computed, transfer not yet requested
    SUBMITTING = "submitting"  # transfer requested (or in flight); retried with the same key
    TRANSFERRED = "transferred"  # Stripe created the transfer (API answer or transfer.created)
    FAILED = "failed"  # Stripe refused; staff "retry payout" starts a new attempt
    REVERSED = "reversed"  # transfer.reversed


class Payout(TimeStampedModel):
    """One transfer to the host for one ended Space. ``attempt`` is part of the idempotency key."""

    space = models.OneToOneField(Space, on_delete=models.PROTECT, related_name="payout")
    host = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts")
    destination_account_id = models.CharField(max_length=64)
    currency = models.CharField(max_length=3, default="usd")
    ticket_count = models.PositiveIntegerField()
    gross_cents = models.PositiveBigIntegerField()
    platform_fee_cents = models.PositiveBigIntegerField()
    host_net_cents = models.PositiveBigIntegerField()
    status = models.CharField(max_length=12, choices=PayoutStatus.choices, default=PayoutStatus.PENDING)
    attempt = models.PositiveIntegerField(default=1)
    transfer_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    transferred_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(gross_cents=F("host_net_cents") + F("platform_fee_cents")), name="payout_balances"
            ),
            models.CheckConstraint(condition=Q(status__in=[s.value for s in PayoutStatus]), name="payout_status_valid"),
        ]
        indexes = [models.Index(fields=["status", "updated_at"]), models.Index(fields=["host", "-created_at"])]

    def __str__(self) -> str:
        return f"payout {self.pk} space={self.space_id} {self.host_net_cents}c {self.status}"

    @property
    def idempotency_key(self) -> str:
        # Same key for every retry of one attempt (a crashed worker re-sends it; Stripe answers with
        # the transfer it already made); a new attempt only after Stripe definitively refused.
        return f"spaces-payout-{self.pk}-attempt-{self.attempt}"


class WebhookEvent(models.Model):
    """Every Stripe event processed, keyed by its id: the idempotency key of webhook handling."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    stripe_created_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    outcome = models.CharField(max_length=40)
    payload = models.JSONField()

    def __str__(self) -> str:
        return f"{self.event_id} {self.type} ({self.outcome})"
