"""Publishing on commit: services hand an event over inside their transaction; it leaves after commit.

Services call :func:`publish_on_commit` inside their transaction. It takes no number itself: an event's
``seq`` is whatever the caller passes. A room event's service takes the next ``Space.seq`` in that same
transaction and passes it (so the number is persisted with the change it describes); the rooms services
give host-team and personal events the Space's current ``seq`` without taking a new one; events with no
Space state behind them (``notification``) pass none and carry ``null``. Nothing is sent before the
transaction commits: a rolled-back change never reaches a socket.

Transport (see docs/protocol.md, "Delivery"):

- Room and host-team events are encoded to JSON **once** and published as **one** Redis message on the
  Space's channel (:func:`~spaces_project.realtime.wire.space_channel`). Every server process runs one
  hub (:mod:`spaces_project.realtime.hub`) that subscribes once per Space it has sockets for and writes
  the already-encoded frame to its local sockets. Host-team events name their recipients (the host team
  at commit time, from the registered source: :mod:`spaces_project.realtime.rules`) in the message
  header, so they never reach a listener's socket.
- Personal events (``Audience.USER``) are one message on the user's channel
  (:func:`~spaces_project.realtime.wire.user_channel`), read by the hubs of the processes that hold that
  user's sockets.
- Without Redis (the embedded default) the same messages are handed to the hubs of this process.
- :func:`use_transport` replaces all of this in one process; only the benchmark does (bench/stock.py,
  the stock Channels group path it compares the hub with).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction

from spaces_project.realtime import rules
from spaces_project.realtime.wire import Audience, Event, encode_message, space_channel, user_channel

__all__ = ["Audience", "Event", "publish_message", "publish_on_commit", "use_transport"]

logger = logging.getLogger(__name__)

Transport = Callable[[Event, Audience, list[int]], None]


def _header_for(event: Event, audience: Audience) -> dict[str, Any]:
    """The message header: audience, ``seq``, and the delivery rules the hubs apply (rules.py)."""
    assert event.space is not None
    header: dict[str, Any] = {"a": str(audience), "seq": event.seq}
    if audience is Audience.HOSTS:
        header["to"] = rules.host_team_ids(event.space)
    close = rules.close_for(event.type, event.data)
    if close is not None:
        header["close"] = {"code": close.code, "reason": close.reason}
        if close.users is not None:
            header["close"]["users"] = close.users
    coalesce = rules.RULES.coalesce.get(event.type)
    if coalesce is not None:
        header["k"] = event.type
        header[coalesce.field] = str(event.data.get(coalesce.field, ""))
    return header


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


def hub_transport(event: Event, audience: Audience, user_ids: list[int]) -> None:
    """The production transport: one message per event on the Space's channel, or per user."""
    if audience is Audience.USER:
        message = encode_message({"a": str(audience), "seq": event.seq}, event.encode())
        for uid in user_ids:
            publish_message(user_channel(uid), message)
    else:
        assert event.space is not None
        publish_message(space_channel(event.space), encode_message(_header_for(event, audience), event.encode()))


_transport: Transport = hub_transport


def use_transport(transport: Transport | None) -> None:
    """Send this process's events through ``transport`` from now on; ``None`` restores the hub's."""
    global _transport
    _transport = transport or hub_transport


def _publish(event: Event, audience: Audience, user_ids: list[int]) -> None:
    try:
        _transport(event, audience, user_ids)
    except Exception:  # the database is the truth; sockets resync on reconnect
        logger.exception("realtime.publish_failed", extra={"event_type": event.type, "space_id": event.space})


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

    ``seq`` is sent as given: for a room event, the Space sequence number the caller took in this
    transaction. Host-team events go to the host team as it is when the transaction commits.
    """
    if audience is not Audience.USER and space_id is None:
        raise ValueError("room and host-team events need a space_id")
    event = Event(type=type, space=space_id, data=data, seq=seq)
    recipients = list(user_ids or [])
    transaction.on_commit(lambda: _publish(event, audience, recipients))
    return event
