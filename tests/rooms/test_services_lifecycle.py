from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.exceptions import AccountSuspended, NotEligible
from moderation.models import ModerationAction
from rooms import services
from rooms.exceptions import HostAlreadyLive, InvalidSchedule, NotHost, SpaceNotLive, SpaceNotScheduled
from rooms.models import HandRaise, HandState, Invitation, InvitationState, Participant, Role, Space, SpaceState
from spaces_project.common.exceptions import ApplicationError
from tests.factories import HostFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_create_now_is_live_with_host_on_stage(host):
    space = services.space_create(host=host, title="  Hello  ", topics=["Tech", "tech", "music"])
    assert space.state == SpaceState.LIVE
    assert space.title == "Hello"
    assert space.topics == ["tech", "music"]
    assert space.started_at is not None
    assert Participant.objects.get(space=space, user=host).role == Role.HOST


def test_create_scheduled_within_14_days(host):
    start = timezone.now() + timedelta(days=13, hours=23)
    space = services.space_create(host=host, title="Later", scheduled_start=start)
    assert space.state == SpaceState.SCHEDULED
    assert space.scheduled_start == start
    assert not Participant.objects.filter(space=space).exists()


@pytest.mark.parametrize("delta", [timedelta(days=14, minutes=1), timedelta(minutes=-1)])
def test_create_scheduled_outside_window_is_refused(host, delta):
    with pytest.raises(InvalidSchedule):
        services.space_create(host=host, title="x", scheduled_start=timezone.now() + delta)
    assert not Space.objects.exists()


def test_create_requires_eligibility_and_says_why():
    user = UserFactory(follower_count=599)
    with pytest.raises(NotEligible) as exc:
        services.space_create(host=user, title="x")
    assert exc.value.extra == {"followers": 599, "threshold": 600}
    assert not Space.objects.exists()


def test_staff_override_makes_a_host():
    user = UserFactory(follower_count=0, host_override=True)
    assert services.space_create(host=user, title="x").state == SpaceState.LIVE


def test_suspended_host_cannot_create():
    user = HostFactory(is_suspended=True)
    with pytest.raises(AccountSuspended):
        services.space_create(host=user, title="x")


def test_too_many_topics_refused(host):
    with pytest.raises(ApplicationError) as exc:
        services.space_create(host=host, title="x", topics=["a", "b", "c", "d"])
    assert exc.value.code == "invalid_input"


def test_one_live_space_per_host(host, live_space):
    with pytest.raises(HostAlreadyLive):
        services.space_create(host=host, title="second")
    scheduled = services.space_create(host=host, title="s", scheduled_start=timezone.now() + timedelta(hours=1))
    with pytest.raises(HostAlreadyLive):
        services.space_start(space_id=scheduled.pk, actor=host)
    assert Space.objects.get(pk=scheduled.pk).state == SpaceState.SCHEDULED


def test_start_scheduled(host):
    space = services.space_create(host=host, title="s", scheduled_start=timezone.now() + timedelta(hours=1))
    started = services.space_start(space_id=space.pk, actor=host)
    assert started.state == SpaceState.LIVE
    assert started.seq == 1
    assert Participant.objects.get(space=space, user=host).role == Role.HOST


def test_only_host_starts_ends_cancels(host, live_space):
    other = HostFactory()
    scheduled = services.space_create(host=host, title="s", scheduled_start=timezone.now() + timedelta(hours=1))
    with pytest.raises(NotHost):
        services.space_start(space_id=scheduled.pk, actor=other)
    with pytest.raises(NotHost):
        services.space_cancel(space_id=scheduled.pk, actor=other)
    with pytest.raises(NotHost):
        services.space_end(space_id=live_space.pk, actor=other)
    assert Space.objects.get(pk=live_space.pk).state == SpaceState.LIVE


def test_cohost_cannot_end(live_space, joined):
    cohost = joined(Role.COHOST)
    with pytest.raises(NotHost):
        services.space_end(space_id=live_space.pk, actor=cohost)


def test_end_closes_everything_and_audits(host, live_space, joined):
    listener = joined()
    HandRaise.objects.create(space=live_space, user=listener)
    Invitation.objects.create(space=live_space, inviter=host, invitee=joined(), role=Role.SPEAKER)
    ended = services.space_end(space_id=live_space.pk, actor=host, reason="done")
    assert ended.state == SpaceState.ENDED
    assert ended.listener_count == 0
    assert not Participant.objects.filter(space=live_space, is_connected=True).exists()
    assert HandRaise.objects.get(user=listener).state == HandState.LOWERED
    assert not Invitation.objects.filter(state=InvitationState.PENDING).exists()
    row = ModerationAction.objects.get(space=live_space)
    assert (row.actor, row.action, row.reason) == (host, "end", "done")


def test_end_twice_is_refused(host, live_space):
    services.space_end(space_id=live_space.pk, actor=host)
    with pytest.raises(SpaceNotLive):
        services.space_end(space_id=live_space.pk, actor=host)


def test_cancel_only_scheduled(host, live_space):
    with pytest.raises(SpaceNotScheduled):
        services.space_cancel(space_id=live_space.pk, actor=host)
    scheduled = services.space_create(
        host=HostFactory(), title="s", scheduled_start=timezone.now() + timedelta(hours=1)
    )
    assert services.space_cancel(space_id=scheduled.pk, actor=scheduled.host).state == SpaceState.CANCELED
    with pytest.raises(SpaceNotScheduled):
        services.space_start(space_id=scheduled.pk, actor=scheduled.host)


def test_reschedule_keeps_the_space(host):
    space = services.space_create(host=host, title="s", scheduled_start=timezone.now() + timedelta(hours=1))
    new_start = timezone.now() + timedelta(days=3)
    updated = services.space_update(space_id=space.pk, actor=host, scheduled_start=new_start, title="t")
    assert (updated.pk, updated.scheduled_start, updated.title) == (space.pk, new_start, "t")


def test_reschedule_rules(host, live_space):
    with pytest.raises(SpaceNotScheduled):
        services.space_update(space_id=live_space.pk, actor=host, scheduled_start=timezone.now() + timedelta(days=1))
    space = services.space_create(host=HostFactory(), title="s", scheduled_start=timezone.now() + timedelta(hours=1))
    with pytest.raises(InvalidSchedule):
        services.space_update(space_id=space.pk, actor=space.host, scheduled_start=timezone.now() + timedelta(days=15))
    with pytest.raises(NotHost):
        services.space_update(space_id=space.pk, actor=host, title="mine")
    assert Space.objects.get(pk=space.pk).title == "s"


def test_auto_end_after_host_team_absent(host, live_space, settings):
    settings.SPACES_HOST_ABSENT_END_S = 300
    Space.objects.filter(pk=live_space.pk).update(host_team_absent_since=timezone.now() - timedelta(seconds=301))
    assert services.spaces_end_abandoned() == [live_space.pk]
    space = Space.objects.get(pk=live_space.pk)
    assert space.state == SpaceState.ENDED
    assert ModerationAction.objects.get(space=space).actor_role == "system"


def test_auto_end_waits_for_the_timeout(host, live_space):
    Space.objects.filter(pk=live_space.pk).update(host_team_absent_since=timezone.now() - timedelta(seconds=200))
    assert services.spaces_end_abandoned() == []
    assert Space.objects.get(pk=live_space.pk).state == SpaceState.LIVE


def test_host_join_stops_the_absence_clock_and_cohost_keeps_space_alive(host, live_space, joined):
    assert Space.objects.get(pk=live_space.pk).host_team_absent_since is not None
    services.space_join(space_id=live_space.pk, user=host)
    assert Space.objects.get(pk=live_space.pk).host_team_absent_since is None
    cohost = joined(Role.COHOST)
    services.space_leave(space_id=live_space.pk, user=host)
    # the co-host is still there: the Space carries on
    assert Space.objects.get(pk=live_space.pk).host_team_absent_since is None
    assert Participant.objects.get(space=live_space, user=cohost).role == Role.COHOST
    # the host comes back and is host again (the co-host hands the Space back)
    services.space_join(space_id=live_space.pk, user=host)
    assert Participant.objects.get(space=live_space, user=host).role == Role.HOST


def test_last_host_team_member_leaving_starts_the_clock(host, live_space, joined):
    services.space_join(space_id=live_space.pk, user=host)
    joined()  # a listener does not keep the Space alive
    services.space_leave(space_id=live_space.pk, user=host)
    assert Space.objects.get(pk=live_space.pk).host_team_absent_since is not None


def test_beat_task_ends_abandoned_spaces(live_space, settings):
    from rooms import tasks

    assert "rooms.tasks.spaces_end_abandoned" in {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    Space.objects.filter(pk=live_space.pk).update(
        host_team_absent_since=timezone.now() - timedelta(seconds=settings.SPACES_HOST_ABSENT_END_S + 1)
    )
    assert tasks.spaces_end_abandoned.delay().get() == [live_space.pk]
    assert Space.objects.get(pk=live_space.pk).state == SpaceState.ENDED
