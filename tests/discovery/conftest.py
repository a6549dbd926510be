"""Fixtures for the discovery tests: people, live and scheduled Spaces, and a recorder of published events."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import User
from rooms import services
from rooms.models import Participant, Role, Space
from spaces_project.realtime import publish as realtime
from tests.factories import HostFactory, UserFactory
from tests.realtime.conftest import rt_prefix, server_env, servers  # noqa: F401 - server fixtures for test_live_delivery


@pytest.fixture(autouse=True)
def _private_room_prefix(settings: Any) -> None:
    # Several test runs share one livekit-server: never let two of them use the same room name.
    settings.LIVEKIT_ROOM_PREFIX = f"t{uuid.uuid4().hex[:8]}-"


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


def live_space(host: User | None = None, **fields: Any) -> Space:
    return services.space_create(host=host or HostFactory(), title=fields.pop("title", "Live show"), **fields)


def scheduled_space(host: User | None = None, hours: float = 2, **fields: Any) -> Space:
    start = timezone.now() + timedelta(hours=hours)
    return services.space_create(
        host=host or HostFactory(), title=fields.pop("title", "Later show"), scheduled_start=start, **fields
    )


def put_on(space: Space, user: User, role: str = Role.LISTENER, connect: bool = True) -> Participant:
    """Seat ``user`` in ``space`` in ``role`` (joined through the service, then the role set directly)."""
    if connect:
        services.space_join(space_id=space.pk, user=user)
    participant, _ = Participant.objects.get_or_create(space=space, user=user, defaults={"role": role})
    if participant.role != role:
        Participant.objects.filter(pk=participant.pk).update(role=role)
        participant.role = role
    return participant


def follow(follower: User, *followees: User) -> None:
    for followee in followees:
        account_services.follow_create(follower=follower, followee=followee)


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
