"""Fixtures for the trust & safety tests: a live Space with a full cast of roles."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from rooms.models import Participant, Role, Space, SpaceState
from tests.factories import HostFactory, UserFactory
from tests.realtime.conftest import rt_prefix, server_env, servers  # noqa: F401 (real servers for the socket tests)
from tests.rooms.conftest import livekit_stack, lk, peers, world  # noqa: F401 (a private livekit-server with peers)


@pytest.fixture(autouse=True)
def _private_room_prefix(settings: Any) -> None:
    # Never share LiveKit room names with another run; without LiveKit, server calls fail fast and are logged.
    settings.LIVEKIT_ROOM_PREFIX = f"t{uuid.uuid4().hex[:8]}-"
    if not settings.LIVEKIT_API_KEY:
        settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "test-key", "test-secret-" + "x" * 32
        settings.LIVEKIT_URL, settings.LIVEKIT_API_URL = "ws://127.0.0.1:9", "http://127.0.0.1:9"


def add_member(space: Space, role: str = Role.LISTENER, user: User | None = None, connected: bool = True) -> User:
    """Put a user in ``space`` in ``role`` directly (the join path is tested by the rooms tests)."""
    user = user or UserFactory()
    Participant.objects.create(
        space=space, user=user, role=role, is_connected=connected, joined_at=timezone.now() if connected else None
    )
    if role == Role.LISTENER and connected:
        Space.objects.filter(pk=space.pk).update(listener_count=space.listener_count + 1)
        space.refresh_from_db()
    return user


def make_live_space(host: User | None = None) -> Space:
    host = host or HostFactory()
    space = Space.objects.create(host=host, title="Live talk", state=SpaceState.LIVE, started_at=timezone.now())
    Participant.objects.create(space=space, user=host, role=Role.HOST, is_connected=True, joined_at=timezone.now())
    return space


@dataclass
class Cast:
    space: Space
    host: User
    cohost: User
    cohost2: User
    speaker: User
    speaker2: User
    listener: User
    listener2: User
    banned: User
    suspended: User
    staff: User
    outsider: User


@pytest.fixture
def cast() -> Cast:
    """A live Space: host, two co-hosts, two speakers, two listeners (one with a raised hand), a user banned
    from it, a suspended user, a staff member and an outsider (neither of the last two in the Space)."""
    from moderation.models import SpaceBan
    from rooms.models import HandRaise

    space = make_live_space()
    cohost = add_member(space, Role.COHOST)
    cohost2 = add_member(space, Role.COHOST)
    speaker = add_member(space, Role.SPEAKER)
    speaker2 = add_member(space, Role.SPEAKER)
    listener = add_member(space)
    listener2 = add_member(space)
    HandRaise.objects.create(space=space, user=listener2)
    banned = UserFactory()
    SpaceBan.objects.create(space=space, user=banned, banned_by=space.host, reason="spam")
    suspended = UserFactory(is_suspended=True, suspension_reason="abuse")
    staff = UserFactory(is_staff=True, is_superuser=True)
    return Cast(
        space=space,
        host=space.host,
        cohost=cohost,
        cohost2=cohost2,
        speaker=speaker,
        speaker2=speaker2,
        listener=listener,
        listener2=listener2,
        banned=banned,
        suspended=suspended,
        staff=staff,
        outsider=UserFactory(),
    )
