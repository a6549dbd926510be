"""Live captions and transcripts, services and API: the host's switch, consent, what the agent may
publish, the snapshot's last lines, WebVTT with the replay's access rules, the host's edits and deletion,
retention with the recording, and search by what was said (PostgreSQL full-text; SQLite icontains).
The agent and the model are proven end to end in test_captions_e2e.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from moderation.models import SpaceBan
from rooms import events, services
from rooms.models import CaptionLine, Participant, Recording, Role, Space
from rooms.services import captions, recordings, replays
from rooms.snapshot import ROOM_PARTS, space_snapshot, space_snapshot_full
from tests.factories import UserFactory
from tests.rooms.test_recordings import captured_events  # noqa: F401 - a fixture
from tests.rooms.test_replays import _capture_on_commit, make_ready

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def _publish(space, user, text, start_ms=1000, end_ms=2000, final=True, phrase=1) -> bool:
    return captions.caption_publish(
        space_id=space.pk, user_id=user.pk, phrase=phrase, start_ms=start_ms, end_ms=end_ms, text=text, final=final
    )


def test_host_switch_and_refusals(live_space, host, joined, make_client, captured_events):  # noqa: F811
    url = f"/api/v1/spaces/{live_space.pk}/captions"
    on = make_client(host).post(url, {"on": True}, format="json")
    assert on.status_code == 200 and on.json() == {"space_id": live_space.pk, "captions": True}
    assert next(e for e in captured_events if e["type"] == events.CAPTIONS_UPDATED)["data"] == {"captions": True}
    assert make_client().post(url, {"on": True}, format="json").status_code == 401
    cohost = joined(role=Role.COHOST)
    denied = make_client(cohost).post(url, {"on": False}, format="json")
    assert (denied.status_code, denied.json()["code"]) == (403, "not_host")
    bad = make_client(host).post(url, {"on": "perhaps"}, format="json")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_input")
    assert Space.objects.get(pk=live_space.pk).captions is True
    services.space_end(space_id=live_space.pk, actor=host)
    ended = make_client(host).post(url, {"on": False}, format="json")
    assert (ended.status_code, ended.json()["code"]) == (409, "space_not_scheduled")


def test_consent_and_what_the_agent_may_publish(live_space, host, joined, make_client, captured_events):  # noqa: F811
    speaker, stranger = joined(role=Role.SPEAKER), UserFactory()
    recordings.recording_set(space_id=live_space.pk, actor=host, on=True)
    # captions off: nothing is published
    assert not _publish(live_space, speaker, "hello there")
    captions.captions_set(space_id=live_space.pk, actor=host, on=True)
    assert _publish(live_space, speaker, "hello there")
    assert _publish(live_space, speaker, "hello", final=False, phrase=2)
    caption_events = [e["data"] for e in captured_events if e["type"] == events.CAPTION]
    assert [(c["text"], c["final"], c["user_id"]) for c in caption_events] == [
        ("hello there", True, speaker.pk),
        ("hello", False, speaker.pk),
    ]
    assert caption_events[0]["id"] == CaptionLine.objects.get().pk and caption_events[1]["id"] is None
    # the speaker declines: from now on nothing of theirs is published or stored, whatever the agent sends
    url = f"/api/v1/spaces/{live_space.pk}/captions/consent"
    declined = make_client(speaker).put(url, {"captions": False}, format="json")
    assert declined.status_code == 200 and declined.json()["captions_declined"] is True
    assert Participant.objects.get(space=live_space, user=speaker).captions_declined
    assert not _publish(live_space, speaker, "secret words")
    assert CaptionLine.objects.count() == 1
    assert captions.captions_plan(space_id=live_space.pk) == captions.CaptionsPlan(True, frozenset({speaker.pk}))
    stage = [e for e in captured_events if e["type"] == events.STAGE_UPDATED][-1]["data"]["stage"]
    assert next(m for m in stage if m["user_id"] == speaker.pk)["captions_declined"] is True
    # a stranger cannot set consent; bad input is refused
    outsider = make_client(stranger).put(url, {"captions": False}, format="json")
    assert (outsider.status_code, outsider.json()["code"]) == (409, "not_in_space")
    bad = make_client(speaker).put(url, {"captions": "perhaps"}, format="json")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_input")


def test_snapshot_has_the_last_lines(live_space, host, joined):
    speaker = joined(role=Role.SPEAKER)
    recordings.recording_set(space_id=live_space.pk, actor=host, on=True)
    captions.captions_set(space_id=live_space.pk, actor=host, on=True)
    for i in range(8):
        assert _publish(live_space, speaker, f"line {i}", start_ms=i * 1000, end_ms=i * 1000 + 900)
    ROOM_PARTS.clear()
    listener = UserFactory()
    # The listener's frame (shared room part) and the host's (one-transaction read) carry the same lines,
    # built first by either path; a new line takes the next seq, so a cached part never hides it.
    for first in (listener, host):
        ROOM_PARTS.clear()
        frames = {u.pk: json.loads(space_snapshot(space_id=live_space.pk, user=u)[0]) for u in (first, listener, host)}
        for frame in frames.values():
            data = frame["data"]
            assert (data["space"]["captions"], data["space"]["recording"]) == (True, True)
            assert [c["text"] for c in data["captions"]] == [f"line {i}" for i in range(3, 8)]
    fast = json.loads(space_snapshot(space_id=live_space.pk, user=listener)[0])
    full = json.loads(space_snapshot_full(space_id=live_space.pk, user=listener)[0])
    fast.pop("ts"), full.pop("ts")
    assert fast == full
    assert _publish(live_space, speaker, "line 8", start_ms=8000, end_ms=8900)
    frame, _seq, _ = space_snapshot(space_id=live_space.pk, user=listener)
    assert json.loads(frame)["data"]["captions"][-1]["text"] == "line 8"
    captions.captions_set(space_id=live_space.pk, actor=host, on=False)
    frame, _seq, _ = space_snapshot(space_id=live_space.pk, user=UserFactory())
    assert json.loads(frame)["data"]["captions"] == []
    assert json.loads(frame)["data"]["space"]["captions"] is False


@pytest.fixture
def transcribed(live_space, host, joined):
    """A Space with a transcript of three lines and a ready replay."""
    speaker = joined(role=Role.SPEAKER)
    captions.captions_set(space_id=live_space.pk, actor=host, on=True)
    recordings.recording_set(space_id=live_space.pk, actor=host, on=True)
    _publish(live_space, speaker, "Welcome to the morning show", 500, 2100)
    _publish(live_space, speaker, "Today we talk about <b>bicycles</b> & trains", 2500, 4000)
    _publish(live_space, host, "The mangoes were ripe --> delicious", 61_000, 3_661_250)
    make_ready(live_space, host)
    return speaker


def test_transcript_and_webvtt_follow_the_replay_access(transcribed, live_space, host, make_client):
    listener = make_client(UserFactory())
    body = listener.get(f"/api/v1/spaces/{live_space.pk}/recording/transcript").json()
    assert body["lines"][0]["text"] == "Welcome to the morning show"
    vtt = listener.get(f"/api/v1/spaces/{live_space.pk}/recording/captions.vtt")
    assert vtt.status_code == 200 and vtt["Content-Type"].startswith("text/vtt")
    text = vtt.content.decode()
    assert text.startswith("WEBVTT\n\n")
    assert "00:00:00.500 --> 00:00:02.100" in text and "00:01:01.000 --> 01:01:01.250" in text
    assert f"<v {transcribed.display_name or transcribed.username}>Welcome to the morning show" in text
    assert "&lt;b&gt;bicycles&lt;/b&gt; &amp; trains" in text and "ripe --&gt; delicious" in text
    # the replay's rules: a banned user gets neither
    banned = UserFactory()
    SpaceBan.objects.create(space=live_space, user=banned)
    for path in ("transcript", "captions.vtt"):
        refused = make_client(banned).get(f"/api/v1/spaces/{live_space.pk}/recording/{path}")
        assert (refused.status_code, refused.json()["code"]) == (403, "banned")
    assert make_client().get(f"/api/v1/spaces/{live_space.pk}/recording/captions.vtt").status_code == 401


def test_host_edits_and_deletes(transcribed, live_space, host, make_client):
    line = CaptionLine.objects.order_by("start_ms").first()
    url = f"/api/v1/spaces/{live_space.pk}/recording/transcript"
    not_host = make_client(transcribed).patch(f"{url}/{line.pk}", {"text": "x"}, format="json")
    assert (not_host.status_code, not_host.json()["code"]) == (403, "not_host")
    empty = make_client(host).patch(f"{url}/{line.pk}", {"text": "   "}, format="json")
    assert empty.status_code == 400
    missing = make_client(host).patch(f"{url}/999999", {"text": "x"}, format="json")
    assert (missing.status_code, missing.json()["code"]) == (404, "caption_line_not_found")
    edited = make_client(host).patch(f"{url}/{line.pk}", {"text": "Welcome to  the  Morning Show"}, format="json")
    assert edited.status_code == 200 and edited.json()["text"] == "Welcome to the Morning Show"
    assert CaptionLine.objects.get(pk=line.pk).edited
    assert make_client(host).delete(f"{url}/{line.pk}").status_code == 204
    assert CaptionLine.objects.count() == 2
    assert make_client(transcribed).delete(url).status_code == 403
    assert make_client(host).delete(url).status_code == 204
    assert not CaptionLine.objects.exists()


def test_retention_follows_the_recording(transcribed, live_space, host, settings):
    settings.SPACES_RECORDING_RETENTION_DAYS = 30
    with _capture_on_commit():
        assert replays.recordings_expire(now=timezone.now() + timedelta(days=31)) == 1
    assert not Recording.objects.exists() and not CaptionLine.objects.exists()


def test_search_finds_the_moment_and_respects_access(transcribed, live_space, host, make_client):
    api = make_client(UserFactory())
    # PostgreSQL stems ("mango" finds "mangoes"); SQLite needs the words as written.
    query = "mango ripe" if connection.vendor == "postgresql" else "mangoes ripe"
    found = api.get("/api/v1/search/transcripts", {"q": query}).json()["results"]
    assert [(r["space_id"], r["t"]) for r in found] == [(live_space.pk, 61)]
    assert found[0]["url"].endswith(f"/s/{live_space.pk}?t=61") and found[0]["line"]["user_id"] == host.pk
    assert api.get("/api/v1/search/transcripts", {"q": "submarine"}).json()["results"] == []
    short = api.get("/api/v1/search/transcripts", {"q": "a"})
    assert (short.status_code, short.json()["code"]) == (400, "search_query_invalid")
    banned = UserFactory()
    SpaceBan.objects.create(space=live_space, user=banned)
    assert make_client(banned).get("/api/v1/search/transcripts", {"q": query}).json()["results"] == []


def test_an_agent_is_leased_for_captions_alone_and_records_nothing(live_space, host, joined):
    """The lease criterion (rooms/services/agent_jobs.py): captions on is enough for an agent; an agent
    at its cap of captioned Spaces does not take a captions-only Space; recording stays off."""
    speaker = joined(role=Role.SPEAKER)
    assert recordings.spaces_needing_agent(limit=10) == []
    captions.captions_set(space_id=live_space.pk, actor=host, on=True)
    assert recordings.spaces_needing_agent(limit=10) == [live_space.pk]
    assert recordings.spaces_needing_agent(limit=10, captions=False) == []
    plan = recordings.agent_plan(space_id=live_space.pk)
    assert plan.needed and plan.jobs == {"captions"} and not plan.record and plan.recording_id is None
    assert plan.started_at == Space.objects.get(pk=live_space.pk).started_at  # the captions' clock
    # Captions published without a recording: live only, the last lines kept for the snapshot.
    assert _publish(live_space, speaker, "first line", phrase=1)
    assert _publish(live_space, speaker, "second line", start_ms=2500, end_ms=3000, phrase=2)
    assert not Recording.objects.exists() and not CaptionLine.objects.exists()
    fresh = Space.objects.get(pk=live_space.pk)
    assert [line["text"] for line in captions.recent_lines(space=fresh)] == ["first line", "second line"]
    # Recording on as well: one agent does both; the cap no longer keeps the Space from an agent.
    recordings.recording_set(space_id=live_space.pk, actor=host, on=True)
    assert recordings.agent_plan(space_id=live_space.pk).jobs == {"captions", "record"}
    assert recordings.spaces_needing_agent(limit=10, captions=False) == [live_space.pk]
    captions.captions_set(space_id=live_space.pk, actor=host, on=False)
    recordings.recording_set(space_id=live_space.pk, actor=host, on=False)
    assert not recordings.agent_plan(space_id=live_space.pk).needed
    assert recordings.spaces_needing_agent(limit=10) == []
