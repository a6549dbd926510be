"""Database work from async code on a small pool of threads instead of the one thread-sensitive thread.

Channels' ``database_sync_to_async`` runs every call of a process on one thread, one after the other:
a crowd of websockets opening at once queues behind itself there (docs/benchmarks.md, "Join storm").
Work that needs no thread affinity (a read, its own connection from the pool or a persistent one per
worker thread, closed like Channels does before and after) runs here side by side.

The hop is lean on purpose (docs/benchmarks.md, "Third round: the websocket half"): asgiref's
``SyncToAsync`` over a ``ThreadPoolExecutor`` cost ~0.2 ms of CPU per call in a storm (a context copy,
a ``concurrent.futures.Future`` with its condition lock chained to an asyncio future, ``shield``, one
loop wake-up per call). Here a call is one tuple on a ``SimpleQueue``; a worker takes every call queued
when it wakes (up to :data:`MAX_BATCH`), runs them one after the other between two
``close_old_connections``, and settles their futures with one wake-up of the event loop per batch.
The calls run in the worker thread's own context (Django's connections are per thread there, as they
were under ``SyncToAsync``); nothing they do reads the caller's context variables.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from spaces_project.common.workers import Workers

DB_THREADS = int(os.environ.get("SPACES_WS_DB_THREADS", "2"))

WORKERS = Workers(DB_THREADS)


def db_offthread(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` as a coroutine function run on the websocket database threads.

    Connections are closed (or returned to the pool) before and after each batch of calls, in the worker
    thread that opened them (Django keeps a connection per thread there), and after any call that failed.
    """

    @functools.wraps(func)
    async def offthread(*args: Any, **kwargs: Any) -> Any:
        return await WORKERS.run(func, *args, **kwargs)

    return offthread
