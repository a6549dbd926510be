"""Hostile websocket input on both servers (uvicorn, daphne): a documented answer, never a crash.

- a text frame the server cannot use (100,000 ``[``, NUL, binary) → an ``invalid_frame`` error frame,
  and the socket stays open (it used to abort with 1006 on ``RecursionError``);
- a handshake to a path with no route → the error frame ``not_found`` and close 4404 (it was an HTTP
  500 from Channels' URLRouter).
"""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.factories import UserFactory
from tests.support.builders import live_space, member, token_for
from tests.support.servers import Server
from tests.support.sockets import open_ws, recv, recv_until, refusal

pytestmark = pytest.mark.django_db(transaction=True)

BAD_FRAMES: list[str | bytes] = [
    "[" * 100_000,
    '{"action": ' * 50_000,
    '{"action": "ping\\u0000"}',
    '{"action": "\\ud800"}',
    "\x00",
    "",
    "1e999999",
    b"\x00\xff binary",
]


def test_bad_frames_answer_invalid_frame_and_the_socket_stays_open(servers: list[Server]) -> None:
    space = live_space()
    token = token_for(member(space))

    async def scenario(server: Server) -> None:
        ws = await open_ws(server.ws(space.pk), token)
        assert (await recv(ws))["type"] == "snapshot"
        for frame in BAD_FRAMES:
            await ws.send(frame)
            error = await recv_until(ws, "error")
            assert error["data"]["code"] == "invalid_frame", (server.name, frame[:20])
        await ws.send('{"action": "ping"}')
        assert (await recv_until(ws, "pong"))["space"] == space.pk
        await ws.close()

    for server in servers:
        asyncio.run(scenario(server))


@pytest.mark.parametrize(
    "path",
    [
        "/ws/nowhere/",
        "/ws/spaces/abc/",
        "/ws/spaces/1",
        "/ws/spaces/%00/",
        "/ws/spaces/1/extra/",
        "/api/v1/me",
        "/",
    ],
)
def test_a_handshake_to_an_unknown_path_is_refused_with_4404(servers: list[Server], path: str) -> None:
    token = token_for(UserFactory())

    async def scenario(server: Server) -> tuple[int | None, str]:
        ws = await open_ws(f"ws://127.0.0.1:{server.port}{path}", token)
        return await refusal(ws)

    for server in servers:
        try:
            assert asyncio.run(scenario(server)) == (4404, "not_found"), server.name
        except InvalidStatus as exc:  # the HTTP answer to the handshake instead of a websocket
            raise AssertionError(f"{server.name}: {path} answered HTTP {exc.response.status_code}") from None


def test_an_anonymous_handshake_to_an_unknown_path_is_refused_too(servers: list[Server]) -> None:
    async def scenario(server: Server) -> tuple[int | None, str]:
        return await refusal(await open_ws(f"ws://127.0.0.1:{server.port}/ws/nowhere/"))

    for server in servers:
        assert asyncio.run(scenario(server)) == (4404, "not_found"), server.name


@pytest.mark.parametrize("space_id", [2**63, 10**40])
def test_a_space_id_beyond_bigint_is_space_not_found(servers: list[Server], space_id: int) -> None:
    token = token_for(UserFactory())

    async def scenario(server: Server) -> tuple[int | None, str]:
        return await refusal(await open_ws(server.ws(space_id), token))

    for server in servers:
        assert asyncio.run(scenario(server)) == (4404, "space_not_found"), server.name


def test_a_session_cookie_holding_nul_is_no_session(servers: list[Server]) -> None:
    # A quoted cookie value is unquoted with octal escapes: "\000" becomes a NUL that PostgreSQL refuses.
    space = live_space()
    cookie = 'sessionid="' + "\\000" * 32 + '"'

    async def scenario(server: Server) -> tuple[int | None, str]:
        ws = await connect(server.ws(space.pk), additional_headers={"Cookie": cookie}, proxy=None, open_timeout=10)
        return await refusal(ws)

    for server in servers:
        assert asyncio.run(scenario(server)) == (4401, "not_authenticated"), server.name
