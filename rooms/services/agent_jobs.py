"""The audio agent's lease criterion: which of its jobs a Space needs.

An agent leases a live Space that needs at least one job. Each job is one clause in each of the two
functions below (the query that finds Spaces to lease, and the set a running session follows), so a
new job (for example HLS for an overflow audience) is added by adding a clause to each:

- ``record``: the host turned recording on (the Space has a ``Recording``): mix and store parts;
- ``captions``: the host turned live captions on: transcribe the stage (rooms/agent/captions_hook.py).
  A captions-only Space is served without mixing or storing any audio;
- ``hls``: the Space serves (part of) its audience over HLS (rooms/services/hls.py): mix and encode it.
"""

from __future__ import annotations

from django.db.models import Q

from rooms.models import Recording, Space, SpaceState
from rooms.services import hls

RECORD = "record"
CAPTIONS = "captions"
HLS = "hls"


def needs_agent_q(*, captions: bool = True) -> Q:
    """A filter on ``Space``: live Spaces that need an agent for some job. ``captions=False`` (an agent at
    its cap of captioned Spaces) leaves out Spaces that need the agent only for captions."""
    jobs = Q(record=True) | hls.needs_hls_q()
    if captions:
        jobs |= Q(captions=True)
    return Q(state=SpaceState.LIVE) & jobs


def space_jobs(*, space: Space, recording: Recording | None) -> frozenset[str]:
    """The jobs a Space needs now (empty: release it)."""
    if space.state != SpaceState.LIVE:
        return frozenset()
    jobs: set[str] = set()
    if space.record and recording is not None:
        jobs.add(RECORD)
    if space.captions:
        jobs.add(CAPTIONS)
    if hls.needs_hls(space):
        jobs.add(HLS)
    return frozenset(jobs)
