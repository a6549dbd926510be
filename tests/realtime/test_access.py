"""Who may follow a Space: every refusal closes the socket with its documented 4xxx code."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Block, User
from moderation.models import HostBan, SpaceBan
from rooms.models import Role, Space, SpaceState
from tests.factories import HostFactory, UserFactory
from tests.support.builders import live_space, member, token_for
from tests.support.servers import Server
from tests.support.sockets import api, close_code, open_ws, recv, recv_until, refusal

pytestmark = pytest.mark.django_db(transaction=True)


def _refusal(server: Server, space_id: int, token: str | None) -> tuple[int | None, str | None]:
    async def scenario() -> tuple[int | None, str | None]:
        ws = await open_ws(server.ws(space_id), token)
        return await refusal(ws)

    return asyncio.run(scenario())


def _banned_from_space(space: Space, user: User) -> None:
    SpaceBan.objects.create(space=space, user=user)


def _banned_by_host(space: Space, user: User) -> None:
    HostBan.objects.create(host=space.host, user=user)


def _blocked_by_host(space: Space, user: User) -> None:
    Block.objects.create(blocker=space.host, blocked=user)


def _suspended(space: Space, user: User) -> None:
    User.objects.filter(pk=user.pk).update(is_suspended=True)


@pytest.mark.parametrize(
    ("setup", "code", "reason"),
    [
        (_banned_from_space, 4403, "banned"),
        (_banned_by_host, 4403, "banned"),
        (_blocked_by_host, 4403, "blocked"),
        (_suspended, 4403, "account_suspended"),
    ],
)
def test_refused_user_gets_its_code(
    servers: list[Server], setup: Callable[[Space, User], None], code: int, reason: str
) -> None:
    space = live_space()
    user = UserFactory()
    setup(space, user)
    for server in servers:
        assert _refusal(server, space.pk, token_for(user)) == (code, reason)


def test_ticketed_space_refuses_a_listener_without_ticket_with_4402(servers: list[Server]) -> None:
    from tickets.models import TicketOffer

    space = live_space()
    TicketOffer.objects.create(space=space, price_cents=500, capacity=10)
    listener, host_token = UserFactory(), token_for(space.host)

    async def host_connects(server: Server) -> str:
        ws = await open_ws(server.ws(space.pk), host_token)
        frame = await recv(ws)
        await ws.close()
        return str(frame["type"])

    for server in servers:
        assert _refusal(server, space.pk, token_for(listener)) == (4402, "ticket_required")
        assert asyncio.run(host_connects(server)) == "snapshot"  # the host needs no ticket


def test_anonymous_and_bad_token_get_4401(servers: list[Server]) -> None:
    space = live_space()
    for server in servers:
        assert _refusal(server, space.pk, None) == (4401, "not_authenticated")
        assert _refusal(server, space.pk, "not-a-token") == (4401, "not_authenticated")


def test_missing_space_gets_4404(servers: list[Server]) -> None:
    user = UserFactory()
    for server in servers:
        assert _refusal(server, 987654, token_for(user)) == (4404, "space_not_found")


@pytest.mark.parametrize(
    ("state", "code", "reason"),
    [
        (SpaceState.SCHEDULED, 4409, "space_not_live"),
        (SpaceState.ENDED, 4410, "space_ended"),
        (SpaceState.CANCELED, 4410, "space_ended"),
    ],
)
def test_space_not_live_is_refused(servers: list[Server], state: str, code: int, reason: str) -> None:
    space = Space.objects.create(
        host=HostFactory(), title="Later", state=state, scheduled_start=timezone.now() + timedelta(days=1)
    )
    user = UserFactory()
    for server in servers:
        assert _refusal(server, space.pk, token_for(user)) == (code, reason)


def test_removed_participant_is_closed_and_the_room_stays(servers: list[Server]) -> None:
    uvicorn, daphne = servers
    space = live_space()
    removed, staying = member(space), member(space)
    host_token, removed_token, staying_token = token_for(space.host), token_for(removed), token_for(staying)

    async def scenario() -> None:
        removed_ws = await open_ws(daphne.ws(space.pk), removed_token)
        staying_ws = await open_ws(uvicorn.ws(space.pk), staying_token)
        await recv(removed_ws)
        await recv(staying_ws)
        url = f"{uvicorn.http}/api/v1/spaces/{space.pk}/participants/{removed.username}/remove"
        response = await api("POST", url, host_token, {"ban": "space"})
        assert response.status_code in (200, 204), response.text
        assert (await recv_until(staying_ws, "participant.removed"))["data"]["user_id"] == removed.pk
        assert (await close_code(removed_ws))[0] == 4403
        await staying_ws.send('{"action": "ping"}')
        assert (await recv_until(staying_ws, "pong"))["type"] == "pong"
        # Coming back is refused: the removal is a ban.
        again = await open_ws(uvicorn.ws(space.pk), removed_token)
        assert await refusal(again) == (4403, "banned")
        await staying_ws.close()

    asyncio.run(scenario())


def test_space_ended_reaches_everyone_then_closes_every_socket(servers: list[Server]) -> None:
    uvicorn, daphne = servers
    space = live_space()
    cohost = member(space, Role.COHOST)
    tokens = [token_for(space.host), token_for(cohost), token_for(member(space)), token_for(member(space))]

    async def scenario() -> None:
        sockets = [await open_ws((uvicorn, daphne)[i % 2].ws(space.pk), t) for i, t in enumerate(tokens)]
        for ws in sockets:
            await recv(ws)
        response = await api("POST", f"{daphne.http}/api/v1/spaces/{space.pk}/end", tokens[0])
        assert response.status_code in (200, 204), response.text
        for ws in sockets:
            assert (await recv_until(ws, "space.ended"))["seq"] == space.seq + 1
            assert (await close_code(ws))[0] == 4410
        late = await open_ws(uvicorn.ws(space.pk), tokens[2])
        assert await refusal(late) == (4410, "space_ended")

    asyncio.run(scenario())


# ------------------------------------------------------------------ Origin (docs/security.md)
def _session_cookie(user: User) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def _first_frame(url: str, headers: dict[str, str], origin: str | None) -> str:
    """The first frame's type, or ``http <status>`` when the handshake itself is refused."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus
    from websockets.typing import Origin

    try:
        ws = await connect(
            url, additional_headers=headers, origin=Origin(origin) if origin else None, proxy=None, open_timeout=10
        )
    except InvalidStatus as refused:
        return f"http {refused.response.status_code}"
    try:
        return str((await recv(ws))["type"])
    finally:
        await ws.close()


def test_a_page_of_another_site_cannot_use_the_session_cookie(servers: list[Server]) -> None:
    space = live_space()
    cookie = {"Cookie": _session_cookie(member(space))}
    for server in servers:
        url = server.ws(space.pk)
        assert asyncio.run(_first_frame(url, cookie, "https://evil.example")) == "http 403", server.name
        assert asyncio.run(_first_frame(url, cookie, "null")) == "http 403", server.name
        assert asyncio.run(_first_frame(url, cookie, server.http)) == "snapshot", server.name


def test_a_socket_without_origin_or_with_a_token_is_not_a_page_of_another_site(servers: list[Server]) -> None:
    space = live_space()
    user = member(space)
    token = {"Authorization": f"Token {token_for(user)}"}
    for server in servers:
        url = server.ws(space.pk)
        # Not a browser (no Origin): the mobile app, with its token or a cookie it holds.
        assert asyncio.run(_first_frame(url, token, None)) == "snapshot", server.name
        assert asyncio.run(_first_frame(url, {"Cookie": _session_cookie(user)}, None)) == "snapshot", server.name
        # A token is no ambient credential: no page can make a browser attach it.
        assert asyncio.run(_first_frame(url, token, "https://evil.example")) == "snapshot", server.name
