"""A recording pass-through in front of stripe-mock.

stripe-mock validates every request against Stripe's API spec but keeps no state, so it cannot tell
whether a request was repeated. This proxy forwards every request to it unchanged and records the
method, path, ``Idempotency-Key`` and form body, which is what the tests assert on ("one transfer
key per payout", "no PaymentIntent for a buyer without a seat"). ``pause_on`` holds the answer to a
matching request (after forwarding it) until released: a worker can be killed while it waits.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


@dataclass
class Recorded:
    method: str
    path: str
    idempotency_key: str | None
    form: dict[str, list[str]]


@dataclass
class StripeProxy:
    upstream: str
    calls: list[Recorded] = field(default_factory=list)
    pause_on: str | None = None  # e.g. "POST /v1/transfers": hold the first such answer
    refuse: set[str] = field(default_factory=set)  # answer these with a Stripe 400 instead of forwarding
    paused: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def posts(self, path: str) -> list[Recorded]:
        with self.lock:
            return [c for c in self.calls if c.method == "POST" and c.path == path]

    def start(self) -> StripeProxy:
        proxy = self
        target = urlparse(self.upstream)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urlparse(self.path).path
                with proxy.lock:
                    proxy.calls.append(
                        Recorded(
                            method=self.command,
                            path=path,
                            idempotency_key=self.headers.get("Idempotency-Key"),
                            form=parse_qs(body.decode()),
                        )
                    )
                if f"{self.command} {path}" in proxy.refuse:
                    error = (
                        b'{"error": {"type": "invalid_request_error", "code": "account_invalid", "message": "refused"}}'
                    )
                    self.send_response(400)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    self.wfile.write(error)
                    return
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                answer = conn.getresponse()
                payload = answer.read()
                conn.close()
                if proxy.pause_on == f"{self.command} {path}" and not proxy.paused.is_set():
                    proxy.paused.set()
                    proxy.release.wait(60)
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _forward  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
