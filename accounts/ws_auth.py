"""Websocket authentication: ``Authorization: Token …`` header (mobile) or the session cookie (web)."""

from __future__ import annotations

import logging
from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from rest_framework.authtoken.models import Token

from spaces_project.common import security

logger = logging.getLogger(__name__)


@database_sync_to_async
def _user_for_token(key: str) -> Any:
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return AnonymousUser()
    return token.user


class TokenAuthMiddleware(BaseMiddleware):
    """Sets ``scope['user']`` from a token header or ``?token=`` query value, if present."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        key = None
        for name, value in scope.get("headers", []):
            if name == b"authorization" and value.lower().startswith(b"token "):
                key = value[6:].decode("latin-1").strip()
        if key:
            scope = dict(scope, user=await _user_for_token(key))
        return await super().__call__(scope, receive, send)


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
    # The origin first; then session auth; a token header, when present, takes precedence.
    return BrowserOriginMiddleware(AuthMiddlewareStack(TokenAuthMiddleware(inner)))
