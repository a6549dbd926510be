"""Host-team data on the websocket follows the host team as it is now, not as it was when the socket opened.

A co-host the host demotes stays in the Space (as a speaker) with the same socket: from then on they get
no host-team events and no hand queue. A co-host of a Space that has ended cannot follow it at all.
(The stock Channels group path that the benchmark compares with: tests/bench/test_stock.py.)
"""

from __future__ import annotations

import asyncio

import pytest

from rooms.models import Role
from tests.support.builders import live_space, member, token_for
from tests.support.servers import Server
from tests.support.sockets import api, frames_for, open_ws, recv, recv_until, refusal

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
