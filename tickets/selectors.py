"""Reads for ticketing: offers, a buyer's tickets, a host's payouts, and the join check."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass
class TicketFlags:
    """The ticket facts about one caller and one Space, passed explicitly from a read to the checks.

    ``ticketed`` and ``has_paid_ticket`` are None when the Space was read without ``ticket_annotations``
    (the check then asks the database); ``admitted`` remembers a passed ``access_ticket_for_join``, so an
    entry point that reaches the check twice with the same flags pays once.
    """

    user_id: int
    ticketed: bool | None = None
    has_paid_ticket: bool | None = None
    admitted: bool = False


def ticket_annotations(*, user_id: int) -> dict[str, Exists]:
    """Annotations for a Space query so that ``ticket_required_for`` needs no query of its own.

    A hot path (``join``) adds ``**ticket_annotations(user_id=…)`` to its Space query and hands
    ``ticket_flags_read(space=…, user_id=…)`` to the checks; for a free Space the ticket check then costs
    nothing.
    """
    return {
        "ticketed": Exists(TicketOffer.objects.filter(space_id=OuterRef("pk"))),
        "has_paid_ticket": Exists(
            Ticket.objects.filter(space_id=OuterRef("pk"), buyer_id=user_id, status=TicketStatus.PAID)
        ),
    }


def ticket_flags_read(*, space: Space, user_id: int) -> TicketFlags:
    """The flags of a Space row read with ``ticket_annotations(user_id=user_id)``."""
    row = vars(space)  # the annotations sit beside the model's fields
    return TicketFlags(user_id=user_id, ticketed=row["ticketed"], has_paid_ticket=row["has_paid_ticket"])


def ticket_required_for(*, user: User, space: Space, flags: TicketFlags | None = None) -> bool:
    """Whether ``user`` must buy a ticket before joining ``space`` (the ``join``/websocket check)."""
    known = flags if flags is not None and flags.user_id == user.pk else TicketFlags(user_id=user.pk)
    ticketed = known.ticketed
    if ticketed is None:
        ticketed = TicketOffer.objects.filter(space_id=space.pk).exists()
    if not ticketed:
        return False
    paid = known.has_paid_ticket
    if paid is None:
        paid = Ticket.objects.filter(space_id=space.pk, buyer=user, status=TicketStatus.PAID).exists()
    if paid:
        return False
    return not ticket_exempt(user=user, space=space)


def access_ticket_for_join(*, user: User, space: Space, flags: TicketFlags | None = None) -> None:
    """Raise ``ticket_required`` (402) unless ``user`` may join ``space`` as far as tickets go.

    Records a pass in ``flags`` (when given), so entry points that reach it twice pay once.
    """
    if flags is not None and flags.user_id == user.pk and flags.admitted:
        return
    if ticket_required_for(user=user, space=space, flags=flags):
        raise TicketRequired(extra={"space": space.pk})
    if flags is not None and flags.user_id == user.pk:
        flags.admitted = True
