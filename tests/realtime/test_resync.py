"""Nothing is lost: missed events, server restarts and Redis reconnects end in the same state."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F

from rooms.models import Participant, Role, Space
from spaces_project.realtime.publish import publish_on_commit
from tests.support.builders import live_space, member, token_for
from tests.support.servers import Server, start_server, stop_server
from tests.support.sockets import api, in_thread, open_ws, recv, recv_until

pytestmark = pytest.mark.django_db(transaction=True)


def _state(snapshot: dict[str, Any]) -> dict[str, Any]:
    data = snapshot["data"]
    return {"seq": snapshot["seq"], "stage": data["stage"], "space": data["space"], "count": data["listener_count"]}


def test_client_that_missed_events_resyncs_to_the_same_state(servers: list[Server]) -> None:
    uvicorn, daphne = servers
    space = live_space()
    speakers = [member(space, Role.SPEAKER), member(space, Role.SPEAKER)]
    steady, flaky = member(space), member(space)
    host_token, steady_token, flaky_token = token_for(space.host), token_for(steady), token_for(flaky)

    async def scenario() -> None:
        steady_ws = await open_ws(uvicorn.ws(space.pk), steady_token)
        flaky_ws = await open_ws(daphne.ws(space.pk), flaky_token)
        await recv(steady_ws)
        await recv(flaky_ws)
        await flaky_ws.close()  # misses everything below
        base = f"{daphne.http}/api/v1/spaces/{space.pk}/participants"
        for path in (f"{speakers[0].username}/mute", f"{speakers[1].username}/move-to-listeners"):
            response = await api("POST", f"{base}/{path}", host_token)
            assert response.status_code == 200, response.text
        seen = [await recv_until(steady_ws, "participant.muted"), await recv_until(steady_ws, "stage.updated")]
        assert [e["seq"] for e in seen] == [space.seq + 1, space.seq + 2]

        flaky_ws = await open_ws(uvicorn.ws(space.pk), flaky_token)  # reconnects elsewhere
        rejoined = await recv(flaky_ws)
        await steady_ws.send('{"action": "resync"}')
        fresh = await recv_until(steady_ws, "snapshot")
        assert _state(rejoined) == _state(fresh)
        assert rejoined["seq"] == seen[-1]["seq"]
        stage = {m["user_id"]: m for m in rejoined["data"]["stage"]}
        assert stage[speakers[0].pk]["is_muted"] is True
        assert speakers[1].pk not in stage
        await steady_ws.close()
        await flaky_ws.close()

    asyncio.run(scenario())


def test_seq_and_state_survive_a_server_restart(
    servers: list[Server], server_env: dict[str, str], tmp_path: Any
) -> None:
    _, daphne = servers
    space = live_space()
    speaker = member(space, Role.SPEAKER)
    host_token, token = token_for(space.host), token_for(member(space))
    restarting = start_server("uvicorn", server_env, tmp_path)

    async def before() -> int:
        ws = await open_ws(restarting.ws(space.pk), token)
        seq = int((await recv(ws))["seq"])
        await ws.close()
        return seq

    async def after() -> dict[str, Any]:
        ws = await open_ws(restarting.ws(space.pk), token)
        snap = await recv(ws)
        await ws.close()
        return snap

    try:
        first_seq = asyncio.run(before())
        stop_server(restarting)
        url = f"{daphne.http}/api/v1/spaces/{space.pk}/participants/{speaker.username}/mute"
        assert asyncio.run(api("POST", url, host_token)).status_code == 200
        restarting = start_server("uvicorn", server_env, tmp_path, port=restarting.port)
        snap = asyncio.run(after())
    finally:
        stop_server(restarting)
    assert snap["seq"] == first_seq + 1 == Space.objects.get(pk=space.pk).seq
    assert {m["user_id"]: m["is_muted"] for m in snap["data"]["stage"]}[speaker.pk] is True


def _kill_hub_connections(prefix: str) -> int:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        ids = [c["id"] for c in client.client_list() if str(c.get("name", "")).startswith(f"{prefix}:hub:")]
        for client_id in ids:
            client.client_kill_filter(_id=client_id)
        return len(ids)
    finally:
        client.close()


def test_sockets_resync_after_the_hub_loses_redis(servers: list[Server], rt_prefix: str) -> None:
    uvicorn, daphne = servers
    space = live_space()
    speaker = member(space, Role.SPEAKER)
    tokens = [token_for(member(space)), token_for(member(space))]

    def change_without_event() -> None:
        # What a message lost while the hub was disconnected would have told the sockets.
        with transaction.atomic():
            Participant.objects.filter(space=space, user=speaker).update(is_muted=True)
            Space.objects.filter(pk=space.pk).update(seq=F("seq") + 1)

    async def scenario() -> None:
        sockets = [await open_ws(uvicorn.ws(space.pk), tokens[0]), await open_ws(daphne.ws(space.pk), tokens[1])]
        for ws in sockets:
            await recv(ws)
        await in_thread(change_without_event)
        assert await in_thread(lambda: _kill_hub_connections(rt_prefix)) >= 2
        for ws in sockets:
            snap = await recv_until(ws, "snapshot", timeout=10)
            assert snap["seq"] == space.seq + 1
            assert {m["user_id"]: m["is_muted"] for m in snap["data"]["stage"]}[speaker.pk] is True

        # And the resubscribed hubs deliver again.
        def publish() -> None:
            with transaction.atomic():
                publish_on_commit(type="space.updated", data={"title": "after"}, space_id=space.pk, seq=space.seq + 2)

        await in_thread(publish)
        for ws in sockets:
            assert (await recv_until(ws, "space.updated"))["data"] == {"title": "after"}
            await ws.close()

    asyncio.run(scenario())


def _raw_ws_handshake(port: int, path: str, token: str, rcvbuf: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Token {token}\r\n\r\n"
    )
    sock.sendall(request.encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert b" 101 " in response.split(b"\r\n", 1)[0]
    return sock


def _read_close_code(sock: socket.socket, timeout: float) -> int | None:
    """Read server frames until a close frame; its code."""
    sock.settimeout(timeout)
    buffer = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while len(buffer) >= 2:
            opcode, length, offset = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    break
                length, offset = struct.unpack(">H", buffer[2:4])[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    break
                length, offset = struct.unpack(">Q", buffer[2:10])[0], 10
            if len(buffer) < offset + length:
                break
            payload, buffer = buffer[offset : offset + length], buffer[offset + length :]
            if opcode == 8:
                return int(struct.unpack(">H", payload[:2])[0])
        chunk = sock.recv(1 << 20)
        if not chunk:
            return None
        buffer += chunk
    return None


@pytest.mark.raw_frames
def test_a_slow_socket_is_dropped_without_delaying_the_others(servers: list[Server]) -> None:
    uvicorn, _ = servers  # uvicorn applies TCP back-pressure to the ASGI app; that is what the sink bounds
    space = live_space()
    fast_token, slow_token = token_for(member(space)), token_for(member(space))
    events, padding = 400, "x" * 32_000  # ~13 MB: more than the kernel and transport buffers hold

    def burst() -> None:
        for i in range(events):
            with transaction.atomic():
                publish_on_commit(type="space.updated", data={"i": i, "pad": padding}, space_id=space.pk)

    async def scenario() -> float:
        slow = await in_thread(lambda: _raw_ws_handshake(uvicorn.port, f"/ws/spaces/{space.pk}/", slow_token, 4096))
        fast = await open_ws(uvicorn.ws(space.pk), fast_token)
        await recv(fast)
        started = time.monotonic()
        publisher = asyncio.ensure_future(in_thread(burst))
        received = 0
        while received < events:
            frame = await recv(fast, timeout=20)
            if frame["type"] == "space.updated":
                assert frame["data"]["i"] == received
                received += 1
        elapsed = time.monotonic() - started
        await publisher
        await fast.close()
        code = await in_thread(lambda: _read_close_code(slow, 20))
        slow.close()
        assert code == 4408
        return elapsed

    assert asyncio.run(scenario()) < 15


def test_a_resync_asked_for_while_one_is_built_is_not_dropped(servers: list[Server]) -> None:
    # The snapshot in flight may predate the reason for the second request (a Redis link lost and
    # regained meanwhile): the second one gets a snapshot of its own, after the first.
    uvicorn, _ = servers
    space = live_space()
    token = token_for(member(space))

    async def scenario() -> None:
        ws = await open_ws(uvicorn.ws(space.pk), token)
        assert (await recv(ws))["type"] == "snapshot"
        await ws.send('{"action": "resync"}')
        await ws.send('{"action": "resync"}')
        first = await recv_until(ws, "snapshot", timeout=5)
        second = await recv_until(ws, "snapshot", timeout=5)
        assert first["seq"] == second["seq"] == space.seq
        await ws.close()

    asyncio.run(scenario())
