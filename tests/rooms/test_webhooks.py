"""POST /webhooks/livekit over HTTP: a verified event updates presence; anything else is 401 and changes nothing."""

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from livekit import api as lk

from rooms.models import Participant, Space
from tests.support.builders import participant

pytestmark = pytest.mark.django_db


def signed(body: str, key: str, secret: str) -> str:
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    # As livekit-server signs webhooks: valid for five minutes from now (the SDK's default is six hours).
    return lk.AccessToken(key, secret).with_sha256(digest).with_ttl(timedelta(minutes=5)).to_jwt()


def left_event(space, user) -> str:
    return json.dumps(
        {
            "event": "participant_left",
            "id": "EV_1",
            "createdAt": "1764000000",
            "room": {"name": space.livekit_room},
            "participant": {"identity": f"u{user.pk}"},
        }
    )


def post(client, body, auth=None):
    headers = {"HTTP_AUTHORIZATION": auth} if auth is not None else {}
    return client.post("/webhooks/livekit", data=body, content_type="application/webhook+json", **headers)


def test_verified_event_updates_presence(client, settings, live_space, joined):
    user = joined()
    body = left_event(live_space, user)
    r = post(client, body, signed(body, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET))
    assert (r.status_code, r.json()["result"]) == (200, "disconnected")
    assert not participant(live_space, user).is_connected
    assert Space.objects.get(pk=live_space.pk).listener_count == 0


@pytest.mark.parametrize("case", ["wrong_secret", "tampered", "missing", "garbage", "not_json"])
def test_bad_signature_is_401_and_changes_nothing(client, settings, live_space, joined, case):
    user = joined()
    body = left_event(live_space, user)
    auth = signed(body, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET)
    if case == "wrong_secret":
        auth = signed(body, settings.LIVEKIT_API_KEY, "another-secret-of-the-right-length-0123456789")
    elif case == "tampered":
        body = body.replace("participant_left", "participant_joined")
    elif case == "missing":
        auth = None
    elif case == "garbage":
        auth = "Bearer nonsense"
    else:
        body = "{not json"
        auth = signed(body, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET)
    r = post(client, body, auth)
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_signature"
    assert participant(live_space, user).is_connected
    assert Space.objects.get(pk=live_space.pk).listener_count == 1


def test_get_is_not_allowed(client):
    assert client.get("/webhooks/livekit").status_code == 405


def test_unknown_room_is_acknowledged(client, settings, live_space, joined):
    body = json.dumps({"event": "participant_joined", "id": "EV_2", "room": {"name": "other-app-room"}})
    r = post(client, body, signed(body, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET))
    assert (r.status_code, r.json()["result"]) == (200, "ignored_room")
    assert Participant.objects.filter(space=live_space).count() == 1
