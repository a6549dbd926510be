"""Realtime events: the envelope, the wire format, and publishing on commit.

Services call :func:`publish_on_commit` inside their transaction. Room events take the next ``seq`` of
the Space in that same transaction (so the number is persisted with the change it describes) and are
sent only after the transaction commits; a rolled-back change never reaches a socket.

Transport (see docs/protocol.md, "Delivery"):

- Room and host-team events are encoded to JSON **once** and published as **one** Redis message on the
  Space's channel (:func:`space_channel`). Every server process runs one hub
  (:mod:`spaces_project.realtime.hub`) that subscribes once per Space it has sockets for and writes the
  already-encoded frame to its local sockets. Host-team events name their recipients (the host team at
  commit time) in the message header, so they never reach a listener's socket.
- Personal events (``Audience.USER``) are one message on the user's channel (:func:`user_channel`),
  read by the hubs of the processes that hold that user's sockets.
- Without Redis (the embedded default) the same messages are handed to the hubs of this process.
- ``SPACES_REALTIME_TRANSPORT=group`` switches every event to the stock Channels ``group_send`` path
  (one layer channel per socket); it exists for the side-by-side benchmark (bench/fanout.py).
"""

from __future__ import annotations

import enum
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1

# Event types whose delivery has a side effect on the sockets (see hub.py).
SPACE_ENDED = "space.ended"
PARTICIPANT_REMOVED = "participant.removed"
REACTION = "reaction"

# Websocket close codes; docs/protocol.md lists them. Stable forever.
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_TICKET_REQUIRED = 4402
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408
CLOSE_NOT_LIVE = 4409
CLOSE_ENDED = 4410
CLOSE_FULL = 4429


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


def channel_prefix() -> str:
    return str(getattr(settings, "SPACES_CHANNEL_PREFIX", "spaces"))


def space_channel(space_id: int) -> str:
    """The Redis pub/sub channel of one Space: one message per event, read once per server process."""
    return f"{channel_prefix()}:rt:space:{space_id}"


def user_channel(user_id: int) -> str:
    """The Redis pub/sub channel of one user's personal events (read by the processes holding their sockets)."""
    return f"{channel_prefix()}:rt:user:{user_id}"


def transport_mode() -> str:
    return str(getattr(settings, "SPACES_REALTIME_TRANSPORT", "hub"))


@dataclass(frozen=True)
class Event:
    type: str
    space: int | None
    data: dict[str, Any]
    seq: int | None = None
    ts: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def envelope(self) -> dict[str, Any]:
        return {"type": self.type, "seq": self.seq, "space": self.space, "ts": self.ts, "data": self.data}

    def encode(self) -> str:
        return json.dumps(self.envelope(), separators=(",", ":"), ensure_ascii=False)


def encode_message(header: dict[str, Any], frame: str) -> bytes:
    """Wire format on a Space channel: one line of JSON header, then the frame exactly as sockets get it."""
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + frame.encode()


def decode_message(raw: bytes) -> tuple[dict[str, Any], str]:
    head, _, frame = raw.partition(b"\n")
    return json.loads(head), frame.decode()


def _target_user(data: dict[str, Any]) -> int | None:
    value = data.get("user_id", data.get("user"))
    return value if isinstance(value, int) else None


def _header_for(event: Event, audience: Audience) -> dict[str, Any]:
    assert event.space is not None
    header: dict[str, Any] = {"a": str(audience), "seq": event.seq}
    if audience is Audience.HOSTS:
        header["to"] = host_team_ids(space_id=event.space)
    if event.type == SPACE_ENDED:
        header["close"] = {"code": CLOSE_ENDED, "reason": "space_ended"}
    elif event.type == PARTICIPANT_REMOVED and (target := _target_user(event.data)) is not None:
        header["close"] = {"code": CLOSE_FORBIDDEN, "reason": "removed", "users": [target]}
    if event.type == REACTION:
        header["k"] = REACTION
        header["emoji"] = str(event.data.get("emoji", ""))
    return header


def host_team_ids(*, space_id: int) -> list[int]:
    """The host and current co-hosts of a Space: the recipients of a host-team event.

    The same rule as every host-team check (``rooms.selectors.host_team_role``): a co-host of a Space
    that is not live, or one banned from it or by its host, gets nothing.
    """
    from rooms.selectors import host_team_user_ids  # realtime is Spaces-specific plumbing

    return host_team_user_ids(space_id=space_id)


# --- transport ------------------------------------------------------------------------------------

_publisher_lock = threading.Lock()
_publisher: Any = None


def redis_client_kwargs() -> dict[str, Any]:
    """Connection settings that avoid redis-py 8's traps (see docs/protocol.md, "Redis")."""
    return {
        "socket_timeout": 10,  # above every blocking read we issue (the 5 s default cut them off)
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        "health_check_interval": 15,
    }


def _sync_publisher() -> Any:
    global _publisher
    with _publisher_lock:
        if _publisher is None:
            import redis

            # A *blocking* pool: redis-py 8 caps a pool at 100 connections and fails fast beyond that;
            # publishing threads wait for a free connection instead of failing.
            pool = redis.BlockingConnectionPool.from_url(
                settings.REDIS_URL, max_connections=50, timeout=5, **redis_client_kwargs()
            )
            _publisher = redis.Redis(connection_pool=pool)
        return _publisher


def publish_message(channel: str, message: bytes) -> None:
    """Send one encoded message to every server process subscribed to ``channel``."""
    if settings.REDIS_URL:
        _sync_publisher().publish(channel, message)
    else:
        from spaces_project.realtime.hub import deliver_in_process

        deliver_in_process(channel, message)


def _send_group(group: str, event: Event, to: list[int] | None = None) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message: dict[str, Any] = {"type": "spaces.event", "event": event.envelope()}
    if to is not None:
        message["to"] = to
    async_to_sync(layer.group_send)(group, message)


def _publish(event: Event, audience: Audience, user_ids: list[int]) -> None:
    try:
        if transport_mode() == "group":
            _publish_stock(event, audience, user_ids)
        elif audience is Audience.USER:
            message = encode_message({"a": str(audience), "seq": event.seq}, event.encode())
            for uid in user_ids:
                publish_message(user_channel(uid), message)
        else:
            assert event.space is not None
            publish_message(space_channel(event.space), encode_message(_header_for(event, audience), event.encode()))
    except Exception:  # the database is the truth; sockets resync on reconnect
        logger.exception("realtime.publish_failed", extra={"event_type": event.type, "space_id": event.space})


def _publish_stock(event: Event, audience: Audience, user_ids: list[int]) -> None:
    """The stock Channels path: a group per Space, a channel per socket (benchmark comparison)."""
    if audience is Audience.USER:
        groups = [user_group(uid) for uid in user_ids]
    else:
        assert event.space is not None
        groups = [hosts_group(event.space) if audience is Audience.HOSTS else room_group(event.space)]
    # A socket joins the host-team group when it opens; whoever has left the host team since (demoted,
    # banned) is still in it, so host-team events name their recipients now, as on the hub path.
    to = host_team_ids(space_id=event.space) if audience is Audience.HOSTS and event.space is not None else None
    for group in groups:
        _send_group(group, event, to)


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
    and personal events carry the Space's current ``seq`` without taking a new one. Host-team events
    go to the host team as it is when the transaction commits.
    """
    if audience is not Audience.USER and space_id is None:
        raise ValueError("room and host-team events need a space_id")
    event = Event(type=type, space=space_id, data=data, seq=seq)
    recipients = list(user_ids or [])
    transaction.on_commit(lambda: _publish(event, audience, recipients))
    return event
