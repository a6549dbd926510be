"""A first visit that is not empty: for someone whose follows give nothing to show, the most listened-to
live Spaces, the soonest upcoming ones and hosts worth following (most followed, who have hosted).

Same hiding rules as every feed (rooms/discovery/selectors/feeds.py): hosts who blocked the viewer or whom the viewer
blocked, hosts who banned the viewer, Spaces the viewer is banned from. Three bounded queries after the
hidden-set read; each uses an index on state/listener_count, state/scheduled_start or follower_count.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import Follow, User
from rooms.discovery.selectors.feeds import UPCOMING_GRACE, hidden_for
from rooms.models import Space, SpaceState

FIRST_VISIT_LIMIT = 10


@dataclass
class FirstVisit:
    live: list[Space]
    upcoming: list[Space]
    hosts: list[User]


def first_visit_for(*, user: User, limit: int = FIRST_VISIT_LIMIT) -> FirstVisit:
    hidden_hosts, hidden_spaces = hidden_for(user)
    visible = Space.objects.exclude(host_id__in=hidden_hosts).exclude(pk__in=hidden_spaces).select_related("host")
    live = list(visible.filter(state=SpaceState.LIVE).order_by("-listener_count", "-pk")[:limit])
    soon = timezone.now() - UPCOMING_GRACE
    upcoming = list(
        visible.filter(state=SpaceState.SCHEDULED, scheduled_start__gte=soon).order_by("scheduled_start", "pk")[:limit]
    )
    has_hosted = Space.objects.filter(host_id=OuterRef("pk")).exclude(state=SpaceState.CANCELED)
    hosts = list(
        User.objects.filter(is_active=True, is_suspended=False)
        .exclude(pk=user.pk)
        .exclude(pk__in=hidden_hosts)
        .exclude(pk__in=Follow.objects.filter(follower_id=user.pk).values("followee_id"))
        .filter(Exists(has_hosted))
        .order_by("-follower_count", "pk")[:limit]
    )
    return FirstVisit(live=live, upcoming=upcoming, hosts=hosts)
