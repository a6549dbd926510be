"""Shared parts of the benchmarks in bench/: the bench database, users, free ports, starting and measuring
servers (through ``bin/web``, the web process's one launch recipe), summaries of timings, Centrifugo.

Every bench script imports this module (``sys.path`` gets bench/), and bench/_livekit.py when it needs
LiveKit; no bench script imports another, or anything from tests/.
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
import statistics
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
WEB = ROOT / "bin" / "web"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def use_database(name: str) -> str:
    """Point ``DATABASE_URL`` at a database of its own on the configured PostgreSQL (created if missing)."""
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("DATABASE_URL must point at PostgreSQL (load .services/env)")
    ensure_database(name)
    os.environ["DATABASE_URL"] = bench_database_url(name)
    return os.environ["DATABASE_URL"]


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


def web_command(kind: str, port: int, *server_args: str) -> list[str]:
    """``bin/web`` (the Procfile's recipe) on loopback, warnings only; ``server_args`` go to the server."""
    return [str(WEB), "--server", kind, "--host", "127.0.0.1", "--port", str(port), "--quiet", "--", *server_args]


def launch_web(
    kind: str, env: dict[str, str], log: Path, port: int | None = None, server_args: tuple[str, ...] = (), **popen: Any
) -> tuple[subprocess.Popen[bytes], int]:
    """Start the web process with ``env`` and wait for ``/healthz``; its pid is the server's (bin/web execs)."""
    port = port or free_port()
    env = {**env, "SPACES_PYTHON": sys.executable}
    proc = subprocess.Popen(
        web_command(kind, port, *server_args),
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        **popen,
    )
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


def start_server(
    kind: str, transport: str, db_name: str, log: Path, prefix: str = "", root: Path = ROOT
) -> tuple[subprocess.Popen[bytes], int]:
    """A measured server (``server_settings``); ``root``: another checkout's code (a baseline run)."""
    env = dict(os.environ)
    env.update(server_settings(db_name, transport, prefix or f"bench-{uuid.uuid4().hex[:8]}"))
    env.update(EXTRA_ENV)
    if os.environ.get("FANOUT_PROFILE"):
        env["SPACES_WEB_PROFILE"] = os.environ["FANOUT_PROFILE"]
    if root != ROOT:  # the baseline's code, on this checkout's launch recipe
        env["SPACES_APP_DIR"] = str(root)
    if transport == "group":  # the stock Channels path, served by its own ASGI module (bench/stock.py)
        env["SPACES_ASGI_APP"] = "bench.stock_asgi:application"
    return launch_web(kind, env, log, server_args=("--backlog", "4096") if kind == "uvicorn" else ())


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


def centrifugo_bin() -> Path:
    """The Centrifugo binary (bench only): $CENTRIFUGO_BIN, or the pinned version ``bin/services tool
    centrifugo`` builds once into the tool cache (~/.cache/spaces-tools/bin), as it builds livekit-server."""
    if os.environ.get("CENTRIFUGO_BIN"):
        return Path(os.environ["CENTRIFUGO_BIN"])
    built = subprocess.run(
        [str(ROOT / "bin" / "services"), "tool", "centrifugo"],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        timeout=1800,
    )
    return Path(built.stdout.strip().splitlines()[-1])


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
        raise RuntimeError(f"{binary} not found (bin/services tool centrifugo builds it)")
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


def summary(values: list[float]) -> dict[str, float]:
    """Median, p95, min, max (ms, as given) and the count of a list of timings."""
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[max(0, min(len(ordered) - 1, round(0.95 * (len(ordered) - 1))))], 1),
        "min_ms": round(ordered[0], 1),
        "max_ms": round(ordered[-1], 1),
        "n": len(ordered),
    }


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def machine() -> dict[str, Any]:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        platform.processor(),
    )
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "kernel": platform.release()}
