"""The root of the test suite: the autouse fixtures every test gets, API clients, and the shared harness.

The harness lives in ``tests/support/`` (servers, LiveKit, the Stripe proxy, Celery workers, the cluster,
the browser, builders of Spaces, participants and tickets); its fixtures are registered here, once, as
plugins, so that no conftest imports another and no fixture is copied per folder. Test modules import
helpers from ``tests.support`` (and ``tests.factories``), never from a conftest.

End-to-end groups get their marker from the fixtures they use (``livekit``, ``browser``, ``cluster``),
so each group runs alone: ``pytest -m livekit``, ``-m browser``, ``-m cluster``; ``-m "not e2e"`` leaves
all three out. See README.md, "Tests".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.support.services import IN_CI, require  # noqa: F401 - still importable from here, as before

pytest_plugins = [
    "tests.support.services",
    "tests.support.servers",
    "tests.support.livekit",
    "tests.support.stripe",
    "tests.support.cluster",
    "tests.support.browser",
]

# A test using one of these fixtures (directly or through another fixture) belongs to that group.
E2E_GROUPS = {
    "livekit": {"livekit_stack", "livekit_url"},
    "browser": {"browser", "chromium_path"},
    "cluster": {"cluster"},
}


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        groups = {name for name, fixtures in E2E_GROUPS.items() if used & fixtures}
        groups |= {name for name in E2E_GROUPS if item.get_closest_marker(name)}
        for name in sorted(groups):
            item.add_marker(name)
        if groups:
            item.add_marker("e2e")


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


@pytest.fixture(autouse=True)
def _events_match_catalogue(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every event a test makes a service send must be what its class in the event catalogue declares
    (types and required fields of ``data``, ``seq``, ``space``): checked where it is sent, reported at the
    end of the test (a service may swallow the exception; the test fails anyway). Frames read from
    sockets are checked by ``tests/support/sockets.py`` (not in tests marked ``raw_frames``)."""
    from spaces_project.realtime import events as catalogue
    from tests import event_conformance
    from tests.event_conformance import EventViolation, validate_sent

    if request.node.get_closest_marker("raw_frames"):
        monkeypatch.setattr(event_conformance, "FRAMES_CHECKED", False)

    original = catalogue.check
    violations: list[str] = []

    def check(event: catalogue.Event) -> None:
        original(event)
        try:
            validate_sent(event)
        except EventViolation as exc:
            violations.append(str(exc))
            raise

    monkeypatch.setattr(catalogue, "check", check)
    yield
    if violations:
        pytest.fail("events that break their class in the catalogue:\n" + "\n".join(violations))


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
