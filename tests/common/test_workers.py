"""The lean hop's worker threads (spaces_project/common/workers.py) outlive a failing connection check."""

from __future__ import annotations

import asyncio

import pytest

from spaces_project.common import workers


def test_a_worker_survives_a_connection_check_that_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest-django's blocker raises here for a thread whose connection a database test left open (the
    # SQLite pass hung on exactly that: the thread died and every later call waited for ever).
    def refuse() -> None:
        raise RuntimeError("Database access not allowed")

    monkeypatch.setattr(workers, "close_old_connections", refuse)
    pool = workers.Workers(1, name="test-workers")

    async def scenario() -> list[int]:
        first = await asyncio.wait_for(pool.run(lambda: 1), 5)
        second = await asyncio.wait_for(pool.run(lambda: 2), 5)  # the same (only) thread, still alive
        return [first, second]

    assert asyncio.run(scenario()) == [1, 2]
