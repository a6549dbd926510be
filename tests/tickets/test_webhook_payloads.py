"""POST /webhooks/stripe with a *valid* signature and a payload no handler expects: never a 500.

Stripe redelivers a failed event for days, so an event that raised once raised on every retry. A
signed event that is not an event at all is refused (400 ``invalid_payload``); an event whose parts
have the wrong shape is acknowledged (200, outcome ``malformed``), recorded once and changes nothing.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import stripe
from django.test import Client

from tests.support.builders import make_host, make_paid_ticket, make_ticketed_space
from tests.support.stripe import stripe_event
from tickets.models import PayoutAccount, Ticket, TicketStatus, WebhookEvent
from tickets.services.webhooks import HANDLERS

pytestmark = pytest.mark.django_db

SHAPES: list[Any] = [None, "text", 42, 1.5, True, [], ["x"], [{"id": "pi_1"}], {}, {"id": None}]


def post_raw(payload: str, secret: str, *, timestamp: int | None = None) -> Any:
    signature = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)
    client = Client(raise_request_exception=False)
    return client.post(
        "/webhooks/stripe", data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )


def post(event: Any, secret: str, **kwargs: Any) -> Any:
    return post_raw(json.dumps(event), secret, **kwargs)


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, (response.status_code, response.content[:300])
    return dict(response.json())


# --- not an event ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        "[]",
        '"evt"',
        "null",
        '{"id": 1, "type": "payment_intent.succeeded"}',
        '{"id": "evt_1"}',
        '{"id": "evt_1", "type": ["x"]}',
        "[" * 100_000,
        '{"id": "evt_1", "type": "x", "data": ' + "[" * 500 + "]" * 500 + "}",
        '{"id": "evt_1", "type": "x", "created": NaN}',
        '{"id": "evt_1", "type": "x", "created": 1e999}',
    ],
)
def test_a_signed_payload_that_is_not_an_event_is_400(payload: str, webhook_secret: str) -> None:
    response = post_raw(payload, webhook_secret)
    assert response.status_code == 400, response.content[:300]
    assert response.json()["code"] == "invalid_payload"
    assert not WebhookEvent.objects.exists()


# --- wrong shapes inside an event -------------------------------------------------------------------


@pytest.mark.parametrize("event_type", [*HANDLERS, "some.other_event"])
@pytest.mark.parametrize("data", SHAPES)
def test_data_of_any_shape_is_acknowledged(event_type: str, data: Any, webhook_secret: str) -> None:
    event = stripe_event(event_type, {})
    event["data"] = data
    body = _ok(post(event, webhook_secret))
    assert body["outcome"] in {"malformed", "ignored", "not_ours"}
    assert WebhookEvent.objects.get(event_id=event["id"]).outcome == body["outcome"]


@pytest.mark.parametrize("event_type", [*HANDLERS])
@pytest.mark.parametrize("obj", SHAPES)
def test_data_object_of_any_shape_is_acknowledged(event_type: str, obj: Any, webhook_secret: str) -> None:
    event = stripe_event(event_type, {})
    event["data"] = {"object": obj}
    assert _ok(post(event, webhook_secret))["outcome"] in {"malformed", "not_ours"}


@pytest.mark.parametrize("event_type", [*HANDLERS])
@pytest.mark.parametrize("value", [*SHAPES, {"data": "x"}, "٣", "²", 10**30, -1, "1" * 5000])
def test_every_field_of_any_shape_is_acknowledged(event_type: str, value: Any, webhook_secret: str) -> None:
    fields = [
        "id",
        "amount",
        "amount_received",
        "currency",
        "metadata",
        "payment_intent",
        "refunded",
        "refunds",
        "capabilities",
        "details_submitted",
    ]
    obj = {"id": "obj_1", "metadata": {"ticket_id": "1", "payout_id": "1"}, "payment_intent": "pi_1", "refunded": True}
    for field in fields:
        event = stripe_event(event_type, dict(obj, **{field: value}))
        event["created"] = value
        _ok(post(event, webhook_secret))
    for key in ("ticket_id", "payout_id"):
        event = stripe_event(event_type, dict(obj, metadata={key: value}))
        _ok(post(event, webhook_secret))


@pytest.mark.parametrize(
    "refunds",
    [[{"id": "re_1"}], "re_1", {"data": {"id": "re_1"}}, {"data": "re_1"}, {"data": []}, {"data": ["re_1"]}, None],
)
def test_charge_refunded_with_odd_refunds_still_records_the_refund(refunds: Any, webhook_secret: str) -> None:
    ticket = make_paid_ticket(space=make_ticketed_space())
    charge = {"id": "ch_1", "payment_intent": ticket.payment_intent_id, "refunded": True, "refunds": refunds}
    assert _ok(post(stripe_event("charge.refunded", charge), webhook_secret))["outcome"] == "refunded"
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.REFUNDED and ticket.refund_id is None


def test_a_string_refunded_flag_is_not_a_refund(webhook_secret: str) -> None:
    ticket = make_paid_ticket(space=make_ticketed_space())
    charge = {"id": "ch_1", "payment_intent": ticket.payment_intent_id, "refunded": "false"}
    assert _ok(post(stripe_event("charge.refunded", charge), webhook_secret))["outcome"] == "ignored_partial"
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.PAID


def test_a_non_ascii_digit_ticket_id_does_not_name_a_ticket(webhook_secret: str) -> None:
    space = make_ticketed_space()
    ticket = Ticket.objects.create(space=space, buyer=make_host(), price_cents=1500, hold_expires_at=space.created_at)
    metadata = {"ticket_id": "".join("٠١٢٣٤٥٦٧٨٩"[int(d)] for d in str(ticket.pk))}
    pi = {"id": "pi_other", "amount": 1500, "amount_received": 1500, "currency": "usd", "metadata": metadata}
    assert _ok(post(stripe_event("payment_intent.succeeded", pi), webhook_secret))["outcome"] == "unknown_ticket"
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.HELD and ticket.payment_intent_id is None


# --- NUL and lone surrogates ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["\u0000", "\ud800", "\udfff"])
@pytest.mark.parametrize("where", ["event_id", "type", "object_id", "payment_intent", "metadata", "deep"])
def test_nul_or_lone_surrogates_anywhere_are_acknowledged_once(bad: str, where: str, webhook_secret: str) -> None:
    ticket = make_paid_ticket(space=make_ticketed_space())
    charge: dict[str, Any] = {"id": "ch_1", "payment_intent": ticket.payment_intent_id, "refunded": True}
    event = stripe_event("charge.refunded", charge)
    if where == "event_id":
        event["id"] = f"evt_{bad}_1"
    elif where == "type":
        event["type"] = f"charge.refunded{bad}"
    elif where == "object_id":
        charge["id"] = f"ch_{bad}"
    elif where == "payment_intent":
        charge["payment_intent"] = f"{ticket.payment_intent_id}{bad}"
    elif where == "metadata":
        charge["metadata"] = {f"k{bad}": f"v{bad}"}
    else:
        charge["refunds"] = {"data": [{"id": "re_1", "reason": {"note": [f"x{bad}y"]}}]}
    payload = json.dumps(event)  # \u0000 and lone surrogates as JSON escapes, as Stripe would send them
    first = _ok(post_raw(payload, webhook_secret))
    again = _ok(post_raw(payload, webhook_secret))
    assert again["outcome"] == "duplicate"
    assert WebhookEvent.objects.count() == 1
    stored = WebhookEvent.objects.get()
    assert "\x00" not in json.dumps(stored.payload, ensure_ascii=False)
    ticket.refresh_from_db()
    if where in ("payment_intent", "type"):  # the event no longer names this ticket or this handler
        assert first["outcome"] in {"malformed", "ignored"} and ticket.status == TicketStatus.PAID
    else:  # the bad character is elsewhere: the event is processed as usual
        assert first["outcome"] == "refunded" and ticket.status == TicketStatus.REFUNDED


def test_a_real_event_with_nul_in_a_description_is_processed(webhook_secret: str) -> None:
    host = make_host(can_receive_payouts=False)
    account = PayoutAccount.objects.get(user=host)
    obj = {
        "id": account.stripe_account_id,
        "business_profile": {"name": "Caf\u00e9\u0000 Owner", "url": None},
        "details_submitted": True,
        "charges_enabled": True,
        "payouts_enabled": True,
        "capabilities": {"transfers": "active"},
    }
    assert _ok(post(stripe_event("account.updated", obj), webhook_secret))["outcome"] == "applied"
    account.refresh_from_db()
    assert account.can_receive_payouts is True
    stored = WebhookEvent.objects.get().payload
    assert stored["data"]["object"]["business_profile"]["name"] == "Caf\u00e9\ufffd Owner"


# --- signature timestamps (item 9) -----------------------------------------------------------------


@pytest.mark.parametrize("offset_s", [30 * 86400, 3600, 301])
def test_a_signature_dated_in_the_future_is_refused(offset_s: int, webhook_secret: str) -> None:
    ticket = make_paid_ticket(space=make_ticketed_space())
    charge = {"id": "ch_1", "payment_intent": ticket.payment_intent_id, "refunded": True}
    response = post(stripe_event("charge.refunded", charge), webhook_secret, timestamp=int(time.time()) + offset_s)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.PAID and not WebhookEvent.objects.exists()


@pytest.mark.parametrize("offset_s", [-30 * 86400, -301])
def test_a_signature_older_than_the_tolerance_is_refused(offset_s: int, webhook_secret: str) -> None:
    response = post(stripe_event("some.event", {}), webhook_secret, timestamp=int(time.time()) + offset_s)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_signature")


@pytest.mark.parametrize("offset_s", [-240, 0, 60, 240])
def test_a_signature_within_the_tolerance_both_ways_is_accepted(offset_s: int, webhook_secret: str) -> None:
    response = post(stripe_event("some.event", {}), webhook_secret, timestamp=int(time.time()) + offset_s)
    assert _ok(response)["outcome"] == "ignored"


@pytest.mark.parametrize(
    "header",
    ["t=99999999999999999999999999,v1=00", "t=-1,v1=00", "t=,v1=00", "t=1.5,v1=00", "v1=00", "t=\u0663,v1=00", ""],
)
def test_a_garbled_signature_header_is_400(header: str, webhook_secret: str) -> None:
    client = Client(raise_request_exception=False)
    response = client.post("/webhooks/stripe", data="{}", content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_signature")
