"""Throttle classes for abuse limits that DRF's stock classes do not express."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import ScopedRateThrottle


class ClientAddressScopedRateThrottle(ScopedRateThrottle):
    """A scoped limit counted per client address even for a signed-in caller.

    Account creation logs the new account in, so the stock class would count the next sign-up from the
    same client against that fresh account and never throttle it.
    """

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
