"""A real Celery worker process on the Redis broker runs refunds and payouts; killed mid-payout, no second transfer.

The worker is ``celery -A spaces_project worker`` in a subprocess, pointed at this test's PostgreSQL
database and at stripe-mock through the recording proxy, consuming a private queue.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from rooms.models import Space, SpaceState
from spaces_project.celery import app
from tests.support.builders import make_host, make_paid_ticket, make_ticketed_space
from tests.support.stripe import STRIPE_MOCK_KEY, StripeProxy
from tickets import tasks
from tickets.models import Payout, PayoutStatus, Ticket, TicketStatus

ROOT = Path(__file__).resolve().parents[2]


def wait_for(check: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


class Worker:
    def __init__(self, env: dict[str, str], queue: str, log: Path) -> None:
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "spaces_project",
                "worker",
                "-P",
                "solo",
                "-Q",
                queue,
                "-n",
                f"{queue}@%h",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def broker_queue(redis_url: str) -> Iterator[str]:
    queue = f"tickets-test-{uuid.uuid4().hex[:10]}"
    app.conf.task_always_eager = False
    yield queue
    app.conf.task_always_eager = True
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    client.delete(queue)
    # The killed worker's task stays "unacked" in kombu's bookkeeping: drop it rather than leave it to
    # be restored (an hour later) into a queue nobody reads.
    for tag, raw in client.hgetall("unacked").items():
        try:
            routing_key = json.loads(raw)[2]
        except (ValueError, IndexError, TypeError):
            continue
        if routing_key == queue:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
    client.close()


@pytest.fixture
def worker_env(postgres_url: str, stripe_proxy: StripeProxy, broker_queue: str) -> dict[str, str]:
    db = urlparse(postgres_url)
    env = dict(os.environ)
    env.update(
        DATABASE_URL=urlunparse(db._replace(path="/" + connection.settings_dict["NAME"])),
        CELERY_BROKER_URL=django_settings.CELERY_BROKER_URL,
        CELERY_TASK_ALWAYS_EAGER="false",
        CELERY_TASK_DEFAULT_QUEUE=broker_queue,
        CELERY_VISIBILITY_TIMEOUT_S="3600",
        STRIPE_API_BASE=stripe_proxy.url,
        STRIPE_SECRET_KEY=STRIPE_MOCK_KEY,
        TICKETS_REFUND_WINDOW_S="0",
        TICKETS_PAYOUT_STUCK_S="1",
    )
    return env


def send(task, *args, queue: str) -> None:  # type: ignore[no-untyped-def]
    task.apply_async(args=list(args), queue=queue)


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_worker_refunds_and_pays_out_once_even_when_killed_mid_transfer(
    worker_env, broker_queue, stripe_proxy, tmp_path
):
    host = make_host()
    canceled = make_ticketed_space(host=host)
    refunds = [make_paid_ticket(space=canceled) for _ in range(2)]
    Space.objects.filter(pk=canceled.pk).update(state=SpaceState.CANCELED)
    ended = make_ticketed_space(host=host, price_cents=1000)
    for _ in range(3):
        make_paid_ticket(space=ended)
    Space.objects.filter(pk=ended.pk).update(state=SpaceState.ENDED, ended_at=timezone.now() - timedelta(days=2))
    stripe_proxy.pause_on = "POST /v1/transfers"
    log = tmp_path / "worker.log"

    first = Worker(worker_env, broker_queue, log)
    try:
        send(tasks.space_refund_all, canceled.pk, queue=broker_queue)
        wait_for(
            lambda: Ticket.objects.filter(space=canceled, status=TicketStatus.REFUNDED).count() == 2,
            what="refunds by the worker",
        )
        send(tasks.payouts_process_due, queue=broker_queue)
        wait_for(stripe_proxy.paused.is_set, what="the transfer request")
        payout = Payout.objects.get()
        assert payout.status == PayoutStatus.SUBMITTING and payout.transfer_id is None
        first.kill()  # Stripe made the transfer; the worker never heard back
    finally:
        first.stop()
    stripe_proxy.release.set()

    second = Worker(worker_env, broker_queue, log)
    try:
        time.sleep(1.1)  # the payout is now "stuck" (TICKETS_PAYOUT_STUCK_S=1)
        send(tasks.payouts_process_due, queue=broker_queue)
        wait_for(lambda: Payout.objects.get().status == PayoutStatus.TRANSFERRED, what="the payout")
        # Redelivered and repeated tasks, then a marker task: the solo worker runs them in order.
        send(tasks.payout_send, payout.pk, queue=broker_queue)
        send(tasks.payouts_process_due, queue=broker_queue)
        marker = make_ticketed_space(host=host)
        marker_ticket = make_paid_ticket(space=marker)
        Space.objects.filter(pk=marker.pk).update(state=SpaceState.CANCELED)
        send(tasks.space_refund_all, marker.pk, queue=broker_queue)
        wait_for(lambda: Ticket.objects.get(pk=marker_ticket.pk).status == TicketStatus.REFUNDED, what="the marker")
    finally:
        second.stop()

    payout.refresh_from_db()
    assert Payout.objects.count() == 1
    assert payout.status == PayoutStatus.TRANSFERRED and payout.transfer_id
    transfers = stripe_proxy.posts("/v1/transfers")
    assert len(transfers) == 2  # the killed attempt and its repetition ...
    assert {t.idempotency_key for t in transfers} == {payout.idempotency_key}  # ... one key: one transfer at Stripe
    assert payout.idempotency_key == f"spaces-payout-{payout.pk}-attempt-1"
    refund_keys = [r.idempotency_key for r in stripe_proxy.posts("/v1/refunds")]
    expected = [f"spaces-ticket-{t.pk}-refund" for t in (*refunds, marker_ticket)]
    assert sorted(refund_keys) == sorted(expected)
