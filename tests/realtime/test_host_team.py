"""Host-team data on the websocket follows the host team as it is now, not as it was when the socket opened.

A co-host the host demotes stays in the Space (as a speaker) with the same socket: from then on they get
no host-team events and no hand queue. A co-host of a Space that has ended cannot follow it at all.
Both transports: the hub (production) and the stock Channels group path (kept for the benchmark).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from accounts.ws_auth import TokenOrSessionAuthMiddlewareStack
from rooms import services
from rooms.consumers import StockSpaceConsumer
from rooms.models import Role
from tests.support.builders import live_space, member, token_for
from tests.support.servers import Server
from tests.support.sockets import api, frames_for, in_thread, open_ws, recv, recv_until, refusal

pytestmark = pytest.mark.django_db(transaction=True)

SKIP_COUNTS = ("listeners.count",)


def test_a_demoted_cohost_gets_no_more_host_team_data(servers: list[Server]) -> None:
    uvicorn, daphne = servers
    space = live_space()
    cohost, raiser = member(space, Role.COHOST), member(space)
    host_token, cohost_token, raiser_token = token_for(space.host), token_for(cohost), token_for(raiser)

    async def scenario() -> None:
        host_ws = await open_ws(uvicorn.ws(space.pk), host_token)
        cohost_ws = await open_ws(daphne.ws(space.pk), cohost_token)
        await recv(host_ws)
        assert (await recv(cohost_ws))["data"]["hands"] == []
        url = f"{uvicorn.http}/api/v1/spaces/{space.pk}/participants/{cohost.username}/cohost"
        assert (await api("DELETE", url, host_token)).status_code == 200
        await recv_until(cohost_ws, "stage.updated")
        raised = await api("POST", f"{uvicorn.http}/api/v1/spaces/{space.pk}/hand", raiser_token)
        assert raised.status_code == 201, raised.text
        assert (await recv_until(host_ws, "hand.raised"))["data"]["user_id"] == raiser.pk
        assert [f["type"] for f in await frames_for(cohost_ws, 1.0, skip=SKIP_COUNTS)] == []
        await cohost_ws.send('{"action": "resync"}')
        snapshot = await recv_until(cohost_ws, "snapshot")
        assert (snapshot["data"]["you"]["role"], snapshot["data"]["hands"]) == (Role.SPEAKER, None)
        await host_ws.close()
        await cohost_ws.close()

    asyncio.run(scenario())


def test_a_cohost_of_an_ended_space_cannot_follow_it(servers: list[Server]) -> None:
    uvicorn, _ = servers
    space = live_space()
    cohost = member(space, Role.COHOST)
    host_token, cohost_token = token_for(space.host), token_for(cohost)

    async def scenario() -> None:
        ended = await api("POST", f"{uvicorn.http}/api/v1/spaces/{space.pk}/end", host_token, {"reason": "done"})
        assert ended.status_code == 200, ended.text
        ws = await open_ws(uvicorn.ws(space.pk), cohost_token)
        assert await refusal(ws) == (4410, "space_ended")

    asyncio.run(scenario())


# --- the stock Channels group path --------------------------------------------------------------------


@pytest.fixture
def stock_transport(settings: Any, redis_url: str) -> Any:
    """``SPACES_REALTIME_TRANSPORT=group`` on a Redis channel layer of this test's own."""
    from channels.layers import channel_layers

    settings.SPACES_REALTIME_TRANSPORT = "group"
    layers = json.loads(json.dumps(settings.CHANNEL_LAYERS))
    layers["default"]["CONFIG"]["prefix"] = f"ht-{uuid.uuid4().hex[:10]}"
    settings.CHANNEL_LAYERS = layers
    channel_layers.backends.clear()
    yield TokenOrSessionAuthMiddlewareStack(StockSpaceConsumer.as_asgi())
    channel_layers.backends.clear()


async def _connect(app: Any, space_id: int, token: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        app, f"/ws/spaces/{space_id}/", headers=[(b"authorization", f"Token {token}".encode())]
    )
    communicator.scope["url_route"] = {"args": (), "kwargs": {"space_id": space_id}}
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def _next(communicator: WebsocketCommunicator, type_: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await communicator.receive_from(timeout=5))
        if frame["type"] == type_:
            return frame


async def _types_for(communicator: WebsocketCommunicator, seconds: float) -> list[str]:
    types: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while deadline - loop.time() > 0:
        # receive_nothing waits without cancelling the application (a receive_from timeout would).
        if await communicator.receive_nothing(timeout=0.2):
            continue
        frame = json.loads(await communicator.receive_from(timeout=1))
        if frame["type"] not in SKIP_COUNTS:
            types.append(frame["type"])
    return types


def test_stock_path_a_demoted_cohost_gets_no_more_host_team_events(stock_transport: Any) -> None:
    app = stock_transport
    space = live_space()
    cohost, raiser = member(space, Role.COHOST), member(space)
    host_token, cohost_token = token_for(space.host), token_for(cohost)

    async def scenario() -> None:
        host_ws = await _connect(app, space.pk, host_token)
        cohost_ws = await _connect(app, space.pk, cohost_token)
        await _next(host_ws, "snapshot")
        assert (await _next(cohost_ws, "snapshot"))["data"]["hands"] == []  # joined the host-team group
        await in_thread(lambda: services.cohost_remove(space_id=space.pk, actor=space.host, target=cohost))
        await _next(cohost_ws, "stage.updated")
        await in_thread(lambda: services.hand_raise(space_id=space.pk, user=raiser))
        assert (await _next(host_ws, "hand.raised"))["data"]["user_id"] == raiser.pk
        assert "hand.raised" not in await _types_for(cohost_ws, 1.0)
        await host_ws.disconnect()
        await cohost_ws.disconnect()

    asyncio.run(scenario())
