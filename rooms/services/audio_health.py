"""Audio health reports from web clients: "Can't hear?" presses and the client's own self-heals.

Counters live in the cache (Redis in production): a total per kind, and per Space per kind, so the
operator sees how often listeners lose audio (``GET /api/v1/ops/audio-health``) and a host team sees it
for its Space. Counting is capped per user and Space so one client cannot inflate the figures.
"""

from __future__ import annotations

from django.core.cache import cache

from accounts.models import User
from rooms.exceptions import NotInSpace
from rooms.models import Participant
from rooms.selectors import space_get

KINDS = ("cant_hear", "resubscribe", "rejoin")
PER_USER_CAP = 20  # reports counted per user and Space per hour
SPACE_TTL_S = 30 * 24 * 3600


def _incr(key: str, timeout: int | None) -> int:
    cache.add(key, 0, timeout=timeout)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
        return 1


def audio_report(*, space_id: int, user: User, kind: str) -> bool:
    """Count one report of ``kind`` by ``user`` in Space ``space_id``; False if over the user's cap.

    Raises ``space_not_found``, ``not_in_space`` (the user never joined this Space)."""
    space = space_get(space_id=space_id)
    if not Participant.objects.filter(space=space, user=user).exists():
        raise NotInSpace("Join the Space first.")
    if _incr(f"audio-health:cap:{space.pk}:{user.pk}", 3600) > PER_USER_CAP:
        return False
    _incr(f"audio-health:total:{kind}", None)
    _incr(f"audio-health:space:{space.pk}:{kind}", SPACE_TTL_S)
    return True


def audio_health_counts(*, space_id: int | None = None) -> dict[str, int]:
    """The counters per kind: totals, or one Space's."""
    keys = {
        kind: f"audio-health:space:{space_id}:{kind}" if space_id else f"audio-health:total:{kind}" for kind in KINDS
    }
    found = cache.get_many(list(keys.values()))
    return {kind: int(found.get(key, 0)) for kind, key in keys.items()}
