"""Real concurrent buyers and webhook deliveries against PostgreSQL: never oversold, one ticket per payment."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from rooms.models import Space
from tests.factories import UserFactory
from tests.support.builders import make_ticketed_space
from tests.support.stripe import payment_succeeded, sign
from tickets.models import Ticket, TicketOffer, TicketStatus, WebhookEvent

BUYERS = 200
SEATS = 20


@pytest.mark.django_db(transaction=True)
def test_200_concurrent_buyers_for_20_seats(postgres_url, stripe_proxy, make_client, webhook_secret, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
    space = make_ticketed_space(capacity=SEATS)
    clients: list[APIClient] = [make_client(UserFactory()) for _ in range(BUYERS)]
    start = threading.Barrier(BUYERS)

    def buy(index: int) -> tuple[int, dict]:
        try:
            start.wait()
            response = clients[index].post(f"/api/v1/spaces/{space.pk}/tickets")
            return response.status_code, response.json()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        results = list(pool.map(buy, range(BUYERS)))

    statuses = [status for status, _ in results]
    assert statuses.count(201) == SEATS
    assert statuses.count(409) == BUYERS - SEATS
    assert {body["code"] for status, body in results if status == 409} == {"sold_out"}
    # A PaymentIntent (the only way to be charged) exists only for a buyer who got a seat.
    intents = stripe_proxy.posts("/v1/payment_intents")
    assert len(intents) == SEATS
    held = {body["payment"]["payment_intent_id"] for status, body in results if status == 201}
    assert held == set(Ticket.objects.filter(status=TicketStatus.HELD).values_list("payment_intent_id", flat=True))

    # Every payment is confirmed twice (two event ids) plus one exact duplicate, all at once.
    tickets = list(Ticket.objects.filter(status=TicketStatus.HELD))
    deliveries = []
    for ticket in tickets:
        first = payment_succeeded(ticket)
        deliveries += [first, first, payment_succeeded(ticket)]
    go = threading.Barrier(len(deliveries))

    def deliver(event: dict) -> str:
        try:
            payload = json.dumps(event)
            go.wait()
            response = Client().post(
                "/webhooks/stripe",
                data=payload,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=sign(payload, webhook_secret),
            )
            assert response.status_code == 200
            return response.json()["outcome"]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
        outcomes = list(pool.map(deliver, deliveries))

    assert outcomes.count("paid") == SEATS
    assert outcomes.count("duplicate") == SEATS
    assert outcomes.count("already_paid") == SEATS
    assert Ticket.objects.filter(status=TicketStatus.PAID).count() == SEATS
    assert Ticket.objects.exclude(status__in=[TicketStatus.PAID]).count() == 0
    assert TicketOffer.objects.get(space=space).seats_taken == SEATS
    assert WebhookEvent.objects.count() == 2 * SEATS
    assert Space.objects.filter(pk=space.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_one_buyer_clicking_ten_times_at_once_gets_one_seat(postgres_url, stripe_proxy, make_client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
    space = make_ticketed_space(capacity=5)
    buyer = UserFactory()
    make_client(buyer)  # its token exists before the threads start
    clicks = 10
    start = threading.Barrier(clicks)

    def buy(_: int) -> int:
        client = make_client(buyer)
        try:
            start.wait()
            return client.post(f"/api/v1/spaces/{space.pk}/tickets").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=clicks) as pool:
        statuses = list(pool.map(buy, range(clicks)))

    assert statuses.count(201) == 1 and statuses.count(200) == clicks - 1
    ticket = Ticket.objects.get()
    assert TicketOffer.objects.get(space=space).seats_taken == 1
    # Every PaymentIntent request for this buyer carries the ticket's one key: Stripe makes one payment.
    assert {c.idempotency_key for c in stripe_proxy.posts("/v1/payment_intents")} == {
        f"spaces-ticket-{ticket.pk}-payment"
    }
