"""The uvicorn fast path and its plain ASGI fallback, through the production ASGI stack in this process.

The fast path reads uvicorn internals (``spaces_project/realtime/uvicorn_fastpath.py``). These tests
fail, loudly, when a uvicorn upgrade moves them: the protocol is no longer found behind Channels'
``send``, or lacks an attribute the fast path reads. Until the fast path is repaired, production can run
with ``SPACES_WS_FAST_PATH=false``: the fallback test proves that path delivers the same frames. (The
whole of tests/realtime runs on either path: ``SPACES_WS_FAST_PATH=false bin/test tests/realtime``.)
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from django.db import transaction

from accounts.models import User
from spaces_project.realtime import hub as hub_module
from spaces_project.realtime import uvicorn_fastpath
from spaces_project.realtime.publish import publish_on_commit
from tests.support.builders import live_space, member, token_for
from tests.support.servers import free_port
from tests.support.sockets import in_thread, recv, recv_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server() -> Iterator[int]:
    """uvicorn serving ``spaces_project.asgi`` in a thread of this process, as the Procfile runs it."""
    from spaces_project.asgi import application

    port = free_port()
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, ws="websockets-sansio", lifespan="off", log_level="warning"
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield port
    instance.should_exit = True
    thread.join(timeout=20)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many sockets each fan-out wrote to through the fast path (the others took the ASGI send)."""
    counts: list[int] = []
    real = uvicorn_fastpath.write_idle

    def counting(sinks: Any, wire: bytes) -> list[Any]:
        sinks = list(sinks)
        rest = real(sinks, wire)
        counts.append(len(sinks) - len(rest))
        return rest

    monkeypatch.setattr(uvicorn_fastpath, "write_idle", counting)
    return counts


def _sinks_of(space_id: int) -> list[Any]:
    return [sink for hub in list(hub_module._hubs.values()) for sink in hub.sinks.get(space_id, ())]


def _credentials(user: User, auth: str) -> dict[str, str]:
    """The mobile app's token header, or the web client's session cookie (Channels' session wrapper)."""
    if auth == "token":
        return {"Authorization": f"Token {token_for(user)}"}
    from django.test import Client

    client = Client()
    client.force_login(user)
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}


def _deliver_one(port: int, auth: str) -> tuple[list[Any], dict[str, Any]]:
    """Open a listener's socket, publish one room event, return (the server's sinks, the frame received)."""
    from websockets.asyncio.client import connect

    space = live_space()
    headers = _credentials(member(space), auth)

    def event() -> None:
        with transaction.atomic():
            publish_on_commit(type="space.updated", data={"title": "fast"}, space_id=space.pk, seq=space.seq + 1)

    async def scenario() -> tuple[list[Any], dict[str, Any]]:
        url = f"ws://127.0.0.1:{port}/ws/spaces/{space.pk}/"
        ws = await connect(url, additional_headers=headers, proxy=None, open_timeout=10)
        assert (await recv(ws))["type"] == "snapshot"
        sinks = _sinks_of(space.pk)
        await in_thread(event)
        frame = await recv_until(ws, "space.updated")
        await ws.close()
        return sinks, frame

    return asyncio.run(scenario())


@pytest.mark.parametrize("auth", ["token", "session"])
def test_the_fast_path_finds_uvicorns_protocol_and_writes_to_it(
    server: int, writes: list[int], settings: Any, auth: str
) -> None:
    settings.SPACES_WS_FAST_PATH = True  # the default; also when the suite runs with the fast path off
    sinks, frame = _deliver_one(server, auth)
    assert len(sinks) == 1
    raw = sinks[0].raw
    cls = uvicorn_fastpath.protocol_class()
    assert cls is not None, (
        "uvicorn's websockets-sansio protocol moved: fix spaces_project/realtime/uvicorn_fastpath.py"
    )
    assert isinstance(raw, cls), (
        f"the fast path no longer finds uvicorn's protocol behind Channels' send (got {raw!r}): uvicorn or "
        "Channels internals changed; fix spaces_project/realtime/uvicorn_fastpath.py or run with "
        "SPACES_WS_FAST_PATH=false"
    )
    missing = [name for name in uvicorn_fastpath.PROTOCOL_ATTRIBUTES if not hasattr(raw, name)]
    assert not missing, f"uvicorn's protocol lost attributes the fast path reads: {missing}"
    assert frame["data"] == {"title": "fast"}
    assert sum(writes) >= 1, "the frame did not go through the fast path"


@pytest.mark.parametrize("auth", ["token", "session"])
def test_the_plain_asgi_fallback_delivers_the_same_frames(
    server: int, writes: list[int], settings: Any, auth: str
) -> None:
    settings.SPACES_WS_FAST_PATH = False
    sinks, frame = _deliver_one(server, auth)
    assert [sink.raw for sink in sinks] == [None]
    assert frame["data"] == {"title": "fast"}
    assert sum(writes) == 0
