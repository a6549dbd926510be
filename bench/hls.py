"""HLS overflow: glass to glass (a speaker's tone burst → audible at an HLS client) and one nginx core
serving N simulated HLS listeners.

``latency``: everything real on loopback: PostgreSQL, the livekit-server of ``bin/services``, one audio
agent process (``manage.py run_agent``) encoding the Space as HLS, nginx from ``bin/services`` checking
the signed links. The host publishes silence with a 300 ms tone burst every 2.3 s (frequencies cycle, so
each burst is identified); a Python HLS client polls the signed playlist every 100 ms, fetches each new
segment once and decodes it with PyAV. Glass to glass = the burst's first frame handed to LiveKit → the
segment holding its onset fetched and decoded (what a player at the live edge could play). Also reported:
how long the onset waited for its segment to close (what LL-HLS partial segments would cut).

``origin``: a private nginx (``bin/services up nginx``, ``worker_processes 1``) serving a live Space's
HLS (the agent's encoder writing 1-second segments in real time) to N listeners simulated by ``h2load``
(Debian ``nghttp2-client``): each listener is a keep-alive connection fetching the playlist every second
and each new segment once (a ``--timing-script-file``). Steps of N up to saturation: requests/s, p99
segment fetch (a separate probe client fetching segments during the load), nginx CPU per 1,000 listeners.

    bin/services up postgres redis livekit nginx; set -a; . .services/env; set +a
    .venv/bin/python bench/hls.py latency --bursts 20
    .venv/bin/python bench/hls.py origin --steps 500,1000,2000,4000,8000 --seconds 10

Prints one JSON object per part. Bounded: fixed counts and durations; it stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

ROOT = _common.ROOT
BURST_HZ = (700.0, 900.0, 1100.0, 1300.0, 1500.0)
BURST_S, EVERY_S = 0.3, 2.3  # 2.3 s: the bursts fall at every phase of the 1-second segments


# --- a small HLS client (fetch, parse, decode) ------------------------------------------------------
def _get(client: Any, url: str) -> tuple[int, bytes]:
    response = client.get(url)
    return response.status_code, response.content


def _decode_ts(data: bytes) -> Any:
    import av
    import numpy as np

    out: list[Any] = []
    container: Any = av.open(io.BytesIO(data), "r", format="mpegts")
    with container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        for frame in container.decode(audio=0):
            out.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)


def _segments(text: str) -> list[tuple[int, str]]:
    seq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))  # type: ignore[union-attr]
    names = [line for line in text.splitlines() if line and not line.startswith("#")]
    return [(seq + i, name) for i, name in enumerate(names)]


def _tone_onset(pcm: Any, hz: float) -> int | None:
    """Sample index where a burst at ``hz`` starts in ``pcm`` (10 ms windows), or None."""
    import numpy as np

    n = 480
    if pcm.size < n:
        return None
    windows = pcm[: pcm.size // n * n].astype(np.float64).reshape(-1, n)
    t = np.arange(n) / 48000
    level = 2 * np.abs(windows @ np.exp(-2j * np.pi * hz * t)) / n
    loud = np.nonzero(level > 1500)[0]
    return int(loud[0]) * n if loud.size else None


# --- glass to glass ---------------------------------------------------------------------------------
async def _publish_bursts(url: str, token: str, emitted: list[tuple[float, float]], stop: asyncio.Event) -> None:
    """Silence with a burst every EVERY_S; records (time handed to LiveKit, hz) of each burst's first frame."""
    import numpy as np
    from livekit import rtc

    room = rtc.Room()
    await room.connect(url, token)
    source = rtc.AudioSource(48000, 1, queue_size_ms=20)  # a microphone: frames leave as they are made
    track = rtc.LocalAudioTrack.create_audio_track("mic", source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await room.local_participant.publish_track(track, options)
    n, t0, k = 480, time.monotonic(), 0
    burst_at, burst_i = t0 + 3.0, 0
    try:
        while not stop.is_set():
            now = t0 + k * n / 48000
            frame = rtc.AudioFrame.create(48000, 1, n)
            data = np.frombuffer(frame.data, dtype=np.int16)
            if burst_at <= now < burst_at + BURST_S:
                hz = BURST_HZ[burst_i % len(BURST_HZ)]
                if now - burst_at < n / 48000:
                    emitted.append((time.monotonic(), hz))
                data[:] = (8000 * np.sin(2 * math.pi * hz * (np.arange(n) + k * n) / 48000)).astype(np.int16)
            elif now >= burst_at + BURST_S:
                burst_at, burst_i = burst_at + EVERY_S, burst_i + 1
            await source.capture_frame(frame)
            k += 1
            ahead = t0 + k * n / 48000 - time.monotonic()
            if ahead > 0:  # real time, like a microphone: a frame is stamped when it is made
                await asyncio.sleep(ahead)
    finally:
        await room.disconnect()


def _follow(url: str, heard: list[dict[str, Any]], emitted: list[tuple[float, float]], stop: threading.Event) -> None:
    import httpx

    seen: set[int] = set()
    with httpx.Client(timeout=5, trust_env=False) as client:
        while not stop.is_set():
            status, body = _get(client, url)
            if status == 200:
                for n, name in _segments(body.decode()):
                    if n in seen:
                        continue
                    s_status, data = _get(client, urljoin(url, name))
                    if s_status != 200:
                        continue
                    seen.add(n)
                    fetched = time.monotonic()
                    pcm = _decode_ts(data)
                    for hz in BURST_HZ:
                        onset = _tone_onset(pcm, hz)
                        if onset is None or onset < 480:  # a burst carried over from the previous segment
                            continue
                        sent = [t for t, f in emitted if f == hz and t < fetched]
                        if sent:
                            heard.append(
                                {
                                    "g2g_s": fetched - sent[-1],
                                    "wait_for_segment_end_s": (pcm.size - onset) / 48000,
                                    "segment_s": pcm.size / 48000,
                                }
                            )
            time.sleep(0.1)


def latency(args: argparse.Namespace) -> dict[str, Any]:
    if not os.environ.get("SPACES_HLS_SECRET"):
        sys.exit("SPACES_HLS_* not set: bin/services up nginx, then load .services/env")
    db = "spaces_bench_hls"
    _common.ensure_database(db)
    _common.setup_django(db)
    from django.conf import settings

    from accounts.models import User
    from rooms import services
    from rooms.models import Space

    settings.LIVEKIT_ROOM_PREFIX = f"bhls{uuid.uuid4().hex[:6]}-"
    host = User.objects.create_user(username=f"hls{uuid.uuid4().hex[:8]}", password=uuid.uuid4().hex)
    User.objects.filter(pk=host.pk).update(follower_count=settings.SPACES_HOST_MIN_FOLLOWERS)
    host.refresh_from_db()
    space = services.space_create(host=host, title="HLS latency")
    Space.objects.filter(pk=space.pk).update(hls_forced=True)
    creds = services.space_join(space_id=space.pk, user=host)
    listener = User.objects.create_user(username=f"hll{uuid.uuid4().hex[:8]}", password=uuid.uuid4().hex)
    hls_creds = services.space_join_any(space_id=space.pk, user=listener, transport="hls")
    url = hls_creds.hls_url  # type: ignore[union-attr]
    log = Path(tempfile.mkstemp(prefix="bench-hls-agent-", suffix=".log")[1])
    env = {
        **os.environ,
        "DATABASE_URL": _common.bench_database_url(db),
        "LIVEKIT_ROOM_PREFIX": settings.LIVEKIT_ROOM_PREFIX,
        "SPACES_AGENT_POLL_S": "0.5",
        "SPACES_HLS_SEGMENT_S": str(args.segment_s),
        "SPACES_HLS_LINK_TTL_S": "3600",
    }
    agent = subprocess.Popen(
        [sys.executable, "manage.py", "run_agent", "--agent-id", f"bench-hls-{os.getpid()}"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    emitted: list[tuple[float, float]] = []
    heard: list[dict[str, Any]] = []
    stop_follow = threading.Event()
    follower = threading.Thread(target=_follow, args=(url, heard, emitted, stop_follow), daemon=True)

    async def run() -> None:
        stop = asyncio.Event()
        publisher = asyncio.create_task(_publish_bursts(creds.livekit_url, creds.token, emitted, stop))
        follower.start()
        deadline = time.monotonic() + 3.0 + (args.bursts + 3) * EVERY_S + 10
        while len(heard) < args.bursts and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        stop.set()
        await publisher

    try:
        asyncio.run(run())
    finally:
        stop_follow.set()
        follower.join(5)
        _common.stop(agent)
        services.space_end(space_id=space.pk, actor=host)
    if not heard:
        sys.exit(f"no burst heard; agent log: {log}")
    g2g = [h["g2g_s"] for h in heard]
    wait = [h["wait_for_segment_end_s"] for h in heard]
    seg = statistics.median(h["segment_s"] for h in heard)
    return {
        "segment_s": round(seg, 3),
        "bursts_heard": len(heard),
        "bursts_sent": len(emitted),
        "g2g_median_s": round(statistics.median(g2g), 3),
        "g2g_p95_s": round(_common.pct(g2g, 95), 3),
        "g2g_max_s": round(max(g2g), 3),
        "wait_for_segment_end_median_s": round(statistics.median(wait), 3),
        # LL-HLS (200 ms parts, blocking playlist reload) would wait ≤ 0.2 s for a part instead of the
        # segment's rest, and skip the 100 ms poll: the estimated median with it.
        "ll_hls_estimate_median_s": round(statistics.median(g2g) - statistics.median(wait) + 0.1 - 0.05, 3),
        "hls_js_default_extra_s": 3 * max(1, round(seg)),  # liveSyncDurationCount=3 target durations
        "machine": _common.machine(),
    }


# --- one nginx core ------------------------------------------------------------------------------------
def _feed_writer(directory: str, stop: threading.Event) -> None:
    """The agent's HLS writer fed a tone in real time: segments appear and age out as in a live Space."""
    import numpy as np

    from rooms.agent.hls import HlsWriter

    writer = HlsWriter(directory)
    k, t0 = 0, time.monotonic()
    while not stop.is_set():
        pcm = (8000 * np.sin(2 * math.pi * 440 * (np.arange(960) + k * 960) / 48000)).astype(np.int16)
        writer.write(pcm)
        k += 1
        delay = t0 + k * 0.02 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    writer.close()


def _h2load(url_base: str, script: Path, clients: int, requests: int, ramp: int, log: Path | None) -> dict[str, Any]:
    cmd = ["h2load", "--h1", "-c", str(clients), "-n", str(requests), f"--timing-script-file={script}"]
    cmd += ["-r", str(ramp), "--rate-period=1s", "-T", "10", "-N", "10", "--base-uri", url_base]
    if log is not None:
        cmd += ["--log-file", str(log)]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600).stdout
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    rps = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", out)
    return {
        "done": int(done.group(1)) if done else 0,
        "succeeded": int(done.group(2)) if done else 0,
        "failed": int(done.group(3)) if done else 0,
        "req_s": float(rps.group(3)) if rps else 0.0,
        "raw_tail": out.strip().splitlines()[-8:],
    }


def origin(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("h2load") is None:
        sys.exit("h2load not found: apt-get install nghttp2-client")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")
    _common.raise_nofile()  # h2load inherits it: one descriptor per simulated listener
    import django

    state = Path(tempfile.mkdtemp(prefix="bench-hls-origin-"))
    port = _common.free_port()
    env = {**os.environ, "SPACES_SERVICES_DIR": str(state), "SPACES_NGINX_PORT": str(port), "SPACES_NGINX_WORKERS": "1"}
    subprocess.run([str(ROOT / "bin" / "services"), "up", "nginx"], env=env, check=True, capture_output=True)
    exports = dict(re.findall(r"^export (SPACES_HLS_\w+)=(.*)$", (state / "env").read_text(), re.M))
    os.environ.update(exports)
    django.setup()
    from rooms.services import hls

    master = int((state / "nginx" / "nginx.pid").read_text())
    worker = int(
        subprocess.run(["pgrep", "-P", str(master)], check=True, capture_output=True, text=True).stdout.split()[0]
    )
    space_id = 1
    stop = threading.Event()
    feeder = threading.Thread(target=_feed_writer, args=(hls.space_dir(space_id), stop), daemon=True)
    feeder.start()
    results: list[dict[str, Any]] = []
    segment_bytes = 0
    try:
        time.sleep(8)  # a full playlist
        url = hls.signed_url(space_id=space_id, listener="bench", ttl_s=3600)
        base = url.split("/hls/")[0]
        path = url[len(base) :]
        playlist_text = subprocess.run(["curl", "-s", url], check=True, capture_output=True, text=True).stdout
        last = _segments(playlist_text)[-1][1]
        # A copy the writer never deletes (live segments age out in ~10 s): same bytes, stable name.
        shutil.copy(Path(hls.space_dir(space_id)) / last, Path(hls.space_dir(space_id)) / "s999999999.ts")
        segment = path.rsplit("/", 1)[0] + "/s999999999.ts"
        segment_bytes = (Path(hls.space_dir(space_id)) / last).stat().st_size
        seconds = args.seconds
        # one listener: the playlist every second, a new (~18 KB) segment 50 ms after it
        script = state / "listener.txt"
        script.write_text("".join(f"{i * 1000}\t{path}\n{i * 1000 + 50}\t{segment}\n" for i in range(seconds)))
        probe = state / "probe.txt"
        probe.write_text("".join(f"{i * 100}\t{segment}\n" for i in range(seconds * 10)))
        for n in args.steps:
            cpu0, t0 = _common.cpu_s(worker), time.monotonic()
            probe_log = state / f"probe-{n}.log"
            probe_proc = subprocess.Popen(
                ["h2load", "--h1", "-c", "1", "-n", str(seconds * 10), f"--timing-script-file={probe}",
                 "--base-uri", base, "--log-file", str(probe_log)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            ramp = max(1, n // 2)  # all connections open within 2 s
            load = _h2load(base, script, n, n * 2 * seconds, ramp, None)
            probe_proc.wait(120)
            wall = time.monotonic() - t0
            cpu = _common.cpu_s(worker) - cpu0
            lat = []
            for line in probe_log.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[1] == "200":
                    lat.append(int(parts[2]) / 1000)
            row = {
                "listeners": n,
                "req_s": load["req_s"],
                "expected_req_s": 2 * n,
                "failed": load["failed"],
                "nginx_cpu_cores": round(cpu / wall, 3),
                "cpu_per_1000_listeners_cores": round(cpu / wall / n * 1000, 4),
                "segment_p99_ms": round(_common.pct(lat, 99), 2) if lat else None,
                "segment_median_ms": round(statistics.median(lat), 2) if lat else None,
            }
            results.append(row)
            print(json.dumps(row), file=sys.stderr)
            if load["failed"] or cpu / wall > 0.95 or load["req_s"] < 0.9 * 2 * n * seconds / (seconds + 2):
                break  # saturated (or the load generator is: the machine has 2 shared cores)
    finally:
        stop.set()
        feeder.join(5)
        pidfile = state / "nginx" / "nginx.pid"
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
    return {"segment_bytes": segment_bytes, "steps": results, "machine": _common.machine()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--bursts", type=int, default=20)
    lat.add_argument("--segment-s", type=float, default=1.0)
    org = sub.add_parser("origin")
    org.add_argument("--steps", type=lambda s: [int(x) for x in s.split(",")], default=[500, 1000, 2000, 4000, 8000])
    org.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(latency(args) if args.part == "latency" else origin(args), indent=2))


if __name__ == "__main__":
    main()
