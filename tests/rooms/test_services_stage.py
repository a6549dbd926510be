import pytest
from django.db import transaction

from moderation.models import ModerationAction
from rooms import services
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
    NotHostTeam,
    NotInSpace,
    NotOnStage,
    SpaceNotLive,
    StageFull,
)
from rooms.models import HandRaise, HandState, Invitation, InvitationState, Participant, Role, Space
from rooms.selectors import hand_queue
from tests.factories import UserFactory
from tests.support.builders import participant

pytestmark = pytest.mark.django_db


def test_hand_queue_is_first_come_first_served_with_wait_time(live_space, joined):
    a, b, c = joined(), joined(), joined()
    for user in (b, a, c):
        services.hand_raise(space_id=live_space.pk, user=user)
    queue = hand_queue(space=live_space)
    assert [(q.position, q.user) for q in queue] == [(1, b), (2, a), (3, c)]
    assert all(q.wait_s >= 0 for q in queue)


def test_hand_raise_is_idempotent(live_space, joined):
    user = joined()
    first = services.hand_raise(space_id=live_space.pk, user=user)
    second = services.hand_raise(space_id=live_space.pk, user=user)
    assert first.pk == second.pk
    assert HandRaise.objects.count() == 1


def test_hand_raise_rules(live_space, joined):
    speaker = joined(Role.SPEAKER)
    with pytest.raises(AlreadyOnStage):
        services.hand_raise(space_id=live_space.pk, user=speaker)
    with pytest.raises(NotInSpace):
        services.hand_raise(space_id=live_space.pk, user=UserFactory())
    assert not HandRaise.objects.exists()


def test_hand_lower(live_space, joined):
    user = joined()
    services.hand_raise(space_id=live_space.pk, user=user)
    services.hand_lower(space_id=live_space.pk, user=user)
    assert HandRaise.objects.get(user=user).state == HandState.LOWERED
    with pytest.raises(HandNotRaised):
        services.hand_lower(space_id=live_space.pk, user=user)
    # a lowered hand can be raised again
    services.hand_raise(space_id=live_space.pk, user=user)
    assert HandRaise.objects.filter(user=user, state=HandState.RAISED).count() == 1


def test_approve_puts_listener_on_stage(host, live_space, joined):
    user = joined()
    services.hand_raise(space_id=live_space.pk, user=user)
    before = Space.objects.get(pk=live_space.pk).listener_count
    services.hand_approve(space_id=live_space.pk, actor=host, user_id=user.pk)
    p = participant(live_space, user)
    assert (p.role, p.is_muted, p.livekit_dirty) == (Role.SPEAKER, False, True)
    hand = HandRaise.objects.get(user=user)
    assert (hand.state, hand.resolved_by) == (HandState.APPROVED, host)
    assert Space.objects.get(pk=live_space.pk).listener_count == before - 1


def test_cohost_can_approve_and_decline(live_space, joined):
    cohost = joined(Role.COHOST)
    a, b = joined(), joined()
    services.hand_raise(space_id=live_space.pk, user=a)
    services.hand_raise(space_id=live_space.pk, user=b)
    services.hand_approve(space_id=live_space.pk, actor=cohost, user_id=a.pk)
    services.hand_decline(space_id=live_space.pk, actor=cohost, user_id=b.pk)
    assert participant(live_space, a).role == Role.SPEAKER
    assert participant(live_space, b).role == Role.LISTENER
    assert HandRaise.objects.get(user=b).state == HandState.DECLINED


def test_listener_and_speaker_cannot_approve(live_space, joined):
    speaker, listener, asker = joined(Role.SPEAKER), joined(), joined()
    services.hand_raise(space_id=live_space.pk, user=asker)
    for actor in (speaker, listener):
        with pytest.raises(NotHostTeam):
            services.hand_approve(space_id=live_space.pk, actor=actor, user_id=asker.pk)
        with pytest.raises(NotHostTeam):
            services.hand_decline(space_id=live_space.pk, actor=actor, user_id=asker.pk)
    assert HandRaise.objects.get(user=asker).state == HandState.RAISED


def test_approve_without_a_raised_hand(host, live_space, joined):
    user = joined()
    with pytest.raises(HandNotRaised):
        services.hand_approve(space_id=live_space.pk, actor=host, user_id=user.pk)
    assert participant(live_space, user).role == Role.LISTENER


def test_speaker_seats_are_limited(host, live_space, joined, settings):
    settings.SPACES_MAX_SPEAKERS = 10
    for _ in range(10):
        joined(Role.SPEAKER)
    user = joined()
    services.hand_raise(space_id=live_space.pk, user=user)
    with pytest.raises(StageFull) as exc:
        services.hand_approve(space_id=live_space.pk, actor=host, user_id=user.pk)
    assert exc.value.extra == {"role": "speaker", "limit": 10}
    assert participant(live_space, user).role == Role.LISTENER
    assert HandRaise.objects.get(user=user).state == HandState.RAISED


def test_stage_holds_at_most_13(host, live_space, joined):
    for _ in range(2):
        joined(Role.COHOST)
    for _ in range(10):
        joined(Role.SPEAKER)
    assert Participant.objects.filter(space=live_space).exclude(role=Role.LISTENER).count() == 13
    extra = joined()
    with pytest.raises(StageFull):
        services.invitation_create(space_id=live_space.pk, actor=host, invitee=extra, role=Role.SPEAKER)
    speaker = Participant.objects.filter(space=live_space, role=Role.SPEAKER).first().user
    with pytest.raises(StageFull):
        services.cohost_add(space_id=live_space.pk, actor=host, target=speaker)


def test_invite_to_speak_needs_consent(host, live_space, joined):
    user = joined()
    invitation = services.invitation_create(space_id=live_space.pk, actor=host, invitee=user, role=Role.SPEAKER)
    assert participant(live_space, user).role == Role.LISTENER  # not on stage before accepting
    services.invitation_accept(space_id=live_space.pk, invitation_id=invitation.pk, user=user)
    assert participant(live_space, user).role == Role.SPEAKER
    assert Invitation.objects.get(pk=invitation.pk).state == InvitationState.ACCEPTED
    with pytest.raises(InvitationNotPending):
        services.invitation_accept(space_id=live_space.pk, invitation_id=invitation.pk, user=user)


def test_invite_decline(host, live_space, joined):
    user = joined()
    invitation = services.invitation_create(space_id=live_space.pk, actor=host, invitee=user, role=Role.SPEAKER)
    services.invitation_decline(space_id=live_space.pk, invitation_id=invitation.pk, user=user)
    assert participant(live_space, user).role == Role.LISTENER
    assert Invitation.objects.get(pk=invitation.pk).state == InvitationState.DECLINED


def test_only_the_invitee_answers(host, live_space, joined):
    user, other = joined(), joined()
    invitation = services.invitation_create(space_id=live_space.pk, actor=host, invitee=user, role=Role.SPEAKER)
    with pytest.raises(InvitationNotFound):
        services.invitation_accept(space_id=live_space.pk, invitation_id=invitation.pk, user=other)
    with pytest.raises(InvitationNotFound):
        services.invitation_decline(space_id=live_space.pk, invitation_id=invitation.pk, user=other)
    assert Invitation.objects.get(pk=invitation.pk).state == InvitationState.PENDING


def test_one_pending_invitation_per_user(host, live_space, joined):
    user = joined()
    services.invitation_create(space_id=live_space.pk, actor=host, invitee=user, role=Role.SPEAKER)
    with pytest.raises(InvitationPending):
        with transaction.atomic():
            services.invitation_create(space_id=live_space.pk, actor=host, invitee=user, role=Role.SPEAKER)
    assert Invitation.objects.count() == 1


def test_invitation_rules(host, live_space, joined):
    cohost, speaker, listener = joined(Role.COHOST), joined(Role.SPEAKER), joined()
    with pytest.raises(NotHost):
        services.invitation_create(space_id=live_space.pk, actor=cohost, invitee=listener, role=Role.COHOST)
    with pytest.raises(NotHostTeam):
        services.invitation_create(space_id=live_space.pk, actor=speaker, invitee=listener, role=Role.SPEAKER)
    with pytest.raises(AlreadyOnStage):
        services.invitation_create(space_id=live_space.pk, actor=host, invitee=speaker, role=Role.SPEAKER)
    with pytest.raises(AlreadyCohost):
        services.invitation_create(space_id=live_space.pk, actor=host, invitee=cohost, role=Role.COHOST)
    with pytest.raises(NotInSpace):
        services.invitation_create(space_id=live_space.pk, actor=host, invitee=UserFactory(), role=Role.SPEAKER)
    with pytest.raises(CannotTargetSelf):
        services.invitation_create(space_id=live_space.pk, actor=host, invitee=host, role=Role.SPEAKER)
    # a co-host may invite to speak
    services.invitation_create(space_id=live_space.pk, actor=cohost, invitee=listener, role=Role.SPEAKER)
    assert Invitation.objects.count() == 1


def test_accept_when_stage_filled_meanwhile(host, live_space, joined, settings):
    settings.SPACES_MAX_SPEAKERS = 1
    user = joined()
    invitation = services.invitation_create(space_id=live_space.pk, actor=host, invitee=user, role=Role.SPEAKER)
    joined(Role.SPEAKER)
    with pytest.raises(StageFull):
        services.invitation_accept(space_id=live_space.pk, invitation_id=invitation.pk, user=user)
    assert participant(live_space, user).role == Role.LISTENER


def test_leave_stage(host, live_space, joined):
    speaker = joined(Role.SPEAKER)
    services.stage_leave(space_id=live_space.pk, user=speaker)
    assert participant(live_space, speaker).role == Role.LISTENER
    with pytest.raises(NotOnStage):
        services.stage_leave(space_id=live_space.pk, user=speaker)
    with pytest.raises(HostCannotLeaveStage):
        services.stage_leave(space_id=live_space.pk, user=host)


def test_cohost_add_speaker_directly_listener_by_invitation(host, live_space, joined):
    speaker, listener = joined(Role.SPEAKER), joined()
    made = services.cohost_add(space_id=live_space.pk, actor=host, target=speaker)
    assert isinstance(made, Participant) and made.role == Role.COHOST
    invited = services.cohost_add(space_id=live_space.pk, actor=host, target=listener)
    assert isinstance(invited, Invitation) and invited.role == Role.COHOST
    assert participant(live_space, listener).role == Role.LISTENER
    services.invitation_accept(space_id=live_space.pk, invitation_id=invited.pk, user=listener)
    assert participant(live_space, listener).role == Role.COHOST


def test_cohost_limit_is_two(host, live_space, joined):
    joined(Role.COHOST)
    joined(Role.COHOST)
    with pytest.raises(StageFull):
        services.cohost_add(space_id=live_space.pk, actor=host, target=joined(Role.SPEAKER))


def test_only_host_makes_and_unmakes_cohosts(host, live_space, joined):
    cohost, other_cohost, speaker = joined(Role.COHOST), joined(Role.COHOST), joined(Role.SPEAKER)
    with pytest.raises(NotHost):
        services.cohost_add(space_id=live_space.pk, actor=cohost, target=speaker)
    with pytest.raises(NotHost):
        services.cohost_remove(space_id=live_space.pk, actor=cohost, target=other_cohost)
    services.cohost_remove(space_id=live_space.pk, actor=host, target=other_cohost)
    assert participant(live_space, other_cohost).role == Role.SPEAKER
    row = ModerationAction.objects.get()
    assert (row.actor, row.action, row.target) == (host, "cohost_remove", other_cohost)
    with pytest.raises(NotCohost):
        services.cohost_remove(space_id=live_space.pk, actor=host, target=other_cohost)
    with pytest.raises(AlreadyCohost):
        services.cohost_add(space_id=live_space.pk, actor=host, target=cohost)


def test_stage_actions_need_a_live_space(host, live_space, joined):
    user = joined()
    services.space_end(space_id=live_space.pk, actor=host)
    with pytest.raises(SpaceNotLive):
        services.hand_raise(space_id=live_space.pk, user=user)
    with pytest.raises(SpaceNotLive):
        services.invitation_create(space_id=live_space.pk, actor=host, invitee=user, role=Role.SPEAKER)
