"""Health probes, the OpenAPI schema, and that each real service answers."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request

import pytest
from django.core.management import call_command
from django.test import override_settings

from accounts.models import User


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_ok_with_configured_services(client, settings):
    # The test harness points an unconfigured LiveKit at a dead port; readiness must see the real config.
    settings.LIVEKIT_URL = os.environ.get("LIVEKIT_URL", "")
    settings.LIVEKIT_API_URL = os.environ.get("LIVEKIT_API_URL", "")
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
@override_settings(REDIS_URL="redis://127.0.0.1:1/0", LIVEKIT_URL="ws://127.0.0.1:1", LIVEKIT_API_URL="")
def test_readyz_names_what_failed(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["livekit", "redis"]


@pytest.mark.django_db
def test_openapi_schema_and_docs(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert "/api/v1/me" in paths
    assert client.get("/api/docs/").status_code == 200


@pytest.mark.django_db
def test_seed_demo_is_idempotent():
    call_command("seed_demo")
    counts = (User.objects.count(), User.objects.get(username="ada").follower_count)
    call_command("seed_demo")
    assert (User.objects.count(), User.objects.get(username="ada").follower_count) == counts
    assert counts[1] >= 600


@pytest.mark.django_db
def test_postgres_answers(postgres_url):
    from django.db import connection

    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_redis_answers(redis_url):
    import redis

    assert redis.Redis.from_url(redis_url).ping() is True


def test_livekit_answers(livekit_url):
    with urllib.request.urlopen(livekit_url.replace("ws://", "http://"), timeout=5) as response:
        assert response.status == 200


def test_stripe_mock_answers(stripe_mock_url):
    request = urllib.request.Request(f"{stripe_mock_url}/v1/customers", headers={"Authorization": "Bearer sk_test_x"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.load(response)["object"] == "list"


def test_chromium_runs(chromium_path):
    out = subprocess.run([chromium_path, "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert "Chromium" in out.stdout


def test_a_django_validation_error_from_a_service_is_invalid_input():
    from django.core.exceptions import ValidationError

    from spaces_project.common.exceptions import api_exception_handler

    response = api_exception_handler(ValidationError({"email": ["Enter a valid email address."]}), {})
    assert response is not None
    assert response.status_code == 400
    assert response.data == {
        "code": "invalid_input",
        "detail": "email: Enter a valid email address.",
        "extra": {"fields": {"email": ["Enter a valid email address."]}},
    }
    bare = api_exception_handler(ValidationError("This password is too common."), {})
    assert bare is not None and bare.data["extra"]["fields"] == {"non_field_errors": ["This password is too common."]}
