"""Host tools: mute one, mute all, move to listeners, remove (with a Space or host-wide ban).

Every action writes one append-only audit row. The host team acts; nobody acts on the host and
co-hosts cannot act on each other. LiveKit follows on commit (mute, permission change, disconnect).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from rooms import events
from rooms.exceptions import CannotModerateCohost, CannotModerateHost, CannotTargetSelf, NotInSpace, NotOnStage
from rooms.models import (
    STAGE_ROLES,
    HandRaise,
    HandState,
    Invitation,
    InvitationState,
    Participant,
    Role,
    Space,
    SpaceState,
)
from rooms.selectors import access_space_for_host_team
from rooms.services._common import (
    audit,
    emit_stage,
    livekit_apply,
    livekit_disconnect,
    lock_live_space,
    lock_participant,
    participant_set_role,
    seq_next,
)
from spaces_project.realtime.events import send_event_on_commit


def _target(*, space: Space, actor: User, actor_role: str, user_id: int) -> Participant:
    if user_id == actor.pk:
        raise CannotTargetSelf()
    participant = lock_participant(space=space, user_id=user_id)
    if participant is None:
        raise NotInSpace()
    if participant.role == Role.HOST:
        raise CannotModerateHost()
    if participant.role == Role.COHOST and actor_role != Role.HOST:
        raise CannotModerateCohost()
    return participant


def _stage_target(*, space_id: int, actor: User, user_id: int) -> tuple[Space, str, Participant]:
    """Lock the live Space, check the actor's host-team power and that the target is on stage."""
    space = lock_live_space(space_id=space_id)
    actor_role = access_space_for_host_team(space=space, user=actor)
    participant = _target(space=space, actor=actor, actor_role=actor_role, user_id=user_id)
    if participant.role not in STAGE_ROLES:
        raise NotOnStage()
    return space, actor_role, participant


@transaction.atomic
def participant_mute(*, space_id: int, actor: User, user_id: int, reason: str = "") -> Participant:
    """Mute a stage member's microphone on the server (they may unmute themselves, as in X Spaces)."""
    space, actor_role, participant = _stage_target(space_id=space_id, actor=actor, user_id=user_id)
    participant.is_muted = True
    participant.save(update_fields=["is_muted", "updated_at"])
    livekit_apply(participant=participant, mute=True)
    audit(space=space, actor=actor, actor_role=actor_role, action="mute", target=participant.user, reason=reason)
    send_event_on_commit(
        events.ParticipantMuted(space_id=space.pk, seq=seq_next(space), user_ids=[user_id], by=actor.pk)
    )
    return participant


@transaction.atomic
def speakers_mute_all(*, space_id: int, actor: User, reason: str = "") -> list[int]:
    """Mute every speaker (and, when the host acts, every co-host). Returns the muted user ids."""
    space = lock_live_space(space_id=space_id)
    actor_role = access_space_for_host_team(space=space, user=actor)
    roles = [Role.SPEAKER, Role.COHOST] if actor_role == Role.HOST else [Role.SPEAKER]
    targets = list(
        Participant.objects.select_for_update().filter(space=space, role__in=roles).exclude(user=actor).order_by("pk")
    )
    for participant in targets:
        participant.is_muted = True
        participant.save(update_fields=["is_muted", "updated_at"])
        livekit_apply(participant=participant, mute=True)
    user_ids = [p.user_id for p in targets]
    audit(
        space=space,
        actor=actor,
        actor_role=actor_role,
        action="mute_all",
        reason=reason,
        details={"user_ids": user_ids},
    )
    send_event_on_commit(
        events.ParticipantMuted(space_id=space.pk, seq=seq_next(space), user_ids=user_ids, by=actor.pk)
    )
    return user_ids


@transaction.atomic
def speaker_move_to_listeners(*, space_id: int, actor: User, user_id: int, reason: str = "") -> Participant:
    """Send a speaker (or, by the host, a co-host) back to the audience; LiveKit unpublishes their mic."""
    space, actor_role, participant = _stage_target(space_id=space_id, actor=actor, user_id=user_id)
    participant_set_role(space=space, participant=participant, role=Role.LISTENER)
    audit(
        space=space,
        actor=actor,
        actor_role=actor_role,
        action="move_to_listeners",
        target=participant.user,
        reason=reason,
    )
    emit_stage(space=space)
    return participant


@transaction.atomic
def participant_remove(
    *, space_id: int, actor: User, user_id: int, ban: str = "space", reason: str = ""
) -> Participant:
    """Remove someone from the Space; they cannot rejoin it (``ban="space"``) or any of the host's (``"host"``).

    Writes ``remove`` and ``ban`` audit rows; disconnects them from LiveKit on commit; publishes
    ``participant.removed`` to the room and to the user.
    """
    space = lock_live_space(space_id=space_id)
    actor_role = access_space_for_host_team(space=space, user=actor)
    participant = _target(space=space, actor=actor, actor_role=actor_role, user_id=user_id)
    participant_eject(space=space, participant=participant, actor=actor, actor_role=actor_role, ban=ban, reason=reason)
    return participant


def participant_eject(
    *, space: Space, participant: Participant, actor: User | None, actor_role: str, ban: str | None, reason: str
) -> None:
    """Take a participant out of a locked live Space, optionally banning them (``"space"`` or ``"host"``).

    The one removal path (host tools, ban lists, staff suspension): marks them disconnected and a
    listener, lowers their hand, cancels their invitation, writes ``remove`` (and ``ban``) audit rows,
    publishes ``participant.removed`` (which closes their sockets) and disconnects them from LiveKit on
    commit. Permission checks are the caller's.
    """
    # moderation.services (the owner of ban rows) builds on this module: imported here, not at the top.
    from moderation.services import ban_audit, ban_row_create
    from rooms.services.presence import participant_mark_disconnected

    user_id = participant.user_id
    was_stage = participant.role in STAGE_ROLES
    participant_mark_disconnected(space=space, participant=participant)
    participant_set_role(space=space, participant=participant, role=Role.LISTENER)
    HandRaise.objects.filter(space=space, user_id=user_id, state=HandState.RAISED).update(state=HandState.LOWERED)
    Invitation.objects.filter(space=space, invitee_id=user_id, state=InvitationState.PENDING).update(
        state=InvitationState.CANCELED
    )
    target = participant.user
    if ban is not None:  # a host-wide ban also writes this Space's row: it outlasts lifting the host's one
        ban_row_create(scope="space", host_id=space.host_id, space=space, user=target, actor=actor, reason=reason)
    if ban == "host":
        ban_row_create(scope="host", host_id=space.host_id, space=space, user=target, actor=actor, reason=reason)
        cohost_rows_revoke(user_id=user_id, actor=actor, actor_role=actor_role, host_id=space.host_id, cause="host_ban")
    audit(space=space, actor=actor, actor_role=actor_role, action="remove", target=target, reason=reason)
    if ban is not None:
        ban_audit(space=space, actor=actor, actor_role=actor_role, target=target, reason=reason, scope=ban)
    send_event_on_commit(
        events.ParticipantRemoved(
            space_id=space.pk, seq=seq_next(space), user_id=user_id, by=actor.pk if actor else None
        )
    )
    send_event_on_commit(
        events.ParticipantRemovedNotice(
            space_id=space.pk, seq=space.seq, user_ids=(user_id,), user_id=user_id, ban=ban or ""
        )
    )
    if was_stage:
        emit_stage(space=space)
    livekit_disconnect(space=space, user_id=user_id)


def cohost_rows_revoke(
    *,
    user_id: int,
    actor: User | None,
    actor_role: str,
    cause: str,
    host_id: int | None = None,
    space_id: int | None = None,
) -> list[int]:
    """After a ban: take the co-host role from ``user_id`` in every Space of ``host_id`` (or in ``space_id``)
    that is not live, and cancel their pending invitations there. Returns the Spaces whose row changed.

    The live Space is the ejection's business (``participant_eject``: a co-host holds a stage seat, so a
    ban always ejects them, and LiveKit and their sockets follow on commit). What is left are co-host
    rows of ended Spaces: they grant nothing already (``rooms.selectors.host_team_role``), and become a
    listener's so that no record says otherwise. One ``cohost_remove`` audit row per Space changed, with
    ``details.cause``. Conditional updates: safe against a concurrent host removing the same row.
    """
    assert (host_id is None) != (space_id is None)
    where = {"space__host_id": host_id} if host_id is not None else {"space_id": space_id}
    rows = (
        Participant.objects.filter(user_id=user_id, role=Role.COHOST, **where)
        .exclude(space__state=SpaceState.LIVE)
        .select_related("space", "user")
        .order_by("pk")
    )
    changed: list[int] = []
    for row in rows:
        if not Participant.objects.filter(pk=row.pk, role=Role.COHOST).update(
            role=Role.LISTENER, is_muted=False, updated_at=timezone.now()
        ):
            continue
        changed.append(row.space_id)
        audit(
            space=row.space,
            actor=actor,
            actor_role=actor_role,
            action="cohost_remove",
            target=row.user,
            details={"cause": cause},
        )
    Invitation.objects.filter(invitee_id=user_id, state=InvitationState.PENDING, **where).update(
        state=InvitationState.CANCELED, responded_at=timezone.now()
    )
    return changed
