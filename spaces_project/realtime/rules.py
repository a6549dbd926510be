"""What the apps tell the realtime layer at start-up (from their ``AppConfig.ready``).

The realtime layer imports no app. The rules that depend on what a Space is come from the app that owns
it (rooms, in ``rooms/apps.py``), in the manner of Phoenix's PubSub, which carries messages and knows
nothing of the channels' rules:

- the **host team** of a Space: who gets a host-team event, read when the event is published;
- **close rules**: event types whose delivery closes sockets (``space.ended`` closes every socket of
  the Space, ``participant.removed`` the removed user's);
- **coalesced** event types: the hub counts them per value of one field over a short window and sends
  one frame of counts instead of one frame each (reactions);
- **gauges**: a value per Space that the hub polls and broadcasts only when it changes (the listener
  count).

Registering the same event type again replaces its rule (``ready`` may run more than once in tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HostTeamSource = Callable[[int], list[int]]  # space id → user ids of its host team now
GaugeRead = Callable[[list[int]], dict[int, tuple[dict[str, Any], int | None]]]  # ids → {id: (data, seq)}


@dataclass(frozen=True)
class Close:
    """Close sockets of the event's Space after delivering it: every socket, or only ``users``' ones."""

    code: int
    reason: str
    users: list[int] | None = None


CloseRule = Callable[[dict[str, Any]], Close | None]  # the event's data → what to close, if anything


@dataclass(frozen=True)
class Coalesce:
    """Count events of ``type`` per value of ``data[field]``; one ``{"counts": {...}}`` frame per window."""

    type: str
    field: str
    window_s: float


@dataclass(frozen=True)
class Gauge:
    """A per-Space value read every ``interval_s`` for the Spaces with local sockets; sent when it changes."""

    type: str
    read: GaugeRead
    interval_s: float


@dataclass
class Rules:
    host_team: HostTeamSource | None = None
    close: dict[str, CloseRule] = field(default_factory=dict)
    coalesce: dict[str, Coalesce] = field(default_factory=dict)
    gauges: dict[str, Gauge] = field(default_factory=dict)


RULES = Rules()


class NotRegistered(RuntimeError):
    """A rule the realtime layer needs was not registered (is the app that owns it installed?)."""


def register_host_team(source: HostTeamSource) -> None:
    RULES.host_team = source


def register_close(type_: str, rule: CloseRule) -> None:
    RULES.close[type_] = rule


def register_coalesced(type_: str, *, field: str, window_s: float) -> None:
    RULES.coalesce[type_] = Coalesce(type_, field, window_s)


def register_gauge(type_: str, *, read: GaugeRead, interval_s: float) -> None:
    RULES.gauges[type_] = Gauge(type_, read, interval_s)


def host_team_ids(space_id: int) -> list[int]:
    """The recipients of a host-team event of ``space_id``, as the registered source says now."""
    if RULES.host_team is None:
        raise NotRegistered("no host-team source registered (rooms registers it in RoomsConfig.ready)")
    return RULES.host_team(space_id)


def close_for(type_: str, data: dict[str, Any]) -> Close | None:
    rule = RULES.close.get(type_)
    return rule(data) if rule is not None else None
