"""Staff console: ticket and payout lists with filters, refund and retry-payout actions, the event log."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from rooms.models import Space, SpaceState
from tests.factories import UserFactory
from tests.support.builders import make_paid_ticket, make_ticketed_space
from tests.support.stripe import stripe_event
from tickets import services
from tickets.models import Payout, PayoutStatus, Ticket, TicketStatus, WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_lists_and_filters_render(staff):
    space = make_ticketed_space()
    make_paid_ticket(space=space)
    services.webhook_event_process(event=stripe_event("customer.created", {"id": "cus_1"}))
    for url in [
        "/admin/tickets/ticket/?status__exact=paid",
        "/admin/tickets/payout/?status__exact=failed",
        "/admin/tickets/webhookevent/?type=customer.created",
        "/admin/tickets/payoutaccount/",
        "/admin/tickets/ticketoffer/",
    ]:
        assert staff.get(url).status_code == 200, url
    assert b"customer.created" in staff.get("/admin/tickets/webhookevent/").content


def test_refund_action_refunds_through_stripe(staff, stripe_proxy, django_capture_on_commit_callbacks):
    ticket = make_paid_ticket(space=make_ticketed_space())
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            "/admin/tickets/ticket/", {"action": "refund_tickets", "_selected_action": [ticket.pk]}, follow=True
        )
    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.REFUNDED and ticket.refund_id
    assert len(stripe_proxy.posts("/v1/refunds")) == 1


def test_retry_payout_action_only_retries_failed_payouts(staff, stripe_proxy, django_capture_on_commit_callbacks):
    space = make_ticketed_space()
    make_paid_ticket(space=space)
    Space.objects.filter(pk=space.pk).update(state=SpaceState.ENDED, ended_at=timezone.now())
    payout = services.payout_create_for_space(space_id=space.pk)
    assert payout is not None
    Payout.objects.filter(pk=payout.pk).update(status=PayoutStatus.FAILED, last_error="refused")
    with django_capture_on_commit_callbacks(execute=True):
        staff.post("/admin/tickets/payout/", {"action": "retry_payouts", "_selected_action": [payout.pk]})
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.TRANSFERRED and payout.attempt == 2
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            "/admin/tickets/payout/", {"action": "retry_payouts", "_selected_action": [payout.pk]}, follow=True
        )
    assert b"Only a failed payout can be retried" in response.content
    assert len(stripe_proxy.posts("/v1/transfers")) == 1


def test_webhook_events_are_read_only(staff):
    services.webhook_event_process(event=stripe_event("customer.created", {"id": "cus_1"}))
    event = WebhookEvent.objects.get()
    assert staff.post(f"/admin/tickets/webhookevent/{event.pk}/change/", {"outcome": "x"}).status_code == 403
    assert Ticket.objects.count() == 0
