"""Builders of the rows tests start from: Spaces, the people in them, tickets (``tests.factories`` makes
users). Rows are written directly unless the name says a service does it (``started_space``): the paths
that create them for real are tested on their own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import User
from rooms.models import Participant, Role, Space, SpaceState
from tests.factories import HostFactory, UserFactory
from tickets.models import PayoutAccount, Ticket, TicketOffer, TicketStatus

# --- Spaces and people --------------------------------------------------------------------------------


def live_space(host: User | None = None, **fields: Any) -> Space:
    """A Space (live unless ``state`` says otherwise) whose host is connected; written directly."""
    host = host or HostFactory()
    fields.setdefault("state", SpaceState.LIVE)
    if fields["state"] == SpaceState.LIVE:
        fields.setdefault("started_at", timezone.now())
    space = Space.objects.create(host=host, title="Live talk", **fields)
    Participant.objects.create(space=space, user=host, role=Role.HOST, is_connected=True, joined_at=timezone.now())
    return space


def member(
    space: Space, role: str = Role.LISTENER, user: User | None = None, connected: bool = True, **fields: Any
) -> User:
    """Put a user in ``space`` in ``role`` directly (the join path is tested by the rooms tests); a connected
    listener counts in ``listener_count``."""
    user = user or UserFactory()
    Participant.objects.create(
        space=space,
        user=user,
        role=role,
        is_connected=connected,
        joined_at=timezone.now() if connected else None,
        **fields,
    )
    if role == Role.LISTENER and connected:
        Space.objects.filter(pk=space.pk).update(listener_count=space.listener_count + 1)
        space.refresh_from_db()
    return user


def participant(space: Space, user: User) -> Participant:
    return Participant.objects.get(space=space, user=user)


def token_for(user: User) -> str:
    """``user``'s API token (made once)."""
    return Token.objects.get_or_create(user=user)[0].key


def started_space(host: User | None = None, **fields: Any) -> Space:
    """A Space started through the service (``space_create``: its events and notifications too)."""
    from rooms import services

    return services.space_create(host=host or HostFactory(), title=fields.pop("title", "Live show"), **fields)


def scheduled_space(host: User | None = None, hours: float = 2, **fields: Any) -> Space:
    """A Space scheduled ``hours`` from now, through the service."""
    from rooms import services

    start = timezone.now() + timedelta(hours=hours)
    return services.space_create(
        host=host or HostFactory(), title=fields.pop("title", "Later show"), scheduled_start=start, **fields
    )


def put_on(space: Space, user: User, role: str = Role.LISTENER, connect: bool = True) -> Participant:
    """Seat ``user`` in ``space`` in ``role`` (joined through the service, then the role set directly)."""
    from rooms import services

    if connect:
        services.space_join(space_id=space.pk, user=user)
    seat, _ = Participant.objects.get_or_create(space=space, user=user, defaults={"role": role})
    if seat.role != role:
        Participant.objects.filter(pk=seat.pk).update(role=role)
        seat.role = role
    return seat


def follow(follower: User, *followees: User) -> None:
    from accounts import services as account_services

    for followee in followees:
        account_services.follow_create(follower=follower, followee=followee)


# --- a full cast (trust & safety) ----------------------------------------------------------------------


@dataclass
class Cast:
    space: Space
    host: User
    cohost: User
    cohost2: User
    speaker: User
    speaker2: User
    listener: User
    listener2: User
    banned: User
    suspended: User
    staff: User
    outsider: User


def make_cast() -> Cast:
    """A live Space: host, two co-hosts, two speakers, two listeners (one with a raised hand), a user banned
    from it, a suspended user, a staff member and an outsider (neither of the last two in the Space)."""
    from moderation.models import SpaceBan
    from rooms.models import HandRaise

    space = live_space()
    cohost = member(space, Role.COHOST)
    cohost2 = member(space, Role.COHOST)
    speaker = member(space, Role.SPEAKER)
    speaker2 = member(space, Role.SPEAKER)
    listener = member(space)
    listener2 = member(space)
    HandRaise.objects.create(space=space, user=listener2)
    banned = UserFactory()
    SpaceBan.objects.create(space=space, user=banned, banned_by=space.host, reason="spam")
    suspended = UserFactory(is_suspended=True, suspension_reason="abuse")
    staff = UserFactory(is_staff=True, is_superuser=True)
    return Cast(
        space=space,
        host=space.host,
        cohost=cohost,
        cohost2=cohost2,
        speaker=speaker,
        speaker2=speaker2,
        listener=listener,
        listener2=listener2,
        banned=banned,
        suspended=suspended,
        staff=staff,
        outsider=UserFactory(),
    )


# --- tickets ------------------------------------------------------------------------------------------


def make_host(*, can_receive_payouts: bool = True) -> User:
    """A host with a Stripe payout account (able to receive payouts, unless told otherwise)."""
    host = HostFactory()
    PayoutAccount.objects.create(
        user=host,
        stripe_account_id=f"acct_{uuid.uuid4().hex[:16]}",
        details_submitted=can_receive_payouts,
        charges_enabled=can_receive_payouts,
        payouts_enabled=can_receive_payouts,
        transfers_active=can_receive_payouts,
    )
    return host


def make_ticketed_space(
    *, host: User | None = None, price_cents: int = 1500, capacity: int = 10, state: str = SpaceState.SCHEDULED
) -> Space:
    host = host or make_host()
    space = Space.objects.create(
        host=host, title="Ticketed talk", state=state, scheduled_start=timezone.now() + timedelta(days=1)
    )
    TicketOffer.objects.create(space=space, price_cents=price_cents, capacity=capacity)
    return space


def make_paid_ticket(*, space: Space, buyer: User | None = None, paid_at: Any = None) -> Ticket:
    """A paid ticket as the webhook leaves it (used to set up refund and payout scenarios)."""
    offer = TicketOffer.objects.get(space=space)
    ticket = Ticket.objects.create(
        space=space,
        buyer=buyer or UserFactory(),
        status=TicketStatus.PAID,
        price_cents=offer.price_cents,
        payment_intent_id=f"pi_{uuid.uuid4().hex[:20]}",
        hold_expires_at=timezone.now(),
        paid_at=paid_at or timezone.now(),
    )
    TicketOffer.objects.filter(pk=offer.pk).update(seats_taken=offer.seats_taken + 1)
    return ticket
