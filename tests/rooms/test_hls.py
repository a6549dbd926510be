"""HLS overflow at the API: which transport ``join`` answers, the signed link, the switch to WebRTC when
approved to speak and back, presence kept when LiveKit says an HLS listener left, and the agent's lease
criterion. The origin (nginx) and the agent are exercised end to end in test_hls_e2e.py."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import jwt
import pytest
from django.utils import timezone

from rooms import livekit_client
from rooms.models import Participant, Space, SpaceState
from rooms.services import hls, presence, recordings
from tests.factories import HostFactory, UserFactory
from tests.support.builders import make_ticketed_space

pytestmark = pytest.mark.django_db

SECRET = "test-hls-secret"


@pytest.fixture(autouse=True)
def _origin(settings: Any) -> None:
    settings.SPACES_HLS_SECRET = SECRET
    settings.SPACES_HLS_URL = "https://hls.example.test"
    settings.SPACES_HLS_LINK_TTL_S = 90
    settings.SPACES_HLS_THRESHOLD = 2500


@pytest.fixture
def space() -> Space:
    from rooms import services

    return services.space_create(host=HostFactory(), title="Big show")


def _join(make_client: Any, space: Space, user: Any, body: dict[str, Any] | None = None) -> Any:
    return make_client(user).post(f"/api/v1/spaces/{space.pk}/join", body or {}, format="json")


def test_a_listener_asking_for_hls_gets_a_signed_link_and_no_livekit_credentials(make_client, space):
    user = UserFactory()
    before = int(time.time())
    response = _join(make_client, space, user, {"transport": "hls"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["transport"] == "hls" and body["role"] == "listener" and body["expires_in"] == 90
    assert not {"token", "livekit_url", "room", "identity"} & body.keys()
    assert body["ws_url"].endswith(f"/ws/spaces/{space.pk}/?transport=hls")
    prefix, rest = body["hls_url"].split("/hls/")
    sig, expires, who, space_id, name = rest.split("/")
    assert prefix == "https://hls.example.test" and name == "index.m3u8"
    assert who == f"u{user.pk}" and int(space_id) == space.pk and before + 90 <= int(expires) <= before + 92
    # nginx's secure_link_md5 "$expires/$listener/$space <secret>", base64url without padding
    digest = hashlib.md5(f"{expires}/{who}/{space_id} {SECRET}".encode()).digest()
    assert sig == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    participant = Participant.objects.get(space=space, user=user)
    assert participant.transport == "hls" and participant.is_connected
    space.refresh_from_db()
    assert space.listener_count == 1 and space.hls_active


def test_webrtc_stays_the_default_with_the_transport_field(make_client, space):
    response = _join(make_client, space, UserFactory())
    assert response.status_code == 200
    body = response.json()
    assert body["transport"] == "webrtc" and body["token"] and "hls_url" not in body
    assert not Space.objects.get(pk=space.pk).hls_active


def test_the_host_always_gets_webrtc(make_client, space):
    body = _join(make_client, space, space.host, {"transport": "hls"}).json()
    assert body["transport"] == "webrtc" and body["token"] and body["role"] == "host"


def test_past_the_threshold_new_listeners_get_hls(make_client, space, settings):
    Space.objects.filter(pk=space.pk).update(hls_threshold=2)
    first, second, third = (_join(make_client, space, UserFactory()).json() for _ in range(3))
    assert [b["transport"] for b in (first, second, third)] == ["webrtc", "webrtc", "hls"]
    # a webrtc ask does not bypass it; the setting is the default when the Space has no threshold
    assert _join(make_client, space, UserFactory(), {"transport": "webrtc"}).json()["transport"] == "hls"
    Space.objects.filter(pk=space.pk).update(hls_threshold=None)
    settings.SPACES_HLS_THRESHOLD = 100
    assert _join(make_client, space, UserFactory()).json()["transport"] == "webrtc"
    settings.SPACES_HLS_THRESHOLD = 5
    assert _join(make_client, space, UserFactory()).json()["transport"] == "hls"


def test_the_operator_may_force_hls(make_client, space):
    Space.objects.filter(pk=space.pk).update(hls_forced=True)
    assert _join(make_client, space, UserFactory()).json()["transport"] == "hls"
    assert _join(make_client, space, space.host).json()["transport"] == "webrtc"


def test_without_an_hls_origin_everyone_gets_webrtc(make_client, space, settings):
    settings.SPACES_HLS_SECRET = ""
    Space.objects.filter(pk=space.pk).update(hls_forced=True)
    assert _join(make_client, space, UserFactory(), {"transport": "hls"}).json()["transport"] == "webrtc"


def test_a_bad_transport_is_400_and_changes_nothing(make_client, space):
    user = UserFactory()
    response = _join(make_client, space, user, {"transport": "carrier-pigeon"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_input"
    assert not Participant.objects.filter(space=space, user=user).exists()


def test_a_ticketless_user_gets_no_link(make_client, settings):
    ticketed = make_ticketed_space()
    Space.objects.filter(pk=ticketed.pk).update(state=SpaceState.LIVE, started_at=timezone.now(), hls_forced=True)
    user = UserFactory()
    response = _join(make_client, ticketed, user, {"transport": "hls"})
    assert response.status_code == 402 and response.json()["code"] == "ticket_required"
    assert "hls_url" not in response.json()
    assert not Participant.objects.filter(space=ticketed, user=user).exists()


def _can_publish(token: str) -> bool:
    claims = jwt.decode(token, options={"verify_signature": False})
    return bool(claims["video"].get("canPublish"))


def test_approved_to_speak_an_hls_listener_gets_webrtc_and_back(make_client, space):
    user = UserFactory()
    api, host_api = make_client(user), make_client(space.host)
    assert _join(make_client, space, user, {"transport": "hls"}).json()["transport"] == "hls"
    assert api.post(f"/api/v1/spaces/{space.pk}/hand").status_code == 201
    assert host_api.post(f"/api/v1/spaces/{space.pk}/hands/{user.username}/approve").status_code == 200
    # the client joins again on request.approved: WebRTC with a publishing token, even when asking for HLS
    body = _join(make_client, space, user, {"transport": "hls"}).json()
    assert body["transport"] == "webrtc" and body["role"] == "speaker" and _can_publish(body["token"])
    assert Participant.objects.get(space=space, user=user).transport == "webrtc"
    assert api.post(f"/api/v1/spaces/{space.pk}/leave-stage").status_code in (200, 204)
    back = _join(make_client, space, user, {"transport": "hls"}).json()
    assert back["transport"] == "hls" and back["role"] == "listener"
    # LiveKit then reports the WebRTC connection gone: they are still in the Space, over HLS
    event = livekit_client.WebhookEvent(
        id="EV_1", event="participant_left", room=space.livekit_room, identity=livekit_client.identity_for(user.pk),
        track_sid="", track_source="", created_at=int(time.time()),
    )  # fmt: skip
    presence.livekit_event_apply(event=event)
    assert Participant.objects.get(space=space, user=user).is_connected


def test_the_socket_is_an_hls_listeners_presence(make_client, space):
    user = UserFactory()
    _join(make_client, space, user, {"transport": "hls"})
    assert presence.hls_socket_presence(space_id=space.pk, user_id=user.pk, connected=False)
    assert not Participant.objects.get(space=space, user=user).is_connected
    assert Space.objects.get(pk=space.pk).listener_count == 0
    assert presence.hls_socket_presence(space_id=space.pk, user_id=user.pk, connected=True)
    assert Space.objects.get(pk=space.pk).listener_count == 1
    # a WebRTC listener's presence is LiveKit's: the socket does not touch it
    other = UserFactory()
    _join(make_client, space, other)
    assert not presence.hls_socket_presence(space_id=space.pk, user_id=other.pk, connected=False)
    assert Participant.objects.get(space=space, user=other).is_connected


def test_a_space_in_hls_mode_needs_an_agent_without_recording(make_client, space):
    assert space.pk not in recordings.spaces_needing_agent(limit=100)
    _join(make_client, space, UserFactory(), {"transport": "hls"})
    assert space.pk in recordings.spaces_needing_agent(limit=100)
    plan = recordings.agent_plan(space_id=space.pk)
    assert plan.needed and plan.hls and not plan.record and plan.recording_id is None
    Space.objects.filter(pk=space.pk).update(state=SpaceState.ENDED)
    assert space.pk not in recordings.spaces_needing_agent(limit=100)
    assert not recordings.agent_plan(space_id=space.pk).needed


def test_signed_url_shape() -> None:
    url = hls.signed_url(space_id=7, listener="u3", ttl_s=10, now=1000)
    assert url.startswith("https://hls.example.test/hls/") and url.endswith("/1010/u3/7/index.m3u8")


def test_staff_can_force_hls_and_set_the_threshold_in_the_admin(client, space):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(f"/admin/rooms/space/{space.pk}/change/").content.decode()
    assert 'name="hls_forced"' in page and 'name="hls_threshold"' in page
    assert client.get("/admin/rooms/space/?hls_forced__exact=1").status_code == 200


def test_pages_may_fetch_and_play_from_the_hls_origin(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    assert "https://hls.example.test" in directives["connect-src"]
    assert "https://hls.example.test" in directives["media-src"]
