"""The lean path of a pooled route: Django's view handler without the middleware chain, for the one
request shape a crowd sends (docs/security.md, "The lean join path").

A join storm is thousands of ``POST /api/v1/spaces/{id}/join`` with ``Authorization: Token …``, no
cookie, an empty or tiny JSON body. For that shape no middleware of ``settings.MIDDLEWARE`` changes
what the view sees or answers, only headers it adds to the response; running the chain is 11 % of a
join's CPU (docs/benchmarks.md, "Join storm"). So, for a request of that shape (:func:`lean_shape`):

- the request is Django's own ``ASGIRequest``, built from the same scope and body;
- the request halves of the middleware that could answer or change ``META`` run as they are (the input
  guard, the client address, ``SecurityMiddleware.process_request``: the HTTPS redirect,
  ``CommonMiddleware.process_request``: the ``Host`` check); if one of them would answer, the request
  takes the full path instead;
- the view runs through Django's own innermost handler (``BaseHandler._get_response``: the resolver,
  the view, rendering, exceptions → ``handler500``, 4xx/5xx logging): **the same DRF view**, hence the
  same authentication, permissions, throttles (same cache keys), parsing, serializers and error
  bodies;
- the headers the chain adds on the way out (CSP, security headers, frame options, ``Vary: Cookie``,
  ``Content-Length``) are **measured, not listed**: once per process, per scheme and per settings change,
  a probe request of the same shape without credentials goes through the full chain and through the
  view alone, and the difference is what every lean response gets (``Vary`` patched, the others set
  if absent, as the middleware does).

Each middleware was reviewed for this shape (``REVIEWED_MIDDLEWARE``, the reason beside each). If
``settings.MIDDLEWARE`` is anything else, the lean path is off and every request takes the full chain:
a new middleware is never skipped unseen. ``tests/common/test_pooled_http.py`` compares the lean path
with Django's for every outcome of the join, byte for byte.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from typing import IO, Any

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.core.signals import setting_changed
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.cache import cc_delim_re, patch_vary_headers
from django.utils.module_loading import import_string

Scope = dict[str, Any]

# settings.MIDDLEWARE as reviewed for a cookie-less POST with a JSON body or none, no query string, and a
# JSON ``Accept`` (or none), to a DRF view (csrf_exempt, rendered as JSON). "request": its request half
# runs on the lean path too (an answer from it sends the request down the full path); "response": it
# only adds headers on the way out (measured by the probe); "inert": it does nothing for this shape.
REVIEWED_MIDDLEWARE: tuple[tuple[str, str], ...] = (
    ("spaces_project.common.middleware.input_guard_middleware", "request"),  # NUL in path/query, size
    ("spaces_project.common.security.ClientAddressMiddleware", "request"),  # REMOTE_ADDR, X-Forwarded-*
    ("django.middleware.security.SecurityMiddleware", "request"),  # HTTPS redirect; headers (response)
    ("spaces_project.common.security.ContentSecurityPolicyMiddleware", "response"),
    ("whitenoise.middleware.WhiteNoiseMiddleware", "inert"),  # serves STATIC_URL paths only
    ("django.contrib.sessions.middleware.SessionMiddleware", "inert"),  # no cookie: an empty session; Vary
    ("django.middleware.common.CommonMiddleware", "request"),  # Host, user agents, www; Content-Length
    ("django.middleware.csrf.CsrfViewMiddleware", "inert"),  # no cookie to check; DRF views are exempt
    ("django.contrib.auth.middleware.AuthenticationMiddleware", "inert"),  # no session: AnonymousUser
    ("accounts.middleware.SuspendedSessionMiddleware", "inert"),  # only a session user is logged out
    ("django.contrib.messages.middleware.MessageMiddleware", "inert"),  # no cookie, nothing added
    ("django.middleware.clickjacking.XFrameOptionsMiddleware", "response"),
)
MAX_BODY = 1024  # a join body is ``{"transport": "hls"}``; anything bigger takes the full path
JSON_ACCEPTS = frozenset({None, b"*/*", b"application/json"})
JSON_CONTENT_TYPES = frozenset({b"application/json", b"application/json; charset=utf-8"})
PROBE_MARK = "SPACES_LEAN_PROBE"  # a META key no client can set (headers become HTTP_*)
_READ_HEADERS = frozenset({b"host", b"authorization", b"content-type", b"content-length", b"accept"})
_FULL_PATH_HEADERS = frozenset({b"cookie", b"transfer-encoding"})

logger = logging.getLogger(__name__)


def lean_shape(scope: Scope) -> int | None:
    """The declared body length if a request's method, query and headers are the storm's shape, else None."""
    if scope["method"] != "POST" or scope.get("query_string"):
        return None
    seen: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in _FULL_PATH_HEADERS or (name in _READ_HEADERS and name in seen):
            return None
        seen[name] = value
    if seen.get(b"accept") not in JSON_ACCEPTS:
        return None
    content_type, length = seen.get(b"content-type"), seen.get(b"content-length", b"0")
    if not length.isdigit() or int(length) > MAX_BODY:
        return None
    if content_type in JSON_CONTENT_TYPES or (content_type is None and int(length) == 0):
        return int(length)
    return None


class _Pass(HttpResponseBase):
    """What the request halves' ``get_response`` returns on the lean path: "go on"."""


def _passed(_request: HttpRequest) -> HttpResponseBase:
    return _PASSED


_PASSED = _Pass()


class _ViewOnlyHandler(BaseHandler):
    """Django's handler with an empty middleware chain: resolver, view, rendering, exception responses."""

    def __init__(self) -> None:
        super().__init__()
        me: Any = self  # django-stubs does not declare the handler's private attributes
        me._view_middleware = []
        me._template_response_middleware = []
        me._exception_middleware = []
        me._middleware_chain = convert_exception_to_response(me._get_response)


class _Envelope:
    """What the middleware chain does to a response's headers, measured on one probe request."""

    def __init__(self, full: HttpResponseBase, view_only: HttpResponseBase) -> None:
        own = {name.lower(): value for name, value in view_only.items()}
        if any(name.lower() not in {n.lower() for n, _ in full.items()} for name in own):
            raise ValueError("the middleware removed a header of the view's: lean path off")
        self.added: list[tuple[str, str]] = []
        self.vary: list[str] = []
        self.replaced: dict[str, tuple[str, str]] = {}
        for name, value in full.items():
            before = own.get(name.lower())
            if before is None:
                self.added.append((name, value))
            elif name.lower() == "vary":
                had = {v.lower() for v in cc_delim_re.split(before)}
                self.vary = [v for v in cc_delim_re.split(value) if v.lower() not in had]
            elif before != value:
                self.replaced[name] = (before, value)

    def apply(self, response: HttpResponseBase) -> None:
        for name, (before, after) in self.replaced.items():
            if response.get(name) == before:
                response[name] = after
        if self.vary:
            patch_vary_headers(response, self.vary)
        for name, value in self.added:
            if name.lower() == "content-length":
                if not response.has_header(name):
                    response[name] = str(len(response.content))  # type: ignore[attr-defined]
            elif not response.has_header(name):
                response[name] = value


class _ProbeFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        return not (request is not None and getattr(request, "META", {}).get(PROBE_MARK))


_probe_filter = _ProbeFilter()
logging.getLogger("django.request").addFilter(_probe_filter)


class LeanPath:
    """The lean path of the pooled routes: one call per request, on the pool's thread."""

    def __init__(self, handler: BaseHandler) -> None:
        self.full = handler  # the pool's full chain: the probe's reference
        self.view_only = _ViewOnlyHandler()
        self._lock = threading.Lock()
        self._envelopes: dict[bool, _Envelope] = {}
        self._request_halves: list[Callable[[HttpRequest], HttpResponseBase | None]] | None = None
        self.reviewed = tuple(settings.MIDDLEWARE) == tuple(path for path, _ in REVIEWED_MIDDLEWARE)
        if not self.reviewed:
            logger.warning("lean_http.off", extra={"reason": "settings.MIDDLEWARE differs from the reviewed list"})
        setting_changed.connect(self._forget, weak=False)

    def _forget(self, **_kwargs: Any) -> None:
        with self._lock:
            self._envelopes.clear()
            self._request_halves = None
            self.reviewed = tuple(settings.MIDDLEWARE) == tuple(path for path, _ in REVIEWED_MIDDLEWARE)

    def _halves(self) -> list[Callable[[HttpRequest], HttpResponseBase | None]]:
        halves = self._request_halves
        if halves is None:
            halves = []
            for path, role in REVIEWED_MIDDLEWARE:
                if role != "request":
                    continue
                middleware = import_string(path)(_passed)
                process_request = getattr(middleware, "process_request", None)
                halves.append(process_request if process_request is not None else middleware)
            self._request_halves = halves
        return halves

    def _request_half_passes(self, request: HttpRequest) -> bool:
        """Run the request halves; False if one of them would answer (or refuse) the request itself."""
        try:
            for half in self._halves():
                answer = half(request)
                if answer is not None and answer is not _PASSED:
                    return False
        except Exception:  # DisallowedHost, PermissionDenied for a user agent…: the full chain answers it
            return False
        return True

    def _envelope(self, scope: Scope, secure: bool) -> _Envelope:
        envelope = self._envelopes.get(secure)
        if envelope is not None:
            return envelope
        with self._lock:
            envelope = self._envelopes.get(secure)
            if envelope is None:
                envelope = self._envelopes[secure] = self._probe(scope)
        return envelope

    def _probe(self, scope: Scope) -> _Envelope:
        """The same request without credentials and body, through the full chain and through the view alone."""
        kept = (b"host", b"x-forwarded-for", b"x-forwarded-proto")
        probe_scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k in kept]}
        responses = []
        for handler in (self.full, self.view_only):
            request = ASGIRequest(probe_scope, io.BytesIO())
            request.META[PROBE_MARK] = True
            if handler is self.view_only:
                assert self._request_half_passes(request), "the probe is the lean shape"
                _as_lean(request)
            response = handler.get_response(request)
            response.close()  # type: ignore[no-untyped-call]
            responses.append(response)
        return _Envelope(*responses)

    def respond(self, scope: Scope, body_file: IO[bytes]) -> HttpResponseBase | None:
        """The response of the lean path, or None: take the full path (nothing has been done yet)."""
        if not self.reviewed:
            return None
        request = ASGIRequest(scope, body_file)
        if not self._request_half_passes(request):
            return None
        _as_lean(request)
        try:
            envelope = self._envelope(scope, request.is_secure())
        except Exception:  # a chain the probe cannot explain: never guess, take the full path from now on
            logger.exception("lean_http.off", extra={"reason": "the probe failed"})
            self.reviewed = False
            return None
        response = self.view_only.get_response(request)
        assert not response.streaming, "lean routes answer in one piece"
        envelope.apply(response)
        response._handler_class = ASGIHandler  # type: ignore[attr-defined]
        return response


def _as_lean(request: HttpRequest) -> None:
    """What the inert middleware leave on a cookie-less request: an anonymous user, nothing else used."""
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()  # type: ignore[assignment]
