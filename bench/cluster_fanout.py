"""Fan-out across web processes: one Space, N listeners spread over P uvicorn processes sharing Redis.

Reuses bench/fanout.py (seeding, server start, measurement helpers) and bench/fanout_client.py (one
client process per server process, so no process needs more than its share of file descriptors).
The host mutes a speaker through process 1's REST API; each event's arrival is timed at every
listener on every process: median, p99 and last over all listeners, plus the CPU every server
process spent on the event and memory per idle socket.

Clients connect to the processes directly, not through HAProxy: this machine caps open files at
20,000 per process and a proxy holds two per socket, so one HAProxy here tops out near 9,900 sockets
(docs/benchmarks.md, "Fan-out across processes").

Bounded and self-stopping: every wait has a timeout; every process it starts is stopped at the end.

    set -a; . .services/env; set +a
    .venv/bin/python bench/cluster_fanout.py --runs 2:10000,2:20000,4:20000 --events 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import _common as fanout  # noqa: E402  (bench/_common.py: seeding, server start, measurement helpers)


def run_one(processes: int, n: int, events: int, db_name: str, work: Path) -> dict[str, Any]:
    world = fanout.seed(n)
    fanout.EXTRA_ENV["SPACES_CHANNEL_PREFIX"] = f"bench-cl-{uuid.uuid4().hex[:8]}"  # one Redis channel set
    servers = []
    clients: list[subprocess.Popen[str]] = []
    try:
        for i in range(processes):
            servers.append(fanout.start_server("uvicorn", "hub", db_name, work / f"server-{processes}-{n}-{i}.log"))
        time.sleep(1.0)
        rss_before = [fanout.rss_kb(proc.pid) for proc, _ in servers]
        outs = []
        for i, (_, port) in enumerate(servers):
            tokens = work / f"tokens-{processes}-{n}-{i}.txt"
            tokens.write_text("\n".join(world["tokens"][i::processes]))
            out = work / f"arrivals-{processes}-{n}-{i}.json"
            outs.append(out)
            command = [sys.executable, str(ROOT / "bench/fanout_client.py"), "--port", str(port)]
            command += ["--space", str(world["space"]), "--tokens", str(tokens), "--out", str(out)]
            clients.append(
                subprocess.Popen(
                    [*command, "--max-seconds", "900"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        connected = failed = 0
        connect_s = 0.0
        for client in clients:
            assert client.stdout is not None
            ready = client.stdout.readline().split()
            if not ready or ready[0] != "READY":
                raise RuntimeError(f"client failed: {ready}")
            connected, failed = connected + int(ready[1]), failed + int(ready[2])
            connect_s = max(connect_s, float(ready[3]))
        time.sleep(3.0)
        rss_idle = [fanout.rss_kb(proc.pid) for proc, _ in servers]

        port = servers[0][1]
        url = f"http://127.0.0.1:{port}/api/v1/spaces/{world['space']}/participants/{world['speaker']}/mute"
        headers = {"Authorization": f"Token {world['host_token']}"}
        sent: dict[int, float] = {}
        cpu_per_event: list[float] = []
        from rooms.models import Space

        with httpx.Client(timeout=30, trust_env=False) as http:
            for _ in range(events):
                seq_next = Space.objects.values_list("seq", flat=True).get(pk=world["space"]) + 1
                cpu0 = sum(fanout.cpu_s(proc.pid) for proc, _ in servers)
                t0 = time.monotonic()
                http.post(url, headers=headers).raise_for_status()
                sent[seq_next] = t0
                time.sleep(max(2.0, n / 4000))
                cpu_per_event.append(sum(fanout.cpu_s(proc.pid) for proc, _ in servers) - cpu0)
        arrivals: dict[int, list[float]] = {}
        for client, out in zip(clients, outs, strict=True):
            assert client.stdin is not None
            client.stdin.write("DONE\n")
            client.stdin.flush()
            client.wait(timeout=120)
            for seq, times in json.loads(out.read_text())["arrivals"].items():
                arrivals.setdefault(int(seq), []).extend(times)
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
                client.wait(timeout=10)
        for proc, _ in servers:
            fanout.stop(proc)

    rounds = []
    for seq, t0 in sent.items():
        lat = [(t - t0) * 1000 for t in arrivals.get(seq, [])]
        rounds.append(
            {
                "seq": seq,
                "reached": len(lat),
                "median_ms": round(statistics.median(lat), 1) if lat else None,
                "p99_ms": round(fanout.pct(lat, 99), 1) if lat else None,
                "last_ms": round(max(lat), 1) if lat else None,
            }
        )
    complete = [r for r in rounds if r["reached"] == connected]

    def med(key: str, among: list[dict[str, Any]] = complete) -> float | None:
        values = [r[key] for r in among if r[key] is not None]
        return round(statistics.median(values), 1) if values else None

    return {
        "processes": processes,
        "listeners": n,
        "connected": connected,
        "failed": failed,
        "connect_s": connect_s,
        "kb_per_idle_socket": round(
            sum(a - b for a, b in zip(rss_idle, rss_before, strict=True)) / max(1, connected), 1
        ),
        "complete_rounds": len(complete),
        "median_ms": med("median_ms"),
        "p99_ms": med("p99_ms"),
        "last_ms": med("last_ms"),
        # Over every round, whoever it reached (a socket the server dropped as too slow misses events).
        "reached_min": min((r["reached"] for r in rounds), default=0),
        "p99_ms_reached": med("p99_ms", rounds),
        "median_ms_reached": med("median_ms", rounds),
        "cpu_ms_per_event_all_processes": round(statistics.median(cpu_per_event) * 1000, 1),
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="2:10000,2:20000,4:20000", help="processes:listeners,...")
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument("--db", default="spaces_bench")
    parser.add_argument("--json", default="", help="write the results here too")
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("needs REDIS_URL and a PostgreSQL DATABASE_URL (set -a; . .services/env; set +a)")
    fanout.raise_nofile()
    fanout.ensure_database(args.db)
    fanout.setup_django(args.db)
    results = []
    with tempfile.TemporaryDirectory(prefix="cluster-fanout-") as tmp:
        for spec in args.runs.split(","):
            processes, n = (int(x) for x in spec.split(":"))
            result = run_one(processes, n, args.events, args.db, Path(tmp))
            results.append(result)
            print(json.dumps({k: v for k, v in result.items() if k != "rounds"}), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results}, indent=1))


if __name__ == "__main__":
    main()
