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


def test_a_leave_that_loses_a_deadlock_to_the_presence_webhook_is_run_again(postgres_url, caplog, monkeypatch):
    """The leave locks Space → Participant; LiveKit's participant_left webhook updates Participant → Space.
    Forced into a cycle here with a second connection playing the webhook: PostgreSQL aborts the leave
    (its deadlock check runs first), the leave runs again, and the listener count drops once."""
    import psycopg

    from rooms.services import presence
    from tests.support.servers import server_database_url

    space = services.space_create(host=HostFactory(), title="deadlock")
    user = UserFactory()
    services.space_join(space_id=space.pk, user=user)
    participant = Participant.objects.get(space=space, user=user)
    assert Space.objects.get(pk=space.pk).listener_count == 1

    # The leave pauses once, holding the Space's lock, until the "webhook" waits for that lock.
    holds_space, go_on = threading.Event(), threading.Event()
    real_lock_space = presence.lock_space

    def lock_space_then_pause(*, space_id):
        locked = real_lock_space(space_id=space_id)
        if not holds_space.is_set():
            holds_space.set()
            go_on.wait(20)
        return locked

    monkeypatch.setattr(presence, "lock_space", lock_space_then_pause)
    webhook = psycopg.connect(server_database_url())
    webhook.execute("SET deadlock_timeout = '10s'")  # the leave's check (1 s) finds the cycle first
    webhook.commit()
    errors: list[BaseException] = []

    def leave() -> None:
        try:
            services.space_leave(space_id=space.pk, user=user)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def webhook_decrements() -> None:  # waits for the leave's Space lock
        try:
            webhook.execute(
                "UPDATE rooms_space SET listener_count = listener_count - 1 WHERE id = %s AND listener_count > 0",
                [space.pk],
            )
            webhook.commit()
        except BaseException as exc:
            errors.append(exc)

    watcher = psycopg.connect(server_database_url(), autocommit=True)
    try:
        webhook.execute(
            "UPDATE rooms_participant SET is_connected = false, left_at = now() WHERE id = %s", [participant.pk]
        )
        leaver = threading.Thread(target=leave)
        leaver.start()
        assert holds_space.wait(20)
        decrement = threading.Thread(target=webhook_decrements)
        decrement.start()
        for _ in range(400):  # until the webhook's UPDATE waits for the Space's lock
            row = watcher.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [webhook.info.backend_pid]
            ).fetchone()
            if row and row[0] == "Lock":
                break
            threading.Event().wait(0.05)
        go_on.set()  # the leave now asks for the participant row the webhook holds: a cycle
        leaver.join(30)
        decrement.join(30)
    finally:
        go_on.set()
        webhook.close()
        watcher.close()

    assert not errors, errors
    assert "db.deadlock_retried" in caplog.text  # the cycle did happen, and the leave was run again
    participant.refresh_from_db()
    assert participant.is_connected is False
    assert Space.objects.get(pk=space.pk).listener_count == 0


def test_a_first_listener_join_outside_a_transaction_is_one_statement_and_the_cap_stays_exact(
    postgres_url, monkeypatch
):
    """No BEGIN/COMMIT around a first listener's row and count: the statement is its own transaction, and
    when the cap refuses it fails as a whole (division by zero), so no connected, uncounted row is left."""
    from django.test.utils import CaptureQueriesContext

    from rooms.services import presence

    space = services.space_create(host=HostFactory(), title="alone", listener_cap=1)
    first, late = UserFactory(), UserFactory()
    in_transaction = presence._join_record_in_transaction
    calls = []

    def spy(**kwargs):
        calls.append(kwargs["user"].pk)
        return in_transaction(**kwargs)

    monkeypatch.setattr(presence, "_join_record_in_transaction", spy)
    with CaptureQueriesContext(connection) as joined:
        services.space_join(space_id=space.pk, user=first)
    writes = [q["sql"] for q in joined.captured_queries if "INSERT" in q["sql"] or "UPDATE" in q["sql"]]
    assert len(writes) == 1 and "1 / (SELECT count(*) FROM counted)" in writes[0]
    assert calls == []  # no transaction was opened for it
    with pytest.raises(SpaceFull):
        services.space_join(space_id=space.pk, user=late)
    assert calls == [] and not Participant.objects.filter(user=late).exists()
    space.refresh_from_db()
    assert (space.listener_count, space.peak_listener_count) == (1, 1)
    # Here before: the transaction, with the read already made; the cap still holds.
    services.space_leave(space_id=space.pk, user=first)
    services.space_join(space_id=space.pk, user=late)
    with pytest.raises(SpaceFull):
        services.space_join(space_id=space.pk, user=first)
    assert calls == [first.pk]
    assert Participant.objects.filter(space=space, role=Role.LISTENER, is_connected=True).count() == 1
    assert Space.objects.get(pk=space.pk).listener_count == 1
