"""A production-shaped server for the fuzzer: uvicorn, DEBUG off, real PostgreSQL, Redis, LiveKit, stripe-mock."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import Server, start_server, stop_server


@pytest.fixture
def fuzz_server(
    transactional_db: None,
    server_env: dict[str, str],
    livekit_url: str,
    stripe_mock_url: str,
    tmp_path: Path,
) -> Iterator[Server]:
    """uvicorn on a free loopback port, sharing the test database; stopped before the database is flushed."""
    env = dict(server_env)
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        SPACES_HOST_MIN_FOLLOWERS="3",
        # Plain http on loopback, as bin/cluster: no redirect to https (SPACES_TLS defaults to on without DEBUG).
        SPACES_TLS="false",
    )
    # Rate limits would answer most generated requests with 429 before they reach the rules under test.
    for scope in ("ANON", "USER", "REGISTER", "LOGIN", "HAND", "REACTION", "MESSAGE", "REPORT", "JOIN"):
        env[f"SPACES_THROTTLE_{scope}"] = "1000000/min"
    server = start_server("uvicorn", env, tmp_path)
    try:
        yield server
    finally:
        stop_server(server)
