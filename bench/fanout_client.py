"""Lean websocket load client for bench/fanout.py: many listeners in one asyncio process.

A hand-written client protocol (handshake + frame parser, no per-socket task) keeps the client's own
cost per frame to a few microseconds, so the arrival times measure the server, not the client.

    python bench/fanout_client.py --port P --space ID --tokens FILE --out FILE [--concurrency 200]
    python bench/fanout_client.py --protocol centrifugo --port P --tokens JWTS --out FILE   # the comparison

Prints ``READY <connected> <failed>`` once every socket has its snapshot (Spaces) or its connect reply
(Centrifugo: JSON protocol, the Space's channel subscribed server-side by the token's ``channels``
claim), then records the arrival time (``time.monotonic()``, shared by all processes of the machine)
of every frame by its ``seq``.
Writes the results and exits on ``DONE`` from stdin, or by itself after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import struct
import sys
import time
from collections import defaultdict


def masked_text_frame(payload: bytes) -> bytes:
    """A client's text frame (RFC 6455 5.3: client frames are masked)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[k % 4] for k, b in enumerate(payload))
    n = len(payload)
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + struct.pack(">H", n)
    return head + mask + masked


class Listener(asyncio.Protocol):
    __slots__ = ("buffer", "closed", "first", "handshaken", "ready", "request", "results", "transport")

    def __init__(
        self,
        request: bytes,
        ready: asyncio.Future[bool],
        results: dict[int, list[float]],
        first: bytes | None = None,
    ) -> None:
        self.request = request
        self.first = first  # a frame to send once the handshake is done (Centrifugo's connect command)
        self.ready = ready
        self.results = results
        self.buffer = b""
        self.handshaken = False
        self.closed: int | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio's, or uvloop's own TCPTransport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buffer = self.buffer + data
        if not self.handshaken:
            head, sep, rest = buffer.partition(b"\r\n\r\n")
            if not sep:
                self.buffer = buffer
                return
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self._fail()
                return
            self.handshaken = True
            if self.first is not None and self.transport is not None:
                self.transport.write(masked_text_frame(self.first))
            buffer = rest
        while len(buffer) >= 2:
            opcode, length, offset = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    break
                length, offset = struct.unpack_from(">H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    break
                length, offset = struct.unpack_from(">Q", buffer, 2)[0], 10
            end = offset + length
            if len(buffer) < end:
                break
            payload = buffer[offset:end]
            buffer = buffer[end:]
            self._frame(opcode, payload, now)
        self.buffer = buffer

    def _frame(self, opcode: int, payload: bytes, now: float) -> None:
        if opcode == 1:
            if not self.ready.done():
                ok = payload.startswith(b'{"type":"snapshot"') or payload.startswith(b'{"id":1,"connect":')
                self.ready.set_result(ok)
                return
            if payload == b"{}" and self.transport is not None:  # Centrifugo's application-level ping
                self.transport.write(masked_text_frame(b"{}"))
                return
            i = payload.find(b'"seq":')
            while i >= 0:  # Centrifugo may batch several messages, one per line, into one frame
                j = payload.find(b",", i)
                seq = payload[i + 6 : j]
                if seq != b"null":
                    self.results[int(seq)].append(now)
                i = payload.find(b'"seq":', j)
        elif opcode == 9 and self.transport is not None:  # ping: answer with a masked pong
            mask = os.urandom(4)
            masked = bytes(b ^ mask[k % 4] for k, b in enumerate(payload))
            self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
        elif opcode == 8:
            self.closed = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
            if not self.ready.done():
                self.ready.set_result(False)

    def _fail(self) -> None:
        if not self.ready.done():
            self.ready.set_result(False)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_result(False)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--space", type=int, default=0)
    parser.add_argument("--protocol", choices=["spaces", "centrifugo"], default="spaces")
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=900)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    loop = asyncio.get_running_loop()
    tokens = [t for t in open(args.tokens).read().split() if t]
    results: dict[int, list[float]] = defaultdict(list)
    listeners: list[Listener] = []
    gate = asyncio.Semaphore(args.concurrency)
    failed = 0

    async def open_one(token: str) -> None:
        nonlocal failed
        key = base64.b64encode(os.urandom(16)).decode()
        if args.protocol == "centrifugo":
            path, auth = "/connection/websocket", ""
            first: bytes | None = json.dumps({"id": 1, "connect": {"token": token}}).encode()
        else:
            path, auth, first = f"/ws/spaces/{args.space}/", f"Authorization: Token {token}\r\n", None
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"{auth}\r\n"
        ).encode()
        async with gate:
            ready: asyncio.Future[bool] = loop.create_future()
            try:
                _, protocol = await loop.create_connection(
                    lambda: Listener(request, ready, results, first), "127.0.0.1", args.port
                )
                ok = await asyncio.wait_for(ready, 60)
            except (OSError, TimeoutError):
                ok = False
            if ok:
                listeners.append(protocol)
            else:
                failed += 1

    started = time.monotonic()
    await asyncio.gather(*(open_one(t) for t in tokens))
    sys.stdout.write(f"READY {len(listeners)} {failed} {time.monotonic() - started:.1f}\n")
    sys.stdout.flush()

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while True:
            line = await asyncio.wait_for(reader.readline(), args.max_seconds)
            if not line or line.strip() == b"DONE":
                break
    except TimeoutError:
        pass
    closed = sum(1 for p in listeners if p.closed is not None)
    with open(args.out, "w") as fh:
        json.dump({"connected": len(listeners), "failed": failed, "closed": closed, "arrivals": results}, fh)
    for p in listeners:
        if p.transport is not None:
            p.transport.abort()
    sys.stdout.write("WROTE\n")
    sys.stdout.flush()


if __name__ == "__main__":
    try:  # the client's own cost per frame must stay far below the server's: uvloop's is a few µs
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(main())
    else:
        uvloop.run(main())
