"""Recording with consent: the host's switch, participants' consent, the agents' leases, parts and the
replay made from them (services and API; the agent itself is proven in test_recording_e2e.py)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from rooms import audio, events, services
from rooms.agent.mixer import FRAME, Mixer, SpeakerTimeline
from rooms.models import AgentLease, Participant, Recording, RecordingPart, Role, Space
from rooms.services import recordings
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def captured_events(monkeypatch):
    """Every event the services send (type and data), in order."""
    from spaces_project.realtime import events as catalogue

    seen: list[dict] = []
    check = catalogue.check

    def record(event):
        check(event)
        seen.append({"type": event.type, "data": event.data()})

    monkeypatch.setattr(catalogue, "check", record)
    return seen


# --- the host's switch -------------------------------------------------------------------------------


def test_host_turns_recording_on_live(live_space, host, make_client, captured_events):
    response = make_client(host).post(f"/api/v1/spaces/{live_space.pk}/recording", {"on": True}, format="json")
    assert response.status_code == 200 and response.json() == {"space_id": live_space.pk, "recording": True}
    recording = Recording.objects.get(space=live_space)
    assert recording.state == "recording"
    assert next(e for e in captured_events if e["type"] == events.RECORDING_UPDATED)["data"] == {"recording": True}
    # switching it off keeps the recording (it resumes in the same timeline if turned on again)
    make_client(host).post(f"/api/v1/spaces/{live_space.pk}/recording", {"on": False}, format="json")
    assert not Space.objects.get(pk=live_space.pk).record
    assert Recording.objects.filter(space=live_space).count() == 1


def test_recording_switch_refusals(live_space, host, joined, make_client):
    url = f"/api/v1/spaces/{live_space.pk}/recording"
    assert make_client().post(url, {"on": True}, format="json").status_code == 401
    cohost = joined(role=Role.COHOST)
    denied = make_client(cohost).post(url, {"on": True}, format="json")
    assert (denied.status_code, denied.json()["code"]) == (403, "not_host")
    bad = make_client(host).post(url, {"on": "maybe"}, format="json")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_input")
    missing = make_client(host).post("/api/v1/spaces/999999/recording", {"on": True}, format="json")
    assert (missing.status_code, missing.json()["code"]) == (404, "space_not_found")
    assert not Space.objects.get(pk=live_space.pk).record and not Recording.objects.exists()
    services.space_end(space_id=live_space.pk, actor=host)
    ended = make_client(host).post(url, {"on": True}, format="json")
    assert (ended.status_code, ended.json()["code"]) == (409, "space_not_scheduled")


def test_chosen_at_create_starts_recording_when_live(host, make_client):
    start = (timezone.now() + timedelta(hours=1)).isoformat()
    created = make_client(host).post(
        "/api/v1/spaces", {"title": "Later", "scheduled_start": start, "record": True}, format="json"
    )
    assert created.status_code == 201 and created.json()["record"] is True
    space_id = created.json()["id"]
    assert not Recording.objects.filter(space_id=space_id).exists()
    services.space_start(space_id=space_id, actor=host)
    assert Recording.objects.get(space_id=space_id).state == "recording"


def test_invitee_and_approved_speaker_are_told(live_space, host, joined, make_client, captured_events):
    recordings.recording_set(space_id=live_space.pk, actor=host, on=True)
    listener = joined()
    invite = make_client(host).post(
        f"/api/v1/spaces/{live_space.pk}/invitations", {"username": listener.username}, format="json"
    )
    assert invite.status_code == 201 and invite.json()["recorded"] is True
    received = [e for e in captured_events if e["type"] == events.INVITE_RECEIVED]
    assert received[-1]["data"]["recorded"] is True
    other = joined()
    raised = make_client(other).post(f"/api/v1/spaces/{live_space.pk}/hand")
    assert raised.json()["recorded"] is True
    services.hand_approve(space_id=live_space.pk, actor=host, user_id=other.pk)
    approved = [e for e in captured_events if e["type"] == events.REQUEST_APPROVED]
    assert approved[-1]["data"]["recorded"] is True


# --- consent -----------------------------------------------------------------------------------------


def test_speaker_declines_and_is_left_out_of_the_plan(live_space, host, joined, make_client):
    recordings.recording_set(space_id=live_space.pk, actor=host, on=True)
    speaker = joined(role=Role.SPEAKER)
    plan = recordings.agent_plan(space_id=live_space.pk)
    assert plan.needed and plan.consenting == {host.pk, speaker.pk}
    url = f"/api/v1/spaces/{live_space.pk}/recording/consent"
    response = make_client(speaker).put(url, {"record": False}, format="json")
    assert response.status_code == 200 and response.json()["recording_declined"] is True
    assert recordings.agent_plan(space_id=live_space.pk).consenting == {host.pk}
    make_client(speaker).put(url, {"record": True}, format="json")
    assert recordings.agent_plan(space_id=live_space.pk).consenting == {host.pk, speaker.pk}


def test_consent_refusals(live_space, make_client):
    url = f"/api/v1/spaces/{live_space.pk}/recording/consent"
    assert make_client().put(url, {"record": False}, format="json").status_code == 401
    stranger = UserFactory()
    refused = make_client(stranger).put(url, {"record": False}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (409, "not_in_space")
    bad = make_client(stranger).put(url, {}, format="json")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_input")
    assert not Participant.objects.filter(user=stranger).exists()


# --- leases ------------------------------------------------------------------------------------------


def test_one_agent_per_space(live_space, host, settings):
    recordings.recording_set(space_id=live_space.pk, actor=host, on=True)
    assert recordings.spaces_needing_agent(limit=10) == [live_space.pk]
    epoch = recordings.lease_acquire(space_id=live_space.pk, agent_id="a")
    assert epoch == 1
    assert recordings.lease_acquire(space_id=live_space.pk, agent_id="b") is None
    assert recordings.spaces_needing_agent(limit=10) == []
    assert recordings.lease_renew(space_id=live_space.pk, agent_id="a", epoch=1)
    # a lease not renewed for LEASE_S expires; the next agent takes it and the old one's writes fail
    AgentLease.objects.filter(space=live_space).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert recordings.lease_acquire(space_id=live_space.pk, agent_id="b") == 2
    assert not recordings.lease_renew(space_id=live_space.pk, agent_id="a", epoch=1)
    rec = Recording.objects.get(space=live_space)
    pcm = np.zeros(4800, dtype=np.int16)
    stale = recordings.part_store(
        space_id=live_space.pk, agent_id="a", epoch=1, recording_id=rec.pk, start_ms=0, duration_ms=100,
        data=audio.encode(pcm),
    )  # fmt: skip
    assert stale is False and not RecordingPart.objects.exists()
    recordings.lease_release(space_id=live_space.pk, agent_id="b", epoch=2)
    assert recordings.spaces_needing_agent(limit=10) == [live_space.pk]


def test_parts_are_joined_into_a_replay_with_silence_for_gaps(live_space, host):
    recordings.recording_set(space_id=live_space.pk, actor=host, on=True)
    rec = Recording.objects.get(space=live_space)
    epoch = recordings.lease_acquire(space_id=live_space.pk, agent_id="a")
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)).astype(np.int16)
    for start_ms in (0, 1000, 3000):  # 2000-3000 ms is lost
        assert recordings.part_store(
            space_id=live_space.pk, agent_id="a", epoch=epoch, recording_id=rec.pk, start_ms=start_ms,
            duration_ms=1000, data=audio.encode(tone),
        )  # fmt: skip
    services.space_end(space_id=live_space.pk, actor=host)
    assert recordings.recording_finalise(space_id=live_space.pk) == "wait"  # the agent still holds it
    recordings.lease_release(space_id=live_space.pk, agent_id="a", epoch=epoch)
    assert recordings.recording_finalise(space_id=live_space.pk) == "ready"
    rec.refresh_from_db()
    assert (rec.state, rec.duration_ms) == ("ready", 4000)
    with default_storage.open(rec.file, "rb") as fh:
        pcm = audio.decode(fh.read())
    assert pcm.size == 4000 * 48
    assert audio.rms(pcm[2100 * 48 : 2900 * 48]) < 50
    assert audio.rms(pcm[100 * 48 : 1900 * 48]) > 4000 and audio.rms(pcm[3100 * 48 : 3900 * 48]) > 4000
    assert recordings.recording_finalise(space_id=live_space.pk) == "skipped"  # idempotent


# --- the mixer ---------------------------------------------------------------------------------------


def test_a_late_track_does_not_stall_the_mix_and_excluded_tracks_are_unheard():
    mixer = Mixer()
    a, b, c = mixer.add("ta", 1), mixer.add("tb", 2), mixer.add("tc", 3)
    one = np.full(FRAME, 1000, dtype=np.int16)
    for _ in range(3):
        a.push(one)
        c.push(one * 2)
    b.push(one[: FRAME // 2])  # b is late: not primed yet
    assert mixer.mix({1, 2, 3})[0].max() == 0  # nobody is mixed before consent is read again
    for sid in ("ta", "tb", "tc"):
        mixer.confirm(sid)
    for _ in range(2):
        a.push(one)
        c.push(one * 2)
    frame, energy = mixer.mix({1, 2})
    assert int(frame[0]) == 1000 and set(energy) == {1}  # a alone; c (3) declined; b not ready
    timeline = SpeakerTimeline()
    for i in range(50):
        timeline.feed(i * 20, {1: 5000.0 if i < 20 else 0.0})
    assert timeline.take_closed() == [(1, 0, 400)]


def test_readyz_shows_which_agent_holds_which_space(live_space, host, client):
    recordings.recording_set(space_id=live_space.pk, actor=host, on=True)
    recordings.agent_heartbeat(agent_id="a1", pid=1, hostname="h", livekit_ok=True, error="", spaces=1)
    recordings.agent_heartbeat(agent_id="a2", pid=2, hostname="h", livekit_ok=False, error="ConnectError", spaces=0)
    recordings.lease_acquire(space_id=live_space.pk, agent_id="a1")
    agents = {a["agent_id"]: a for a in client.get("/readyz").json()["agents"]}
    assert agents["a1"]["healthy"] and agents["a1"]["spaces"] == [live_space.pk]
    assert not agents["a2"]["healthy"] and agents["a2"]["last_error"] == "ConnectError"


def test_the_agent_is_never_a_participant(live_space):
    from rooms import livekit_client

    for kind in ("participant_joined", "participant_left"):
        event = livekit_client.WebhookEvent(
            id=kind, event=kind, room=live_space.livekit_room, identity=livekit_client.agent_identity("a1"),
            track_sid="", track_source="", created_at=0,
        )  # fmt: skip
        assert services.livekit_event_apply(event=event) == "ignored_identity"
    assert Space.objects.get(pk=live_space.pk).listener_count == 0
    assert not Participant.objects.filter(space=live_space).exclude(user=live_space.host).exists()
