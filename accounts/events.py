"""A user's personal websocket events: the one ``notification`` shape every producer sends.

Reminders (rooms: a Space started, moved, was canceled), tickets (paid, refunded, the Space moved) and
the trust & safety team (a warning, the outcome of a report) all tell a user something with the same
frame: ``kind`` says what happened, ``text`` is the line to show, ``space_id`` where to go (or null);
the other fields are null unless the kind has them. Every key is always present.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from spaces_project.realtime.events import Seq, Timestamp, UserEvent

NotificationKindName = Literal[
    # reminders (rooms): a Space you set a reminder for is live, moved, was canceled
    "space_started",
    "space_rescheduled",
    "space_canceled",
    # tickets: your ticket is paid (it may confirm after you left the page) or refunded; a Space you hold a
    # ticket for moved (the kinds keep the names they were first sent with)
    "ticket.paid",
    "ticket.refunded",
    "space.rescheduled",
    # the trust & safety team: a warning, the outcome of a report you made
    "warning",
    "report_outcome",
]


@dataclass(frozen=True, kw_only=True)
class Notification(UserEvent):
    """Something to tell one user, on every socket they have open (whatever its Space)."""

    type = "notification"
    seq_rule = Seq.NONE
    echo: ClassVar[tuple[str, ...]] = ("space_id",)  # also in ``data``
    kind: NotificationKindName
    text: str
    ticket_id: int | None = None
    notice_id: int | None = None
    report_id: int | None = None
    title: str | None = None
    host: str | None = None  # the host's username
    state: str | None = None  # the Space's state when it was sent
    scheduled_start: Timestamp | None = None
