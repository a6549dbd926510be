"""The stock Channels path, for bench/fanout.py's comparison only: a layer channel per socket, groups per Space.

What channels-redis does out of the box (``RedisPubSubChannelLayer``, the ``CHANNEL_LAYERS`` of the
settings): every socket has its own layer channel and joins a group per Space; an event is a
``group_send`` that channels-redis decodes and the consumer JSON-encodes once per socket. The product
uses the per-process hub instead (``spaces_project.realtime.hub``); this module keeps the stock path
runnable side by side with it, outside the production code.

``install()`` makes this process publish through the groups (``spaces_project.realtime.publish.use_transport``);
bench/stock_asgi.py is the ASGI application of a server on this path. Nothing here runs in production.
"""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import DEFAULT_CHANNEL_LAYER, get_channel_layer

from rooms.consumers import SpaceConsumer
from spaces_project.realtime import publish, rules
from spaces_project.realtime.sink import Sink
from spaces_project.realtime.wire import Audience, Event


def room_group(space_id: int) -> str:
    return f"space.{space_id}"


def hosts_group(space_id: int) -> str:
    return f"space.{space_id}.hosts"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def _send_group(group: str, event: Event, to: list[int] | None = None) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message: dict[str, Any] = {"type": "spaces.event", "event": event.envelope()}
    if to is not None:
        message["to"] = to
    async_to_sync(layer.group_send)(group, message)


def stock_transport(event: Event, audience: Audience, user_ids: list[int]) -> None:
    """Publish through Channels groups: the Space's, its host team's, or each user's."""
    if audience is Audience.USER:
        groups = [user_group(uid) for uid in user_ids]
    else:
        assert event.space is not None
        groups = [hosts_group(event.space) if audience is Audience.HOSTS else room_group(event.space)]
    # A socket joins the host-team group when it opens; whoever has left the host team since (demoted,
    # banned) is still in it, so host-team events name their recipients now, as on the hub path.
    to = rules.host_team_ids(event.space) if audience is Audience.HOSTS and event.space is not None else None
    for group in groups:
        _send_group(group, event, to)


def install() -> None:
    """This process publishes on the stock path from now on (``uninstall`` restores the hub)."""
    publish.use_transport(stock_transport)


def uninstall() -> None:
    publish.use_transport(None)


class StockSpaceConsumer(SpaceConsumer):
    """The Space socket (same access rules and snapshot) fed by its own layer channel instead of the hub."""

    channel_layer_alias = DEFAULT_CHANNEL_LAYER
    _joined_groups: tuple[str, ...] = ()

    async def subscribe(self, sink: Sink) -> None:
        # Registered with the hub as well, as before the move: it sends the listeners.count ticks.
        await super().subscribe(sink)
        await self._join([user_group(sink.user_id), room_group(self.space_id)])

    async def subscribe_host_team(self, sink: Sink) -> None:
        await self._join([hosts_group(self.space_id)])

    async def _join(self, groups: list[str]) -> None:
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self._joined_groups = (*self._joined_groups, *groups)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        await AsyncWebsocketConsumer.websocket_disconnect(self, message)

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)
        for group in self._joined_groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def spaces_event(self, message: dict[str, Any]) -> None:
        if self.sink is None:
            return
        to = message.get("to")
        if to is not None and self.scope["user"].pk not in to:
            return  # a host-team event, and this user is no longer on the host team
        event = message["event"]
        self.sink.deliver(json.dumps(event, separators=(",", ":"), ensure_ascii=False), event.get("seq"))
        close = rules.close_for(event.get("type", ""), event.get("data") or {})
        if close is not None and (close.users is None or self.sink.user_id in close.users):
            self.sink.close(close.code, close.reason)
