"""Database work from async code on a small thread pool instead of the one thread-sensitive thread.

Channels' ``database_sync_to_async`` runs every call of a process on one thread, one after the other:
a crowd of websockets opening at once queues behind itself there (docs/benchmarks.md, "Join storm").
Work that needs no thread affinity (a read, its own connection from the pool or a persistent one per
worker thread, closed like Channels does before and after) runs here side by side.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import SyncToAsync
from django.db import close_old_connections

DB_THREADS = int(os.environ.get("SPACES_WS_DB_THREADS", "4"))
_executor = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="ws-db")


def db_offthread(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` as a coroutine function run on the websocket database pool.

    Connections are closed (or returned to the pool) before and after, inside the call's own context:
    Django keeps a connection per context, and Channels' ``DatabaseSyncToAsync`` closes them outside it,
    where a worker thread of this pool would not see the connection the call opened.
    """

    @functools.wraps(func)
    def closing(*args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return SyncToAsync(closing, thread_sensitive=False, executor=_executor)
