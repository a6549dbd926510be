"""The authorization matrix: every moderation and host-only endpoint, tried as every kind of caller.

For each (endpoint, caller) the test asserts whether the call is allowed, and that a refused call
changed nothing at all (roles, mutes, presence, hands, invitations, bans, the audit log, the Space).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.utils import timezone

from moderation.models import HostBan, ModerationAction, Notice, Report, SpaceBan
from rooms.models import HandRaise, Invitation, Participant, Role, Space, SpaceState
from tests.factories import UserFactory
from tests.moderation.conftest import Cast, add_member
from tickets.models import TicketOffer

pytestmark = pytest.mark.django_db

CALLERS = ["listener", "speaker", "cohost", "host", "banned", "suspended", "anonymous", "staff"]
HOST_TEAM = {"cohost", "host"}
HOST_ONLY = {"host"}


@dataclass
class MatrixWorld:
    cast: Cast
    target: Any  # a connected listener nobody else uses
    host_banned: Any
    scheduled: Space
    names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # formatted with {space}, {scheduled}, {target}, {hand}, {speaker2}, {cohost2}, {banned}, {host_banned}
    allowed: set[str]
    body: dict[str, Any] | None = None
    prepare: Callable[[MatrixWorld], None] | None = None

    def __str__(self) -> str:
        return self.name


def _one_cohost(mw: MatrixWorld) -> None:
    """Free a co-host seat so that making a co-host is possible at all."""
    Participant.objects.filter(space=mw.cast.space, user=mw.cast.cohost2).update(role=Role.SPEAKER)


def _host_free_to_start(mw: MatrixWorld) -> None:
    """End the live Space (a host has one live Space at a time) so the scheduled one can start."""
    Space.objects.filter(pk=mw.cast.space.pk).update(state=SpaceState.ENDED, ended_at=timezone.now())


def _ticketed(mw: MatrixWorld) -> None:
    TicketOffer.objects.create(space=mw.scheduled, price_cents=500, capacity=10)


ENDPOINTS = [
    Endpoint("edit", "patch", "spaces/{space}", HOST_ONLY, {"title": "Renamed"}),
    Endpoint("end", "post", "spaces/{space}/end", HOST_ONLY, {"reason": "done"}),
    Endpoint("cancel", "post", "spaces/{scheduled}/cancel", HOST_ONLY),
    Endpoint("start", "post", "spaces/{scheduled}/start", HOST_ONLY, None, _host_free_to_start),
    Endpoint("ticketing-remove", "delete", "spaces/{scheduled}/ticketing", HOST_ONLY, None, _ticketed),
    Endpoint("hand-queue", "get", "spaces/{space}/hands", HOST_TEAM),
    Endpoint("hand-approve", "post", "spaces/{space}/hands/{hand}/approve", HOST_TEAM),
    Endpoint("hand-decline", "post", "spaces/{space}/hands/{hand}/decline", HOST_TEAM),
    Endpoint("invite-speaker", "post", "spaces/{space}/invitations", HOST_TEAM, {"username": "{target}"}),
    Endpoint(
        "invite-cohost",
        "post",
        "spaces/{space}/invitations",
        HOST_ONLY,
        {"username": "{target}", "role": "cohost"},
        _one_cohost,
    ),
    Endpoint("mute", "post", "spaces/{space}/participants/{speaker2}/mute", HOST_TEAM),
    Endpoint("mute-all", "post", "spaces/{space}/mute-all", HOST_TEAM),
    Endpoint("move-to-listeners", "post", "spaces/{space}/participants/{speaker2}/move-to-listeners", HOST_TEAM),
    Endpoint("remove", "post", "spaces/{space}/participants/{target}/remove", HOST_TEAM, {"ban": "host"}),
    Endpoint("make-cohost", "put", "spaces/{space}/participants/{speaker2}/cohost", HOST_ONLY, None, _one_cohost),
    Endpoint("unmake-cohost", "delete", "spaces/{space}/participants/{cohost2}/cohost", HOST_ONLY),
    Endpoint("moderation-log", "get", "spaces/{space}/moderation-log", HOST_TEAM),
    Endpoint("inbox", "get", "spaces/{space}/messages", HOST_TEAM),
    Endpoint("space-bans", "get", "spaces/{space}/bans", HOST_TEAM),
    Endpoint("host-bans", "get", "spaces/{space}/bans?scope=host", HOST_TEAM),
    Endpoint("ban", "post", "spaces/{space}/bans", HOST_TEAM, {"username": "{target}"}),
    Endpoint("host-ban", "post", "spaces/{space}/bans", HOST_TEAM, {"username": "{target}", "scope": "host"}),
    Endpoint("unban", "delete", "spaces/{space}/bans/{banned}", HOST_TEAM),
    Endpoint("host-unban", "delete", "spaces/{space}/bans/{host_banned}?scope=host", HOST_ONLY),
]


@pytest.fixture
def mw(cast: Cast) -> MatrixWorld:
    host_banned = UserFactory()
    HostBan.objects.create(host=cast.host, user=host_banned, banned_by=cast.host)
    scheduled = Space.objects.create(
        host=cast.host, title="Later", scheduled_start=timezone.now() + timezone.timedelta(days=1)
    )
    mw = MatrixWorld(cast=cast, target=add_member(cast.space), host_banned=host_banned, scheduled=scheduled)
    mw.names = {
        "space": str(cast.space.pk),
        "scheduled": str(scheduled.pk),
        "target": mw.target.username,
        "hand": cast.listener2.username,
        "speaker2": cast.speaker2.username,
        "cohost2": cast.cohost2.username,
        "banned": cast.banned.username,
        "host_banned": host_banned.username,
    }
    return mw


def state() -> dict[str, Any]:
    """Everything a moderation or host-only call could change."""
    return {
        "spaces": sorted(Space.objects.values_list("pk", "state", "title", "listener_count")),
        "participants": sorted(
            Participant.objects.values_list("space_id", "user_id", "role", "is_muted", "is_connected")
        ),
        "hands": sorted(HandRaise.objects.values_list("space_id", "user_id", "state")),
        "invitations": sorted(Invitation.objects.values_list("space_id", "invitee_id", "role", "state")),
        "space_bans": sorted(SpaceBan.objects.values_list("space_id", "user_id")),
        "host_bans": sorted(HostBan.objects.values_list("host_id", "user_id")),
        "audit": ModerationAction.objects.count(),
        "reports": Report.objects.count(),
        "notices": Notice.objects.count(),
        "offers": sorted(TicketOffer.objects.values_list("space_id", "price_cents", "capacity")),
    }


def _client(mw: MatrixWorld, caller: str, make_client: Callable[..., Any]) -> Any:
    if caller == "anonymous":
        return make_client(None)
    return make_client(getattr(mw.cast, caller))


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_authorization_matrix(mw: MatrixWorld, make_client, endpoint: Endpoint, caller: str) -> None:
    if endpoint.prepare is not None:
        endpoint.prepare(mw)
    path = "/api/v1/" + endpoint.path.format(**mw.names)
    body = {k: v.format(**mw.names) for k, v in (endpoint.body or {}).items()}
    before = state()

    response = getattr(_client(mw, caller, make_client), endpoint.method)(path, body or None, format="json")

    if caller in endpoint.allowed:
        assert 200 <= response.status_code < 300, (response.status_code, response.data)
        if endpoint.method != "get":
            assert state() != before, "an allowed write changed nothing"
    else:
        assert response.status_code in (401, 403), (response.status_code, response.data)
        assert set(response.data) == {"code", "detail", "extra"}
        assert state() == before, "a refused call changed something"


def test_matrix_covers_every_refusal_code(mw: MatrixWorld, make_client) -> None:
    """The refusals say why: not signed in, suspended, or not the host (team)."""
    path = f"/api/v1/spaces/{mw.cast.space.pk}/mute-all"
    codes = {
        caller: _client(mw, caller, make_client).post(path, None, format="json").data["code"]
        for caller in ["listener", "banned", "suspended", "anonymous", "staff"]
    }
    assert codes == {
        "listener": "not_host_team",
        "banned": "not_host_team",
        "suspended": "account_suspended",
        "anonymous": "not_authenticated",
        "staff": "not_host_team",
    }
    edit = _client(mw, "cohost", make_client).patch(f"/api/v1/spaces/{mw.cast.space.pk}", {"title": "x"})
    assert (edit.status_code, edit.data["code"]) == (403, "not_host")
    assert SpaceState.LIVE == Space.objects.get(pk=mw.cast.space.pk).state
