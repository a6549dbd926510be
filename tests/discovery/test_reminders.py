"""Reminders (RSVPs) and the notifications they produce: once per event, to the right people only."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from accounts import services as account_services
from moderation.models import HostBan, SpaceBan
from rooms import services
from rooms.discovery import tasks as discovery_tasks
from rooms.discovery.services import notifications
from rooms.models import Notification, NotificationKind, Reminder, Space
from tests.discovery.conftest import of_type
from tests.factories import HostFactory, UserFactory
from tests.support.builders import scheduled_space
from tests.support.builders import started_space as live_space

pytestmark = pytest.mark.django_db


# --- set / unset ------------------------------------------------------------------------------------


def test_a_user_sets_a_reminder_on_a_scheduled_space(viewer, make_client):
    space = scheduled_space()

    response = make_client(viewer).post(f"/api/v1/spaces/{space.pk}/reminder")

    assert response.status_code == 201
    assert response.json() == {"space_id": space.pk, "reminded": True}
    assert Reminder.objects.filter(space=space, user=viewer).count() == 1


def test_setting_a_reminder_twice_keeps_one(viewer, make_client):
    space = scheduled_space()
    client = make_client(viewer)

    client.post(f"/api/v1/spaces/{space.pk}/reminder")
    response = client.post(f"/api/v1/spaces/{space.pk}/reminder")

    assert response.status_code == 201
    assert Reminder.objects.filter(space=space, user=viewer).count() == 1


def test_a_user_unsets_a_reminder(viewer, make_client):
    space = scheduled_space()
    Reminder.objects.create(space=space, user=viewer)
    other = UserFactory()
    Reminder.objects.create(space=space, user=other)

    response = make_client(viewer).delete(f"/api/v1/spaces/{space.pk}/reminder")

    assert response.status_code == 204
    assert list(Reminder.objects.filter(space=space).values_list("user_id", flat=True)) == [other.pk]


def test_a_reminder_on_a_live_space_is_refused(viewer, make_client):
    space = live_space()

    response = make_client(viewer).post(f"/api/v1/spaces/{space.pk}/reminder")

    assert response.status_code == 409
    assert response.json()["code"] == "space_not_scheduled"
    assert not Reminder.objects.exists()


def test_a_reminder_on_a_missing_space_is_not_found(viewer, make_client):
    response = make_client(viewer).post("/api/v1/spaces/999999/reminder")

    assert response.status_code == 404
    assert response.json()["code"] == "space_not_found"


def test_a_user_blocked_by_the_host_cannot_set_a_reminder(viewer, make_client):
    space = scheduled_space()
    account_services.block_create(blocker=space.host, blocked=viewer)

    response = make_client(viewer).post(f"/api/v1/spaces/{space.pk}/reminder")

    assert response.status_code == 403
    assert response.json()["code"] == "blocked"
    assert not Reminder.objects.exists()


def test_a_user_banned_by_the_host_cannot_set_a_reminder(viewer, make_client):
    space = scheduled_space()
    HostBan.objects.create(host=space.host, user=viewer)

    response = make_client(viewer).post(f"/api/v1/spaces/{space.pk}/reminder")

    assert response.status_code == 403
    assert response.json() == {"code": "banned", "detail": response.json()["detail"], "extra": {"scope": "host"}}
    assert not Reminder.objects.exists()


def test_reminders_require_authentication(api_client):
    space = scheduled_space()

    assert api_client.post(f"/api/v1/spaces/{space.pk}/reminder").status_code == 401
    assert not Reminder.objects.exists()


# --- notifications ----------------------------------------------------------------------------------


def _reminded_space(n: int = 2) -> tuple[Space, list]:
    space = scheduled_space(title="Launch day")
    users = [UserFactory(email=f"r{i}@example.test") for i in range(n)]
    for u in users:
        Reminder.objects.create(space=space, user=u)
    return space, users


def test_starting_notifies_every_reminded_user_once(published, django_capture_on_commit_callbacks):
    space, users = _reminded_space(3)
    bystander = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        services.space_start(space_id=space.pk, actor=space.host)

    rows = Notification.objects.filter(space=space)
    assert sorted(rows.values_list("user_id", flat=True)) == sorted(u.pk for u in users)
    assert set(rows.values_list("kind", flat=True)) == {NotificationKind.SPACE_STARTED}
    assert not Notification.objects.filter(user=bystander).exists()
    [push] = of_type(published, "notification")
    assert push.audience == "user"
    assert sorted(push.user_ids) == sorted(u.pk for u in users)
    assert push.data["kind"] == "space_started"
    assert push.data["space_id"] == space.pk
    assert push.data["title"] == "Launch day"
    assert push.data["host"] == space.host.username


def test_a_retried_start_notification_sends_nothing_twice(published, django_capture_on_commit_callbacks):
    space, _users = _reminded_space(2)
    with django_capture_on_commit_callbacks(execute=True):
        services.space_start(space_id=space.pk, actor=space.host)

    with django_capture_on_commit_callbacks(execute=True):
        again = discovery_tasks.reminders_notify(space.pk, NotificationKind.SPACE_STARTED, "")

    assert again == 0
    assert Notification.objects.filter(space=space).count() == 2
    assert len(of_type(published, "notification")) == 1


def test_a_reminder_set_after_the_first_run_is_notified_by_the_next_run(django_capture_on_commit_callbacks):
    space, _users = _reminded_space(1)
    with django_capture_on_commit_callbacks(execute=True):
        services.space_start(space_id=space.pk, actor=space.host)
    late = UserFactory()
    Reminder.objects.create(space=space, user=late)

    assert notifications.reminders_notify(space_id=space.pk, kind=NotificationKind.SPACE_STARTED) == 1
    assert Notification.objects.filter(space=space).count() == 2


def test_rescheduling_notifies_each_time(published, django_capture_on_commit_callbacks):
    space, _users = _reminded_space(2)
    first = timezone.now() + timedelta(days=1)
    second = timezone.now() + timedelta(days=2)

    with django_capture_on_commit_callbacks(execute=True):
        services.space_update(space_id=space.pk, actor=space.host, scheduled_start=first)
    with django_capture_on_commit_callbacks(execute=True):
        services.space_update(space_id=space.pk, actor=space.host, scheduled_start=second)

    rows = Notification.objects.filter(space=space, kind=NotificationKind.SPACE_RESCHEDULED)
    assert rows.count() == 4
    pushes = of_type(published, "notification")
    assert [p.data["scheduled_start"] for p in pushes] == [first.isoformat(), second.isoformat()]


def test_editing_the_title_notifies_nobody(published, django_capture_on_commit_callbacks):
    space, _ = _reminded_space(2)

    with django_capture_on_commit_callbacks(execute=True):
        services.space_update(space_id=space.pk, actor=space.host, title="New title")

    assert not Notification.objects.exists()
    assert of_type(published, "notification") == []


def test_canceling_notifies_reminded_users(published, django_capture_on_commit_callbacks):
    space, _users = _reminded_space(2)

    with django_capture_on_commit_callbacks(execute=True):
        services.space_cancel(space_id=space.pk, actor=space.host)

    assert Notification.objects.filter(space=space, kind=NotificationKind.SPACE_CANCELED).count() == 2
    assert of_type(published, "notification")[0].data["state"] == "canceled"


def test_a_refused_start_notifies_nobody(published, django_capture_on_commit_callbacks):
    space, _ = _reminded_space(2)
    stranger = HostFactory()

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Exception, match="host"):
        services.space_start(space_id=space.pk, actor=stranger)

    assert not Notification.objects.exists()
    assert of_type(published, "notification") == []


def test_the_email_sender_mails_users_with_an_address(settings, django_capture_on_commit_callbacks):
    settings.SPACES_NOTIFICATION_SENDER = "rooms.notifications.EmailSender"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    space, users = _reminded_space(2)
    Reminder.objects.create(space=space, user=UserFactory(email=""))

    with django_capture_on_commit_callbacks(execute=True):
        services.space_start(space_id=space.pk, actor=space.host)

    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in users)
    assert mail.outbox[0].subject == f"{space.host.username} is live: Launch day"
    assert f"/s/{space.pk}" in mail.outbox[0].body


class ExplodingSender:
    def send(self, *, notifications: object) -> None:
        raise RuntimeError("mail server down")


def test_a_failing_sender_keeps_the_records(settings, django_capture_on_commit_callbacks):
    settings.SPACES_NOTIFICATION_SENDER = "tests.discovery.test_reminders.ExplodingSender"
    space, _users = _reminded_space(2)

    with django_capture_on_commit_callbacks(execute=True):
        services.space_start(space_id=space.pk, actor=space.host)

    assert Notification.objects.filter(space=space).count() == 2


def test_the_sweep_catches_up_on_a_lost_hand_off(published):
    space, _users = _reminded_space(2)
    Space.objects.filter(pk=space.pk).update(state="live", started_at=timezone.now())  # started, task lost

    assert discovery_tasks.reminders_sweep() == [space.pk]
    assert discovery_tasks.reminders_sweep() == []
    assert Notification.objects.filter(space=space, kind=NotificationKind.SPACE_STARTED).count() == 2


def test_a_user_lists_their_notifications_newest_first(viewer, make_client, django_capture_on_commit_callbacks):
    space = scheduled_space()
    Reminder.objects.create(space=space, user=viewer)
    with django_capture_on_commit_callbacks(execute=True):
        services.space_update(space_id=space.pk, actor=space.host, scheduled_start=timezone.now() + timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        services.space_start(space_id=space.pk, actor=space.host)
    Notification.objects.create(user=UserFactory(), space=space, kind="space_started", key="other")

    response = make_client(viewer).get("/api/v1/me/notifications")

    assert response.status_code == 200
    assert [n["kind"] for n in response.json()["results"]] == ["space_started", "space_rescheduled"]
    assert response.json()["results"][0]["space_id"] == space.pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_notify_each_user_exactly_once(postgres_url, published):
    space, users = _reminded_space(20)
    Space.objects.filter(pk=space.pk).update(state="live", started_at=timezone.now())
    barrier = threading.Barrier(4)
    results: list[int] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(notifications.reminders_notify(space_id=space.pk, kind=NotificationKind.SPACE_STARTED))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == [0, 0, 0, 20]
    assert Notification.objects.filter(space=space).count() == 20
    pushed = [uid for p in of_type(published, "notification") for uid in p.user_ids]
    assert sorted(pushed) == sorted(u.pk for u in users)


def test_a_user_banned_from_the_space_cannot_set_a_reminder(viewer, make_client):
    space = scheduled_space()
    SpaceBan.objects.create(space=space, user=viewer)
    SpaceBan.objects.create(space=space, user=UserFactory())

    response = make_client(viewer).post(f"/api/v1/spaces/{space.pk}/reminder")

    assert response.status_code == 403
    assert response.json()["extra"] == {"scope": "space"}
    assert not Reminder.objects.exists()


def test_users_blocked_or_banned_after_setting_a_reminder_are_not_notified(django_capture_on_commit_callbacks):
    space, users = _reminded_space(4)
    blocked, host_banned, space_banned, kept = users
    account_services.block_create(blocker=space.host, blocked=blocked)
    HostBan.objects.create(host=space.host, user=host_banned)
    SpaceBan.objects.create(space=space, user=space_banned)

    with django_capture_on_commit_callbacks(execute=True):
        services.space_start(space_id=space.pk, actor=space.host)

    assert list(Notification.objects.filter(space=space).values_list("user_id", flat=True)) == [kept.pk]


def test_notifications_require_authentication(api_client):
    response = api_client.get("/api/v1/me/notifications")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
