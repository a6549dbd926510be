"""The uvicorn fast path: a frame framed once per event, written straight to each socket's transport.

Fan-out time on uvicorn is dominated by the server's per-socket Python framing and the session
middleware's per-send checks (docs/benchmarks.md). When a socket is served by uvicorn's
``websockets-sansio`` protocol (the Procfile's ``--ws websockets-sansio``), the hub writes the
pre-framed bytes (:func:`~spaces_project.realtime.wire.text_frame`) to the protocol's transport itself,
while uvicorn reports it writable and nothing else is queued for it.

This module is the only one that knows uvicorn's internals; the attributes it reads are listed in
:data:`PROTOCOL_ATTRIBUTES`, and tests/realtime/test_uvicorn_fastpath.py fails when uvicorn stops
having them or the protocol can no longer be found behind Channels' ``send``. Everything else (daphne,
another server, ``SPACES_WS_FAST_PATH=false``) takes the plain ASGI path: the sink awaits the server's
``send`` (:mod:`spaces_project.realtime.sink`), which is what every frame did before this path existed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings

# What this module reads or writes on uvicorn's WebSocketsSansIOProtocol (uvicorn 0.54).
PROTOCOL_ATTRIBUTES = ("writable", "handshake_complete", "close_sent", "transport", "request", "response")
_WRAPPER_DEPTH = 8  # Channels' wrappers between the consumer's ``base_send`` and the server


def enabled() -> bool:
    return bool(getattr(settings, "SPACES_WS_FAST_PATH", True))


def protocol_class() -> type | None:
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    except ImportError:  # pragma: no cover - uvicorn is a pinned dependency
        return None
    return WebSocketsSansIOProtocol


def protocol_of(send: Any) -> Any:
    """Uvicorn's websocket protocol behind an ASGI ``send`` (through Channels' wrappers), or None.

    None (the plain ASGI path) when the fast path is switched off, the server is not uvicorn's
    ``websockets-sansio``, or the protocol is not where this expects it.
    """
    cls = protocol_class()
    if cls is None or not enabled():
        return None
    target = send
    for _ in range(_WRAPPER_DEPTH):
        owner = getattr(target, "__self__", None)
        if isinstance(owner, cls):
            return owner
        target = getattr(owner, "real_send", None)  # channels.sessions.InstanceSessionWrapper
        if target is None:
            return None
    return None


def write_idle(sinks: Iterable[Any], wire: bytes) -> list[Any]:
    """Write ``wire`` to every sink's transport that uvicorn would send it to now; returns the others.

    One pass over a Space's sockets per event, without a call per socket: a sink qualifies when it is on
    uvicorn (``sink.raw``), open, not building a snapshot and has nothing queued (``closed``,
    ``syncing``, ``busy``: :class:`~spaces_project.realtime.sink.Sink`), and its transport is writable.
    """
    rest = []
    for sink in sinks:
        raw = sink.raw
        if (
            raw is not None
            and not sink.closed
            and not sink.syncing
            and not sink.busy
            and raw.writable.is_set()
            and raw.handshake_complete
            and not raw.close_sent
            and not raw.transport.is_closing()
        ):
            raw.transport.write(wire)
        else:
            rest.append(sink)
    return rest


def shed_handshake(raw: Any) -> None:
    """Drop the parsed handshake request and response uvicorn keeps for the socket's life (unread later)."""
    if raw.handshake_complete:
        for name in ("request", "response"):
            if hasattr(raw, name):
                setattr(raw, name, None)
