"""Reads for rooms: lookups, the stage, the hand-raise queue, and the ``access_*`` checks.

The ``access_*`` functions are shared by every entry point (REST, websocket, tasks) so that a rule
is written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Case, Exists, IntegerField, OuterRef, QuerySet, Value, When
from django.utils import timezone

from accounts.models import Block, User
from accounts.selectors import is_blocked
from moderation.models import HostBan, SpaceBan
from rooms.exceptions import (
    Banned,
    BlockedByHost,
    NotHost,
    NotHostTeam,
    RecordingNotFound,
    SpaceNotFound,
    SpaceNotLive,
)
from rooms.models import (
    HOST_TEAM,
    ROLE_RANK,
    STAGE_ROLES,
    HandRaise,
    HandState,
    Participant,
    Recording,
    Role,
    Space,
    SpaceState,
    SpeakerSegment,
)
from spaces_project.common.precompiled import Precompiled
from spaces_project.common.text import BIGINT_MAX

if TYPE_CHECKING:
    from tickets.selectors import TicketFlags


def space_get(*, space_id: int) -> Space:
    space = Space.objects.select_related("host").filter(pk=space_id).first()
    if space is None:
        raise SpaceNotFound()
    return space


def participant_of(*, space_id: int, user_id: int) -> Participant | None:
    return Participant.objects.filter(space_id=space_id, user_id=user_id).first()


def role_of(*, space: Space, user_id: int) -> str | None:
    """The role recorded for the user in ``space`` (what they are or were there: ``my_role``, the snapshot).

    A record, not a permission: a co-host row of an ended Space stays ``cohost`` as history. Power comes
    from ``host_team_role`` / ``access_space_for_host_team`` only.
    """
    if user_id == space.host_id:
        return Role.HOST
    p = participant_of(space_id=space.pk, user_id=user_id)
    return p.role if p else None


def ban_of(*, space: Space, user_id: int) -> str | None:
    """``"space"`` or ``"host"`` if the user is banned from this Space, else None."""
    if SpaceBan.objects.filter(space_id=space.pk, user_id=user_id).exists():
        return "space"
    if HostBan.objects.filter(host_id=space.host_id, user_id=user_id).exists():
        return "host"
    return None


@dataclass
class JoinContext:
    """What the join read learnt about one caller in the Space's own statement (``space_get_for_join``).

    Passed explicitly to ``access_space_for_join`` (and on to the ticket check) so that the checks need
    no query of their own; ``row`` holds every annotation of the read (a ``read`` variant adds its own).
    """

    space: Space
    user_id: int
    banned_here: bool
    banned_by_host: bool
    blocked_by_host: bool
    tickets: TicketFlags
    row: dict[str, Any]


def access_space_for_join(*, space: Space, user: User, context: JoinContext | None = None) -> None:
    """Raise unless ``user`` may enter ``space`` now (SPEC 2.4, except the listener cap).

    ``context``: the join read's flags for this caller (``space_get_for_join``); without it, each rule
    reads the database.
    """
    from accounts.exceptions import AccountSuspended
    from tickets.selectors import access_ticket_for_join

    if space.state != SpaceState.LIVE:
        raise SpaceNotLive()
    if user.suspension_active:
        raise AccountSuspended()
    if user.pk == space.host_id:
        return
    known = context if context is not None and context.user_id == user.pk else None
    if known is not None:
        scope = "space" if known.banned_here else ("host" if known.banned_by_host else None)
    else:
        scope = ban_of(space=space, user_id=user.pk)
    if scope is not None:
        raise Banned(extra={"scope": scope})
    blocked = known.blocked_by_host if known is not None else is_blocked(blocker_id=space.host_id, blocked_id=user.pk)
    if blocked:
        raise BlockedByHost()
    # Ticketed Spaces (tickets app): a paid ticket unless co-host or invited speaker (402 ticket_required).
    access_ticket_for_join(user=user, space=space, flags=known.tickets if known is not None else None)


def space_for_join_query(*, space_id: int, user_id: int, **more: Any) -> QuerySet[Space]:
    from tickets.selectors import ticket_annotations

    return (
        Space.objects.filter(pk=space_id)
        .annotate(
            banned_here=Exists(SpaceBan.objects.filter(space_id=OuterRef("pk"), user_id=user_id)),
            banned_by_host=Exists(HostBan.objects.filter(host_id=OuterRef("host_id"), user_id=user_id)),
            blocked_by_host=Exists(Block.objects.filter(blocker_id=OuterRef("host_id"), blocked_id=user_id)),
            **ticket_annotations(user_id=user_id),  # tickets app: is it ticketed, has the caller paid
            **more,
        )
        .order_by("pk")[:1]
    )


# Sentinels: values no row has, replaced by the caller's at every call (spaces_project/common/precompiled.py).
SENTINEL_SPACE = -7_300_000_000_001
SENTINEL_USER = -7_300_000_000_002
_space_for_join = Precompiled(
    lambda space_id, user_id: space_for_join_query(space_id=space_id, user_id=user_id),
    space_id=SENTINEL_SPACE,
    user_id=SENTINEL_USER,
)


def space_get_for_join(*, space_id: int, user_id: int, read: Precompiled[Space] | None = None) -> JoinContext | None:
    """The Space with the caller's bans and the host's block computed in the same query (the join hot path).

    ``read``: a precompiled variant of :func:`space_for_join_query` with more annotations (the websocket
    snapshot adds the caller's own role, hand and invitation); the same statement either way.
    """
    from tickets.selectors import ticket_flags_read

    if space_id > BIGINT_MAX:  # no such row; SQLite would raise on binding it (OverflowError)
        return None
    space = (read or _space_for_join).first(space_id=space_id, user_id=user_id)
    if space is None:
        return None
    row = vars(space)  # the annotations sit beside the model's fields
    return JoinContext(
        space=space,
        user_id=user_id,
        banned_here=row["banned_here"],
        banned_by_host=row["banned_by_host"],
        blocked_by_host=row["blocked_by_host"],
        tickets=ticket_flags_read(space=space, user_id=user_id),
        row=row,
    )


def access_space_for_host(*, space: Space, user: User) -> None:
    if user.pk != space.host_id:
        raise NotHost()


def _current_cohosts(*, space_id: int, host_id: int) -> QuerySet[Participant]:
    """Co-host rows of a Space whose holder is banned neither from it nor by its host (the Space must be live)."""
    return Participant.objects.filter(space_id=space_id, role=Role.COHOST).filter(
        ~Exists(SpaceBan.objects.filter(space_id=space_id, user_id=OuterRef("user_id"))),
        ~Exists(HostBan.objects.filter(host_id=host_id, user_id=OuterRef("user_id"))),
    )


def host_team_role(*, space: Space, user_id: int) -> str | None:
    """``host`` or ``cohost`` if ``user_id`` holds host-team power over ``space`` now, else None.

    The host holds it in every state (their Space, their lists, their inbox). A co-host holds it only
    while the Space is live, while they hold the co-host seat, and while they are banned neither from the
    Space nor by its host: the co-host row of an ended Space is history, not power (docs/security.md,
    "Host-team power and Space state").
    """
    if user_id == space.host_id:
        return Role.HOST
    if space.state != SpaceState.LIVE:
        return None
    if _current_cohosts(space_id=space.pk, host_id=space.host_id).filter(user_id=user_id).exists():
        return Role.COHOST
    return None


def host_team_user_ids(*, space_id: int) -> list[int]:
    """The host and current co-hosts of a Space: the recipients of a host-team event."""
    row = Space.objects.filter(pk=space_id).values_list("host_id", "state").first()
    if row is None:
        return []
    host_id, state = row
    ids = {host_id}
    if state == SpaceState.LIVE:
        ids.update(_current_cohosts(space_id=space_id, host_id=host_id).values_list("user_id", flat=True))
    return sorted(ids)


def access_space_for_host_team(*, space: Space, user: User) -> str:
    """Raise ``not_host_team`` unless ``user`` holds host-team power over ``space`` now; returns their role.

    The one host-team check of every entry point (REST views, services, websocket data): see
    ``host_team_role`` for the rule.
    """
    role = host_team_role(space=space, user_id=user.pk)
    if role not in HOST_TEAM:
        raise NotHostTeam()
    return str(role)


def stage_of(*, space: Space) -> QuerySet[Participant]:
    rank = Case(*(When(role=role, then=Value(r)) for role, r in ROLE_RANK.items()), output_field=IntegerField())
    return (
        Participant.objects.filter(space=space, role__in=STAGE_ROLES)
        .select_related("user")
        .order_by(rank.desc(), "created_at", "pk")
    )


def listeners_of(*, space: Space) -> QuerySet[Participant]:
    return Participant.objects.filter(space=space, role=Role.LISTENER, is_connected=True).select_related("user")


@dataclass(frozen=True)
class QueuedHand:
    position: int
    user: User
    raised_at: datetime
    wait_s: int


def hand_queue(*, space: Space) -> list[QueuedHand]:
    """Open hands, first come first served, with how long each has waited."""
    now = timezone.now()
    hands = HandRaise.objects.filter(space=space, state=HandState.RAISED).select_related("user")
    return [
        QueuedHand(
            position=i + 1,
            user=h.user,
            raised_at=h.raised_at,
            wait_s=max(0, int((now - h.raised_at).total_seconds())),
        )
        for i, h in enumerate(hands.order_by("raised_at", "pk"))
    ]


# An agent whose heartbeat is older than this is shown as gone (it beats every SPACES_AGENT_POLL_S).
AGENT_STALE_S = 10


def agents_status() -> list[dict[str, object]]:
    """Every agent process that checked in recently, its health and the Spaces it holds (readyz, admin)."""
    from django.conf import settings

    from rooms.models import AgentLease, AgentWorker

    now = timezone.now()
    held: dict[str, list[int]] = {}
    for agent_id, space_id in AgentLease.objects.filter(expires_at__gt=now).values_list("agent_id", "space_id"):
        held.setdefault(agent_id, []).append(space_id)
    stale = max(AGENT_STALE_S, 3 * settings.SPACES_AGENT_POLL_S)
    out: list[dict[str, object]] = []
    for worker in AgentWorker.objects.order_by("agent_id"):
        age = (now - worker.heartbeat_at).total_seconds()
        out.append(
            {
                "agent_id": worker.agent_id,
                "healthy": worker.livekit_ok and age <= stale,
                "livekit_ok": worker.livekit_ok,
                "last_error": worker.last_error,
                "heartbeat_age_s": round(age, 1),
                "spaces": sorted(held.get(worker.agent_id, [])),
            }
        )
    return out


def recording_visible(*, space_id: int, user: User) -> Recording:
    """The Space's recording if ``user`` may hear it (raises otherwise). Access follows the Space: whoever
    holds host-team power now; others unless banned or blocked by the host, and with a ticket if it was ticketed; a
    suspended host's recordings are hidden from everyone."""
    from tickets.selectors import access_ticket_for_join

    space = space_get(space_id=space_id)
    recording = Recording.objects.filter(space=space).first()
    if recording is None or space.host.suspension_active:
        raise RecordingNotFound()
    # Host-team power now (docs/security.md, "Host-team power and Space state"): the host always, a co-host
    # only while the Space is live. A former co-host is held to the listeners' rules (their stage seat still
    # exempts them from a ticket).
    if host_team_role(space=space, user_id=user.pk) is not None:
        return recording
    scope = ban_of(space=space, user_id=user.pk)
    if scope is not None:
        raise Banned(extra={"scope": scope})
    if is_blocked(blocker_id=space.host_id, blocked_id=user.pk):
        raise BlockedByHost()
    access_ticket_for_join(user=user, space=space)
    return recording


def recording_timeline(*, recording: Recording) -> list[dict[str, object]]:
    rows = SpeakerSegment.objects.filter(recording=recording).select_related("user").order_by("start_ms")
    return [
        {"user_id": s.user_id, "username": s.user.username, "start_ms": s.start_ms, "end_ms": s.end_ms} for s in rows
    ]
