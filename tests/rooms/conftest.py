"""Fixtures for the rooms tests: a live Space with people in it, and a per-run LiveKit room prefix."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import User
from rooms import services
from rooms.models import Participant, Role, Space
from tests.factories import HostFactory, UserFactory


@pytest.fixture(autouse=True)
def _private_room_prefix(settings: Any) -> None:
    # Several test runs share one livekit-server: never let two of them use the same room name.
    settings.LIVEKIT_ROOM_PREFIX = f"t{uuid.uuid4().hex[:8]}-"
    if not settings.LIVEKIT_API_KEY:
        # The embedded default has no LiveKit: mint tokens with test keys; server calls fail fast and are
        # logged (the database stays the truth), which is what these service tests rely on.
        settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "test-key", "test-secret-" + "x" * 32
        settings.LIVEKIT_URL, settings.LIVEKIT_API_URL = "ws://127.0.0.1:9", "http://127.0.0.1:9"


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
