"""Clips: up to 60 s cut from a recording's parts, live (the last minutes) or from the replay."""

from __future__ import annotations

import logging
import uuid

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max

from accounts.models import User
from rooms import audio, selectors
from rooms.exceptions import ClipNotFound, ClipsDisabled, InvalidClipRange, RecordingNotReady
from rooms.models import Clip, Recording, RecordingPart, RecordingState
from rooms.services.recordings import join_window, ogg_store

logger = logging.getLogger(__name__)

MAX_CLIP_MS = 60_000
LIVE_WINDOW_MS = 5 * 60_000  # a live clip comes from the last five minutes


def _recorded_until_ms(recording: Recording) -> int:
    if recording.state == RecordingState.READY:
        return recording.duration_ms
    last = RecordingPart.objects.filter(recording=recording).aggregate(end=Max("start_ms"))["end"]
    if last is None:
        return 0
    part = RecordingPart.objects.filter(recording=recording, start_ms=last).first()
    return last + (part.duration_ms if part else 0)


def _window(recording: Recording, *, start_ms: int | None, end_ms: int | None, last_s: int | None) -> tuple[int, int]:
    until = _recorded_until_ms(recording)
    if last_s is not None:  # live: the last N seconds recorded so far
        if recording.state != RecordingState.RECORDING:
            raise InvalidClipRange("`last_s` is for a Space that is being recorded; give start_ms and end_ms.")
        end = until
        start = max(0, end - last_s * 1000)
    else:
        if start_ms is None or end_ms is None:
            raise InvalidClipRange("Give start_ms and end_ms, or last_s while live.")
        start, end = start_ms, end_ms
        if recording.state == RecordingState.RECORDING and start < until - LIVE_WINDOW_MS:
            raise InvalidClipRange("While live, a clip comes from the last five minutes.")
    if not (0 <= start < end <= until) or end - start > MAX_CLIP_MS:
        raise InvalidClipRange(extra={"recorded_ms": until, "max_ms": MAX_CLIP_MS})
    return start, end


def clip_create(
    *,
    space_id: int,
    user: User,
    start_ms: int | None = None,
    end_ms: int | None = None,
    last_s: int | None = None,
    title: str = "",
) -> Clip:
    """Cut a clip (anyone who may hear the recording; the host can turn clips off). Synchronous: a clip
    is at most 60 s, decoded from a few parts and encoded in well under a second."""
    recording = selectors.recording_visible(space_id=space_id, user=user)
    if not recording.space.clips_enabled:
        raise ClipsDisabled()
    if recording.state not in (RecordingState.RECORDING, RecordingState.READY):
        raise RecordingNotReady(extra={"state": recording.state})
    start, end = _window(recording, start_ms=start_ms, end_ms=end_ms, last_s=last_s)
    parts = list(RecordingPart.objects.filter(recording=recording, start_ms__lt=end).order_by("start_ms", "created_at"))

    def write(tmp_path: str) -> None:
        writer = audio.OpusWriter(tmp_path)
        join_window(parts, writer, start_ms=start, end_ms=end)
        writer.close()

    name = f"recordings/{space_id}/{recording.pk}/clips/{uuid.uuid4().hex}.ogg"
    _, path, size = ogg_store(name=name, write=write)
    with transaction.atomic():
        if not Recording.objects.filter(pk=recording.pk).exists():  # deleted meanwhile
            transaction.on_commit(lambda: default_storage.delete(path))
            raise ClipNotFound()
        clip = Clip.objects.create(
            recording=recording,
            space_id=space_id,
            creator=user,
            title=title.strip(),
            start_ms=start,
            end_ms=end,
            file=path,
            size_bytes=size,
        )
    logger.info("clip.created", extra={"space_id": space_id, "clip_id": clip.pk, "ms": end - start})
    return clip


def clip_visible(*, clip_id: int, user: User | None) -> Clip:
    """The clip if ``user`` may hear its recording (the recording's rules). Clips are made to be shared:
    anyone, signed in or not, may hear a clip of a Space that was not ticketed (bans and blocks still
    apply to those signed in); a ticketed Space's clips need what its replay needs."""
    from tickets.models import TicketOffer

    clip = Clip.objects.select_related("space__host", "creator").filter(pk=clip_id).first()
    if clip is None or clip.space.host.suspension_active:
        raise ClipNotFound()
    if user is not None:
        selectors.recording_visible(space_id=clip.space_id, user=user)
    elif TicketOffer.objects.filter(space_id=clip.space_id).exists():
        from rest_framework.exceptions import NotAuthenticated

        raise NotAuthenticated()
    return clip
