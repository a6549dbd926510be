"""Helpers shared by the ticketing services."""

from __future__ import annotations

from django.db.models import F

from spaces_project.common.handoff import enqueue_on_commit
from tickets.models import TicketOffer


def seats_release(*, space_id: int, count: int) -> None:
    """Give ``count`` seats back to the Space's offer (the caller changed that many live tickets)."""
    if count:
        TicketOffer.objects.filter(space_id=space_id).update(seats_taken=F("seats_taken") - count)


def ticket_payment_key(ticket_id: int) -> str:
    return f"spaces-ticket-{ticket_id}-payment"


def ticket_refund_key(ticket_id: int) -> str:
    return f"spaces-ticket-{ticket_id}-refund"


def refund_on_commit(*, ticket_id: int) -> None:
    """Queue the refund of a ``refund_pending`` ticket after commit (a lost hand-off: the refunds sweep)."""
    from tickets import tasks

    enqueue_on_commit("ticket_refund", lambda: tasks.ticket_refund.delay(ticket_id))
