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


def test_a_leave_that_loses_a_deadlock_to_the_presence_webhook_is_run_again(postgres_url, caplog):
    """The leave locks Space → Participant; LiveKit's participant_left webhook updates Participant → Space.
    Forced into a cycle here with a second connection playing the webhook: PostgreSQL aborts the leave
    (it waited first), the leave runs again, and the listener count drops once."""
    import psycopg

    from tests.realtime.conftest import _test_database_url

    space = services.space_create(host=HostFactory(), title="deadlock")
    user = UserFactory()
    services.space_join(space_id=space.pk, user=user)
    participant = Participant.objects.get(space=space, user=user)
    assert Space.objects.get(pk=space.pk).listener_count == 1

    webhook = psycopg.connect(_test_database_url())
    webhook.execute("SET deadlock_timeout = '10s'")  # so that the leave (1 s) is the side PostgreSQL aborts
    webhook.commit()
    errors: list[BaseException] = []

    def leave() -> None:
        try:
            services.space_leave(space_id=space.pk, user=user)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    try:
        webhook.execute(
            "UPDATE rooms_participant SET is_connected = false, left_at = now() WHERE id = %s", [participant.pk]
        )
        leaver = threading.Thread(target=leave)
        leaver.start()
        for _ in range(100):  # until the leave waits for the participant row the "webhook" holds
            waiting = webhook.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            ).fetchone()
            if waiting and waiting[0]:
                break
            threading.Event().wait(0.05)
        webhook.execute(
            "UPDATE rooms_space SET listener_count = listener_count - 1 WHERE id = %s AND listener_count > 0",
            [space.pk],
        )  # waits for the leave's Space lock: a cycle, which PostgreSQL breaks by aborting the leave
        webhook.commit()
        leaver.join(30)
    finally:
        webhook.close()

    assert not errors, errors
    assert "db.deadlock_retried" in caplog.text  # the cycle did happen, and the leave was run again
    participant.refresh_from_db()
    assert participant.is_connected is False
    assert Space.objects.get(pk=space.pk).listener_count == 0
