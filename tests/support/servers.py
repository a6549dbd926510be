"""Spaces' ASGI server as real subprocesses on loopback (uvicorn and daphne), against the test database.

Servers are started with ``bin/web``, the one launch recipe the Procfile, ``bin/run``, ``bin/cluster`` and
the benchmarks use too. Fixtures (registered from tests/conftest.py): ``rt_prefix``, ``server_env`` and
``servers`` (one uvicorn and one daphne for the whole session, shared by every folder that asks for them).
Each session publishes on its own Redis channel prefix, so parallel runs on one Redis never see each other.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx
import pytest
from django.conf import settings

from tests.support.services import require

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "bin" / "web"


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws(self, space_id: int) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/spaces/{space_id}/"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_database_url() -> str:
    """The URL of this session's test database (``DATABASE_URL`` names the development one)."""
    db = settings.DATABASES["default"]
    parsed = urlparse(os.environ["DATABASE_URL"])
    return urlunparse(parsed._replace(path=f"/{db['NAME']}"))


def server_environment(prefix: str, **extra: str) -> dict[str, str]:
    """The environment of a server subprocess on the test database: its own channel prefix and LiveKit
    room prefix, no throttles, the fast password hasher, Celery tasks run in the server process."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=server_database_url(),
        SPACES_CHANNEL_PREFIX=prefix,
        SPACES_DISABLE_THROTTLING="1",
        SPACES_FAST_PASSWORD_HASHER="1",
        DJANGO_SETTINGS_MODULE="spaces_project.settings",
        LOG_LEVEL="WARNING",
        CELERY_TASK_ALWAYS_EAGER="1",
        LIVEKIT_ROOM_PREFIX=f"{prefix}-",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    env.pop("SPACES_TEST_DB_NAME", None)
    return env


def server_command(kind: str, port: int) -> list[str]:
    """``bin/web`` with this interpreter; ``kind`` is ``uvicorn`` (production's) or ``daphne``."""
    return [str(WEB), "--server", kind, "--host", "127.0.0.1", "--port", str(port), "--quiet"]


def start_server(kind: str, env: dict[str, str], log_dir: Path, port: int | None = None) -> Server:
    port = port or free_port()
    log = log_dir / f"{kind}-{port}.log"
    process = subprocess.Popen(
        server_command(kind, port),
        cwd=ROOT,
        env={**env, "SPACES_PYTHON": sys.executable},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = Server(kind, port, process, log)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{kind} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.http}/healthz", timeout=1, trust_env=False).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"{kind} did not start: {log.read_text()[-2000:]}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5)


@pytest.fixture(scope="session")
def rt_prefix() -> str:
    return f"rt-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def server_env(django_db_setup: None, rt_prefix: str) -> dict[str, str]:
    is_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    require("PostgreSQL", os.environ.get("DATABASE_URL", "") if is_postgres else "", 5432)
    require("Redis", settings.REDIS_URL, 6379)
    # The test process publishes on the same prefix as the servers it talks to.
    settings.SPACES_CHANNEL_PREFIX = rt_prefix
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = rt_prefix
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    return server_environment(rt_prefix)


@pytest.fixture(scope="session")
def servers(server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Server]]:
    """``[uvicorn, daphne]``: two server processes of the production ASGI stack, for the whole session."""
    log_dir = tmp_path_factory.mktemp("servers")
    started: list[Server] = []
    try:
        for kind in ("uvicorn", "daphne"):
            started.append(start_server(kind, server_env, log_dir))
        yield started
    finally:
        for server in started:
            stop_server(server)
