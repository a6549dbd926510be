"""Seats and caps under real concurrency on PostgreSQL: many clients at once, never one too many."""

import threading

import pytest
from django.db import connection

from rooms import services
from rooms.exceptions import SpaceFull, StageFull
from rooms.models import Participant, Role, Space
from tests.factories import HostFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_all(calls):
    barrier = threading.Barrier(len(calls))
    outcomes = []

    def worker(fn):
        try:
            barrier.wait()
            fn()
            outcomes.append("ok")
        except (StageFull, SpaceFull) as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(fn,)) for fn in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def test_last_speaker_seat_is_taken_once(postgres_url, settings):
    settings.SPACES_MAX_SPEAKERS = 1
    host = HostFactory()
    space = services.space_create(host=host, title="race")
    askers = [UserFactory() for _ in range(8)]
    for user in askers:
        services.space_join(space_id=space.pk, user=user)
        services.hand_raise(space_id=space.pk, user=user)
    outcomes = run_all([lambda u=u: services.hand_approve(space_id=space.pk, actor=host, user_id=u.pk) for u in askers])
    assert sorted(outcomes) == ["ok"] + ["stage_full"] * 7
    assert Participant.objects.filter(space=space, role=Role.SPEAKER).count() == 1
    assert Space.objects.get(pk=space.pk).listener_count == 7


def test_listener_cap_holds_under_a_join_burst(postgres_url):
    space = services.space_create(host=HostFactory(), title="burst", listener_cap=5)
    users = [UserFactory() for _ in range(20)]
    outcomes = run_all([lambda u=u: services.space_join(space_id=space.pk, user=u) for u in users])
    assert sorted(outcomes) == ["ok"] * 5 + ["space_full"] * 15
    assert Participant.objects.filter(space=space, role=Role.LISTENER, is_connected=True).count() == 5
    assert Space.objects.get(pk=space.pk).listener_count == 5
