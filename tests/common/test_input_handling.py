"""Hostile input over HTTP: every answer is a 4xx in the ``{code, detail, extra}`` shape, never a 500.

Routes are taken from the URL resolver itself, so a route added later is covered without editing
this file. Each request is made as the host of a live Space (the strongest caller), so it gets past
the permission checks to the code that reads the input.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import User
from rooms.models import Participant, Role, Space, SpaceState
from tests.factories import HostFactory, UserFactory

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# Documented "a service this call needs is down" answers: not a crash (docs/api.md).
UNAVAILABLE = {"audio_unavailable", "payment_provider_error"}


def _walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


ROUTES = [route for route in _walk(get_resolver().url_patterns) if not route.startswith(("admin/", "^"))]
API_ROUTES = [route for route in ROUTES if route.startswith("api/v1/")]
USERNAME_ROUTES = [route for route in ROUTES if "<str:username>" in route]
INT_ROUTES = [route for route in ROUTES if re.search(r"<(int|id):", route)]


def _path(route: str, *, space_id: int | str = 1, username: str = "nobody", number: int | str = 1) -> str:
    path = re.sub(r"<(int|id):space_id>", str(space_id), route).replace("<str:username>", username)
    return "/" + re.sub(r"<(int|id):invitation_id>", str(number), path)


@pytest.fixture
def host_space() -> tuple[User, Space]:
    host = HostFactory()
    space = Space.objects.create(host=host, title="Live", state=SpaceState.LIVE, started_at=timezone.now())
    Participant.objects.create(space=space, user=host, role=Role.HOST, is_connected=True, joined_at=timezone.now())
    return host, space


def _client(user: User | None = None) -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.defaults["HTTP_AUTHORIZATION"] = f"Token {Token.objects.get_or_create(user=user)[0].key}"
    return client


def _error(response: Any) -> dict[str, Any]:
    """The body of an API error, checked to be in the one error shape."""
    assert response["Content-Type"].startswith("application/json"), (response.status_code, response.content[:200])
    body = response.json()
    assert set(body) == {"code", "detail", "extra"}, body
    assert isinstance(body["code"], str) and isinstance(body["extra"], dict), body
    return dict(body)


def _no_crash(response: Any) -> None:
    assert response.status_code < 500 or _error(response)["code"] in UNAVAILABLE, (
        response.status_code,
        response.content[:300],
    )


# --- NUL bytes ---------------------------------------------------------------------------------------


def test_every_username_route_is_found() -> None:
    # The parametrised tests below are only as good as this list.
    assert len(USERNAME_ROUTES) >= 13, USERNAME_ROUTES


@pytest.mark.parametrize("route", USERNAME_ROUTES)
@pytest.mark.parametrize("method", ["GET", *WRITE_METHODS])
def test_nul_in_a_username_segment_is_not_found(route: str, method: str, host_space: tuple[User, Space]) -> None:
    host, space = host_space
    target = UserFactory(username="victim")
    response = _client(host).generic(method, _path(route, space_id=space.pk, username="vic%00tim"))
    assert response.status_code == 404, response.content[:300]
    if route.startswith("api/"):
        assert _error(response)["code"] == "not_found"
    assert not Participant.objects.filter(user=target).exists()


@pytest.mark.parametrize(
    "query",
    ["q=a%00b", "state=live%00", "topic=%00", "cursor=%00", "page_size=1%00", "scope=host%00", "a%00b=1"],
)
def test_nul_in_a_query_parameter_is_invalid_character(query: str, host_space: tuple[User, Space]) -> None:
    host, space = host_space
    for path in ("/api/v1/spaces", "/api/v1/me/notifications", f"/api/v1/spaces/{space.pk}/bans"):
        response = _client(host).get(f"{path}?{query}")
        assert response.status_code == 400, (path, response.content[:300])
        assert _error(response)["code"] == "invalid_character"


def test_nul_in_a_query_parameter_of_a_web_page_is_a_400() -> None:
    response = _client().get("/login?next=/%00")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bio": "a\u0000b"}, "bio"),
        ({"display_name": "ok", "bio\u0000": "x"}, "bio\\u0000"),
        ({"bio": "lone \ud800 surrogate"}, "bio"),
    ],
)
def test_nul_or_a_lone_surrogate_in_a_json_body_is_invalid_character(body: dict[str, str], field: str) -> None:
    user = UserFactory(bio="before")
    response = _client(user).patch("/api/v1/me", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid_character"
    assert error["extra"]["path"] == [field]
    user.refresh_from_db()
    assert user.bio == "before"


def test_nul_in_a_form_body_is_invalid_character(host_space: tuple[User, Space]) -> None:
    # (auth/token and auth/register take JSON only: login CSRF; a report takes a form too)
    host, _ = host_space
    response = _client(host).post("/api/v1/reports", {"category": "spam", "text": "a\u0000b"})
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_character"


def test_nul_in_a_json_body_deep_inside_is_found(host_space: tuple[User, Space]) -> None:
    host, space = host_space
    body = {"title": "fine", "topics": ["ok", "n\u0000ot"]}
    response = _client(host).patch(f"/api/v1/spaces/{space.pk}", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert _error(response)["extra"]["path"] == ["topics", 1]
    space.refresh_from_db()
    assert space.title == "Live"


@pytest.mark.parametrize("value", ["\x00" * 32, '"' + "\\000" * 32 + '"', "abc\x00defghijkl"])
def test_a_session_cookie_with_nul_is_treated_as_no_session(value: str) -> None:
    client = _client()
    client.cookies["sessionid"] = value
    response = client.get("/api/v1/me")
    assert response.status_code in (401, 403)
    assert _error(response)["code"] == "not_authenticated"
    assert client.get("/login").status_code == 200


# --- over-deep, over-size, non-UTF-8 and mistyped bodies --------------------------------------------


def test_every_api_route_is_found() -> None:
    assert len(API_ROUTES) >= 45, API_ROUTES


@pytest.mark.parametrize("route", API_ROUTES)
def test_a_deeply_nested_body_never_crashes_any_route(route: str, host_space: tuple[User, Space]) -> None:
    host, space = host_space
    path = _path(route, space_id=space.pk, username=host.username)
    for method in WRITE_METHODS:
        response = _client(host).generic(method, path, "[" * 100_000, content_type="application/json")
        _no_crash(response)
        if response.status_code >= 400:
            _error(response)  # parse_error where the body is read; else the route's own refusal


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/auth/register"),
        ("POST", "/api/v1/auth/token"),
        ("PATCH", "/api/v1/me"),
        ("POST", "/api/v1/reports"),
    ],
)
def test_a_deeply_nested_body_is_a_parse_error(method: str, path: str) -> None:
    response = _client(UserFactory()).generic(method, path, "[" * 100_000, content_type="application/json")
    assert response.status_code == 400
    assert _error(response)["code"] == "parse_error"


def test_nesting_deeper_than_the_limit_is_a_parse_error() -> None:
    user = UserFactory(bio="before")
    body = '{"bio": ' + "[" * 200 + "]" * 200 + "}"
    response = _client(user).patch("/api/v1/me", body, content_type="application/json")
    assert response.status_code == 400
    assert _error(response)["code"] == "parse_error"


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/auth/register", "/webhooks/stripe", "/webhooks/livekit"])
def test_an_over_size_body_is_413_json(path: str, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"bio": "x" * 20_000})
    response = _client(UserFactory()).generic("POST", path, body, content_type="application/json")
    assert response.status_code == 413, response.content[:300]
    assert _error(response)["code"] == "request_too_large"


def test_an_over_size_form_post_to_a_web_page_is_413(settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = _client().post("/logout", {"x": "y" * 20_000})
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"\xff\xfe{not utf-8", "application/json"),
        (b'{"bio": "\xc3\x28"}', "application/json"),
        ('{"bio": "ok"}', "text/plain"),
        (b"--x\r\nbroken", "multipart/form-data"),
        ("null", "application/json"),
        ("[1, 2]", "application/json"),
        ('"text"', "application/json"),
        ("NaN", "application/json"),
        ('{"bio": 1e999999}', "application/json"),
    ],
)
def test_odd_bodies_are_4xx(body: bytes | str, content_type: str) -> None:
    user = UserFactory(bio="before")
    response = _client(user).generic("PATCH", "/api/v1/me", body, content_type=content_type)
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    _error(response)
    user.refresh_from_db()
    assert user.bio == "before"


# --- huge numbers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", INT_ROUTES)
@pytest.mark.parametrize("number", [2**63, 2**70, 10**40])
def test_an_id_beyond_any_integer_column_is_a_4xx(route: str, number: int, host_space: tuple[User, Space]) -> None:
    host, space = host_space
    for method in ("GET", *WRITE_METHODS):
        path = _path(route, space_id=number, username=host.username, number=number)
        response = _client(host).generic(method, path, "{}", content_type="application/json")
        # SQLite raised OverflowError on foreign-key lookups past bigint (PostgreSQL finds no row).
        assert response.status_code < 500, (method, path, response.status_code, response.content[:300])
        if route.startswith("api/") and response.status_code >= 400:
            _error(response)
    path = _path(f"api/v1/spaces/{space.pk}/invitations/<id:invitation_id>/accept", number=number)
    assert _client(host).post(path).status_code == 404


@pytest.mark.parametrize("query", ["page_size=99999999999999999999999", "page_size=-1", "page_size=1e9", "limit=1"])
def test_odd_page_sizes_are_clamped(query: str) -> None:
    response = _client(UserFactory()).get(f"/api/v1/me/notifications?{query}")
    assert response.status_code == 200
    assert response.json()["results"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"title": "t", "scheduled_start": "9999-12-31T23:59:59Z"},
        {"title": "t", "scheduled_start": "0001-01-01T00:00:00+14:00"},
        {"title": "t", "scheduled_start": "2030-02-30T00:00:00Z"},
        {"title": "t", "listener_cap": 10**40},
        {"title": "t", "listener_cap": -(10**40)},
        {"title": "t", "topics": ["x"] * 10_000},
    ],
)
def test_odd_values_when_creating_a_space_are_4xx(body: dict[str, Any]) -> None:
    host = HostFactory()
    response = _client(host).post("/api/v1/spaces", json.dumps(body), content_type="application/json")
    _no_crash(response)
    assert response.status_code == 400, response.content[:300]
    assert not Space.objects.filter(host=host).exists()


# --- forged pagination cursors ----------------------------------------------------------------------


def _cursor(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


FORGED_CURSORS = [
    "cD05OTk5LTk5LTk5",  # p=9999-99-99
    _cursor("p=9999-99-99"),
    _cursor("o=1&r=1&p=not-a-date"),
    _cursor("p=2026-01-01T00:00:00\x00"),
    _cursor("p=99999999999999999999999999999"),
    _cursor("p=-99999999999999999999999999999"),
    _cursor("o=-1"),
    _cursor("r=yes&p=" + "9" * 5000),
    _cursor("p=" + "\ud7ff"),
    "garbage",
    "%00",
    "////",
]


def _paginated_get_paths(host: User, space: Space) -> list[str]:
    """Every GET route whose answer is a cursor page (found by asking, not by a hand-kept list)."""
    paths = []
    for route in API_ROUTES:
        path = _path(route, space_id=space.pk, username=host.username)
        response = _client(host).get(path)
        body = response.json() if response.status_code == 200 else None
        pages = [body, *body.values()] if isinstance(body, dict) else []
        if any(isinstance(page, dict) and "next" in page for page in pages):
            paths.append(path)
    return paths


def test_forged_cursors_are_not_found_on_every_paginated_list(host_space: tuple[User, Space]) -> None:
    host, space = host_space
    paths = _paginated_get_paths(host, space)
    assert len(paths) >= 14, "\n".join(paths)
    for path in paths:
        for cursor in FORGED_CURSORS:
            response = _client(host).get(path, {"cursor": cursor})
            assert response.status_code == 404, (path, cursor, response.status_code, response.content[:300])
            assert _error(response)["code"] == "not_found"


# --- Django-level errors under /api/ ---------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nothing-here", "/api/v1/", "/api/", "/api/v2/me", "/api/v1/me/", "/api/v1/spaces/abc", "/webhooks/nope"],
)
def test_unknown_api_paths_are_json_404(path: str) -> None:
    response = _client(UserFactory()).get(path)
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_unknown_web_paths_stay_html() -> None:
    response = _client().get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_bad_host_header_under_api_is_json_400() -> None:
    response = _client().get("/api/v1/me", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert _error(response)["code"] == "bad_request"


def test_a_server_error_under_api_is_json_500() -> None:
    from spaces_project.common.errors import server_error

    response = server_error(RequestFactory().get("/api/v1/me"))
    assert response.status_code == 500
    assert json.loads(response.content) == {
        "code": "server_error",
        "detail": "The server failed to answer this request.",
        "extra": {},
    }
    html = server_error(RequestFactory().get("/dashboard"))
    assert html.status_code == 500 and html["Content-Type"].startswith("text/html")


def test_django_refusing_an_over_size_body_is_413_too() -> None:
    # Django raises RequestDataTooBig when request.body/POST is read past the limit; the middleware's
    # Content-Length check usually answers first, this is the path for everything else.
    from django.core.exceptions import RequestDataTooBig

    from spaces_project.common.errors import bad_request

    response = bad_request(RequestFactory().post("/webhooks/stripe"), RequestDataTooBig())
    assert response.status_code == 413
    assert json.loads(response.content)["code"] == "request_too_large"
    web = bad_request(RequestFactory().post("/login"), RequestDataTooBig())
    assert web.status_code == 413


@pytest.mark.parametrize("route", API_ROUTES)
def test_head_and_options_never_crash_any_route(route: str, host_space: tuple[User, Space]) -> None:
    host, space = host_space
    path = _path(route, space_id=space.pk, username=host.username)
    for method in ("HEAD", "OPTIONS"):
        response = _client(host).generic(method, path)
        assert response.status_code < 500, (method, path, response.status_code, response.content[:300])


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/users/%ff%fe",
        "/api/v1/users/%c3%28/followers",
        "/api/v1/spaces?q=%ff%fe",
        "/api/v1/spaces?topic=%ed%a0%80",
    ],
)
def test_invalid_utf8_in_the_path_or_query_is_not_a_crash(path: str) -> None:
    response = _client(UserFactory()).get(path)
    assert response.status_code in (200, 404), response.content[:300]
    if response.status_code == 404:
        assert _error(response)["code"] in {"not_found", "user_not_found"}


def test_too_many_query_parameters_is_json_400() -> None:
    query = "&".join(f"k{i}=v" for i in range(1_500))  # past DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000)
    response = _client(UserFactory()).get(f"/api/v1/spaces?{query}")
    assert response.status_code == 400
    assert _error(response)["code"] == "bad_request"


def test_too_many_form_fields_is_json_400(host_space: tuple[User, Space]) -> None:
    host, _ = host_space
    body = "&".join(f"k{i}=v" for i in range(1_500))
    response = _client(host).generic("POST", "/api/v1/reports", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert _error(response)["code"] in {"bad_request", "invalid_input"}
