"""A guest listener's socket: the signed pass from guest-join opens a read-only event stream."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest

from rooms.models import Space
from rooms.services.guests import space_guest_join
from tests.support.builders import live_space, token_for
from tests.support.servers import Server
from tests.support.sockets import api, open_ws, recv, recv_until, refusal

pytestmark = pytest.mark.django_db(transaction=True)


def _guest_url(server: Server, space_id: int, ticket: str) -> str:
    return f"{server.ws(space_id)}?guest={quote(ticket)}"


def test_guest_gets_the_snapshot_and_room_events_and_can_send_nothing(servers: list[Server]) -> None:
    space = live_space(guests_allowed=True)
    ticket = space_guest_join(space_id=space.pk).ws_ticket
    host_token = token_for(space.host)

    async def scenario(server: Server) -> None:
        ws = await open_ws(_guest_url(server, space.pk, ticket))
        snapshot = await recv(ws)
        assert snapshot["type"] == "snapshot", snapshot
        assert snapshot["data"]["you"] == {"user_id": None, "role": "guest", "hand": None, "invitation": None}
        assert snapshot["data"]["hands"] is None
        assert [m["role"] for m in snapshot["data"]["stage"]] == ["host"]
        response = await api("PATCH", f"{server.http}/api/v1/spaces/{space.pk}", host_token, {"title": "Renamed"})
        assert response.status_code == 200, response.text
        assert (await recv_until(ws, "space.updated"))["data"]["title"] == "Renamed"
        await ws.send('{"action": "raise_hand"}')
        assert (await recv_until(ws, "error"))["data"]["code"] == "invalid_frame"
        await ws.close()

    for server in servers:
        asyncio.run(scenario(server))


def test_guest_socket_refusals(servers: list[Server]) -> None:
    space = live_space(guests_allowed=True)
    other = live_space(guests_allowed=True)
    ticket = space_guest_join(space_id=space.pk).ws_ticket

    async def refused(url: str) -> tuple[int | None, str]:
        return await refusal(await open_ws(url))

    for server in servers:
        assert asyncio.run(refused(server.ws(space.pk))) == (4401, "not_authenticated")
        assert asyncio.run(refused(_guest_url(server, space.pk, ticket + "x"))) == (4401, "not_authenticated")
        assert asyncio.run(refused(_guest_url(server, other.pk, ticket))) == (4401, "not_authenticated")
    Space.objects.filter(pk=space.pk).update(guests_allowed=False)
    for server in servers:
        assert asyncio.run(refused(_guest_url(server, space.pk, ticket))) == (4403, "guests_not_allowed")
