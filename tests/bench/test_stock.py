"""The stock Channels group path of bench/stock.py (bench/fanout.py's comparison) keeps the product's rules.

Host-team data follows the host team as it is now, not as it was when the socket opened: a co-host the
host demotes gets no more host-team events on this path either.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from accounts.ws_auth import TokenOrSessionAuthMiddlewareStack
from bench import stock
from rooms import services
from rooms.models import Role
from tests.support.builders import live_space, member, token_for
from tests.support.sockets import in_thread

pytestmark = pytest.mark.django_db(transaction=True)

SKIP_COUNTS = ("listeners.count",)


@pytest.fixture
def stock_transport(settings: Any, redis_url: str) -> Any:
    """This process on the stock path (``bench.stock.install``), on a Redis channel layer of this test's own."""
    from channels.layers import channel_layers

    layers = json.loads(json.dumps(settings.CHANNEL_LAYERS))
    layers["default"]["CONFIG"]["prefix"] = f"ht-{uuid.uuid4().hex[:10]}"
    settings.CHANNEL_LAYERS = layers
    channel_layers.backends.clear()
    stock.install()
    try:
        yield TokenOrSessionAuthMiddlewareStack(stock.StockSpaceConsumer.as_asgi())
    finally:
        stock.uninstall()
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
