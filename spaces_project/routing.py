"""Websocket URL routes; each app adds its consumers here. The last route catches every other path."""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import URLPattern, URLResolver, path, re_path

from rooms.consumers import space_consumer_app
from spaces_project.realtime.hub import now_iso
from spaces_project.realtime.publish import CLOSE_NOT_FOUND


class NoRouteConsumer(AsyncWebsocketConsumer):
    """A handshake to a path no route serves: the ``not_found`` error frame, then close 4404.

    Without it Channels' URLRouter raises ``ValueError("No route found")`` and the server answers the
    handshake with HTTP 500. Accepted first and then closed, like every other refusal
    (docs/protocol.md), so that browsers see the code.
    """

    channel_layer_alias = "__none__"  # no layer channel for a socket that lives a few milliseconds

    async def connect(self) -> None:
        await self.accept()
        error = {"code": "not_found", "detail": "No websocket is served at this path.", "extra": {}}
        envelope = {"type": "error", "seq": None, "space": None, "ts": now_iso(), "data": error}
        await self.send(text_data=json.dumps(envelope, separators=(",", ":")))
        await self.close(code=CLOSE_NOT_FOUND, reason="not_found")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        return


def no_route_app() -> Any:
    return NoRouteConsumer.as_asgi()


websocket_urlpatterns: list[URLPattern | URLResolver] = [
    path("ws/spaces/<int:space_id>/", space_consumer_app()),
    re_path(r"", no_route_app()),  # keep last
]
