"""Shared fixtures: API clients, factories, and guards for the real services.

A test that needs a real service asks for its fixture. When the service is not configured or does
not answer, the test is skipped on a developer's machine and **fails** under ``CI=true``: CI must
never go green by skipping what it was meant to prove.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management.base import CommandError
from django.test import TransactionTestCase
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytest_plugins = ["tests.support.cluster"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _flush_retrying_deadlocks(original: Callable[[Any], None]) -> Callable[[Any], None]:
    """Tests with real server processes (LiveKit webhooks, Celery workers, a cluster) may still be writing
    when the test database is flushed; PostgreSQL then breaks the deadlock by failing one side, sometimes
    the TRUNCATE. The writes are the test's leftovers, so the flush is simply tried again."""

    def teardown(self: Any) -> None:
        for attempt in range(5):
            try:
                original(self)
                return
            except CommandError as exc:
                if "deadlock detected" not in f"{exc} {exc.__cause__}" or attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1))

    return teardown


TransactionTestCase._fixture_teardown = _flush_retrying_deadlocks(  # type: ignore[method-assign]
    TransactionTestCase._fixture_teardown
)


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def require(name: str, url: str, default_port: int) -> str:
    """Return ``url`` if the service answers; otherwise skip (locally) or fail (CI)."""
    if url and _reachable(url, default_port):
        return url
    message = f"{name} is not available (configure it with bin/services up; url={url!r})"
    if IN_CI:
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


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
        if IN_CI:
            pytest.fail(f"CI=true: Chromium not found at {path}", pytrace=False)
        pytest.skip(f"Chromium not found at {path}")
    return path


@pytest.fixture(autouse=True)
def _isolated_throttles() -> Iterator[None]:
    """Throttle counters live in the cache; start every test with none."""
    _clear_cache()
    yield


def _clear_cache() -> None:
    if settings.REDIS_URL:
        import redis

        prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _livekit_for_tests(settings: Any) -> None:
    """A private LiveKit room prefix per test; without a configured LiveKit (the embedded SQLite run),
    test keys so that join can mint tokens — server calls then fail fast and are logged, the database
    staying the truth. Tests that need the real server ask for ``livekit_url``."""
    settings.LIVEKIT_ROOM_PREFIX = f"t{uuid.uuid4().hex[:8]}-"
    if not settings.LIVEKIT_API_KEY:
        settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "test-key", "test-secret-" + "x" * 32
        settings.LIVEKIT_URL, settings.LIVEKIT_API_URL = "ws://127.0.0.1:9", "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _eager_celery(settings: object) -> None:
    from spaces_project.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True


@pytest.fixture(autouse=True)
def _responses_match_openapi_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``/api/v1/`` response a test receives through ``APIClient`` must be one the OpenAPI schema
    documents (status and body): the schema tells clients the truth or the suite fails."""
    from tests.openapi_conformance import validate_django_response

    original = APIClient.request

    def request(self: APIClient, **kwargs: Any) -> Any:
        response = original(self, **kwargs)
        validate_django_response(kwargs.get("REQUEST_METHOD", "GET"), kwargs.get("PATH_INFO", ""), response)
        return response

    monkeypatch.setattr(APIClient, "request", request)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def make_client() -> Callable[..., APIClient]:
    """``make_client(user)`` → an APIClient authenticated with that user's token."""

    def _make(user: object | None = None) -> APIClient:
        client = APIClient()
        if user is not None:
            from rest_framework.authtoken.models import Token

            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return _make


@pytest.fixture
def user() -> object:
    return UserFactory()
