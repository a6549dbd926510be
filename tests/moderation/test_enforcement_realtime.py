"""Bans and suspensions take effect at once on connected sockets (two real server processes, Redis)."""

from __future__ import annotations

import asyncio

import pytest

from moderation import services
from rooms.models import Role, Space, SpaceState
from tests.factories import UserFactory
from tests.support.builders import live_space, member, token_for
from tests.support.servers import Server
from tests.support.sockets import api, close_code, in_thread, open_ws, recv, recv_until, refusal

pytestmark = pytest.mark.django_db(transaction=True)


def test_ban_from_the_list_closes_the_socket_and_refuses_reconnect(servers: list[Server]) -> None:
    uvicorn, daphne = servers
    space = live_space()
    cohost, banned, staying = member(space, Role.COHOST), member(space), member(space)
    cohost_token, banned_token, staying_token = token_for(cohost), token_for(banned), token_for(staying)

    async def scenario() -> None:
        banned_ws = await open_ws(daphne.ws(space.pk), banned_token)
        staying_ws = await open_ws(uvicorn.ws(space.pk), staying_token)
        await recv(banned_ws)
        await recv(staying_ws)
        url = f"{uvicorn.http}/api/v1/spaces/{space.pk}/bans"
        response = await api("POST", url, cohost_token, {"username": banned.username, "scope": "host"})
        assert response.status_code == 201, response.text
        assert (await recv_until(staying_ws, "participant.removed"))["data"]["user_id"] == banned.pk
        assert (await close_code(banned_ws))[0] == 4403
        again = await open_ws(uvicorn.ws(space.pk), banned_token)
        assert await refusal(again) == (4403, "banned")
        await staying_ws.close()

    asyncio.run(scenario())


def test_suspension_closes_the_users_sockets_and_ends_their_space(servers: list[Server]) -> None:
    uvicorn, daphne = servers
    other = live_space()
    space = live_space()
    speaker = member(other, Role.SPEAKER)
    listener = member(space)
    staff = UserFactory(is_staff=True)
    speaker_token, listener_token = token_for(speaker), token_for(listener)

    async def scenario() -> None:
        speaker_ws = await open_ws(daphne.ws(other.pk), speaker_token)
        listener_ws = await open_ws(uvicorn.ws(space.pk), listener_token)
        await recv(speaker_ws)
        await recv(listener_ws)
        await in_thread(lambda: services.user_suspend(user_id=speaker.pk, staff=staff, reason="spam"))
        assert (await close_code(speaker_ws))[0] == 4403
        await in_thread(lambda: services.user_suspend(user_id=space.host_id, staff=staff, reason="scam"))
        assert (await recv_until(listener_ws, "space.ended"))["data"]["reason"] == "host_suspended"
        assert (await close_code(listener_ws))[0] == 4410
        again = await open_ws(uvicorn.ws(other.pk), speaker_token)
        assert await refusal(again) == (4403, "account_suspended")
        tokens = await api("GET", f"{uvicorn.http}/api/v1/me", speaker_token)
        assert tokens.json()["code"] == "account_suspended"

    asyncio.run(scenario())
    assert Space.objects.get(pk=space.pk).state == SpaceState.ENDED
    assert Space.objects.get(pk=other.pk).state == SpaceState.LIVE
