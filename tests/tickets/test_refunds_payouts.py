"""Refunds on cancel and host payouts (Celery in-process here; a real worker in test_worker.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rooms.models import Space, SpaceState
from tests.factories import UserFactory
from tests.support.builders import make_host, make_paid_ticket, make_ticketed_space
from tickets import services, tasks
from tickets.exceptions import RefundNotAllowed
from tickets.models import Payout, PayoutStatus, Ticket, TicketOffer, TicketStatus

pytestmark = pytest.mark.django_db


def cancel(space: Space) -> None:
    Space.objects.filter(pk=space.pk).update(state=SpaceState.CANCELED)
    services.space_canceled_refund_all(space_id=space.pk)


def end(space: Space, *, ago: timedelta = timedelta(days=2)) -> None:
    Space.objects.filter(pk=space.pk).update(state=SpaceState.ENDED, ended_at=timezone.now() - ago)


def test_canceling_refunds_every_paid_ticket_once(stripe_proxy, django_capture_on_commit_callbacks):
    space = make_ticketed_space()
    paid = [make_paid_ticket(space=space) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        cancel(space)
    with django_capture_on_commit_callbacks(execute=True):
        cancel(space)  # a second cancel hook (or a redelivered task) refunds nothing more
    assert set(Ticket.objects.values_list("status", flat=True)) == {TicketStatus.REFUNDED}
    refunds = stripe_proxy.posts("/v1/refunds")
    assert sorted(r.form["payment_intent"][0] for r in refunds) == sorted(t.payment_intent_id for t in paid)
    assert {r.idempotency_key for r in refunds} == {f"spaces-ticket-{t.pk}-refund" for t in paid}
    assert TicketOffer.objects.get(space=space).seats_taken == 0


def test_refund_all_does_nothing_for_a_space_that_is_not_canceled(stripe_proxy, django_capture_on_commit_callbacks):
    space = make_ticketed_space()
    make_paid_ticket(space=space)
    with django_capture_on_commit_callbacks(execute=True):
        services.space_canceled_refund_all(space_id=space.pk)
    assert Ticket.objects.get().status == TicketStatus.PAID and not stripe_proxy.calls


def test_a_refund_during_a_stripe_outage_stays_pending_and_is_retried(settings, stripe_mock_url, stripe_proxy):
    space = make_ticketed_space()
    ticket = make_paid_ticket(space=space)
    Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.REFUND_PENDING)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    with pytest.raises(Exception):  # noqa: B017 - eager retries end in the last error
        tasks.ticket_refund.apply(args=[ticket.pk], throw=True, retries=tasks.RETRY["max_retries"])
    assert Ticket.objects.get().status == TicketStatus.REFUND_PENDING
    settings.STRIPE_API_BASE = stripe_proxy.url
    assert tasks.ticket_refund.apply(args=[ticket.pk]).get() == "refunded"
    assert tasks.ticket_refund.apply(args=[ticket.pk]).get() == "nothing_to_do"
    assert len(stripe_proxy.posts("/v1/refunds")) == 1


def test_staff_refund_is_refused_after_the_payout(stripe_proxy):
    space = make_ticketed_space()
    ticket = make_paid_ticket(space=space)
    end(space)
    services.payout_create_for_space(space_id=space.pk)
    with pytest.raises(RefundNotAllowed):
        services.ticket_refund_request(ticket_id=ticket.pk)
    assert Ticket.objects.get().status == TicketStatus.PAID


def test_payout_is_created_and_sent_once_after_the_refund_window(stripe_proxy, settings):
    host = make_host()
    space = make_ticketed_space(host=host, price_cents=999)
    tickets = [make_paid_ticket(space=space) for _ in range(3)]
    refunded = make_paid_ticket(space=space)
    Ticket.objects.filter(pk=refunded.pk).update(status=TicketStatus.REFUNDED)
    end(space, ago=timedelta(hours=1))
    settings.TICKETS_REFUND_WINDOW_S = 2 * 3600
    assert tasks.payouts_process_due.apply().get() == []  # still inside the refund window
    settings.TICKETS_REFUND_WINDOW_S = 1800
    (payout_id,) = tasks.payouts_process_due.apply().get()
    tasks.payouts_process_due.apply().get()
    tasks.payout_send.apply(args=[payout_id]).get()
    payout = Payout.objects.get()
    assert payout.pk == payout_id and payout.status == PayoutStatus.TRANSFERRED and payout.transfer_id
    assert (payout.gross_cents, payout.host_net_cents, payout.platform_fee_cents) == (2997, 2908, 89)
    assert [
        t.host_net_cents for t in Ticket.objects.filter(pk__in=[t.pk for t in tickets]).order_by("paid_at", "pk")
    ] == [970, 969, 969]
    (transfer,) = stripe_proxy.posts("/v1/transfers")
    assert transfer.form["amount"] == ["2908"] and transfer.idempotency_key == payout.idempotency_key
    assert transfer.form["destination"] == [payout.destination_account_id]


def test_a_host_crossing_50000_is_split_exactly_at_the_threshold(stripe_proxy):
    host = make_host()
    earlier = make_ticketed_space(host=host)
    Payout.objects.create(
        space=earlier,
        host=host,
        destination_account_id="acct_old",
        ticket_count=1,
        gross_cents=5_154_000,
        platform_fee_cents=154_485,
        host_net_cents=4_999_515,
        status=PayoutStatus.TRANSFERRED,
    )
    space = make_ticketed_space(host=host, price_cents=1000)
    make_paid_ticket(space=space)
    make_paid_ticket(space=space, paid_at=timezone.now() + timedelta(seconds=1))
    end(space)
    payout = services.payout_create_for_space(space_id=space.pk)
    assert payout is not None
    assert (payout.gross_cents, payout.host_net_cents, payout.platform_fee_cents) == (2000, 885 + 800, 115 + 200)


def test_a_refused_transfer_fails_and_staff_retry_uses_a_new_key(stripe_proxy, django_capture_on_commit_callbacks):
    space = make_ticketed_space()
    make_paid_ticket(space=space)
    end(space)
    payout = services.payout_create_for_space(space_id=space.pk)
    assert payout is not None
    stripe_proxy.refuse.add("POST /v1/transfers")
    assert services.payout_send(payout_id=payout.pk) == "failed"
    assert services.payout_send(payout_id=payout.pk) == "nothing_to_do"  # failed waits for staff
    stripe_proxy.refuse.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.payout_retry(payout_id=payout.pk)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.TRANSFERRED and payout.attempt == 2
    keys = [c.idempotency_key for c in stripe_proxy.posts("/v1/transfers")]
    assert keys == [f"spaces-payout-{payout.pk}-attempt-1", f"spaces-payout-{payout.pk}-attempt-2"]


def test_payout_waits_for_an_account_that_can_receive_payouts(stripe_proxy):
    host = make_host(can_receive_payouts=False)
    space = make_ticketed_space(host=host)
    make_paid_ticket(space=space)
    end(space)
    (payout_id,) = services.payouts_process_due()
    assert services.payout_send(payout_id=payout_id) == "nothing_to_do"
    assert Payout.objects.get().status == PayoutStatus.PENDING and not stripe_proxy.posts("/v1/transfers")


def test_rescheduling_tells_ticket_holders(stripe_proxy):
    space = make_ticketed_space()
    holders = [make_paid_ticket(space=space).buyer_id for _ in range(2)]
    Ticket.objects.create(
        space=space, buyer=UserFactory(), status=TicketStatus.EXPIRED, price_cents=1500, hold_expires_at=timezone.now()
    )
    assert services.space_rescheduled_notify_holders(space_id=space.pk, scheduled_start="2030-01-01T10:00:00Z") == len(
        holders
    )
