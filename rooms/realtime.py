"""What rooms tells the realtime layer at start-up (``RoomsConfig.ready``): the rules of a Space's sockets.

The realtime layer (``spaces_project.realtime``) carries frames and knows nothing of Spaces; these are
the rooms rules it applies (see ``spaces_project/realtime/rules.py``):

- a host-team event goes to the host and current co-hosts (``rooms.selectors.host_team_user_ids``, read
  when the event is published);
- ``space.ended`` closes every socket of the Space with 4410; ``participant.removed`` closes the removed
  user's sockets with 4403;
- reactions are counted per emoji over ``REACTION_WINDOW_S`` by each server process: one
  ``reaction`` frame ``{counts: {emoji: n}}`` per window, at most four a second per Space;
- ``listeners.count`` is read for the Spaces with local sockets every ``COUNT_INTERVAL_S`` and sent only
  when it changed.
"""

from __future__ import annotations

from typing import Any

from rooms import events, selectors
from rooms.services.discovery import REACTION
from rooms.snapshot import listener_counts
from spaces_project.realtime import rules
from spaces_project.realtime.wire import CLOSE_ENDED, CLOSE_FORBIDDEN

COUNT_INTERVAL_S = 1.0  # listeners.count at most once a second per Space
REACTION_WINDOW_S = 0.25  # reactions at most four frames a second per Space


def _host_team(space_id: int) -> list[int]:
    return selectors.host_team_user_ids(space_id=space_id)


def _close_on_end(data: dict[str, Any]) -> rules.Close:
    return rules.Close(CLOSE_ENDED, "space_ended")


def _close_removed(data: dict[str, Any]) -> rules.Close | None:
    target = data.get("user_id", data.get("user"))
    return rules.Close(CLOSE_FORBIDDEN, "removed", users=[target]) if isinstance(target, int) else None


def listener_count_gauge(space_ids: list[int]) -> dict[int, tuple[dict[str, Any], int | None]]:
    """``{space_id: ({"count": n}, seq)}``: the ``listeners.count`` frame's data for each Space."""
    return {pk: ({"count": count}, seq) for pk, (count, seq) in listener_counts(space_ids=space_ids).items()}


def register() -> None:
    rules.register_host_team(_host_team)
    rules.register_close(events.SPACE_ENDED, _close_on_end)
    rules.register_close(events.PARTICIPANT_REMOVED, _close_removed)
    rules.register_coalesced(REACTION, field="emoji", window_s=REACTION_WINDOW_S)
    rules.register_gauge(events.LISTENERS_COUNT, read=listener_count_gauge, interval_s=COUNT_INTERVAL_S)
