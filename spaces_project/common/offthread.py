"""Database work from async code on a small thread pool instead of the one thread-sensitive thread.

Channels' ``database_sync_to_async`` runs every call of a process on one thread, one after the other:
a crowd of websockets opening at once queues behind itself there (docs/benchmarks.md, "Join storm").
Work that needs no thread affinity (a read, its own connection from the pool or a persistent one per
worker thread, closed like Channels does before and after) runs here side by side.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import DatabaseSyncToAsync

DB_THREADS = int(os.environ.get("SPACES_WS_DB_THREADS", "4"))
_executor = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="ws-db")


def db_offthread(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` as a coroutine function run on the websocket database pool."""
    return DatabaseSyncToAsync(func, thread_sensitive=False, executor=_executor)
