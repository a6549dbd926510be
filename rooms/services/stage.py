"""The stage: request to speak (ordered queue), invitations, leaving the stage, co-hosts.

Every function here locks the Space row first, so capacity checks and role changes are serialised per
Space. Role changes reach LiveKit through ``participant_set_role`` (on commit, via Celery).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from rooms import events
from rooms.exceptions import (
    AlreadyCohost,
    AlreadyOnStage,
    CannotTargetSelf,
    HandNotRaised,
    HostCannotLeaveStage,
    InvitationNotFound,
    InvitationNotPending,
    InvitationPending,
    NotCohost,
    NotHost,
    NotInSpace,
    NotOnStage,
)
from rooms.models import (
    HOST_TEAM,
    STAGE_ROLES,
    HandRaise,
    HandState,
    Invitation,
    InvitationState,
    Participant,
    Role,
    SpaceState,
)
from rooms.models import Space as SpaceModel
from rooms.selectors import access_space_for_host_team
from rooms.services._common import (
    audit,
    emit_stage,
    ensure_seat,
    lock_live_space,
    lock_participant,
    lock_space,
    participant_set_role,
    seq_next,
)
from spaces_project.realtime.events import send_event_on_commit


def _present(*, space: SpaceModel, user_id: int) -> Participant:
    participant = lock_participant(space=space, user_id=user_id)
    if participant is None or not participant.is_connected:
        raise NotInSpace()
    return participant


# --- request to speak ---------------------------------------------------------------------------


@transaction.atomic
def hand_raise(*, space_id: int, user: User) -> HandRaise:
    """A listener asks to speak; idempotent. Publishes ``hand.raised`` to the host team only."""
    space = lock_live_space(space_id=space_id)
    participant = _present(space=space, user_id=user.pk)
    if participant.role in STAGE_ROLES:
        raise AlreadyOnStage()
    hand = HandRaise.objects.filter(space=space, user=user, state=HandState.RAISED).first()
    if hand is not None:
        return hand
    hand = HandRaise.objects.create(space=space, user=user)
    position = HandRaise.objects.filter(space=space, state=HandState.RAISED).count()
    send_event_on_commit(
        events.HandRaised(
            space_id=space.pk,
            seq=space.seq,
            user_id=user.pk,
            username=user.username,
            raised_at=hand.raised_at.isoformat(),
            position=position,
        )
    )
    return hand


@transaction.atomic
def hand_lower(*, space_id: int, user: User) -> None:
    """The listener takes their hand down. Raises ``hand_not_raised`` if there is none."""
    space = lock_live_space(space_id=space_id)
    lowered = HandRaise.objects.filter(space=space, user=user, state=HandState.RAISED).update(
        state=HandState.LOWERED, resolved_at=timezone.now()
    )
    if not lowered:
        raise HandNotRaised()
    send_event_on_commit(events.HandLowered(space_id=space.pk, seq=space.seq, user_id=user.pk))


def _resolve_hand(*, space: SpaceModel, user_id: int, actor: User, state: str) -> HandRaise:
    hand = HandRaise.objects.select_for_update().filter(space=space, user_id=user_id, state=HandState.RAISED).first()
    if hand is None:
        raise HandNotRaised()
    hand.state = state
    hand.resolved_at = timezone.now()
    hand.resolved_by = actor
    hand.save(update_fields=["state", "resolved_at", "resolved_by"])
    return hand


@transaction.atomic
def hand_approve(*, space_id: int, actor: User, user_id: int) -> Participant:
    """Host team brings a raised hand on stage as a speaker (they asked, so they may speak at once).

    Raises ``not_host_team``, ``hand_not_raised``, ``not_in_space``, ``stage_full``. Publishes
    ``request.approved`` and ``stage.updated``; LiveKit grants the microphone on commit.
    """
    space = lock_live_space(space_id=space_id)
    access_space_for_host_team(space=space, user=actor)
    participant = _present(space=space, user_id=user_id)
    ensure_seat(space=space, role=Role.SPEAKER)
    _resolve_hand(space=space, user_id=user_id, actor=actor, state=HandState.APPROVED)
    participant_set_role(space=space, participant=participant, role=Role.SPEAKER, muted=False)
    send_event_on_commit(
        events.RequestApproved(
            space_id=space.pk, seq=seq_next(space), user_id=user_id, by=actor.pk, recorded=space.record
        )
    )
    emit_stage(space=space)
    return participant


@transaction.atomic
def hand_decline(*, space_id: int, actor: User, user_id: int) -> None:
    """Host team declines a raised hand. Tells the requester and the host team."""
    space = lock_live_space(space_id=space_id)
    access_space_for_host_team(space=space, user=actor)
    _resolve_hand(space=space, user_id=user_id, actor=actor, state=HandState.DECLINED)
    send_event_on_commit(events.RequestDeclined(space_id=space.pk, seq=space.seq, user_ids=(user_id,), user_id=user_id))
    send_event_on_commit(events.RequestDeclinedToHosts(space_id=space.pk, seq=space.seq, user_id=user_id, by=actor.pk))


# --- invitations --------------------------------------------------------------------------------


@transaction.atomic
def invitation_create(*, space_id: int, actor: User, invitee: User, role: str) -> Invitation:
    """Invite someone in the Space to speak (host team) or to co-host (host only).

    The invitee must accept: nobody is put on stage with a live mic without consent. Raises
    ``not_host``/``not_host_team``, ``not_in_space``, ``already_on_stage``/``already_cohost``,
    ``stage_full``, ``invitation_pending``. Publishes ``invite.received`` to the invitee.
    """
    space = lock_live_space(space_id=space_id)
    actor_role = access_space_for_host_team(space=space, user=actor)
    if role == Role.COHOST and actor_role != Role.HOST:
        raise NotHost("Only the host can invite a co-host.")
    if invitee.pk == actor.pk:
        raise CannotTargetSelf()
    participant = _present(space=space, user_id=invitee.pk)
    if role == Role.SPEAKER and participant.role in STAGE_ROLES:
        raise AlreadyOnStage()
    if role == Role.COHOST and participant.role in HOST_TEAM:
        raise AlreadyCohost()
    ensure_seat(space=space, role=role)
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(space=space, inviter=actor, invitee=invitee, role=role)
    except IntegrityError:
        raise InvitationPending() from None
    send_event_on_commit(
        events.InviteReceived(
            space_id=space.pk,
            seq=space.seq,
            user_ids=(invitee.pk,),
            invitation_id=invitation.pk,
            role=role,  # type: ignore[arg-type]  # a Role value
            inviter_id=actor.pk,
            recorded=space.record,
        )
    )
    return invitation


def _lock_invitation(*, space: SpaceModel, invitation_id: int, user: User) -> Invitation:
    invitation = Invitation.objects.select_for_update().filter(pk=invitation_id, space=space).first()
    if invitation is None or invitation.invitee_id != user.pk:
        raise InvitationNotFound()
    if invitation.state != InvitationState.PENDING:
        raise InvitationNotPending()
    return invitation


@transaction.atomic
def invitation_accept(*, space_id: int, invitation_id: int, user: User) -> Participant:
    """The invitee accepts: they take the seat now (if still free). Publishes ``stage.updated``."""
    space = lock_live_space(space_id=space_id)
    invitation = _lock_invitation(space=space, invitation_id=invitation_id, user=user)
    participant = _present(space=space, user_id=user.pk)
    if participant.role == Role.HOST or (invitation.role == Role.SPEAKER and participant.role in STAGE_ROLES):
        raise AlreadyOnStage()
    if invitation.role == Role.COHOST and participant.role == Role.COHOST:
        raise AlreadyCohost()
    ensure_seat(space=space, role=invitation.role)
    invitation.state = InvitationState.ACCEPTED
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["state", "responded_at", "updated_at"])
    HandRaise.objects.filter(space=space, user=user, state=HandState.RAISED).update(
        state=HandState.APPROVED, resolved_at=timezone.now(), resolved_by=invitation.inviter_id
    )
    participant_set_role(space=space, participant=participant, role=invitation.role, muted=False)
    send_event_on_commit(
        events.InviteAnswered(
            space_id=space.pk,
            seq=space.seq,
            invitation_id=invitation.pk,
            state=invitation.state,  # type: ignore[arg-type]  # accepted or declined
        )
    )
    emit_stage(space=space)
    return participant


@transaction.atomic
def invitation_decline(*, space_id: int, invitation_id: int, user: User) -> Invitation:
    space = lock_live_space(space_id=space_id)
    invitation = _lock_invitation(space=space, invitation_id=invitation_id, user=user)
    invitation.state = InvitationState.DECLINED
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["state", "responded_at", "updated_at"])
    send_event_on_commit(
        events.InviteAnswered(
            space_id=space.pk,
            seq=space.seq,
            invitation_id=invitation.pk,
            state=invitation.state,  # type: ignore[arg-type]  # accepted or declined
        )
    )
    return invitation


# --- leaving the stage, co-hosts ----------------------------------------------------------------


@transaction.atomic
def stage_leave(*, space_id: int, user: User) -> Participant:
    """A speaker or co-host goes back to listening. The host cannot (they end the Space instead)."""
    space = lock_live_space(space_id=space_id)
    participant = lock_participant(space=space, user_id=user.pk)
    if participant is None or participant.role not in STAGE_ROLES:
        raise NotOnStage()
    if participant.role == Role.HOST:
        raise HostCannotLeaveStage()
    participant_set_role(space=space, participant=participant, role=Role.LISTENER)
    emit_stage(space=space)
    return participant


@transaction.atomic
def cohost_add(*, space_id: int, actor: User, target: User) -> Participant | Invitation:
    """Host makes someone a co-host: a speaker at once (already consented to a mic), a listener by invitation.

    Returns the participant (made co-host) or the invitation (listener, must accept).
    """
    space = lock_live_space(space_id=space_id)
    if actor.pk != space.host_id:
        raise NotHost()
    if target.pk == actor.pk:
        raise CannotTargetSelf()
    participant = _present(space=space, user_id=target.pk)
    if participant.role in HOST_TEAM:
        raise AlreadyCohost()
    if participant.role == Role.LISTENER:
        return invitation_create(space_id=space_id, actor=actor, invitee=target, role=Role.COHOST)
    ensure_seat(space=space, role=Role.COHOST)
    participant_set_role(space=space, participant=participant, role=Role.COHOST)
    audit(space=space, actor=actor, actor_role=Role.HOST, action="cohost_add", target=target)
    emit_stage(space=space)
    return participant


@transaction.atomic
def cohost_remove(*, space_id: int, actor: User, target: User) -> Participant:
    """Host takes the co-host role away, in any state of the Space.

    Live: the user stays on stage as a speaker (seat permitting), LiveKit follows on commit and
    ``stage.updated`` is published. Not live (a co-host row left by an ended Space): the row becomes a
    speaker's, with nothing to tell LiveKit or sockets. Writes a ``cohost_remove`` audit row either way.
    """
    space = lock_space(space_id=space_id)
    if actor.pk != space.host_id:
        raise NotHost()
    participant = lock_participant(space=space, user_id=target.pk)
    if participant is None or participant.role != Role.COHOST:
        raise NotCohost()
    if space.state != SpaceState.LIVE:
        participant.role, participant.is_muted = Role.SPEAKER, False
        participant.save(update_fields=["role", "is_muted", "updated_at"])
        audit(space=space, actor=actor, actor_role=Role.HOST, action="cohost_remove", target=target)
        return participant
    if Participant.objects.filter(space=space, role=Role.SPEAKER).count() < _max_speakers():
        participant_set_role(space=space, participant=participant, role=Role.SPEAKER)
    else:
        participant_set_role(space=space, participant=participant, role=Role.LISTENER)
    audit(space=space, actor=actor, actor_role=Role.HOST, action="cohost_remove", target=target)
    emit_stage(space=space)
    return participant


def _max_speakers() -> int:
    from django.conf import settings

    return int(settings.SPACES_MAX_SPEAKERS)
