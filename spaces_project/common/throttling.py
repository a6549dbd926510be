"""DRF's scoped rate limit counted in one atomic Redis call.

``ScopedRateThrottle`` reads the window with a cache ``get``, prunes and checks it in Python, and writes it
back with a ``set``: two round trips (≈ 7 % of a join's CPU in a storm profile, docs/benchmarks.md) and a
race, since two requests that read the same window can both take its last place. On the Redis cache
(``ResilientRedisCache.sliding_window``) this class does the same read, prune, check and append as one
Lua script. The rates, the ``Retry-After`` wait and the 429 body are DRF's, the key is DRF's with
``_window`` appended (another format: see ``cache_format``); with any other cache (the embedded
default's in-process cache) it is DRF's class.
"""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import ScopedRateThrottle


class AtomicScopedRateThrottle(ScopedRateThrottle):
    # A key of its own (a Redis list, where DRF keeps a pickled Python list): during a rolling upgrade a
    # process still running DRF's class must never read this format (Redis answers WRONGTYPE, a 500).
    cache_format = "throttle_%(scope)s_%(ident)s_window"
    _count: int | None = None
    _oldest: float | None = None

    def allow_request(self, request: Any, view: Any) -> bool:
        window = getattr(self.cache, "sliding_window", None)
        if window is None:
            return super().allow_request(request, view)
        # ScopedRateThrottle.allow_request, then SimpleRateThrottle.allow_request up to the window
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        allowed, self._count, self._oldest = window(
            self.key, now=self.now, duration=self.duration, limit=self.num_requests
        )
        return bool(allowed)

    def wait(self) -> float | None:
        """DRF's ``SimpleRateThrottle.wait``, from the window the script answered."""
        if self._count is None or self.duration is None or self.num_requests is None:
            return super().wait()
        remaining = self.duration - (self.now - self._oldest) if self._oldest is not None else self.duration
        available = self.num_requests - self._count + 1
        if available <= 0:
            return None
        return remaining / float(available)
