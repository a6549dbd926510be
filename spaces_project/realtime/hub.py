"""The per-process fan-out hub: one Redis subscription per Space, one encoded frame for every local socket.

A server process holds one :class:`Hub` per event loop. A websocket consumer registers a :class:`Sink`
for its socket; the hub subscribes to the Space's Redis channel when the first local socket of that
Space registers, and unsubscribes after the last one leaves. A room event therefore costs one Redis
message per server process and one JSON encode (done by the publisher), whatever the number of
listeners; the hub writes the same ``str`` to every socket.

Slow sockets: each sink writes without waiting on any other. While a socket's transport is paused
(the client does not read), its frames queue in the sink, up to ``SINK_MAX_PENDING``; past that the
socket is closed with 4408 and the client reconnects and gets a snapshot. Others are never delayed.

After a lost Redis connection the hub reconnects, resubscribes, and tells every socket to resync:
events published while it was gone are not replayed by Redis pub/sub, the snapshot repairs that.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import struct
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from spaces_project.realtime import publish as realtime

logger = logging.getLogger(__name__)

SINK_MAX_PENDING = 64  # frames waiting on one socket before it is dropped
SUBSCRIBE_WAIT_S = 5.0
COUNT_INTERVAL_S = 1.0  # listeners.count at most once a second per Space
REACTION_WINDOW_S = 0.25  # reactions at most four events a second per Space
RECONNECT_MAX_BACKOFF_S = 5.0

SendFn = Callable[[dict[str, Any]], Awaitable[None]]


class Sink:
    """One websocket as the hub sees it: an ordered, bounded pipe of frames to the ASGI ``send``.

    ``send`` is the server's ASGI send. It is driven step by step without a Task per frame: when the
    server accepts the frame at once (the usual case) the write costs one function call; when the
    transport is paused the coroutine is resumed from the future it waits on, and later frames queue.
    """

    __slots__ = (
        "_send",
        "backlog",
        "busy",
        "closed",
        "on_gone",
        "on_resync",
        "pending",
        "raw",
        "space_id",
        "syncing",
        "user_id",
    )

    def __init__(
        self,
        *,
        send: SendFn,
        space_id: int,
        user_id: int,
        on_resync: Callable[[], None] | None = None,
        on_gone: Callable[[], None] | None = None,
    ) -> None:
        self._send = send
        self.raw = uvicorn_protocol_of(send)
        self.space_id = space_id
        self.user_id = user_id
        self.on_resync = on_resync
        self.on_gone = on_gone
        # Allocated on first use: most sockets never queue anything (an empty deque costs ~600 bytes).
        self.pending: deque[dict[str, Any]] | None = None
        self.backlog: deque[tuple[int | None, str]] | None = None  # frames held while a snapshot is built
        self.busy = False
        self.closed = False
        self.syncing = False

    # -- frames from the hub ---------------------------------------------------------------------
    def deliver(self, frame: str, seq: int | None = None, wire: bytes | None = None) -> None:
        """Hand one room frame to this socket; ``seq`` lets a snapshot in progress skip what it covers.

        ``wire`` is the same frame already framed for the websocket (built once per event): on uvicorn,
        while the socket is writable and nothing is queued, it goes straight to the transport.
        """
        if self.closed:
            return
        raw = self.raw
        if (
            wire is not None
            and raw is not None
            and not self.syncing
            and not self.busy
            and raw.writable.is_set()
            and raw.handshake_complete
            and not raw.close_sent
            and not raw.transport.is_closing()
        ):
            raw.transport.write(wire)
            return
        if self.syncing:
            if self.backlog is None:
                self.backlog = deque()
            elif len(self.backlog) >= SINK_MAX_PENDING:
                self.drop()
                return
            self.backlog.append((seq, frame))
            return
        self.write(frame)

    def begin_sync(self) -> None:
        self.syncing = True

    def end_sync(self, snapshot_frame: str, snapshot_seq: int) -> None:
        """Send the snapshot, then the frames that arrived while it was built and are newer than it."""
        self.syncing = False
        self.write(snapshot_frame)
        backlog, self.backlog = self.backlog, None
        for seq, frame in backlog or ():
            if seq is None or seq > snapshot_seq:
                self.write(frame)

    def end_sync_refused(self, code: str, detail: str) -> None:
        """The resync found the user may no longer follow the Space: say why (the caller closes)."""
        self.syncing = False
        self.backlog = None
        error = {"code": code, "detail": detail, "extra": {}}
        envelope = {"type": "error", "seq": None, "space": self.space_id, "ts": now_iso(), "data": error}
        self.write(json.dumps(envelope, separators=(",", ":")))

    # -- the pipe ----------------------------------------------------------------------------------
    def write(self, frame: str) -> None:
        self._push({"type": "websocket.send", "text": frame})

    def close(self, code: int, reason: str = "") -> None:
        """Close after the frames already queued (their order is kept)."""
        if self.closed:
            return
        self._push({"type": "websocket.close", "code": code, "reason": reason})
        self.closed = True

    def drop(self) -> None:
        """The socket fell behind: forget its queue and close it with 4408 so the client resyncs."""
        if self.closed:
            return
        logger.info("realtime.sink_dropped", extra={"space_id": self.space_id, "user_id": self.user_id})
        self.pending = self.backlog = None
        self.close(realtime.CLOSE_TOO_SLOW, "too_slow")
        if self.on_gone is not None:
            self.on_gone()

    def _push(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        if self.busy:
            if self.pending is None:
                self.pending = deque()
            elif len(self.pending) >= SINK_MAX_PENDING and message["type"] == "websocket.send":
                self.drop()
                return
            self.pending.append(message)
            return
        self._start(message)

    def _start(self, message: dict[str, Any]) -> None:
        while True:
            if not self._step(self._send(message)):
                return  # suspended: resumes from the future's callback
            if not self.pending:
                return
            message = self.pending.popleft()

    def _step(self, coro: Any) -> bool:
        """Advance ``coro``; True when it finished, False when it waits on a future."""
        try:
            waited = coro.send(None)
        except StopIteration:
            self.busy = False
            return True
        except BaseException:  # the client is gone; nothing else to do for it
            self.busy = False
            self.closed = True
            self.pending = None
            if self.on_gone is not None:
                self.on_gone()
            return True
        self.busy = True
        if waited is None:  # a bare yield (asyncio.sleep(0))
            asyncio.get_running_loop().call_soon(self._resume, coro)
        else:
            waited._asyncio_future_blocking = False
            waited.add_done_callback(lambda _f: self._resume(coro))
        return False

    def _resume(self, coro: Any) -> None:
        if self._step(coro) and self.pending:
            self._start(self.pending.popleft())


def uvicorn_protocol_of(send: Any) -> Any:
    """Uvicorn's websocket protocol behind an ASGI ``send`` (through Channels' wrappers), or None.

    With it the hub writes a pre-framed message to the transport itself: the server's per-socket
    Python framing and the session middleware's per-send checks are what dominate fan-out time.
    Only used while uvicorn reports the transport writable; otherwise the normal ASGI send runs.
    """
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    except ImportError:  # pragma: no cover - uvicorn is a pinned dependency
        return None
    target = send
    for _ in range(8):
        owner = getattr(target, "__self__", None)
        if isinstance(owner, WebSocketsSansIOProtocol):
            return owner
        target = getattr(owner, "real_send", None)  # channels.sessions.InstanceSessionWrapper
        if target is None:
            return None
    return None


def shed_handshake(sink: Sink, scope: dict[str, Any]) -> None:
    """Free what only the handshake needed, once the socket is open (≈ 3 KB of an idle socket).

    The request headers (the scope's list, shared by every middleware's copy of the scope) and, on
    uvicorn, the protocol's parsed handshake request and response stay referenced for the socket's
    life though nothing reads them after ``accept``.
    """
    headers = scope.get("headers")
    if isinstance(headers, list):
        headers.clear()
    raw = sink.raw
    if raw is not None and raw.handshake_complete:
        for name in ("request", "response"):
            if hasattr(raw, name):
                setattr(raw, name, None)


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented websocket text frame (RFC 6455 5.2) as a server sends it."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


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
        self._ticker: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        # Channels to (un)subscribe, sent in batches by one flusher task (``_flush_subscriptions``).
        self._pending_subscribe: list[str] = []
        self._pending_unsubscribe: list[str] = []
        self._flusher: asyncio.Task[None] | None = None
        self._counts: dict[int, int] = {}
        self._reactions: dict[int, dict[str, int]] = {}
        self._reaction_seq: dict[int, int | None] = {}
        self.reconnects = 0

    # -- sockets ------------------------------------------------------------------------------------
    async def register(self, sink: Sink) -> None:
        """Add a socket; returns once this process receives its Space's and its user's events.

        Read the snapshot only after this: then no event can fall between the snapshot and the stream.
        """
        channels = []
        if not self.sinks[sink.space_id]:
            channels.append(realtime.space_channel(sink.space_id))
        if not self.user_sinks[sink.user_id]:
            channels.append(realtime.user_channel(sink.user_id))
        self.sinks[sink.space_id].add(sink)
        self.user_sinks[sink.user_id].add(sink)
        self._ensure_tasks()
        if not settings.REDIS_URL:
            return
        await self._subscribe(channels)
        waits = [
            self._confirmed[name]
            for name in (realtime.space_channel(sink.space_id), realtime.user_channel(sink.user_id))
            if name in self._confirmed
        ]
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.gather(*waits)), SUBSCRIBE_WAIT_S)
        except TimeoutError:
            # Redis is down: the socket still gets its snapshot; the reconnect will resync it.
            logger.warning("realtime.subscribe_timeout", extra={"space_id": sink.space_id})

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
                self._counts.pop(sink.space_id, None)
                gone.append(realtime.space_channel(sink.space_id))
        user_sinks = self.user_sinks.get(sink.user_id)
        if user_sinks is not None and sink in user_sinks:
            user_sinks.discard(sink)
            if not user_sinks:
                del self.user_sinks[sink.user_id]
                gone.append(realtime.user_channel(sink.user_id))
        for name in gone:
            self._confirmed.pop(name, None)
        if gone and settings.REDIS_URL and self._connected.is_set():
            self._pending_unsubscribe.extend(gone)
            self._flush_soon()

    def _wanted(self) -> set[str]:
        wanted = {realtime.space_channel(sid) for sid, sinks in self.sinks.items() if sinks}
        wanted.update(realtime.user_channel(uid) for uid, sinks in self.user_sinks.items() if sinks)
        return wanted

    def _ensure_tasks(self) -> None:
        if settings.REDIS_URL and (self._reader is None or self._reader.done()):
            self._reader = self.loop.create_task(self._read_forever())
        if self._ticker is None or self._ticker.done():
            self._ticker = self.loop.create_task(self._tick_counts())

    # -- incoming messages ---------------------------------------------------------------------------
    def dispatch(self, space_id: int, raw: bytes) -> None:
        """Deliver one message of a Space's channel to the local sockets."""
        sinks = self.sinks.get(space_id)
        if not sinks:
            return
        header, frame = realtime.decode_message(raw)
        if header.get("k") == realtime.REACTION:
            self._add_reaction(space_id, header)
            return
        seq = header.get("seq")
        if header.get("a") == realtime.Audience.HOSTS:
            to = set(header.get("to") or ())
            targets = [s for s in sinks if s.user_id in to]
        else:
            targets = list(sinks)
        wire = text_frame(frame.encode())
        for sink in targets:
            sink.deliver(frame, seq, wire)
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
        _header, frame = realtime.decode_message(raw)
        wire = text_frame(frame.encode())
        for sink in list(sinks):
            sink.deliver(frame, None, wire)

    def broadcast_local(self, space_id: int, frame: str) -> None:
        wire = text_frame(frame.encode())
        for sink in list(self.sinks.get(space_id, ())):
            sink.deliver(frame, None, wire)

    def _add_reaction(self, space_id: int, header: dict[str, Any]) -> None:
        emoji = str(header.get("emoji", ""))
        counts = self._reactions.get(space_id)
        if counts is None:
            counts = self._reactions[space_id] = {}
            self.loop.call_later(REACTION_WINDOW_S, self._flush_reactions, space_id)
        counts[emoji] = counts.get(emoji, 0) + 1
        self._reaction_seq[space_id] = header.get("seq")

    def _flush_reactions(self, space_id: int) -> None:
        counts = self._reactions.pop(space_id, None)
        seq = self._reaction_seq.pop(space_id, None)
        if not counts:
            return
        frame = _frame(realtime.REACTION, space_id, seq, {"counts": counts})
        self.broadcast_local(space_id, frame)

    # -- Redis ---------------------------------------------------------------------------------------
    async def _connect(self) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # No silent retries inside redis-py: a lost connection must reach us so sockets resync.
        self._redis = Redis.from_url(
            settings.REDIS_URL,
            retry=Retry(NoBackoff(), 0),
            client_name=f"{realtime.channel_prefix()}:hub:{os.getpid()}",
            **realtime.redis_client_kwargs(),
        )
        self._pubsub = self._redis.pubsub()
        # Space 0 never exists: it keeps the connection subscribed while this process has no sockets.
        await self._pubsub.subscribe(realtime.space_channel(0))
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
        space_prefix = realtime.space_channel(0)[:-1].encode()
        user_prefix = realtime.user_channel(0)[:-1].encode()
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

    # -- coalesced listener counts ---------------------------------------------------------------
    async def _tick_counts(self) -> None:
        from channels.db import database_sync_to_async

        from rooms.snapshot import listener_counts

        read = database_sync_to_async(listener_counts)
        while True:
            await asyncio.sleep(COUNT_INTERVAL_S)
            if not self.sinks:
                continue
            try:
                counts = await read(space_ids=list(self.sinks))
            except Exception:
                logger.warning("realtime.count_failed", exc_info=True)
                continue
            for space_id, (count, seq) in counts.items():
                if self._counts.get(space_id) == count or space_id not in self.sinks:
                    continue
                self._counts[space_id] = count
                self.broadcast_local(space_id, _frame("listeners.count", space_id, seq, {"count": count}))

    async def aclose(self) -> None:
        for task in (self._reader, self._ticker, self._flusher):
            if task is not None:
                task.cancel()
        await self._disconnect()


def _frame(type_: str, space_id: int, seq: int | None, data: dict[str, Any]) -> str:
    envelope = {"type": type_, "seq": seq, "space": space_id, "ts": now_iso(), "data": data}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


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
