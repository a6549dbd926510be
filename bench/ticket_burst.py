"""Ticket sale burst: N buyers hit ``POST /api/v1/spaces/{id}/tickets`` for M seats at once, over HTTP.

Real components only: a uvicorn (or daphne) process serving the ASGI app on a free loopback port,
PostgreSQL (a private database created and dropped by this script), stripe-mock for the
PaymentIntents, and signed ``payment_intent.succeeded`` webhooks posted afterwards to validate the
tickets. Reports purchase attempts per second, p50/p99 latency, tickets sold, webhook
confirmations per second and the oversell count (must be 0). Bounded: it stops by itself
(``--timeout``) and always stops its server and drops its database.

    set -a; . .services/env; set +a
    .venv/bin/python bench/ticket_burst.py --buyers 1000 --seats 100 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import free_port, web_command  # noqa: E402

WEBHOOK_SECRET = "whsec_bench_ticket_burst"
STRIPE_KEY = "sk_test_benchburst"  # stripe-mock wants sk_test_<one part>


def tree_cpu_s(root: int) -> float:
    """User + system CPU seconds of a process and all its descendants (Linux /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(times.get(pid, 0.0) for pid in tree)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def admin_sql(base_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(sql)


def seed(*, buyers: int, seats: int, run: int) -> tuple[int, list[str]]:
    """A host with a payout account, a ticketed Space, and ``buyers`` users with API tokens."""
    from rest_framework.authtoken.models import Token

    from accounts.models import User
    from rooms.models import Space
    from tickets.models import PayoutAccount, TicketOffer

    host = User.objects.create(username=f"bench_host_{run}", follower_count=10_000)
    PayoutAccount.objects.create(
        user=host,
        stripe_account_id=f"acct_bench_{run}_{uuid.uuid4().hex[:8]}",
        payouts_enabled=True,
        transfers_active=True,
    )
    space = Space.objects.create(host=host, title=f"Burst {run}")
    TicketOffer.objects.create(space=space, price_cents=1500, capacity=seats)
    users = User.objects.bulk_create(
        [User(username=f"bench_{run}_{i}", password="!") for i in range(buyers)], batch_size=500
    )
    tokens = Token.objects.bulk_create([Token(user=u, key=Token.generate_key()) for u in users], batch_size=500)
    return space.pk, [t.key for t in tokens]


async def burst(base: str, space_id: int, tokens: list[str], concurrency: int) -> dict[str, Any]:
    import aiohttp

    results: list[tuple[int, float, dict[str, Any]]] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base, connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as client:
        gate = asyncio.Semaphore(concurrency)

        async def buy(token: str) -> None:
            async with gate:  # latency is measured from the moment the request can go out
                t0 = time.perf_counter()
                async with client.post(
                    f"/api/v1/spaces/{space_id}/tickets", headers={"Authorization": f"Token {token}"}
                ) as response:
                    text = await response.text()
                    elapsed = time.perf_counter() - t0
            try:
                body = json.loads(text)
            except ValueError:
                body = {"raw": text[:300]}
            results.append((response.status, elapsed, body))

        started = time.perf_counter()
        await asyncio.gather(*(buy(t) for t in tokens))
        wall = time.perf_counter() - started
    return {"results": results, "wall": wall}


async def floor(base: str, requests: int, concurrency: int) -> float:
    """Requests/s of ``GET /healthz`` (no database) on the same server and client: the ceiling here."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base, connector=connector) as client:

        async def get() -> None:
            async with client.get("/healthz") as response:
                await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(get() for _ in range(requests)))
        return requests / (time.perf_counter() - started)


async def confirm(base: str, sold: list[dict[str, Any]], concurrency: int) -> float:
    import aiohttp
    import stripe

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base, connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as client:

        async def post(body: dict[str, Any]) -> None:
            ticket, payment = body["ticket"], body["payment"]
            event = {
                "id": f"evt_bench_{uuid.uuid4().hex}",
                "type": "payment_intent.succeeded",
                "created": int(time.time()),
                "data": {
                    "object": {
                        "id": payment["payment_intent_id"],
                        "amount": ticket["price_cents"],
                        "amount_received": ticket["price_cents"],
                        "currency": "usd",
                        "metadata": {"ticket_id": str(ticket["id"])},
                    }
                },
            }
            payload = json.dumps(event)
            signature = stripe.WebhookSignature.generate_signature_header(payload, WEBHOOK_SECRET)
            headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
            async with client.post("/webhooks/stripe", data=payload, headers=headers) as response:
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(post(b) for b in sold))
        return time.perf_counter() - started


def audit(space_id: int, seats: int) -> dict[str, int]:
    from django.db.models import Count

    from tickets.models import Ticket, TicketOffer

    by_status = dict(
        Ticket.objects.filter(space_id=space_id)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    live = by_status.get("paid", 0) + by_status.get("held", 0)
    charged = Ticket.objects.filter(space_id=space_id, payment_intent_id__isnull=False).count()
    return {
        "paid": by_status.get("paid", 0),
        "held": by_status.get("held", 0),
        "seats_taken": TicketOffer.objects.get(space_id=space_id).seats_taken,
        "oversold": max(0, live - seats),
        "payment_intents_without_paid_ticket": charged - by_status.get("paid", 0),
    }


def start_server(kind: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``bin/web`` (the Procfile's recipe); uvicorn with ``workers`` worker processes."""
    server_args = ("--workers", str(workers)) if kind == "uvicorn" else ()
    return subprocess.Popen(
        web_command(kind, port, *server_args), cwd=ROOT, env={**env, "SPACES_PYTHON": sys.executable},
        start_new_session=True,
    )  # fmt: skip


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server not ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buyers", type=int, default=1000)
    parser.add_argument("--seats", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--concurrency", type=int, default=100, help="requests in flight at once")
    parser.add_argument("--timeout", type=int, default=600, help="hard stop, seconds")
    parser.add_argument(
        "--db-pool",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve with Django's psycopg connection pool (DATABASE_URL ?pool=true; needs psycopg-pool)",
    )
    args = parser.parse_args()

    base_db = os.environ.get("DATABASE_URL", "")
    stripe_base = os.environ.get("STRIPE_API_BASE", "")
    if not base_db.startswith("postgres") or not stripe_base:
        print("needs DATABASE_URL (PostgreSQL) and STRIPE_API_BASE (stripe-mock): . .services/env", file=sys.stderr)
        return 2
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("benchmark timeout")))
    signal.alarm(args.timeout)

    db_name = f"bench_ticket_burst_{os.getpid()}"
    bench_db = urlunparse(urlparse(base_db)._replace(path="/" + db_name))
    env = dict(os.environ)
    env.update(
        DATABASE_URL=bench_db + ("?pool=true" if args.db_pool else ""),
        DB_CONN_MAX_AGE="0",  # under ASGI every request has its own thread: persistent connections leak
        STRIPE_SECRET_KEY=STRIPE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        SPACES_DISABLE_THROTTLING="1",
        CELERY_TASK_ALWAYS_EAGER="true",  # never put tasks on a shared broker queue
        LOG_LEVEL="ERROR",  # 900 sold_out answers would each log a 409 warning
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),  # DEBUG off refuses the development key
        SPACES_TLS="false",  # plain http on loopback
    )
    admin_sql(base_db, f'CREATE DATABASE "{db_name}"')
    server: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"],
            cwd=ROOT,
            env={**env, "DATABASE_URL": bench_db},
            check=True,
        )
        os.environ.update(env)
        os.environ["DATABASE_URL"] = bench_db  # this process seeds and audits without the pool
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
        import django

        django.setup()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(args.server, port, args.workers, env)
        wait_ready(base, server)
        runs = []
        for run in range(args.runs):
            space_id, tokens = seed(buyers=args.buyers, seats=args.seats, run=run)
            cpu_before = tree_cpu_s(server.pid)
            healthz_per_s = asyncio.run(floor(base, args.buyers, args.concurrency))
            healthz_cpu = tree_cpu_s(server.pid) - cpu_before
            cpu_before = tree_cpu_s(server.pid)
            out = asyncio.run(burst(base, space_id, tokens, args.concurrency))
            server_cpu = tree_cpu_s(server.pid) - cpu_before
            results = out["results"]
            latencies = [lat * 1000 for _, lat, _ in results]
            sold = [body for status, _, body in results if status == 201]
            errors = sorted({status for status, _, _ in results if status not in (201, 409)})
            for status, _, body in results:
                if status not in (201, 409):
                    print(f"first unexpected answer: {status} {body}", file=sys.stderr)
                    break
            confirm_wall = asyncio.run(confirm(base, sold, min(args.concurrency, 50)))
            from django.db import connections

            connections.close_all()
            checks = audit(space_id, args.seats)
            runs.append(
                {
                    "run": run + 1,
                    "attempts_per_s": round(len(results) / out["wall"], 1),
                    "healthz_per_s": round(healthz_per_s, 1),
                    # load-independent cost: CPU the server processes spent per purchase attempt
                    "server_cpu_ms_per_attempt": round(server_cpu * 1000 / len(results), 2),
                    "server_cpu_ms_per_healthz": round(healthz_cpu * 1000 / args.buyers, 2),
                    "wall_s": round(out["wall"], 3),
                    "sold": len(sold),
                    "sold_out_409": sum(1 for status, _, _ in results if status == 409),
                    "other_statuses": errors,
                    "p50_ms": round(percentile(latencies, 50), 1),
                    "p99_ms": round(percentile(latencies, 99), 1),
                    "p50_sold_ms": round(percentile([lat * 1000 for s, lat, _ in results if s == 201], 50), 1),
                    "p99_sold_ms": round(percentile([lat * 1000 for s, lat, _ in results if s == 201], 99), 1),
                    "webhook_confirms_per_s": round(len(sold) / confirm_wall, 1) if sold else 0,
                    **checks,
                }
            )
            runs[-1]["load_avg_1m"] = round(os.getloadavg()[0], 2)  # the machine is shared: say how busy it was
            print(json.dumps(runs[-1]), flush=True)
        summary = {
            "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}",
            "server": f"{args.server} x{args.workers if args.server == 'uvicorn' else 1}",
            "db_pool": args.db_pool,
            "buyers": args.buyers,
            "seats": args.seats,
            "concurrency": args.concurrency,
            "median_attempts_per_s": statistics.median(r["attempts_per_s"] for r in runs),
            "median_healthz_per_s": statistics.median(r["healthz_per_s"] for r in runs),
            "median_server_cpu_ms_per_attempt": statistics.median(r["server_cpu_ms_per_attempt"] for r in runs),
            "median_p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "median_p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "max_oversold": max(r["oversold"] for r in runs),
            "max_payment_intents_without_paid_ticket": max(r["payment_intents_without_paid_ticket"] for r in runs),
        }
        print(json.dumps(summary), flush=True)
        return 0 if summary["max_oversold"] == 0 else 1
    finally:
        signal.alarm(0)
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(5)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django may not be set up yet
            pass
        admin_sql(base_db, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
