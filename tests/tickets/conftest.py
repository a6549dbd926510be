"""Fixtures for ticketing: hosts with payout accounts, ticketed Spaces, stripe-mock, signed webhooks."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import stripe
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from accounts.models import User
from rooms.models import Space, SpaceState
from tests.factories import HostFactory, UserFactory
from tests.support.stripe import StripeProxy
from tickets.models import PayoutAccount, Ticket, TicketOffer, TicketStatus

_event_numbers = itertools.count(1)
# stripe-mock accepts only keys shaped sk_test_<one part>; .services/env's sk_test_spaces_local has two.
STRIPE_MOCK_KEY = "sk_test_spacesLocal"


@pytest.fixture
def stripe_proxy(stripe_mock_url: str, settings: Any) -> Iterator[StripeProxy]:
    """stripe-mock behind a recording proxy; the app's Stripe calls go through it."""
    proxy = StripeProxy(upstream=stripe_mock_url).start()
    settings.STRIPE_API_BASE = proxy.url
    settings.STRIPE_SECRET_KEY = STRIPE_MOCK_KEY
    yield proxy
    proxy.stop()


def make_host(*, can_receive_payouts: bool = True) -> User:
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


def stripe_event(
    event_type: str, obj: dict[str, Any], *, event_id: str | None = None, created: int | None = None
) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_test_{uuid.uuid4().hex[:12]}_{next(_event_numbers)}",
        "object": "event",
        "type": event_type,
        "created": created if created is not None else int(time.time()),
        "livemode": False,
        "api_version": "2024-06-20",
        "data": {"object": obj},
    }


def payment_succeeded(ticket: Ticket, **kwargs: Any) -> dict[str, Any]:
    return stripe_event(
        "payment_intent.succeeded",
        {
            "id": ticket.payment_intent_id,
            "object": "payment_intent",
            "amount": ticket.price_cents,
            "amount_received": ticket.price_cents,
            "currency": "usd",
            "status": "succeeded",
            "metadata": {"ticket_id": str(ticket.pk), "space_id": str(ticket.space_id)},
        },
        **kwargs,
    )


def sign(payload: str, secret: str | None = None) -> str:
    secret = secret or django_settings.STRIPE_WEBHOOK_SECRET
    return stripe.WebhookSignature.generate_signature_header(payload, secret)


@pytest.fixture
def webhook_secret(settings: Any) -> str:
    settings.STRIPE_WEBHOOK_SECRET = settings.STRIPE_WEBHOOK_SECRET or "whsec_tickets_test_secret"
    return str(settings.STRIPE_WEBHOOK_SECRET)


@pytest.fixture
def post_event(webhook_secret: str) -> Callable[..., Any]:
    """``post_event(event)`` → the response of ``POST /webhooks/stripe`` with a valid signature."""
    client = Client()

    def _post(event: dict[str, Any], *, signature: str | None = None) -> Any:
        payload = json.dumps(event)
        return client.post(
            "/webhooks/stripe",
            data=payload,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature if signature is not None else sign(payload, webhook_secret),
        )

    return _post
