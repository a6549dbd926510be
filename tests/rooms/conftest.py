"""Fixtures for the rooms tests: a live Space with people in it, and a per-run LiveKit room prefix."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
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


@pytest.fixture(scope="session")
def livekit_stack() -> Iterator[tuple[Any, Any]]:
    """A private livekit-server whose webhooks reach this test process's app on a real port."""
    from tests.conftest import IN_CI
    from tests.rooms.livekit_harness import AppServer, LiveKitServer, livekit_binary

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


@pytest.fixture
def lk(livekit_stack: tuple[Any, Any], settings: Any) -> Any:
    """Point the app at the private livekit-server for this test; returns the server."""
    from tests.rooms.livekit_harness import KEY, SECRET

    server, _app = livekit_stack
    server.thaw()
    settings.LIVEKIT_URL = server.ws_url
    settings.LIVEKIT_API_URL = server.http_url
    settings.LIVEKIT_API_KEY = KEY
    settings.LIVEKIT_API_SECRET = SECRET
    settings.LIVEKIT_API_TIMEOUT_S = 2
    return server
