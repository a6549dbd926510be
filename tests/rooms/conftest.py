"""Fixtures for the rooms tests: a live Space with people in it, and a per-run LiveKit room prefix."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from accounts.models import User
from rooms import livekit_client, services
from rooms.models import Participant, Role, Space
from tests.factories import HostFactory, UserFactory
from tests.support.livekit import Peer


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


@pytest.fixture
def lk(livekit_stack: tuple[Any, Any], settings: Any) -> Iterator[Any]:
    """Point the app at the private livekit-server for this test (webhooks on); yields the server."""
    from tests.support.livekit import KEY, SECRET

    server, app = livekit_stack
    server.thaw()
    settings.LIVEKIT_URL = server.ws_url
    settings.LIVEKIT_API_URL = server.http_url
    settings.LIVEKIT_API_KEY = KEY
    settings.LIVEKIT_API_SECRET = SECRET
    settings.LIVEKIT_API_TIMEOUT_S = 2
    app.open = True
    yield server
    server.thaw()
    app.close_gate()


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for peer in made:
        peer.close()


@pytest.fixture
def world(lk, make_client, peers):
    """A live Space whose host is connected and publishing a tone."""
    host = HostFactory()
    host_api = make_client(host)
    space_id = host_api.post("/api/v1/spaces", {"title": "Audio"}, format="json").json()["id"]

    def enter(user, api=None):
        api = api or make_client(user)
        creds = api.post(f"/api/v1/spaces/{space_id}/join").json()
        peer = Peer(creds["livekit_url"], creds["token"], name=user.username)
        peers.append(peer)
        peer.connect()
        return peer, api, creds

    host_peer, _, host_creds = enter(host, host_api)
    assert host_peer.publish_tone()

    class World:
        pass

    w = World()
    w.space_id, w.host, w.host_api, w.host_peer, w.host_identity = (
        space_id,
        host,
        host_api,
        host_peer,
        host_creds["identity"],
    )
    w.room = Space.objects.get(pk=space_id).livekit_room
    w.enter = enter
    return w


def remote(room, user):
    return next(
        (p for p in livekit_client.participants_list(room=room) if p.identity == livekit_client.identity_for(user.pk)),
        None,
    )


class _Nobody:
    can_publish = False
    tracks = ()


_nobody = _Nobody()
