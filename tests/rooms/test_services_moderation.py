import pytest

from moderation.models import HostBan, ModerationAction, SpaceBan
from rooms import services
from rooms.exceptions import (
    Banned,
    CannotModerateCohost,
    CannotModerateHost,
    CannotTargetSelf,
    NotHostTeam,
    NotInSpace,
    NotOnStage,
)
from rooms.models import HandRaise, HandState, Role, Space, SpaceState
from tests.factories import HostFactory, UserFactory
from tests.support.builders import participant

pytestmark = pytest.mark.django_db


def test_mute_speaker_is_audited(host, live_space, joined):
    speaker = joined(Role.SPEAKER)
    services.participant_mute(space_id=live_space.pk, actor=host, user_id=speaker.pk, reason="noise")
    assert participant(live_space, speaker).is_muted
    row = ModerationAction.objects.get()
    assert (row.actor, row.actor_role, row.action, row.target, row.reason) == (host, "host", "mute", speaker, "noise")


def test_mute_listener_is_refused(host, live_space, joined):
    listener = joined()
    with pytest.raises(NotOnStage):
        services.participant_mute(space_id=live_space.pk, actor=host, user_id=listener.pk)
    assert not ModerationAction.objects.exists()


def test_mute_all_mutes_speakers_not_the_actor(host, live_space, joined):
    cohost, s1, s2, listener = joined(Role.COHOST), joined(Role.SPEAKER), joined(Role.SPEAKER), joined()
    muted = services.speakers_mute_all(space_id=live_space.pk, actor=cohost)
    assert sorted(muted) == sorted([s1.pk, s2.pk])
    assert not participant(live_space, cohost).is_muted
    assert not participant(live_space, listener).is_muted
    # the host's mute-all includes co-hosts
    assert sorted(services.speakers_mute_all(space_id=live_space.pk, actor=host)) == sorted([cohost.pk, s1.pk, s2.pk])
    assert [r.action for r in ModerationAction.objects.order_by("pk")] == ["mute_all", "mute_all"]


def test_move_to_listeners(host, live_space, joined):
    speaker = joined(Role.SPEAKER)
    before = Space.objects.get(pk=live_space.pk).listener_count
    services.speaker_move_to_listeners(space_id=live_space.pk, actor=host, user_id=speaker.pk)
    p = participant(live_space, speaker)
    assert (p.role, p.livekit_dirty) == (Role.LISTENER, True)
    assert Space.objects.get(pk=live_space.pk).listener_count == before + 1
    assert ModerationAction.objects.get().action == "move_to_listeners"


def test_remove_bans_from_the_space_and_cannot_rejoin(host, live_space, joined):
    user = joined()
    services.hand_raise(space_id=live_space.pk, user=user)
    services.participant_remove(space_id=live_space.pk, actor=host, user_id=user.pk, reason="spam")
    p = participant(live_space, user)
    assert not p.is_connected
    assert SpaceBan.objects.filter(space=live_space, user=user).exists()
    assert not HostBan.objects.exists()
    assert HandRaise.objects.get(user=user).state == HandState.LOWERED
    assert [r.action for r in ModerationAction.objects.order_by("pk")] == ["remove", "ban"]
    assert Space.objects.get(pk=live_space.pk).listener_count == 0
    with pytest.raises(Banned) as exc:
        services.space_join(space_id=live_space.pk, user=user)
    assert exc.value.extra == {"scope": "space"}


def test_host_wide_ban_applies_to_every_space_of_the_host(host, live_space, joined):
    user = joined()
    services.participant_remove(space_id=live_space.pk, actor=host, user_id=user.pk, ban="host")
    assert HostBan.objects.filter(host=host, user=user).exists()
    services.space_end(space_id=live_space.pk, actor=host)
    next_space = services.space_create(host=host, title="next")
    with pytest.raises(Banned) as exc:
        services.space_join(space_id=next_space.pk, user=user)
    assert exc.value.extra == {"scope": "host"}
    # another host's Space is unaffected
    other = services.space_create(host=HostFactory(), title="elsewhere")
    assert services.space_join(space_id=other.pk, user=user).role == Role.LISTENER


@pytest.mark.parametrize("action", ["mute", "move", "remove"])
def test_nobody_acts_on_the_host(host, live_space, joined, action):
    cohost = joined(Role.COHOST)
    with pytest.raises(CannotModerateHost):
        _act(action, live_space, cohost, host)
    assert participant(live_space, host).role == Role.HOST
    assert not ModerationAction.objects.exists()


@pytest.mark.parametrize("action", ["mute", "move", "remove"])
def test_cohosts_cannot_act_on_each_other(live_space, joined, action):
    a, b = joined(Role.COHOST), joined(Role.COHOST)
    with pytest.raises(CannotModerateCohost):
        _act(action, live_space, a, b)
    p = participant(live_space, b)
    assert (p.role, p.is_muted, p.is_connected) == (Role.COHOST, False, True)


@pytest.mark.parametrize("action", ["mute", "move", "remove"])
def test_host_can_act_on_a_cohost(host, live_space, joined, action):
    cohost = joined(Role.COHOST)
    _act(action, live_space, host, cohost)
    assert ModerationAction.objects.filter(target=cohost).exists()


@pytest.mark.parametrize("role", [Role.SPEAKER, Role.LISTENER])
@pytest.mark.parametrize("action", ["mute", "move", "remove"])
def test_speakers_and_listeners_have_no_host_tools(live_space, joined, role, action):
    actor, target = joined(role), joined(Role.SPEAKER)
    with pytest.raises(NotHostTeam):
        _act(action, live_space, actor, target)
    with pytest.raises(NotHostTeam):
        services.speakers_mute_all(space_id=live_space.pk, actor=actor)
    assert not ModerationAction.objects.exists()


def test_self_and_strangers(host, live_space):
    with pytest.raises(CannotTargetSelf):
        services.participant_mute(space_id=live_space.pk, actor=host, user_id=host.pk)
    with pytest.raises(NotInSpace):
        services.participant_remove(space_id=live_space.pk, actor=host, user_id=UserFactory().pk)


def test_end_of_space_leaves_the_audit_log(host, live_space, joined):
    services.participant_remove(space_id=live_space.pk, actor=host, user_id=joined().pk)
    services.space_end(space_id=live_space.pk, actor=host)
    assert Space.objects.get(pk=live_space.pk).state == SpaceState.ENDED
    assert [r.action for r in ModerationAction.objects.order_by("pk")] == ["remove", "ban", "end"]


def _act(action, space, actor, target):
    if action == "mute":
        return services.participant_mute(space_id=space.pk, actor=actor, user_id=target.pk)
    if action == "move":
        return services.speaker_move_to_listeners(space_id=space.pk, actor=actor, user_id=target.pk)
    return services.participant_remove(space_id=space.pk, actor=actor, user_id=target.pk)
