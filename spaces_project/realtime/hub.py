"""The per-process fan-out hub: one Redis subscription per Space, one encoded frame for every local socket.

A server process holds one :class:`Hub` per event loop. A websocket consumer registers a
:class:`~spaces_project.realtime.sink.Sink` for its socket; the hub subscribes to the Space's Redis
channel when the first local socket of that Space registers, and unsubscribes after the last one leaves.
A room event therefore costs one Redis message per server process and one JSON encode (done by the
publisher), whatever the number of listeners; the hub writes the same ``str`` to every socket (the sink
applies back-pressure per socket).

The hub knows no event type: the message header says who gets a frame and which sockets close after
it; coalesced types and per-Space gauges are the ones the apps registered
(:mod:`spaces_project.realtime.rules`).

After a lost Redis connection the hub reconnects, resubscribes, and tells every socket to resync:
events published while it was gone are not replayed by Redis pub/sub, the snapshot repairs that.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import defaultdict
from typing import Any

from django.conf import settings

from spaces_project.realtime.publish import redis_client_kwargs
from spaces_project.realtime.rules import RULES, Gauge
from spaces_project.realtime.sink import Sink, deliver_all, shed_handshake
from spaces_project.realtime.wire import (
    Audience,
    channel_prefix,
    decode_message,
    encode_frame,
    now_iso,
    space_channel,
    text_frame,
    user_channel,
)

__all__ = ["Hub", "Sink", "deliver_in_process", "get_hub", "now_iso", "shed_handshake", "text_frame"]

logger = logging.getLogger(__name__)

SUBSCRIBE_WAIT_S = 5.0
# A gauge frame goes to every local socket of a Space: in a crowd of 10,000 sockets a count a second was
# 10 % of the process's CPU during a join storm (docs/benchmarks.md, "Join storm"). So a Space with more
# local sockets than this gets its gauge less often: at most this many gauge frames a second per Space
# and process (10,000 sockets: every 5 s; up to 2,000: every interval, as before).
GAUGE_FRAMES_PER_S = float(os.environ.get("SPACES_GAUGE_FRAMES_PER_S", "2000"))


def gauge_due(*, now: float, last_sent: float | None, sockets: int, interval_s: float, frames_per_s: float) -> bool:
    """Whether a changed gauge value may go out now to a Space with ``sockets`` local sockets."""
    if last_sent is None:
        return True
    return now - last_sent >= max(interval_s, sockets / frames_per_s) - 1e-3  # the tick's own jitter


RECONNECT_MAX_BACKOFF_S = 5.0


class Hub:
    """Fan-out for one event loop: Redis subscriptions per Space and the local sockets of each."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sinks: dict[int, set[Sink]] = defaultdict(set)  # by Space
        self.user_sinks: dict[int, set[Sink]] = defaultdict(set)  # by user: personal events
        self._confirmed: dict[str, asyncio.Future[None]] = {}  # channel → subscription acknowledged
        self._redis: Any = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._tickers: dict[str, asyncio.Task[None]] = {}  # by gauge type
        self._connected = asyncio.Event()
        # Channels to (un)subscribe, sent in batches by one flusher task (``_flush_subscriptions``).
        self._pending_subscribe: list[str] = []
        self._pending_unsubscribe: list[str] = []
        self._flusher: asyncio.Task[None] | None = None
        # by Space, then gauge type: the value last sent and when (loop time)
        self._gauge_sent: dict[int, dict[str, tuple[dict[str, Any], float]]] = {}
        self._coalesced: dict[tuple[int, str], dict[str, int]] = {}  # (Space, type) → counts of this window
        self._coalesced_seq: dict[tuple[int, str], int | None] = {}
        self.reconnects = 0

    # -- sockets ------------------------------------------------------------------------------------
    async def register(self, sink: Sink) -> None:
        """Add a socket; returns once this process receives its Space's and its user's events.

        Read the snapshot only after this: then no event can fall between the snapshot and the stream.
        """
        channels = []
        if not self.sinks[sink.space_id]:
            channels.append(space_channel(sink.space_id))
        if not self.user_sinks[sink.user_id]:
            channels.append(user_channel(sink.user_id))
        self.sinks[sink.space_id].add(sink)
        self.user_sinks[sink.user_id].add(sink)
        self._ensure_tasks()
        if not settings.REDIS_URL:
            return
        await self._subscribe(channels)
        waits = []
        for name in (space_channel(sink.space_id), user_channel(sink.user_id)):
            confirmed = self._confirmed.get(name)
            if confirmed is not None and not confirmed.done():
                waits.append(confirmed)
        if waits and not await self._confirmations(waits):
            # Redis is down: the socket still gets its snapshot; the reconnect will resync it.
            logger.warning("realtime.subscribe_timeout", extra={"space_id": sink.space_id})

    async def _confirmations(self, waits: list[asyncio.Future[None]]) -> bool:
        """Wait until every future in ``waits`` is done, at most ``SUBSCRIBE_WAIT_S``; False on timeout.

        One future, a callback per wait and one timer, where ``wait_for(shield(gather(...)))`` made a
        gathering future, a shield, a waiter and a task per socket (docs/benchmarks.md, "Join storm").
        The confirmations are shared by the sockets of a Space and are never cancelled here.
        """
        ready: asyncio.Future[bool] = self.loop.create_future()
        left = len(waits)

        def one_done(_future: asyncio.Future[None]) -> None:
            nonlocal left
            left -= 1
            if left == 0 and not ready.done():
                ready.set_result(True)

        def expired() -> None:
            if not ready.done():
                ready.set_result(False)

        for wait in waits:
            wait.add_done_callback(one_done)
        timer = self.loop.call_later(SUBSCRIBE_WAIT_S, expired)
        try:
            return await ready
        finally:
            timer.cancel()
            for wait in waits:
                wait.remove_done_callback(one_done)

    async def _subscribe(self, channels: list[str]) -> None:
        for name in channels:
            if name not in self._confirmed:
                self._confirmed[name] = self.loop.create_future()
        if channels and self._connected.is_set():
            self._pending_subscribe.extend(channels)
            self._flush_soon()

    def _flush_soon(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = self.loop.create_task(self._flush_subscriptions())

    async def _flush_subscriptions(self) -> None:
        """Send the (UN)SUBSCRIBEs queued by sockets, many channels per command.

        A crowd of sockets arriving at once would otherwise make one Redis command each: while one batch
        is on the wire, the next one gathers (docs/benchmarks.md, "Join storm"). Each socket still waits
        for its own channels' confirmations (``register``) before its snapshot is read.
        """
        while self._pending_subscribe or self._pending_unsubscribe:
            subscribe, self._pending_subscribe = self._pending_subscribe, []
            unsubscribe, self._pending_unsubscribe = self._pending_unsubscribe, []
            # A channel wanted again since it was queued for UNSUBSCRIBE stays (its socket came back).
            idle = [name for name in dict.fromkeys(unsubscribe) if name not in self._confirmed]
            if not self._connected.is_set():
                return  # the reader resubscribes everything wanted when it reconnects
            try:
                if idle:
                    await self._pubsub.unsubscribe(*idle)
                if subscribe:
                    await self._pubsub.subscribe(*dict.fromkeys(subscribe))
            except Exception:  # the reader reconnects and resubscribes everything
                logger.warning("realtime.subscribe_failed", extra={"channels": len(subscribe) + len(idle)})

    def unregister(self, sink: Sink) -> None:
        gone = []
        space_sinks = self.sinks.get(sink.space_id)
        if space_sinks is not None and sink in space_sinks:
            space_sinks.discard(sink)
            if not space_sinks:
                del self.sinks[sink.space_id]
                self._gauge_sent.pop(sink.space_id, None)
                gone.append(space_channel(sink.space_id))
        user_sinks = self.user_sinks.get(sink.user_id)
        if user_sinks is not None and sink in user_sinks:
            user_sinks.discard(sink)
            if not user_sinks:
                del self.user_sinks[sink.user_id]
                gone.append(user_channel(sink.user_id))
        for name in gone:
            self._confirmed.pop(name, None)
        if gone and settings.REDIS_URL and self._connected.is_set():
            self._pending_unsubscribe.extend(gone)
            self._flush_soon()

    def _wanted(self) -> set[str]:
        wanted = {space_channel(sid) for sid, sinks in self.sinks.items() if sinks}
        wanted.update(user_channel(uid) for uid, sinks in self.user_sinks.items() if sinks)
        return wanted

    def _ensure_tasks(self) -> None:
        if settings.REDIS_URL and (self._reader is None or self._reader.done()):
            self._reader = self.loop.create_task(self._read_forever())
        for gauge in RULES.gauges.values():
            ticker = self._tickers.get(gauge.type)
            if ticker is None or ticker.done():
                self._tickers[gauge.type] = self.loop.create_task(self._tick_gauge(gauge))

    # -- incoming messages ---------------------------------------------------------------------------
    def dispatch(self, space_id: int, raw: bytes) -> None:
        """Deliver one message of a Space's channel to the local sockets."""
        sinks = self.sinks.get(space_id)
        if not sinks:
            return
        header, frame = decode_message(raw)
        kind = header.get("k")
        if kind is not None and kind in RULES.coalesce:
            self._add_coalesced(space_id, kind, header)
            return
        seq = header.get("seq")
        if header.get("a") == Audience.HOSTS:
            to = set(header.get("to") or ())
            targets = [s for s in sinks if s.user_id in to]
        else:
            targets = list(sinks)
        deliver_all(targets, frame, seq)
        close = header.get("close")
        if close:
            users = close.get("users")
            doomed = [s for s in list(sinks) if users is None or s.user_id in users]
            for sink in doomed:
                sink.close(int(close["code"]), str(close.get("reason", "")))
                self.unregister(sink)

    def dispatch_user(self, user_id: int, raw: bytes) -> None:
        """Deliver one personal event to every local socket of that user (whatever its Space)."""
        sinks = self.user_sinks.get(user_id)
        if not sinks:
            return
        _header, frame = decode_message(raw)
        deliver_all(list(sinks), frame)

    def broadcast_local(self, space_id: int, frame: str) -> None:
        deliver_all(list(self.sinks.get(space_id, ())), frame)

    def _add_coalesced(self, space_id: int, type_: str, header: dict[str, Any]) -> None:
        rule = RULES.coalesce[type_]
        value = str(header.get(rule.field, ""))
        key = (space_id, type_)
        counts = self._coalesced.get(key)
        if counts is None:
            counts = self._coalesced[key] = {}
            self.loop.call_later(rule.window_s, self._flush_coalesced, key)
        counts[value] = counts.get(value, 0) + 1
        self._coalesced_seq[key] = header.get("seq")

    def _flush_coalesced(self, key: tuple[int, str]) -> None:
        counts = self._coalesced.pop(key, None)
        seq = self._coalesced_seq.pop(key, None)
        if not counts:
            return
        space_id, type_ = key
        self.broadcast_local(space_id, encode_frame(type_, space_id, seq, {"counts": counts}))

    # -- Redis ---------------------------------------------------------------------------------------
    async def _connect(self) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # No silent retries inside redis-py: a lost connection must reach us so sockets resync.
        self._redis = Redis.from_url(
            settings.REDIS_URL,
            retry=Retry(NoBackoff(), 0),
            client_name=f"{channel_prefix()}:hub:{os.getpid()}",
            **redis_client_kwargs(),
        )
        self._pubsub = self._redis.pubsub()
        # Space 0 never exists: it keeps the connection subscribed while this process has no sockets.
        await self._pubsub.subscribe(space_channel(0))
        # From here a registering socket subscribes by itself; then catch up on the ones already here.
        self._connected.set()
        channels = sorted(self._wanted())
        if channels:
            await self._pubsub.subscribe(*channels)

    async def _disconnect(self) -> None:
        self._connected.clear()
        pubsub, redis_client = self._pubsub, self._redis
        self._pubsub = self._redis = None
        for closer in (getattr(pubsub, "aclose", None), getattr(redis_client, "aclose", None)):
            if closer is not None:
                try:
                    await closer()
                except Exception:  # noqa: S110 - the connection is already broken
                    pass

    async def _read_forever(self) -> None:
        backoff = 0.1
        lost = False
        while True:
            try:
                await self._connect()
                if lost:
                    self.reconnects += 1
                    logger.info("realtime.redis_reconnected", extra={"spaces": len(self.sinks)})
                    self._resync_all()
                lost = False
                backoff = 0.1
                await self._read_loop()
            except asyncio.CancelledError:
                await self._disconnect()
                raise
            except Exception:
                logger.warning("realtime.redis_lost", exc_info=True)
                lost = True
                await self._disconnect()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RECONNECT_MAX_BACKOFF_S)

    async def _read_loop(self) -> None:
        space_prefix = space_channel(0)[:-1].encode()
        user_prefix = user_channel(0)[:-1].encode()
        while True:
            # A bounded wait (not a blocking read) so the health check PING runs on idle connections.
            message = await self._pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            channel = message["channel"]
            if not isinstance(channel, bytes):
                continue
            kind = message["type"]
            if kind == "subscribe":
                confirmed = self._confirmed.get(channel.decode())
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
                continue  # a confirmation carries the subscription count, not an event
            if kind != "message":
                continue
            try:
                if channel.startswith(space_prefix):
                    self.dispatch(int(channel[len(space_prefix) :]), message["data"])
                elif channel.startswith(user_prefix):
                    self.dispatch_user(int(channel[len(user_prefix) :]), message["data"])
            except Exception:
                logger.exception("realtime.dispatch_failed", extra={"channel": channel.decode()})

    def _resync_all(self) -> None:
        for sinks in self.sinks.values():
            for sink in list(sinks):
                if sink.on_resync is not None:
                    sink.on_resync()

    # -- gauges (the listener count) -------------------------------------------------------------
    async def _tick_gauge(self, gauge: Gauge) -> None:
        """Every ``interval_s``: read the gauge for the Spaces with local sockets; send what changed."""
        from channels.db import database_sync_to_async

        read = database_sync_to_async(gauge.read)
        while True:
            await asyncio.sleep(gauge.interval_s)
            if not self.sinks:
                continue
            try:
                values = await read(list(self.sinks))
            except Exception:
                logger.warning("realtime.gauge_failed", extra={"gauge": gauge.type}, exc_info=True)
                continue
            now = self.loop.time()
            for space_id, (data, seq) in values.items():
                sinks = self.sinks.get(space_id)
                if not sinks:
                    continue
                sent = self._gauge_sent.setdefault(space_id, {})
                last = sent.get(gauge.type)
                if last is not None and last[0] == data:
                    continue
                if not gauge_due(
                    now=now,
                    last_sent=last[1] if last is not None else None,
                    sockets=len(sinks),
                    interval_s=gauge.interval_s,
                    frames_per_s=GAUGE_FRAMES_PER_S,
                ):
                    continue  # a big room: the latest value goes out at its next due tick
                sent[gauge.type] = (data, now)
                self.broadcast_local(space_id, encode_frame(gauge.type, space_id, seq, data))

    async def aclose(self) -> None:
        for task in (self._reader, self._flusher, *self._tickers.values()):
            if task is not None:
                task.cancel()
        await self._disconnect()


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def get_hub() -> Hub:
    """The hub of the running event loop (one per server process in production)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        for stale in [lp for lp in _hubs if lp.is_closed()]:
            del _hubs[stale]
        hub = _hubs[loop] = Hub(loop)
    return hub


def deliver_in_process(channel: str, message: bytes) -> None:
    """Without Redis: hand a published message to every hub of this process (thread-safe)."""
    kind, _, ident = channel.rpartition(":")
    handler_name = "dispatch_user" if kind.endswith(":user") else "dispatch"
    for loop, hub in list(_hubs.items()):
        if not loop.is_closed():
            loop.call_soon_threadsafe(getattr(hub, handler_name), int(ident), message)
