"""Listening without an account: the host allows it per Space; a guest gets a hidden listener token and a
read-only event pass, is limited per address, counted as a listener by the LiveKit webhooks, and can
never act (docs/security.md, "Guest listeners")."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from django.core import signing

from rooms import services
from rooms.models import GuestListener, Space, SpaceState
from rooms.services.guests import guest_pass_check
from tests.factories import HostFactory
from tests.moderation.test_abuse_limits import rates
from tests.rooms.test_webhooks import post, signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_space(host: Any) -> Space:
    return services.space_create(host=host, title="Open mic", guests_allowed=True)


def guest_join(client: Any, space_id: int, address: str = "198.51.100.7") -> Any:
    return client.post(f"/api/v1/spaces/{space_id}/guest-join", REMOTE_ADDR=address)


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def test_host_sets_guests_allowed_on_create_and_edit(make_client: Any, host: Any) -> None:
    client = make_client(host)
    r = client.post("/api/v1/spaces", {"title": "Talk", "guests_allowed": True})
    assert r.status_code == 201 and r.json()["guests_allowed"] is True
    space_id = r.json()["id"]
    r = client.patch(f"/api/v1/spaces/{space_id}", {"guests_allowed": False})
    assert r.status_code == 200 and r.json()["guests_allowed"] is False
    assert client.get(f"/api/v1/spaces/{space_id}").json()["guests_allowed"] is False
    assert Space.objects.get(pk=space_id).guests_allowed is False
    assert client.patch(f"/api/v1/spaces/{space_id}", {"guests_allowed": "perhaps"}).json()["code"] == "invalid_input"


def test_default_is_no_guests(make_client: Any, host: Any) -> None:
    r = make_client(host).post("/api/v1/spaces", {"title": "Members only"})
    assert r.json()["guests_allowed"] is False


def test_guest_gets_a_hidden_subscribe_only_token_and_a_pass(api_client: Any, open_space: Space, settings: Any) -> None:
    r = guest_join(api_client, open_space.pk)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["identity"].startswith("guest-") and body["room"] == open_space.livekit_room
    assert body["expires_in"] == settings.SPACES_GUEST_TTL_S
    token = claims(body["token"])
    assert token["sub"] == body["identity"]
    assert token["exp"] - token["nbf"] <= settings.SPACES_GUEST_TTL_S + 1
    video = token["video"]
    assert video["roomJoin"] is True and video["room"] == open_space.livekit_room
    assert video["canSubscribe"] is True and video["hidden"] is True
    assert video.get("canPublish", False) is False and video.get("canPublishData", False) is False
    assert guest_pass_check(ticket=body["ws_ticket"], space_id=open_space.pk) == body["identity"]
    # Two guests are two identities.
    assert guest_join(api_client, open_space.pk).json()["identity"] != body["identity"]


def test_guest_pass_is_for_one_space_and_short_lived(api_client: Any, open_space: Space, settings: Any) -> None:
    ticket = guest_join(api_client, open_space.pk).json()["ws_ticket"]
    with pytest.raises(Exception) as other:
        guest_pass_check(ticket=ticket, space_id=open_space.pk + 1)
    assert getattr(other.value, "code", None) == "not_authenticated"
    settings.SPACES_GUEST_TTL_S = -1  # every pass is now past its age
    with pytest.raises(Exception) as old:
        guest_pass_check(ticket=ticket, space_id=open_space.pk)
    assert getattr(old.value, "code", None) == "not_authenticated"
    forged = signing.dumps({"space": open_space.pk, "guest": "guest-x"}, salt="another")
    settings.SPACES_GUEST_TTL_S = 300
    with pytest.raises(Exception) as bad:
        guest_pass_check(ticket=forged, space_id=open_space.pk)
    assert getattr(bad.value, "code", None) == "not_authenticated"


def test_refused_when_the_host_does_not_allow_it(api_client: Any, live_space: Space) -> None:
    r = guest_join(api_client, live_space.pk)
    assert (r.status_code, r.json()["code"]) == (403, "guests_not_allowed")


def test_refused_when_not_live(api_client: Any, make_client: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    host = HostFactory()
    scheduled = services.space_create(
        host=host, title="Later", guests_allowed=True, scheduled_start=timezone.now() + timedelta(days=1)
    )
    r = guest_join(api_client, scheduled.pk)
    assert (r.status_code, r.json()["code"]) == (409, "space_not_live")
    live = services.space_create(host=HostFactory(), title="Now", guests_allowed=True)
    services.space_end(space_id=live.pk, actor=live.host, reason="")
    assert guest_join(api_client, live.pk).json()["code"] == "space_not_live"
    assert guest_join(api_client, 999_999).json()["code"] == "space_not_found"


def test_refused_when_ticketed(api_client: Any, open_space: Space) -> None:
    from tickets.models import TicketOffer

    TicketOffer.objects.create(space=open_space, price_cents=500, capacity=10)
    r = guest_join(api_client, open_space.pk)
    assert (r.status_code, r.json()["code"]) == (402, "ticket_required")


def test_refused_when_the_host_is_suspended(api_client: Any, open_space: Space) -> None:
    type(open_space.host).objects.filter(pk=open_space.host_id).update(is_suspended=True)
    r = guest_join(api_client, open_space.pk)
    assert (r.status_code, r.json()["code"]) == (403, "account_suspended")


def test_throttled_per_address(api_client: Any, open_space: Space) -> None:
    with rates(guest_join="3/min"):
        for _ in range(3):
            assert guest_join(api_client, open_space.pk, "203.0.113.5").status_code == 200
        r = guest_join(api_client, open_space.pk, "203.0.113.5")
        assert (r.status_code, r.json()["code"]) == (429, "throttled")
        # Another address has its own budget.
        assert guest_join(api_client, open_space.pk, "203.0.113.6").status_code == 200


ACTIONS = [
    ("post", "/api/v1/spaces/{id}/join", None),
    ("post", "/api/v1/spaces/{id}/hand", None),
    ("post", "/api/v1/spaces/{id}/reactions", {"emoji": "👏"}),
    ("post", "/api/v1/spaces/{id}/messages", {"text": "hi"}),
    ("post", "/api/v1/spaces/{id}/audio-reports", {"kind": "cant_hear"}),
    ("post", "/api/v1/reports", {"username": "x", "category": "spam"}),
    ("get", "/api/v1/spaces/{id}/participants", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ACTIONS)
def test_a_guest_cannot_act(api_client: Any, open_space: Space, method: str, path: str, body: Any) -> None:
    """A guest's credentials are a LiveKit token and a socket pass: neither opens any endpoint."""
    creds = guest_join(api_client, open_space.pk).json()
    for auth in (
        {},
        {"HTTP_AUTHORIZATION": f"Token {creds['ws_ticket']}"},
        {"HTTP_AUTHORIZATION": f"Bearer {creds['token']}"},
    ):
        r = getattr(api_client, method)(path.format(id=open_space.pk), body, format="json", **auth)
        assert r.status_code == 401, (path, auth, r.content)
    assert open_space.participants.count() == 1  # the host only
    assert not open_space.hand_raises.exists()


def _event(space: Space, kind: str, identity: str, event_id: str) -> str:
    return json.dumps(
        {
            "event": kind,
            "id": event_id,
            "createdAt": "1764000000",
            "room": {"name": space.livekit_room},
            "participant": {"identity": identity},
        }
    )


def _deliver(client: Any, settings: Any, body: str) -> str:
    r = post(client, body, signed(body, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET))
    assert r.status_code == 200
    return str(r.json()["result"])


def test_a_guest_in_the_room_counts_as_a_listener_once(client: Any, settings: Any, open_space: Space) -> None:
    joined = _event(open_space, "participant_joined", "guest-abc", "EV_1")
    assert _deliver(client, settings, joined) == "guest_connected"
    assert _deliver(client, settings, joined) == "guest_connected"  # a repeated webhook
    assert Space.objects.get(pk=open_space.pk).listener_count == 1
    _deliver(client, settings, _event(open_space, "participant_joined", "guest-def", "EV_2"))
    assert Space.objects.get(pk=open_space.pk).listener_count == 2
    left = _event(open_space, "participant_left", "guest-abc", "EV_3")
    assert _deliver(client, settings, left) == "guest_disconnected"
    assert _deliver(client, settings, left) == "guest_disconnected"
    assert Space.objects.get(pk=open_space.pk).listener_count == 1
    assert list(GuestListener.objects.values_list("identity", flat=True)) == ["guest-def"]
    finished = json.dumps({"event": "room_finished", "id": "EV_4", "room": {"name": open_space.livekit_room}})
    _deliver(client, settings, finished)
    assert Space.objects.get(pk=open_space.pk).listener_count == 0
    assert not GuestListener.objects.exists()


def test_a_guest_joining_an_ended_space_is_not_counted(client: Any, settings: Any, open_space: Space) -> None:
    Space.objects.filter(pk=open_space.pk).update(state=SpaceState.ENDED)
    assert _deliver(client, settings, _event(open_space, "participant_joined", "guest-z", "EV_9")) == "ignored_guest"
    assert Space.objects.get(pk=open_space.pk).listener_count == 0
