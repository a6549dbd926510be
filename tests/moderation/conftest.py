"""Fixtures for the trust & safety tests: a live Space with a full cast of roles."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from rooms.models import Participant, Role, Space, SpaceState
from tests.factories import HostFactory, UserFactory
from tests.rooms.conftest import lk, peers, world  # noqa: F401 (a live Space on a private livekit-server, with peers)


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


# --- real servers, started for the one module that needs them and stopped after it ------------------
# (tests/realtime and tests/rooms keep theirs for the whole session; importing those session fixtures
# here would start a second set that idles until the session ends.)


@pytest.fixture(scope="module")
def servers(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Any]]:
    """``[uvicorn, daphne]`` on the test database and Redis, on a channel prefix of their own."""
    from channels.layers import channel_layers
    from django.conf import settings

    from tests.conftest import require
    from tests.realtime.conftest import _test_database_url, start_server, stop_server

    is_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    require("PostgreSQL", os.environ.get("DATABASE_URL", "") if is_postgres else "", 5432)
    require("Redis", settings.REDIS_URL, 6379)
    prefix = f"mod-{uuid.uuid4().hex[:10]}"
    saved = settings.SPACES_CHANNEL_PREFIX, settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix")
    settings.SPACES_CHANNEL_PREFIX = prefix  # the test process publishes where the servers listen
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = prefix
    channel_layers.backends.clear()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_test_database_url(),
        SPACES_CHANNEL_PREFIX=prefix,
        SPACES_DISABLE_THROTTLING="1",
        SPACES_FAST_PASSWORD_HASHER="1",
        DJANGO_SETTINGS_MODULE="spaces_project.settings",
        LOG_LEVEL="WARNING",
        CELERY_TASK_ALWAYS_EAGER="1",
        LIVEKIT_ROOM_PREFIX=f"{prefix}-",
        PYTHONUNBUFFERED="1",
    )
    env.pop("SPACES_TEST_DB_NAME", None)
    log_dir = tmp_path_factory.mktemp("mod-servers")
    started: list[Any] = []
    try:
        for kind in ("uvicorn", "daphne"):
            started.append(start_server(kind, env, log_dir))
        yield started
    finally:
        for server in started:
            stop_server(server)
        settings.SPACES_CHANNEL_PREFIX = saved[0]
        if saved[1] is None:
            settings.CHANNEL_LAYERS["default"]["CONFIG"].pop("prefix", None)
        else:
            settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = saved[1]
        channel_layers.backends.clear()


@pytest.fixture(scope="module")
def livekit_stack() -> Iterator[tuple[Any, Any]]:
    """A private livekit-server (and the app server its webhooks reach) for one module."""
    from tests.conftest import IN_CI
    from tests.support.livekit import AppServer, LiveKitServer, livekit_binary

    binary = livekit_binary()
    if binary is None:
        message = "livekit-server binary not found (bin/services up livekit builds it)"
        if IN_CI:
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    app = AppServer()
    app.start()
    server = LiveKitServer(binary, webhook_url=f"{app.url}/webhooks/livekit")
    try:
        server.start()
        yield server, app
    finally:
        server.cleanup()
        app.stop()
