"""Websocket fan-out benchmark: one Space, N listeners on one server process, a real API call per event.

For each configuration (server, transport, N) it starts one server process of the production ASGI
stack (auth middleware on), connects N listeners from a separate client process (bench/fanout_client.py),
then has the host mute a speaker through ``POST /api/v1/spaces/{id}/participants/{u}/mute`` and times
the event's arrival at every listener: first, median, p99, last. Arrival is the kernel's receive
timestamp of the listener's socket; ``p99_app_ms`` is when the client program read it (one process
reading every socket lags behind the server on a 2-core machine). It also reports server RSS per idle
socket, server CPU per event, and delivered frames per second in a burst. Transports: ``hub`` (the
per-process Redis hub) and ``group`` (the stock channels-redis group path), side by side in one run,
and ``centrifugo``: the dedicated Go fan-out server (v6, JSON protocol, Redis engine, ``GOMAXPROCS=1``
so it has one core like the Python process), fed through its HTTP publish API.

Trigger (``--trigger``): ``api`` times from the host's REST call (the product's real path: the event
is published on commit); ``publish`` times from the publish itself, the fan-out engine alone: the
bench publishes the same event frame straight to the hub's Redis channel, or to Centrifugo's HTTP API.
Centrifugo has no REST API of ours in front of it, so it is always timed from ``publish``.

Bounded and self-stopping: every wait has a timeout, every process it starts is stopped at the end.

    set -a; . .services/env; set +a
    .venv/bin/python bench/fanout.py --sizes 1000,5000,10000 --events 5
    .venv/bin/python bench/fanout.py --sizes 2000 --servers uvicorn,daphne --transports hub
    .venv/bin/python bench/fanout.py --sizes 10000 --transports hub,group,hub:publish,centrifugo
    # Centrifugo (bench only) is built once by `bin/services tool centrifugo` (pinned v6.9.1, in the tool
    # cache, as livekit-server is); or set CENTRIFUGO_BIN.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    CENTRIFUGO_API_KEY,
    EXTRA_ENV,
    ROOT,
    centrifugo_token,
    cpu_s,
    ensure_database,
    machine,
    pct,
    raise_nofile,
    rss_kb,
    seed,
    setup_django,
    start_centrifugo,
    start_server,
    stop,
    wait_idle,
)

API_TIMEOUT_S = 30.0


def event_frame(space_id: int, seq: int, user_id: int) -> str:
    """The frame a mute sends to every socket, as the product encodes it."""
    from spaces_project.realtime.wire import Event

    return Event(
        type="participant.muted", space=space_id, data={"user_id": user_id, "is_muted": True}, seq=seq
    ).encode()


def publisher(transport: str, port: int, prefix: str, space_id: int, speaker_id: int) -> Any:
    """A function that publishes event ``seq`` straight to the fan-out engine (``--trigger publish``)."""
    if transport == "centrifugo":
        http = httpx.Client(timeout=API_TIMEOUT_S, trust_env=False, headers={"X-API-Key": CENTRIFUGO_API_KEY})
        url, channel = f"http://127.0.0.1:{port}/api/publish", f"space_{space_id}"

        def to_centrifugo(seq: int) -> None:
            data = json.loads(event_frame(space_id, seq, speaker_id))
            http.post(url, json={"channel": channel, "data": data}).raise_for_status()

        return to_centrifugo
    import redis
    from django.conf import settings

    from spaces_project.realtime import wire as realtime

    settings.SPACES_CHANNEL_PREFIX = prefix  # the server's: the bench speaks to its hub
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    channel = realtime.space_channel(space_id)

    def to_hub(seq: int) -> None:
        frame = event_frame(space_id, seq, speaker_id)
        client.publish(channel, realtime.encode_message({"a": str(realtime.Audience.ROOM), "seq": seq}, frame))

    return to_hub


def run_one(
    kind: str, transport: str, n: int, events: int, burst: int, db_name: str, work: Path, trigger: str = "api"
) -> dict[str, Any]:
    world = seed(n)
    tokens_file = work / f"tokens-{n}.txt"
    protocol, prefix = "spaces", ""
    if transport == "centrifugo":
        kind, trigger, protocol = "centrifugo", "publish", "centrifugo"
        channel = f"space_{world['space']}"
        tokens_file.write_text("\n".join(centrifugo_token(str(i), channel) for i in range(len(world["tokens"]))))
        server, port = start_centrifugo(work, work / f"server-centrifugo-{n}.log")
    else:
        tokens_file.write_text("\n".join(world["tokens"]))
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        server, port = start_server(kind, transport, db_name, work / f"server-{kind}-{transport}-{n}.log", prefix)
    publish = publisher(transport, port, prefix, world["space"], world["speaker_id"]) if trigger == "publish" else None
    client: subprocess.Popen[str] | None = None
    try:
        time.sleep(1.0)
        rss_before, cpu_idle_start = rss_kb(server.pid), cpu_s(server.pid)
        out = work / f"arrivals-{kind}-{transport}-{n}.json"
        client = subprocess.Popen(
            [
                *(sys.executable, str(ROOT / "bench/fanout_client.py"), "--port", str(port)),
                *("--space", str(world["space"]), "--tokens", str(tokens_file), "--out", str(out)),
                *("--max-seconds", "600", "--protocol", protocol),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert client.stdout is not None and client.stdin is not None
        ready = client.stdout.readline().split()
        if not ready or ready[0] != "READY":
            raise RuntimeError(f"client failed: {ready}")
        connected, failed, connect_s = int(ready[1]), int(ready[2]), float(ready[3])
        time.sleep(3.0)  # let the connection burst settle before measuring idle memory
        rss_idle = rss_kb(server.pid)
        del cpu_idle_start

        url = f"http://127.0.0.1:{port}/api/v1/spaces/{world['space']}/participants/{world['speaker']}/mute"
        headers = {"Authorization": f"Token {world['host_token']}"}
        sent: dict[int, tuple[float, float]] = {}
        cpu_per_event: list[float] = []
        with httpx.Client(timeout=API_TIMEOUT_S, trust_env=False) as http:
            from rooms.models import Space

            published = Space.objects.values_list("seq", flat=True).get(pk=world["space"]) + 1000
            for _ in range(events):
                cpu0 = cpu_s(server.pid)
                if publish is not None:
                    seq_next = published = published + 1
                    t0 = time.monotonic()
                    publish(seq_next)
                    t1 = time.monotonic()
                else:
                    seq_next = Space.objects.values_list("seq", flat=True).get(pk=world["space"]) + 1
                    t0 = time.monotonic()
                    response = http.post(url, headers=headers)
                    t1 = time.monotonic()
                    response.raise_for_status()
                sent[seq_next] = (t0, t1)
                wait_idle(server.pid)  # the event is delivered everywhere once the server idles again
                cpu_per_event.append(cpu_s(server.pid) - cpu0)
            # Burst: back-to-back API calls; delivered frames per second over the whole burst.
            if publish is not None:
                burst_start_seq = published + 1
                b0 = time.monotonic()
                for _ in range(burst):
                    published += 1
                    publish(published)
            else:
                burst_start_seq = Space.objects.values_list("seq", flat=True).get(pk=world["space"]) + 1
                b0 = time.monotonic()
                for _ in range(burst):
                    http.post(url, headers=headers).raise_for_status()
            wait_idle(server.pid, limit_s=300)
        client.stdin.write("DONE\n")
        client.stdin.flush()
        client.wait(timeout=120)
        data = json.loads(out.read_text())
    finally:
        if client is not None and client.poll() is None:
            client.kill()
            client.wait(timeout=10)
        stop(server)

    # Kernel arrival times (the frame reached the listener's socket) and when the one client process
    # got around to reading it (bench/fanout_client.py): the first is the server's latency.
    arrivals = {int(k): v for k, v in data["arrivals"].items()}
    app_arrivals = {int(k): v for k, v in data.get("app_arrivals", {}).items()}
    rounds = []
    for seq, (t0, t1) in sent.items():
        times = arrivals.get(seq, [])
        lat = [(t - t0) * 1000 for t in times]
        app_lat = [(t - t0) * 1000 for t in app_arrivals.get(seq, [])]
        rounds.append(
            {
                "seq": seq,
                "api_ms": round((t1 - t0) * 1000, 1),
                "reached": len(times),
                "first_ms": round(min(lat), 1) if lat else None,
                "median_ms": round(statistics.median(lat), 1) if lat else None,
                "p99_ms": round(pct(lat, 99), 1) if lat else None,
                "last_ms": round(max(lat), 1) if lat else None,
                "p99_app_ms": round(pct(app_lat, 99), 1) if app_lat else None,
            }
        )
    burst_times = [t for s, ts in arrivals.items() if s >= burst_start_seq for t in ts]
    burst_rate = len(burst_times) / (max(burst_times) - b0) if burst_times else 0.0
    # A round counts when (nearly) every connected socket got the event; "reached" says how many did.
    complete = [r for r in rounds if r["reached"] >= 0.99 * connected]

    def med(key: str) -> float | None:
        values = [r[key] for r in complete if r[key] is not None]
        return round(statistics.median(values), 1) if values else None

    return {
        "server": kind,
        "transport": transport,
        "trigger": trigger,
        "listeners": n,
        "connected": connected,
        "failed": failed,
        "connect_s": connect_s,
        "kb_per_idle_socket": round((rss_idle - rss_before) / max(1, connected), 1),
        "rounds": rounds,
        "complete_rounds": len(complete),
        "min_reached": min((r["reached"] for r in rounds), default=0),
        "closed_by_server": data["closed"],
        "first_ms": med("first_ms"),
        "median_ms": med("median_ms"),
        "p99_ms": med("p99_ms"),
        "last_ms": med("last_ms"),
        "p99_app_ms": med("p99_app_ms"),
        "api_ms": med("api_ms"),
        "cpu_ms_per_event": round(statistics.median(cpu_per_event) * 1000, 1),
        "burst_frames_per_s": round(burst_rate),
        "burst_frames": len(burst_times),
        "loadavg_1m": round(os.getloadavg()[0], 1),  # the machine is shared: say how busy it was
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--servers", default="uvicorn")
    parser.add_argument("--transports", default="hub,group")
    parser.add_argument("--trigger", choices=["api", "publish"], default="api", help="see the docstring")
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument("--burst", type=int, default=20)
    parser.add_argument("--db", default="spaces_bench")
    parser.add_argument("--json", default="", help="write the results here too")
    parser.add_argument("--workdir", default="", help="parent of the run's scratch dir (logs, arrivals)")
    parser.add_argument("--keep", action="store_true", help="copy the server logs to --workdir")
    parser.add_argument("--api-timeout", type=float, default=30.0, help="seconds; the stock path needs more")
    parser.add_argument("--server-env", action="append", default=[], help="KEY=VALUE for the server process")
    args = parser.parse_args()
    EXTRA_ENV.update(kv.split("=", 1) for kv in args.server_env)
    global API_TIMEOUT_S
    API_TIMEOUT_S = args.api_timeout
    if not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("needs REDIS_URL and a PostgreSQL DATABASE_URL (set -a; . .services/env; set +a)")
    raise_nofile()  # inherited by the server and client processes
    ensure_database(args.db)
    setup_django(args.db)
    results = []
    with tempfile.TemporaryDirectory(prefix="fanout-", dir=args.workdir or None) as tmp:
        for n in [int(x) for x in args.sizes.split(",")]:
            for kind in args.servers.split(","):
                for spec in args.transports.split(","):
                    transport, _, trigger = spec.partition(":")  # "hub:publish": a trigger for this one
                    if transport == "centrifugo" and kind != args.servers.split(",")[0]:
                        continue  # one Centrifugo run per size, whatever the Python servers
                    result = run_one(
                        kind, transport, n, args.events, args.burst, args.db, Path(tmp), trigger or args.trigger
                    )
                    results.append(result)
                    summary = {k: v for k, v in result.items() if k != "rounds"}
                    print(json.dumps(summary), flush=True)
            if args.keep and args.workdir:
                for log in Path(tmp).glob("server-*.log"):
                    (Path(args.workdir) / log.name).write_bytes(log.read_bytes())
    info = machine()
    print(json.dumps({"machine": info}), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "results": results}, indent=1))


if __name__ == "__main__":
    main()
