"""Lean websocket load client for bench/fanout.py: many listeners in one process, kernel arrival times.

A hand-written client (non-blocking sockets on one ``epoll``, handshake and frame parser by hand, no
object per frame) keeps the client's own cost per frame to a few microseconds. Every read asks the
kernel for the time the data arrived in the listener's socket (``SO_TIMESTAMPNS``), so the arrival
time of a frame is when the server's write reached that socket, whatever the client process was doing
then. On a 2-core machine one client process reading 10,000 sockets is itself a bottleneck: the time
at which this program got around to reading each frame is recorded too (``app_arrivals``), and the gap
between the two is the client's, not the server's.

    python bench/fanout_client.py --port P --space ID --tokens FILE --out FILE [--concurrency 200]
    python bench/fanout_client.py --protocol centrifugo --port P --tokens JWTS --out FILE   # the comparison

Prints ``READY <connected> <failed> <seconds>`` once every socket has its snapshot (Spaces) or its
connect reply (Centrifugo: JSON protocol, the Space's channel subscribed server-side by the token's
``channels`` claim), then records the arrival times of every frame by its ``seq`` on the
``time.monotonic()`` clock shared by all processes of the machine. Writes the results and exits on
``DONE`` from stdin, or by itself after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import base64
import errno
import json
import os
import resource
import selectors
import socket
import struct
import sys
import time
from collections import defaultdict, deque

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; SCM_TIMESTAMPNS has the same number
ANCILLARY = socket.CMSG_SPACE(16)  # one struct timespec
HANDSHAKE_TIMEOUT_S = 60.0


def masked_text_frame(payload: bytes) -> bytes:
    """A client's text frame (RFC 6455 5.3: client frames are masked)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[k % 4] for k, b in enumerate(payload))
    n = len(payload)
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + struct.pack(">H", n)
    return head + mask + masked


class Listener:
    """One websocket: handshake, then frames; ``ready`` is None until the first frame says yes or no."""

    __slots__ = ("buffer", "closed", "first", "handshaken", "ready", "request", "since", "sock")

    def __init__(self, sock: socket.socket, request: bytes, first: bytes | None) -> None:
        self.sock = sock
        self.request = request
        self.first = first  # a frame to send once the handshake is done (Centrifugo's connect command)
        self.buffer = b""
        self.handshaken = False
        self.ready: bool | None = None
        self.closed: int | None = None
        self.since = time.monotonic()

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)  # small writes to an empty send buffer: never partial in practice
        except OSError:
            self.fail()

    def fail(self) -> None:
        if self.ready is None:
            self.ready = False

    def feed(self, data: bytes, kernel: float, app: float, arrivals: Arrivals) -> None:
        buffer = self.buffer + data
        if not self.handshaken:
            head, sep, rest = buffer.partition(b"\r\n\r\n")
            if not sep:
                self.buffer = buffer
                return
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self.fail()
                return
            self.handshaken = True
            if self.first is not None:
                self.send(masked_text_frame(self.first))
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
            self.frame(opcode, payload, kernel, app, arrivals)
        self.buffer = buffer

    def frame(self, opcode: int, payload: bytes, kernel: float, app: float, arrivals: Arrivals) -> None:
        if opcode == 1:
            if self.ready is None:
                self.ready = payload.startswith(b'{"type":"snapshot"') or payload.startswith(b'{"id":1,"connect":')
                return
            if payload == b"{}":  # Centrifugo's application-level ping
                self.send(masked_text_frame(b"{}"))
                return
            i = payload.find(b'"seq":')
            while i >= 0:  # Centrifugo may batch several messages, one per line, into one frame
                j = payload.find(b",", i)
                seq = payload[i + 6 : j]
                if seq != b"null":
                    arrivals.add(int(seq), kernel, app)
                i = payload.find(b'"seq":', j)
        elif opcode == 9:  # ping: answer with a masked pong
            mask = os.urandom(4)
            masked = bytes(b ^ mask[k % 4] for k, b in enumerate(payload))
            self.send(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
        elif opcode == 8:
            self.closed = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
            self.fail()


class Arrivals:
    def __init__(self) -> None:
        self.kernel: dict[int, list[float]] = defaultdict(list)
        self.app: dict[int, list[float]] = defaultdict(list)

    def add(self, seq: int, kernel: float, app: float) -> None:
        self.kernel[seq].append(kernel)
        self.app[seq].append(app)


def kernel_time(ancillary: list[tuple[int, int, bytes]], realtime_offset: float) -> float | None:
    """The arrival time the kernel stamped on the data, on the monotonic clock."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return seconds + nanoseconds / 1e9 - realtime_offset
    return None


def main() -> None:
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
    realtime_offset = time.time() - time.monotonic()  # both clocks tick together over a run

    tokens = deque(t for t in open(args.tokens).read().split() if t)
    total = len(tokens)
    arrivals = Arrivals()
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, None)
    connecting: dict[socket.socket, Listener] = {}  # handshakes in flight
    listeners: list[Listener] = []
    failed = 0
    started = time.monotonic()
    announced = False

    def request_for(token: str) -> tuple[bytes, bytes | None]:
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
        return request, first

    def open_next() -> None:
        nonlocal failed
        while tokens and len(connecting) < args.concurrency:
            request, first = request_for(tokens.popleft())
            sock = socket.socket()
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            code = sock.connect_ex(("127.0.0.1", args.port))
            if code not in (0, errno.EINPROGRESS):
                sock.close()
                failed += 1
                continue
            listener = Listener(sock, request, first)
            connecting[sock] = listener
            selector.register(sock, selectors.EVENT_WRITE, listener)

    def settle(listener: Listener) -> None:
        """A handshake ended: keep the socket, or count it failed."""
        nonlocal failed
        connecting.pop(listener.sock, None)
        if listener.ready:
            listeners.append(listener)
        else:
            failed += 1
            selector.unregister(listener.sock)
            listener.sock.close()

    open_next()
    deadline = started + args.max_seconds
    done = False
    while not done and time.monotonic() < deadline:
        for key, mask in selector.select(timeout=0.5):
            listener = key.data
            if listener is None:  # stdin: DONE, or closed
                line = sys.stdin.readline()
                if not line or line.strip() == "DONE":
                    done = True
                continue
            sock = listener.sock
            if mask & selectors.EVENT_WRITE:  # connected (or refused)
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    listener.fail()
                    settle(listener)
                    continue
                selector.modify(sock, selectors.EVENT_READ, listener)
                listener.send(listener.request)
                continue
            try:
                data, ancillary, _flags, _addr = sock.recvmsg(65536, ANCILLARY)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data, ancillary = b"", []
            app = time.monotonic()
            if not data:
                listener.closed = listener.closed or 1006
                listener.fail()
                if sock in connecting:
                    settle(listener)
                else:
                    selector.unregister(sock)
                continue
            kernel = kernel_time(ancillary, realtime_offset)
            listener.feed(data, app if kernel is None else kernel, app, arrivals)
            if sock in connecting and listener.ready is not None:
                settle(listener)
        now = time.monotonic()
        for listener in [x for x in connecting.values() if now - x.since > HANDSHAKE_TIMEOUT_S]:
            listener.fail()
            settle(listener)
        open_next()
        if not announced and not tokens and not connecting:
            announced = True
            sys.stdout.write(f"READY {len(listeners)} {failed} {time.monotonic() - started:.1f}\n")
            sys.stdout.flush()
            assert len(listeners) + failed == total

    closed = sum(1 for p in listeners if p.closed is not None)
    with open(args.out, "w") as fh:
        result = {"connected": len(listeners), "failed": failed, "closed": closed}
        json.dump({**result, "arrivals": arrivals.kernel, "app_arrivals": arrivals.app}, fh)
    for p in listeners:
        p.sock.close()
    sys.stdout.write("WROTE\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
