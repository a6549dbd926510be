"""The Stripe wrapper against a real stripe-mock (which validates every request against Stripe's spec)."""

from __future__ import annotations

import json

import pytest
import stripe

from tickets import stripe_client


def test_payment_intent_create_carries_the_ticket_and_key(stripe_proxy):
    pi = stripe_client.payment_intent_create(
        amount_cents=1500,
        currency="usd",
        ticket_id=7,
        space_id=3,
        buyer_id=9,
        idempotency_key="spaces-ticket-7-payment",
    )
    assert pi.id.startswith("pi_") and pi.client_secret and pi.amount == 1500
    (call,) = stripe_proxy.posts("/v1/payment_intents")
    assert call.idempotency_key == "spaces-ticket-7-payment"
    assert call.form["metadata[ticket_id]"] == ["7"] and call.form["amount"] == ["1500"]


def test_payment_intent_retrieve_and_cancel(stripe_proxy):
    pi = stripe_client.payment_intent_create(
        amount_cents=100, currency="usd", ticket_id=1, space_id=1, buyer_id=1, idempotency_key="k-1"
    )
    assert stripe_client.payment_intent_retrieve(payment_intent_id=pi.id).id == pi.id
    assert stripe_client.payment_intent_cancel(payment_intent_id=pi.id)
    assert stripe_proxy.posts(f"/v1/payment_intents/{pi.id}/cancel")


def test_refund_transfer_and_connect_account(stripe_proxy):
    refund_id, _ = stripe_client.refund_create(payment_intent_id="pi_123", ticket_id=4, idempotency_key="r-4")
    assert refund_id.startswith("re_")
    account_id = stripe_client.connect_account_create(user_id=5, email="h@example.com", idempotency_key="a-5")
    assert account_id.startswith("acct_")
    url = stripe_client.connect_account_link_create(
        account_id=account_id, refresh_url="http://127.0.0.1:8000/r", return_url="http://127.0.0.1:8000/d"
    )
    assert url.startswith("http")
    transfer_id = stripe_client.transfer_create(
        amount_cents=970, currency="usd", destination=account_id, payout_id=2, space_id=3, idempotency_key="p-2"
    )
    assert transfer_id.startswith("tr_")
    keys = [c.idempotency_key for c in stripe_proxy.calls if c.method == "POST"]
    assert keys[:2] == ["r-4", "a-5"] and keys[-1] == "p-2"


def test_a_malformed_request_is_not_retriable(stripe_proxy):
    with pytest.raises(stripe_client.StripeError) as info:
        stripe_client.transfer_create(
            amount_cents="five",  # type: ignore[arg-type]
            currency="usd",
            destination="acct_1",
            payout_id=1,
            space_id=1,
            idempotency_key="bad",
        )
    assert info.value.retriable is False


def test_an_unreachable_stripe_is_retriable(settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # discard port: connection refused
    with pytest.raises(stripe_client.StripeError) as info:
        stripe_client.refund_create(payment_intent_id="pi_1", ticket_id=1, idempotency_key="x")
    assert info.value.retriable is True


def test_webhook_signature_round_trip(settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_roundtrip"
    payload = json.dumps({"id": "evt_1", "type": "account.updated", "data": {"object": {}}})
    header = stripe.WebhookSignature.generate_signature_header(payload, "whsec_roundtrip")
    assert stripe_client.webhook_event_verify(payload=payload.encode(), signature_header=header)["id"] == "evt_1"
    with pytest.raises(stripe_client.SignatureError):
        stripe_client.webhook_event_verify(
            payload=payload.encode(),
            signature_header=stripe.WebhookSignature.generate_signature_header(payload, "whsec_other"),
        )
