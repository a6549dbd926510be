"""While the cache's Redis is unreachable the API keeps answering: the cache only ever holds limits and memos."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.core.cache import cache
from redis.exceptions import ConnectionError as RedisConnectionError

from rooms.discovery.services.room_extras import _within_space_budget
from tests.factories import UserFactory


def _dead_redis_url() -> str:
    with socket.socket() as s:  # a loopback port nobody listens on: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def _caches(backend: str) -> dict[str, Any]:
    options = {"socket_connect_timeout": 1, "socket_timeout": 1}
    return {"default": {"BACKEND": backend, "LOCATION": _dead_redis_url(), "KEY_PREFIX": "t", "OPTIONS": options}}


@pytest.fixture
def dead_cache(settings: Any) -> None:
    settings.CACHES = _caches("spaces_project.common.cache.ResilientRedisCache")


def test_the_stock_backend_fails_on_a_dead_redis(settings: Any) -> None:
    # What the resilient backend is for: Django's own raises on every call.
    settings.CACHES = _caches("django.core.cache.backends.redis.RedisCache")
    with pytest.raises(RedisConnectionError):
        cache.get("k")


def test_reads_miss_writes_drop_and_counters_start_again(dead_cache: None) -> None:
    assert cache.get("k", "default") == "default"
    assert cache.get_many(["a", "b"]) == {}
    assert cache.add("k", 1) is False
    cache.set("k", 1)
    assert cache.get("k") is None
    assert cache.has_key("k") is False
    assert cache.delete("k") is False
    with pytest.raises(ValueError):  # what Django says of a missing key: callers already handle it
        cache.incr("k")
    assert _within_space_budget(1) is True  # the reaction budget opens rather than failing


@pytest.mark.django_db
def test_throttled_api_calls_answer_while_the_cache_is_down(dead_cache: None, make_client: Any) -> None:
    user = UserFactory()
    client = make_client(user)
    response = client.get("/api/v1/me")  # DRF's user throttle reads and writes the cache on every call
    assert response.status_code == 200, response.content
    assert response.json()["username"] == user.username
    response = client.post("/api/v1/auth/token", {"username": user.username, "password": "wrong"}, format="json")
    assert response.status_code == 400  # the login throttle too: a clear answer, not a 500
