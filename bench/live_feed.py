"""Live-now feed benchmark: one user following 5,000 accounts while 2,000 Spaces are live (SPEC section 5).

Seeds a private PostgreSQL database (created and dropped by this script) with a realistic world:

- ``--users`` accounts (default 20,000); the viewer follows ``--follows`` of them (default 5,000), picked
  at random, and the others follow each other (``--other-follows`` edges);
- ``--live`` live Spaces (default 2,000), each with a host, a co-host, four speakers (distinct people)
  and ``--listeners`` listener rows; ``--ended`` ended Spaces with their old stage rows (history the
  index must skip);
- some Spaces hidden from the viewer: hosts who blocked them or whom they blocked, host bans, Space bans.

Then it times ``rooms.discovery.selectors.feeds.live_now_for`` (the three feed queries) and the whole HTTP request
``GET /api/v1/spaces/live`` (auth, feed, serialisation; Django test client, in-process), reports
p50/p95/p99 of ``--runs`` calls in each of ``--rounds`` rounds (and the median of the rounds), the number of queries per request, and the
plan of the ranking query. Bounded: fixed sizes, fixed number of runs, the database is always dropped.

    set -a; . .services/env; set +a
    .venv/bin/python bench/live_feed.py              # SPEC scale
    .venv/bin/python bench/live_feed.py --runs 50    # quicker
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import bench_database_url as database_url  # noqa: E402


def admin_sql(sql: str) -> None:
    import psycopg

    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(sql)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def setup_django(db_name: str) -> None:
    os.environ["DATABASE_URL"] = database_url(db_name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
    os.environ["SPACES_DISABLE_THROTTLING"] = "1"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    """Bulk-insert the world; returns the viewer's id and what was hidden from them."""
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Block, Follow, User
    from moderation.models import HostBan, SpaceBan
    from rooms.models import Participant, Role, Space, SpaceState

    now = timezone.now()
    users = [User(username=f"u{i}", password="!", display_name=f"User {i}") for i in range(args.users)]
    User.objects.bulk_create(users, batch_size=5000)
    ids = list(User.objects.order_by("pk").values_list("pk", flat=True))
    viewer_id = User.objects.create(username="viewer", password="!").pk

    stage_per_space = 6  # host, co-host, four speakers
    if args.live * stage_per_space > len(ids):
        raise SystemExit("--users must be at least 6 x --live")
    spaces = [
        Space(
            host_id=ids[i * stage_per_space],
            title=f"Live {i}",
            state=SpaceState.LIVE,
            started_at=now,
            listener_count=rng.randint(0, 5000),
        )
        for i in range(args.live)
    ]
    spaces += [
        Space(host_id=rng.choice(ids), title=f"Old {i}", state=SpaceState.ENDED, started_at=now, ended_at=now)
        for i in range(args.ended)
    ]
    Space.objects.bulk_create(spaces, batch_size=5000)
    live_ids = list(Space.objects.filter(state=SpaceState.LIVE).order_by("pk").values_list("pk", "host_id"))
    ended_ids = list(Space.objects.filter(state=SpaceState.ENDED).values_list("pk", "host_id"))

    rows: list[Participant] = []
    roles = [Role.HOST, Role.COHOST, Role.SPEAKER, Role.SPEAKER, Role.SPEAKER, Role.SPEAKER]
    for n, (space_id, _) in enumerate(live_ids):
        stage = ids[n * stage_per_space : (n + 1) * stage_per_space]
        rows += [
            Participant(space_id=space_id, user_id=u, role=r, is_connected=True)
            for u, r in zip(stage, roles, strict=True)
        ]
        pool = set(rng.sample(ids, args.listeners)) - set(stage)
        rows += [Participant(space_id=space_id, user_id=u, role=Role.LISTENER, is_connected=True) for u in pool]
    for space_id, host_id in ended_ids:
        people = {host_id, *rng.sample(ids, 3)}
        rows += [
            Participant(space_id=space_id, user_id=u, role=Role.HOST if u == host_id else Role.SPEAKER) for u in people
        ]
    Participant.objects.bulk_create(rows, batch_size=10000)

    followed = rng.sample(ids, args.follows)
    edges = {(viewer_id, f) for f in followed}
    while len(edges) < args.follows + args.other_follows:
        a, b = rng.sample(ids, 2)
        edges.add((a, b))
    Follow.objects.bulk_create([Follow(follower_id=a, followee_id=b) for a, b in edges], batch_size=10000)

    hidden_hosts = [h for _, h in rng.sample(live_ids, args.hidden * 3)]
    blocks = [Block(blocker_id=h, blocked_id=viewer_id) for h in hidden_hosts[: args.hidden]]
    blocks += [Block(blocker_id=viewer_id, blocked_id=h) for h in hidden_hosts[args.hidden : 2 * args.hidden]]
    Block.objects.bulk_create(blocks)
    HostBan.objects.bulk_create([HostBan(host_id=h, user_id=viewer_id) for h in hidden_hosts[2 * args.hidden :]])
    banned_spaces = [s for s, _ in rng.sample(live_ids, args.hidden)]
    SpaceBan.objects.bulk_create([SpaceBan(space_id=s, user_id=viewer_id) for s in banned_spaces])

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # what autovacuum does to a settled table (index-only scans)
    return {
        "viewer_id": viewer_id,
        "participants": len(rows),
        "follow_edges": len(edges),
        "hidden_hosts": len(hidden_hosts),
        "banned_spaces": len(banned_spaces),
    }


def time_calls(fn: Any, runs: int, warmup: int) -> tuple[list[float], float]:
    """Wall-clock ms of each call, and the mean CPU ms this process spent per call (immune to waiting
    for a busy CPU; the database's own time is in the plan below)."""
    for _ in range(warmup):
        fn()
    samples = []
    cpu_start = time.process_time()
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples, (time.process_time() - cpu_start) * 1000 / runs


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(samples), 2),
        "p95": round(percentile(samples, 95), 2),
        "p99": round(percentile(samples, 99), 2),
        "max": round(max(samples), 2),
    }


def measure(args: argparse.Namespace, world: dict[str, Any]) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from accounts.models import User
    from rooms.discovery.selectors import feeds

    viewer = User.objects.get(pk=world["viewer_id"])
    items = feeds.live_now_for(user=viewer)
    candidates = len(_ranked_all(viewer))

    token = Token.objects.create(user=viewer).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    def get() -> None:
        response = client.get("/api/v1/spaces/live")
        assert response.status_code == 200, response.content

    rounds = []
    for _ in range(args.rounds):
        load = os.getloadavg()[0]
        feed_ms, feed_cpu = time_calls(lambda: feeds.live_now_for(user=viewer), args.runs, args.warmup)
        http_ms, http_cpu = time_calls(get, args.runs, args.warmup)
        rounds.append(
            {
                "feed": summary(feed_ms) | {"cpu": round(feed_cpu, 2)},
                "http": summary(http_ms) | {"cpu": round(http_cpu, 2)},
                "load": round(load, 1),
            }
        )
    with CaptureQueriesContext(connection) as feed_queries:
        feeds.live_now_for(user=viewer)
    with CaptureQueriesContext(connection) as http_queries:
        get()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + feed_queries.captured_queries[1]["sql"])
        plan = [row[0] for row in cursor.fetchall()]
    return {
        "results": len(items),
        "top_followed_on_stage": items[0].followed_count if items else 0,
        "live_spaces_with_followed_on_stage": candidates,
        "rounds": rounds,
        "feed_queries": len(feed_queries.captured_queries),
        "http_queries": len(http_queries.captured_queries),
        "plan": plan,
    }


def _ranked_all(viewer: Any) -> list[int]:
    from rooms.discovery.selectors import feeds

    return [item.space.pk for item in feeds.live_now_for(user=viewer, limit=100_000)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--follows", type=int, default=5_000)
    parser.add_argument("--other-follows", type=int, default=100_000)
    parser.add_argument("--live", type=int, default=2_000)
    parser.add_argument("--listeners", type=int, default=50, help="listener rows per live Space")
    parser.add_argument("--ended", type=int, default=20_000, help="ended Spaces (stage history)")
    parser.add_argument("--hidden", type=int, default=20, help="hosts blocking/blocked/banning, and Space bans")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    db_name = f"bench_live_feed_{os.getpid()}"
    admin_sql(f'CREATE DATABASE "{db_name}"')
    try:
        setup_django(db_name)
        started = time.perf_counter()
        world = seed(args, random.Random(args.seed))
        seeded_s = time.perf_counter() - started
        result = measure(args, world)
        from django.db import connection

        connection.close()
    finally:
        admin_sql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"world: {args.users} users, viewer follows {args.follows}, {world['follow_edges']} follow edges, "
        f"{args.live} live + {args.ended} ended Spaces, {world['participants']} participant rows, "
        f"{world['hidden_hosts']} hidden hosts, {world['banned_spaces']} Space bans (seeded in {seeded_s:.1f} s)"
    )
    print(
        f"feed: {result['live_spaces_with_followed_on_stage']} live Spaces have a followed person on stage; "
        f"top {result['results']} returned (best has {result['top_followed_on_stage']} followed on stage)"
    )
    print(f"queries: live_now_for {result['feed_queries']}, GET /api/v1/spaces/live {result['http_queries']}")
    print(f"{args.rounds} rounds of {args.runs} calls each after {args.warmup} warm-up (ms; load = 1-min load average)")
    for kind, label in (("feed", "live_now_for"), ("http", "GET /api/v1/spaces/live")):
        for n, r in enumerate(result["rounds"], 1):
            print(f"  {label:24} round {n}: {r[kind]}  load {r['load']}")
        p50 = statistics.median(r[kind]["p50"] for r in result["rounds"])
        p95 = statistics.median(r[kind]["p95"] for r in result["rounds"])
        print(f"  {label:24} median of rounds: p50 {p50} ms, p95 {p95} ms")
    print("plan of the ranking query:")
    for line in result["plan"]:
        print("   ", line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
