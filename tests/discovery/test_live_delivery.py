"""Discovery events end to end: real server processes, the real hub and Redis, real websockets."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from rooms.models import Reminder, Role, Space, SpaceState
from tests.factories import HostFactory
from tests.support.builders import live_space, member, token_for
from tests.support.servers import Server
from tests.support.sockets import api, frames_for, open_ws, recv, recv_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_reactions_sent_through_the_api_reach_sockets_coalesced(servers: list[Server]) -> None:
    uvicorn, daphne = servers
    space = live_space()
    people = [member(space) for _ in range(30)]
    tokens = [token_for(u) for u in people]

    async def scenario() -> None:
        sockets = [await open_ws(daphne.ws(space.pk), tokens[0]), await open_ws(uvicorn.ws(space.pk), tokens[1])]
        for ws in sockets:
            await recv(ws)  # snapshot
        url = f"{uvicorn.http}/api/v1/spaces/{space.pk}/reactions"
        answers = await asyncio.gather(
            *(api("POST", url, t, {"emoji": "🔥" if i % 3 else "👏"}) for i, t in enumerate(tokens))
        )
        assert [a.status_code for a in answers] == [202] * 30
        for ws in sockets:
            frames = [f for f in await frames_for(ws, 1.5) if f["type"] == "reaction"]
            assert 1 <= len(frames) <= 8  # at most four a second per Space, whatever the room does
            total: dict[str, int] = {}
            for frame in frames:
                for emoji, n in frame["data"]["counts"].items():
                    total[emoji] = total.get(emoji, 0) + n
            assert total == {"🔥": 20, "👏": 10}
            await ws.close()

    asyncio.run(scenario())


def test_a_message_reaches_the_host_team_and_no_listener(servers: list[Server]) -> None:
    uvicorn, daphne = servers
    space = live_space()
    cohost = member(space, Role.COHOST)
    writer, other = member(space), member(space)
    host_token, cohost_token, writer_token, other_token = (token_for(u) for u in (space.host, cohost, writer, other))

    async def scenario() -> None:
        host_ws = await open_ws(daphne.ws(space.pk), host_token)
        cohost_ws = await open_ws(uvicorn.ws(space.pk), cohost_token)
        other_ws = await open_ws(daphne.ws(space.pk), other_token)
        for ws in (host_ws, cohost_ws, other_ws):
            await recv(ws)
        url = f"{uvicorn.http}/api/v1/spaces/{space.pk}/messages"
        response = await api("POST", url, writer_token, {"text": "Can I ask a question?"})
        assert response.status_code == 201
        for ws in (host_ws, cohost_ws):
            frame = await recv_until(ws, "message.received")
            assert frame["data"]["text"] == "Can I ask a question?"
            assert frame["data"]["username"] == writer.username
        assert [f for f in await frames_for(other_ws, 1.0) if f["type"] == "message.received"] == []
        for ws in (host_ws, cohost_ws, other_ws):
            await ws.close()

    asyncio.run(scenario())


def test_a_reminded_user_gets_a_notification_on_their_open_socket(servers: list[Server]) -> None:
    uvicorn, daphne = servers
    elsewhere = live_space()
    reminded, bystander = member(elsewhere), member(elsewhere)
    host = HostFactory()
    scheduled = Space.objects.create(
        host=host, title="Launch", state=SpaceState.SCHEDULED, scheduled_start=timezone.now() + timedelta(hours=1)
    )
    Reminder.objects.create(space=scheduled, user=reminded)
    reminded_token, bystander_token, host_token = (token_for(u) for u in (reminded, bystander, host))

    async def scenario() -> None:
        reminded_ws = await open_ws(daphne.ws(elsewhere.pk), reminded_token)
        bystander_ws = await open_ws(uvicorn.ws(elsewhere.pk), bystander_token)
        for ws in (reminded_ws, bystander_ws):
            await recv(ws)
        response = await api("POST", f"{uvicorn.http}/api/v1/spaces/{scheduled.pk}/start", host_token)
        assert response.status_code == 200, response.text
        frame = await recv_until(reminded_ws, "notification")
        assert frame["data"]["kind"] == "space_started"
        assert frame["data"]["space_id"] == scheduled.pk
        assert frame["data"]["title"] == "Launch"
        assert [f for f in await frames_for(bystander_ws, 1.0) if f["type"] == "notification"] == []
        for ws in (reminded_ws, bystander_ws):
            await ws.close()

    asyncio.run(scenario())
