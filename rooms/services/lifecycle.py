"""Space lifecycle: create (now or scheduled), edit/reschedule, start, end, cancel, auto-end."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.exceptions import AccountSuspended, NotEligible
from accounts.models import User
from accounts.selectors import host_eligibility
from rooms import events, summary
from rooms.discovery.services.notifications import reminders_notify_on_commit
from rooms.exceptions import HostAlreadyLive, InvalidSchedule, NotHost, SpaceNotScheduled
from rooms.models import (
    HandRaise,
    HandState,
    Invitation,
    InvitationState,
    NotificationKind,
    Participant,
    Role,
    Space,
    SpaceState,
)
from rooms.services import recordings
from rooms.services._common import audit, livekit_close_room, lock_space, seq_next
from spaces_project.realtime.events import send_event_on_commit

logger = logging.getLogger(__name__)

MAX_TOPICS = 3
MAX_TOPIC_LEN = 30


def now_iso(value: datetime | None) -> str:
    return (value or timezone.now()).isoformat()


def _check_host(*, user: User) -> None:
    eligibility = host_eligibility(user=user)
    if eligibility["reason"] == "account_suspended":
        raise AccountSuspended()
    if not eligibility["can_host"]:
        raise NotEligible(
            extra={"followers": eligibility["followers"], "threshold": eligibility["threshold"]},
        )


def _check_schedule(scheduled_start: datetime) -> None:
    now = timezone.now()
    limit = now + timedelta(days=settings.SPACES_MAX_SCHEDULE_DAYS)
    if scheduled_start <= now or scheduled_start > limit:
        raise InvalidSchedule(
            f"A Space can be scheduled from now up to {settings.SPACES_MAX_SCHEDULE_DAYS} days ahead.",
            extra={"max_days": settings.SPACES_MAX_SCHEDULE_DAYS},
        )


def _clean_topics(topics: list[str]) -> list[str]:
    from spaces_project.common.exceptions import ApplicationError

    cleaned: list[str] = []
    for topic in topics:
        t = topic.strip().lower()
        if t and t not in cleaned:
            cleaned.append(t)
    if len(cleaned) > MAX_TOPICS or any(len(t) > MAX_TOPIC_LEN for t in cleaned):
        raise ApplicationError(
            f"Up to {MAX_TOPICS} topics of at most {MAX_TOPIC_LEN} characters.",
            code="invalid_input",
            extra={"fields": {"topics": [f"Up to {MAX_TOPICS} topics of at most {MAX_TOPIC_LEN} characters."]}},
        )
    return cleaned


def _go_live(*, space: Space) -> None:
    """Make ``space`` live (row locked or new): host participant, start time, absence clock."""
    now = timezone.now()
    space.state = SpaceState.LIVE
    space.started_at = now
    space.host_team_absent_since = now  # nobody is connected yet; the host's join clears it
    try:
        with transaction.atomic():
            space.save()
    except IntegrityError:
        raise HostAlreadyLive() from None
    Participant.objects.update_or_create(space=space, user_id=space.host_id, defaults={"role": Role.HOST})
    recordings.on_space_live(space=space)


@transaction.atomic
def space_create(
    *,
    host: User,
    title: str,
    description: str = "",
    topics: list[str] | None = None,
    scheduled_start: datetime | None = None,
    listener_cap: int | None = None,
    guests_allowed: bool = False,
    record: bool = False,
) -> Space:
    """Create a Space that is live now (no ``scheduled_start``) or scheduled up to 14 days ahead.

    Raises ``not_eligible`` (with follower count and threshold), ``host_already_live``,
    ``invalid_schedule``. A live Space publishes nothing (nobody can be connected yet).
    """
    _check_host(user=host)
    space = Space(
        host=host,
        title=title.strip(),
        description=description.strip(),
        topics=_clean_topics(topics or []),
        listener_cap=settings.SPACES_DEFAULT_LISTENER_CAP if listener_cap is None else listener_cap,
        scheduled_start=scheduled_start,
        guests_allowed=guests_allowed,
        record=record,
    )
    if scheduled_start is not None:
        _check_schedule(scheduled_start)
        space.save()
    else:
        if Space.objects.filter(host=host, state=SpaceState.LIVE).exists():
            raise HostAlreadyLive()
        _go_live(space=space)
    logger.info("space.created", extra={"space_id": space.pk, "host_id": host.pk, "state": space.state})
    return space


# Plain fields the host may edit, each with how its value is cleaned (validated by the API serializer).
_EDITABLE: dict[str, Any] = {
    "title": lambda value: str(value).strip(),
    "description": lambda value: str(value).strip(),
    "topics": lambda value: _clean_topics(list(value)),
    "listener_cap": int,
    "guests_allowed": bool,
    "clips_enabled": bool,
}


@transaction.atomic
def space_update(*, space_id: int, actor: User, **fields: Any) -> Space:
    """Edit title, description, topics, listener cap; reschedule (scheduled Spaces only, keeps RSVPs)."""
    space = lock_space(space_id=space_id)
    if actor.pk != space.host_id:
        raise NotHost()
    if space.state in (SpaceState.ENDED, SpaceState.CANCELED):
        raise SpaceNotScheduled("An ended or canceled Space cannot be edited.")
    changed: list[str] = []
    if "scheduled_start" in fields:
        if space.state != SpaceState.SCHEDULED or fields["scheduled_start"] is None:
            raise SpaceNotScheduled("Only a scheduled Space can be rescheduled.")
        _check_schedule(fields["scheduled_start"])
        space.scheduled_start = fields["scheduled_start"]
        changed.append("scheduled_start")
    for name, clean in _EDITABLE.items():
        if name in fields:
            setattr(space, name, clean(fields[name]))
            changed.append(name)
    if changed:
        space.save(update_fields=[*changed, "updated_at"])
        data = {name: getattr(space, name) for name in changed}
        if "scheduled_start" in data and data["scheduled_start"] is not None:
            data["scheduled_start"] = data["scheduled_start"].isoformat()
        send_event_on_commit(events.SpaceUpdated(space_id=space.pk, seq=seq_next(space), **data))
        if "scheduled_start" in changed:
            reminders_notify_on_commit(space_id=space.pk, kind=NotificationKind.SPACE_RESCHEDULED, key=str(space.seq))
            # Ticketed Spaces (tickets app): tickets are kept; tell their holders the new time.
            from tickets.services import space_rescheduled_notify_holders

            space_rescheduled_notify_holders(space_id=space.pk, scheduled_start=data["scheduled_start"])
    return space


@transaction.atomic
def space_start(*, space_id: int, actor: User) -> Space:
    """Host starts a scheduled Space. Publishes ``space.started``."""
    space = lock_space(space_id=space_id)
    if actor.pk != space.host_id:
        raise NotHost()
    if space.state != SpaceState.SCHEDULED:
        raise SpaceNotScheduled("Only a scheduled Space can be started.")
    _check_host(user=actor)
    if Space.objects.filter(host_id=space.host_id, state=SpaceState.LIVE).exists():
        raise HostAlreadyLive()
    _go_live(space=space)
    send_event_on_commit(
        events.SpaceStarted(space_id=space.pk, seq=seq_next(space), started_at=now_iso(space.started_at))
    )
    reminders_notify_on_commit(space_id=space.pk, kind=NotificationKind.SPACE_STARTED)
    logger.info("space.started", extra={"space_id": space.pk})
    return space


def _close(*, space: Space, state: str) -> None:
    now = timezone.now()
    space.state = state
    space.ended_at = now
    space.listener_count = 0
    space.host_team_absent_since = None
    space.save(update_fields=["state", "ended_at", "listener_count", "host_team_absent_since", "updated_at"])
    Participant.objects.filter(space=space, is_connected=True).update(
        is_connected=False, is_speaking=False, left_at=now
    )
    HandRaise.objects.filter(space=space, state=HandState.RAISED).update(state=HandState.LOWERED, resolved_at=now)
    Invitation.objects.filter(space=space, state=InvitationState.PENDING).update(
        state=InvitationState.CANCELED, responded_at=now
    )


@transaction.atomic
def space_end(*, space_id: int, actor: User | None, reason: str = "", actor_role: str = "host") -> Space:
    """End a live Space: host only (``actor=None`` for the system). Closes the LiveKit room on commit.

    Publishes ``space.ended``; writes an ``end`` audit row; every participant is disconnected.
    """
    space = lock_space(space_id=space_id)
    if actor is not None and actor_role == "host" and actor.pk != space.host_id:
        raise NotHost()
    if space.state != SpaceState.LIVE:
        from rooms.exceptions import SpaceNotLive

        raise SpaceNotLive()
    _close(space=space, state=SpaceState.ENDED)
    summary.on_space_end(space=space)
    audit(space=space, actor=actor, actor_role=actor_role if actor else "system", action="end", reason=reason)
    send_event_on_commit(
        events.SpaceEnded(space_id=space.pk, seq=seq_next(space), reason=reason, ended_at=now_iso(space.ended_at))
    )
    livekit_close_room(space=space)
    recordings.on_space_end(space=space)
    logger.info("space.ended", extra={"space_id": space.pk, "reason": reason})
    return space


@transaction.atomic
def space_cancel(*, space_id: int, actor: User) -> Space:
    """Cancel a scheduled Space (host only). Publishes ``space.ended`` with ``canceled``."""
    space = lock_space(space_id=space_id)
    if actor.pk != space.host_id:
        raise NotHost()
    if space.state != SpaceState.SCHEDULED:
        raise SpaceNotScheduled("Only a scheduled Space can be canceled.")
    _close(space=space, state=SpaceState.CANCELED)
    send_event_on_commit(
        events.SpaceEnded(space_id=space.pk, seq=seq_next(space), reason="canceled", ended_at=now_iso(space.ended_at))
    )
    reminders_notify_on_commit(space_id=space.pk, kind=NotificationKind.SPACE_CANCELED)
    # Ticketed Spaces (tickets app): refund every paid ticket (Celery, on commit, idempotent).
    from tickets.services import space_canceled_refund_all

    space_canceled_refund_all(space_id=space.pk)
    return space


def spaces_end_abandoned(*, now: datetime | None = None) -> list[int]:
    """End every live Space whose host team has been gone for ``SPACES_HOST_ABSENT_END_S``."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.SPACES_HOST_ABSENT_END_S)
    ended: list[int] = []
    candidates = Space.objects.filter(state=SpaceState.LIVE, host_team_absent_since__lte=cutoff)
    for space_id in candidates.values_list("pk", flat=True):
        with transaction.atomic():
            space = lock_space(space_id=space_id)
            absent = space.host_team_absent_since
            if space.state != SpaceState.LIVE or absent is None or absent > cutoff:
                continue  # someone came back after we looked
            space_end(space_id=space_id, actor=None, reason="host_absent", actor_role="system")
            ended.append(space_id)
    return ended
