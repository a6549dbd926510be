"""Notifications to people who set a reminder: records, personal-channel pushes, and a pluggable sender.

When a scheduled Space starts, is rescheduled or is canceled, :func:`reminders_notify_on_commit` (called by
the lifecycle service inside its transaction) hands the work to the ``rooms.reminders_notify`` Celery task
once the change commits. The task creates one :class:`~rooms.models.Notification` per reminded user and
pushes a ``notification`` event on each user's personal channel, then gives the new records to the sender
named by ``SPACES_NOTIFICATION_SENDER`` (console log by default; :class:`EmailSender` for e-mail; any
class with a ``send(notifications=...)`` method for push services).

Exactly once: runs for one Space are serialised by a lock on its row, only users without a record of
this ``(kind, key)`` get one, and the ``notification_once`` unique constraint backs that up. A retried or
duplicated task therefore creates and pushes nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction
from django.utils.module_loading import import_string

from rooms.models import Notification, NotificationKind, Reminder, Space
from spaces_project.common.handoff import enqueue_on_commit
from spaces_project.realtime.publish import Audience, publish_on_commit

logger = logging.getLogger(__name__)

NOTIFICATION = "notification"  # websocket event type on the personal channel

_SUBJECTS = {
    NotificationKind.SPACE_STARTED: "{host} is live: {title}",
    NotificationKind.SPACE_RESCHEDULED: "{title} by {host} moved to {when}",
    NotificationKind.SPACE_CANCELED: "{title} by {host} was canceled",
}


class NotificationSender(Protocol):
    def send(self, *, notifications: Sequence[Notification]) -> None: ...


class ConsoleSender:
    """The default sender: one structured log line per notification (development, single host)."""

    def send(self, *, notifications: Sequence[Notification]) -> None:
        for n in notifications:
            logger.info(
                "notification.sent",
                extra={"notification_id": n.pk, "user_id": n.user_id, "kind": n.kind, "space_id": n.space_id},
            )


class EmailSender:
    """E-mail through Django's ``EMAIL_BACKEND`` to every recipient who has an address."""

    def send(self, *, notifications: Sequence[Notification]) -> None:
        from accounts.models import User

        emails = dict(
            User.objects.filter(pk__in={n.user_id for n in notifications}).exclude(email="").values_list("pk", "email")
        )
        messages = []
        for n in notifications:
            if n.user_id in emails:
                subject = notification_text(n)
                body = f"{subject}\n\n{settings.SPACES_PUBLIC_URL.rstrip('/')}/s/{n.space_id}\n"
                messages.append((subject, body, None, [emails[n.user_id]]))
        if messages:
            send_mass_mail(messages, fail_silently=False)


def notification_text(notification: Notification) -> str:
    data = notification.data
    template = _SUBJECTS.get(NotificationKind(notification.kind), "{title}")
    return template.format(host=data.get("host", ""), title=data.get("title", ""), when=data.get("scheduled_start", ""))


def sender() -> NotificationSender:
    cls = import_string(settings.SPACES_NOTIFICATION_SENDER)
    instance: NotificationSender = cls()
    return instance


def _payload(*, space: Space, kind: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": kind,
        "space_id": space.pk,
        "title": space.title,
        "host": space.host.username,
        "state": space.state,
    }
    if space.scheduled_start is not None:
        data["scheduled_start"] = space.scheduled_start.isoformat()
    return data


def _shut_out(space: Space) -> Any:
    """Users the host blocked or banned since they set their reminder: they hear nothing more."""
    from accounts.models import Block
    from moderation.models import HostBan, SpaceBan

    return (
        Block.objects.filter(blocker_id=space.host_id)
        .values_list("blocked_id", flat=True)
        .union(
            HostBan.objects.filter(host_id=space.host_id).values_list("user_id", flat=True),
            SpaceBan.objects.filter(space_id=space.pk).values_list("user_id", flat=True),
        )
    )


def reminders_notify(*, space_id: int, kind: str, key: str = "") -> int:
    """Notify every user with a reminder on the Space about ``kind``, once per ``(kind, key)``.

    Creates the records, pushes ``notification`` to each new recipient's personal channel and calls
    the sender, both after commit. Locks the Space row. Returns how many notifications were created.
    """
    with transaction.atomic():
        space = Space.objects.select_for_update().filter(pk=space_id).first()
        if space is None:
            return 0
        space = Space.objects.select_related("host").get(pk=space_id)
        already = Notification.objects.filter(space_id=space_id, kind=kind, key=key).values("user_id")
        user_ids = list(
            Reminder.objects.filter(space_id=space_id)
            .exclude(user_id__in=already)
            .exclude(user_id__in=_shut_out(space))
            .order_by("user_id")
            .values_list("user_id", flat=True)
        )
        if not user_ids:
            return 0
        data = _payload(space=space, kind=kind)
        Notification.objects.bulk_create(
            [Notification(user_id=uid, space_id=space_id, kind=kind, key=key, data=data) for uid in user_ids],
            ignore_conflicts=True,
            batch_size=1000,
        )
        created = list(Notification.objects.filter(space_id=space_id, kind=kind, key=key, user_id__in=user_ids))
        publish_on_commit(type=NOTIFICATION, data=data, space_id=space_id, audience=Audience.USER, user_ids=user_ids)
        transaction.on_commit(lambda: _send(created))
    logger.info("reminders.notified", extra={"space_id": space_id, "kind": kind, "count": len(created)})
    return len(created)


def _send(notifications: list[Notification]) -> None:
    try:
        sender().send(notifications=notifications)
    except Exception:  # the records are the truth; a failed e-mail must not undo them
        logger.exception("notification.send_failed", extra={"count": len(notifications)})


def reminders_notify_on_commit(*, space_id: int, kind: str, key: str = "") -> None:
    """Queue :func:`reminders_notify` for after the current transaction commits (lifecycle services call this).

    A lost hand-off (broker down) is logged; the reminders sweep catches up on started Spaces.
    """
    from rooms.discovery_tasks import reminders_notify as task

    enqueue_on_commit("reminders_notify", lambda: task.delay(space_id, kind, key))
