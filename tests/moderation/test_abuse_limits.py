"""Abuse limits: every scope is applied to its endpoint, per user, in the shared cache, with retry-after."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.test import override_settings
from django.urls import resolve
from rest_framework.settings import api_settings
from rest_framework.test import APIRequestFactory
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle

from tests.support.builders import Cast

pytestmark = pytest.mark.django_db


@contextmanager
def rates(**scopes: str) -> Iterator[None]:
    """Lower some throttle rates for the duration, with counters under a key prefix of this test alone.

    DRF binds the rates dict at import, so it is rebound here. The private prefix keeps the counters
    away from other test runs sharing the Redis (each clears the common prefix between its tests).
    """
    from django.conf import settings

    new = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **scopes},
    }
    cache = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"mod-{uuid.uuid4().hex[:10]}"}}
    with override_settings(REST_FRAMEWORK=new, CACHES=cache):
        SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
        try:
            yield
        finally:
            api_settings.reload()  # the counters expire with their window
    SimpleRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES


SCOPED = [
    ("post", "/api/v1/auth/register", "register"),
    ("post", "/api/v1/auth/token", "login"),
    ("post", "/api/v1/spaces/1/hand", "hand"),
    ("post", "/api/v1/spaces/1/reactions", "reaction"),
    ("post", "/api/v1/spaces/1/messages", "message"),
    ("post", "/api/v1/reports", "report"),
    ("post", "/api/v1/spaces/1/join", "join"),
    ("post", "/api/v1/spaces/1/guest-join", "guest_join"),
]


@pytest.mark.parametrize(("method", "path", "scope"), SCOPED)
def test_every_abuse_scope_is_applied_to_its_endpoint(method: str, path: str, scope: str) -> None:
    match = resolve(path)
    view = match.func.view_class(**getattr(match.func, "view_initkwargs", {}))  # type: ignore[attr-defined]
    view.request = APIRequestFactory().generic(method.upper(), path)
    view.request.method = method.upper()
    throttles = view.get_throttles()
    assert any(isinstance(t, ScopedRateThrottle) for t in throttles)
    assert view.throttle_scope == scope
    from django.conf import settings

    assert scope in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]


def _throttled(response: Any) -> None:
    assert response.status_code == 429
    assert response.data["code"] == "throttled"
    assert response.data["extra"]["retry_after"] >= 1
    assert int(response["Retry-After"]) >= 1


def test_reports_are_limited_per_user(cast: Cast, make_client) -> None:
    with rates(report="2/hour"):
        client = make_client(cast.listener)
        for target in (cast.speaker, cast.speaker2):
            assert client.post("/api/v1/reports", {"username": target.username, "category": "spam"}).status_code == 201
        _throttled(client.post("/api/v1/reports", {"username": cast.host.username, "category": "spam"}))
        # another user has their own budget
        other = make_client(cast.listener2).post(
            "/api/v1/reports", {"username": cast.host.username, "category": "spam"}
        )
        assert other.status_code == 201
    from moderation.models import Report

    assert Report.objects.filter(reporter=cast.listener).count() == 2


def test_hand_raises_are_limited(cast: Cast, make_client) -> None:
    with rates(hand="2/min"):
        client = make_client(cast.listener)
        path = f"/api/v1/spaces/{cast.space.pk}/hand"
        assert client.post(path).status_code == 201
        assert client.delete(path).status_code == 204
        _throttled(client.post(path))
    from rooms.models import HandRaise

    assert HandRaise.objects.filter(user=cast.listener, state="raised").count() == 0


def test_joins_are_limited(cast: Cast, make_client) -> None:
    with rates(join="1/min"):
        client = make_client(cast.outsider)
        client.post(f"/api/v1/spaces/{cast.space.pk}/join")
        _throttled(client.post(f"/api/v1/spaces/{cast.space.pk}/join"))


def test_account_creation_is_limited(api_client) -> None:
    with rates(register="1/hour"):
        body = {"username": "newbie1", "password": "correct-horse-battery-9"}
        assert api_client.post("/api/v1/auth/register", body).status_code == 201
        _throttled(api_client.post("/api/v1/auth/register", {**body, "username": "newbie2"}))
    from accounts.models import User

    assert not User.objects.filter(username="newbie2").exists()


def test_reactions_and_messages_are_limited(cast: Cast, make_client) -> None:
    with rates(reaction="1/min", message="1/min"):
        client = make_client(cast.listener)
        client.post(f"/api/v1/spaces/{cast.space.pk}/reactions", {"emoji": "👏"})
        _throttled(client.post(f"/api/v1/spaces/{cast.space.pk}/reactions", {"emoji": "👏"}))
        client.post(f"/api/v1/spaces/{cast.space.pk}/messages", {"text": "hi"})
        _throttled(client.post(f"/api/v1/spaces/{cast.space.pk}/messages", {"text": "hi"}))


def test_counters_live_in_redis_shared_by_every_process(cast: Cast, make_client, redis_url: str) -> None:
    import redis
    from django.conf import settings
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    assert isinstance(caches["default"], RedisCache)  # Django's Redis cache (degrading while Redis is down)
    client = redis.Redis.from_url(redis_url)
    with rates(report="5/hour"):
        prefix = settings.CACHES["default"]["KEY_PREFIX"]
        make_client(cast.listener).post("/api/v1/reports", {"username": cast.host.username, "category": "spam"})
        keys = [k.decode() for k in client.scan_iter(f"{prefix}:*")]
    try:
        assert len(keys) == 1 and f"throttle_report_{cast.listener.pk}" in keys[0]
        assert client.ttl(keys[0]) > 0
    finally:
        for key in keys:
            client.delete(key)
        client.close()
