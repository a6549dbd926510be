"""Database calls from the agent's event loop: the sync services run in Django's sync thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection

T = TypeVar("T")


def _call(fn: Callable[..., T], kwargs: dict[str, Any]) -> T:
    close_old_connections()  # a connection broken by a database restart is replaced, not reused
    return fn(**kwargs)


async def db(fn: Callable[..., T], **kwargs: Any) -> T:
    """Run a short sync call (ORM, storage) off the event loop, one at a time, on one connection."""
    return await sync_to_async(_call, thread_sensitive=True)(fn, kwargs)


def _call_closing(fn: Callable[..., T], kwargs: dict[str, Any]) -> T:
    try:
        return fn(**kwargs)
    finally:
        connection.close()


async def db_long(fn: Callable[..., T], **kwargs: Any) -> T:
    """A long call (joining a replay) on a thread of its own, so the short calls are not held up."""
    return await sync_to_async(_call_closing, thread_sensitive=False)(fn, kwargs)
