"""Replays: the recording's info and audio (byte ranges), access that follows the Space, deletion by the
host and by retention, and the share page's player."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.models import Block
from moderation.models import HostBan, SpaceBan
from rooms import audio, services
from rooms.models import Recording, RecordingPart, Role, SpeakerSegment
from rooms.services import recordings, replays
from tests.factories import UserFactory
from tickets.models import TicketOffer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def make_ready(space, host, seconds: int = 3) -> Recording:
    """A finished recording made the way the agent makes one: parts under a lease, then finalised."""
    recordings.recording_set(space_id=space.pk, actor=host, on=True)
    rec = Recording.objects.get(space=space)
    epoch = recordings.lease_acquire(space_id=space.pk, agent_id="a")
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)).astype(np.int16)
    for i in range(seconds):
        recordings.part_store(
            space_id=space.pk, agent_id="a", epoch=epoch, recording_id=rec.pk, start_ms=i * 1000,
            duration_ms=1000, data=audio.encode(tone),
        )  # fmt: skip
    recordings.segments_store(recording_id=rec.pk, segments=[(host.pk, 0, 2000)])
    recordings.lease_release(space_id=space.pk, agent_id="a", epoch=epoch)
    services.space_end(space_id=space.pk, actor=host)
    assert recordings.recording_finalise(space_id=space.pk) == "ready"
    return Recording.objects.get(pk=rec.pk)


@pytest.fixture
def ready(live_space, host):
    return make_ready(live_space, host)


def test_info_for_host_and_listener(ready, live_space, host, joined, make_client):
    listener = UserFactory()
    for user in (host, listener):
        response = make_client(user).get(f"/api/v1/spaces/{live_space.pk}/recording")
        assert response.status_code == 200, response.json()
        body = response.json()
        assert body["state"] == "ready" and body["duration_ms"] == 3000
        assert body["audio_url"] == f"/api/v1/spaces/{live_space.pk}/recording/audio"
        assert body["timeline"] == [{"user_id": host.pk, "username": host.username, "start_ms": 0, "end_ms": 2000}]
        assert body["share_url"].endswith(f"/s/{live_space.pk}")


def test_access_follows_the_space(ready, live_space, host, make_client):
    url = f"/api/v1/spaces/{live_space.pk}/recording"
    assert make_client().get(url).status_code == 401
    banned, blocked, cohost = UserFactory(), UserFactory(), UserFactory()
    SpaceBan.objects.create(space=live_space, user=banned)
    Block.objects.create(blocker=host, blocked=blocked)
    for user, code in ((banned, "banned"), (blocked, "blocked")):
        for path in (url, f"{url}/audio"):
            response = make_client(user).get(path)
            assert (response.status_code, response.json()["code"]) == (403, code)
    # a ticketed Space: ticket holders and the host team only
    TicketOffer.objects.create(space=live_space, price_cents=500, capacity=10)
    paying = make_client(UserFactory()).get(url)
    assert (paying.status_code, paying.json()["code"]) == (402, "ticket_required")
    live_space.participants.create(user=cohost, role=Role.COHOST)
    assert make_client(cohost).get(url).status_code == 200
    # the co-host row of an ended Space is history, not power: a host's ban now applies to them too
    ban = HostBan.objects.create(host=host, user=cohost)
    refused = make_client(cohost).get(url)
    assert (refused.status_code, refused.json()["code"]) == (403, "banned")
    ban.delete()
    # a suspended host's replays are hidden
    host.is_suspended = True
    host.save(update_fields=["is_suspended"])
    hidden = make_client(cohost).get(url)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "recording_not_found")


def test_missing_space_or_recording(live_space, make_client):
    user = make_client(UserFactory())
    assert user.get("/api/v1/spaces/999999/recording").json()["code"] == "space_not_found"
    none = user.get(f"/api/v1/spaces/{live_space.pk}/recording")
    assert (none.status_code, none.json()["code"]) == (404, "recording_not_found")


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_audio_whole_and_in_ranges(ready, live_space, make_client):
    api = make_client(UserFactory())
    url = f"/api/v1/spaces/{live_space.pk}/recording/audio"
    with default_storage.open(ready.file, "rb") as fh:
        data = fh.read()
    whole = api.get(url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes" and whole["Content-Type"] == "audio/ogg"
    assert _body(whole) == data and int(whole["Content-Length"]) == len(data)
    assert audio.decode(data).size == 3000 * 48
    part = api.get(url, HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert _body(part) == data[100:200]
    tail = api.get(url, HTTP_RANGE="bytes=-10")
    assert tail.status_code == 206 and _body(tail) == data[-10:]
    beyond = api.get(url, HTTP_RANGE=f"bytes={len(data)}-")
    assert (beyond.status_code, beyond.json()["code"]) == (416, "range_not_satisfiable")
    assert api.get(url, HTTP_RANGE="pages=1-2").status_code == 200  # not a byte range: the whole file
    # plays are counted when they start from the beginning (twice above: whole, and the odd range)
    assert Recording.objects.get(pk=ready.pk).play_count == 2


def test_audio_not_ready(live_space, host, make_client):
    recordings.recording_set(space_id=live_space.pk, actor=host, on=True)
    response = make_client(host).get(f"/api/v1/spaces/{live_space.pk}/recording/audio")
    assert (response.status_code, response.json()["code"]) == (409, "recording_not_ready")


def test_host_deletes_recording_and_files(ready, live_space, host, make_client):
    url = f"/api/v1/spaces/{live_space.pk}/recording"
    files = [ready.file, *RecordingPart.objects.filter(recording=ready).values_list("file", flat=True)]
    assert all(default_storage.exists(f) for f in files)
    assert make_client().delete(url).status_code == 401
    other = make_client(UserFactory()).delete(url)
    assert (other.status_code, other.json()["code"]) == (403, "not_host")
    assert all(default_storage.exists(f) for f in files)  # refusals changed nothing
    with _capture_on_commit():
        assert make_client(host).delete(url).status_code == 204
    assert not Recording.objects.filter(pk=ready.pk).exists() and not SpeakerSegment.objects.exists()
    assert not any(default_storage.exists(f) for f in files)
    again = make_client(host).delete(url)
    assert (again.status_code, again.json()["code"]) == (404, "recording_not_found")


def test_recording_in_progress_cannot_be_deleted(live_space, host, make_client):
    recordings.recording_set(space_id=live_space.pk, actor=host, on=True)
    response = make_client(host).delete(f"/api/v1/spaces/{live_space.pk}/recording")
    assert (response.status_code, response.json()["code"]) == (409, "recording_in_progress")
    assert Recording.objects.filter(space=live_space).exists()


def test_retention_deletes_old_recordings_and_files(ready, settings):
    settings.SPACES_RECORDING_RETENTION_DAYS = 30
    with _capture_on_commit():
        assert replays.recordings_expire(now=timezone.now() + timedelta(days=29)) == 0
    assert default_storage.exists(ready.file)
    with _capture_on_commit():
        assert replays.recordings_expire(now=timezone.now() + timedelta(days=31)) == 1
    assert not Recording.objects.exists() and not default_storage.exists(ready.file)


def test_share_page_plays_from_a_moment(ready, live_space, client):
    anonymous = client.get(f"/s/{live_space.pk}?t=12")
    assert b"Log in to play the replay" in anonymous.content and b'id="replay"' not in anonymous.content
    client.force_login(UserFactory())
    page = client.get(f"/s/{live_space.pk}?t=12").content.decode()
    assert 'id="replay"' in page and 'data-start="12.0"' in page and 'property="og:audio"' in page
    assert 'data-seek="0.0"' in page and 'data-rate="1.5"' in page
    assert 'data-start="0.0"' in client.get(f"/s/{live_space.pk}?t=nonsense").content.decode()


def _capture_on_commit():
    """Run on-commit callbacks (file deletion) inside these non-transactional tests."""
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)


def test_recordings_sweep_forgets_agents_gone_for_a_day():
    from rooms import tasks
    from rooms.models import AgentWorker

    recordings.agent_heartbeat(agent_id="old", pid=1, hostname="h", livekit_ok=True, error="", spaces=0)
    recordings.agent_heartbeat(agent_id="new", pid=2, hostname="h", livekit_ok=True, error="", spaces=0)
    AgentWorker.objects.filter(agent_id="old").update(heartbeat_at=timezone.now() - timedelta(days=2))
    assert tasks.recordings_sweep()["agents_forgotten"] == 1
    assert list(AgentWorker.objects.values_list("agent_id", flat=True)) == ["new"]
