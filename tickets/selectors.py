"""Reads for ticketing: offers, a buyer's tickets, a host's payouts, and the join check."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from accounts.models import User
from rooms.models import STAGE_ROLES, Invitation, InvitationState, Participant, Space
from spaces_project.common.exceptions import NotFound
from spaces_project.common.text import BIGINT_MAX
from tickets.exceptions import NotTicketed, TicketRequired
from tickets.models import Payout, PayoutAccount, Ticket, TicketOffer, TicketStatus


def space_get(*, space_id: int) -> Space:
    space = Space.objects.select_related("host").filter(pk=space_id).first()
    if space is None:
        raise NotFound("No such Space.", code="space_not_found")
    return space


def offer_get(*, space_id: int) -> TicketOffer:
    if space_id > BIGINT_MAX:
        # SQLite raises OverflowError on a foreign-key lookup past bigint; a primary-key one finds nothing.
        space_get(space_id=space_id)
    offer = TicketOffer.objects.select_related("space").filter(space_id=space_id).first()
    if offer is None:
        space_get(space_id=space_id)  # 404 for a missing Space, before "not ticketed"
        raise NotTicketed()
    return offer


def payout_account_of(*, user: User) -> PayoutAccount | None:
    return PayoutAccount.objects.filter(user=user).first()


def tickets_of_buyer(*, user: User) -> QuerySet[Ticket]:
    return Ticket.objects.filter(buyer=user).select_related("space", "space__host")


def payouts_of_host(*, user: User) -> QuerySet[Payout]:
    return Payout.objects.filter(host=user).select_related("space")


def ticket_exempt(*, user: User, space: Space) -> bool:
    """Hosts, co-hosts and (invited or current) speakers never need a ticket."""
    if space.host_id == user.pk:
        return True
    if Participant.objects.filter(space=space, user=user, role__in=STAGE_ROLES).exists():
        return True
    # An invitation the user has not answered yet counts: they must be able to join to accept it.
    return Invitation.objects.filter(
        space=space, invitee=user, state__in=[InvitationState.PENDING, InvitationState.ACCEPTED]
    ).exists()


def ticket_annotations(*, user_id: int) -> dict[str, Exists]:
    """Annotations for a Space query so that ``ticket_required_for`` needs no query of its own.

    A hot path (``join``) adds ``**ticket_annotations(user_id=…)`` to its Space query and sets
    ``space.ticket_flags_for = user_id``; for a free Space the ticket check then costs nothing.
    """
    return {
        "ticketed": Exists(TicketOffer.objects.filter(space_id=OuterRef("pk"))),
        "has_paid_ticket": Exists(
            Ticket.objects.filter(space_id=OuterRef("pk"), buyer_id=user_id, status=TicketStatus.PAID)
        ),
    }


def ticket_required_for(*, user: User, space: Space) -> bool:
    """Whether ``user`` must buy a ticket before joining ``space`` (the ``join``/websocket check)."""
    annotated = getattr(space, "ticket_flags_for", None) == user.pk
    ticketed = space.ticketed if annotated else TicketOffer.objects.filter(space_id=space.pk).exists()  # type: ignore[attr-defined]
    if not ticketed:
        return False
    paid = (
        space.has_paid_ticket  # type: ignore[attr-defined]
        if annotated
        else Ticket.objects.filter(space_id=space.pk, buyer=user, status=TicketStatus.PAID).exists()
    )
    if paid:
        return False
    return not ticket_exempt(user=user, space=space)


def access_ticket_for_join(*, user: User, space: Space) -> None:
    """Raise ``ticket_required`` (402) unless ``user`` may join ``space`` as far as tickets go.

    Remembers a pass on the Space object, so entry points that reach it twice pay once.
    """
    if getattr(space, "ticket_access_ok_for", None) == user.pk:
        return
    if ticket_required_for(user=user, space=space):
        raise TicketRequired(extra={"space": space.pk})
    space.ticket_access_ok_for = user.pk  # type: ignore[attr-defined]
