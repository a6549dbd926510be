"""The ticket rules inside the rooms flows: join refuses without a ticket (402), cancel refunds, reschedule tells holders."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
import redis
from django.utils import timezone

from rooms import services as rooms_services
from rooms.models import Invitation, InvitationState, Participant, Role, Space, SpaceState
from rooms.snapshot import close_code_for, space_for_socket
from spaces_project.common.exceptions import ApplicationError
from spaces_project.realtime.wire import CLOSE_TICKET_REQUIRED, decode_message, user_channel
from tests.factories import UserFactory
from tests.support.builders import make_paid_ticket, make_ticketed_space
from tickets.models import Ticket, TicketStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_ticketed(settings):
    settings.LIVEKIT_ROOM_PREFIX = f"tk{uuid.uuid4().hex[:8]}-"
    space = make_ticketed_space()
    Space.objects.filter(pk=space.pk).update(state=SpaceState.LIVE, started_at=timezone.now())
    space.refresh_from_db()
    return space


def test_join_without_a_ticket_is_402_ticket_required(make_client, live_ticketed):
    user = UserFactory()
    response = make_client(user).post(f"/api/v1/spaces/{live_ticketed.pk}/join")
    assert response.status_code == 402 and response.json()["code"] == "ticket_required"
    assert not Participant.objects.filter(space=live_ticketed, user=user).exists()


def test_the_websocket_refuses_without_a_ticket_with_4402(live_ticketed):
    with pytest.raises(ApplicationError) as info:
        space_for_socket(space_id=live_ticketed.pk, user=UserFactory())
    assert info.value.code == "ticket_required"
    assert close_code_for(info.value.code) == CLOSE_TICKET_REQUIRED == 4402


def test_join_with_a_paid_ticket_gets_credentials(make_client, live_ticketed, livekit_url):
    ticket = make_paid_ticket(space=live_ticketed)
    response = make_client(ticket.buyer).post(f"/api/v1/spaces/{live_ticketed.pk}/join")
    assert response.status_code == 200 and response.json()["token"]


def test_an_invited_speaker_joins_without_a_ticket(make_client, live_ticketed, livekit_url):
    speaker = UserFactory()
    Invitation.objects.create(
        space=live_ticketed,
        inviter=live_ticketed.host,
        invitee=speaker,
        role=Role.SPEAKER,
        state=InvitationState.PENDING,
    )
    assert make_client(speaker).post(f"/api/v1/spaces/{live_ticketed.pk}/join").status_code == 200


def test_canceling_a_ticketed_space_refunds_its_tickets(stripe_proxy, django_capture_on_commit_callbacks):
    space = make_ticketed_space()
    tickets = [make_paid_ticket(space=space) for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        rooms_services.space_cancel(space_id=space.pk, actor=space.host)
    assert set(Ticket.objects.values_list("status", flat=True)) == {TicketStatus.REFUNDED}
    assert len(stripe_proxy.posts("/v1/refunds")) == len(tickets)


def test_rescheduling_keeps_tickets_and_tells_holders(redis_url, django_capture_on_commit_callbacks):
    space = make_ticketed_space()
    ticket = make_paid_ticket(space=space)
    client = redis.Redis.from_url(redis_url)
    subscription = client.pubsub()
    subscription.subscribe(user_channel(ticket.buyer_id))
    subscription.get_message(timeout=2)  # the subscribe confirmation
    try:
        with django_capture_on_commit_callbacks(execute=True):
            rooms_services.space_update(
                space_id=space.pk, actor=space.host, scheduled_start=timezone.now() + timedelta(days=3)
            )
        message = subscription.get_message(timeout=5)
    finally:
        subscription.close()
        client.close()
    assert message is not None
    _, frame = decode_message(message["data"])
    assert json.loads(frame)["data"]["kind"] == "space.rescheduled"
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.PAID
