"""POST /webhooks/stripe: signed events, processed once, in any order; bad signatures change nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import UserFactory
from tests.support.builders import make_host, make_paid_ticket, make_ticketed_space
from tests.support.stripe import payment_succeeded, stripe_event
from tickets import services
from tickets.models import Payout, PayoutAccount, PayoutStatus, Ticket, TicketOffer, TicketStatus, WebhookEvent

pytestmark = pytest.mark.django_db


def held_ticket(make_client, space, buyer=None):
    buyer = buyer or UserFactory()
    make_client(buyer).post(f"/api/v1/spaces/{space.pk}/tickets")
    return Ticket.objects.get(space=space, buyer=buyer, status=TicketStatus.HELD)


def test_payment_succeeded_makes_the_ticket_valid(make_client, stripe_proxy, post_event):
    space = make_ticketed_space()
    ticket = held_ticket(make_client, space)
    response = post_event(payment_succeeded(ticket))
    assert response.status_code == 200 and response.json()["outcome"] == "paid"
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.PAID and ticket.paid_at is not None


def test_a_bad_signature_gets_400_and_changes_nothing(make_client, stripe_proxy, post_event):
    ticket = held_ticket(make_client, make_ticketed_space())
    event = payment_succeeded(ticket)
    response = post_event(event, signature="t=1,v1=deadbeef")
    assert response.status_code == 400 and response.json()["code"] == "invalid_signature"
    forged = post_event(
        event,
        signature=__import__("stripe").WebhookSignature.generate_signature_header(json.dumps(event), "whsec_wrong"),
    )
    assert forged.status_code == 400
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.HELD and not WebhookEvent.objects.exists()


def test_the_same_event_twice_is_processed_once(make_client, stripe_proxy, post_event):
    ticket = held_ticket(make_client, make_ticketed_space())
    event = payment_succeeded(ticket)
    assert post_event(event).json()["outcome"] == "paid"
    assert post_event(event).json()["outcome"] == "duplicate"
    assert WebhookEvent.objects.count() == 1
    assert Ticket.objects.filter(status=TicketStatus.PAID).count() == 1


def test_two_events_for_one_payment_make_one_ticket(make_client, stripe_proxy, post_event):
    space = make_ticketed_space()
    ticket = held_ticket(make_client, space)
    assert post_event(payment_succeeded(ticket)).json()["outcome"] == "paid"
    assert post_event(payment_succeeded(ticket)).json()["outcome"] == "already_paid"
    assert Ticket.objects.count() == 1 and TicketOffer.objects.get(space=space).seats_taken == 1


def test_a_late_cancel_after_success_keeps_the_ticket(make_client, stripe_proxy, post_event):
    space = make_ticketed_space()
    ticket = held_ticket(make_client, space)
    post_event(payment_succeeded(ticket))
    canceled = stripe_event("payment_intent.canceled", {"id": ticket.payment_intent_id, "metadata": {}})
    assert post_event(canceled).json()["outcome"] == "ignored_paid"
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.PAID and TicketOffer.objects.get(space=space).seats_taken == 1


def test_a_cancel_frees_the_seat_of_a_hold(make_client, stripe_proxy, post_event):
    space = make_ticketed_space()
    ticket = held_ticket(make_client, space)
    canceled = stripe_event("payment_intent.canceled", {"id": ticket.payment_intent_id, "metadata": {}})
    assert post_event(canceled).json()["outcome"] == "canceled"
    assert TicketOffer.objects.get(space=space).seats_taken == 0


def test_an_unknown_event_type_is_acknowledged_and_ignored(post_event):
    response = post_event(stripe_event("customer.created", {"id": "cus_1"}))
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"


def test_payment_after_the_hold_expired_takes_a_free_seat(
    make_client, stripe_proxy, post_event, django_capture_on_commit_callbacks
):
    space = make_ticketed_space(capacity=1)
    ticket = held_ticket(make_client, space)
    Ticket.objects.filter(pk=ticket.pk).update(hold_expires_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.ticket_holds_expire() == 1
    assert TicketOffer.objects.get(space=space).seats_taken == 0
    assert stripe_proxy.posts(f"/v1/payment_intents/{ticket.payment_intent_id}/cancel")
    assert post_event(payment_succeeded(ticket)).json()["outcome"] == "paid_late"
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.PAID and TicketOffer.objects.get(space=space).seats_taken == 1


def test_payment_after_the_seat_was_resold_is_refunded(
    make_client, stripe_proxy, post_event, django_capture_on_commit_callbacks
):
    space = make_ticketed_space(capacity=1)
    late = held_ticket(make_client, space)
    Ticket.objects.filter(pk=late.pk).update(hold_expires_at=timezone.now() - timedelta(seconds=1))
    other = held_ticket(make_client, space)  # expires the old hold and takes the seat
    post_event(payment_succeeded(other))
    with django_capture_on_commit_callbacks(execute=True):
        assert post_event(payment_succeeded(late)).json()["outcome"] == "refunding"
    late.refresh_from_db()
    assert late.status == TicketStatus.REFUNDED
    (refund,) = stripe_proxy.posts("/v1/refunds")
    assert refund.form["payment_intent"] == [late.payment_intent_id]
    assert TicketOffer.objects.get(space=space).seats_taken == 1


def test_an_amount_mismatch_does_not_validate_the_ticket(make_client, stripe_proxy, post_event):
    ticket = held_ticket(make_client, make_ticketed_space())
    event = payment_succeeded(ticket)
    event["data"]["object"]["amount_received"] = 1
    assert post_event(event).json()["outcome"] == "amount_mismatch"
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.HELD


def test_account_updated_enables_payouts_and_a_late_older_event_is_ignored(post_event):
    host = make_host(can_receive_payouts=False)
    account = PayoutAccount.objects.get(user=host)
    obj = {
        "id": account.stripe_account_id,
        "object": "account",
        "details_submitted": True,
        "charges_enabled": True,
        "payouts_enabled": True,
        "capabilities": {"transfers": "active"},
    }
    assert post_event(stripe_event("account.updated", obj, created=2_000)).json()["outcome"] == "applied"
    older = dict(obj, payouts_enabled=False, capabilities={"transfers": "inactive"})
    assert post_event(stripe_event("account.updated", older, created=1_000)).json()["outcome"] == "stale"
    account.refresh_from_db()
    assert account.can_receive_payouts is True


def test_transfer_created_records_the_payout_and_reversed_follows(post_event):
    space = make_ticketed_space()
    payout = Payout.objects.create(
        space=space,
        host=space.host,
        destination_account_id="acct_x",
        ticket_count=1,
        gross_cents=1000,
        platform_fee_cents=30,
        host_net_cents=970,
        status=PayoutStatus.SUBMITTING,
    )
    created = stripe_event("transfer.created", {"id": "tr_1", "metadata": {"payout_id": str(payout.pk)}})
    assert post_event(created).json()["outcome"] == "transferred"
    assert (
        post_event(stripe_event("transfer.created", {"id": "tr_1", "metadata": {"payout_id": str(payout.pk)}})).json()[
            "outcome"
        ]
        == "already_transferred"
    )
    assert post_event(stripe_event("transfer.reversed", {"id": "tr_1"})).json()["outcome"] == "reversed"
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.REVERSED and payout.transfer_id == "tr_1"


def test_charge_refunded_before_our_refund_call_records_the_refund(post_event):
    space = make_ticketed_space()
    ticket = make_paid_ticket(space=space)
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": ticket.payment_intent_id,
        "refunded": True,
        "refunds": {"data": [{"id": "re_1"}]},
    }
    assert post_event(stripe_event("charge.refunded", charge)).json()["outcome"] == "refunded"
    assert post_event(stripe_event("charge.refunded", charge)).json()["outcome"] == "already_refunded"
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.REFUNDED and ticket.refund_id == "re_1"
    assert TicketOffer.objects.get(space=space).seats_taken == 0
