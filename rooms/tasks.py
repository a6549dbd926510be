"""Celery tasks of rooms: take ids, re-fetch, call one service; idempotent, retried on LiveKit outages."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from rooms import livekit_client
from rooms.discovery.tasks import reminders_notify, reminders_sweep  # noqa: F401 - so that workers load them
from rooms.models import Space
from rooms.services import livekit_sync, recordings
from rooms.services import spaces_end_abandoned as _spaces_end_abandoned

RETRY: dict[str, Any] = {
    "autoretry_for": (livekit_client.LiveKitUnavailable,),
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 12,
}


@shared_task(**RETRY)
def livekit_participant_apply(participant_id: int, mute: bool = False) -> str:
    return livekit_sync.participant_apply(participant_id=participant_id, mute=mute)


@shared_task(**RETRY)
def livekit_participant_remove(space_id: int, user_id: int) -> bool:
    space = Space.objects.filter(pk=space_id).first()
    if space is None or not livekit_client.is_configured():
        return False
    return livekit_client.participant_remove(room=space.livekit_room, user_id=user_id)


@shared_task(**RETRY)
def livekit_room_delete(space_id: int) -> None:
    space = Space.objects.filter(pk=space_id).first()
    if space is not None and livekit_client.is_configured():
        livekit_client.room_delete(room=space.livekit_room)


@shared_task
def livekit_reconcile() -> dict[str, int]:
    report = livekit_sync.livekit_reconcile()
    return {"updated": len(report.updated), "removed": len(report.removed), "gone": len(report.marked_gone)}


@shared_task
def spaces_end_abandoned() -> list[int]:
    return _spaces_end_abandoned()


@shared_task(bind=True, max_retries=120)
def recording_finalise(self: Any, space_id: int) -> str:
    """Join a finished recording's parts into its replay; waits (re-queued) while an agent still holds it."""
    result = recordings.recording_finalise(space_id=space_id)
    if result == "wait" and not self.app.conf.task_always_eager:
        raise self.retry(countdown=2)
    return result


@shared_task
def recordings_sweep() -> dict[str, Any]:
    """Beat: finalise recordings whose hand-off was lost, and delete those past retention."""
    from rooms.services import replays

    return {
        "finalised": recordings.recordings_finalise_stuck(),
        "expired": replays.recordings_expire(),
        "agents_forgotten": replays.agents_forget_gone(),
    }
