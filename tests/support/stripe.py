"""A recording pass-through in front of stripe-mock.

stripe-mock validates every request against Stripe's API spec but keeps no state, so it cannot tell
whether a request was repeated. This proxy forwards every request to it unchanged and records the
method, path, ``Idempotency-Key`` and form body, which is what the tests assert on ("one transfer
key per payout", "no PaymentIntent for a buyer without a seat"). ``pause_on`` holds the answer to a
matching request (after forwarding it) until released: a worker can be killed while it waits.

Also Stripe's side of webhooks: events shaped as Stripe sends them, signed with the endpoint's secret.
Fixtures (registered from tests/conftest.py): ``stripe_proxy`` (the app's Stripe calls go through it),
``webhook_secret`` and ``post_event`` (a signed ``POST /webhooks/stripe``).
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import stripe
from django.conf import settings as django_settings
from django.test import Client

_event_numbers = itertools.count(1)
# stripe-mock accepts only keys shaped sk_test_<one part>; .services/env's sk_test_spaces_local has two.
STRIPE_MOCK_KEY = "sk_test_spacesLocal"


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


@pytest.fixture
def stripe_proxy(stripe_mock_url: str, settings: Any) -> Iterator[StripeProxy]:
    """stripe-mock behind a recording proxy; the app's Stripe calls go through it."""
    proxy = StripeProxy(upstream=stripe_mock_url).start()
    settings.STRIPE_API_BASE = proxy.url
    settings.STRIPE_SECRET_KEY = STRIPE_MOCK_KEY
    yield proxy
    proxy.stop()


def stripe_event(
    event_type: str, obj: dict[str, Any], *, event_id: str | None = None, created: int | None = None
) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_test_{uuid.uuid4().hex[:12]}_{next(_event_numbers)}",
        "object": "event",
        "type": event_type,
        "created": created if created is not None else int(time.time()),
        "livemode": False,
        "api_version": "2024-06-20",
        "data": {"object": obj},
    }


def payment_succeeded(ticket: Any, **kwargs: Any) -> dict[str, Any]:
    return stripe_event(
        "payment_intent.succeeded",
        {
            "id": ticket.payment_intent_id,
            "object": "payment_intent",
            "amount": ticket.price_cents,
            "amount_received": ticket.price_cents,
            "currency": "usd",
            "status": "succeeded",
            "metadata": {"ticket_id": str(ticket.pk), "space_id": str(ticket.space_id)},
        },
        **kwargs,
    )


def sign(payload: str, secret: str | None = None) -> str:
    secret = secret or django_settings.STRIPE_WEBHOOK_SECRET
    return stripe.WebhookSignature.generate_signature_header(payload, secret)


@pytest.fixture
def webhook_secret(settings: Any) -> str:
    settings.STRIPE_WEBHOOK_SECRET = settings.STRIPE_WEBHOOK_SECRET or "whsec_tickets_test_secret"
    return str(settings.STRIPE_WEBHOOK_SECRET)


@pytest.fixture
def post_event(webhook_secret: str) -> Callable[..., Any]:
    """``post_event(event)`` → the response of ``POST /webhooks/stripe`` with a valid signature."""
    client = Client()

    def _post(event: dict[str, Any], *, signature: str | None = None) -> Any:
        payload = json.dumps(event)
        return client.post(
            "/webhooks/stripe",
            data=payload,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature if signature is not None else sign(payload, webhook_secret),
        )

    return _post
