"""Websocket URL routes; each app adds its consumers here. The last route catches every other path.

This module is the project's wiring, like ``urls.py``: it imports the apps' consumers. The realtime layer
(``spaces_project.realtime``) does not; it is given what it needs by the apps at start-up.
"""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import URLPattern, URLResolver, path, re_path

from rooms.consumers import SpaceSocket
from spaces_project.realtime.wire import CLOSE_NOT_FOUND, now_iso


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
    path("ws/spaces/<int:space_id>/", SpaceSocket.as_asgi()),
    re_path(r"", no_route_app()),  # keep last
]
