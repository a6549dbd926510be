"""Reads for accounts: lookups, lists, host eligibility."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from accounts.models import Block, Follow, User
from spaces_project.common.exceptions import NotFound
from spaces_project.common.precompiled import Precompiled


def user_get_by_username(*, username: str) -> User:
    user = User.objects.filter(username__iexact=username, is_active=True).first()
    if user is None:
        raise NotFound("No such user.", code="user_not_found")
    return user


def followers_of(*, user: User) -> QuerySet[Follow]:
    return Follow.objects.filter(followee=user).select_related("follower")


def following_of(*, user: User) -> QuerySet[Follow]:
    return Follow.objects.filter(follower=user).select_related("followee")


def is_blocked(*, blocker_id: int, blocked_id: int) -> bool:
    return Block.objects.filter(blocker_id=blocker_id, blocked_id=blocked_id).exists()


def host_eligibility(*, user: User) -> dict[str, Any]:
    """Whether ``user`` may host, and why not: ``{can_host, reason, followers, threshold}``."""
    threshold = settings.SPACES_HOST_MIN_FOLLOWERS
    reason: str | None = None
    if user.suspension_active:
        reason = "account_suspended"
    elif not (user.host_override or user.follower_count >= threshold):
        reason = "not_eligible"
    return {
        "can_host": reason is None,
        "reason": reason,
        "followers": user.follower_count,
        "threshold": threshold,
        "override": user.host_override,
    }


_user_by_token = Precompiled(
    lambda key: User.objects.filter(auth_token__key=key).order_by("pk")[:1],
    key="spaces-precompiled-sentinel-token-key",
)


def user_for_token(*, key: str) -> User | None:
    """The user of an API token (one precompiled statement: the websocket and REST auth hot path)."""
    return _user_by_token.first(key=key)
