"""Proxies, TLS, sessions and origins (docs/security.md): what a client may claim about itself."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from spaces_project.common.security import client_address, content_security_policy
from tests.factories import UserFactory
from tests.moderation.test_abuse_limits import rates

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
OURS = "http://testserver"
PASSWORD = "correct-horse-battery"


def _login(client: APIClient, forwarded_for: str, **headers: str) -> Any:
    body = {"username": "nobody", "password": "wrong-password"}
    return client.post("/api/v1/auth/token", body, format="json", HTTP_X_FORWARDED_FOR=forwarded_for, **headers)


# ------------------------------------------------------------------ client address (X-Forwarded-For)
def test_rotating_x_forwarded_for_does_not_reset_the_login_limit(api_client: APIClient) -> None:
    with rates(login="3/min"):
        codes = [_login(api_client, f"203.0.113.{n}").status_code for n in range(4)]
    assert codes == [400, 400, 400, 429]


def test_rotating_x_forwarded_for_does_not_reset_the_register_limit(api_client: APIClient) -> None:
    with rates(register="2/hour"):
        codes = [
            api_client.post(
                "/api/v1/auth/register",
                {"username": f"newbie{n}", "password": "a-long-pass-42"},
                format="json",
                HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
            ).status_code
            for n in range(3)
        ]
    assert codes == [201, 201, 429]
    assert User.objects.filter(username__startswith="newbie").count() == 2


def test_rotating_x_forwarded_for_does_not_reset_the_anonymous_limit(api_client: APIClient) -> None:
    with rates(anon="2/min"):
        codes = [api_client.get("/api/schema/", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code for n in range(3)]
    assert codes == [200, 200, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(api_client: APIClient, settings: Any) -> None:
    settings.SPACES_TRUSTED_PROXIES = ["127.0.0.0/8"]  # the test client's peer address is 127.0.0.1
    with rates(login="2/min"):
        first = [_login(api_client, "203.0.113.7").status_code for _ in range(3)]
        other_client = _login(api_client, "203.0.113.8").status_code
        # What the client itself wrote left of the proxy's entry is not read.
        spoofed = _login(api_client, "10.1.2.3, 203.0.113.7").status_code
    assert first == [400, 400, 429]
    assert other_client == 400
    assert spoofed == 429


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("127.0.0.1", "1.2.3.4", "127.0.0.1"),  # peer not trusted: the header is ignored
        ("10.0.0.2", "1.2.3.4", "1.2.3.4"),
        ("10.0.0.2", "9.9.9.9, 1.2.3.4", "1.2.3.4"),  # the client's own claim (9.9.9.9) is not read
        ("10.0.0.2", "1.2.3.4, 10.0.0.3", "1.2.3.4"),  # two proxies of ours
        ("10.0.0.2", "10.0.0.4, 10.0.0.3", "10.0.0.4"),  # only proxies: the farthest one
        ("10.0.0.2", "garbage, 10.0.0.3", "10.0.0.3"),
        ("10.0.0.2", "[2001:db8::1]:443", "2001:db8::1"),
        ("10.0.0.2", "", "10.0.0.2"),
    ],
)
def test_client_address(settings: Any, peer: str, forwarded_for: str, client: str) -> None:
    settings.SPACES_TRUSTED_PROXIES = ["10.0.0.0/24"]
    assert client_address(peer, forwarded_for) == client


def test_forwarded_proto_counts_only_from_a_trusted_proxy(settings: Any) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SPACES_TRUSTED_PROXIES = ["10.0.0.0/24"]
    spoofed = Client().get("/login", HTTP_X_FORWARDED_PROTO="https")
    assert spoofed.status_code == 301
    assert spoofed["Location"] == "https://testserver/login"
    settings.SPACES_TRUSTED_PROXIES = ["127.0.0.1"]
    assert Client().get("/login", HTTP_X_FORWARDED_PROTO="https").status_code == 200


# ------------------------------------------------------------------ open redirect after login
@pytest.mark.parametrize(
    "target",
    ["//evil.example/", "/\\evil.example", "https://evil.example/", "javascript:alert(1)", "/\t/evil.example"],
)
def test_login_page_does_not_hand_the_client_a_foreign_next(client: Client, target: str) -> None:
    page = client.get("/login", {"next": target}).content.decode()
    assert re.search(r'data-next="([^"]*)"', page).group(1) == "/"  # type: ignore[union-attr]


def test_login_page_keeps_a_local_next(client: Client) -> None:
    page = client.get("/login", {"next": "/spaces/5?tab=x"}).content.decode()
    assert 'data-next="/spaces/5?tab=x"' in page


# ------------------------------------------------------------------ login CSRF
@pytest.mark.parametrize("path", ["/api/v1/auth/token", "/api/v1/auth/register"])
def test_a_form_body_is_refused_and_logs_nobody_in(client: Client, path: str) -> None:
    UserFactory(username="mallory")
    response = client.post(path, {"username": "mallory", "password": PASSWORD}, HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert "sessionid" not in response.cookies
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_ORIGIN": "null"},
        {"HTTP_REFERER": "https://evil.example/page"},
    ],
)
def test_a_login_from_a_foreign_page_is_refused(client: Client, headers: dict[str, str]) -> None:
    UserFactory(username="mallory")
    body = {"username": "mallory", "password": PASSWORD}
    response = client.post("/api/v1/auth/token", body, content_type="application/json", **headers)
    assert response.status_code == 403
    assert response.json()["code"] == "origin_not_allowed"
    assert "sessionid" not in response.cookies


def test_a_sign_up_from_a_foreign_page_creates_nothing(client: Client) -> None:
    body = {"username": "mallory", "password": "a-long-pass-42"}
    response = client.post("/api/v1/auth/register", body, content_type="application/json", HTTP_ORIGIN="https://e.x")
    assert response.status_code == 403
    assert response.json()["code"] == "origin_not_allowed"
    assert not User.objects.exists()


@pytest.mark.parametrize("path", ["/api/v1/auth/token", "/api/v1/auth/register"])
def test_the_web_client_on_our_page_gets_a_session(client: Client, path: str) -> None:
    if path.endswith("token"):
        UserFactory(username="alice")
    body = {"username": "alice", "password": PASSWORD}
    response = client.post(path, body, content_type="application/json", HTTP_ORIGIN=OURS)
    assert response.status_code in (200, 201)
    assert response.cookies["sessionid"].value
    assert client.get("/api/v1/me").json()["username"] == "alice"


def test_a_referer_over_plain_http_does_not_vouch_for_an_https_login(client: Client) -> None:
    UserFactory(username="alice")
    body = {"username": "alice", "password": PASSWORD}
    response = client.post(
        "/api/v1/auth/token", body, content_type="application/json", secure=True, HTTP_REFERER=f"{OURS}/login"
    )
    assert response.status_code == 403
    ok = client.post(
        "/api/v1/auth/token", body, content_type="application/json", secure=True, HTTP_REFERER="https://testserver/"
    )
    assert ok.status_code == 200
    assert ok.cookies["sessionid"].value


@pytest.mark.parametrize("path", ["/api/v1/auth/token", "/api/v1/auth/register"])
def test_a_mobile_login_gets_its_token_and_no_cookie(api_client: APIClient, path: str) -> None:
    if path.endswith("token"):
        UserFactory(username="alice")
    response = api_client.post(path, {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code in (200, 201)
    assert "sessionid" not in response.cookies
    mobile = APIClient()
    mobile.credentials(HTTP_AUTHORIZATION=f"Token {response.data['token']}")
    assert mobile.get("/api/v1/me").data["username"] == "alice"


# ------------------------------------------------------------------ Django admin
def _admin_login(client: Client, **extra: str) -> Any:
    return client.post("/admin/login/", {"username": "admin", "password": "not-it"}, **extra)


def test_admin_login_is_throttled(client: Client) -> None:
    with rates(login="3/min"):
        codes = [_admin_login(client).status_code for _ in range(4)]
        refused = _admin_login(client, HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert codes == [200, 200, 200, 429]  # 200: the form again, with its error
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1


def test_admin_and_api_logins_share_one_limit(client: Client, api_client: APIClient) -> None:
    with rates(login="3/min"):
        api = [_login(api_client, "").status_code for _ in range(3)]
        admin = _admin_login(client).status_code
    assert api == [400, 400, 400]
    assert admin == 429


def test_admin_login_still_works(client: Client) -> None:
    User.objects.create_superuser("boss", password=PASSWORD)
    response = client.post("/admin/login/", {"username": "boss", "password": PASSWORD, "next": "/admin/"})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


# ------------------------------------------------------------------ settings in a fresh process
def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SPACES_"))}
    base["DJANGO_SETTINGS_MODULE"] = "spaces_project.settings"
    return subprocess.run(
        [sys.executable, *code.split()] if code.startswith("manage.py") else [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_admin_path_is_configurable() -> None:
    code = (
        "import django; django.setup(); from django.urls import resolve, reverse, Resolver404;"
        "print(reverse('admin:index')); print(resolve('/staff-only/login/').url_name);"
        "\ntry:\n resolve('/admin/')\nexcept Resolver404:\n print('no /admin/')"
    )
    result = _run(code, SPACES_ADMIN_PATH="staff-only")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["/staff-only/", "admin-login-throttled", "no", "/admin/"]


def test_refuses_to_start_without_debug_on_the_development_secret_key() -> None:
    result = _run("manage.py check", DJANGO_DEBUG="false")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY" in result.stderr


def _production_env() -> dict[str, str]:
    """deploy/production.env: the documented production settings, the secret filled in here."""
    env: dict[str, str] = {}
    for line in (ROOT / "deploy" / "production.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.split("#", 1)[0].strip()
    assert env["DJANGO_SECRET_KEY"] == ""  # the file ships no secret
    env["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    return env


def test_check_deploy_passes_with_the_documented_production_env() -> None:
    result = _run("manage.py check --deploy --fail-level WARNING", **_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_plain_http_deployment_without_debug_starts_and_sets_no_tls_only_flags() -> None:
    code = (
        "import django; django.setup(); from django.conf import settings as s;"
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS)"
    )
    tls_off = _run(code, DJANGO_DEBUG="false", DJANGO_SECRET_KEY=secrets.token_urlsafe(50), SPACES_TLS="false")
    assert tls_off.stdout.split() == ["False", "False", "False", "False", "0"], tls_off.stderr
    tls_on = _run(code, DJANGO_DEBUG="false", DJANGO_SECRET_KEY=secrets.token_urlsafe(50))
    assert tls_on.stdout.split() == ["False", "True", "True", "True", "31536000"], tls_on.stderr


# ------------------------------------------------------------------ Content-Security-Policy
def test_pages_carry_a_policy_without_inline_script(client: Client) -> None:
    policy = client.get("/login")["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy


def test_policy_allows_stripe_only_when_card_entry_is_configured(settings: Any) -> None:
    assert "stripe" not in content_security_policy()
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_x"
    assert "script-src 'self' https://js.stripe.com" in content_security_policy()


def test_policy_allows_the_hls_origin_for_fetches_and_media_only(settings: Any) -> None:
    settings.SPACES_HLS_URL = ""  # root-relative links: same origin, nothing to add
    before = content_security_policy()
    assert "media-src 'self' blob:;" in before
    settings.SPACES_HLS_URL = "https://cdn.example.net/live"
    directives = dict(d.strip().split(" ", 1) for d in content_security_policy().split(";"))
    assert directives["connect-src"].split()[-1] == "https://cdn.example.net"
    assert directives["media-src"] == "'self' blob: https://cdn.example.net"
    assert "cdn.example.net" not in directives["script-src"] + directives["default-src"]


def test_templates_have_no_inline_script_or_style() -> None:
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert " style=" not in text and "<style" not in text, template


def test_api_docs_have_their_own_policy(client: Client) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert "cdn.jsdelivr.net" in response["Content-Security-Policy"]
    assert "<script>" not in response.content.decode()  # its script comes from a URL the policy allows


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://testserver", True),
        ("https://127.0.0.1:8443", True),  # ALLOWED_HOSTS names hosts: any scheme and port of them
        ("https://spaces.example.com", True),  # a CSRF_TRUSTED_ORIGINS entry
        ("https://app.spaces.example.com", True),  # its wildcard
        ("http://app.spaces.example.com", False),  # the wildcard is for https only
        ("https://evil.example", False),
        ("https://testserver.evil.example", False),
        ("null", False),
        ("file://", False),
    ],
)
def test_origin_allowed(settings: Any, origin: str, allowed: bool) -> None:
    from spaces_project.common.security import origin_allowed

    settings.CSRF_TRUSTED_ORIGINS = ["https://spaces.example.com", "https://*.spaces.example.com"]
    assert origin_allowed(origin) is allowed
