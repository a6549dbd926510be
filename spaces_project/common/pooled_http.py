"""The hottest sync endpoints under ASGI, served on a bounded thread pool through the same Django stack.

Django's ASGI handler runs a sync view (every DRF view) through ``sync_to_async(thread_sensitive=True)``
inside a ``ThreadSensitiveContext`` of its own: a new single-thread executor, and so a new thread, for
every request, plus two more hops for the ``request_started``/``request_finished`` signals. In a join
storm that hand-off, not the join, was most of an admission's CPU (docs/benchmarks.md, "Join storm").

Routes named in ``POOLED_ROUTES`` (the member and the guest join) take the path a WSGI server gives
every request instead: the request is built by Django's own ``ASGIHandler`` (``read_body``,
``create_request``, ``send_response``), then the signals, the **whole sync middleware chain** and the
view run in one call on a small fixed pool of threads. Nothing is skipped: the same URL resolver,
middleware (input guard, client address, security headers and CSP, sessions, CSRF, authentication,
suspension), the same DRF view with its authentication, throttles and exception handler, hence the same
responses and headers byte for byte
(``tests/common/test_pooled_http.py`` compares them). Any other request goes to Django's ASGI handler.
``LEAN_ROUTES`` (the member join) answer the storm's request shape on the same pool without the
middleware chain (``lean_http.py``: the same view, the chain's headers measured by a probe).

The database connection of a pooled call lives in the call's context and is closed (or handed back to
the psycopg pool) by ``request_finished`` at the end of the call, as under WSGI.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import IO, Any

from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http.response import HttpResponseBase
from django.urls import Resolver404, resolve, set_script_prefix

from spaces_project.common.lean_http import LeanPath, lean_shape
from spaces_project.common.workers import Workers

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]

# (method, URL name): the joins are the one request every listener of a crowd makes (issue 16).
POOLED_ROUTES = frozenset({("POST", "space-join"), ("POST", "space-guest-join")})
# URL names whose storm-shaped requests skip the middleware chain (spaces_project/common/lean_http.py).
LEAN_ROUTES = frozenset({"space-join"})
HTTP_THREADS = int(os.environ.get("SPACES_HTTP_POOL_THREADS", "2"))
HTTP_BATCH = int(os.environ.get("SPACES_HTTP_POOL_BATCH", "4"))


@functools.lru_cache(maxsize=4096)
def _url_name(path_info: str) -> str | None:
    try:
        return resolve(path_info).url_name
    except Resolver404:
        return None


class PooledRoutes:
    """ASGI app: ``POOLED_ROUTES`` on the pool through the sync handler, everything else to ``app``."""

    def __init__(self, app: ASGIHandler, *, threads: int = HTTP_THREADS, lean: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.handler = BaseHandler()
        self.handler.load_middleware(is_async=False)
        self.lean_routes = lean
        self.lean = LeanPath(self.handler) if lean else None
        # The lean hop (spaces_project/common/workers.py), not asgiref's: a join in a storm paid ~0.2 ms
        # of CPU for SyncToAsync's context copy, futures and shield. Small batches: a join is a few
        # round trips to PostgreSQL, which the pool's threads overlap.
        self.pool = Workers(threads, max_batch=HTTP_BATCH, name="http-pool")
        self._methods = frozenset(method for method, _name in POOLED_ROUTES)

    def route(self, scope: Scope) -> str | None:
        """The URL name of a pooled route, else None."""
        if scope["type"] != "http" or scope.get("method") not in self._methods:
            return None
        path, root = scope["path"], scope.get("root_path", "")
        path_info = path.removeprefix(root) if root else path
        name = _url_name(path_info)
        return name if (scope["method"], name) in POOLED_ROUTES else None

    def pooled(self, scope: Scope) -> bool:
        return self.route(scope) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = self.route(scope)
        if name is None:
            await self.app(scope, receive, send)
            return
        length = lean_shape(scope) if self.lean is not None and name in self.lean_routes else None
        try:
            body_file = await self.app.read_body(receive)
        except RequestAborted:
            return
        try:
            if length is not None and body_file.seek(0, io.SEEK_END) != length:
                length = None  # not the body it announced: the full path decides
            body_file.seek(0)
            response = await self.pool.run(self._respond_sync, scope, body_file, length is not None)
            await self.app.send_response(response, send)
        finally:
            body_file.close()

    def _respond_sync(self, scope: Scope, body_file: IO[bytes], lean: bool = False) -> HttpResponseBase:
        """What ``WSGIHandler.__call__`` does, for an ASGI request; the response is complete and closed.

        ``lean``: the request has the storm's shape; the lean path answers it unless a request half of
        the middleware would (then the full chain runs on a new request from the same body)."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=ASGIHandler, scope=scope)
        response = self.lean.respond(scope, body_file) if lean and self.lean is not None else None
        if response is not None:
            response.close()  # request_finished, as below
            return response
        body_file.seek(0)
        request, response = self.app.create_request(scope, body_file)
        if request is not None:
            response = self.handler.get_response(request)
            response._handler_class = ASGIHandler  # type: ignore[attr-defined]
        assert response is not None and not response.streaming, "pooled routes answer in one piece"
        response.close()  # request_finished (closes this context's database connection); the body stays
        return response
