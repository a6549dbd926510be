"""Fixtures for the rooms tests: a live Space with people in it. (LiveKit's fixtures, ``lk``, ``peers`` and
``world``, are tests/support/livekit.py's.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import User
from rooms import services
from rooms.models import Participant, Role, Space
from tests.factories import HostFactory, UserFactory


@pytest.fixture
def host() -> User:
    return HostFactory()


@pytest.fixture
def live_space(host: User) -> Space:
    return services.space_create(host=host, title="Morning show")


@pytest.fixture
def joined(live_space: Space) -> Callable[..., User]:
    """``joined(role=...)`` → a new user connected to ``live_space`` in that role (set directly)."""

    def _make(role: str = Role.LISTENER, **user_fields: Any) -> User:
        user = UserFactory(**user_fields)
        services.space_join(space_id=live_space.pk, user=user)
        if role != Role.LISTENER:
            Participant.objects.filter(space=live_space, user=user).update(role=role)
            listeners = Participant.objects.filter(space=live_space, role=Role.LISTENER, is_connected=True).count()
            Space.objects.filter(pk=live_space.pk).update(listener_count=listeners)
        return user

    return _make


def participant(space: Space, user: User) -> Participant:
    return Participant.objects.get(space=space, user=user)
