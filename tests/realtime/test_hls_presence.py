"""An HLS listener's presence is their Spaces websocket (LiveKit never sees them): closing it disconnects
them and lowers the listener count; opening it again counts them back. WebRTC listeners are untouched."""

from __future__ import annotations

import asyncio
import time

import pytest

from rooms.models import Participant, Space
from tests.support.builders import live_space, member, token_for
from tests.support.servers import Server
from tests.support.sockets import open_ws, recv

pytestmark = pytest.mark.django_db(transaction=True)


def _until(predicate, timeout: float = 10) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def _connected(space: Space, user) -> bool:  # type: ignore[no-untyped-def]
    return Participant.objects.get(space=space, user=user).is_connected


def test_hls_listener_presence_follows_the_socket(servers: list[Server]) -> None:
    space = live_space()
    hls_user, webrtc_user = member(space, transport="hls"), member(space)
    count = Space.objects.get(pk=space.pk).listener_count
    assert count == 2

    tokens = {hls_user.pk: token_for(hls_user), webrtc_user.pk: token_for(webrtc_user)}

    async def visit(server: Server, user) -> None:  # type: ignore[no-untyped-def]
        ws = await open_ws(server.ws(space.pk) + "?transport=hls", tokens[user.pk])
        assert (await recv(ws))["type"] == "snapshot"
        await ws.close()

    for server in servers:
        asyncio.run(visit(server, hls_user))
        assert _until(lambda: not _connected(space, hls_user)), server.name
        assert Space.objects.get(pk=space.pk).listener_count == 1
        # a WebRTC listener claiming HLS in the URL changes nothing: the row says how they listen
        asyncio.run(visit(server, webrtc_user))
        time.sleep(0.3)
        assert _connected(space, webrtc_user) and Space.objects.get(pk=space.pk).listener_count == 1

    async def stay(server: Server) -> None:
        ws = await open_ws(server.ws(space.pk) + "?transport=hls", tokens[hls_user.pk])
        assert (await recv(ws))["type"] == "snapshot"
        # counted again while the socket is open
        back = lambda: _connected(space, hls_user) and Space.objects.get(pk=space.pk).listener_count == 2  # noqa: E731
        assert await asyncio.to_thread(_until, back)
        await ws.close()

    asyncio.run(stay(servers[0]))
