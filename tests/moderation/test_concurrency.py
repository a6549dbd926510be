"""One open report per reporter and target, even when the same report is sent many times at once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from moderation.models import Report
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_duplicate_reports_make_one(postgres_url: str, make_client) -> None:
    reporter, target = UserFactory(), UserFactory()
    clients = [make_client(reporter) for _ in range(8)]  # under the report rate limit (10/hour)
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []
    codes: list[str] = []
    lock = threading.Lock()

    def send(client) -> None:  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            response = client.post("/api/v1/reports", {"username": target.username, "category": "spam"})
            with lock:
                statuses.append(response.status_code)
                codes.append(response.data.get("code", "") if response.status_code != 201 else "created")
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [201] + [409] * (len(clients) - 1), codes
    assert set(codes) == {"created", "report_already_open"}
    assert Report.objects.filter(reporter=reporter, target_user=target).count() == 1
