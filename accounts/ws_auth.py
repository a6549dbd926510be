"""Websocket authentication: ``Authorization: Token …`` header (mobile) or the session cookie (web).

A token in the query string (``?token=``) is not read, by decision: URLs end up in access logs and
proxies' logs, and every client can send the header (docs/protocol.md lists the ways in; a guest's
``?guest=`` pass is read by the consumer, rooms/consumers.py).
"""

from __future__ import annotations

import logging
from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser

from accounts.selectors import user_for_token
from spaces_project.common import security
from spaces_project.realtime.offthread import db_offthread

logger = logging.getLogger(__name__)


def _user_for_token(key: str) -> Any:
    user = user_for_token(key=key)
    if user is None or not user.is_active:
        return AnonymousUser()
    return user


# Off the process's one thread-sensitive thread: a crowd of sockets looks tokens up side by side.
_user_for_token_async = db_offthread(_user_for_token)


class TokenOrSessionAuthMiddleware:
    """``scope['user']`` from a token header when present; otherwise from the session cookie.

    A token header takes precedence; such a socket skips the session stack (its session lookup would be
    one more trip through the database thread for a user the token already names).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.session_stack = AuthMiddlewareStack(inner)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        key = None
        for name, value in scope.get("headers", []):
            if name == b"authorization" and value.lower().startswith(b"token "):
                key = value[6:].decode("latin-1").strip()
        if key:
            scope = dict(scope, user=await _user_for_token_async(key))
            return await self.inner(scope, receive, send)
        return await self.session_stack(scope, receive, send)


def _token_header(scope: dict[str, Any]) -> bool:
    return any(name == b"authorization" and value.lower().startswith(b"token ") for name, value in scope["headers"])


class BrowserOriginMiddleware(BaseMiddleware):
    """Refuses a handshake from a page of another site before the session cookie is looked at.

    A browser always sends ``Origin`` on a websocket handshake and attaches our session cookie whatever
    page opened it, so a foreign ``Origin`` would let that page act as the signed-in user. The refusal is
    a plain HTTP 403 (a close before accept), as Channels' ``OriginValidator`` does. Not refused:
    a handshake without ``Origin`` (not a browser: the mobile app) and one authenticated by an
    ``Authorization: Token`` header (a credential no page can make a browser attach; its session is never
    consulted). docs/security.md, "Proxies, TLS, sessions and origins".
    """

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        origin = security.scope_origin(scope)
        if origin is not None and not _token_header(scope) and not security.origin_allowed(origin):
            logger.info("realtime.origin_refused", extra={"origin": origin[:200], "path": scope.get("path")})
            await receive()  # websocket.connect: the server then answers the handshake with 403
            await send({"type": "websocket.close", "code": 1008})
            return None
        return await super().__call__(scope, receive, send)


def TokenOrSessionAuthMiddlewareStack(inner: Any) -> Any:  # noqa: N802 - mirrors Channels' naming
    # The origin first (a foreign page cannot use the session cookie); then token or session auth.
    return BrowserOriginMiddleware(TokenOrSessionAuthMiddleware(inner))
