"""Buying a ticket: hold a seat, create the PaymentIntent, confirm on Stripe's webhook, expire holds.

Seats: the offer row is locked (``select_for_update``) while a seat is taken, and
``seats_taken <= capacity`` is a database constraint, so concurrent buyers can never oversell.
Stripe is called *outside* that lock: the seat is held first, then the PaymentIntent is created
with an idempotency key derived from the ticket, and a failed call gives the seat back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Subquery
from django.utils import timezone

from accounts.models import User
from accounts.selectors import is_blocked
from rooms.exceptions import Banned, BlockedByHost
from rooms.models import Space, SpaceState
from rooms.selectors import ban_of
from spaces_project.common.handoff import enqueue_on_commit
from spaces_project.common.text import BIGINT_MAX
from spaces_project.realtime.publish import Audience, publish_on_commit
from tickets import stripe_client
from tickets.exceptions import AlreadyHasTicket, HostCannotBuy, NotTicketed, PaymentProviderError, SalesClosed, SoldOut
from tickets.models import Ticket, TicketOffer, TicketStatus
from tickets.services._common import refund_on_commit, seats_release, ticket_payment_key

logger = logging.getLogger(__name__)

OPEN_FOR_SALE = (SpaceState.SCHEDULED, SpaceState.LIVE)


@dataclass(frozen=True)
class Purchase:
    ticket: Ticket
    client_secret: str
    created: bool


def _expire_overdue(*, offer: TicketOffer) -> int:
    """Expire this offer's overdue holds (caller holds the offer lock); returns seats freed."""
    overdue = list(
        Ticket.objects.filter(
            space_id=offer.space_id, status=TicketStatus.HELD, hold_expires_at__lte=timezone.now()
        ).values_list("pk", "payment_intent_id")
    )
    if not overdue:
        return 0
    freed = Ticket.objects.filter(pk__in=[pk for pk, _ in overdue], status=TicketStatus.HELD).update(
        status=TicketStatus.EXPIRED
    )
    seats_release(space_id=offer.space_id, count=freed)
    _cancel_payments_on_commit([pi for _, pi in overdue if pi])
    return freed


def _cancel_payments_on_commit(payment_intent_ids: list[str]) -> None:
    from tickets import tasks

    for pi in payment_intent_ids:
        enqueue_on_commit("payment_intent_cancel", lambda pi=pi: tasks.payment_intent_cancel.delay(pi))  # type: ignore[misc]


def _check_on_sale(*, offer: TicketOffer, buyer: User, now: datetime) -> None:
    space = offer.space
    if space.host_id == buyer.pk:
        raise HostCannotBuy()
    if space.state not in OPEN_FOR_SALE or (offer.sales_end is not None and now >= offer.sales_end):
        raise SalesClosed(extra={"state": space.state})


def _check_may_join(*, space: Space, buyer: User) -> None:
    """Nobody pays for a Space they could not join (blocked by the host, banned)."""
    if is_blocked(blocker_id=space.host_id, blocked_id=buyer.pk):
        raise BlockedByHost()
    scope = ban_of(space=space, user_id=buyer.pk)
    if scope is not None:
        raise Banned(extra={"scope": scope})


def _seat_hold(*, buyer: User, space_id: int) -> tuple[Ticket, bool]:
    """Take a seat for ``buyer`` (or return their current hold).

    The checks and a sold-out answer are plain reads (one query besides authentication). The seat
    itself is taken by one conditional ``UPDATE … SET seats_taken = seats_taken + 1 WHERE
    seats_taken < capacity`` in the transaction that inserts the ticket, so the offer row stays
    locked only for that UPDATE, the INSERT and the COMMIT (a burst of buyers queues on it for as
    short as possible). Overdue holds are expired under ``select_for_update`` of the offer before
    anyone is told ``sold_out``.
    """
    if space_id > BIGINT_MAX:
        # SQLite raises OverflowError on a foreign-key lookup past bigint; a primary-key one finds nothing.
        from tickets.selectors import space_get

        space_get(space_id=space_id)
    now = timezone.now()
    overdue = Ticket.objects.filter(space_id=space_id, status=TicketStatus.HELD, hold_expires_at__lte=now)
    current = Ticket.objects.filter(space_id=space_id, buyer=buyer, status__in=[TicketStatus.HELD, TicketStatus.PAID])
    # One read answers "is it on sale, is anything overdue, does this buyer hold a ticket already".
    offer = (
        TicketOffer.objects.select_related("space")
        .annotate(has_overdue=Exists(overdue), my_ticket_id=Subquery(current.values("pk")[:1]))
        .filter(space_id=space_id)
        .first()
    )
    if offer is None:
        from tickets.selectors import space_get

        space_get(space_id=space_id)
        raise NotTicketed()
    _check_on_sale(offer=offer, buyer=buyer, now=now)
    existing = current.filter(pk=offer.my_ticket_id).first() if offer.my_ticket_id is not None else None
    if existing is not None:
        if existing.status == TicketStatus.PAID:
            raise AlreadyHasTicket(extra={"ticket": existing.pk})
        if existing.hold_expires_at > now:
            return existing, False
    if offer.seats_taken >= offer.capacity and not offer.has_overdue:
        raise SoldOut(extra={"capacity": offer.capacity})  # the common answer in a burst: 2 reads, no lock
    _check_may_join(space=offer.space, buyer=buyer)
    try:
        with transaction.atomic():
            if existing is not None or offer.seats_taken >= offer.capacity:
                _expire_overdue(offer=TicketOffer.objects.select_for_update(of=("self",)).get(pk=offer.pk))
            taken = TicketOffer.objects.filter(pk=offer.pk, seats_taken__lt=F("capacity")).update(
                seats_taken=F("seats_taken") + 1
            )
            if not taken:
                raise SoldOut(extra={"capacity": offer.capacity})
            ticket = Ticket.objects.create(
                space_id=space_id,
                buyer=buyer,
                price_cents=offer.price_cents,
                currency=offer.currency,
                hold_expires_at=now + timedelta(seconds=settings.TICKETS_HOLD_TTL_S),
            )
    except IntegrityError:
        # One live ticket per buyer: a concurrent request of the same buyer took the seat first.
        winner = current.first()
        if winner is None or winner.status == TicketStatus.PAID:
            raise AlreadyHasTicket() from None
        return winner, False
    return ticket, True


@transaction.atomic
def _hold_abandon(*, ticket_id: int) -> None:
    if Ticket.objects.filter(pk=ticket_id, status=TicketStatus.HELD).update(status=TicketStatus.CANCELED):
        ticket = Ticket.objects.get(pk=ticket_id)
        seats_release(space_id=ticket.space_id, count=1)


def ticket_purchase(*, buyer: User, space_id: int) -> Purchase:
    """Hold a seat and create its PaymentIntent; the ticket is valid only once Stripe confirms.

    Calling it again while the hold lasts returns the same ticket and payment (no second seat).
    Raises ``sold_out``, ``sales_closed``, ``already_has_ticket``; if Stripe cannot be reached the
    seat is given back and ``payment_provider_error`` (503) is raised.
    """
    ticket, created = _seat_hold(buyer=buyer, space_id=space_id)
    try:
        if ticket.payment_intent_id:
            pi = stripe_client.payment_intent_retrieve(payment_intent_id=ticket.payment_intent_id)
        else:
            pi = stripe_client.payment_intent_create(
                amount_cents=ticket.price_cents,
                currency=ticket.currency,
                ticket_id=ticket.pk,
                space_id=space_id,
                buyer_id=buyer.pk,
                idempotency_key=ticket_payment_key(ticket.pk),
            )
    except stripe_client.StripeError as exc:
        logger.warning("ticket.payment_create_failed", extra={"ticket_id": ticket.pk, "error": str(exc)})
        if not ticket.payment_intent_id:  # a hold nobody can pay gives its seat back; a payable one stays
            _hold_abandon(ticket_id=ticket.pk)
        raise PaymentProviderError() from exc
    if not ticket.payment_intent_id:
        Ticket.objects.filter(pk=ticket.pk, payment_intent_id__isnull=True).update(payment_intent_id=pi.id)
        ticket.payment_intent_id = pi.id
    logger.info("ticket.held", extra={"ticket_id": ticket.pk, "space_id": space_id, "buyer_id": buyer.pk})
    return Purchase(ticket=ticket, client_secret=pi.client_secret, created=created)


def _ticket_for_payment(*, payment_intent_id: str, ticket_id: int | None) -> tuple[Ticket, TicketOffer] | None:
    """Find the ticket of a payment and lock its offer, then the ticket (always in that order)."""
    found = Ticket.objects.filter(payment_intent_id=payment_intent_id).only("pk", "space_id").first()
    if found is None and ticket_id is not None:
        # The webhook can beat the purchase call in storing the PaymentIntent id on the ticket.
        found = Ticket.objects.filter(pk=ticket_id, payment_intent_id__isnull=True).only("pk", "space_id").first()
    if found is None:
        return None
    offer = TicketOffer.objects.select_for_update(of=("self",)).select_related("space").get(space_id=found.space_id)
    ticket = Ticket.objects.select_for_update().get(pk=found.pk)
    if ticket.payment_intent_id not in (None, payment_intent_id):
        return None
    return ticket, offer


@transaction.atomic
def ticket_payment_confirm(*, payment_intent_id: str, ticket_id: int | None, amount_cents: int, currency: str) -> str:
    """Make a ticket valid on Stripe's ``payment_intent.succeeded``; returns what happened.

    Idempotent and order-independent: a paid ticket stays paid. A payment that arrives after the
    hold expired takes a free seat if there is one; otherwise (or when the Space is over or
    canceled) the buyer is refunded, so nobody is ever charged without a ticket.
    """
    found = _ticket_for_payment(payment_intent_id=payment_intent_id, ticket_id=ticket_id)
    if found is None:
        return "unknown_ticket"
    ticket, offer = found
    if amount_cents != ticket.price_cents or currency.lower() != ticket.currency:
        logger.error("ticket.amount_mismatch", extra={"ticket_id": ticket.pk, "amount": amount_cents})
        return "amount_mismatch"
    if ticket.status in (TicketStatus.PAID, TicketStatus.REFUND_PENDING, TicketStatus.REFUNDED):
        return "already_" + ticket.status
    now = timezone.now()
    ticket.payment_intent_id = payment_intent_id
    space_open = offer.space.state in OPEN_FOR_SALE
    if ticket.status == TicketStatus.HELD and space_open:
        ticket.status, ticket.paid_at = TicketStatus.PAID, now
        ticket.save(update_fields=["status", "paid_at", "payment_intent_id", "updated_at"])
        _notify_paid(ticket=ticket)
        return "paid"
    if ticket.status == TicketStatus.HELD:
        seats_release(space_id=ticket.space_id, count=1)
    elif space_open and offer.seats_taken < offer.capacity:
        try:
            with transaction.atomic():
                ticket.status, ticket.paid_at = TicketStatus.PAID, now
                ticket.save(update_fields=["status", "paid_at", "payment_intent_id", "updated_at"])
                TicketOffer.objects.filter(pk=offer.pk).update(seats_taken=F("seats_taken") + 1)
            _notify_paid(ticket=ticket)
            return "paid_late"
        except IntegrityError:
            ticket.refresh_from_db()  # the buyer holds another ticket for this Space meanwhile
            ticket.payment_intent_id = payment_intent_id
    # Charged without a seat to give: refund at once.
    ticket.status = TicketStatus.REFUND_PENDING
    ticket.save(update_fields=["status", "payment_intent_id", "updated_at"])
    refund_on_commit(ticket_id=ticket.pk)
    logger.warning("ticket.paid_without_seat", extra={"ticket_id": ticket.pk, "space_id": ticket.space_id})
    return "refunding"


def _notify_paid(*, ticket: Ticket) -> None:
    publish_on_commit(
        type="notification",
        data={"kind": "ticket.paid", "ticket": ticket.pk, "space": ticket.space_id},
        space_id=ticket.space_id,
        audience=Audience.USER,
        user_ids=[ticket.buyer_id],
    )


@transaction.atomic
def ticket_payment_canceled(*, payment_intent_id: str, ticket_id: int | None) -> str:
    """On ``payment_intent.canceled``: a held ticket gives its seat back."""
    found = _ticket_for_payment(payment_intent_id=payment_intent_id, ticket_id=ticket_id)
    if found is None:
        return "unknown_ticket"
    ticket, _ = found
    if ticket.status != TicketStatus.HELD:
        return "ignored_" + ticket.status
    Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.CANCELED, payment_intent_id=payment_intent_id)
    seats_release(space_id=ticket.space_id, count=1)
    return "canceled"


def ticket_holds_expire(*, limit: int = 1000) -> int:
    """Expire overdue holds (beat, every minute): free their seats and cancel their payments."""
    space_ids = set(
        Ticket.objects.filter(status=TicketStatus.HELD, hold_expires_at__lte=timezone.now()).values_list(
            "space_id", flat=True
        )[:limit]
    )
    freed = 0
    for space_id in sorted(space_ids):
        with transaction.atomic():
            offer = TicketOffer.objects.select_for_update(of=("self",)).filter(space_id=space_id).first()
            if offer is not None:
                freed += _expire_overdue(offer=offer)
    if freed:
        logger.info("ticket.holds_expired", extra={"count": freed})
    return freed


def payment_intent_cancel(*, payment_intent_id: str) -> str:
    """Cancel the PaymentIntent of a released hold so it can no longer be paid (best effort).

    If the buyer paid in the meantime Stripe refuses; the ``payment_intent.succeeded`` webhook then
    either finds a free seat or refunds.
    """
    try:
        return stripe_client.payment_intent_cancel(payment_intent_id=payment_intent_id)
    except stripe_client.StripeError as exc:
        if exc.retriable:
            raise
        logger.info("ticket.payment_cancel_refused", extra={"payment_intent": payment_intent_id, "error": str(exc)})
        return "refused"
