"""Websocket authentication: ``Authorization: Token …`` header (mobile) or the session cookie (web)."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from django.contrib.auth.models import AnonymousUser

from accounts.selectors import user_for_token
from spaces_project.common.offthread import db_offthread


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


def TokenOrSessionAuthMiddlewareStack(inner: Any) -> Any:  # noqa: N802 - mirrors Channels' naming
    return TokenOrSessionAuthMiddleware(inner)
