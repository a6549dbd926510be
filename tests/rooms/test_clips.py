"""Clips: cut live from the last seconds or from a replay range (≤ 60 s), with their own page; access
follows the Space; the host can turn clips off; clips go with their recording."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.storage import default_storage

from moderation.models import SpaceBan
from rooms import audio
from rooms.models import Clip, Recording
from rooms.services import recordings
from tests.factories import UserFactory
from tests.rooms.test_replays import _capture_on_commit, make_ready
from tickets.models import TicketOffer

pytestmark = pytest.mark.django_db

TONE = (8000 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)).astype(np.int16)


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _decoded(clip_id: int) -> np.ndarray:
    with default_storage.open(Clip.objects.get(pk=clip_id).file, "rb") as fh:
        return audio.decode(fh.read())


def test_live_clip_of_the_last_seconds(live_space, host, make_client):
    recordings.recording_set(space_id=live_space.pk, actor=host, on=True)
    rec = Recording.objects.get(space=live_space)
    epoch = recordings.lease_acquire(space_id=live_space.pk, agent_id="a")
    for i in range(4):
        recordings.part_store(
            space_id=live_space.pk, agent_id="a", epoch=epoch, recording_id=rec.pk, start_ms=i * 1000,
            duration_ms=1000, data=audio.encode(TONE),
        )  # fmt: skip
    listener = UserFactory()
    response = make_client(listener).post(f"/api/v1/spaces/{live_space.pk}/clips", {"last_s": 2}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["start_ms"], body["end_ms"], body["duration_ms"]) == (2000, 4000, 2000)
    pcm = _decoded(body["id"])
    assert pcm.size == 2000 * 48 and audio.rms(pcm[4800:-4800]) > 4000


def test_clip_of_a_replay_range_and_its_page(live_space, host, make_client, client):
    make_ready(live_space, host)
    api = make_client(UserFactory())
    made = api.post(
        f"/api/v1/spaces/{live_space.pk}/clips", {"start_ms": 500, "end_ms": 2500, "title": "Best bit"}, format="json"
    )
    assert made.status_code == 201, made.json()
    clip_id = made.json()["id"]
    assert _decoded(clip_id).size == 2000 * 48
    # anyone may hear a clip of a Space that was not ticketed, and its page has OpenGraph audio tags
    assert client.get(f"/api/v1/clips/{clip_id}").json()["title"] == "Best bit"
    part = client.get(f"/api/v1/clips/{clip_id}/audio", HTTP_RANGE="bytes=0-9")
    assert part.status_code == 206 and len(b"".join(part.streaming_content)) == 10
    page = client.get(f"/c/{clip_id}").content.decode()
    assert f'property="og:audio" content="http://testserver/api/v1/clips/{clip_id}/audio"' in page
    assert 'property="og:audio:type" content="audio/ogg"' in page and 'id="clip"' in page
    assert client.get("/c/999999").status_code == 404


def test_clip_refusals(live_space, host, make_client):
    url = f"/api/v1/spaces/{live_space.pk}/clips"
    assert make_client().post(url, {"last_s": 5}, format="json").status_code == 401
    none = make_client(UserFactory()).post(url, {"last_s": 5}, format="json")
    assert (none.status_code, none.json()["code"]) == (404, "recording_not_found")
    make_ready(live_space, host)
    api = make_client(UserFactory())
    for bad in ({"start_ms": 0, "end_ms": 61_000}, {"start_ms": 2000, "end_ms": 1000}, {"start_ms": 0},
                {"start_ms": 2000, "end_ms": 9000}, {"last_s": 5}):  # fmt: skip
        response = api.post(url, bad, format="json")
        assert (response.status_code, response.json()["code"]) == (400, "invalid_clip_range"), bad
    for bad in ({"last_s": 0}, {"start_ms": -1, "end_ms": 10}, {"last_s": "x"}):
        assert api.post(url, bad, format="json").json()["code"] == "invalid_input"
    banned = UserFactory()
    SpaceBan.objects.create(space=live_space, user=banned)
    refused = make_client(banned).post(url, {"start_ms": 0, "end_ms": 1000}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "banned")
    assert not Clip.objects.exists()


def test_host_turns_clips_off(live_space, host, make_client):
    recordings.recording_set(space_id=live_space.pk, actor=host, on=True)
    other = make_client(UserFactory()).patch(f"/api/v1/spaces/{live_space.pk}", {"clips_enabled": False}, format="json")
    assert other.status_code == 403
    off = make_client(host).patch(f"/api/v1/spaces/{live_space.pk}", {"clips_enabled": False}, format="json")
    assert off.status_code == 200 and off.json()["clips_enabled"] is False
    refused = make_client(UserFactory()).post(f"/api/v1/spaces/{live_space.pk}/clips", {"last_s": 5}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "clips_disabled")


def test_ticketed_clips_need_a_ticket_and_go_with_the_recording(live_space, host, make_client, client):
    rec = make_ready(live_space, host)
    clip = (
        make_client(host)
        .post(f"/api/v1/spaces/{live_space.pk}/clips", {"start_ms": 0, "end_ms": 1000}, format="json")
        .json()
    )
    TicketOffer.objects.create(space=live_space, price_cents=500, capacity=10)
    assert client.get(f"/api/v1/clips/{clip['id']}/audio").status_code == 401
    no_ticket = make_client(UserFactory()).get(f"/api/v1/clips/{clip['id']}")
    assert (no_ticket.status_code, no_ticket.json()["code"]) == (402, "ticket_required")
    path = Clip.objects.get(pk=clip["id"]).file
    with _capture_on_commit():
        assert make_client(host).delete(f"/api/v1/spaces/{live_space.pk}/recording").status_code == 204
    assert not Clip.objects.exists() and not default_storage.exists(path)
    assert not Recording.objects.filter(pk=rec.pk).exists()
