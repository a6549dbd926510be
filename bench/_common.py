"""Shared parts of the benchmarks in bench/: the bench database, seeding, starting and measuring servers.

Every bench script imports this module (``sys.path`` gets bench/); no bench script imports another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import platform
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def bench_database_url(name: str) -> str:
    parsed = urlparse(os.environ["DATABASE_URL"])
    return urlunparse(parsed._replace(path=f"/{name}"))


def ensure_database(name: str) -> None:
    import psycopg

    admin = bench_database_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(db_name: str) -> None:
    os.environ["DATABASE_URL"] = bench_database_url(db_name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(n: int) -> dict[str, Any]:
    """A live Space with a host, a speaker and ``n`` listener accounts with tokens (reused across runs)."""
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from accounts.models import User
    from rooms.models import Participant, Role, Space, SpaceState

    host, _ = User.objects.get_or_create(username="bench_host", defaults={"follower_count": 10_000})
    speaker, _ = User.objects.get_or_create(username="bench_speaker")
    Space.objects.filter(host=host, state=SpaceState.LIVE).update(state=SpaceState.ENDED, ended_at=timezone.now())
    space = Space.objects.create(host=host, title="Fan-out bench", state=SpaceState.LIVE, started_at=timezone.now())
    Participant.objects.create(space=space, user=host, role=Role.HOST, is_connected=True)
    Participant.objects.create(space=space, user=speaker, role=Role.SPEAKER, is_connected=True)
    host_token = Token.objects.get_or_create(user=host)[0].key
    return {
        "space": space.pk,
        "speaker": speaker.username,
        "speaker_id": speaker.pk,
        "host_token": host_token,
        "tokens": [key for _user_id, key in listener_tokens(n)],
    }


def listener_tokens(n: int, prefix: str = "bench_l") -> list[tuple[int, str]]:
    """``n`` listener accounts named ``{prefix}{i}`` with API tokens: bulk inserts, reused across runs."""
    from rest_framework.authtoken.models import Token

    from accounts.models import User

    have = User.objects.filter(username__startswith=prefix).count()
    if have < n:
        users = [User(username=f"{prefix}{i}", password="!") for i in range(have, n)]
        User.objects.bulk_create(users, batch_size=2000)
    ids = list(User.objects.filter(username__startswith=prefix).order_by("pk").values_list("pk", flat=True)[:n])
    with_token = set(Token.objects.filter(user_id__in=ids).values_list("user_id", flat=True))
    Token.objects.bulk_create(
        [Token(user_id=uid, key=secrets.token_hex(20)) for uid in ids if uid not in with_token], batch_size=2000
    )
    tokens = dict(Token.objects.filter(user_id__in=ids).values_list("user_id", "key"))
    return [(uid, tokens[uid]) for uid in ids]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


EXTRA_ENV: dict[str, str] = {}


def wait_idle(pid: int, limit_s: float = 120.0) -> None:
    """Wait (bounded) until the server spends under 5 % of a core for half a second."""
    time.sleep(0.5)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = cpu_s(pid)
        time.sleep(0.5)
        if cpu_s(pid) - before < 0.025:
            return


# One random key per benchmark run, shared by its servers.
BENCH_SECRET_KEY = secrets.token_urlsafe(50)


def server_settings(db_name: str, transport: str, prefix: str) -> dict[str, str]:
    """The environment of a measured server: its own channel prefix, no throttles, no LiveKit calls."""
    return {
        "DATABASE_URL": bench_database_url(db_name),
        "SPACES_CHANNEL_PREFIX": prefix,
        "SPACES_DISABLE_THROTTLING": "1",
        "DB_CONN_MAX_AGE": "60",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "LIVEKIT_URL": "",
        "LIVEKIT_API_URL": "",
        "LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": BENCH_SECRET_KEY,  # DEBUG off refuses the development key
        "SPACES_TLS": "false",  # plain http on loopback
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings",
    }


def start_server(
    kind: str, transport: str, db_name: str, log: Path, prefix: str = "", root: Path = ROOT
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = dict(os.environ)
    env.update(server_settings(db_name, transport, prefix or f"bench-{uuid.uuid4().hex[:8]}"))
    env.update(EXTRA_ENV)
    # "group": the stock Channels path, served by its own ASGI module (bench/stock.py); "hub": the product.
    app = "bench.stock_asgi:application" if transport == "group" else "spaces_project.asgi:application"
    if kind == "uvicorn" and os.environ.get("FANOUT_PROFILE"):
        cmd = [sys.executable, "-m", "cProfile", "-o", os.environ["FANOUT_PROFILE"], "-m", "uvicorn", app]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    elif kind == "uvicorn":
        cmd = [str(BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        cmd += ["--no-access-log", "--backlog", "4096"]
    else:
        cmd = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "-v", "0", app]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1, trust_env=False).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"{kind} did not start")


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# -- Centrifugo (the comparison) ---------------------------------------------------------------------
CENTRIFUGO_SECRET = secrets.token_hex(32)
CENTRIFUGO_API_KEY = secrets.token_hex(16)


CENTRIFUGO_MODULE = "github.com/centrifugal/centrifugo/v6@v6.9.1"


def centrifugo_bin() -> Path:
    """The Centrifugo binary (bench only): $CENTRIFUGO_BIN, or built once into ~/.cache/spaces-tools/bin."""
    if os.environ.get("CENTRIFUGO_BIN"):
        return Path(os.environ["CENTRIFUGO_BIN"])
    tools = Path(os.environ.get("SPACES_TOOLS_DIR") or Path.home() / ".cache/spaces-tools") / "bin"
    for candidate in (tools / "centrifugo", Path.home() / ".cache/spaces-bench/bin/centrifugo"):
        if candidate.exists():
            return candidate
    # Built like bin/services builds livekit-server: go install, cached for every later run.
    env = dict(os.environ, CGO_ENABLED="0", GOBIN=str(tools))
    subprocess.run(["go", "install", CENTRIFUGO_MODULE], cwd="/tmp", env=env, check=True, timeout=1200)
    return tools / "centrifugo"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def centrifugo_token(user: str, channel: str) -> str:
    """A connection JWT (HS256) that subscribes the client to ``channel`` server-side."""
    head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64url(json.dumps({"sub": user, "exp": int(time.time()) + 3600, "channels": [channel]}).encode())
    signature = hmac.new(CENTRIFUGO_SECRET.encode(), f"{head}.{claims}".encode(), hashlib.sha256).digest()
    return f"{head}.{claims}.{_b64url(signature)}"


def start_centrifugo(work: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = centrifugo_bin()
    if not binary.exists():
        raise RuntimeError(f"{binary} not found: see the module docstring for how to build it")
    port = free_port()
    config = {
        "http_server": {"address": "127.0.0.1", "port": port},
        "client": {"token": {"hmac_secret_key": CENTRIFUGO_SECRET}, "allowed_origins": ["*"]},
        "http_api": {"key": CENTRIFUGO_API_KEY},
        "log": {"level": "error"},
        # The same Redis as the hub, as a multi-node Centrifugo would use it.
        "engine": {"type": "redis", "redis": {"address": [os.environ["REDIS_URL"]], "prefix": f"cf{port}"}},
    }
    config_file = work / "centrifugo.json"
    config_file.write_text(json.dumps(config))
    env = dict(os.environ, GOMAXPROCS="1")
    proc = subprocess.Popen(
        [str(binary), "--config", str(config_file)], cwd=work, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"centrifugo exited: {log.read_text()[-2000:]}")
        try:
            info = httpx.post(
                f"http://127.0.0.1:{port}/api/info", json={}, headers={"X-API-Key": CENTRIFUGO_API_KEY}, timeout=1
            )
            if info.status_code == 200:
                return proc, port
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError("centrifugo did not start")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def machine() -> dict[str, Any]:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        platform.processor(),
    )
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "kernel": platform.release()}
