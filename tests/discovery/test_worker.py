"""A real Celery worker (Redis broker, private queue) sends the reminders of a started Space, once."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rooms import services
from rooms.discovery import tasks as discovery_tasks
from rooms.models import Notification, NotificationKind, Reminder
from tests.factories import UserFactory
from tests.support.builders import scheduled_space
from tests.support.workers import celery_worker

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(postgres_url: str, redis_url: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with celery_worker(postgres_url=postgres_url, log_dir=tmp_path, name="discovery-test") as proc:
        yield proc


def wait_for_rows(expected: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    count = Notification.objects.count()
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        count = Notification.objects.count()
    return count


def test_the_worker_notifies_reminded_users_once_even_when_the_task_is_sent_twice(worker):
    space = scheduled_space(title="Worker show")
    users = [UserFactory() for _ in range(5)]
    Reminder.objects.bulk_create([Reminder(space=space, user=u) for u in users])
    canary = scheduled_space(title="Canary")
    Reminder.objects.create(space=canary, user=UserFactory())

    services.space_start(space_id=space.pk, actor=space.host)  # hands the task to the worker on commit
    discovery_tasks.reminders_notify.delay(space.pk, NotificationKind.SPACE_STARTED, "")  # a duplicate
    # One solo worker takes tasks in order: once the canary's notice exists, the duplicate has run.
    discovery_tasks.reminders_notify.delay(canary.pk, NotificationKind.SPACE_STARTED, "")

    assert wait_for_rows(6) == 6
    rows = Notification.objects.filter(space=space, kind=NotificationKind.SPACE_STARTED)
    assert sorted(rows.values_list("user_id", flat=True)) == sorted(u.pk for u in users)
    assert worker.poll() is None
