"""The websocket snapshot: everything a client needs to draw a Space, read at one consistent ``seq``.

Reads only. The access rules are the ones of ``join`` (``rooms.selectors.access_space_for_join``), so
a socket is refused exactly when the join API would refuse the user (the listener cap aside: a socket
is not a seat).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction

from accounts.models import User
from rooms import selectors
from rooms.models import HOST_TEAM, HandRaise, HandState, Invitation, InvitationState, Space, SpaceState
from spaces_project.common import realtime
from spaces_project.common.exceptions import ApplicationError
from spaces_project.common.hub import now_iso
from tickets.selectors import access_ticket_for_join

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


def space_for_socket(*, space_id: int, user: User) -> Space:
    """The Space a socket may follow; raises ApplicationError (its code names the refusal) otherwise."""
    space = Space.objects.select_related("host").filter(pk=space_id).first()
    if space is None:
        raise ApplicationError("No such Space.", code="space_not_found", status_code=404)
    if space.state in (SpaceState.ENDED, SpaceState.CANCELED):
        raise SpaceEnded()
    selectors.access_space_for_join(space=space, user=user)
    # Holding a ticket is part of the join rules (SPEC 2.4); hosts, co-hosts and speakers are exempt.
    access_ticket_for_join(user=user, space=space)
    return space


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


def _you(space: Space, user: User) -> dict[str, Any]:
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


def space_snapshot(*, space_id: int, user: User) -> tuple[str, int, bool]:
    """Build the ``snapshot`` frame for ``user``: (encoded frame, its ``seq``, whether on the host team).

    Raises ApplicationError when the user may not follow the Space (same rules as join).
    """
    with _consistent_read():
        space = space_for_socket(space_id=space_id, user=user)
        you = _you(space, user)
        host_team = you["role"] in HOST_TEAM
        data: dict[str, Any] = {
            "v": realtime.PROTOCOL_VERSION,
            "space": {
                "id": space.pk,
                "title": space.title,
                "state": space.state,
                "host_id": space.host_id,
                "started_at": space.started_at.isoformat() if space.started_at else None,
                "recording": space.record,
                "captions": space.captions,
            },
            "captions": _captions(space),
            "stage": _stage(space),
            "you": you,
            "hands": _hands(space) if host_team else None,
            "listener_count": space.listener_count,
        }
    envelope = {"type": "snapshot", "seq": space.seq, "space": space.pk, "ts": now_iso(), "data": data}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False), space.seq, host_team


def listener_counts(*, space_ids: list[int]) -> dict[int, tuple[int, int]]:
    """``{space_id: (listener_count, seq)}`` for the coalesced ``listeners.count`` tick."""
    rows = Space.objects.filter(pk__in=space_ids).values_list("pk", "listener_count", "seq")
    return {pk: (count, seq) for pk, count, seq in rows}
