"""Approve to heard: the host approves a raised hand → the first non-silent frame of that listener's
microphone reaches the host.

The listener's client publishes as soon as LiveKit tells it that it may (``participant_permissions_changed``,
caused by the ``UpdateParticipant`` the approval sends on commit). Everything real, on loopback, as in
``time_to_first_audio.py``: the app over HTTP, PostgreSQL, a private ``livekit-server``, realtime clients.

    set -a; . .services/env; set +a
    .venv/bin/python bench/approve_to_heard.py --approvals 20
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
    parser.add_argument("--approvals", type=int, default=20)
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    use_database("spaces_bench_ttfa")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
    os.environ.update(
        SPACES_DISABLE_THROTTLING="1",
        LIVEKIT_ROOM_PREFIX=f"bench{os.getpid()}-",
        LOG_LEVEL="WARNING",
        CELERY_TASK_ALWAYS_EAGER="1",  # the LiveKit call runs on commit in the web process, as without a broker
    )
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
    host = User.objects.create(username=f"ah{run}", follower_count=settings.SPACES_HOST_MIN_FOLLOWERS)
    users = [User.objects.create(username=f"al{run}n{i}") for i in range(args.approvals)]

    def client(user: User) -> httpx.Client:
        token, _ = Token.objects.get_or_create(user=user)
        return httpx.Client(base_url=app.url, headers={"Authorization": f"Token {token.key}"}, timeout=10)

    totals: list[float] = []
    api: list[float] = []
    failures = 0
    peers: list[Peer] = []
    host_api = client(host)
    try:
        space = host_api.post("/api/v1/spaces", json={"title": "Approve"}).json()
        base = f"/api/v1/spaces/{space['id']}"
        creds = host_api.post(f"{base}/join").json()
        host_peer = Peer(creds["livekit_url"], creds["token"], name="host")
        peers.append(host_peer)
        host_peer.connect()
        for user in users:
            user_api = client(user)
            joined = user_api.post(f"{base}/join").json()
            peer = Peer(joined["livekit_url"], joined["token"], name=user.username)
            peers.append(peer)
            peer.connect()
            user_api.post(f"{base}/hand").raise_for_status()
            published = peer.publish_when_allowed()
            t0 = time.perf_counter()
            host_api.post(f"{base}/hands/{user.username}/approve").raise_for_status()
            t1 = time.perf_counter()
            ok = published.result(15) and host_peer.heard_from(joined["identity"], frames=1, timeout=10)
            if ok:
                totals.append((host_peer.first_loud_at[joined["identity"]] - t0) * 1000)
                api.append((t1 - t0) * 1000)
            else:
                failures += 1
            host_api.post(f"{base}/participants/{user.username}/move-to-listeners").raise_for_status()
            peer.close()
            peers.remove(peer)
            user_api.post(f"{base}/leave")
            user_api.close()
        host_api.post(f"{base}/end")
    finally:
        for peer in peers:
            peer.close()
        host_api.close()
        server.cleanup()
        app.stop()

    report = {
        "benchmark": "approve_to_heard",
        "approvals": args.approvals,
        "heard": len(totals),
        "failures": failures,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "approve_to_heard": summary(totals) if totals else None,
        "approve_api_call": summary(api) if api else None,
    }
    print(json.dumps(report, indent=2))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
