"""Reactions and messages to the host team: who may send, what is published, limits."""

from __future__ import annotations

import pytest
from rest_framework.throttling import ScopedRateThrottle

from accounts import services as account_services
from moderation.models import HostBan, SpaceBan
from rooms import services
from rooms.discovery.services import room_extras as discovery
from rooms.models import HostMessage, Role
from tests.discovery.conftest import of_type
from tests.factories import UserFactory
from tests.support.builders import put_on, scheduled_space
from tests.support.builders import started_space as live_space

pytestmark = pytest.mark.django_db


@pytest.fixture
def space():
    return live_space(title="Room")


@pytest.fixture
def listener(space):
    user = UserFactory(display_name="Lin")
    put_on(space, user, Role.LISTENER)
    return user


# --- reactions --------------------------------------------------------------------------------------


def test_a_listener_reacts_and_the_room_is_told(space, listener, make_client, published, call):
    response = call(make_client(listener).post, f"/api/v1/spaces/{space.pk}/reactions", {"emoji": "🔥"})

    assert response.status_code == 202
    assert response.json() == {"emoji": "🔥", "broadcast": True}
    [event] = of_type(published, "reaction")
    assert event.audience == "room"
    assert event.space == space.pk
    assert event.seq == space.seq  # the current number: reactions change no state, they take none
    assert event.data == {"emoji": "🔥", "user_id": listener.pk}


def test_the_host_can_react_too(space, make_client, published, call):
    put_on(space, space.host, Role.HOST)

    response = call(make_client(space.host).post, f"/api/v1/spaces/{space.pk}/reactions", {"emoji": "👏"})

    assert response.status_code == 202
    assert len(of_type(published, "reaction")) == 1


@pytest.mark.parametrize("body", [{"emoji": "🍆"}, {"emoji": ""}, {}, {"emoji": ["🔥"]}])
def test_a_reaction_outside_the_fixed_set_is_refused(space, listener, make_client, published, body, call):
    response = call(make_client(listener).post, f"/api/v1/spaces/{space.pk}/reactions", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert "emoji" in response.json()["extra"]["fields"]
    assert of_type(published, "reaction") == []


def test_someone_not_in_the_space_cannot_react(space, make_client, published, call):
    response = call(make_client(UserFactory()).post, f"/api/v1/spaces/{space.pk}/reactions", {"emoji": "🔥"})

    assert response.status_code == 409
    assert response.json()["code"] == "not_in_space"
    assert of_type(published, "reaction") == []


def test_someone_who_left_cannot_react(space, listener, make_client, published, call):
    services.space_leave(space_id=space.pk, user=listener)

    response = call(make_client(listener).post, f"/api/v1/spaces/{space.pk}/reactions", {"emoji": "🔥"})

    assert response.status_code == 409
    assert of_type(published, "reaction") == []


def test_nobody_reacts_in_a_space_that_is_not_live(make_client, published, call):
    space = scheduled_space()

    response = call(make_client(space.host).post, f"/api/v1/spaces/{space.pk}/reactions", {"emoji": "🔥"})

    assert response.status_code == 409
    assert response.json()["code"] == "space_not_live"
    assert of_type(published, "reaction") == []


def test_reacting_in_a_missing_space_is_not_found(listener, make_client, call):
    response = call(make_client(listener).post, "/api/v1/spaces/999999/reactions", {"emoji": "🔥"})

    assert response.status_code == 404


def test_a_banned_user_cannot_react(space, listener, make_client, published, call):
    SpaceBan.objects.create(space=space, user=listener)

    response = call(make_client(listener).post, f"/api/v1/spaces/{space.pk}/reactions", {"emoji": "🔥"})

    assert response.status_code == 403
    assert response.json()["code"] == "banned"
    assert of_type(published, "reaction") == []


def test_a_user_blocked_by_the_host_cannot_react(space, listener, make_client, published, call):
    account_services.block_create(blocker=space.host, blocked=listener)

    response = call(make_client(listener).post, f"/api/v1/spaces/{space.pk}/reactions", {"emoji": "🔥"})

    assert response.status_code == 403
    assert response.json()["code"] == "blocked"
    assert of_type(published, "reaction") == []


def test_reactions_are_rate_limited_per_user(space, listener, make_client, published, monkeypatch, call):
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "reaction", "3/min")
    client = make_client(listener)
    other = UserFactory()
    put_on(space, other)

    codes = [call(client.post, f"/api/v1/spaces/{space.pk}/reactions", {"emoji": "🔥"}).status_code for _ in range(4)]
    others = call(make_client(other).post, f"/api/v1/spaces/{space.pk}/reactions", {"emoji": "🔥"})

    assert codes == [202, 202, 202, 429]
    assert others.status_code == 202
    assert len(of_type(published, "reaction")) == 4


def test_the_throttled_answer_has_the_error_shape(space, listener, make_client, monkeypatch, call):
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "reaction", "1/min")
    client = make_client(listener)
    call(client.post, f"/api/v1/spaces/{space.pk}/reactions", {"emoji": "🔥"})

    response = call(client.post, f"/api/v1/spaces/{space.pk}/reactions", {"emoji": "🔥"})

    assert response.json()["code"] == "throttled"
    assert response.json()["extra"]["retry_after"] >= 1


def test_a_space_broadcasts_at_most_its_budget_of_reactions_a_second(
    space, make_client, published, settings, call, monkeypatch
):
    settings.SPACES_REACTIONS_PER_SPACE_S = 3
    clock = [1_900_000_000.2]
    monkeypatch.setattr(discovery.time, "time", lambda: clock[0])
    users = [UserFactory() for _ in range(6)]
    for u in users:
        put_on(space, u)
    url = f"/api/v1/spaces/{space.pk}/reactions"

    first_second = [call(make_client(u).post, url, {"emoji": "👏"}).json()["broadcast"] for u in users[:5]]
    clock[0] += 1
    next_second = call(make_client(users[5]).post, url, {"emoji": "👏"}).json()["broadcast"]

    assert first_second == [True, True, True, False, False]
    assert next_second is True
    assert len(of_type(published, "reaction")) == 4


# --- messages to the host team ----------------------------------------------------------------------


def test_a_listener_messages_the_host_team(space, listener, make_client, published, call):
    response = call(make_client(listener).post, f"/api/v1/spaces/{space.pk}/messages", {"text": "  Great show!  "})

    assert response.status_code == 201
    body = response.json()
    assert body["text"] == "Great show!"
    assert body["sender"]["username"] == listener.username
    msg = HostMessage.objects.get()
    assert (msg.space_id, msg.sender_id, msg.text) == (space.pk, listener.pk, "Great show!")
    [event] = of_type(published, "message.received")
    assert event.audience == "hosts"
    assert event.space == space.pk
    assert event.data["username"] == listener.username
    assert event.data["display_name"] == "Lin"
    assert event.data["text"] == "Great show!"
    assert event.data["id"] == msg.pk


def test_a_speaker_can_message_the_hosts(space, make_client, call):
    speaker = UserFactory()
    put_on(space, speaker, Role.SPEAKER)

    assert call(make_client(speaker).post, f"/api/v1/spaces/{space.pk}/messages", {"text": "hi"}).status_code == 201


@pytest.mark.parametrize("text", ["", "   ", "x" * 281])
def test_an_empty_or_long_message_is_refused(space, listener, make_client, published, text, call):
    response = call(make_client(listener).post, f"/api/v1/spaces/{space.pk}/messages", {"text": text})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert "text" in response.json()["extra"]["fields"]
    assert not HostMessage.objects.exists()
    assert of_type(published, "message.received") == []


def test_a_message_without_text_is_refused(space, listener, make_client, call):
    response = call(make_client(listener).post, f"/api/v1/spaces/{space.pk}/messages", {}, format="json")

    assert response.status_code == 400
    assert not HostMessage.objects.exists()


def test_someone_not_in_the_space_cannot_message(space, make_client, published, call):
    response = call(make_client(UserFactory()).post, f"/api/v1/spaces/{space.pk}/messages", {"text": "hi"})

    assert response.status_code == 409
    assert response.json()["code"] == "not_in_space"
    assert not HostMessage.objects.exists()
    assert of_type(published, "message.received") == []


def test_nobody_messages_a_space_that_is_not_live(space, listener, make_client, call):
    services.space_end(space_id=space.pk, actor=space.host)

    response = call(make_client(listener).post, f"/api/v1/spaces/{space.pk}/messages", {"text": "hi"})

    assert response.status_code == 409
    assert response.json()["code"] == "space_not_live"
    assert not HostMessage.objects.exists()


def test_a_user_blocked_by_the_host_cannot_message(space, listener, make_client, published, call):
    account_services.block_create(blocker=space.host, blocked=listener)

    response = call(make_client(listener).post, f"/api/v1/spaces/{space.pk}/messages", {"text": "hi"})

    assert response.status_code == 403
    assert response.json()["code"] == "blocked"
    assert not HostMessage.objects.exists()
    assert of_type(published, "message.received") == []


@pytest.mark.parametrize("ban", ["space", "host"])
def test_a_banned_user_cannot_message(space, listener, make_client, published, ban, call):
    if ban == "space":
        SpaceBan.objects.create(space=space, user=listener)
    else:
        HostBan.objects.create(host=space.host, user=listener)

    response = call(make_client(listener).post, f"/api/v1/spaces/{space.pk}/messages", {"text": "hi"})

    assert response.status_code == 403
    assert response.json() == {"code": "banned", "detail": response.json()["detail"], "extra": {"scope": ban}}
    assert not HostMessage.objects.exists()


def test_messages_are_rate_limited(space, listener, make_client, monkeypatch, call):
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "message", "2/min")
    client = make_client(listener)

    codes = [call(client.post, f"/api/v1/spaces/{space.pk}/messages", {"text": f"m{i}"}).status_code for i in range(3)]

    assert codes == [201, 201, 429]
    assert HostMessage.objects.count() == 2


def test_the_host_team_reads_the_inbox_newest_first_page_by_page(space, listener, make_client, call):
    cohost = UserFactory()
    put_on(space, cohost, Role.COHOST)
    client = make_client(listener)
    for i in range(3):
        call(client.post, f"/api/v1/spaces/{space.pk}/messages", {"text": f"m{i}"})

    first = call(make_client(space.host).get, f"/api/v1/spaces/{space.pk}/messages?page_size=2")
    second = call(make_client(cohost).get, first.json()["next"])

    assert first.status_code == 200
    assert [m["text"] for m in first.json()["results"]] == ["m2", "m1"]
    assert [m["text"] for m in second.json()["results"]] == ["m0"]
    assert first.json()["results"][0]["sender"]["username"] == listener.username


def test_the_inbox_stays_readable_after_the_space_ends(space, listener, make_client, call):
    call(make_client(listener).post, f"/api/v1/spaces/{space.pk}/messages", {"text": "bye"})
    services.space_end(space_id=space.pk, actor=space.host)

    response = call(make_client(space.host).get, f"/api/v1/spaces/{space.pk}/messages")

    assert [m["text"] for m in response.json()["results"]] == ["bye"]


@pytest.mark.parametrize("role", [Role.LISTENER, Role.SPEAKER])
def test_listeners_and_speakers_cannot_read_the_inbox(space, make_client, role, call):
    user = UserFactory()
    put_on(space, user, role)

    response = call(make_client(user).get, f"/api/v1/spaces/{space.pk}/messages")

    assert response.status_code == 403
    assert response.json()["code"] == "not_host_team"


def test_reading_the_inbox_of_a_missing_space_is_not_found(make_client, listener, call):
    assert call(make_client(listener).get, "/api/v1/spaces/999999/messages").status_code == 404
