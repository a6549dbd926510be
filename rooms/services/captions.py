"""Live captions and transcripts: the host's switch, each participant's consent, the captions the audio
agent publishes, the transcript (WebVTT, edits, deletion) and search by what was said.

The agent (``rooms/agent/captions_hook.py``) calls ``captions_plan`` and ``caption_publish`` (sync ORM
through ``sync_to_async``); people reach the rest through the API (``rooms/api/captions_views.py``).
A final caption is stored as a ``CaptionLine`` of the Space's recording, on the recording's timeline,
so it lines up with the replay and is deleted with it (retention follows the recording's).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q

from accounts.models import User
from rooms import events, selectors
from rooms.exceptions import CaptionLineNotFound, NotHost, SpaceNotScheduled
from rooms.models import CaptionLine, Participant, Recording, Space, SpaceState
from rooms.services._common import emit_stage, lock_space, participant_consent_flag_set, seq_next
from spaces_project.common.exceptions import ApplicationError
from spaces_project.realtime.events import send_event_on_commit

logger = logging.getLogger(__name__)

SNAPSHOT_LINES = 5  # final lines in the snapshot, so a late joiner sees some context
SEARCH_LIMIT = 20
RECENT_TTL_S = 6 * 3600  # the last lines of a Space captioned without recording (cache)


class TranscriptLineInvalid(ApplicationError):
    code = "caption_text_invalid"
    status_code = 400
    default_detail = "A transcript line needs 1 to 2000 characters."


class SearchQueryInvalid(ApplicationError):
    code = "search_query_invalid"
    status_code = 400
    default_detail = "Search for 2 to 200 characters."


# --- people: the host's switch and each participant's consent ---------------------------------------


@transaction.atomic
def captions_set(*, space_id: int, actor: User, on: bool) -> Space:
    """The host turns live captions on or off (scheduled or live). Publishes ``captions.updated``."""
    space = lock_space(space_id=space_id)
    if actor.pk != space.host_id:
        raise NotHost()
    if space.state not in (SpaceState.SCHEDULED, SpaceState.LIVE):
        raise SpaceNotScheduled("Captions can only be changed before or during a Space.")
    if space.captions == on:
        return space
    space.captions = on
    space.save(update_fields=["captions", "updated_at"])
    send_event_on_commit(events.CaptionsUpdated(space_id=space.pk, seq=seq_next(space), captions=on))
    logger.info("captions.set", extra={"space_id": space.pk, "on": on})
    return space


@transaction.atomic
def captions_consent_set(*, space_id: int, user: User, captions: bool) -> Participant:
    """A participant agrees (or declines) to be captioned; a declining speaker is never transcribed."""
    space, participant, changed = participant_consent_flag_set(
        space_id=space_id, user=user, field="captions_declined", declined=not captions
    )
    if changed and space.state == SpaceState.LIVE:
        emit_stage(space=space)
    return participant


# --- the agent -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptionsPlan:
    on: bool  # live, captions on
    declined: frozenset[int]  # users never to transcribe


def captions_plan(*, space_id: int) -> CaptionsPlan:
    space = Space.objects.filter(pk=space_id).values_list("state", "captions").first()
    declined = Participant.objects.filter(space_id=space_id, captions_declined=True).values_list("user_id", flat=True)
    return CaptionsPlan(on=bool(space and space[0] == SpaceState.LIVE and space[1]), declined=frozenset(declined))


def caption_publish(
    *, space_id: int, user_id: int, phrase: int, start_ms: int, end_ms: int, text: str, final: bool
) -> bool:
    """Publish one caption to the Space (a final one is also stored). Checked again here, against the
    current state: the Space is live with captions on and the speaker has not declined (a consent
    change between the agent's polls wins). Returns whether it was published."""
    with transaction.atomic():
        space = lock_space(space_id=space_id)
        if space.state != SpaceState.LIVE or not space.captions:
            return False
        participant = Participant.objects.select_related("user").filter(space=space, user_id=user_id).first()
        if participant is None or participant.captions_declined:
            return False
        text = text[:2000]
        line_id = None
        recording = Recording.objects.filter(space=space).first() if final else None
        if recording is not None:
            line = CaptionLine.objects.create(
                recording=recording, space=space, user_id=user_id, start_ms=start_ms, end_ms=end_ms, text=text
            )
            line_id = line.pk
        caption = events.Caption(
            space_id=space.pk,
            seq=seq_next(space),
            id=line_id,
            phrase=phrase,
            user_id=user_id,
            username=participant.user.username,
            display_name=participant.user.display_name,
            start_ms=start_ms,
            end_ms=end_ms,
            text=text,
            final=final,
        )
        if final and recording is None:
            # Captioned, not recorded: no transcript is kept (it belongs to a recording), only the last
            # few lines, in the cache, for the snapshot.
            recent = cache.get(_recent_key(space.pk)) or []
            cache.set(_recent_key(space.pk), [*recent, caption.data()][-SNAPSHOT_LINES:], timeout=RECENT_TTL_S)
        send_event_on_commit(caption)
    return True


def _recent_key(space_id: int) -> str:
    return f"captions:recent:{space_id}"


# --- reading: snapshot, transcript, WebVTT ---------------------------------------------------------------


def _line(line: CaptionLine) -> dict[str, Any]:
    return {
        "id": line.pk,
        "user_id": line.user_id,
        "username": line.user.username,
        "display_name": line.user.display_name,
        "start_ms": line.start_ms,
        "end_ms": line.end_ms,
        "text": line.text,
        "final": True,
    }


def recent_lines(*, space: Space) -> list[dict[str, Any]]:
    """The last few final captions of a live Space with captions on (the snapshot's ``captions``)."""
    if not space.captions or space.state != SpaceState.LIVE:
        return []
    if not Recording.objects.filter(space=space).exists():
        return list(cache.get(_recent_key(space.pk)) or [])
    rows = CaptionLine.objects.filter(space=space).select_related("user").order_by("-start_ms")[:SNAPSHOT_LINES]
    return [_line(line) for line in reversed(list(rows))]


def transcript(*, recording: Recording) -> list[dict[str, Any]]:
    rows = CaptionLine.objects.filter(recording=recording).select_related("user").order_by("start_ms", "pk")
    return [_line(line) for line in rows]


def _vtt_time(ms: int) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, milli = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{milli:03d}"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webvtt(*, recording: Recording) -> str:
    """The transcript as WebVTT, on the replay's timeline, one cue per line with the speaker as voice."""
    out = ["WEBVTT", ""]
    for line in transcript(recording=recording):
        end = max(line["end_ms"], line["start_ms"] + 500)
        name = _vtt_escape(line["display_name"] or line["username"]).replace(">", "")
        out += [
            str(line["id"]),
            f"{_vtt_time(line['start_ms'])} --> {_vtt_time(end)}",
            f"<v {name}>{_vtt_escape(line['text'])}",
            "",
        ]
    return "\n".join(out)


# --- the host edits or deletes ----------------------------------------------------------------------------


def _host_line(*, space_id: int, actor: User, line_id: int | None) -> tuple[Space, CaptionLine | None]:
    space = selectors.space_get(space_id=space_id)
    if actor.pk != space.host_id:
        raise NotHost()
    if line_id is None:
        return space, None
    line = CaptionLine.objects.select_related("user").filter(space=space, pk=line_id).first()
    if line is None:
        raise CaptionLineNotFound()
    return space, line


def line_edit(*, space_id: int, actor: User, line_id: int, text: str) -> dict[str, Any]:
    text = " ".join(text.split())
    if not 1 <= len(text) <= 2000:
        raise TranscriptLineInvalid()
    _space, line = _host_line(space_id=space_id, actor=actor, line_id=line_id)
    assert line is not None
    line.text, line.edited = text, True
    line.save(update_fields=["text", "edited"])
    return _line(line)


def line_delete(*, space_id: int, actor: User, line_id: int) -> None:
    _space, line = _host_line(space_id=space_id, actor=actor, line_id=line_id)
    assert line is not None
    line.delete()


def transcript_delete(*, space_id: int, actor: User) -> int:
    space, _ = _host_line(space_id=space_id, actor=actor, line_id=None)
    deleted, _ = CaptionLine.objects.filter(space=space).delete()
    return deleted


# --- search by what was said ---------------------------------------------------------------------------


def search(*, query: str, user: User, limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
    """Spaces (live and replays) whose transcript matches ``query``, best first, each with the moment
    (``/s/<id>?t=<seconds>``). PostgreSQL: full-text search (English stemming, GIN index); SQLite:
    every word must appear (``icontains``). Only Spaces ``user`` may hear are returned."""
    query = " ".join(query.split())
    if not 2 <= len(query) <= 200:
        raise SearchQueryInvalid()
    rows = CaptionLine.objects.select_related("space", "user").filter(
        space__state__in=(SpaceState.LIVE, SpaceState.ENDED)
    )
    candidates: list[CaptionLine]
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        vector = SearchVector("text", config="english")
        sq = SearchQuery(query, config="english", search_type="websearch")
        # Matches the GIN index of migration 0007 (to_tsvector('english', COALESCE(text, ''))).
        ranked = rows.annotate(search=vector, rank=SearchRank(vector, sq)).filter(search=sq)
        candidates = list(ranked.order_by("-rank", "-space__started_at", "start_ms")[: limit * 5])  # type: ignore[arg-type]
    else:
        condition = Q()
        for word in query.split():
            condition &= Q(text__icontains=word)
        candidates = list(rows.filter(condition).order_by("-space__started_at", "start_ms")[: limit * 5])
    results: list[dict[str, Any]] = []
    seen: set[int] = set()
    for line in candidates:
        if line.space_id in seen or not _may_hear(space=line.space, user=user):
            continue
        seen.add(line.space_id)
        seconds = line.start_ms // 1000
        results.append(
            {
                "space_id": line.space_id,
                "title": line.space.title,
                "state": line.space.state,
                "line": _line(line),
                "t": seconds,
                "url": f"{settings.SPACES_PUBLIC_URL}/s/{line.space_id}?t={seconds}",
            }
        )
        if len(results) >= limit:
            break
    return results


def _may_hear(*, space: Space, user: User) -> bool:
    try:
        if space.state == SpaceState.LIVE:
            selectors.access_space_for_join(space=space, user=user)
        else:
            selectors.recording_visible(space_id=space.pk, user=user)
    except ApplicationError:
        return False
    return True
