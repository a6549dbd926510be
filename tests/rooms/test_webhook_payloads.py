"""POST /webhooks/livekit, validly signed, naming rooms and identities that are not ours: never a 500.

And the signing token itself is bounded in time: LiveKit signs each webhook with a token valid for five
minutes from now (``nbf``..``exp``); a token valid for longer, or without ``nbf``, or not yet valid is
refused (401), so a captured webhook cannot be replayed for a month.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.test import Client
from livekit import api as lk

from rooms.models import Participant, Space, SpaceState
from tests.support.builders import participant

pytestmark = pytest.mark.django_db

NON_ASCII_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _digest(body: str) -> str:
    return base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()


def signed(body: str, settings: Any, *, ttl: timedelta | None = None) -> str:
    token = lk.AccessToken(settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET).with_sha256(_digest(body))
    return token.with_ttl(ttl or timedelta(minutes=5)).to_jwt()  # livekit-server signs for five minutes


def hand_signed(body: str, settings: Any, **claims: Any) -> str:
    """A token with exactly these time claims (None leaves one out), signed with the real secret."""
    payload = {"iss": settings.LIVEKIT_API_KEY, "sha256": _digest(body), "sub": "", "video": {}}
    payload.update({name: value for name, value in claims.items() if value is not None})
    return jwt.encode(payload, settings.LIVEKIT_API_SECRET, algorithm="HS256")


def post(body: str, auth: str) -> Any:
    client = Client(raise_request_exception=False)
    return client.post("/webhooks/livekit", data=body, content_type="application/webhook+json", HTTP_AUTHORIZATION=auth)


def event(kind: str, room: str, identity: str = "") -> str:
    body: dict[str, Any] = {"event": kind, "id": "EV_x", "createdAt": "1764000000", "room": {"name": room}}
    if identity:
        body["participant"] = {"identity": identity}
    return json.dumps(body)


# --- names that are not ours ------------------------------------------------------------------------


def _odd_ids(real: int) -> list[str]:
    text = str(real)
    return [
        text.translate(NON_ASCII_DIGITS),
        text.translate(SUPERSCRIPTS),
        "0" + text,
        "+" + text,
        " " + text,
        text + "\u0000",
        "9" * 30,
        "9" * 5000,
        "-1",
        "",
    ]


@pytest.mark.parametrize("kind", ["room_finished", "participant_joined", "participant_left", "track_published"])
def test_a_room_name_that_is_not_ours_is_ignored(kind, settings, live_space, joined):
    user = joined()
    for odd in _odd_ids(live_space.pk):
        body = event(kind, f"{settings.LIVEKIT_ROOM_PREFIX}{odd}", f"u{user.pk}")
        response = post(body, signed(body, settings))
        assert (response.status_code, response.json()["result"]) == (200, "ignored_room"), odd
    assert participant(live_space, user).is_connected
    assert Space.objects.get(pk=live_space.pk).state == SpaceState.LIVE


@pytest.mark.parametrize("kind", ["participant_joined", "participant_left", "track_published"])
def test_an_identity_that_is_not_ours_is_ignored(kind, settings, live_space, joined):
    user = joined()
    for odd in _odd_ids(user.pk):
        body = event(kind, live_space.livekit_room, f"u{odd}")
        response = post(body, signed(body, settings))
        assert (response.status_code, response.json()["result"]) == (200, "ignored_identity"), odd
    assert participant(live_space, user).is_connected
    assert Participant.objects.filter(space=live_space).count() == 2


@pytest.mark.parametrize(
    "body",
    [
        "{}",
        "[]",
        '{"event": 5}',
        '{"event": "participant_left", "room": "not-an-object"}',
        '{"event": "participant_left", "room": {"name": ["x"]}}',
        '{"event": "participant_left", "createdAt": "soon"}',
        '{"event": "participant_left", "createdAt": "99999999999999999999999999"}',
        '{"event": "track_published", "track": {"source": "NOT_A_SOURCE"}}',
        '{"event": "x\\u0000", "room": {"name": "\\ud800"}}',
        "[" * 100_000,
    ],
)
def test_a_signed_body_of_any_shape_is_not_a_500(body, settings, live_space, joined):
    user = joined()
    response = post(body, signed(body, settings))
    assert response.status_code in (200, 401), response.content[:300]
    payload = response.json()
    assert payload.get("result", "").startswith("ignored") or payload.get("code") == "invalid_signature"
    assert participant(live_space, user).is_connected


# --- the signing token's time claims (item 9) -------------------------------------------------------


def test_a_token_valid_for_thirty_days_is_refused(settings, live_space, joined):
    user = joined()
    body = event("participant_left", live_space.livekit_room, f"u{user.pk}")
    response = post(body, signed(body, settings, ttl=timedelta(days=30)))
    assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
    assert participant(live_space, user).is_connected


@pytest.mark.parametrize(
    "claims",
    [
        {"nbf": None, "exp": 300},  # no nbf: valid since forever
        {"nbf": 0, "exp": None},  # no exp
        {"nbf": 30 * 86400, "exp": 30 * 86400 + 300},  # dated a month ahead
        {"nbf": -3600, "exp": 300},  # valid for 65 minutes
        {"nbf": 0, "exp": 300, "iat": 30 * 86400},  # issued a month ahead
        {"nbf": -600, "exp": -300},  # expired
    ],
)
def test_a_token_with_out_of_bounds_times_is_refused(claims, settings, live_space, joined):
    user = joined()
    body = event("participant_left", live_space.livekit_room, f"u{user.pk}")
    now = int(time.time())
    auth = hand_signed(body, settings, **{k: (None if v is None else now + v) for k, v in claims.items()})
    response = post(body, auth)
    assert (response.status_code, response.json()["code"]) == (401, "invalid_signature")
    assert participant(live_space, user).is_connected


@pytest.mark.parametrize("claims", [{"nbf": 0, "exp": 300}, {"nbf": -30, "exp": 270}, {"nbf": 20, "exp": 320}])
def test_a_token_like_livekit_signs_is_accepted_with_small_clock_skew(claims, settings, live_space, joined):
    user = joined()
    body = event("participant_left", live_space.livekit_room, f"u{user.pk}")
    now = int(time.time())
    response = post(body, hand_signed(body, settings, **{k: now + v for k, v in claims.items()}))
    assert (response.status_code, response.json()["result"]) == (200, "disconnected")
    assert not participant(live_space, user).is_connected
