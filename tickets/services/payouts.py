"""Host payouts: one Stripe Connect transfer per host per ended Space, exactly once.

1. ``payouts_process_due`` (beat) finds ended Spaces past the refund window and computes their
   payout: the revenue split of every paid ticket is written on the ticket, the totals on the
   payout (one per Space: a unique constraint). The host's payout account row is locked so that
   two Spaces of one host never read the same lifetime earnings.
2. ``payout_send`` marks the payout ``submitting`` (committed), then asks Stripe for the transfer
   with the key ``spaces-payout-<id>-attempt-<n>``, then records ``transferred``. A worker killed in
   between leaves ``submitting``; the next run repeats the same request with the same key, and
   Stripe answers with the transfer it already made instead of making a second one.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from rooms.models import Space, SpaceState
from spaces_project.common.handoff import enqueue_on_commit
from tickets import stripe_client
from tickets.exceptions import PayoutNotRetriable
from tickets.models import Payout, PayoutAccount, PayoutStatus, Ticket, TicketStatus
from tickets.money import SplitRules, split_tickets, total

logger = logging.getLogger(__name__)


def payout_space_ids_due() -> list[int]:
    cutoff = timezone.now() - timedelta(seconds=settings.TICKETS_REFUND_WINDOW_S)
    return list(
        Space.objects.filter(
            state=SpaceState.ENDED,
            ended_at__lte=cutoff,
            ticket_offer__isnull=False,
            payout__isnull=True,
            tickets__status=TicketStatus.PAID,
        )
        .order_by("ended_at", "pk")
        .values_list("pk", flat=True)
        .distinct()
    )


@transaction.atomic
def payout_create_for_space(*, space_id: int) -> Payout | None:
    """Compute the payout of one ended Space (split every paid ticket); None if not due yet."""
    space = Space.objects.get(pk=space_id)
    account = PayoutAccount.objects.select_for_update().filter(user_id=space.host_id).first()
    if account is None:
        logger.warning("payout.no_account", extra={"space_id": space_id, "host_id": space.host_id})
        return None
    if space.state != SpaceState.ENDED or Payout.objects.filter(space_id=space_id).exists():
        return None
    if Ticket.objects.filter(space_id=space_id, status__in=[TicketStatus.HELD, TicketStatus.REFUND_PENDING]).exists():
        return None  # a payment or refund is still settling; next run
    tickets = list(
        Ticket.objects.select_for_update().filter(space_id=space_id, status=TicketStatus.PAID).order_by("paid_at", "pk")
    )
    if not tickets:
        return None
    earned = Payout.objects.filter(host_id=space.host_id).aggregate(total=Sum("host_net_cents"))["total"] or 0
    splits = split_tickets(
        prices_cents=[t.price_cents for t in tickets], earned_before_cents=earned, rules=SplitRules.from_settings()
    )
    for ticket, split in zip(tickets, splits, strict=True):
        ticket.host_net_cents = split.host_net_cents
        ticket.platform_fee_cents = split.platform_fee_cents
    Ticket.objects.bulk_update(tickets, ["host_net_cents", "platform_fee_cents"])
    sums = total(splits)
    payout = Payout.objects.create(
        space_id=space_id,
        host_id=space.host_id,
        destination_account_id=account.stripe_account_id,
        currency=tickets[0].currency,
        ticket_count=len(tickets),
        gross_cents=sums.gross_cents,
        platform_fee_cents=sums.platform_fee_cents,
        host_net_cents=sums.host_net_cents,
    )
    logger.info(
        "payout.created",
        extra={"payout_id": payout.pk, "space_id": space_id, "gross": sums.gross_cents, "net": sums.host_net_cents},
    )
    return payout


def payouts_process_due() -> list[int]:
    """Beat job: create due payouts, and return the ids to send (new, pending, stuck submitting)."""
    for space_id in payout_space_ids_due():
        try:
            payout_create_for_space(space_id=space_id)
        except IntegrityError:  # another run created it first
            continue
    stuck = timezone.now() - timedelta(seconds=settings.TICKETS_PAYOUT_STUCK_S)
    return list(
        Payout.objects.filter(status=PayoutStatus.PENDING)
        .values_list("pk", flat=True)
        .union(
            Payout.objects.filter(status=PayoutStatus.SUBMITTING, updated_at__lte=stuck).values_list("pk", flat=True)
        )
    )


def _payout_claim(*, payout_id: int) -> Payout | None:
    with transaction.atomic():
        payout = Payout.objects.select_for_update().filter(pk=payout_id).first()
        if payout is None or payout.status not in (PayoutStatus.PENDING, PayoutStatus.SUBMITTING):
            return None
        account = PayoutAccount.objects.filter(stripe_account_id=payout.destination_account_id).first()
        if account is None or not account.can_receive_payouts:
            Payout.objects.filter(pk=payout.pk).update(last_error="The payout account cannot receive payouts yet.")
            return None
        payout.status = PayoutStatus.SUBMITTING
        payout.save(update_fields=["status", "updated_at"])
        return payout


def payout_send(*, payout_id: int) -> str:
    """Transfer a payout's net to the host (task body). Idempotent; see the module docstring.

    Raises ``stripe_client.StripeError`` when retriable (the task retries with the same key); a
    refusal marks the payout ``failed`` for staff to look at and retry.
    """
    payout = _payout_claim(payout_id=payout_id)
    if payout is None:
        return "nothing_to_do"
    try:
        transfer_id = stripe_client.transfer_create(
            amount_cents=payout.host_net_cents,
            currency=payout.currency,
            destination=payout.destination_account_id,
            payout_id=payout.pk,
            space_id=payout.space_id,
            idempotency_key=payout.idempotency_key,
        )
    except stripe_client.StripeError as exc:
        if exc.retriable:
            Payout.objects.filter(pk=payout.pk).update(last_error=str(exc)[:500])
            raise
        Payout.objects.filter(pk=payout.pk, status=PayoutStatus.SUBMITTING).update(
            status=PayoutStatus.FAILED, last_error=str(exc)[:500]
        )
        logger.error("payout.failed", extra={"payout_id": payout.pk, "error": str(exc)})
        return "failed"
    return payout_mark_transferred(payout_id=payout.pk, transfer_id=transfer_id)


@transaction.atomic
def payout_mark_transferred(*, payout_id: int, transfer_id: str) -> str:
    """Record the transfer (from our API call or ``transfer.created``, whichever comes first)."""
    payout = Payout.objects.select_for_update().filter(pk=payout_id).first()
    if payout is None:
        return "unknown_payout"
    if payout.status in (PayoutStatus.TRANSFERRED, PayoutStatus.REVERSED):
        return "already_" + payout.status
    payout.status = PayoutStatus.TRANSFERRED
    payout.transfer_id = transfer_id
    payout.transferred_at = timezone.now()
    payout.last_error = ""
    payout.save(update_fields=["status", "transfer_id", "transferred_at", "last_error", "updated_at"])
    logger.info("payout.transferred", extra={"payout_id": payout.pk, "transfer_id": transfer_id})
    return "transferred"


@transaction.atomic
def payout_mark_reversed(*, transfer_id: str) -> str:
    updated = (
        Payout.objects.filter(transfer_id=transfer_id)
        .exclude(status=PayoutStatus.REVERSED)
        .update(status=PayoutStatus.REVERSED)
    )
    return "reversed" if updated else "ignored"


@transaction.atomic
def payout_retry(*, payout_id: int) -> None:
    """Staff: start a new attempt of a failed payout (a new idempotency key) and queue it."""
    updated = Payout.objects.filter(pk=payout_id, status=PayoutStatus.FAILED).update(
        status=PayoutStatus.PENDING, attempt=F("attempt") + 1, last_error=""
    )
    if not updated:
        raise PayoutNotRetriable()
    from tickets import tasks

    enqueue_on_commit("payout_send", lambda: tasks.payout_send.delay(payout_id))
