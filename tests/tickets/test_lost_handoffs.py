"""Money work whose hand-off to Celery is lost (broker down at commit, or a broker restart that drops
its queue) is neither a 500 for the caller nor lost: the beat sweeps finish it, exactly once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from rooms.models import Space, SpaceState
from tests.support.builders import make_paid_ticket, make_ticketed_space
from tickets import services, tasks
from tickets.models import Ticket, TicketOffer, TicketStatus


def _broker_down(*_args: Any, **_kwargs: Any) -> None:
    raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def _statuses() -> set[str]:
    return set(Ticket.objects.values_list("status", flat=True))


@pytest.mark.django_db(transaction=True)
def test_canceling_while_the_broker_is_down_answers_200_and_keeps_the_tickets_for_the_sweep(
    make_client: Any, stripe_proxy: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real commit (transactional test): the hand-off runs inside the request, after the commit.
    space = make_ticketed_space()
    make_paid_ticket(space=space)
    monkeypatch.setattr(tasks.space_refund_all, "delay", _broker_down)
    response = make_client(space.host).post(f"/api/v1/spaces/{space.pk}/cancel")
    assert response.status_code == 200, response.content
    assert Space.objects.get(pk=space.pk).state == SpaceState.CANCELED
    assert _statuses() == {TicketStatus.PAID} and not stripe_proxy.calls


@pytest.mark.django_db
def test_the_sweep_refunds_a_canceled_space_whose_refund_all_was_lost(
    stripe_proxy: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    space = make_ticketed_space()
    paid = [make_paid_ticket(space=space) for _ in range(2)]
    monkeypatch.setattr(tasks.space_refund_all, "delay", _broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        Space.objects.filter(pk=space.pk).update(state=SpaceState.CANCELED)
        services.space_canceled_refund_all(space_id=space.pk)
    assert _statuses() == {TicketStatus.PAID}
    monkeypatch.undo()

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.refunds_process_due.apply().get() == []  # refunded at once, none stuck
    assert _statuses() == {TicketStatus.REFUNDED}
    refunds = stripe_proxy.posts("/v1/refunds")
    assert sorted(r.form["payment_intent"][0] for r in refunds) == sorted(t.payment_intent_id for t in paid)
    assert TicketOffer.objects.get(space=space).seats_taken == 0

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.refunds_process_due.apply().get() == []
    assert len(stripe_proxy.posts("/v1/refunds")) == 2  # nothing twice


@pytest.mark.django_db
def test_a_refund_pending_ticket_whose_task_was_lost_is_sent_again_once_it_is_stuck(
    stripe_proxy: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    ticket = make_paid_ticket(space=make_ticketed_space())
    monkeypatch.setattr(tasks.ticket_refund, "delay", _broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.ticket_refund_request(ticket_id=ticket.pk) is True
    assert _statuses() == {TicketStatus.REFUND_PENDING} and not stripe_proxy.calls
    monkeypatch.undo()

    # A refund that may still be on its way (its task retrying) is left alone ...
    assert tasks.refunds_process_due.apply().get() == []
    assert not stripe_proxy.calls
    # ... until it is older than TICKETS_REFUND_STUCK_S.
    stuck_since = timezone.now() - timedelta(seconds=settings.TICKETS_REFUND_STUCK_S + 1)
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=stuck_since)
    assert tasks.refunds_process_due.apply().get() == [ticket.pk]
    assert _statuses() == {TicketStatus.REFUNDED}
    refunds = stripe_proxy.posts("/v1/refunds")
    assert len(refunds) == 1 and refunds[0].idempotency_key == f"spaces-ticket-{ticket.pk}-refund"
    assert tasks.refunds_process_due.apply().get() == []
