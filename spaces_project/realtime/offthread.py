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

import asyncio
import functools
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections

DB_THREADS = int(os.environ.get("SPACES_WS_DB_THREADS", "4"))
MAX_BATCH = 32  # calls one worker takes at once (a crowd); each still runs on its own

_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class _Workers:
    """``DB_THREADS`` daemon threads reading one queue of calls (started on first use)."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self.batches = 0  # batches run (tests read it)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, call: _Call) -> None:
        if len(self._threads) < self.size:
            self._start()
        self.calls.put(call)

    def _start(self) -> None:
        with self._lock:
            while len(self._threads) < self.size:
                thread = threading.Thread(target=self._run, name=f"ws-db_{len(self._threads)}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _run(self) -> None:
        calls = self.calls
        while True:
            batch = [calls.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(calls.get_nowait())
                except queue.Empty:
                    break
            self.batches += 1
            done: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
            close_old_connections()
            for loop, future, func, args, kwargs in batch:
                try:
                    outcome: tuple[asyncio.Future[Any], bool, Any] = (future, True, func(*args, **kwargs))
                except Exception as exc:
                    outcome = (future, False, exc)
                    close_old_connections()  # a broken connection is not handed to the next call
                done.setdefault(loop, []).append(outcome)
            close_old_connections()
            for loop, outcomes in done.items():
                try:
                    loop.call_soon_threadsafe(_settle, outcomes)
                except RuntimeError:  # the loop is closed: nobody waits for these any more
                    pass


def _settle(outcomes: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in outcomes:
        if future.done():  # the caller was cancelled meanwhile
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


WORKERS = _Workers(DB_THREADS)


def db_offthread(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` as a coroutine function run on the websocket database threads.

    Connections are closed (or returned to the pool) before and after each batch of calls, in the worker
    thread that opened them (Django keeps a connection per thread there), and after any call that failed.
    """

    @functools.wraps(func)
    async def offthread(*args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        WORKERS.submit((loop, future, func, args, kwargs))
        return await future

    return offthread
