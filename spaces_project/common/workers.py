"""Calls from async code run on a small pool of threads, with a lean hop (no asgiref, no executor).

asgiref's ``SyncToAsync`` over a ``ThreadPoolExecutor`` cost ~0.2 ms of CPU per call in a join storm (a
context copy, a ``concurrent.futures.Future`` with its condition lock chained to an asyncio future,
``shield``, one loop wake-up per call; docs/benchmarks.md, "Third round: the websocket half"). Here a call
is one tuple on a ``SimpleQueue``; a worker takes every call queued when it wakes (up to ``max_batch``),
runs them one after the other between two ``close_old_connections``, and settles their futures with one
wake-up of the event loop per batch. The calls run in the worker thread's own context (Django's
connections are per thread there, as under ``SyncToAsync``); nothing they do may read the caller's
context variables. Users: the websocket's database reads (``spaces_project.realtime.offthread``) and the
pooled HTTP routes (``spaces_project.common.pooled_http``).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections

logger = logging.getLogger(__name__)

MAX_BATCH = 32  # calls one worker takes at once (a crowd); each still runs on its own

_Call = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class Workers:
    """``size`` daemon threads reading one queue of calls (started on first use).

    A worker takes every call queued when it wakes, up to ``max_batch``, runs them one after the other
    between two ``close_old_connections`` (and after any call that failed), and settles their futures
    with one wake-up of the event loop per batch.
    """

    def __init__(self, size: int, *, max_batch: int = MAX_BATCH, name: str = "ws-db") -> None:
        self.size = max(1, size)
        self.max_batch = max(1, max_batch)
        self.name = name
        self.calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self.batches = 0  # batches run (tests read it)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    async def run(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``func(*args, **kwargs)`` on one of the threads; its result (or exception) here."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.submit((loop, future, func, args, kwargs))
        return await future

    def submit(self, call: _Call) -> None:
        if len(self._threads) < self.size:
            self._start()
        self.calls.put(call)

    def _start(self) -> None:
        with self._lock:
            while len(self._threads) < self.size:
                thread = threading.Thread(target=self._run, name=f"{self.name}_{len(self._threads)}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _run(self) -> None:
        calls = self.calls
        while True:
            batch = [calls.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(calls.get_nowait())
                except queue.Empty:
                    break
            self.batches += 1
            done: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
            _close_old_connections()
            for loop, future, func, args, kwargs in batch:
                try:
                    outcome: tuple[asyncio.Future[Any], bool, Any] = (future, True, func(*args, **kwargs))
                except Exception as exc:
                    outcome = (future, False, exc)
                    _close_old_connections()  # a broken connection is not handed to the next call
                done.setdefault(loop, []).append(outcome)
            _close_old_connections()
            for loop, outcomes in done.items():
                try:
                    loop.call_soon_threadsafe(_settle, outcomes)
                except RuntimeError:  # the loop is closed: nobody waits for these any more
                    pass


def _close_old_connections() -> None:
    """``close_old_connections`` that never ends a worker: a thread that died would leave every call
    queued after it waiting for ever (a connection that cannot even be checked is dropped by Django at
    its next use; the failure is logged)."""
    try:
        close_old_connections()
    except Exception:
        logger.warning("workers.close_connections_failed", exc_info=True)


def _settle(outcomes: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in outcomes:
        if future.done():  # the caller was cancelled meanwhile
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
