"""Refunds: one ticket (staff, late payments), every ticket of a canceled Space, and confirmations.

A refund moves the ticket to ``refund_pending`` (its seat is released) in one transaction, then
asks Stripe with an idempotency key derived from the ticket, then records ``refunded``. A crash or
a retry in between repeats the same Stripe request, so a ticket is never refunded twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rooms.models import SpaceState
from spaces_project.common.handoff import enqueue_on_commit
from spaces_project.realtime.publish import Audience, publish_on_commit
from tickets import stripe_client
from tickets.exceptions import RefundNotAllowed
from tickets.models import Payout, PayoutStatus, Ticket, TicketOffer, TicketStatus
from tickets.services._common import refund_on_commit, seats_release, ticket_refund_key

logger = logging.getLogger(__name__)


@transaction.atomic
def ticket_refund_request(*, ticket_id: int) -> bool:
    """Mark a paid ticket ``refund_pending`` and queue its refund (staff action, cancel).

    Refused once the Space's host was paid out. Returns False if there was nothing to refund.
    """
    found = Ticket.objects.filter(pk=ticket_id).values_list("space_id", flat=True).first()
    if found is None:
        return False
    TicketOffer.objects.select_for_update().filter(space_id=found).first()
    ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
    if ticket.status == TicketStatus.REFUND_PENDING:
        refund_on_commit(ticket_id=ticket.pk)  # retry a refund that did not go through
        return True
    if ticket.status != TicketStatus.PAID:
        return False
    paid_out = Payout.objects.filter(space_id=ticket.space_id).exclude(status=PayoutStatus.FAILED).exists()
    if paid_out:
        raise RefundNotAllowed("The host of this Space was already paid out.", code="already_paid_out")
    Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.REFUND_PENDING, updated_at=timezone.now())
    seats_release(space_id=ticket.space_id, count=1)
    refund_on_commit(ticket_id=ticket.pk)
    return True


def ticket_refund_send(*, ticket_id: int) -> str:
    """Ask Stripe to refund a ``refund_pending`` ticket (task body). Idempotent per ticket.

    Raises ``stripe_client.StripeError`` when retriable (the task retries with the same key).
    """
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None or ticket.status != TicketStatus.REFUND_PENDING:
        return "nothing_to_do"
    if not ticket.payment_intent_id:
        return "no_payment"
    try:
        refund_id, _status = stripe_client.refund_create(
            payment_intent_id=ticket.payment_intent_id,
            ticket_id=ticket.pk,
            idempotency_key=ticket_refund_key(ticket.pk),
        )
    except stripe_client.StripeError as exc:
        if exc.retriable:
            raise
        if exc.code != "charge_already_refunded":
            logger.error("ticket.refund_refused", extra={"ticket_id": ticket.pk, "error": str(exc)})
            return "refused"
        refund_id = ""
    return ticket_refund_confirm(payment_intent_id=ticket.payment_intent_id, refund_id=refund_id)


@transaction.atomic
def ticket_refund_confirm(*, payment_intent_id: str, refund_id: str) -> str:
    """Record a refund (our API call's answer, or ``charge.refunded`` — whichever comes first)."""
    found = Ticket.objects.filter(payment_intent_id=payment_intent_id).values_list("space_id", flat=True).first()
    if found is None:
        return "unknown_ticket"
    TicketOffer.objects.select_for_update().filter(space_id=found).first()
    ticket = Ticket.objects.select_for_update().get(payment_intent_id=payment_intent_id)
    if ticket.status == TicketStatus.REFUNDED:
        return "already_refunded"
    if ticket.status not in (TicketStatus.PAID, TicketStatus.REFUND_PENDING):
        return "ignored_" + ticket.status
    if ticket.status == TicketStatus.PAID:  # refunded from Stripe's dashboard
        seats_release(space_id=ticket.space_id, count=1)
    ticket.status = TicketStatus.REFUNDED
    ticket.refund_id = refund_id or ticket.refund_id
    ticket.refunded_at = timezone.now()
    ticket.save(update_fields=["status", "refund_id", "refunded_at", "updated_at"])
    publish_on_commit(
        type="notification",
        data={"kind": "ticket.refunded", "ticket": ticket.pk, "space": ticket.space_id},
        space_id=ticket.space_id,
        audience=Audience.USER,
        user_ids=[ticket.buyer_id],
    )
    logger.info("ticket.refunded", extra={"ticket_id": ticket.pk, "refund_id": refund_id})
    return "refunded"


def space_canceled_refund_all(*, space_id: int) -> None:
    """Hook for the cancel service: refund every ticket of ``space_id`` once the cancel commits.

    Call it inside the transaction that cancels the Space; nothing happens if it rolls back.
    """
    from tickets import tasks

    enqueue_on_commit("space_refund_all", lambda: tasks.space_refund_all.delay(space_id))


@transaction.atomic
def space_refund_all(*, space_id: int) -> int:
    """Refund every paid ticket of a canceled Space and release its holds (task body; idempotent)."""
    offer = (
        TicketOffer.objects.select_for_update(of=("self",)).select_related("space").filter(space_id=space_id).first()
    )
    if offer is None or offer.space.state != SpaceState.CANCELED:
        return 0
    held = list(
        Ticket.objects.filter(space_id=space_id, status=TicketStatus.HELD).values_list("pk", "payment_intent_id")
    )
    released = Ticket.objects.filter(pk__in=[pk for pk, _ in held], status=TicketStatus.HELD).update(
        status=TicketStatus.CANCELED
    )
    seats_release(space_id=space_id, count=released)
    from tickets import tasks

    for _, pi in held:
        if pi:
            enqueue_on_commit("payment_intent_cancel", lambda pi=pi: tasks.payment_intent_cancel.delay(pi))  # type: ignore[misc]
    paid = list(Ticket.objects.filter(space_id=space_id, status=TicketStatus.PAID).values_list("pk", flat=True))
    Ticket.objects.filter(pk__in=paid, status=TicketStatus.PAID).update(
        status=TicketStatus.REFUND_PENDING, updated_at=timezone.now()
    )
    seats_release(space_id=space_id, count=len(paid))
    pending = list(
        Ticket.objects.filter(space_id=space_id, status=TicketStatus.REFUND_PENDING).values_list("pk", flat=True)
    )
    for ticket_id in pending:
        refund_on_commit(ticket_id=ticket_id)
    logger.info("space.refund_all", extra={"space_id": space_id, "refunds": len(pending), "holds": released})
    return len(pending)


def refunds_process_due() -> list[int]:
    """Beat job: finish the refunds whose hand-off to Celery was lost; returns the tickets to (re)send.

    A canceled Space that still has paid or held tickets gets its refund-all again (its task was never
    queued: the broker was down at the cancel; or a broker restart lost it). A ticket ``refund_pending``
    for longer than ``TICKETS_REFUND_STUCK_S`` is sent again; the request carries the ticket's own
    idempotency key, so Stripe refunds it at most once however often it is sent.
    """
    canceled = (
        Ticket.objects.filter(space__state=SpaceState.CANCELED, status__in=(TicketStatus.PAID, TicketStatus.HELD))
        .values_list("space_id", flat=True)
        .distinct()
    )
    for space_id in sorted(set(canceled)):
        count = space_refund_all(space_id=space_id)
        logger.warning("space.refund_all_resumed", extra={"space_id": space_id, "refunds": count})
    stuck = timezone.now() - timedelta(seconds=settings.TICKETS_REFUND_STUCK_S)
    return list(
        Ticket.objects.filter(status=TicketStatus.REFUND_PENDING, updated_at__lte=stuck)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def space_rescheduled_notify_holders(*, space_id: int, scheduled_start: str) -> int:
    """Hook for the reschedule service: tell every ticket holder the new time (tickets are kept)."""
    holders = list(
        Ticket.objects.filter(space_id=space_id, status=TicketStatus.PAID).values_list("buyer_id", flat=True)
    )
    if holders:
        publish_on_commit(
            type="notification",
            data={"kind": "space.rescheduled", "space": space_id, "scheduled_start": scheduled_start},
            space_id=space_id,
            audience=Audience.USER,
            user_ids=holders,
        )
    return len(holders)
