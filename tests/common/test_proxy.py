"""HAProxy in front of a web process, configured as bin/cluster does: a client cannot pick its address."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import Server, free_port, server_database_url, start_server, stop_server
from tests.support.services import IN_CI

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def _haproxy_path() -> str:
    return shutil.which("haproxy") or "/usr/sbin/haproxy"


@pytest.fixture
def haproxy() -> str:
    path = _haproxy_path()
    if not os.path.exists(path):
        subprocess.run([str(ROOT / "bin" / "cluster"), "install-haproxy"], check=False, timeout=600)
        path = _haproxy_path()
    if not os.path.exists(path):
        message = "haproxy is not installed and `bin/cluster install-haproxy` could not install it"
        if IN_CI:
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture
def web(postgres_url: str, redis_url: str, tmp_path: Path) -> Iterator[Server]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=server_database_url(),
        SPACES_CACHE_PREFIX=f"px-{uuid.uuid4().hex[:8]}",
        SPACES_THROTTLE_LOGIN="3/min",
        SPACES_TRUSTED_PROXIES="127.0.0.1",  # what bin/cluster sets: HAProxy's address
        SPACES_FAST_PASSWORD_HASHER="1",
        LOG_LEVEL="WARNING",
    )
    env.pop("SPACES_TEST_DB_NAME", None)
    server = start_server("uvicorn", env, tmp_path)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def front(haproxy: str, web: Server, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    template = (ROOT / "deploy" / "haproxy.cfg.template").read_text()
    values = {
        "STATE": str(tmp_path),
        "MAXCONN": "200",
        "WEB_PORT": str(port),
        "LK_PORT": str(free_port()),
        "WEB_SERVERS": f"    server web1 127.0.0.1:{web.port} check",
        "LK_SERVERS": f"    server lk1 127.0.0.1:{free_port()}",
    }
    for name, value in values.items():
        template = template.replace(f"@{name}@", value)
    config = tmp_path / "haproxy.cfg"
    config.write_text(template)
    log = (tmp_path / "haproxy.log").open("wb")
    process = subprocess.Popen([haproxy, "-Ws", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "haproxy.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def test_rotating_x_forwarded_for_through_haproxy_keeps_the_login_limit(front: str) -> None:
    body = {"username": "nobody", "password": "wrong-password"}
    codes = [
        httpx.post(f"{front}/api/v1/auth/token", json=body, headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
        for n in range(4)
    ]
    assert codes == [400, 400, 400, 429]
