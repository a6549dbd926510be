"""Making a Space ticketed: price, number of tickets and sales end, set by its host."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.exceptions import NotEligible
from accounts.models import User
from accounts.selectors import host_eligibility
from rooms.models import Space, SpaceState
from spaces_project.common.exceptions import ApplicationError, Forbidden, NotFound
from tickets.exceptions import PayoutAccountRequired, TicketingLocked
from tickets.models import PRICE_MAX_CENTS, PRICE_MIN_CENTS, PayoutAccount, Ticket, TicketOffer, TicketStatus

logger = logging.getLogger(__name__)


def _space_for_host(*, host: User, space_id: int) -> Space:
    space = Space.objects.select_for_update().filter(pk=space_id).first()
    if space is None:
        raise NotFound("No such Space.", code="space_not_found")
    if space.host_id != host.pk:
        raise Forbidden("Only the host can change the ticketing of this Space.", code="not_host")
    if space.state != SpaceState.SCHEDULED:
        raise TicketingLocked("Ticketing can only be set on a scheduled Space.", extra={"state": space.state})
    return space


@transaction.atomic
def ticketing_set(
    *, host: User, space_id: int, price_cents: int, capacity: int, sales_end: datetime | None = None
) -> TicketOffer:
    """Make a scheduled Space ticketed, or change its offer.

    The price is fixed once a ticket is held or sold (buyers paid that price); the number of tickets
    can grow, or shrink down to the seats already taken. Locks the Space and its offer.
    """
    space = _space_for_host(host=host, space_id=space_id)
    eligibility = host_eligibility(user=host)
    if not eligibility["can_host"]:
        raise NotEligible(extra={k: v for k, v in eligibility.items() if k != "can_host"})
    account = PayoutAccount.objects.filter(user=host).first()
    if account is None or not account.can_receive_payouts:
        raise PayoutAccountRequired()
    if not PRICE_MIN_CENTS <= price_cents <= PRICE_MAX_CENTS:
        raise ApplicationError(
            "The price must be between USD 1 and USD 999.",
            code="invalid_price",
            extra={"min_cents": PRICE_MIN_CENTS, "max_cents": PRICE_MAX_CENTS},
        )
    if sales_end is not None and sales_end <= timezone.now():
        raise ApplicationError("The sales end must be in the future.", code="invalid_sales_end")
    offer = TicketOffer.objects.select_for_update().filter(space=space).first()
    if offer is None:
        offer = TicketOffer.objects.create(space=space, price_cents=price_cents, capacity=capacity, sales_end=sales_end)
        logger.info("ticketing.set", extra={"space_id": space.pk, "price_cents": price_cents, "capacity": capacity})
        return offer
    sold = Ticket.objects.filter(space=space).exclude(status__in=[TicketStatus.EXPIRED, TicketStatus.CANCELED])
    if price_cents != offer.price_cents and sold.exists():
        raise TicketingLocked(
            "The price cannot change once tickets are sold.", extra={"price_cents": offer.price_cents}
        )
    if capacity < offer.seats_taken:
        raise TicketingLocked(
            "There are more tickets taken than that.",
            code="capacity_below_sold",
            extra={"seats_taken": offer.seats_taken},
        )
    offer.price_cents = price_cents
    offer.capacity = capacity
    offer.sales_end = sales_end
    offer.save(update_fields=["price_cents", "capacity", "sales_end", "updated_at"])
    logger.info("ticketing.set", extra={"space_id": space.pk, "price_cents": price_cents, "capacity": capacity})
    return offer


@transaction.atomic
def ticketing_remove(*, host: User, space_id: int) -> None:
    """Make a Space free again; only while no ticket was ever held or sold for it."""
    space = _space_for_host(host=host, space_id=space_id)
    offer = TicketOffer.objects.select_for_update().filter(space=space).first()
    if offer is None:
        return
    if Ticket.objects.filter(space=space).exists():
        raise TicketingLocked("Tickets were already sold for this Space; cancel it to refund them.")
    offer.delete()
    logger.info("ticketing.removed", extra={"space_id": space.pk})
