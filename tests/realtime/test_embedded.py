"""The embedded default (no Redis): the same consumer and hub, messages handed over inside the process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.db.models import F

from accounts.ws_auth import TokenOrSessionAuthMiddlewareStack
from rooms.models import Role, Space
from spaces_project.realtime.publish import Audience, publish_on_commit
from tests.support.builders import live_space, member, token_for
from tests.support.sockets import in_thread

pytestmark = pytest.mark.django_db(transaction=True)


def _app() -> Any:
    from channels.routing import URLRouter

    from spaces_project.routing import websocket_urlpatterns

    return TokenOrSessionAuthMiddlewareStack(URLRouter(websocket_urlpatterns))


async def _connect(space_id: int, token: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        _app(), f"/ws/spaces/{space_id}/", headers=[(b"authorization", f"Token {token}".encode())]
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def _next(communicator: WebsocketCommunicator, type_: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await communicator.receive_from(timeout=5))
        if frame["type"] == type_:
            return frame


def test_events_reach_sockets_without_redis(settings: Any) -> None:
    settings.REDIS_URL = ""
    space = live_space()
    cohost = member(space, Role.COHOST)
    listener = member(space)
    cohost_token, listener_token = token_for(cohost), token_for(listener)

    def room_event() -> None:
        with transaction.atomic():
            Space.objects.filter(pk=space.pk).update(seq=F("seq") + 1)
            publish_on_commit(type="space.updated", data={"title": "x"}, space_id=space.pk, seq=space.seq + 1)

    def host_event() -> None:
        with transaction.atomic():
            publish_on_commit(type="hand.raised", data={"user_id": 1}, space_id=space.pk, audience=Audience.HOSTS)

    def personal_event() -> None:
        with transaction.atomic():
            publish_on_commit(type="notification", data={"n": 1}, audience=Audience.USER, user_ids=[listener.pk])

    async def scenario() -> None:
        host_team = await _connect(space.pk, cohost_token)
        audience = await _connect(space.pk, listener_token)
        assert (await _next(host_team, "snapshot"))["data"]["hands"] == []
        assert (await _next(audience, "snapshot"))["seq"] == space.seq
        await in_thread(host_event)
        await in_thread(personal_event)
        await in_thread(room_event)
        assert (await _next(host_team, "hand.raised"))["data"] == {"user_id": 1}
        assert (await _next(audience, "notification"))["data"] == {"n": 1}
        # The listener's next frame after the notification is the room event: no hand.raised in between.
        frame = json.loads(await audience.receive_from(timeout=5))
        while frame["type"] == "listeners.count":
            frame = json.loads(await audience.receive_from(timeout=5))
        assert (frame["type"], frame["seq"]) == ("space.updated", space.seq + 1)
        assert (await _next(host_team, "space.updated"))["seq"] == space.seq + 1
        await host_team.disconnect()
        await audience.disconnect()

    asyncio.run(scenario())
