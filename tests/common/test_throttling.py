"""The join's rate limit: DRF's sliding window, counted by one atomic Redis script."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.throttling import ScopedRateThrottle

from spaces_project.common.throttling import AtomicScopedRateThrottle
from tests.common.test_cache_outage import _caches

pytestmark = pytest.mark.usefixtures("redis_cache")


@pytest.fixture
def redis_cache(redis_url: str, settings: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "spaces_project.common.cache.ResilientRedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "throttle-test",
        }
    }
    cache.clear()


class _View:
    throttle_scope = "join"


class _Request:
    def __init__(self, pk: int) -> None:
        self.user = type("U", (), {"pk": pk, "is_authenticated": True})()
        self.META = {"REMOTE_ADDR": "127.0.0.1"}


def _req(pk: int) -> Any:
    return _Request(pk)


VIEW: Any = _View()


def _throttle(cls: type[ScopedRateThrottle], now: float) -> ScopedRateThrottle:
    throttle = cls()
    throttle.timer = lambda: now  # type: ignore[method-assign]
    return throttle


def test_the_window_is_a_redis_list_kept_by_one_script(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "join", "3/min")
    client = caches["default"]._cache.get_client(write=True)  # type: ignore[attr-defined]
    client.script_flush()  # a Redis that never saw the script: redis-py loads it once (NOSCRIPT, SCRIPT LOAD)
    assert _throttle(AtomicScopedRateThrottle, 999.0).allow_request(_req(6), VIEW) is True
    seen: list[str] = []
    original = client.execute_command

    def counting(*args: Any, **kwargs: Any) -> Any:
        seen.append(str(args[0]).upper())
        return original(*args, **kwargs)

    monkeypatch.setattr(client, "execute_command", counting)
    allowed = [_throttle(AtomicScopedRateThrottle, 1000.0 + i).allow_request(_req(7), VIEW) for i in range(4)]
    assert allowed == [True, True, True, False]
    assert set(seen) <= {"EVALSHA", "EVAL", "SCRIPT LOAD"} and seen.count("EVALSHA") == 4, seen  # one call each
    key = cache.make_and_validate_key("throttle_join_7_window")
    assert client.type(key) == b"list" and [float(t) for t in client.lrange(key, 0, -1)] == [1002.0, 1001.0, 1000.0]
    assert 0 < client.ttl(key) <= 60  # DRF's cache timeout: the window's length


def test_the_wait_and_the_window_are_drfs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "join", "4/min")
    local = LocMemCache("drf-reference", {})
    times = [100.0, 110.0, 125.0, 150.0, 159.0, 171.0, 175.0, 230.0, 231.0]
    for now in times:
        ours = _throttle(AtomicScopedRateThrottle, now)
        drf = _throttle(ScopedRateThrottle, now)
        drf.cache = local
        assert ours.allow_request(_req(9), VIEW) == drf.allow_request(_req(9), VIEW), now
        if drf.history and len(drf.history) >= 4:
            assert ours.wait() == pytest.approx(drf.wait()), now
    # DRF's own format lives under another key: a process still running DRF's class during a rolling
    # upgrade reads its own window (no WRONGTYPE), and a value of another type under ours starts a new one
    assert cache.get("throttle_join_9") is None
    cache.set("throttle_join_10_window", [1.0, 2.0], 60)
    assert _throttle(AtomicScopedRateThrottle, 300.0).allow_request(_req(10), VIEW) is True
    assert _throttle(ScopedRateThrottle, 300.0).allow_request(_req(10), VIEW) is True


def test_concurrent_requests_never_take_more_than_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "join", "5/min")
    barrier = threading.Barrier(16)
    allowed: list[bool] = []

    def one() -> None:
        throttle = AtomicScopedRateThrottle()
        barrier.wait()
        allowed.append(throttle.allow_request(_req(11), VIEW))

    threads = [threading.Thread(target=one) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(allowed) == [False] * 11 + [True] * 5


def test_a_dead_redis_lets_requests_through(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "join", "1/min")
    settings.CACHES = _caches("spaces_project.common.cache.ResilientRedisCache")
    throttle = AtomicScopedRateThrottle()
    assert [throttle.allow_request(_req(12), VIEW) for _ in range(3)] == [True, True, True]
