"""Realtime events: the envelope, group names and publishing on commit.

Services call :func:`publish_on_commit` inside their transaction. Room events take the next ``seq`` of
the Space in that same transaction (so the number is persisted with the change it describes) and are
sent only after the transaction commits; a rolled-back change never reaches a socket.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1


class Audience(enum.StrEnum):
    ROOM = "room"  # everyone connected to the Space
    HOSTS = "hosts"  # the host team (host and co-hosts) of the Space
    USER = "user"  # one user's personal channel


def room_group(space_id: int) -> str:
    return f"space.{space_id}"


def hosts_group(space_id: int) -> str:
    return f"space.{space_id}.hosts"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


@dataclass(frozen=True)
class Event:
    type: str
    space: int | None
    data: dict[str, Any]
    seq: int | None = None
    ts: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def envelope(self) -> dict[str, Any]:
        return {"type": self.type, "seq": self.seq, "space": self.space, "ts": self.ts, "data": self.data}


def _send(group: str, event: Event) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "spaces.event", "event": event.envelope()})
    except Exception:  # the database is the truth; clients resync on reconnect
        logger.exception("realtime.publish_failed", extra={"group": group, "event_type": event.type})


def publish_on_commit(
    *,
    type: str,
    data: dict[str, Any],
    space_id: int | None = None,
    audience: Audience = Audience.ROOM,
    user_ids: list[int] | None = None,
    seq: int | None = None,
) -> Event:
    """Queue an event to be sent once the current transaction commits.

    ``seq`` is the Space sequence number the caller took in this transaction (room events); host-team
    and personal events carry the Space's current ``seq`` without taking a new one.
    """
    event = Event(type=type, space=space_id, data=data, seq=seq)
    if audience is Audience.USER:
        groups = [user_group(uid) for uid in (user_ids or [])]
    elif audience is Audience.HOSTS:
        assert space_id is not None
        groups = [hosts_group(space_id)]
    else:
        assert space_id is not None
        groups = [room_group(space_id)]

    def _publish() -> None:
        for group in groups:
            _send(group, event)

    transaction.on_commit(_publish)
    return event
