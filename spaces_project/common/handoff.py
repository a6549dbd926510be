"""Hand-offs to Celery after a commit that never fail the request that made them.

The committed rows are the truth; a task is only the means to act on them. When the broker is down
(a Redis restart, a network cut), ``.delay()`` raises after the transaction already committed: raised
from an ``on_commit`` callback it would turn a done change into a 500 for the caller. So the failure
is logged, and each kind of work has a beat sweep that finds from the rows what a lost hand-off left
undone (LiveKit permissions: ``livekit_dirty`` + reconcile; refunds: ``refund_pending`` and canceled
Spaces with paid tickets; payouts: pending and stuck ones; reminders: the reminders sweep).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(name: str, send: Callable[[], object]) -> None:
    """Run ``send`` (a ``task.delay(...)``) once the current transaction commits; log, never raise, a failure."""

    def run() -> None:
        try:
            send()
        except Exception:
            logger.exception("task.handoff_failed", extra={"task": name})

    transaction.on_commit(run)
