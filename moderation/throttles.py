"""Throttle classes for abuse limits that DRF's stock classes do not express.

Every limit keyed by address reads ``REMOTE_ADDR``, which ``ClientAddressMiddleware`` has already set to
the client's address (spaces_project/common/security.py); DRF's ``NUM_PROXIES`` is 0 so no throttle
reads ``X-Forwarded-For`` itself.
"""

from __future__ import annotations

import math
from typing import Any

from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.throttling import ScopedRateThrottle


class ClientAddressScopedRateThrottle(ScopedRateThrottle):
    """A scoped limit counted per client address even for a signed-in caller.

    Account creation logs the new account in, so the stock class would count the next sign-up from the
    same client against that fresh account and never throttle it.
    """

    def get_cache_key(self, request: Request | HttpRequest, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}  # type: ignore[arg-type]


class _LoginScope:
    throttle_scope = "login"


def login_attempt_allowed(request: HttpRequest) -> int | None:
    """Count one password attempt of a non-API login form against the API's ``login`` limit.

    The same bucket (scope and client address) as ``POST /api/v1/auth/token``: a password sprayer gains
    nothing by switching forms. Returns None when allowed, else the seconds to wait.
    """
    throttle = ClientAddressScopedRateThrottle()
    if throttle.allow_request(request, _LoginScope()):  # type: ignore[arg-type]
        return None
    return max(1, math.ceil(throttle.wait() or 1))
