"""Guards for the real services, and the test database's flush under live server processes.

A test that needs a real service asks for its fixture (``postgres_url``, ``redis_url``, ``livekit_url``,
``stripe_mock_url``, ``chromium_path``). When the service is not configured or does not answer, the test
is skipped on a developer's machine and **fails** under ``CI=true``: CI must never go green by skipping
what it was meant to prove.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any, NoReturn
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.test import TransactionTestCase

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def require(name: str, url: str, default_port: int) -> str:
    """Return ``url`` if the service answers; otherwise skip (locally) or fail (CI)."""
    if url and reachable(url, default_port):
        return url
    message = f"{name} is not available (configure it with bin/services up; url={url!r})"
    if IN_CI:
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


def unavailable(message: str) -> NoReturn:
    """A real component this test needs cannot be had: skip locally, fail under ``CI=true``."""
    if IN_CI:
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


def _flush_retrying_deadlocks(original: Callable[[Any], None]) -> Callable[[Any], None]:
    """Tests with real server processes (LiveKit webhooks, Celery workers, a cluster's beat and hubs) may
    still be reading or writing when the test database is flushed; PostgreSQL then breaks the deadlock by
    failing one side, sometimes the TRUNCATE. The flush is one transaction and the other side's work is the
    test's leftovers, so the flush is simply tried again."""

    def teardown(self: Any) -> None:
        for attempt in range(5):
            try:
                original(self)
                return
            except Exception as exc:  # CommandError wrapping the OperationalError
                if "deadlock detected" not in f"{exc} {exc.__cause__} {exc.__context__}" or attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1))

    return teardown


TransactionTestCase._fixture_teardown = _flush_retrying_deadlocks(  # type: ignore[method-assign]
    TransactionTestCase._fixture_teardown
)


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        url = ""
    return require("PostgreSQL", url, 5432)


@pytest.fixture
def redis_url() -> str:
    return require("Redis", settings.REDIS_URL, 6379)


@pytest.fixture
def livekit_url() -> str:
    return require("livekit-server", settings.LIVEKIT_API_URL or settings.LIVEKIT_URL, 7880)


@pytest.fixture
def stripe_mock_url() -> str:
    return require("stripe-mock", settings.STRIPE_API_BASE, 12111)


@pytest.fixture
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not os.path.exists(path):
        unavailable(f"Chromium not found at {path}")
    return path
