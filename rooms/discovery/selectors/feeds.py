"""Discovery reads: the live-now row, upcoming Spaces from follows, and browse/search.

Every feed hides the Spaces of a host who blocked the viewer or whom the viewer blocked, and Spaces the
viewer is banned from (a Space ban or the host's ban list).

The live-now feed is four queries whatever the size of the follow graph: (1) the hosts and Spaces hidden
from the viewer, (2) rank the live Spaces by the followed people holding a stage seat, then listeners (one
aggregate: the stage seats of the live Spaces, read from the ``participant_stage_by_space`` partial index,
hash-joined with the viewer's follow edges), (3) load those Spaces with their hosts, (4) load the followed
people on their stages. Its cost grows with the live Spaces and the follows, not with history.
``bench/live_feed.py`` measures it; ``docs/benchmarks.md`` has the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import CharField, Count, Exists, Max, OuterRef, Q, QuerySet, Value
from django.utils import timezone

from accounts.models import Block, Follow, User
from moderation.models import HostBan, SpaceBan
from rooms.models import ROLE_RANK, STAGE_ROLES, Participant, Reminder, Role, Space, SpaceState

LIVE_NOW_LIMIT = 20
# A scheduled Space stays in "upcoming" this long past its start time (a host running late).
UPCOMING_GRACE = timedelta(hours=1)
BROWSE_STATES = (SpaceState.LIVE, SpaceState.SCHEDULED)


@dataclass(frozen=True)
class StageMember:
    """A followed person on a live stage, as the live-now row names them."""

    id: int
    username: str
    display_name: str
    avatar_url: str
    role: str


@dataclass
class LiveNowItem:
    space: Space
    followed_count: int
    followed_on_stage: list[StageMember] = field(default_factory=list)


def _hidden_q(*, user: User) -> Q:
    """Spaces the viewer must not be shown: their host blocked them or was blocked by them, or a ban."""
    uid = user.pk
    return (
        Q(host_id__in=Block.objects.filter(blocked_id=uid).values("blocker_id"))
        | Q(host_id__in=Block.objects.filter(blocker_id=uid).values("blocked_id"))
        | Q(host_id__in=HostBan.objects.filter(user_id=uid).values("host_id"))
        | Q(id__in=SpaceBan.objects.filter(user_id=uid).values("space_id"))
    )


def _followed(user: User) -> QuerySet[Follow, Any]:
    return Follow.objects.filter(follower_id=user.pk).values("followee_id")


def hidden_for(user: User) -> tuple[list[int], list[int]]:
    """The hosts and the Spaces hidden from the viewer, in one query: ``(host_ids, space_ids)``."""
    uid = user.pk
    host, space = Value("h", output_field=CharField()), Value("s", output_field=CharField())
    rows = (
        Block.objects.filter(blocked_id=uid)
        .values_list(host, "blocker_id")
        .union(
            Block.objects.filter(blocker_id=uid).values_list(host, "blocked_id"),
            HostBan.objects.filter(user_id=uid).values_list(host, "host_id"),
            SpaceBan.objects.filter(user_id=uid).values_list(space, "space_id"),
            all=True,
        )
    )
    hosts: list[int] = []
    spaces: list[int] = []
    for kind, pk in rows:
        (hosts if kind == "h" else spaces).append(pk)
    return hosts, spaces


def live_now_for(*, user: User, limit: int = LIVE_NOW_LIMIT) -> list[LiveNowItem]:
    """Live Spaces where someone the user follows hosts, co-hosts or speaks, best first (4 queries).

    Ranked by how many followed people are on the stage, then by listeners; each item names them.
    The hidden hosts and Spaces are read first and passed as literal lists: as ``NOT IN (subquery)``
    they wreck PostgreSQL's row estimates and it gives up the hash joins (3x slower in the benchmark).
    """
    hidden_hosts, hidden_spaces = hidden_for(user)
    seats = (
        Participant.objects.filter(role__in=STAGE_ROLES, user_id__in=_followed(user), space__state=SpaceState.LIVE)
        .exclude(space__host_id__in=hidden_hosts)
        .exclude(space_id__in=hidden_spaces)
        .values("space_id")
        .annotate(followed=Count("*"), listeners=Max("space__listener_count"))
        .order_by("-followed", "-listeners", "-space_id")[:limit]
    )
    ranked = [(row["space_id"], row["followed"]) for row in seats]
    if not ranked:
        return []
    ids = [space_id for space_id, _ in ranked]
    spaces = Space.objects.select_related("host").in_bulk(ids)
    items = {sid: LiveNowItem(space=spaces[sid], followed_count=n) for sid, n in ranked if sid in spaces}
    people = (
        Participant.objects.filter(space_id__in=ids, role__in=STAGE_ROLES, user_id__in=_followed(user))
        .order_by("space_id", "created_at", "pk")
        .values_list("space_id", "user_id", "user__username", "user__display_name", "user__avatar_url", "role")
    )
    for space_id, user_id, username, display_name, avatar_url, role in people:  # plain rows, no models
        if space_id in items:
            items[space_id].followed_on_stage.append(StageMember(user_id, username, display_name, avatar_url, role))
    for item in items.values():
        item.followed_on_stage.sort(key=lambda m: -ROLE_RANK[Role(m.role)])
    return [items[sid] for sid in ids if sid in items]


def upcoming_for(*, user: User) -> QuerySet[Space]:
    """Scheduled Spaces hosted by people the user follows, or that the user set a reminder on.

    Soonest first; each row is annotated with ``reminded`` (the user's own reminder).
    """
    mine = Reminder.objects.filter(user_id=user.pk).values("space_id")
    return (
        Space.objects.filter(state=SpaceState.SCHEDULED, scheduled_start__gte=timezone.now() - UPCOMING_GRACE)
        .filter(Q(host_id__in=_followed(user)) | Q(pk__in=mine))
        .exclude(_hidden_q(user=user))
        .select_related("host")
        .annotate(reminded=Exists(Reminder.objects.filter(space_id=OuterRef("pk"), user_id=user.pk)))
    )


def spaces_browse(
    *, user: User, state: str | None = None, topic: str | None = None, q: str | None = None
) -> QuerySet[Space]:
    """Live and scheduled Spaces, filtered by state, topic (exact, case-insensitive) and title words."""
    qs = Space.objects.filter(state__in=[state] if state else BROWSE_STATES).exclude(_hidden_q(user=user))
    if topic:
        topic = topic.strip().lower()
        if connection.vendor == "postgresql":
            qs = qs.filter(topics__contains=[topic])
        else:  # SQLite has no JSON containment; topics are stored lower-case, JSON-quoted
            qs = qs.filter(topics__icontains=f'"{topic}"')
    if q:
        for word in q.split()[:5]:
            qs = qs.filter(title__icontains=word)
    return qs.select_related("host")
