"""Liveness and readiness probes.

The readiness body can carry informational entries from the apps (``register_info``, called from their
``AppConfig.ready``: rooms adds which agent holds which Space); this module imports no app.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from urllib.parse import urlparse

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

# Informational sections of /readyz, added by the apps at start-up (``AppConfig.ready``): this package
# imports no app. A section never makes the process unready.
READY_SECTIONS: dict[str, Callable[[], object]] = {}


def ready_section_register(*, name: str, read: Callable[[], object]) -> None:
    """Add ``name`` to the body of /readyz, filled by ``read()`` at each probe."""
    READY_SECTIONS[name] = read


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means not ready
        return f"{type(exc).__name__}"
    return None


def _check_redis() -> str | None:
    if not settings.REDIS_URL:
        return None
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        client.close()
    except Exception as exc:
        return f"{type(exc).__name__}"
    return None


def _check_livekit() -> str | None:
    if not settings.LIVEKIT_URL:
        return None
    url = urlparse(settings.LIVEKIT_API_URL or settings.LIVEKIT_URL)
    port = url.port or (443 if url.scheme in {"https", "wss"} else 80)
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", port), timeout=1):
            pass
    except OSError as exc:
        return f"{type(exc).__name__}"
    return None


def _section(read: Callable[[], object]) -> object:
    try:
        return read()
    except Exception as exc:  # the database is down (already reported above)
        return f"unknown ({type(exc).__name__})"


def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, Redis (if configured) and LiveKit (if configured) answer; else 503."""
    checks = {"database": _check_database(), "redis": _check_redis(), "livekit": _check_livekit()}
    failed = {name: err for name, err in checks.items() if err}
    body = {
        "status": "ok" if not failed else "unavailable",
        "checks": {
            "database": "ok" if not checks["database"] else "failed",
            "redis": "skipped" if not settings.REDIS_URL else ("ok" if not checks["redis"] else "failed"),
            "livekit": "skipped" if not settings.LIVEKIT_URL else ("ok" if not checks["livekit"] else "failed"),
        },
        "failed": sorted(failed),
        # Informational: rooms adds "agents" (which agent holds which Space; an unhealthy agent does not
        # make the web process unready).
        **{name: _section(read) for name, read in READY_SECTIONS.items()},
    }
    return JsonResponse(body, status=503 if failed else 200)
