"""Fixtures for the discovery tests: a viewer, and a recorder of published events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from accounts.models import User
from spaces_project.realtime import publish as realtime
from tests.factories import UserFactory


@dataclass
class Published:
    type: str
    data: dict[str, Any]
    space: int | None
    seq: int | None
    audience: str
    user_ids: list[int]


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[Published]:
    """Every event that reached the transport (i.e. was published after commit), in order."""
    sent: list[Published] = []

    def record(event: realtime.Event, audience: realtime.Audience, user_ids: list[int]) -> None:
        sent.append(Published(event.type, event.data, event.space, event.seq, str(audience), list(user_ids)))

    monkeypatch.setattr(realtime, "_publish", record)
    return sent


def of_type(events: list[Published], type_: str) -> list[Published]:
    return [e for e in events if e.type == type_]


@pytest.fixture
def viewer() -> User:
    return UserFactory()


@pytest.fixture
def client_of(make_client: Callable[..., Any]) -> Callable[..., Any]:
    return make_client


@pytest.fixture
def call(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """``call(fn, *args)`` → ``fn(*args)`` with the on-commit callbacks it registered run (as on a real commit)."""

    def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return _call
