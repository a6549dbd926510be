"""Django's Redis cache, degrading instead of failing while Redis is unreachable.

What Spaces keeps in the cache is never the truth: throttle windows, a reaction budget, a memo that a
LiveKit room exists. During a Redis restart or outage, reads miss, writes are dropped and counters
start again (limits open for those seconds), so the API keeps answering from PostgreSQL instead of
turning every request into a 500. Each failure is logged (``cache.unavailable``, at most once a
second per process). Only connection-level errors are absorbed; a command Redis refuses still raises.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)
_last_logged = 0.0


def _unavailable(operation: str) -> None:
    global _last_logged
    now = time.monotonic()
    if now - _last_logged >= 1.0:
        _last_logged = now
        logger.warning("cache.unavailable", extra={"operation": operation}, exc_info=True)


def _degrading(name: str, fallback: Callable[..., Any]) -> Any:
    """``RedisCache.<name>``, answering ``fallback(*args)`` instead of raising while Redis is unreachable."""
    method = getattr(RedisCache, name)

    def degrading(self: RedisCache, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except UNAVAILABLE:
            _unavailable(name)
            return fallback(*args, **kwargs)

    degrading.__name__ = name
    return degrading


def _missing_key(key: Any, *_args: Any, **_kwargs: Any) -> Any:
    raise ValueError(f"Key '{key}' not found (cache unavailable)")  # what callers of incr already handle


def _default(_key: Any, default: Any = None, *_args: Any, **_kwargs: Any) -> Any:
    return default


class ReusingRedisCacheClient(RedisCacheClient):
    """Django's client builds a new ``redis.Redis`` for every cache call; its constructor fills a table of
    ~170 response callbacks (≈ 0.5 ms of CPU, more than the Redis round trip). One per pool is enough:
    ``redis.Redis`` is thread-safe (each command takes a connection from the pool)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._redis_clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        me: Any = self  # django-stubs does not declare the client's private attributes
        pool = me._get_connection_pool(write)
        client = self._redis_clients.get(id(pool))
        if client is None:
            client = self._redis_clients[id(pool)] = me._client(connection_pool=pool)
        return client


_clients: dict[tuple[Any, ...], RedisCacheClient] = {}
_scripts: dict[int, Any] = {}  # by redis.Redis client: the registered sliding-window script
_clients_lock = threading.Lock()


# A sliding-window rate limit in one round trip (spaces_project/common/throttling.py): the same list DRF's
# SimpleRateThrottle keeps (newest first, timestamps older than the window dropped from the tail), read,
# pruned, checked and appended atomically. KEYS[1] the key; ARGV: now, window (s), limit. Answers
# {allowed 0/1, requests in the window (this one included if allowed), the oldest timestamp or false}.
SLIDING_WINDOW_LUA = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local duration = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local kind = redis.call('TYPE', key)['ok']
if kind ~= 'list' and kind ~= 'none' then
  redis.call('DEL', key)
end
while true do
  local last = redis.call('LINDEX', key, -1)
  if not last or tonumber(last) > now - duration then
    break
  end
  redis.call('RPOP', key)
end
local count = redis.call('LLEN', key)
if count >= limit then
  return {0, count, redis.call('LINDEX', key, -1)}
end
redis.call('LPUSH', key, ARGV[1])
redis.call('EXPIRE', key, math.ceil(duration))
return {1, count + 1, redis.call('LINDEX', key, -1)}
"""


class ResilientRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        me: Any = self
        me._class = ReusingRedisCacheClient

    @cached_property
    def _cache(self) -> RedisCacheClient:
        """One client (one connection pool) per process and configuration.

        Django makes a cache object per thread, and under ASGI every request runs in a thread of its own:
        with a client per cache object, every request opened a new Redis connection (``HELLO``) for its
        first cache call (the join throttle; docs/benchmarks.md, "Join storm"). redis-py's pool is
        thread-safe and resets itself in a forked child.
        """
        me: Any = self  # django-stubs does not declare RedisCache's private attributes
        key = (tuple(me._servers), repr(sorted(me._options.items())), me._class)
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = me._class(me._servers, **me._options)
        return client

    get = _degrading("get", _default)  # a miss
    get_many = _degrading("get_many", lambda *_a, **_k: {})
    has_key = _degrading("has_key", lambda *_a, **_k: False)
    add = _degrading("add", lambda *_a, **_k: False)  # not stored
    set = _degrading("set", lambda *_a, **_k: None)  # dropped
    set_many = _degrading("set_many", lambda data, *_a, **_k: list(data))  # every key failed
    touch = _degrading("touch", lambda *_a, **_k: False)
    delete = _degrading("delete", lambda *_a, **_k: False)
    delete_many = _degrading("delete_many", lambda *_a, **_k: None)
    incr = _degrading("incr", _missing_key)  # counting starts again

    def sliding_window(self, key: str, *, now: float, duration: float, limit: int) -> tuple[bool, int, float | None]:
        """Count a request in ``key``'s window of ``duration`` seconds unless ``limit`` are in it already.

        (allowed, requests in the window, the oldest one's time). One Redis call (a Lua script, atomic:
        concurrent requests cannot both take the last place). While Redis is unreachable: allowed, as a
        missed ``get`` and a dropped ``set`` would be.
        """
        try:
            client = self._cache.get_client(key, write=True)
            script = _scripts.get(id(client))
            if script is None:
                script = _scripts[id(client)] = client.register_script(SLIDING_WINDOW_LUA)
            allowed, count, oldest = script(keys=[self.make_and_validate_key(key)], args=[repr(now), duration, limit])
        except UNAVAILABLE:
            _unavailable("sliding_window")
            return True, 0, None
        return bool(allowed), int(count), float(oldest) if oldest else None
