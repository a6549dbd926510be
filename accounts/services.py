"""Writes for accounts: registration, profile, follows, blocks, suspension.

Counts are changed with conditional ``F()`` updates in the same transaction as the edge row they
count, so concurrent follows and unfollows can never lose an update or go negative.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.contrib.auth.password_validation import validate_password
from django.db import IntegrityError, transaction
from django.db.models import F
from rest_framework.authtoken.models import Token

from accounts.exceptions import CannotBlockSelf, CannotFollowSelf, UserBlocked, UsernameTaken
from accounts.models import Block, Follow, User

logger = logging.getLogger(__name__)


def _bump_counts(*, follower_id: int, followee_id: int, delta: int) -> None:
    # Lock user rows in primary-key order so that A→B and B→A at once cannot deadlock.
    for pk in sorted((follower_id, followee_id)):
        if pk == followee_id:
            User.objects.filter(pk=pk).update(follower_count=F("follower_count") + delta)
        if pk == follower_id:
            User.objects.filter(pk=pk).update(following_count=F("following_count") + delta)


@transaction.atomic
def user_register(*, username: str, password: str, email: str = "", display_name: str = "") -> User:
    """Create an account. Raises ``username_taken`` if the name exists in any letter case."""
    if User.objects.filter(username__iexact=username).exists():
        raise UsernameTaken()
    user = User(username=username, email=email, display_name=display_name or username)
    validate_password(password, user)
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise UsernameTaken() from None
    logger.info("user.registered", extra={"user_id": user.pk})
    return user


def user_token_get_or_create(*, user: User) -> str:
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def user_logout(*, user: User) -> None:
    """Revoke the user's API token (mobile logout); the web session is flushed by the view."""
    Token.objects.filter(user=user).delete()


def user_update_profile(*, user: User, **fields: str) -> User:
    allowed = {"display_name", "bio", "avatar_url"}
    changed = [name for name in fields if name in allowed]
    for name in changed:
        setattr(user, name, fields[name])
    if changed:
        user.save(update_fields=changed)
    return user


@transaction.atomic
def follow_create(*, follower: User, followee: User) -> bool:
    """Follow ``followee``; idempotent. Returns True if a new edge was made."""
    if follower.pk == followee.pk:
        raise CannotFollowSelf()
    if Block.objects.filter(blocker=followee, blocked=follower).exists():
        raise UserBlocked()
    try:
        with transaction.atomic():
            Follow.objects.create(follower=follower, followee=followee)
    except IntegrityError:
        return False
    _bump_counts(follower_id=follower.pk, followee_id=followee.pk, delta=1)
    return True


@transaction.atomic
def follow_delete(*, follower: User, followee: User) -> bool:
    """Unfollow; idempotent. Returns True if an edge was removed."""
    deleted, _ = Follow.objects.filter(follower=follower, followee=followee).delete()
    if deleted:
        _bump_counts(follower_id=follower.pk, followee_id=followee.pk, delta=-1)
    return bool(deleted)


@transaction.atomic
def block_create(*, blocker: User, blocked: User) -> bool:
    """Block a user: removes follows both ways. Idempotent; returns True if newly blocked."""
    if blocker.pk == blocked.pk:
        raise CannotBlockSelf()
    try:
        with transaction.atomic():
            Block.objects.create(blocker=blocker, blocked=blocked)
    except IntegrityError:
        return False
    follow_delete(follower=blocked, followee=blocker)
    follow_delete(follower=blocker, followee=blocked)
    logger.info("user.blocked", extra={"blocker_id": blocker.pk, "blocked_id": blocked.pk})
    return True


def block_delete(*, blocker: User, blocked: User) -> bool:
    deleted, _ = Block.objects.filter(blocker=blocker, blocked=blocked).delete()
    return bool(deleted)


def user_set_suspension(*, user: User, suspended: bool, until: datetime | None = None, reason: str = "") -> User:
    """Suspend or lift a suspension. Tokens are kept but refused while suspended."""
    user.is_suspended = suspended
    user.suspended_until = until if suspended else None
    user.suspension_reason = reason if suspended else ""
    user.save(update_fields=["is_suspended", "suspended_until", "suspension_reason"])
    logger.info("user.suspension_changed", extra={"user_id": user.pk, "suspended": suspended})
    return user
