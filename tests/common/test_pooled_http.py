"""The REST join on the bounded pool (spaces_project/common/pooled_http.py) answers exactly as Django's
ASGI handler does: same status, headers and error body for every outcome, the same rules for token and
session callers (CSRF included), throttles, and no database connection left behind."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from django.core import signals
from django.db import connection
from django.test import Client
from rest_framework.throttling import ScopedRateThrottle

from moderation.models import SpaceBan
from rooms.models import Participant, Space, SpaceState
from spaces_project.asgi import application, django_asgi_app
from tests.factories import UserFactory
from tests.support.builders import live_space, token_for

pytestmark = pytest.mark.django_db(transaction=True)

Call = Callable[..., httpx.Response]


def _call(app: Any, method: str, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, path, headers=headers or {})

    return asyncio.run(go())


def _pooled(method: str, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return _call(application, method, path, headers)


def _django(method: str, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return _call(django_asgi_app, method, path, headers)


def _same(a: httpx.Response, b: httpx.Response, *, body: bool = True) -> None:
    assert a.status_code == b.status_code, (a.text, b.text)
    skip = {"content-length"} if not body else set()
    assert {k: v for k, v in a.headers.items() if k not in skip} == {
        k: v for k, v in b.headers.items() if k not in skip
    }
    if body:
        assert a.content == b.content


def _session(user: Any) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}


def test_the_join_runs_on_the_pool_and_other_requests_do_not() -> None:
    threads: list[str] = []

    def seen(**_kwargs: Any) -> None:
        threads.append(threading.current_thread().name)

    space = live_space()
    user = UserFactory()
    signals.request_started.connect(seen)
    try:
        joined = _pooled("POST", f"/api/v1/spaces/{space.pk}/join", {"Authorization": f"Token {token_for(user)}"})
        health = _pooled("GET", "/healthz")
        detail = _pooled("GET", f"/api/v1/spaces/{space.pk}", {"Authorization": f"Token {token_for(user)}"})
    finally:
        signals.request_started.disconnect(seen)
    assert (joined.status_code, health.status_code, detail.status_code) == (200, 200, 200)
    assert threads[0].startswith("http-pool")
    assert not any(name.startswith("http-pool") for name in threads[1:])
    assert Participant.objects.get(space=space, user=user).is_connected
    assert Space.objects.get(pk=space.pk).listener_count == 1


def test_every_join_outcome_is_the_same_on_both_paths(settings: Any) -> None:
    space = live_space()
    ended = live_space(state=SpaceState.ENDED)
    banned = UserFactory()
    SpaceBan.objects.create(space=space, user=banned, banned_by=space.host)
    suspended = UserFactory()
    token = {u.pk: token_for(u) for u in (banned, suspended)}
    type(suspended).objects.filter(pk=suspended.pk).update(is_suspended=True)
    cases: list[tuple[str, dict[str, str]]] = [
        (f"/api/v1/spaces/{space.pk}/join", {}),  # no credentials: 401
        (f"/api/v1/spaces/{space.pk}/join", {"Authorization": "Token nope"}),  # 401
        (f"/api/v1/spaces/{space.pk}/join", {"Authorization": f"Token {token[banned.pk]}"}),  # 403 banned
        (f"/api/v1/spaces/{space.pk}/join", {"Authorization": f"Token {token[suspended.pk]}"}),  # 401
        (f"/api/v1/spaces/{ended.pk}/join", {"Authorization": f"Token {token[banned.pk]}"}),  # 409 not live
        ("/api/v1/spaces/99999999/join", {"Authorization": f"Token {token[banned.pk]}"}),  # 404
        (f"/api/v1/spaces/{space.pk}/join", _session(banned)),  # session without CSRF token: 403
        (f"/api/v1/spaces/{space.pk}/join", {**_session(banned), "Origin": "http://evil.example"}),
    ]
    seen = set()
    for path, headers in cases:
        pooled, django = _pooled("POST", path, headers), _django("POST", path, headers)
        _same(pooled, django)
        assert pooled.status_code >= 400 and set(pooled.json()) == {"code", "detail", "extra"}
        seen.add((pooled.status_code, pooled.json()["code"]))
    assert seen == {
        (401, "not_authenticated"),
        (401, "invalid_token"),
        (401, "account_suspended"),
        (403, "banned"),
        (409, "space_not_live"),
        (404, "space_not_found"),
        (403, "permission_denied"),  # CSRF: a session caller without the token
    }
    assert not Participant.objects.filter(user__in=[banned, suspended]).exists()


def test_a_successful_join_is_the_same_on_both_paths_for_token_and_session_callers() -> None:
    space = live_space()
    by_token, by_session = UserFactory(), UserFactory()
    auth = {"Authorization": f"Token {token_for(by_token)}"}
    first, again = (
        _django("POST", f"/api/v1/spaces/{space.pk}/join", auth),
        _pooled("POST", f"/api/v1/spaces/{space.pk}/join", auth),
    )
    _same(first, again, body=False)  # the token's timestamps differ
    assert {k: v for k, v in first.json().items() if k != "token"} == {
        k: v for k, v in again.json().items() if k != "token"
    }
    # A session caller (the web client) with its CSRF token: the same middleware decides on both paths.
    client = Client(enforce_csrf_checks=True)
    client.force_login(by_session)
    client.get("/")  # sets the csrftoken cookie
    cookies = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
    headers = {"Cookie": cookies, "X-CSRFToken": client.cookies["csrftoken"].value}
    session_join = _pooled("POST", f"/api/v1/spaces/{space.pk}/join", headers)
    assert session_join.status_code == 200, session_join.text
    assert Space.objects.get(pk=space.pk).listener_count == 2


def test_the_join_throttle_applies_on_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "join", "2/min")
    space = live_space()
    user = UserFactory()
    auth = {"Authorization": f"Token {token_for(user)}"}
    statuses = [_pooled("POST", f"/api/v1/spaces/{space.pk}/join", auth).status_code for _ in range(2)]
    pooled, django = (
        _pooled("POST", f"/api/v1/spaces/{space.pk}/join", auth),
        _django("POST", f"/api/v1/spaces/{space.pk}/join", auth),
    )
    assert statuses == [200, 200]
    assert (
        (pooled.status_code, pooled.json()["code"])
        == (429, "throttled")
        == (
            django.status_code,
            django.json()["code"],
        )
    )
    assert "retry-after" in pooled.headers


def test_pooled_joins_leave_no_database_session_open(postgres_url: str) -> None:
    # PostgreSQL only: it counts sessions in pg_stat_activity (the postgres_url fixture skips elsewhere)
    space = live_space()
    users = [UserFactory() for _ in range(6)]
    tokens = [token_for(u) for u in users]

    def backends() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return int(cursor.fetchone()[0])

    before = backends()

    async def crowd() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await asyncio.gather(
                *(
                    client.post(f"/api/v1/spaces/{space.pk}/join", headers={"Authorization": f"Token {t}"})
                    for t in tokens
                )
            )

    assert [r.status_code for r in asyncio.run(crowd())] == [200] * len(users)
    assert Space.objects.get(pk=space.pk).listener_count == len(users)
    assert backends() <= before


def test_a_guest_join_is_the_same_on_both_paths() -> None:
    closed, open_ = live_space(), live_space(guests_allowed=True)
    threads: list[str] = []

    def seen(**_kwargs: Any) -> None:
        threads.append(threading.current_thread().name)

    refused = _pooled("POST", f"/api/v1/spaces/{closed.pk}/guest-join")
    _same(refused, _django("POST", f"/api/v1/spaces/{closed.pk}/guest-join"))
    assert (refused.status_code, refused.json()["code"]) == (403, "guests_not_allowed")
    signals.request_started.connect(seen)
    try:
        pooled = _pooled("POST", f"/api/v1/spaces/{open_.pk}/guest-join")
    finally:
        signals.request_started.disconnect(seen)
    django = _django("POST", f"/api/v1/spaces/{open_.pk}/guest-join")
    _same(pooled, django, body=False)  # a new identity and token each time
    assert pooled.status_code == 200 and set(pooled.json()) == set(django.json())
    assert threads and threads[0].startswith("http-pool")


def test_a_pooled_join_answers_while_the_cache_is_down(settings: Any) -> None:
    # The join's throttle and LiveKit room memo live in the cache: with Redis unreachable the pool's
    # threads (their own cache clients) still admit, and the count stays on the Space row.
    from tests.common.test_cache_outage import _caches

    settings.CACHES = _caches("spaces_project.common.cache.ResilientRedisCache")
    space = live_space()
    user = UserFactory()
    threads: list[str] = []

    def seen(**_kwargs: Any) -> None:
        threads.append(threading.current_thread().name)

    signals.request_started.connect(seen)
    try:
        joined = _pooled("POST", f"/api/v1/spaces/{space.pk}/join", {"Authorization": f"Token {token_for(user)}"})
    finally:
        signals.request_started.disconnect(seen)
    assert joined.status_code == 200, joined.text
    assert threads and threads[0].startswith("http-pool")
    assert Space.objects.get(pk=space.pk).listener_count == 1
