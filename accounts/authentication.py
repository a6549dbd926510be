"""DRF authentication classes that refuse suspended accounts with a clear code."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.request import Request


def _refuse_suspended(result: tuple[Any, Any] | None) -> tuple[Any, Any] | None:
    if result is not None and getattr(result[0], "suspension_active", False):
        raise exceptions.AuthenticationFailed("This account is suspended.", code="account_suspended")
    return result


class ActiveTokenAuthentication(TokenAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        return _refuse_suspended(super().authenticate(request))

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        from accounts.selectors import user_for_token

        user = user_for_token(key=key)  # one precompiled statement (the join storm's hot path)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid token.", code="invalid_token")
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.", code="account_inactive")
        model: Any = self.get_model()
        return (user, model(key=key, user=user))  # request.auth: the token (not re-read)


class ActiveSessionAuthentication(SessionAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        return _refuse_suspended(super().authenticate(request))
