"""One websocket as the hub sees it: an ordered, bounded pipe of frames, and the back-pressure rule.

Slow sockets: each sink writes without waiting on any other. While a socket's transport is paused
(the client does not read), its frames queue in the sink, up to ``SINK_MAX_PENDING``; past that the
socket is closed with 4408 and the client reconnects and gets a snapshot. Others are never delayed.

On uvicorn a frame may skip the ASGI ``send`` altogether (:mod:`spaces_project.realtime.uvicorn_fastpath`);
everywhere else, and whenever the fast path cannot write at once, it goes through the ASGI ``send``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from spaces_project.realtime import uvicorn_fastpath
from spaces_project.realtime.wire import CLOSE_TOO_SLOW, error_frame, text_frame

logger = logging.getLogger(__name__)

SINK_MAX_PENDING = 64  # frames waiting on one socket before it is dropped

SendFn = Callable[[dict[str, Any]], Awaitable[None]]


class Sink:
    """One websocket: frames in order to the ASGI ``send``, bounded, never waiting on another socket.

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
        self.raw = uvicorn_fastpath.protocol_of(send)  # None: the plain ASGI path
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
    def deliver(self, frame: str, seq: int | None = None) -> None:
        """Hand one room frame to this socket; ``seq`` lets a snapshot in progress skip what it covers.

        (Frames for many sockets go through :func:`deliver_all`, which tries the uvicorn fast path first.)
        """
        if self.closed:
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
        self.write(error_frame(self.space_id, code, detail))

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
        self.close(CLOSE_TOO_SLOW, "too_slow")
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


def deliver_all(sinks: Iterable[Sink], frame: str, seq: int | None = None) -> None:
    """Hand one frame to many sockets: framed once; on uvicorn, idle writable sockets get it in one pass."""
    wire = text_frame(frame.encode())
    for sink in uvicorn_fastpath.write_idle(sinks, wire):
        sink.deliver(frame, seq)


def shed_handshake(sink: Sink, scope: dict[str, Any]) -> None:
    """Free what only the handshake needed, once the socket is open (≈ 3 KB of an idle socket).

    The request headers (the scope's list, shared by every middleware's copy of the scope) and, on
    uvicorn, the protocol's parsed handshake request and response stay referenced for the socket's
    life though nothing reads them after ``accept``.
    """
    headers = scope.get("headers")
    if isinstance(headers, list):
        headers.clear()
    if sink.raw is not None:
        uvicorn_fastpath.shed_handshake(sink.raw)
