"""Replays: serving the file in byte ranges, counting plays, deleting (host, retention)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from rooms.exceptions import NotHost, RangeNotSatisfiable, RecordingInProgress, RecordingNotFound, RecordingNotReady
from rooms.models import Clip, Recording, RecordingPart, RecordingState, Space
from spaces_project.common.text import BIGINT_MAX

logger = logging.getLogger(__name__)

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 64 * 1024


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive
    size: int
    partial: bool

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def byte_range(header: str, size: int) -> ByteRange:
    """Parse a single ``Range: bytes=a-b`` header (RFC 9110). Anything else is served whole; a range that
    starts past the end raises ``range_not_satisfiable`` (416)."""
    match = RANGE.match(header.strip()) if header else None
    if match is None or size == 0 or (not match.group(1) and not match.group(2)):
        return ByteRange(0, max(0, size - 1), size, False)
    first, last = match.group(1), match.group(2)
    if not first:  # the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(extra={"size": size})
    return ByteRange(start, end, size, True)


def file_stream(*, name: str, rng: ByteRange) -> Iterator[bytes]:
    """The bytes of ``rng`` of a stored file, in chunks."""
    with default_storage.open(name, "rb") as fh:
        fh.seek(rng.start)
        left = rng.length
        while left > 0:
            data = fh.read(min(CHUNK, left))
            if not data:
                return
            left -= len(data)
            yield data


def replay_open(*, recording: Recording, range_header: str) -> ByteRange:
    """Check the replay can be served and count a play when it starts from the beginning."""
    if recording.state != RecordingState.READY or not recording.file:
        raise RecordingNotReady(extra={"state": recording.state})
    rng = byte_range(range_header, recording.size_bytes)
    if rng.start == 0:
        Recording.objects.filter(pk=recording.pk).update(play_count=F("play_count") + 1)
    return rng


def _files_of(recording: Recording) -> list[str]:
    files = list(RecordingPart.objects.filter(recording=recording).values_list("file", flat=True))
    if recording.file:
        files.append(recording.file)
    files += [c.file for c in Clip.objects.filter(space_id=recording.space_id).exclude(file="")]
    return files


def _delete_files(files: list[str]) -> None:
    for name in files:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("recording.file_delete_failed", extra={"file": name})


@transaction.atomic
def recording_delete(*, space_id: int, actor: User) -> None:
    """The host deletes the recording, its parts, timeline and clips, and their files (after commit)."""
    if space_id > BIGINT_MAX:  # no such row; SQLite would raise on binding it (OverflowError)
        raise RecordingNotFound()
    space = Space.objects.select_for_update().filter(pk=space_id).first()
    recording = Recording.objects.select_for_update().filter(space_id=space_id).first()
    if space is None or recording is None:
        raise RecordingNotFound()
    if actor.pk != space.host_id:
        raise NotHost()
    if recording.state == RecordingState.RECORDING:
        raise RecordingInProgress()
    _purge(recording)


def _purge(recording: Recording) -> None:
    files = _files_of(recording)
    Clip.objects.filter(space_id=recording.space_id).delete()
    recording.delete()
    transaction.on_commit(lambda: _delete_files(files))
    logger.info("recording.deleted", extra={"space_id": recording.space_id, "files": len(files)})


def recordings_expire(*, now: datetime | None = None) -> int:
    """Delete recordings (and files, and clips) of Spaces that ended more than the retention ago."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.SPACES_RECORDING_RETENTION_DAYS)
    expired = 0
    for pk in Recording.objects.filter(ended_at__lt=cutoff).values_list("pk", flat=True):
        with transaction.atomic():
            recording = Recording.objects.select_for_update().filter(pk=pk).first()
            if recording is not None:
                _purge(recording)
                expired += 1
    return expired


def agents_forget_gone(*, older_than_s: int = 86400) -> int:
    """Drop the heartbeat rows of agents gone for a day (a killed agent cannot remove its own)."""
    from rooms.models import AgentWorker

    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    deleted, _ = AgentWorker.objects.filter(heartbeat_at__lt=cutoff).delete()
    return deleted
