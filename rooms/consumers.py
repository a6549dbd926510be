"""The Space websocket: authenticate, check access, subscribe, send a snapshot, then fan out.

All writes go through the REST API; the only client frames are ``{"action": "resync"}`` (answered
with a fresh snapshot) and ``{"action": "ping"}``. Room, host-team and personal frames come from the
process hub (:mod:`spaces_project.realtime.hub`), which applies the rooms rules registered at start-up
(``rooms/realtime.py``); the rules of one socket (who may follow a Space, what its snapshot holds, which
close code a refusal gets) live here and in ``rooms/snapshot.py``.
Refusals close the socket with a 4xxx code whose reason is the error code (docs/protocol.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from rooms.services.guests import guest_pass_check
from rooms.services.presence import hls_socket_presence
from rooms.snapshot import close_code_for, space_snapshot
from spaces_project.common.exceptions import ApplicationError
from spaces_project.realtime.hub import Hub, get_hub
from spaces_project.realtime.offthread import db_offthread
from spaces_project.realtime.sink import Sink, shed_handshake
from spaces_project.realtime.wire import now_iso

logger = logging.getLogger(__name__)

# A read with no thread affinity: off the thread-sensitive thread, so a crowd of sockets reads side by side.
_snapshot = db_offthread(space_snapshot)
# An HLS listener's presence is their socket (LiveKit never sees them); their ws_url says ?transport=hls.
_hls_presence = db_offthread(hls_socket_presence)


class SpaceSocketBehaviour:
    """What a Space socket does (connect, client frames, resyncs, disconnect), whatever runs the connection.

    The connection is run by :class:`SpaceSocket` (plain ASGI, the route's) or by :class:`SpaceConsumer`
    (Channels' consumer machinery, for subclasses that join Channels groups: bench/stock.py). Either
    provides ``scope``, ``base_send`` and Channels-style ``accept()``, ``send(text_data=...)`` and
    ``close(code=..., reason=...)``.
    """

    scope: dict[str, Any]
    base_send: Any

    def _init_state(self) -> None:
        self.sink: Sink | None = None
        self.hub: Hub | None = None
        self.space_id = 0
        self._resync_task: asyncio.Task[None] | None = None
        self._resync_again = False
        self._hls_user = 0

    if TYPE_CHECKING:  # provided by the class that runs the connection

        async def accept(self) -> None: ...

        async def send(self, text_data: str | None = None) -> None: ...

        async def close(self, code: int | None = None, reason: str | None = None) -> None: ...

    async def connect(self) -> None:
        # Accept first: a close before the handshake becomes an HTTP 403 and the client never sees the code.
        await self.accept()
        self.space_id = int(self.scope["url_route"]["kwargs"]["space_id"])
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # A guest listener (no account) shows the signed pass from ``guest-join``: read-only, like any socket.
            try:
                self._guest_check()
            except ApplicationError as exc:
                await self._refuse(exc)
                return
            user = None
        self.hub = get_hub()
        sink = self.sink = Sink(
            send=self.base_send,
            space_id=self.space_id,
            user_id=user.pk if user is not None else 0,  # 0: no account, so no personal events
            on_resync=self._schedule_resync,
            on_gone=self._forget_sink,
        )
        sink.begin_sync()
        # Subscribe first, read after: an event committed meanwhile is either in the snapshot or held in
        # the sink's backlog (and dropped there if the snapshot already covers its seq). One read checks
        # access (the join rules) and builds the snapshot.
        await self.subscribe(sink)
        try:
            frame, seq, host_team = await _snapshot(space_id=self.space_id, user=user)
        except ApplicationError as exc:
            self._forget_sink()
            self.sink = None
            await self._refuse(exc)
            return
        if host_team:
            await self.subscribe_host_team(sink)
        sink.end_sync(frame, seq)
        shed_handshake(sink, self.scope)
        if user is not None and b"transport=hls" in self.scope.get("query_string", b""):
            self._hls_user = user.pk
            await _hls_presence(space_id=self.space_id, user_id=user.pk, connected=True)

    def _guest_check(self) -> None:
        ticket = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("guest", [""])[0]
        if not ticket:
            raise ApplicationError("Log in first.", code="not_authenticated", status_code=401)
        guest_pass_check(ticket=ticket, space_id=self.space_id)

    async def _refuse(self, exc: ApplicationError) -> None:
        """An ``error`` frame with the stable code, then the close code (daphne drops close reasons)."""
        logger.info("realtime.socket_refused", extra={"space_id": self.space_id, "code": exc.code})
        error = {"code": exc.code, "detail": exc.detail, "extra": exc.extra}
        envelope = {"type": "error", "seq": None, "space": self.space_id or None, "ts": now_iso(), "data": error}
        await self.send(text_data=json.dumps(envelope, separators=(",", ":")))
        await self.close(code=close_code_for(exc.code), reason=exc.code)

    async def subscribe(self, sink: Sink) -> None:
        """Receive the Space's and the user's events from now on; called before the snapshot is read."""
        assert self.hub is not None
        await self.hub.register(sink)

    async def subscribe_host_team(self, sink: Sink) -> None:
        """The snapshot found a host-team member: nothing to do on the hub, whose host-team messages name
        their recipients. (The stock Channels path of the benchmark joins a group here: bench/stock.py.)"""

    # -- client frames ---------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.sink is None:
            return
        action = None
        try:
            message = json.loads(text_data or "")
            action = message.get("action") if isinstance(message, dict) else None
        except (ValueError, RecursionError):  # [[[[… raises RecursionError, which used to kill the socket
            pass
        if action == "resync":
            self._schedule_resync()
        elif action == "ping":
            self._send_frame({"type": "pong", "seq": None, "space": self.space_id, "ts": now_iso(), "data": {}})
        else:
            detail = 'Send {"action": "resync"} or {"action": "ping"}; all changes go through the REST API.'
            self._send_frame(
                {
                    "type": "error",
                    "seq": None,
                    "space": self.space_id,
                    "ts": now_iso(),
                    "data": {"code": "invalid_frame", "detail": detail},
                }
            )

    def _send_frame(self, envelope: dict[str, Any]) -> None:
        if self.sink is not None:
            self.sink.write(json.dumps(envelope, separators=(",", ":")))

    # -- snapshots -------------------------------------------------------------------------------
    def _schedule_resync(self) -> None:
        if self.sink is None:
            return
        if self._resync_task is not None:
            # One snapshot at a time per socket. The one in flight may have been read before the reason for
            # this request (a Redis link lost and regained, say), so another follows it.
            self._resync_again = True
            return
        self._resync_again = False
        self._resync_task = asyncio.ensure_future(self._resync())
        self._resync_task.add_done_callback(self._resync_done)

    def _resync_done(self, task: asyncio.Task[None]) -> None:
        self._resync_task = None
        if self._resync_again and not task.cancelled():
            self._schedule_resync()

    async def _resync(self) -> None:
        sink = self.sink
        if sink is None:
            return
        sink.begin_sync()
        try:
            user = self.scope["user"]
            viewer = user if user.is_authenticated else None
            frame, seq, _host_team = await _snapshot(space_id=self.space_id, user=viewer)
        except ApplicationError as exc:
            # Access changed since the socket opened (banned, ended, suspended): close with its code.
            sink.end_sync_refused(exc.code, exc.detail)
            sink.close(close_code_for(exc.code), exc.code)
            self._forget_sink()
            return
        sink.end_sync(frame, seq)

    def _forget_sink(self) -> None:
        if self.hub is not None and self.sink is not None:
            self.hub.unregister(self.sink)

    async def disconnect(self, code: int) -> None:
        self._forget_sink()
        if self._hls_user:
            await _hls_presence(space_id=self.space_id, user_id=self._hls_user, connected=False)
        if self._resync_task is not None:
            self._resync_task.cancel()


class SpaceSocket(SpaceSocketBehaviour):
    """The route's Space socket: plain ASGI, one object per connection and nothing else.

    Channels' consumer machinery cost ≈ 5 % of a socket's admission CPU in a storm (docs/benchmarks.md,
    "Third round: the websocket half"): a channel-layer lookup that raises ``KeyError`` per socket
    (``channel_layer_alias = "__none__"``), a Task per received message (``await_many_dispatch``: a
    second Task for the socket's whole life) and a handler lookup by name. This reads the ASGI messages
    itself, one at a time as Channels does (a message is handled before the next is read), and sends the
    same messages Channels' consumer sends.
    """

    def __init__(self, scope: dict[str, Any], send: Any) -> None:
        self.scope = scope
        self.base_send = send
        self._init_state()

    @classmethod
    def as_asgi(cls) -> Any:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            await cls(scope, send).run(receive)

        app.consumer_class = cls  # type: ignore[attr-defined]  # as Channels' as_asgi() does
        return app

    async def run(self, receive: Any) -> None:
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    text = message.get("text")
                    await self.receive(text_data=text, bytes_data=None if text is not None else message.get("bytes"))
                elif kind == "websocket.connect":
                    await self.connect()
                elif kind == "websocket.disconnect":
                    await self.disconnect(message.get("code", 1000))
                    return
        finally:
            # An unexpected error (the database gone mid-snapshot, say) ends the connection without a
            # disconnect message: the hub must not keep the socket (it did under Channels' consumer).
            self._forget_sink()
            if self._resync_task is not None:
                self._resync_task.cancel()

    async def accept(self) -> None:
        await self.base_send({"type": "websocket.accept", "subprotocol": None})

    async def send(self, text_data: str | None = None) -> None:
        await self.base_send({"type": "websocket.send", "text": text_data})

    async def close(self, code: int | None = None, reason: str | None = None) -> None:
        message: dict[str, Any] = {"type": "websocket.close"}
        if code is not None:
            message["code"] = code
        if reason:
            message["reason"] = reason
        await self.base_send(message)


class SpaceConsumer(SpaceSocketBehaviour, AsyncWebsocketConsumer):
    """The same socket run by Channels' consumer machinery (for subclasses that join Channels groups)."""

    # No Channels layer per socket: room, host-team and personal events all come through the process hub
    # (a channel and a receive task per socket cost ~5.5 KB and two Redis SUBSCRIBEs each; see
    # docs/benchmarks.md).
    channel_layer_alias = "__none__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_state()

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``aclose_old_connections`` before every message.

        That call is a trip through the process's one thread-sensitive thread per message (per socket
        opened, per client frame, twice per close): a crowd of sockets queued there behind each other.
        This consumer touches the database only through ``db_offthread`` and the hub's count tick, which
        close their connections themselves, before and after.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        await self.disconnect(message["code"])  # no Channels layer, so no groups to leave
        raise StopConsumer()
