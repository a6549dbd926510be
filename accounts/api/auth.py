"""The signed-in user of a request, for the API views of every app."""

from __future__ import annotations

from rest_framework.request import Request

from accounts.models import User


def request_user(request: Request) -> User:
    """``request.user`` as a :class:`User`; the views that call it require authentication."""
    user = request.user
    assert isinstance(user, User)
    return user
