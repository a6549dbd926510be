"""The authorization matrix: every moderation and host-only endpoint, tried as every kind of caller.

For each (endpoint, caller) the test asserts whether the call is allowed, and that a refused call
changed nothing at all (roles, mutes, presence, hands, invitations, bans, the audit log, the Space).

The live Space is tried by the current roles and by former co-hosts (one the host demoted, one the host
banned host-wide). The same Space is then tried ended, canceled and scheduled: only the host keeps
anything there (the reads and their own lists, docs/security.md "Host-team power and Space state"); a
co-host row left in a Space that is not live grants nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from moderation import services as moderation_services
from moderation.models import HostBan, ModerationAction, Notice, Report, SpaceBan
from rooms import services as rooms_services
from rooms.models import HandRaise, Invitation, Participant, Role, Space, SpaceState
from tests.factories import UserFactory
from tests.support.builders import Cast
from tests.support.builders import member as add_member
from tickets.models import TicketOffer

pytestmark = pytest.mark.django_db

FORMER_COHOSTS = ["demoted_cohost", "banned_cohost"]
CALLERS = ["listener", "speaker", "cohost", "host", "banned", "suspended", "anonymous", "staff", *FORMER_COHOSTS]
HOST_TEAM = {"cohost", "host"}
HOST_ONLY = {"host"}


@dataclass
class MatrixWorld:
    cast: Cast
    target: Any  # a connected listener nobody else uses
    host_banned: Any
    scheduled: Space
    demoted_cohost: Any  # was a co-host of the Space; the host took the role away while it was live
    banned_cohost: Any  # was a co-host of the Space; the host banned them host-wide (in its current state)
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


def _world(cast: Cast, state: str = SpaceState.LIVE) -> MatrixWorld:
    """The cast's Space, brought to ``state`` through the real services where a real path exists."""
    host_banned = UserFactory()
    HostBan.objects.create(host=cast.host, user=host_banned, banned_by=cast.host)
    scheduled = Space.objects.create(
        host=cast.host, title="Later", scheduled_start=timezone.now() + timezone.timedelta(days=1)
    )
    space = cast.space
    demoted, banned_cohost = add_member(space, Role.COHOST), add_member(space, Role.COHOST)
    rooms_services.cohost_remove(space_id=space.pk, actor=cast.host, target=demoted)
    if state == SpaceState.ENDED:
        rooms_services.space_end(space_id=space.pk, actor=cast.host, reason="done")
    elif state in (SpaceState.SCHEDULED, SpaceState.CANCELED):
        # No real path takes a live Space back to scheduled; the rows of the live cast stay, to prove that
        # the rule is the Space's state and not the absence of co-host rows.
        Participant.objects.filter(space=space).update(is_connected=False)
        Space.objects.filter(pk=space.pk).update(
            state=SpaceState.SCHEDULED, started_at=None, listener_count=0, scheduled_start=scheduled.scheduled_start
        )
        if state == SpaceState.CANCELED:
            rooms_services.space_cancel(space_id=space.pk, actor=cast.host)
    # The host bans the co-host host-wide once the Space is in its state (the reported order: end, then ban).
    moderation_services.host_ban_create(host=cast.host, target=banned_cohost, reason="abuse")
    space.refresh_from_db()
    assert space.state == state
    mw = MatrixWorld(
        cast=cast,
        target=add_member(space, connected=state == SpaceState.LIVE),
        host_banned=host_banned,
        scheduled=scheduled,
        demoted_cohost=demoted,
        banned_cohost=banned_cohost,
    )
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


@pytest.fixture
def mw(cast: Cast) -> MatrixWorld:
    return _world(cast)


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
    if caller in FORMER_COHOSTS:
        return make_client(getattr(mw, caller))
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


# --- the same Space ended, canceled, scheduled -------------------------------------------------------

NOT_LIVE = [SpaceState.ENDED, SpaceState.CANCELED, SpaceState.SCHEDULED]
STATE_CALLERS = ["host", "cohost", *FORMER_COHOSTS, "speaker", "listener", "staff"]
# What the host keeps in a Space that is not live: its reads, their own ban lists, and taking a co-host
# role away. Everything else needs a live Space (``space_not_live``) or a scheduled one (edit).
HOST_KEEPS = {
    "hand-queue",
    "moderation-log",
    "inbox",
    "space-bans",
    "host-bans",
    "ban",
    "host-ban",
    "unban",
    "host-unban",
    "unmake-cohost",
}
STATE_ENDPOINTS = [e for e in ENDPOINTS if "{space}" in e.path]


def allowed_in(endpoint: Endpoint, state: str) -> set[str]:
    if state == SpaceState.LIVE:
        return endpoint.allowed
    if endpoint.name in HOST_KEEPS or (endpoint.name == "edit" and state == SpaceState.SCHEDULED):
        return {"host"}
    return set()


def _try(mw: MatrixWorld, make_client: Callable[..., Any], endpoint: Endpoint, caller: str, space_state: str) -> str:
    """One call in a savepoint rolled back afterwards; '' if it behaved, else what went wrong."""
    with transaction.atomic():
        if endpoint.prepare is not None:
            endpoint.prepare(mw)
        path = "/api/v1/" + endpoint.path.format(**mw.names)
        body = {k: v.format(**mw.names) for k, v in (endpoint.body or {}).items()}
        client = _client(mw, caller, make_client)
        before = state()
        response = getattr(client, endpoint.method)(path, body or None, format="json")
        after = state()
        transaction.set_rollback(True)
    got = f"{response.status_code} {getattr(response, 'data', None)}"
    if caller in allowed_in(endpoint, space_state):
        if not 200 <= response.status_code < 300:
            return f"allowed but refused: {got}"
        if endpoint.method != "get" and after == before:
            return "an allowed write changed nothing"
        return ""
    # Refused: not the host team (403), or the tool needs a live/scheduled Space (409), whichever the
    # check meets first; either way nothing moves.
    if response.status_code not in (403, 409) or set(response.data) != {"code", "detail", "extra"}:
        return f"not refused: {got}"
    if endpoint.name in HOST_KEEPS and response.data["code"] not in ("not_host_team", "not_host"):
        return f"refused with the wrong code: {got}"
    return "a refused call changed something" if after != before else ""


@pytest.mark.parametrize("endpoint", STATE_ENDPOINTS, ids=str)
@pytest.mark.parametrize("space_state", NOT_LIVE)
def test_authorization_matrix_by_space_state(cast: Cast, make_client, space_state: str, endpoint: Endpoint) -> None:
    """Every caller, each in a savepoint of one world (one world per caller would cost minutes)."""
    mw = _world(cast, space_state)
    wrong = {caller: _try(mw, make_client, endpoint, caller, space_state) for caller in STATE_CALLERS}
    assert {caller: why for caller, why in wrong.items() if why} == {}


@pytest.mark.parametrize("space_state", NOT_LIVE)
def test_a_host_wide_ban_leaves_no_cohost_row_in_a_space_that_is_not_live(cast: Cast, space_state: str) -> None:
    mw = _world(cast, space_state)
    row = Participant.objects.get(space=cast.space, user=mw.banned_cohost)
    assert row.role == Role.LISTENER
    assert ModerationAction.objects.filter(
        space=cast.space, action="cohost_remove", target=mw.banned_cohost, details__cause="host_ban"
    ).exists()


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
