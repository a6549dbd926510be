"""Live captions end to end: a real livekit-server, the audio agent as a subprocess, espeak-ng speaking
a fixed set of sentences into a speaker's microphone track, captions read on a listener's websocket.

Asserts the WER bound on the set, partial and final captions with the speaker and times, that a
speaker who declined captions is never captioned, and that transcript search finds a spoken phrase and
links to its moment in the replay. Writes latency figures for bench/captions.py if asked to.
"""

from __future__ import annotations

import json
import os
import statistics
from typing import Any

import pytest

from rooms.captions.engine import wer
from rooms.captions.testset import SENTENCES
from rooms.models import CaptionLine, Recording, Space
from rooms.services import captions
from tests.factories import UserFactory
from tests.rooms.agent_harness import agents
from tests.rooms.caption_harness import ListenerSocket, SpeakingPeer
from tests.support.livekit import NOBODY, remote, wait_until
from tests.support.servers import server_database_url, start_server, stop_server

pytestmark = [pytest.mark.livekit, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Measured through LiveKit (Opus at 48 kHz, resampled, cut by the VAD) on this loaded 2-core machine:
# 0.165, ≤ 0.25 twice, and 0.30 once under heavier load (docs/benchmarks.md); the model alone scores
# 0.15 on the set. The bound is the worst run seen plus a little: a broken resampler, VAD or codec
# path scores far above it (whole sentences lost or garbled).
E2E_WER_BOUND = 0.35


@pytest.fixture
def run_agents(postgres_url, tmp_path, lk, settings):
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = str(media)
    with agents(postgres_url=postgres_url, media_root=media, log_dir=tmp_path) as made:
        made.env["SPACES_CAPTIONS_PARTIAL_S"] = os.environ.get("SPACES_CAPTIONS_PARTIAL_S", "1.0")
        yield made


@pytest.fixture
def asgi_server(lk, tmp_path):
    """The production ASGI stack (uvicorn) on loopback, on the test database and Redis: the listener's
    socket is served by another process than the agent that publishes the captions, as in production."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=server_database_url(),
        DJANGO_SETTINGS_MODULE="spaces_project.settings",
        LOG_LEVEL="WARNING",
        CELERY_TASK_ALWAYS_EAGER="1",
        PYTHONUNBUFFERED="1",
    )
    env.pop("SPACES_TEST_DB_NAME", None)
    server = start_server("uvicorn", env, tmp_path)
    try:
        yield server
    finally:
        stop_server(server)


def _speaker(world, make_client, peers) -> tuple[Any, Any, SpeakingPeer]:
    user = UserFactory()
    api = make_client(user)
    creds = api.post(f"/api/v1/spaces/{world.space_id}/join").json()
    peer = SpeakingPeer(creds["livekit_url"], creds["token"], name=user.username)
    peers.append(peer)
    peer.connect()
    assert api.post(f"/api/v1/spaces/{world.space_id}/hand").status_code == 201
    approved = world.host_api.post(f"/api/v1/spaces/{world.space_id}/hands/{user.username}/approve")
    assert approved.status_code == 200, approved.json()
    assert wait_until(lambda: (remote(world.room, user) or NOBODY).can_publish)
    assert peer.publish_tone()  # publishes silence until it is given sentences
    return user, api, peer


def _breakdown(spoken: list[Any], finals: list[Any], log: str, origin: float) -> list[dict[str, float]]:
    """Per sentence, where the time from its end to its final caption on the socket went (seconds from
    the end of speech): the agent's "captions.timing" lines give when the VAD closed the phrase, when the
    engine started and ended, and when the publish call (database write + Redis) returned."""
    timings = [
        json.loads(line.split("captions.timing ", 1)[1]) for line in log.splitlines() if "captions.timing " in line
    ]
    rows = []
    for _sentence, _start, end in spoken:
        end_ms = (end - origin) * 1000
        for t in timings:
            if t["end_ms"] - 1500 <= end_ms <= t["end_ms"] + 1000:
                arrived = min((a for a, c in finals if c["end_ms"] == t["end_ms"]), default=float("nan"))
                steps = ("closed", "engine_start", "engine_end", "emit_start", "published")
                row = {k: round(t[k] - end, 3) for k in steps if k in t}
                row.update(socket=round(arrived - end, 3), audio_s=t["audio_ms"] / 1000)
                rows.append(row)
                break
    return rows


def test_spoken_sentences_become_captions_transcript_and_search(world, make_client, peers, run_agents, asgi_server):
    space_id = world.space_id
    run_agents.start("agent-c")
    for path, body in (("recording", {"on": True}), ("captions", {"on": True})):
        response = world.host_api.post(f"/api/v1/spaces/{space_id}/{path}", body, format="json")
        assert response.status_code == 200, response.json()
    # The host's steady test tone is not speech; the host declines anyway so only speakers are captioned.
    host_declined = world.host_api.put(
        f"/api/v1/spaces/{space_id}/captions/consent", {"captions": False}, format="json"
    )
    assert host_declined.status_code == 200, host_declined.json()
    alice, _alice_api, alice_peer = _speaker(world, make_client, peers)
    _bob, bob_api, bob_peer = _speaker(world, make_client, peers)
    declined = bob_api.put(f"/api/v1/spaces/{space_id}/captions/consent", {"captions": False}, format="json")
    assert declined.status_code == 200 and declined.json()["captions_declined"] is True

    listener = UserFactory()
    assert make_client(listener).post(f"/api/v1/spaces/{space_id}/join").status_code == 200
    socket = ListenerSocket(asgi_server.ws(space_id), listener)
    socket.start()
    try:
        assert wait_until(lambda: Recording.objects.filter(space_id=space_id).exists(), timeout=10)
        assert wait_until(lambda: "captions.started" in run_agents.log("agent-c"), timeout=40), run_agents.log(
            "agent-c"
        )
        alice_peer.say(SENTENCES)
        bob_peer.say(["Nobody should ever see this sentence about purple elephants."], gap_s=0.5)
        assert wait_until(alice_peer.done, timeout=90) and wait_until(bob_peer.done, timeout=10)
        # Wait for the final caption of the last sentence itself (under load a caption can arrive seconds
        # after the end of the next sentence: any final after the end is not enough).
        origin_s = Recording.objects.get(space_id=space_id).started_at.timestamp()
        last_end_ms = (alice_peer.spoken[-1][2] - origin_s) * 1000
        assert wait_until(
            lambda: any(c["end_ms"] >= last_end_ms - 1500 for _t, c in socket.captions(final=True)), timeout=90
        ), (
            CaptionLine.objects.count(),
            [f["type"] for _t, f in socket.frames],
            run_agents.log("agent-c")[-3000:],
        )
    finally:
        socket.stop()

    finals = [(t, c) for t, c in socket.captions(final=True)]
    partials = [c for _t, c in socket.captions(final=False)]
    # Only Alice is captioned: Bob declined (and the host too).
    assert {c["user_id"] for _t, c in finals} | {c["user_id"] for c in partials} == {alice.pk}
    assert not any("elephant" in c["text"].lower() for _t, c in finals)
    said = " ".join(SENTENCES)
    heard = " ".join(c["text"] for _t, c in finals)
    edits, total = wer(said, heard)
    lines = [c["text"] for _t, c in finals]
    assert all(c["end_ms"] >= c["start_ms"] and c["username"] == alice.username for _t, c in finals)

    # Latency: the end of each sentence → the first final caption whose phrase covers it, on the socket.
    recording = Recording.objects.get(space_id=space_id)
    origin = recording.started_at.timestamp()
    latencies = []
    for _sentence, _start, end in alice_peer.spoken:
        end_ms = (end - origin) * 1000
        arrivals = [t for t, c in finals if c["start_ms"] - 500 <= end_ms <= c["end_ms"] + 1000]
        if arrivals:
            latencies.append(min(arrivals) - end)
    out = os.environ.get("SPACES_CAPTIONS_BENCH_OUT")
    if out:
        with open(out, "w") as fh:
            breakdown = _breakdown(alice_peer.spoken, finals, run_agents.log("agent-c"), origin)
            json.dump({"latencies_s": latencies, "wer": [edits, total], "lines": lines, "breakdown": breakdown}, fh)
    assert edits / total <= E2E_WER_BOUND, (edits, total, lines)
    assert partials  # some sentences last long enough for a partial caption before the final one
    assert len(latencies) >= len(SENTENCES) - 1, latencies
    assert statistics.median(latencies) < 6  # a loose functional bound; the figures are in docs/benchmarks.md

    # The transcript is stored on the recording's timeline, in the snapshot while live, and searchable.
    stored = list(CaptionLine.objects.filter(space_id=space_id).order_by("start_ms"))
    assert len(stored) == len(finals) and {line.user_id for line in stored} == {alice.pk}
    mango_sentence = next(s for s in alice_peer.spoken if "mango" in s[0])
    found = make_client(listener).get("/api/v1/search/transcripts", {"q": "ripe mango"}).json()["results"]
    assert [r["space_id"] for r in found] == [space_id], found
    expected_t = mango_sentence[1] - origin
    assert abs(found[0]["t"] - expected_t) <= 2.0, (found[0], expected_t)
    assert found[0]["url"].endswith(f"/s/{space_id}?t={found[0]['t']}")
    assert Space.objects.get(pk=space_id).captions is True


def test_captions_without_recording_store_no_audio(world, make_client, peers, run_agents, asgi_server, tmp_path):
    """Captions on, recording off: an agent leases the Space for captions alone; captions reach the
    listener's socket and nothing is recorded (no recording, no part, no file, no transcript line)."""
    space_id = world.space_id
    run_agents.start("agent-c")
    response = world.host_api.post(f"/api/v1/spaces/{space_id}/captions", {"on": True}, format="json")
    assert response.status_code == 200, response.json()
    assert Space.objects.get(pk=space_id).record is False
    declined = world.host_api.put(f"/api/v1/spaces/{space_id}/captions/consent", {"captions": False}, format="json")
    assert declined.status_code == 200
    alice, _alice_api, alice_peer = _speaker(world, make_client, peers)
    listener = UserFactory()
    assert make_client(listener).post(f"/api/v1/spaces/{space_id}/join").status_code == 200
    socket = ListenerSocket(asgi_server.ws(space_id), listener)
    socket.start()
    try:
        assert wait_until(lambda: "captions.started" in run_agents.log("agent-c"), timeout=40), run_agents.log(
            "agent-c"
        )
        alice_peer.say(SENTENCES[1:3])
        assert wait_until(alice_peer.done, timeout=60)
        # Generous: on a loaded 2-core machine the engine has run at 2x real time.
        assert wait_until(lambda: len(socket.captions(final=True)) >= 2, timeout=90), run_agents.log("agent-c")[-3000:]
    finally:
        socket.stop()
    finals = [c for _t, c in socket.captions(final=True)]
    assert {c["user_id"] for c in finals} == {alice.pk}
    edits, total = wer(" ".join(SENTENCES[1:3]), " ".join(c["text"] for c in finals))
    assert edits / total <= E2E_WER_BOUND, finals
    assert all(c["id"] is None for c in finals)  # not stored as a transcript line
    assert not Recording.objects.filter(space_id=space_id).exists()
    assert not CaptionLine.objects.filter(space_id=space_id).exists()
    assert not [p for p in (tmp_path / "media").rglob("*") if p.is_file()]
    # A late joiner still sees the last lines (kept in the cache, not the database).
    snapshot_lines = captions.recent_lines(space=Space.objects.get(pk=space_id))
    assert [line["text"] for line in snapshot_lines][-len(finals) :] == [c["text"] for c in finals]
