"""The ticketing API through the client: happy paths, permission denied, bad input (nothing changed)."""

from __future__ import annotations

import pytest

from accounts.models import Block
from moderation.models import SpaceBan
from rooms.models import Space, SpaceState
from tests.factories import HostFactory, UserFactory
from tests.support.builders import make_host, make_paid_ticket, make_ticketed_space
from tickets.models import PayoutAccount, Ticket, TicketOffer, TicketStatus

pytestmark = pytest.mark.django_db


def test_host_connects_a_payout_account_once(make_client, stripe_proxy):
    host = HostFactory()
    client = make_client(host)
    first = client.post("/api/v1/me/payout-account")
    second = client.post("/api/v1/me/payout-account")
    assert first.status_code == 200 and first.json()["onboarding_url"].startswith("http")
    assert second.json()["account"]["stripe_account_id"] == first.json()["account"]["stripe_account_id"]
    assert first.json()["account"]["can_receive_payouts"] is False
    assert PayoutAccount.objects.filter(user=host).count() == 1
    assert len(stripe_proxy.posts("/v1/accounts")) == 1
    assert len(stripe_proxy.posts("/v1/account_links")) == 2


def test_a_user_who_cannot_host_gets_no_payout_account(make_client, stripe_proxy):
    response = make_client(UserFactory()).post("/api/v1/me/payout-account")
    assert response.status_code == 403 and response.json()["code"] == "not_eligible"
    assert not PayoutAccount.objects.exists() and not stripe_proxy.calls


def test_host_makes_a_scheduled_space_ticketed(make_client):
    host = make_host()
    space = Space.objects.create(host=host, title="Paid", state=SpaceState.SCHEDULED)
    response = make_client(host).put(
        f"/api/v1/spaces/{space.pk}/ticketing", {"price_cents": 2500, "capacity": 50}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["seats_left"] == 50
    assert TicketOffer.objects.get(space=space).price_cents == 2500


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"price_cents": 99, "capacity": 5}, "price_cents"),
        ({"price_cents": 100_000, "capacity": 5}, "price_cents"),
        ({"price_cents": 1000, "capacity": 0}, "capacity"),
        ({"price_cents": "ten", "capacity": 5}, "price_cents"),
    ],
)
def test_bad_ticketing_input_is_refused(make_client, body, field):
    host = make_host()
    space = Space.objects.create(host=host, title="Paid", state=SpaceState.SCHEDULED)
    response = make_client(host).put(f"/api/v1/spaces/{space.pk}/ticketing", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]
    assert not TicketOffer.objects.exists()


def test_only_the_host_sets_ticketing(make_client):
    space = Space.objects.create(host=make_host(), title="Paid", state=SpaceState.SCHEDULED)
    response = make_client(make_host()).put(
        f"/api/v1/spaces/{space.pk}/ticketing", {"price_cents": 1000, "capacity": 5}, format="json"
    )
    assert response.status_code == 403 and response.json()["code"] == "not_host"
    assert not TicketOffer.objects.exists()


def test_ticketing_needs_an_account_that_can_receive_payouts(make_client):
    host = make_host(can_receive_payouts=False)
    space = Space.objects.create(host=host, title="Paid", state=SpaceState.SCHEDULED)
    response = make_client(host).put(
        f"/api/v1/spaces/{space.pk}/ticketing", {"price_cents": 1000, "capacity": 5}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "payout_account_required"
    assert not TicketOffer.objects.exists()


def test_price_is_fixed_once_tickets_are_sold(make_client):
    space = make_ticketed_space(price_cents=1000)
    make_paid_ticket(space=space)
    response = make_client(space.host).put(
        f"/api/v1/spaces/{space.pk}/ticketing", {"price_cents": 2000, "capacity": 5}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "ticketing_locked"
    assert TicketOffer.objects.get(space=space).price_cents == 1000


def test_buying_holds_a_seat_and_returns_the_payment(make_client, stripe_proxy):
    space = make_ticketed_space(capacity=2)
    buyer = UserFactory()
    response = make_client(buyer).post(f"/api/v1/spaces/{space.pk}/tickets")
    assert response.status_code == 201
    body = response.json()
    assert body["ticket"]["status"] == "held" and body["payment"]["client_secret"]
    ticket = Ticket.objects.get(buyer=buyer)
    assert ticket.payment_intent_id == body["payment"]["payment_intent_id"]
    assert TicketOffer.objects.get(space=space).seats_taken == 1
    (call,) = stripe_proxy.posts("/v1/payment_intents")
    assert call.form["amount"] == ["1500"] and call.idempotency_key == f"spaces-ticket-{ticket.pk}-payment"


def test_buying_again_during_the_hold_returns_the_same_ticket(make_client, stripe_proxy):
    space = make_ticketed_space(capacity=5)
    client = make_client(UserFactory())
    first = client.post(f"/api/v1/spaces/{space.pk}/tickets").json()
    again = client.post(f"/api/v1/spaces/{space.pk}/tickets")
    assert again.status_code == 200 and again.json()["ticket"]["id"] == first["ticket"]["id"]
    assert TicketOffer.objects.get(space=space).seats_taken == 1
    assert len(stripe_proxy.posts("/v1/payment_intents")) == 1


def test_sold_out_gets_409_and_no_payment(make_client, stripe_proxy):
    space = make_ticketed_space(capacity=1)
    make_paid_ticket(space=space)
    response = make_client(UserFactory()).post(f"/api/v1/spaces/{space.pk}/tickets")
    assert response.status_code == 409 and response.json()["code"] == "sold_out"
    assert Ticket.objects.count() == 1 and not stripe_proxy.calls


def test_a_stripe_outage_gives_the_seat_back(make_client, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    space = make_ticketed_space(capacity=1)
    response = make_client(UserFactory()).post(f"/api/v1/spaces/{space.pk}/tickets")
    assert response.status_code == 503 and response.json()["code"] == "payment_provider_error"
    assert TicketOffer.objects.get(space=space).seats_taken == 0
    assert Ticket.objects.get().status == TicketStatus.CANCELED


def _host_buys(space):
    return space.host, space.pk


def _canceled(space):
    Space.objects.filter(pk=space.pk).update(state=SpaceState.CANCELED)
    return UserFactory(), space.pk


def _free(space):
    TicketOffer.objects.filter(space=space).delete()
    return UserFactory(), space.pk


def _missing(space):
    return UserFactory(), space.pk + 1000


def _paid_already(space):
    return make_paid_ticket(space=space).buyer, space.pk


def _blocked(space):
    buyer = UserFactory()
    Block.objects.create(blocker=space.host, blocked=buyer)
    return buyer, space.pk


def _banned(space):
    buyer = UserFactory()
    SpaceBan.objects.create(space=space, user=buyer)
    return buyer, space.pk


@pytest.mark.parametrize(
    ("arrange", "status", "code"),
    [
        (_host_buys, 409, "host_cannot_buy"),
        (_canceled, 409, "sales_closed"),
        (_free, 404, "not_ticketed"),
        (_missing, 404, "space_not_found"),
        (_paid_already, 409, "already_has_ticket"),
        (_blocked, 403, "blocked"),
        (_banned, 403, "banned"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else str(v),
)
def test_purchase_refusals(make_client, stripe_proxy, arrange, status, code):
    buyer, space_id = arrange(make_ticketed_space())
    before = Ticket.objects.count()
    response = make_client(buyer).post(f"/api/v1/spaces/{space_id}/tickets")
    assert response.status_code == status and response.json()["code"] == code
    assert Ticket.objects.count() == before and not stripe_proxy.calls


def test_buyer_lists_their_tickets_and_host_their_payouts(make_client):
    space = make_ticketed_space()
    buyer = UserFactory()
    make_paid_ticket(space=space, buyer=buyer)
    tickets = make_client(buyer).get("/api/v1/me/tickets").json()["results"]
    assert [(t["space"], t["status"]) for t in tickets] == [(space.pk, "paid")]
    assert make_client(UserFactory()).get("/api/v1/me/tickets").json()["results"] == []
    assert make_client(space.host).get("/api/v1/me/payouts").json()["results"] == []


def test_anonymous_users_cannot_buy(api_client):
    space = make_ticketed_space()
    assert api_client.post(f"/api/v1/spaces/{space.pk}/tickets").status_code == 401
    assert not Ticket.objects.exists()


def test_sold_out_is_answered_from_two_reads_without_a_lock(make_client, stripe_proxy, django_assert_num_queries):
    space = make_ticketed_space(capacity=1)
    make_paid_ticket(space=space)
    client = make_client(UserFactory())
    with django_assert_num_queries(2) as captured:  # token; offer + Space + "overdue hold?" + "own ticket?"
        assert client.post(f"/api/v1/spaces/{space.pk}/tickets").status_code == 409
    assert not any("FOR UPDATE" in q["sql"] or q["sql"].startswith("UPDATE") for q in captured.captured_queries)


def test_a_stripe_outage_on_a_repeat_click_keeps_the_payable_hold(make_client, stripe_proxy, settings):
    space = make_ticketed_space(capacity=1)
    client = make_client(UserFactory())
    assert client.post(f"/api/v1/spaces/{space.pk}/tickets").status_code == 201
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    assert client.post(f"/api/v1/spaces/{space.pk}/tickets").status_code == 503
    assert Ticket.objects.get().status == TicketStatus.HELD
    assert TicketOffer.objects.get(space=space).seats_taken == 1
