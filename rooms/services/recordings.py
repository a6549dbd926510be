"""Recording with consent: the host's switch, each participant's consent, the audio agents' leases,
the parts they store, the speaker timeline, and the replay made from the parts when the Space ends.

The agent (``rooms/agent/``) calls the ``agent_*``, ``lease_*`` and ``*_store`` functions (sync ORM, run
through ``sync_to_async``); people reach the rest through the API.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from accounts.models import User
from rooms import audio, events
from rooms.exceptions import NotHost, SpaceNotScheduled
from rooms.models import (
    STAGE_ROLES,
    AgentLease,
    AgentWorker,
    Participant,
    Recording,
    RecordingPart,
    RecordingState,
    Space,
    SpaceState,
    SpeakerSegment,
)
from rooms.services import agent_jobs
from rooms.services._common import emit_stage, lock_space, participant_consent_flag_set, seq_next
from spaces_project.common.handoff import enqueue_on_commit
from spaces_project.realtime.events import send_event_on_commit

logger = logging.getLogger(__name__)


# --- people: the host's switch and each participant's consent ---------------------------------------


def recording_ensure(*, space: Space) -> Recording:
    """The live Space's recording row (created the first time recording is on while live)."""
    recording, _ = Recording.objects.get_or_create(space=space, defaults={"started_at": timezone.now()})
    return recording


@transaction.atomic
def recording_set(*, space_id: int, actor: User, on: bool) -> Space:
    """The host turns recording on or off (scheduled or live). Publishes ``recording.updated`` if it changed."""
    space = lock_space(space_id=space_id)
    if actor.pk != space.host_id:
        raise NotHost()
    if space.state not in (SpaceState.SCHEDULED, SpaceState.LIVE):
        raise SpaceNotScheduled("Recording can only be changed before or during a Space.")
    if space.record == on:
        return space
    space.record = on
    space.save(update_fields=["record", "updated_at"])
    if on and space.state == SpaceState.LIVE:
        recording_ensure(space=space)
    send_event_on_commit(events.RecordingUpdated(space_id=space.pk, seq=seq_next(space), recording=on))
    logger.info("recording.set", extra={"space_id": space.pk, "on": on})
    return space


@transaction.atomic
def recording_consent_set(*, space_id: int, user: User, record: bool) -> Participant:
    """A participant agrees (or declines) to be recorded; a declining speaker is left out of the mix.

    Allowed to anyone who has joined, before or while on stage; the agent applies it within its poll.
    """
    space, participant, changed = participant_consent_flag_set(
        space_id=space_id, user=user, field="recording_declined", declined=not record
    )
    if changed and participant.role in STAGE_ROLES and space.state == SpaceState.LIVE:
        emit_stage(space=space)
    return participant


def on_space_live(*, space: Space) -> None:
    """Called when a Space goes live (in its transaction)."""
    if space.record:
        recording_ensure(space=space)


def on_space_end(*, space: Space) -> None:
    """Called when a live Space ends (in its transaction): the recording waits for its agent, then is joined."""
    now = timezone.now()
    updated = Recording.objects.filter(space=space, state=RecordingState.RECORDING).update(
        state=RecordingState.PROCESSING, ended_at=now, updated_at=now
    )
    if updated:
        recording_finalise_later(space_id=space.pk)


def recording_finalise_later(*, space_id: int, countdown: float = 0) -> None:
    from rooms import tasks

    enqueue_on_commit(
        "recording_finalise", lambda: tasks.recording_finalise.apply_async((space_id,), countdown=countdown)
    )


# --- agents: leases ----------------------------------------------------------------------------------


def _lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.SPACES_AGENT_LEASE_S)


def spaces_needing_agent(*, limit: int, captions: bool = True) -> list[int]:
    """Live Spaces that need an agent (``agent_jobs``: recording or captions on) whose lease is missing or
    expired (oldest first). ``captions=False``: not those needing it for captions only."""
    held = AgentLease.objects.filter(space_id=OuterRef("pk"), expires_at__gt=timezone.now())
    needed = agent_jobs.needs_agent_q(captions=captions)
    qs = Space.objects.filter(needed).exclude(Exists(held)).order_by("started_at")
    return list(qs.values_list("pk", flat=True)[:limit])


def lease_acquire(*, space_id: int, agent_id: str) -> int | None:
    """Take the Space if nobody holds it; returns the new epoch, or None. Two agents never both win:
    the row is created once (unique) and taken over only by an UPDATE conditional on expiry."""
    now = timezone.now()
    try:
        with transaction.atomic():
            AgentLease.objects.create(
                space_id=space_id, agent_id=agent_id, epoch=1, acquired_at=now, expires_at=_lease_until(now)
            )
            return 1
    except IntegrityError:
        pass
    taken = AgentLease.objects.filter(Q(expires_at__lte=now) | Q(agent_id=""), space_id=space_id).update(
        agent_id=agent_id, epoch=F("epoch") + 1, acquired_at=now, expires_at=_lease_until(now)
    )
    if not taken:
        return None
    lease = AgentLease.objects.get(space_id=space_id)
    return lease.epoch if lease.agent_id == agent_id else None


def lease_renew(*, space_id: int, agent_id: str, epoch: int) -> bool:
    """Extend our lease; False if it was lost (expired and taken): stop serving the Space at once."""
    now = timezone.now()
    return bool(
        AgentLease.objects.filter(space_id=space_id, agent_id=agent_id, epoch=epoch).update(
            expires_at=_lease_until(now)
        )
    )


def lease_release(*, space_id: int, agent_id: str, epoch: int) -> None:
    AgentLease.objects.filter(space_id=space_id, agent_id=agent_id, epoch=epoch).update(
        agent_id="", expires_at=timezone.now()
    )


def agent_heartbeat(*, agent_id: str, pid: int, hostname: str, livekit_ok: bool, error: str, spaces: int) -> None:
    now = timezone.now()
    AgentWorker.objects.update_or_create(
        agent_id=agent_id,
        defaults={
            "pid": pid,
            "hostname": hostname[:200],
            "heartbeat_at": now,
            "livekit_ok": livekit_ok,
            "last_error": error[:500],
            "spaces": spaces,
        },
        create_defaults={
            "pid": pid,
            "hostname": hostname[:200],
            "started_at": now,
            "heartbeat_at": now,
            "livekit_ok": livekit_ok,
            "last_error": error[:500],
            "spaces": spaces,
        },
    )


def agent_gone(*, agent_id: str) -> None:
    AgentWorker.objects.filter(agent_id=agent_id).delete()


@dataclass(frozen=True)
class AgentPlan:
    """What the agent needs to know about one Space, re-read every poll."""

    needed: bool  # still live and needing some job of the agent
    room: str
    recording_id: int | None
    started_at: datetime | None  # the recording's start (the captions' clock); the Space's if not recorded
    consenting: frozenset[int]  # stage members who have not declined
    jobs: frozenset[str] = frozenset()  # agent_jobs: "record", "captions"

    @property
    def record(self) -> bool:
        return agent_jobs.RECORD in self.jobs

    @property
    def hls(self) -> bool:  # encode the live mix as HLS (rooms/agent/hls.py)
        return agent_jobs.HLS in self.jobs


def agent_plan(*, space_id: int) -> AgentPlan:
    space = Space.objects.filter(pk=space_id).first()
    if space is None:
        return AgentPlan(False, "", None, None, frozenset())
    recording = Recording.objects.filter(space=space).first()
    consenting = Participant.objects.filter(space=space, role__in=STAGE_ROLES, recording_declined=False)
    jobs = agent_jobs.space_jobs(space=space, recording=recording)
    return AgentPlan(
        needed=bool(jobs),
        room=space.livekit_room,
        recording_id=recording.pk if recording else None,
        started_at=recording.started_at if recording else space.started_at,
        consenting=frozenset(consenting.values_list("user_id", flat=True)),
        jobs=jobs,
    )


# --- agents: what they store -------------------------------------------------------------------------


def part_store(
    *, space_id: int, agent_id: str, epoch: int, recording_id: int, start_ms: int, duration_ms: int, data: bytes
) -> bool:
    """Store one encoded part if we still hold the Space's lease (else drop it: another agent has it)."""
    name = f"recordings/{space_id}/{recording_id}/parts/{start_ms:012d}-{epoch}-{uuid.uuid4().hex[:6]}.ogg"
    path = default_storage.save(name, ContentFile(data))
    with transaction.atomic():
        held = AgentLease.objects.select_for_update().filter(space_id=space_id, agent_id=agent_id, epoch=epoch)
        if not held.exists():
            transaction.on_commit(lambda: default_storage.delete(path))
            return False
        RecordingPart.objects.create(
            recording_id=recording_id,
            agent_id=agent_id,
            session=epoch,
            start_ms=start_ms,
            duration_ms=duration_ms,
            file=path,
            size_bytes=len(data),
        )
    return True


def segments_store(*, recording_id: int, segments: list[tuple[int, int, int]]) -> None:
    """Append closed speaker segments ``(user_id, start_ms, end_ms)``."""
    rows = [SpeakerSegment(recording_id=recording_id, user_id=u, start_ms=s, end_ms=e) for u, s, e in segments if e > s]
    SpeakerSegment.objects.bulk_create(rows)


# --- the replay ----------------------------------------------------------------------------------------


def recording_finalise(*, space_id: int) -> str:
    """Join the parts into one Ogg Opus replay (silence where no agent was recording). Idempotent.

    Waits (returns ``"wait"``) while an agent still holds the Space's lease: it is storing the last part.
    """
    recording = Recording.objects.filter(space_id=space_id).first()
    if recording is None or recording.state != RecordingState.PROCESSING:
        return "skipped"
    if AgentLease.objects.filter(space_id=space_id, expires_at__gt=timezone.now()).exclude(agent_id="").exists():
        return "wait"
    parts = list(RecordingPart.objects.filter(recording=recording).order_by("start_ms", "created_at"))
    if not parts:
        Recording.objects.filter(pk=recording.pk).update(state=RecordingState.FAILED, updated_at=timezone.now())
        return "empty"
    name = f"recordings/{space_id}/{recording.pk}/replay-{uuid.uuid4().hex[:8]}.ogg"
    samples, path, size = ogg_store(name=name, write=lambda tmp_path: _join_parts(parts, tmp_path))
    now = timezone.now()
    Recording.objects.filter(pk=recording.pk, state=RecordingState.PROCESSING).update(
        state=RecordingState.READY,
        file=path,
        size_bytes=size,
        duration_ms=samples // audio.SAMPLES_PER_MS,
        ready_at=now,
        updated_at=now,
    )
    logger.info("recording.ready", extra={"space_id": space_id, "duration_ms": samples // audio.SAMPLES_PER_MS})
    return "ready"


T = TypeVar("T")


def ogg_store(*, name: str, write: Callable[[str], T]) -> tuple[T, str, int]:
    """Have ``write(path)`` fill a temporary Ogg file, store it as ``name``; ``(write's result, stored path, size)``.

    The temporary file is removed whatever happens."""
    with tempfile.NamedTemporaryFile(suffix=".ogg", delete=False) as tmp:
        tmp_path = tmp.name
    try:
        result = write(tmp_path)
        with open(tmp_path, "rb") as fh:
            path = default_storage.save(name, File(fh))
        return result, path, os.path.getsize(tmp_path)
    finally:
        os.unlink(tmp_path)


def _join_parts(parts: list[RecordingPart], out_path: str) -> int:
    """Lay the parts on the timeline in order; gaps become silence, overlaps keep the earlier audio.

    Copies the parts' Opus packets (``audio.OpusRemuxer``) instead of decoding and re-encoding: an hour
    joins in about a second instead of minutes."""
    remuxer = audio.OpusRemuxer(out_path)
    end = 0
    for part in parts:
        start = part.start_ms * audio.SAMPLES_PER_MS
        samples = part.duration_ms * audio.SAMPLES_PER_MS
        with default_storage.open(part.file, "rb") as fh:
            remuxer.add_part(fh, start=start, samples=samples)
        end = max(end, start + samples)
    return remuxer.close(end=end)


def join_window(parts: list[RecordingPart], writer: audio.OpusWriter, *, start_ms: int, end_ms: int | None) -> int:
    """Write the timeline's ``[start_ms, end_ms)`` (to the last part's end if None) from ``parts`` (sorted by
    start); returns the samples written. Also used for clips."""
    first = start_ms * audio.SAMPLES_PER_MS
    last = None if end_ms is None else end_ms * audio.SAMPLES_PER_MS
    cursor = first  # timeline position (samples) written up to
    for part in parts:
        part_start = part.start_ms * audio.SAMPLES_PER_MS
        if last is not None and part_start >= last:
            break
        if part_start + part.duration_ms * audio.SAMPLES_PER_MS <= cursor:
            continue
        if part_start > cursor:
            writer.write_silence(part_start - cursor)
            cursor = part_start
        position = part_start
        with default_storage.open(part.file, "rb") as fh:
            for block in audio.decode_blocks(fh):
                lo, hi = (
                    max(cursor, position),
                    position + block.size if last is None else min(last, position + block.size),
                )
                if hi > lo:
                    writer.write(block[lo - position : hi - position])
                    cursor = hi
                position += block.size
    if last is not None and cursor < last:
        writer.write_silence(last - cursor)
        cursor = last
    return cursor - first


def recordings_finalise_stuck(*, older_than_s: float = 60) -> list[int]:
    """Beat sweep: finalise recordings whose hand-off was lost (processing for a while, no lease)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    ids = list(
        Recording.objects.filter(state=RecordingState.PROCESSING, ended_at__lte=cutoff).values_list(
            "space_id", flat=True
        )
    )
    return [space_id for space_id in ids if recording_finalise(space_id=space_id) == "ready"]
