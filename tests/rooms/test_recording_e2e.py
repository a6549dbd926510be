"""The audio agent against a real livekit-server: it records what consenting speakers say, leaves out a
speaker who declined, keeps a timeline that matches the audio, and survives being killed.

Agents run as real subprocesses (``manage.py run_agent``); the recording is decoded with PyAV and its
spectrum checked. Lease times are shortened (tests/rooms/agent_harness.py ``FAST``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage

from rooms import audio, livekit_client
from rooms.models import AgentLease, AgentWorker, Participant, Recording, RecordingPart, Space, SpeakerSegment
from tests.factories import UserFactory
from tests.rooms.agent_harness import FAST, WINDOW_MS, agents, longest_run, tone_levels
from tests.support.livekit import NOBODY, Peer, remote, wait_until

pytestmark = [pytest.mark.livekit, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HOST_HZ, ALICE_HZ, BOB_HZ = 440.0, 660.0, 1000.0
PRESENT = 1500.0  # amplitude of a tone that is there (they are published at 8000)
ABSENT = 300.0
# Bob's tone would read ≈ 8000 in any 20 ms window he leaked into; the abrupt on/off edges of Alice's
# bursts splash a few hundred across the spectrum, so "absent" for him is judged below this.
NEVER = 1000.0
LEASE_S, PART_S, POLL_S = (
    float(FAST[k]) for k in ("SPACES_AGENT_LEASE_S", "SPACES_RECORDING_PART_S", "SPACES_AGENT_POLL_S")
)


@pytest.fixture
def media(tmp_path: Path, settings) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def run_agents(postgres_url, media, tmp_path, lk):
    with agents(postgres_url=postgres_url, media_root=media, log_dir=tmp_path) as made:
        yield made


def _speaker(world, peers, *, hz: float, pattern=None):
    user = UserFactory()
    api = world.make_client(user)
    creds = api.post(f"/api/v1/spaces/{world.space_id}/join").json()
    peer = Peer(creds["livekit_url"], creds["token"], name=user.username, tone_hz=hz, pattern=pattern)
    peers.append(peer)
    peer.connect()
    raised = api.post(f"/api/v1/spaces/{world.space_id}/hand")
    assert raised.status_code == 201 and raised.json()["recorded"] is True  # told before going on stage
    approved = world.host_api.post(f"/api/v1/spaces/{world.space_id}/hands/{user.username}/approve")
    assert approved.status_code == 200, approved.json()
    assert wait_until(lambda: (remote(world.room, user) or NOBODY).can_publish)
    return user, api, peer


def _ready(space_id: int, timeout: float = 40) -> Recording:
    assert wait_until(lambda: Recording.objects.get(space_id=space_id).state == "ready", timeout=timeout), (
        Recording.objects.get(space_id=space_id).state
    )
    return Recording.objects.get(space_id=space_id)


def _decode(recording: Recording) -> np.ndarray:
    with default_storage.open(recording.file, "rb") as fh:
        return audio.decode(fh.read())


def _start_agents(run_agents, *names: str, **env: str) -> None:
    """Start agent processes and wait until each has checked in (Django's start-up is not the agent's)."""
    for name in names:
        run_agents.start(name, **env)
    assert wait_until(lambda: AgentWorker.objects.filter(agent_id__in=names).count() == len(names), timeout=30)


def _record_on(world) -> None:
    on = world.host_api.post(f"/api/v1/spaces/{world.space_id}/recording", {"on": True}, format="json")
    assert on.status_code == 200 and on.json()["recording"] is True


@pytest.fixture
def world_rec(world, make_client):
    world.make_client = make_client
    return world


def test_records_consenting_speakers_and_leaves_out_the_decliner(world_rec, peers, run_agents):
    world = world_rec
    # No takeover here, so the lease is the default's: under two busy loops the agent (or its database)
    # stalled for 4 s, a 3 s lease expired meanwhile, and the end's fallback join ran before the agent
    # had stored its last parts (a replay 3.3 s short of the wall time).
    _start_agents(run_agents, "agent-a", SPACES_AGENT_LEASE_S="15")
    _record_on(world)
    alice, _, alice_peer = _speaker(world, peers, hz=ALICE_HZ, pattern=(1.5, 1.0))
    bob, bob_api, bob_peer = _speaker(world, peers, hz=BOB_HZ)
    time.sleep(2 * POLL_S + 0.5)  # the agent has read Bob as a consenting speaker...
    declined = bob_api.put(f"/api/v1/spaces/{world.space_id}/recording/consent", {"record": False}, format="json")
    assert declined.status_code == 200 and declined.json()["recording_declined"] is True
    # ...and Bob publishes right after declining: not one frame of him may reach the mix
    assert bob_peer.publish_tone() and alice_peer.publish_tone()
    space = Space.objects.get(pk=world.space_id)
    assert wait_until(lambda: RecordingPart.objects.filter(recording__space=space).count() >= 2, timeout=20), (
        run_agents.log("agent-a")
    )
    # The agent is in the room, hidden, and nobody counts it or sees it.
    in_room = livekit_client.participants_list(room=world.room)
    agent = next(p for p in in_room if p.identity == livekit_client.agent_identity("agent-a"))
    assert agent.hidden and not agent.can_publish and agent.can_subscribe
    assert livekit_client.agent_identity("agent-a") not in world.host_peer.room.remote_participants
    assert Space.objects.get(pk=space.pk).listener_count == 0
    assert not Participant.objects.filter(space=space).exclude(user__in=[world.host, alice, bob]).exists()
    stage = world.host_api.get(f"/api/v1/spaces/{world.space_id}/participants").json()
    assert {m["user"]["username"] for m in stage["stage"]} == {world.host.username, alice.username, bob.username}
    time.sleep(6)
    # and at least two of Alice's bursts are on the timeline (on a busy machine the agent has heard her
    # first burst seconds after she published it)
    alice_segments = SpeakerSegment.objects.filter(recording__space=space, user=alice)
    assert wait_until(lambda: alice_segments.count() >= 2, timeout=30), run_agents.log("agent-a")
    ended = world.host_api.post(f"/api/v1/spaces/{world.space_id}/end")
    assert ended.status_code == 200
    recording = _ready(space.pk)
    pcm = _decode(recording)
    _check_recording(recording, pcm, alice=alice, bob=bob, host=world.host)


def _longest_run_span(mask: np.ndarray) -> tuple[int, int]:
    """Where the longest run of True in ``mask`` starts, and its length."""
    best, start = (0, 0), -1
    for i, value in enumerate([*mask.tolist(), False]):
        if value and start < 0:
            start = i
        elif not value and start >= 0:
            best, start = max(best, (start, i - start), key=lambda span: span[1]), -1
    return best


def _check_recording(recording, pcm, *, alice, bob, host) -> None:
    first_part = RecordingPart.objects.filter(recording=recording).order_by("start_ms").first()
    # duration: from recording on to the end, less the agent's joining (bounded), as the row says
    assert pcm.size == recording.duration_ms * 48
    wall_ms = (recording.ended_at - recording.started_at).total_seconds() * 1000
    assert wall_ms - 3000 <= recording.duration_ms <= wall_ms + 500, (recording.duration_ms, wall_ms)
    assert first_part.start_ms <= (POLL_S + 1.5) * 1000  # an idle agent's poll, then joining the room
    # the agent hears the host within a second of joining (subscribing takes a moment): timing starts there
    start_w = int(np.argmax(tone_levels(pcm, HOST_HZ) > PRESENT))
    assert (start_w * WINDOW_MS - first_part.start_ms) < 1000, (start_w, first_part.start_ms)
    host_l, alice_l, bob_l = (tone_levels(pcm, hz)[start_w:] for hz in (HOST_HZ, ALICE_HZ, BOB_HZ))
    # the declining speaker is nowhere; the host's steady tone has no gap longer than 100 ms while the host
    # was publishing. Ending the Space disconnects the host before the agent's last frames, so the recording
    # may close on a short silence: bounded here, and not counted as a gap.
    assert bob_l.max() < NEVER, bob_l.max()
    tail = int(np.argmax(host_l[::-1] > PRESENT))
    assert tail * WINDOW_MS <= 1000, tail
    speaking = host_l[: host_l.size - tail]
    alice_n = SpeakerSegment.objects.filter(recording=recording, user=alice).count()
    print(
        f"\nrecording: {recording.duration_ms} ms of {wall_ms:.0f} ms wall, first part at {first_part.start_ms} ms,"
        f" host heard {start_w * WINDOW_MS - first_part.start_ms} ms after it, longest host gap"
        f" {longest_run(speaking < PRESENT) * WINDOW_MS} ms, Bob's peak {bob_l.max():.0f}, {alice_n} Alice segments"
    )
    assert longest_run(speaking < PRESENT) * WINDOW_MS <= 100, longest_run(speaking < PRESENT)
    # Alice is heard where the timeline says she spoke, and nowhere else
    segments = list(SpeakerSegment.objects.filter(recording=recording, user=alice).order_by("start_ms"))
    assert len(segments) >= 2, segments
    assert not SpeakerSegment.objects.filter(recording=recording, user=bob).exists()
    assert SpeakerSegment.objects.filter(recording=recording, user=host).exists()
    inside = np.zeros(alice_l.size, dtype=bool)
    near = np.zeros(alice_l.size, dtype=bool)
    for seg in segments:
        a, b = seg.start_ms // WINDOW_MS - start_w, seg.end_ms // WINDOW_MS - start_w
        inside[max(0, a + 3) : max(0, b - 3)] = True
        near[max(0, a - 5) : max(0, b + 5)] = True
        assert 1200 <= seg.end_ms - seg.start_ms <= 2300 or seg is segments[0] or seg is segments[-1], seg
    assert (alice_l[inside] > PRESENT).mean() > 0.95
    assert (alice_l[~near] < ABSENT).mean() > 0.98


def test_killed_agent_is_replaced_within_the_lease_time(world_rec, run_agents):
    world = world_rec
    space = Space.objects.get(pk=world.space_id)
    _start_agents(run_agents, "agent-1", "agent-2")
    _record_on(world)
    assert wait_until(lambda: RecordingPart.objects.filter(recording__space=space).count() >= 3, timeout=20)
    holder = AgentLease.objects.get(space=space)
    run_agents.kill(holder.agent_id)
    killed_at = time.monotonic()
    survivor = "agent-2" if holder.agent_id == "agent-1" else "agent-1"
    assert wait_until(lambda: AgentLease.objects.get(space=space).agent_id == survivor, timeout=LEASE_S + 5)
    took_over_s = time.monotonic() - killed_at
    assert took_over_s <= LEASE_S + POLL_S + 0.5, took_over_s
    assert wait_until(lambda: RecordingPart.objects.filter(recording__space=space, agent_id=survivor).count() >= 3)
    assert world.host_api.post(f"/api/v1/spaces/{world.space_id}/end").status_code == 200
    recording = _ready(space.pk)
    pcm = _decode(recording)
    assert pcm.size == recording.duration_ms * 48  # plays through to the end
    host_l = tone_levels(pcm, HOST_HZ)
    host_l = host_l[int(np.argmax(host_l > PRESENT)) :]
    gap_at, gap = _longest_run_span(host_l < PRESENT)
    gap_ms = gap * WINDOW_MS
    # lost: the unstored part, the wait for the lease to expire, the new agent's poll and join
    assert 200 <= gap_ms <= (LEASE_S + PART_S + POLL_S + 0.5) * 1000, gap_ms
    # the host is heard steadily by each agent: before the gap, and after it (the survivor's three parts, less
    # its start-up ramp and the recording's closing silence). Judged apart: a share over the whole recording
    # hangs on how long the gap and the test's waits were (0.61-0.63 measured against 0.5 under load).
    before, after = host_l[:gap_at], host_l[gap_at + gap :]
    tail = int(np.argmax(after[::-1] > PRESENT))
    after = after[: after.size - tail]
    heard = ((before > PRESENT).mean(), (after > PRESENT).mean())
    print(
        f"\nfailover: took over {took_over_s:.1f} s after the kill, gap {gap_ms} ms, heard {heard[0]:.2f}/{heard[1]:.2f}"
    )
    assert tail * WINDOW_MS <= 1000 and after.size * WINDOW_MS >= 2000, (tail, after.size)
    assert min(heard) > 0.8, heard


def test_agent_that_cannot_reach_livekit_is_unhealthy_and_retries(world_rec, run_agents, client):
    world = world_rec
    space = Space.objects.get(pk=world.space_id)
    dead = {"LIVEKIT_URL": "ws://127.0.0.1:9", "LIVEKIT_API_URL": "http://127.0.0.1:9"}
    run_agents.start("agent-blind", **dead)
    assert wait_until(lambda: AgentWorker.objects.filter(agent_id="agent-blind").exists(), timeout=30)
    _record_on(world)
    # it takes the Space, cannot join, gives it back and says so; then it tries again (backoff 3 s, 6 s)
    assert wait_until(lambda: not AgentWorker.objects.get(agent_id="agent-blind").livekit_ok, timeout=15)
    agents = {a["agent_id"]: a for a in client.get("/readyz").json()["agents"]}
    assert not agents["agent-blind"]["healthy"] and agents["agent-blind"]["last_error"]
    assert wait_until(lambda: AgentLease.objects.get(space=space).epoch >= 2, timeout=15)
    assert not RecordingPart.objects.filter(recording__space=space).exists()
    # a healthy agent started meanwhile takes the Space the blind one keeps giving back
    _start_agents(run_agents, "agent-ok")
    assert wait_until(lambda: RecordingPart.objects.filter(recording__space=space, agent_id="agent-ok").exists(), 20)
    assert AgentWorker.objects.get(agent_id="agent-ok").livekit_ok
