"""The REST join on the bounded pool (spaces_project/common/pooled_http.py) answers exactly as Django's
ASGI handler does: same status, headers and error body for every outcome, the same rules for token and
session callers (CSRF included), throttles, and no database connection left behind."""

from __future__ import annotations

import asyncio
import re
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


# --- the lean path (spaces_project/common/lean_http.py) ------------------------------------------------
POOLED: Any = application.application_mapping["http"]


def _send(app: Any, path: str, headers: dict[str, str], body: bytes | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post(path, headers=headers, content=body)

    return asyncio.run(go())


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which path each request through ``application`` took: "lean" or "full"."""
    paths: list[str] = []
    respond = type(POOLED.lean).respond

    def spy(self: Any, scope: Any, body_file: Any) -> Any:
        response = respond(self, scope, body_file)
        paths.append("lean" if response is not None else "full")
        return response

    monkeypatch.setattr(type(POOLED.lean), "respond", spy)
    return paths


def _identical(lean: httpx.Response, django: httpx.Response, *, token: bool = False) -> None:
    """Same status, the same header lines in the same order, the same body (a LiveKit token and an HLS link
    are signed per call: their claims, minus the times, must match)."""
    assert lean.status_code == django.status_code, (lean.text, django.text)
    if not token:
        assert lean.headers.raw == django.headers.raw
        assert lean.content == django.content
        return
    strip = {b"content-length"}
    assert [h for h in lean.headers.raw if h[0].lower() not in strip] == [
        h for h in django.headers.raw if h[0].lower() not in strip
    ]
    a, b = lean.json(), django.json()
    assert list(a) == list(b)
    for key in ("token", "hls_url"):
        if key in a:
            assert _claims(a.pop(key)) == _claims(b.pop(key))
    assert a == b


def _claims(signed: str) -> Any:
    import jwt

    if signed.count(".") != 2:  # an HLS link: /hls/{sig}/{expires}/{listener}/{space}/index.m3u8
        parts = signed.split("/")
        return parts[:-5] + parts[-3:]
    claims = jwt.decode(signed, options={"verify_signature": False})
    return {k: v for k, v in claims.items() if k not in {"exp", "nbf", "iat", "jti"}}


def _both(path: str, headers: dict[str, str], body: bytes | None = None) -> tuple[httpx.Response, httpx.Response]:
    return _send(application, path, headers, body), _send(django_asgi_app, path, headers, body)


JSON = {"Content-Type": "application/json"}


def test_every_join_outcome_is_byte_for_byte_the_same_on_the_lean_path(taken: list[str], settings: Any) -> None:
    from accounts.models import Block
    from tests.support.builders import make_paid_ticket, make_ticketed_space

    space, ended = live_space(), live_space(state=SpaceState.ENDED)
    ticketed = make_ticketed_space()
    Space.objects.filter(pk=ticketed.pk).update(state=SpaceState.LIVE)
    banned, blocked, suspended, inactive, plain = (UserFactory() for _ in range(5))
    SpaceBan.objects.create(space=space, user=banned, banned_by=space.host)
    Block.objects.create(blocker=space.host, blocked=blocked)
    token = {u.pk: token_for(u) for u in (banned, blocked, suspended, inactive, plain)}
    type(suspended).objects.filter(pk=suspended.pk).update(is_suspended=True)
    type(inactive).objects.filter(pk=inactive.pk).update(is_active=False)

    def auth(user: Any) -> dict[str, str]:
        return {"Authorization": f"Token {token[user.pk]}"}

    join = f"/api/v1/spaces/{space.pk}/join"
    cases: list[tuple[str, dict[str, str], bytes | None, tuple[int, str]]] = [
        (join, {}, None, (401, "not_authenticated")),
        (join, {"Authorization": "Token nope"}, None, (401, "invalid_token")),
        (join, auth(inactive), None, (401, "account_inactive")),
        (join, auth(suspended), None, (401, "account_suspended")),
        (join, {"Authorization": "Bearer x"}, None, (401, "not_authenticated")),
        (join, {"Authorization": "Token a b"}, None, (401, "authentication_failed")),
        (join, auth(banned), None, (403, "banned")),
        (join, auth(blocked), None, (403, "blocked")),
        (f"/api/v1/spaces/{ended.pk}/join", auth(plain), None, (409, "space_not_live")),
        ("/api/v1/spaces/99999999/join", auth(plain), None, (404, "space_not_found")),
        (f"/api/v1/spaces/{ticketed.pk}/join", auth(plain), None, (402, "ticket_required")),
        (join, {**auth(plain), **JSON}, b'{"transport": "carrier-pigeon"}', (400, "invalid_input")),
        (join, {**auth(plain), **JSON}, b"[1, 2]", (400, "invalid_input")),
        (join, {**auth(plain), **JSON}, b'{"transport": ', (400, "parse_error")),
        (join, {**auth(plain), **JSON}, b'{"transport": "\\u0000"}', (400, "invalid_character")),
    ]
    seen = []
    for path, headers, body, expected in cases:
        lean, django = _both(path, headers, body)
        _identical(lean, django)
        seen.append((lean.status_code, lean.json()["code"]))
        assert seen[-1] == expected
    assert taken == ["lean"] * len(cases)
    assert not Participant.objects.filter(user__in=[banned, blocked, suspended, inactive, plain]).exists()

    settings.LIVEKIT_API_KEY = ""  # no LiveKit: 503, nothing recorded
    lean, django = _both(join, auth(plain))
    _identical(lean, django)
    assert (lean.status_code, lean.json()["code"]) == (503, "audio_unavailable")
    assert not Participant.objects.filter(user=plain).exists()
    make_paid_ticket(space=ticketed, buyer=plain)
    assert _send(application, f"/api/v1/spaces/{ticketed.pk}/join", auth(plain)).status_code == 503


def test_a_successful_lean_join_is_the_same_as_django_s_for_webrtc_and_hls(taken: list[str], settings: Any) -> None:
    space = live_space()
    users = [UserFactory() for _ in range(4)]
    path = f"/api/v1/spaces/{space.pk}/join"
    for user, body in zip(users[:2], [None, b'{"transport": "webrtc"}'], strict=True):
        headers = {"Authorization": f"Token {token_for(user)}", **(JSON if body else {})}
        django = _send(django_asgi_app, path, headers, body)  # first join on Django's path, then again lean
        lean = _send(application, path, headers, body)
        _identical(lean, django, token=True)
        assert lean.status_code == 200 and lean.json()["transport"] == "webrtc"
    first = _send(application, path, {"Authorization": f"Token {token_for(users[2])}"})  # a first join, lean
    assert first.status_code == 200 and first.json()["role"] == "listener"
    # HLS (data saver): another policy for the pages (the HLS origin), a signed link instead of LiveKit's.
    settings.SPACES_HLS_SECRET = "lean-path-test-secret"
    settings.SPACES_HLS_URL = "https://hls.example.test"
    hls = {"Authorization": f"Token {token_for(users[3])}", **JSON}
    django = _send(django_asgi_app, path, hls, b'{"transport": "hls"}')
    lean = _send(application, path, hls, b'{"transport": "hls"}')
    _identical(lean, django, token=True)
    assert lean.json()["transport"] == "hls" and "hls.example.test" in lean.headers["content-security-policy"]
    assert taken == ["lean"] * 4
    assert Participant.objects.filter(space=space, user__in=users, is_connected=True).count() == 4
    assert Space.objects.get(pk=space.pk).listener_count == 4


def test_the_join_throttle_counts_both_paths_together(taken: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "join", "3/min")
    space = live_space()
    auth = {"Authorization": f"Token {token_for(UserFactory())}"}
    path = f"/api/v1/spaces/{space.pk}/join"
    statuses = [
        _send(django_asgi_app, path, auth).status_code,
        _send(application, path, auth).status_code,
        _send(django_asgi_app, path, auth).status_code,
    ]
    lean, django = _both(path, auth)
    assert statuses == [200, 200, 200]
    assert (lean.status_code, lean.json()["code"]) == (429, "throttled") == (django.status_code, django.json()["code"])
    # the same headers (Retry-After is the wait in whole seconds, computed a moment apart)
    assert [k for k, _ in lean.headers.raw] == [k for k, _ in django.headers.raw]
    assert abs(int(lean.headers["retry-after"]) - int(django.headers["retry-after"])) <= 1
    assert taken == ["lean", "lean"]


def test_the_lean_path_takes_only_the_storm_shape(taken: list[str], settings: Any) -> None:
    space = live_space()
    user = UserFactory()
    path = f"/api/v1/spaces/{space.pk}/join"
    auth = {"Authorization": f"Token {token_for(user)}"}
    assert _send(application, path, auth).status_code == 200
    assert _send(application, path, {**auth, "Accept": "application/json"}).status_code == 200
    utf8 = {**auth, "Content-Type": "application/json; charset=utf-8"}
    assert _send(application, path, utf8, b'{"transport": "webrtc"}').status_code == 200
    assert taken == ["lean", "lean", "lean"]
    del taken[:]
    others: list[tuple[str, dict[str, str], bytes | None]] = [
        (path, {**auth, **_session(user)}, None),  # a session cookie: sessions, CSRF, messages decide
        (path, {**auth, "Cookie": "csrftoken=x"}, None),
        (path + "?format=api", auth, None),  # a query string (the browsable API, NUL checks)
        (path, {**auth, "Accept": "text/html"}, None),  # another renderer
        (path, {**auth, "Content-Type": "application/x-www-form-urlencoded"}, b"transport=hls"),
        (path, {**auth, **JSON}, b'{"transport": "' + b"x" * 2000 + b'"}'),  # over MAX_BODY
        (path, auth, b'{"transport": "hls"}'),  # a body without its content type
    ]
    for p, headers, body in others:
        lean_or_not, django = _both(p, headers, body)
        assert lean_or_not.status_code == django.status_code, (p, headers, lean_or_not.text)
    assert taken == []  # none of them reached the lean path
    # A Host the deployment does not serve: the request half refuses it, the full chain answers 400.
    bad_host = _send(application, path, {**auth, "Host": "evil.example"})
    assert bad_host.status_code == 400 and taken == ["full"]
    # A refused user agent (CommonMiddleware raises): the full chain answers 403.
    settings.DISALLOWED_USER_AGENTS = [re.compile("crawler")]
    refused = _send(application, path, {**auth, "User-Agent": "crawler/1.0"})
    assert refused.status_code == 403 and taken == ["full", "full"]
    settings.DISALLOWED_USER_AGENTS = []
    # HTTPS required: the redirect is the full chain's answer (middleware read their settings when loaded).
    from spaces_project.common.pooled_http import LEAN_ROUTES, PooledRoutes

    settings.SECURE_SSL_REDIRECT = True
    redirected = _send(PooledRoutes(django_asgi_app, lean=LEAN_ROUTES), path, auth)
    assert redirected.status_code == 301 and taken == ["full", "full", "full"]


def test_a_middleware_the_lean_path_was_not_reviewed_for_turns_it_off(taken: list[str], settings: Any) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]
    space = live_space()
    joined = _send(
        application, f"/api/v1/spaces/{space.pk}/join", {"Authorization": f"Token {token_for(UserFactory())}"}
    )
    assert joined.status_code == 200
    assert taken == ["full"]


def test_an_unexpected_error_on_the_lean_path_is_django_s_500(
    taken: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rooms import services

    def broken(**_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "space_join_any", broken)
    space = live_space()
    lean, django = _both(f"/api/v1/spaces/{space.pk}/join", {"Authorization": f"Token {token_for(UserFactory())}"})
    # The same header lines; Django's 500 page has no Vary of its own, and the lean path appends the session
    # middleware's "Vary: Cookie" after the other added headers (lines of different names: order is not
    # significant, RFC 9110 5.3).
    assert (lean.status_code, sorted(lean.headers.raw), lean.content) == (
        django.status_code,
        sorted(django.headers.raw),
        django.content,
    )
    assert (lean.status_code, lean.json()["code"]) == (500, "server_error")
    assert taken == ["lean"]


def test_a_probe_that_cannot_explain_the_chain_turns_the_lean_path_off(
    taken: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from spaces_project.common import lean_http
    from spaces_project.common.pooled_http import LEAN_ROUTES, PooledRoutes

    def unexplained(self: Any, full: Any, view_only: Any) -> None:
        raise ValueError("the middleware removed a header of the view's")

    monkeypatch.setattr(lean_http._Envelope, "__init__", unexplained)
    app = PooledRoutes(django_asgi_app, lean=LEAN_ROUTES)
    space = live_space()
    auth = {"Authorization": f"Token {token_for(UserFactory())}"}
    assert _send(app, f"/api/v1/spaces/{space.pk}/join", auth).status_code == 200
    assert _send(app, f"/api/v1/spaces/{space.pk}/join", auth).status_code == 200
    assert taken == ["full", "full"] and app.lean is not None and not app.lean.reviewed
