"""The websocket snapshot: everything a client needs to draw a Space, read at one consistent ``seq``.

Reads only. The access rules are the ones of ``join`` (``rooms.selectors.access_space_for_join``), so
a socket is refused exactly when the join API would refuse the user (the listener cap aside: a socket
is not a seat).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.db.models import OuterRef, QuerySet, Subquery

from accounts.models import User
from rooms import selectors
from rooms.models import (
    HOST_TEAM,
    HandRaise,
    HandState,
    Invitation,
    InvitationState,
    Participant,
    Role,
    Space,
    SpaceState,
)
from rooms.services.guests import access_space_for_guest
from spaces_project.common.exceptions import ApplicationError
from spaces_project.common.precompiled import Precompiled
from spaces_project.realtime import wire as realtime
from spaces_project.realtime.wire import now_iso

# Refusal codes of the websocket: the error code of the access check → the close code (docs/protocol.md).
CLOSE_CODES: dict[str, int] = {
    "not_authenticated": realtime.CLOSE_NOT_AUTHENTICATED,
    "ticket_required": realtime.CLOSE_TICKET_REQUIRED,
    "account_suspended": realtime.CLOSE_FORBIDDEN,
    "banned": realtime.CLOSE_FORBIDDEN,
    "blocked": realtime.CLOSE_FORBIDDEN,
    "removed": realtime.CLOSE_FORBIDDEN,
    "space_not_found": realtime.CLOSE_NOT_FOUND,
    "space_not_live": realtime.CLOSE_NOT_LIVE,
    "space_ended": realtime.CLOSE_ENDED,
    "space_full": realtime.CLOSE_FULL,
}


def close_code_for(code: str) -> int:
    return CLOSE_CODES.get(code, realtime.CLOSE_FORBIDDEN)


class SpaceEnded(ApplicationError):
    code = "space_ended"
    status_code = 410
    default_detail = "This Space has ended."


@contextmanager
def _consistent_read() -> Iterator[None]:
    """One transaction whose reads all see the same committed state (so ``seq`` matches the data)."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def space_for_socket(*, space_id: int, user: User | None) -> Space:
    """The Space a socket may follow; raises ApplicationError (its code names the refusal) otherwise.

    ``user`` None is a guest listener (a valid guest pass): the guest rules of ``rooms.services.guests``.
    """
    space = Space.objects.select_related("host").filter(pk=space_id).first()
    if space is None:
        raise ApplicationError("No such Space.", code="space_not_found", status_code=404)
    if space.state in (SpaceState.ENDED, SpaceState.CANCELED):
        raise SpaceEnded()
    if user is None:
        return access_space_for_guest(space=space)
    # Holding a ticket is part of the join rules (SPEC 2.4); hosts, co-hosts and speakers are exempt.
    selectors.access_space_for_join(space=space, user=user)
    return space


def space_head(space: Space) -> dict[str, Any]:
    """The ``space`` part of a snapshot: what a client shows before the stage."""
    return {
        "id": space.pk,
        "title": space.title,
        "state": space.state,
        "host_id": space.host_id,
        "started_at": space.started_at.isoformat() if space.started_at else None,
        "recording": space.record,
        "captions": space.captions,
    }


def _stage(space: Space) -> list[dict[str, Any]]:
    return [
        {
            "user_id": p.user_id,
            "username": p.user.username,
            "display_name": p.user.display_name,
            "role": p.role,
            "is_muted": p.is_muted,
            "is_connected": p.is_connected,
            "is_speaking": p.is_speaking,
            "recording_declined": p.recording_declined,
            "captions_declined": p.captions_declined,
        }
        for p in selectors.stage_of(space=space)
    ]


def _hands(space: Space) -> list[dict[str, Any]]:
    return [
        {
            "position": h.position,
            "user_id": h.user.pk,
            "username": h.user.username,
            "raised_at": h.raised_at.isoformat(),
            "wait_s": h.wait_s,
        }
        for h in selectors.hand_queue(space=space)
    ]


def _you(space: Space, user: User | None) -> dict[str, Any]:
    if user is None:
        return {"user_id": None, "role": "guest", "hand": None, "invitation": None}
    role = selectors.role_of(space=space, user_id=user.pk)
    hand = HandRaise.objects.filter(space=space, user=user, state=HandState.RAISED).first()
    invitation = Invitation.objects.filter(space=space, invitee=user, state=InvitationState.PENDING).first()
    return {
        "user_id": user.pk,
        "role": role,
        "hand": {"raised_at": hand.raised_at.isoformat()} if hand else None,
        "invitation": (
            {
                "id": invitation.pk,
                "role": invitation.role,
                "inviter_id": invitation.inviter_id,
                "recorded": space.record,
            }
            if invitation
            else None
        ),
    }


def _captions(space: Space) -> list[dict[str, Any]]:
    from rooms.services.captions import recent_lines

    return recent_lines(space=space)


def space_snapshot(*, space_id: int, user: User | None) -> tuple[str, int, bool]:
    """Build the ``snapshot`` frame for ``user``: (encoded frame, its ``seq``, whether on the host team).

    Raises ApplicationError when the user may not follow the Space (same rules as join).

    The admission path (docs/benchmarks.md, "Join storm"): one statement reads the Space with the
    caller's bans, block, ticket and own role/hand/invitation, all at one ``seq``; the stage, the same for
    every listener at that ``seq``, comes encoded from :data:`ROOM_PARTS` with the last caption lines
    (built at most once per Space and ``seq`` per process, by a consistent read). The host team (who also
    get the hand queue) and any read whose ``seq`` does not match the room part take the full read in one
    transaction.
    """
    if user is not None:  # a guest (no account) takes the full read: the guest rules live there
        fast = _listener_snapshot(space_id=space_id, user=user)
        if fast is not None:
            return fast
    return space_snapshot_full(space_id=space_id, user=user)


def space_snapshot_full(*, space_id: int, user: User | None) -> tuple[str, int, bool]:
    """Every part read in one REPEATABLE READ transaction (the host team's snapshot, and the fallback)."""
    with _consistent_read():
        space = space_for_socket(space_id=space_id, user=user)
        you = _you(space, user)
        # ``space_for_socket`` let us in: the Space is live and the user banned from neither it nor its host,
        # so a co-host row here is a current co-host (``rooms.selectors.host_team_role``, without a query).
        host_team = you["role"] in HOST_TEAM
        data: dict[str, Any] = {
            "v": realtime.PROTOCOL_VERSION,
            "space": space_head(space),
            "captions": _captions(space),
            "stage": _stage(space),
            "you": you,
            "hands": _hands(space) if host_team else None,
            "listener_count": space.listener_count,
        }
    envelope = {"type": "snapshot", "seq": space.seq, "space": space.pk, "ts": now_iso(), "data": data}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False), space.seq, host_team


# -- the shared room part ---------------------------------------------------------------------------
ROOM_PART_MAX_AGE_S = 1.0  # is_speaking and display names change without a seq: refreshed at least this often
ROOM_PARTS_MAX = 4096  # Spaces remembered per process


class RoomParts:
    """The encoded stage and last caption lines of each Space at one ``seq`` (per process; thread-safe;
    bounded; short-lived).

    Only room data is kept here, the same for everyone: never the hand queue, an inbox or anything about
    one user. An entry is used only for the exact ``seq`` the caller read, and for at most
    ``ROOM_PART_MAX_AGE_S`` (fields that change without an event: ``is_speaking``, names). Every caption
    and every captions switch is a room event that takes the next ``seq``, so the lines cached for a
    ``seq`` are the lines at that ``seq``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: dict[int, tuple[int, float, str, str]] = {}
        self.builds = 0

    def get_part(self, space_id: int, seq: int) -> tuple[str, str] | None:
        """(stage JSON, captions JSON) at ``seq``, or None."""
        entry = self._parts.get(space_id)
        if entry is None or entry[0] != seq or time.monotonic() - entry[1] > ROOM_PART_MAX_AGE_S:
            return None
        return entry[2], entry[3]

    def get(self, space_id: int, seq: int) -> str | None:
        """The stage JSON at ``seq``, or None."""
        part = self.get_part(space_id, seq)
        return part[0] if part is not None else None

    def put(self, space_id: int, seq: int, stage_json: str, built_at: float, captions_json: str = "[]") -> None:
        with self._lock:
            current = self._parts.get(space_id)
            if current is not None and (current[0] > seq or current[1] > built_at):
                return  # a newer part is already here
            if len(self._parts) >= ROOM_PARTS_MAX:
                self._parts.clear()
            self._parts[space_id] = (seq, built_at, stage_json, captions_json)

    def clear(self) -> None:
        with self._lock:
            self._parts.clear()


ROOM_PARTS = RoomParts()
_build_locks: dict[int, threading.Lock] = {}
_build_locks_guard = threading.Lock()


def _room_part(space_id: int, seq: int) -> tuple[str, str] | None:
    """The encoded (stage, captions) at ``seq``: cached, or read (one reader per Space at a time); None if
    ``seq`` moved on."""
    part = ROOM_PARTS.get_part(space_id, seq)
    if part is not None:
        return part
    with _build_locks_guard:
        lock = _build_locks.setdefault(space_id, threading.Lock())
    with lock:  # a storm of sockets: one of them reads the stage, the others wait for it
        part = ROOM_PARTS.get_part(space_id, seq)
        if part is not None:
            return part
        built_at = time.monotonic()
        with _consistent_read():
            space = Space.objects.filter(pk=space_id).only("pk", "seq", "state", "captions").first()
            if space is None:
                return None
            stage_json = json.dumps(_stage(space), separators=(",", ":"), ensure_ascii=False)
            captions_json = json.dumps(_captions(space), separators=(",", ":"), ensure_ascii=False)
        ROOM_PARTS.put(space_id, space.seq, stage_json, built_at, captions_json)
    if len(_build_locks) > ROOM_PARTS_MAX:
        with _build_locks_guard:
            _build_locks.clear()
    return (stage_json, captions_json) if space.seq == seq else None


def _space_with_you_query(*, space_id: int, user_id: int) -> QuerySet[Space]:
    """The join read plus the caller's own role, raised hand and pending invitation: one statement."""
    participants = Participant.objects.filter(space_id=OuterRef("pk"), user_id=user_id)
    hands = HandRaise.objects.filter(space_id=OuterRef("pk"), user_id=user_id, state=HandState.RAISED)
    invitations = Invitation.objects.filter(
        space_id=OuterRef("pk"), invitee_id=user_id, state=InvitationState.PENDING
    ).order_by("pk")
    return selectors.space_for_join_query(
        space_id=space_id,
        user_id=user_id,
        my_role=Subquery(participants.values("role")[:1]),
        my_hand_at=Subquery(hands.order_by("pk").values("raised_at")[:1]),
        my_invitation_id=Subquery(invitations.values("pk")[:1]),
        my_invitation_role=Subquery(invitations.values("role")[:1]),
        my_invitation_inviter=Subquery(invitations.values("inviter_id")[:1]),
    )


_space_with_you = Precompiled(
    lambda space_id, user_id: _space_with_you_query(space_id=space_id, user_id=user_id),
    space_id=selectors.SENTINEL_SPACE,
    user_id=selectors.SENTINEL_USER,
)


def _listener_snapshot(*, space_id: int, user: User) -> tuple[str, int, bool] | None:
    """The admission path for everyone but the host team; None when the full read must be used."""
    context = selectors.space_get_for_join(space_id=space_id, user_id=user.pk, read=_space_with_you)
    if context is None:
        raise ApplicationError("No such Space.", code="space_not_found", status_code=404)
    space, mine = context.space, context.row
    if space.state in (SpaceState.ENDED, SpaceState.CANCELED):
        raise SpaceEnded()
    selectors.access_space_for_join(space=space, user=user, context=context)  # bans, block, suspension, ticket
    role = Role.HOST if user.pk == space.host_id else mine["my_role"]
    if role in HOST_TEAM:
        return None  # the host team's snapshot has the hand queue: never from the shared part
    part = _room_part(space.pk, space.seq)
    if part is None:
        return None  # an event committed between the two reads: take the one-transaction read
    stage_json, captions_json = part
    invitation_id = mine["my_invitation_id"]
    hand_at = mine["my_hand_at"]
    you = {
        "user_id": user.pk,
        "role": role,
        "hand": {"raised_at": hand_at.isoformat()} if hand_at else None,
        "invitation": (
            {
                "id": invitation_id,
                "role": mine["my_invitation_role"],
                "inviter_id": mine["my_invitation_inviter"],
                "recorded": space.record,
            }
            if invitation_id is not None
            else None
        ),
    }
    head = space_head(space)

    def enc(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    # The same bytes as json.dumps of the full envelope (key order included), the stage spliced in.
    frame = (
        f'{{"type":"snapshot","seq":{space.seq},"space":{space.pk},"ts":{enc(now_iso())},'
        f'"data":{{"v":{realtime.PROTOCOL_VERSION},"space":{enc(head)},"captions":{captions_json},"stage":{stage_json},"you":{enc(you)},'
        f'"hands":null,"listener_count":{space.listener_count}}}}}'
    )
    return frame, space.seq, False


def listener_counts(*, space_ids: list[int]) -> dict[int, tuple[int, int]]:
    """``{space_id: (listener_count, seq)}`` for the coalesced ``listeners.count`` tick."""
    rows = Space.objects.filter(pk__in=space_ids).values_list("pk", "listener_count", "seq")
    return {pk: (count, seq) for pk, count, seq in rows}
