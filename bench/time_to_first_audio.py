"""Time to first audio: a listener's ``POST /join`` → the first non-silent frame of a live speaker.

Everything real, on loopback: the app served over HTTP (threaded WSGI, PostgreSQL), a private
``livekit-server``, the host publishing a 440 Hz tone with the Python realtime client, and N listeners
who each call the join API, connect with the returned token and wait for sound. Bounded: N joins,
each with a timeout; everything it started is stopped at the end.

    set -a; . .services/env; set +a          # bin/services up first (PostgreSQL, livekit-server binary)
    .venv/bin/python bench/time_to_first_audio.py --joins 30

Prints one JSON object (median/p95/max per phase) and a Markdown row for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import summary, use_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for sound per join")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    use_database("spaces_bench_ttfa")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
    os.environ["SPACES_DISABLE_THROTTLING"] = "1"
    os.environ["SPACES_FAST_PASSWORD_HASHER"] = "1"
    os.environ["LIVEKIT_ROOM_PREFIX"] = f"bench{os.getpid()}-"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    # Persistent database connections, as a deployed app server keeps them (docs/operations.md).
    os.environ.setdefault("DB_CONN_MAX_AGE", "60")

    import django

    django.setup()
    import httpx
    from _livekit import KEY, SECRET, AppServer, LiveKitServer, Peer, livekit_binary
    from django.conf import settings
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from accounts.models import User

    call_command("migrate", verbosity=0)
    app = AppServer()
    app.start()
    server = LiveKitServer(livekit_binary(), webhook_url=f"{app.url}/webhooks/livekit")
    server.start()
    settings.LIVEKIT_URL, settings.LIVEKIT_API_URL = server.ws_url, server.http_url
    settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = KEY, SECRET

    run = f"{os.getpid()}x{int(time.time())}"
    host = User.objects.create(username=f"bh{run}", follower_count=settings.SPACES_HOST_MIN_FOLLOWERS)
    listeners = [User.objects.create(username=f"bl{run}n{i}") for i in range(args.joins)]

    def client(user: User) -> httpx.Client:
        token, _ = Token.objects.get_or_create(user=user)
        return httpx.Client(base_url=app.url, headers={"Authorization": f"Token {token.key}"}, timeout=10)

    peers: list[Peer] = []
    results: dict[str, list[float]] = {"total": [], "api": [], "connect": [], "first_frame": []}
    failures = 0
    host_api = client(host)
    try:
        space = host_api.post("/api/v1/spaces", json={"title": "Benchmark"}).json()
        creds = host_api.post(f"/api/v1/spaces/{space['id']}/join").json()
        speaker = Peer(creds["livekit_url"], creds["token"], name="host")
        peers.append(speaker)
        speaker.connect()
        assert speaker.publish_tone(), "the host could not publish"
        host_identity = creds["identity"]
        time.sleep(0.5)  # the tone is flowing before the first listener arrives
        warm = client(host)
        warm.get(f"/api/v1/spaces/{space['id']}")  # one untimed request: the server is warm, as in production
        warm.close()
        for user in listeners:
            api = client(user)
            t0 = time.perf_counter()
            resp = api.post(f"/api/v1/spaces/{space['id']}/join")
            t1 = time.perf_counter()
            resp.raise_for_status()
            peer = Peer(resp.json()["livekit_url"], resp.json()["token"], name=user.username)
            peers.append(peer)
            peer.connect()
            t2 = time.perf_counter()
            if not peer.heard_from(host_identity, frames=1, timeout=args.timeout):
                failures += 1
            else:
                t3 = peer.first_loud_at[host_identity]
                results["total"].append((t3 - t0) * 1000)
                results["api"].append((t1 - t0) * 1000)
                results["connect"].append((t2 - t1) * 1000)
                results["first_frame"].append((t3 - t2) * 1000)
            peer.close()
            peers.remove(peer)
            api.post(f"/api/v1/spaces/{space['id']}/leave")
            api.close()
        host_api.post(f"/api/v1/spaces/{space['id']}/end")
    finally:
        for peer in peers:
            peer.close()
        host_api.close()
        server.cleanup()
        app.stop()

    report = {
        "benchmark": "time_to_first_audio",
        "joins": args.joins,
        "heard": len(results["total"]),
        "failures": failures,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "phases": {name: summary(values) for name, values in results.items() if values},
    }
    print(json.dumps(report, indent=2))
    if results["total"]:
        t = report["phases"]["total"]
        print(
            f"| time to first audio (join API → first non-silent frame) | {len(results['total'])} joins "
            f"| {t['median_ms']} ms | {t['p95_ms']} ms | {t['max_ms']} ms |"
        )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
