"""CPU of one REST ``join`` in-process: N first joins of one Space through an ASGI app, C at a time.

No server, no network client: each join is an ASGI ``http`` call made by a minimal driver in the same
process (a scope, one ``http.request`` message, the ``send`` messages collected), ``time.process_time``
(every thread of the process) around a batch. Real PostgreSQL, Redis and LiveKit keys (the token is
signed; the room memo is warm after the first join). Each app gets a new live Space, so every join is a
first join (the ``INSERT`` path). Apps:

- ``django``: Django's ASGI handler (a thread per request);
- ``pooled``: the join on the bounded pool through the whole Django stack (``PooledRoutes``, lean off);
- ``asgi``: ``spaces_project.asgi.application`` as served (the lean join for the storm's shape).

    set -a; . .services/env; set +a          # after bin/services up postgres redis livekit
    .venv/bin/python bench/join_inprocess.py --joins 300 --concurrency 50 --apps django,pooled,asgi --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import bench_database_url, ensure_database, listener_tokens, machine


def _scope(path: str, token: str, body: bytes) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Token {token}".encode())]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def _call(app: Any, scope: dict[str, Any], body: bytes) -> int:
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def _app(name: str) -> Any:
    from spaces_project import asgi
    from spaces_project.common.pooled_http import PooledRoutes

    if name == "django":
        return asgi.django_asgi_app
    if name == "pooled":
        return PooledRoutes(asgi.django_asgi_app)  # no lean routes: the whole Django stack on the pool
    return asgi.application


def _new_space() -> int:
    from django.utils import timezone

    from accounts.models import User
    from rooms.models import Participant, Role, Space, SpaceState

    host, _ = User.objects.get_or_create(username="bench_inproc_host", defaults={"follower_count": 10_000})
    Space.objects.filter(host=host, state=SpaceState.LIVE).update(state=SpaceState.ENDED, ended_at=timezone.now())
    space = Space.objects.create(host=host, title="in-process join", state=SpaceState.LIVE, started_at=timezone.now())
    Participant.objects.create(space=space, user=host, role=Role.HOST, is_connected=True)
    return int(space.pk)


def measure(app_name: str, tokens: list[str], concurrency: int, body: bytes) -> dict[str, Any]:
    from django.db import close_old_connections

    app = _app(app_name)
    space_id = _new_space()
    close_old_connections()
    path = f"/api/v1/spaces/{space_id}/join"

    async def run() -> tuple[float, list[int]]:
        statuses: list[int] = []
        cpu = 0.0
        for i in range(0, len(tokens), concurrency):
            batch = tokens[i : i + concurrency]
            c0 = time.process_time()
            statuses += await asyncio.gather(*(_call(app, _scope(path, t, body), body) for t in batch))
            cpu += time.process_time() - c0
        return cpu, statuses

    cpu, statuses = asyncio.run(run())
    bad = [s for s in statuses if s != 200]
    return {
        "app": app_name,
        "joins": len(tokens),
        "failed": len(bad),
        "cpu_ms_per_join": round(cpu * 1000 / len(tokens), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--joins", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--apps", default="django,pooled,asgi")
    parser.add_argument("--rounds", type=int, default=3, help="each app this many times, interleaved")
    parser.add_argument("--body", default="", help='a JSON body to send, e.g. {"transport": "webrtc"}')
    parser.add_argument("--db", default="spaces_bench_inproc")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("LIVEKIT_API_KEY"):
        sys.exit("needs PostgreSQL, Redis and LiveKit keys (set -a; . .services/env; set +a)")
    os.environ.setdefault("SPACES_DISABLE_THROTTLING", "")  # the join's own scope throttle applies anyway
    os.environ.setdefault("SPACES_THROTTLE_JOIN", "100000/min")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # What the storm's server runs with (bench/_common.py server_settings): DEBUG off, plain http.
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("SPACES_TLS", "false")
    ensure_database(args.db)
    os.environ["DATABASE_URL"] = bench_database_url(args.db) + "?pool=true"  # as the storm's server runs
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    tokens = [key for _uid, key in listener_tokens(args.joins, prefix="inproc_l")]
    body = args.body.encode()
    names = [n for n in args.apps.split(",") if n]
    measure(names[0], tokens[: args.concurrency], args.concurrency, body)  # warm-up: imports, pools, room memo
    results: dict[str, list[float]] = {n: [] for n in names}
    for _round in range(args.rounds):
        for name in names:
            result = measure(name, tokens, args.concurrency, body)
            print(json.dumps(result), flush=True)
            if result["failed"]:
                sys.exit(f"{result['failed']} joins failed through {name}")
            results[name].append(result["cpu_ms_per_join"])
    print(
        json.dumps(
            {
                "median_cpu_ms_per_join": {n: round(statistics.median(v), 3) for n, v in results.items()},
                "load": os.getloadavg(),
                "machine": machine(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
