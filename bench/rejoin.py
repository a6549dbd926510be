"""Rejoin: time from a LiveKit node coming back to the web client playing the speaker again.

Everything real, on loopback: daphne serving the app (PostgreSQL, Redis), a private ``livekit-server``,
the host publishing a 440 Hz tone with the Python realtime client, and one listener in headless Chromium
on the Space page. Each run stops the node, keeps it down ``--outage`` seconds, starts it again on the
same ports and measures until a WebAudio analyser on the page's audio element hears the tone. The host's
realtime client rejoins at the same moment (its own loop: join API, connect, publish), so the figure is
what a listener lives through; the time the speaker needed is reported beside it.

    set -a; . .services/env; set +a          # bin/services up first; bin/build-web for the bundle
    .venv/bin/python bench/rejoin.py --runs 5 --outage 3

Prints one JSON object (median/p95/max) and a Markdown row for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import free_port, launch_web, stop, summary, use_database  # noqa: E402

# Rooms ensured in the last 10 s are remembered (rooms/services/presence.py ROOM_ENSURED_TTL_S); a node
# that restarts loses its rooms, so each run starts once that memory has expired, as in steady listening.
SETTLE_S = 11


PASSWORD = "bench-rejoin-password"
# Chromium as the browser tests run it: fake microphone, autoplay allowed.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
# How loud the page plays ``identity`` over ``ms`` (RMS of its audio element's stream, WebAudio analyser).
PLAYED_RMS = """async ([identity, ms]) => {
  const el = [...document.querySelectorAll('audio[data-lk]')].find((a) => a.dataset.identity === identity);
  if (!el || el.paused) return 0;
  const ctx = new AudioContext();
  if (ctx.state !== 'running') { await ctx.close(); return -1; }
  const src = ctx.createMediaStreamSource(el.captureStream());
  const an = ctx.createAnalyser(); an.fftSize = 2048; src.connect(an);
  const buf = new Float32Array(an.fftSize); let peak = 0;
  const until = performance.now() + ms;
  while (performance.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    an.getFloatTimeDomainData(buf);
    let sum = 0; for (const v of buf) sum += v * v;
    peak = Math.max(peak, Math.sqrt(sum / buf.length));
  }
  await ctx.close();
  return peak;
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--outage", type=float, default=3.0, help="seconds the node stays down")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for sound per run")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    db_url = use_database("spaces_bench_rejoin")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
    prefix = f"brj{os.getpid()}-"
    os.environ.update(
        SPACES_DISABLE_THROTTLING="1",
        SPACES_FAST_PASSWORD_HASHER="1",
        LIVEKIT_ROOM_PREFIX=prefix,
        SPACES_CHANNEL_PREFIX=f"ch-{prefix}",
        LOG_LEVEL="WARNING",
        CELERY_TASK_ALWAYS_EAGER="true",
    )
    import django

    django.setup()
    from _livekit import KEY, SECRET, LiveKitServer, Peer, livekit_binary
    from django.conf import settings
    from django.core.management import call_command

    from accounts.models import User
    from rooms import livekit_client
    from rooms.services import space_create, space_join

    call_command("migrate", verbosity=0)
    port = free_port()
    lk = LiveKitServer(livekit_binary(), webhook_url=f"http://127.0.0.1:{port}/webhooks/livekit")
    lk.start()
    settings.LIVEKIT_URL, settings.LIVEKIT_API_URL = lk.ws_url, lk.http_url
    settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = KEY, SECRET
    env = dict(os.environ)
    env.update(
        DATABASE_URL=db_url,
        LIVEKIT_URL=lk.ws_url,
        LIVEKIT_API_URL=lk.http_url,
        LIVEKIT_API_KEY=KEY,
        LIVEKIT_API_SECRET=SECRET,
        LIVEKIT_API_TIMEOUT_S="2",
    )
    logs = Path(tempfile.mkdtemp(prefix="spaces-bench-rejoin-"))
    web_proc, _ = launch_web("daphne", env, logs / f"daphne-{port}.log", port=port)
    web_http = f"http://127.0.0.1:{port}"

    run = f"{os.getpid()}x{int(time.time())}"
    host = User.objects.create(username=f"rh{run}", follower_count=settings.SPACES_HOST_MIN_FOLLOWERS)
    listener = User.objects.create(username=f"rl{run}")
    listener.set_password(PASSWORD)
    listener.save()
    space = space_create(host=host, title="Rejoin benchmark")
    identity = livekit_client.identity_for(host.pk)
    peers: list[Peer] = []

    def speaker_on_air(deadline: float) -> float | None:
        """The host's realtime client back on air (join API, connect, publish); when it got there."""
        from django.db import connection

        try:
            while time.monotonic() < deadline:
                creds = space_join(space_id=space.pk, user=host)
                peer = Peer(creds.livekit_url, creds.token, name="speaker")
                try:
                    peer.connect()
                    if peer.publish_tone():
                        peers.append(peer)
                        return time.monotonic()
                except Exception:
                    pass
                peer.close()
                time.sleep(0.3)
            return None
        finally:
            connection.close()

    def in_thread(fn: Any, *a: Any) -> dict[str, Any]:
        box: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: box.setdefault("value", fn(*a)), daemon=True)
        thread.start()
        box["thread"] = thread
        return box

    heard: list[float] = []
    speaker_back: list[float] = []
    failures = 0
    from playwright.sync_api import sync_playwright

    first = in_thread(speaker_on_air, time.monotonic() + 30)
    first["thread"].join()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"), args=CHROMIUM_FLAGS
            )
            page = browser.new_context(permissions=["microphone"]).new_page()
            page.goto(f"{web_http}/login")
            page.fill("#username", listener.username)
            page.fill("#password", PASSWORD)
            page.click("#login-form button[type=submit]")
            page.wait_for_url(f"{web_http}/")
            page.goto(f"{web_http}/spaces/{space.pk}")
            page.click("#join-btn")

            def plays(timeout: float) -> float | None:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    if float(page.evaluate(PLAYED_RMS, [identity, 200])) > 0.01:
                        return time.monotonic()
                return None

            if plays(30) is None:
                sys.exit("the listener never heard the speaker")
            for _ in range(args.runs):
                time.sleep(SETTLE_S)
                for peer in peers:
                    peer.close()
                peers.clear()
                lk.stop()
                time.sleep(args.outage)
                lk.start()
                back = time.monotonic()
                speaker = in_thread(speaker_on_air, back + args.timeout)
                at = plays(args.timeout)
                speaker["thread"].join()
                if at is None or speaker.get("value") is None:
                    failures += 1
                    continue
                heard.append((at - back) * 1000)
                speaker_back.append((speaker["value"] - back) * 1000)
            browser.close()
    finally:
        for peer in peers:
            peer.close()
        stop(web_proc)
        lk.cleanup()

    report = {
        "benchmark": "rejoin",
        "runs": args.runs,
        "outage_s": args.outage,
        "heard": len(heard),
        "failures": failures,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "node_back_to_heard": summary(heard) if heard else None,
        "node_back_to_speaker_on_air": summary(speaker_back) if speaker_back else None,
    }
    print(json.dumps(report, indent=2))
    if heard:
        t = report["node_back_to_heard"]
        assert isinstance(t, dict)
        print(
            f"| rejoin (LiveKit node back → tone heard in the page, {args.outage:g} s outage) | {len(heard)} runs "
            f"| {t['median_ms']} ms | {t['p95_ms']} ms | {t['max_ms']} ms |"
        )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
