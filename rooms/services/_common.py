"""Helpers shared by the rooms services: locks, event numbering, audit rows, LiveKit hand-off."""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.db.models.functions import Greatest

from accounts.models import User
from moderation.models import ModerationAction
from rooms import events
from rooms.exceptions import NotInSpace, SpaceNotFound, SpaceNotLive
from rooms.models import Participant, Role, Space, SpaceState
from spaces_project.common.handoff import enqueue_on_commit
from spaces_project.common.text import BIGINT_MAX
from spaces_project.realtime.publish import Audience, publish_on_commit


def lock_space(*, space_id: int) -> Space:
    """Lock the Space row for the rest of the transaction: every stage change is serialised per Space."""
    if space_id > BIGINT_MAX:  # no such row; SQLite would raise on binding it (OverflowError)
        raise SpaceNotFound()
    space = Space.objects.select_for_update().filter(pk=space_id).first()
    if space is None:
        raise SpaceNotFound()
    return space


def participant_consent_flag_set(
    *, space_id: int, user: User, field: str, declined: bool
) -> tuple[Space, Participant, bool]:
    """Set one of a participant's consent flags (``recording_declined``, ``captions_declined``) under the
    Space's lock; returns the Space, the participant (its user loaded) and whether the flag changed."""
    space = lock_space(space_id=space_id)
    participant = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(space=space, user=user)
        .first()
    )
    if participant is None:
        raise NotInSpace()
    if getattr(participant, field) == declined:
        return space, participant, False
    setattr(participant, field, declined)
    participant.save(update_fields=[field, "updated_at"])
    return space, participant, True


def lock_live_space(*, space_id: int) -> Space:
    space = lock_space(space_id=space_id)
    if space.state != SpaceState.LIVE:
        raise SpaceNotLive()
    return space


def lock_participant(*, space: Space, user_id: int) -> Participant | None:
    return Participant.objects.select_for_update().filter(space=space, user_id=user_id).first()


def emit_room(*, space: Space, type: str, data: dict[str, Any]) -> None:
    """Publish a room event on commit with the Space's next ``seq`` (taken in this transaction)."""
    Space.objects.filter(pk=space.pk).update(seq=F("seq") + 1)
    space.refresh_from_db(fields=["seq"])
    publish_on_commit(type=type, data=data, space_id=space.pk, audience=Audience.ROOM, seq=space.seq)


def emit_hosts(*, space: Space, type: str, data: dict[str, Any]) -> None:
    publish_on_commit(type=type, data=data, space_id=space.pk, audience=Audience.HOSTS, seq=space.seq)


def emit_user(*, space: Space, user_id: int, type: str, data: dict[str, Any]) -> None:
    publish_on_commit(
        type=type, data=data, space_id=space.pk, audience=Audience.USER, user_ids=[user_id], seq=space.seq
    )


def emit_stage(*, space: Space) -> None:
    from rooms.selectors import stage_of

    stage = stage_of(space=space)
    emit_room(space=space, type=events.STAGE_UPDATED, data={"stage": [events.stage_member(p) for p in stage]})


def audit(
    *,
    space: Space | None,
    actor: User | None,
    actor_role: str,
    action: str,
    target: User | None = None,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> ModerationAction:
    """Append one moderation audit row (never updated or deleted)."""
    return ModerationAction.objects.create(
        space=space,
        actor=actor,
        actor_role=actor_role,
        action=action,
        target=target,
        reason=reason,
        details=details or {},
    )


def livekit_apply(*, participant: Participant, mute: bool = False) -> None:
    """Mark the participant dirty and apply its role (and a server mute, if asked) to LiveKit after commit.

    A lost hand-off (broker down) is logged; ``livekit_dirty`` and the reconcile task repair it.
    """
    from rooms import tasks

    Participant.objects.filter(pk=participant.pk).update(livekit_dirty=True)
    participant.livekit_dirty = True
    pid = participant.pk
    enqueue_on_commit("livekit_participant_apply", lambda: tasks.livekit_participant_apply.delay(pid, mute))


def livekit_disconnect(*, space: Space, user_id: int) -> None:
    from rooms import tasks

    sid = space.pk
    enqueue_on_commit("livekit_participant_remove", lambda: tasks.livekit_participant_remove.delay(sid, user_id))


def livekit_close_room(*, space: Space) -> None:
    from rooms import tasks

    sid = space.pk
    enqueue_on_commit("livekit_room_delete", lambda: tasks.livekit_room_delete.delay(sid))


def demote_to_listener_count_delta(*, participant: Participant) -> None:
    """A connected stage member who becomes a listener adds one to the listener count."""
    if participant.is_connected and participant.role != Role.LISTENER:
        Space.objects.filter(pk=participant.space_id).update(
            listener_count=F("listener_count") + 1,
            peak_listener_count=Greatest(F("peak_listener_count"), F("listener_count") + 1),
        )


def promote_from_listener_count_delta(*, participant: Participant) -> None:
    if participant.is_connected and participant.role == Role.LISTENER:
        Space.objects.filter(pk=participant.space_id, listener_count__gt=0).update(
            listener_count=F("listener_count") - 1
        )


def ensure_seat(*, space: Space, role: str) -> None:
    """Raise ``stage_full`` unless a seat of ``role`` is free (call with the Space locked)."""
    from django.conf import settings

    from rooms.exceptions import StageFull

    limits = {Role.COHOST: settings.SPACES_MAX_COHOSTS, Role.SPEAKER: settings.SPACES_MAX_SPEAKERS}
    taken = Participant.objects.filter(space=space, role=role).count()
    if taken >= limits[Role(role)]:
        raise StageFull(extra={"role": role, "limit": limits[Role(role)]})


def participant_set_role(*, space: Space, participant: Participant, role: str, muted: bool | None = None) -> None:
    """Change a participant's role (Space locked): keeps the listener count, queues the LiveKit update."""
    if participant.role == role and (muted is None or participant.is_muted == muted):
        return
    if role == Role.LISTENER:
        demote_to_listener_count_delta(participant=participant)
    elif participant.role == Role.LISTENER:
        promote_from_listener_count_delta(participant=participant)
    participant.role = role
    participant.is_muted = False if role == Role.LISTENER else (participant.is_muted if muted is None else muted)
    participant.save(update_fields=["role", "is_muted", "updated_at"])
    livekit_apply(participant=participant)
