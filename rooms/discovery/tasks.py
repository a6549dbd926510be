"""Celery tasks of discovery: reminder notifications. ``rooms.tasks`` imports them so workers load them."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.db import OperationalError
from django.db.models import Exists, OuterRef
from django.utils import timezone

from rooms.discovery.services import notifications
from rooms.models import Notification, NotificationKind, Reminder, Space, SpaceState

SWEEP_LOOKBACK = timedelta(hours=1)


@shared_task(
    name="rooms.reminders_notify",
    autoretry_for=(OperationalError,),
    retry_backoff=1,
    retry_backoff_max=60,
    max_retries=10,
)
def reminders_notify(space_id: int, kind: str, key: str = "") -> int:
    return notifications.reminders_notify(space_id=space_id, kind=kind, key=key)


@shared_task(name="rooms.reminders_sweep")
def reminders_sweep() -> list[int]:
    """Catch up on Spaces that started in the last hour whose reminders were not sent (a lost hand-off)."""
    notified = Notification.objects.filter(
        space_id=OuterRef("space_id"), user_id=OuterRef("user_id"), kind=NotificationKind.SPACE_STARTED
    )
    missing = Reminder.objects.filter(space=OuterRef("pk")).filter(~Exists(notified))
    spaces = Space.objects.filter(state=SpaceState.LIVE, started_at__gte=timezone.now() - SWEEP_LOOKBACK).filter(
        Exists(missing)
    )
    done = []
    for space_id in spaces.values_list("pk", flat=True):
        if notifications.reminders_notify(space_id=space_id, kind=NotificationKind.SPACE_STARTED):
            done.append(space_id)
    return done
