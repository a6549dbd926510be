"""What rooms tells the realtime layer at start-up (``RoomsConfig.ready``): the rules of a Space's sockets.

The realtime layer (``spaces_project.realtime``) carries frames and knows nothing of Spaces; these are
the rooms rules it applies (see ``spaces_project/realtime/rules.py``):

- a host-team event goes to the host and current co-hosts (``rooms.selectors.host_team_user_ids``, read
  when the event is published);
- the delivery rules declared on the event classes (rooms/events.py): ``space.ended`` closes every
  socket of the Space with 4410; ``participant.removed`` closes the removed user's sockets with 4403;
  reactions are counted per emoji over 0.25 s by each server process (one ``reaction`` frame
  ``{counts: {emoji: n}}`` per window, at most four a second per Space);
- ``listeners.count`` is read for the Spaces with local sockets every ``COUNT_INTERVAL_S`` and sent only
  when it changed.
"""

from __future__ import annotations

from typing import Any

from rooms import events, selectors
from rooms.snapshot import listener_counts
from spaces_project.realtime import events as catalogue
from spaces_project.realtime import rules

COUNT_INTERVAL_S = 1.0  # listeners.count at most once a second per Space


def _host_team(space_id: int) -> list[int]:
    return selectors.host_team_user_ids(space_id=space_id)


def listener_count_gauge(space_ids: list[int]) -> dict[int, tuple[dict[str, Any], int | None]]:
    """``{space_id: ({"count": n}, seq)}``: the ``listeners.count`` frame's data for each Space."""
    return {pk: ({"count": count}, seq) for pk, (count, seq) in listener_counts(space_ids=space_ids).items()}


def register() -> None:
    rules.register_host_team(_host_team)
    # Which events close sockets or are coalesced is declared on their classes (rooms/events.py).
    catalogue.delivery_rules_register()
    rules.register_gauge(events.LISTENERS_COUNT, read=listener_count_gauge, interval_s=COUNT_INTERVAL_S)
