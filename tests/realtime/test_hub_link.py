"""The hub and its Redis link, in process: a link that drops and comes back is never taken for unbroken.

Redis pub/sub does not replay what was published while a subscriber was away, so every reconnect must
end in a resync of the sockets, and events must flow again afterwards.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from redis.asyncio import Redis

from spaces_project.realtime import wire as realtime
from spaces_project.realtime.hub import Hub, Sink

SPACE, USER = 424242, 434343


async def _until(condition: Callable[[], bool], timeout: float = 8.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


class _Socket:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.resyncs = 0

    async def send(self, message: dict[str, Any]) -> None:
        self.frames.append(json.loads(message["text"]))

    def resync(self) -> None:
        self.resyncs += 1

    def seqs(self) -> list[int]:
        return [f["seq"] for f in self.frames]


@pytest.fixture
def hub_redis(redis_url: str, settings: Any) -> str:
    settings.SPACES_CHANNEL_PREFIX = f"hubtest-{uuid.uuid4().hex[:8]}"
    return redis_url


async def _publish(client: Redis, seq: int) -> int:
    frame = json.dumps({"type": "space.updated", "seq": seq, "space": SPACE, "ts": "", "data": {}})
    return int(await client.publish(realtime.space_channel(SPACE), realtime.encode_message({"seq": seq}, frame)))


@pytest.mark.parametrize("how", ["connection dropped under the reader", "server kills the connection"])
def test_every_lost_link_ends_in_a_resync(hub_redis: str, how: str) -> None:
    async def scenario() -> None:
        hub = Hub(asyncio.get_running_loop())
        socket = _Socket()
        sink = Sink(send=socket.send, space_id=SPACE, user_id=USER, on_resync=socket.resync)
        publisher = Redis.from_url(settings.REDIS_URL)
        try:
            await hub.register(sink)
            assert await _publish(publisher, 1) == 1
            await _until(lambda: socket.seqs() == [1])

            if how == "server kills the connection":
                name = f"{realtime.channel_prefix()}:hub:"
                clients = [c for c in await publisher.client_list() if str(c.get("name", "")).startswith(name)]
                assert len(clients) == 1
                await publisher.client_kill_filter(_id=clients[0]["id"])
            else:
                # What redis-py itself does when a command of another task (a socket's SUBSCRIBE) fails on
                # the shared connection: it disconnects it; the next read reconnects and resubscribes.
                await hub._pubsub.connection.disconnect()
            await _until(lambda: socket.resyncs == 1)

            # After the resync the link carries events again, to a subscription Redis has confirmed.
            assert await _publish(publisher, 2) == 1
            await _until(lambda: socket.seqs() == [1, 2])
            assert hub.reconnects == 1
        finally:
            hub.unregister(sink)
            await hub.aclose()
            await publisher.aclose()

    asyncio.run(scenario())
