"""Transactions that PostgreSQL may pick as a deadlock's victim, run again.

The join and presence paths stay off the Space's row lock until their last statement (a join burst
must not queue on one row), so they take Participant → Space, while the stage services lock the Space
first. When the same participant's leave and its LiveKit ``participant_left`` webhook (or a stage
change) meet, PostgreSQL breaks the cycle by aborting one transaction after ``deadlock_timeout``. The
aborted side changed nothing; running it again gives the result it would have had.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection, transaction

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

DEADLOCK_DETECTED = "40P01"
ATTEMPTS = 3


def is_deadlock(exc: BaseException) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == DEADLOCK_DETECTED


def atomic_retrying_deadlocks(fn: Callable[P, R]) -> Callable[P, R]:
    """Like ``transaction.atomic``; when it is the outermost transaction and loses a deadlock, run it again.

    Inside a caller's transaction it is a plain savepoint: the caller's transaction is the one aborted,
    so only the caller could run it again.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if connection.in_atomic_block:
            with transaction.atomic():
                return fn(*args, **kwargs)
        for attempt in range(1, ATTEMPTS):
            try:
                with transaction.atomic():
                    return fn(*args, **kwargs)
            except OperationalError as exc:
                if not is_deadlock(exc):
                    raise
                logger.warning("db.deadlock_retried", extra={"function": fn.__qualname__, "attempt": attempt})
        with transaction.atomic():  # the last attempt: whatever it raises, the caller gets
            return fn(*args, **kwargs)

    return wrapper
