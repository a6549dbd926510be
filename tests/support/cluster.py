"""One production-shaped cluster (``bin/cluster``) for the whole session, on this run's own ports
(fixtures ``cluster`` and ``cluster_livekit``; tests using them carry the ``cluster`` marker).

HAProxy in front of two uvicorn web processes and of two livekit-server nodes sharing their Redis,
two Celery workers, beat, and the cluster's own Redis; PostgreSQL is this run's test database on the
shared server. ``bin/cluster down`` runs at the end whatever happens, so nothing is left running.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token

from accounts.models import User
from tests.support.servers import server_database_url
from tests.support.services import require, unavailable

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "bin" / "cluster"


def _free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _port_base() -> int:
    """A base port whose block of 50 (the layout in ``ports``) is free."""
    for _ in range(200):
        base = random.randrange(20000, 32000, 50)
        if all(_free(base + offset) for offset in (0, 1, 11, 12, 21, 22, 31, 32, 40, 41)):
            return base
    raise RuntimeError("no free port block")


@dataclass
class Cluster:
    env: dict[str, str]
    dir: Path
    base: int

    @property
    def url(self) -> str:  # HAProxy: the one public address
        return f"http://127.0.0.1:{self.base}"

    @property
    def livekit_url(self) -> str:
        return f"ws://127.0.0.1:{self.base + 1}"

    def web_url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.base + 10 + n}"

    def ws(self, base_url: str, space_id: int) -> str:
        return base_url.replace("http://", "ws://", 1) + f"/ws/spaces/{space_id}/"

    def node_url(self, n: int) -> str:
        return f"ws://127.0.0.1:{self.base + 20 + n}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.base + 40}/0"

    @property
    def livekit_redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.base + 41}/0"

    def run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run(
            [str(CLUSTER), *args], check=False, env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError(f"bin/cluster {' '.join(args)} failed:\n{result.stderr[-3000:]}")

    def pid(self, name: str) -> int:
        return int((self.dir / "pids" / f"{name}.pid").read_text())

    def log(self, name: str) -> str:
        return (self.dir / "logs" / f"{name}.log").read_text(errors="replace")

    def haproxy(self, command: str) -> str:
        """One command on HAProxy's runtime API (its stats socket)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(self.dir / "haproxy.sock"))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def wait_healthy(self, timeout: float = 30) -> None:
        """Until HAProxy routes to every web process again (its health check marks them up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = [line.split(",") for line in self.haproxy("show stat").splitlines() if line[:1] not in ("", "#")]
            servers = [r for r in rows if r[1] not in ("FRONTEND", "BACKEND")]
            if servers and all(r[17] == "UP" for r in servers):
                return
            time.sleep(0.2)
        raise RuntimeError("HAProxy did not mark every server up")


@pytest.fixture(scope="session")
def cluster(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require(
        "PostgreSQL",
        os.environ.get("DATABASE_URL", "") if settings.DATABASES["default"]["ENGINE"].endswith("postgresql") else "",
        5432,
    )
    base = _port_base()
    state = tmp_path_factory.mktemp("cluster")
    prefix = f"cl-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ)
    env.pop("SPACES_TEST_DB_NAME", None)
    env.update(
        SPACES_CLUSTER_DIR=str(state),
        SPACES_CLUSTER_DATABASE_URL=server_database_url(),
        SPACES_CLUSTER_SKIP_MIGRATE="1",
        SPACES_CLUSTER_PORT=str(base),
        SPACES_CLUSTER_LK_PORT=str(base + 1),
        SPACES_CLUSTER_WEB_BASE=str(base + 10),
        SPACES_CLUSTER_LK_BASE=str(base + 20),
        SPACES_CLUSTER_REDIS_PORT=str(base + 40),
        SPACES_CLUSTER_LK_REDIS_PORT=str(base + 41),
        SPACES_CLUSTER_WEB="2",
        SPACES_CLUSTER_WORKERS="2",
        # The cluster shares the test database for the whole session: its agents would lease the recorded
        # Spaces of every later test (and fail to join them on the cluster's LiveKit). The agents' own
        # proof (takeover, consent) is tests/rooms/test_recording_e2e.py.
        SPACES_CLUSTER_AGENTS="0",
        SPACES_CHANNEL_PREFIX=prefix,
        LIVEKIT_ROOM_PREFIX=f"{prefix}-",
        SPACES_DISABLE_THROTTLING="1",
        SPACES_FAST_PASSWORD_HASHER="1",
        # Tests send the reconcile task themselves, so it cannot hide what another path should do.
        SPACES_LIVEKIT_RECONCILE_S="3600",
        # A killed worker's task is handed to another one after this (production: 3600).
        CELERY_VISIBILITY_TIMEOUT_S="4",
        LOG_LEVEL="WARNING",
    )
    handle = Cluster(env=env, dir=state, base=base)
    try:
        try:
            handle.run("up", timeout=240)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            unavailable(f"the cluster did not start: {exc}")
        yield handle
    finally:
        subprocess.run([str(CLUSTER), "down"], check=False, env=env, cwd=ROOT, capture_output=True, timeout=120)


@pytest.fixture
def cluster_livekit(cluster: Cluster, settings: Any) -> Cluster:
    """Point this process's LiveKit wrapper at the cluster (for assertions through the server API)."""
    settings.LIVEKIT_URL = cluster.livekit_url
    settings.LIVEKIT_API_URL = cluster.livekit_url.replace("ws://", "http://", 1)
    settings.LIVEKIT_API_KEY = "clusterkey"
    settings.LIVEKIT_API_SECRET = "spaces-cluster-livekit-secret-0123456789abcdef"
    settings.LIVEKIT_ROOM_PREFIX = cluster.env["LIVEKIT_ROOM_PREFIX"]
    return cluster


def token_of(user: User) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def call(method: str, url: str, user: User, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One REST call as ``user``; fails the test on anything but 2xx."""
    response = httpx.request(
        method, url, json=body, headers={"Authorization": f"Token {token_of(user)}"}, timeout=30, trust_env=False
    )
    assert response.status_code < 300, f"{method} {url}: {response.status_code} {response.text}"
    return response.json() if response.content else {}
