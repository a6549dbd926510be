"""LiveKit capacity per node: CPU and memory of one livekit-server per subscribed listener.

One private ``livekit-server`` (v1.13.5, the loopback config of tests/support/livekit.py), one
room, 1 or 3 speakers publishing a 440 Hz tone (Opus, 48 kHz mono) with the Python realtime client,
then listeners joining in steps (hidden, subscribe-only: the grants Spaces gives listeners). At each
step, after the joins settle, it samples the server's CPU time and RSS over a fixed window. Two probe
listeners decode the audio and must keep hearing every speaker, so a step only counts if audio is
really flowing; the other listeners subscribe without decoding (a client here is a Python process on
the same two cores, so decoding in every client would measure the clients, not the server).

Bounded and self-stopping: stops at --max listeners, at the first step whose joins fail, or when the
probes stop hearing audio; the server and every client are stopped at the end.

    .venv/bin/python bench/livekit_capacity.py --speakers 1 --steps 0,25,50,100,150,200 --window 10
    .venv/bin/python bench/livekit_capacity.py --speakers 3 --steps 0,25,50,100,150,200 --window 10

(one configuration per run: the realtime client's native library is best given a fresh process)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livekit import api, rtc  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from _livekit import KEY, SECRET, SILENCE, LiveKitServer, livekit_binary  # noqa: E402

ROOM = "capacity"


def token(identity: str, *, publish: bool) -> str:
    grants = api.VideoGrants(
        room_join=True,
        room=ROOM,
        can_publish=publish,
        can_subscribe=True,
        can_publish_data=False,
        can_publish_sources=["microphone"] if publish else [],
        hidden=not publish,
    )
    return (
        api.AccessToken(KEY, SECRET).with_identity(identity).with_ttl(timedelta(hours=1)).with_grants(grants).to_jwt()
    )


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def tone(source: rtc.AudioSource, hz: int) -> None:
    import math

    n = 480
    frames = []
    for k in range(100):  # one second of tone, reused
        frame = rtc.AudioFrame.create(48000, 1, n)
        for i in range(n):
            frame.data[i] = int(8000 * math.sin(2 * math.pi * hz * (k * n + i) / 48000))
        frames.append(frame)
    k = 0
    while True:
        await source.capture_frame(frames[k % 100])
        k += 1


class Probe:
    """A listener that decodes audio and counts loud frames per speaker."""

    def __init__(self) -> None:
        self.loud: dict[str, int] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def on_track(self, track: rtc.Track, _pub: Any, participant: rtc.RemoteParticipant) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            self.tasks.append(asyncio.ensure_future(self.listen(track, participant.identity)))

    async def listen(self, track: rtc.Track, identity: str) -> None:
        async for event in rtc.AudioStream(track, sample_rate=48000, num_channels=1):
            if max(abs(s) for s in event.frame.data) > SILENCE:
                self.loud[identity] = self.loud.get(identity, 0) + 1


async def connect(url: str, identity: str, *, publish: bool, probe: Probe | None = None) -> rtc.Room:
    room = rtc.Room()
    if probe is not None:
        room.on("track_subscribed", probe.on_track)
    await asyncio.wait_for(
        room.connect(url, token(identity, publish=publish), options=rtc.RoomOptions(auto_subscribe=True)), 30
    )
    return room


async def hold_listeners(url: str, prefix: str, count: int) -> None:
    """Child process: connect ``count`` subscribe-only listeners, report, hold them until stdin closes."""
    rooms: list[rtc.Room] = []
    failed = 0
    for i in range(count):
        try:
            rooms.append(await connect(url, f"{prefix}-{i}", publish=False))
        except Exception:  # a join that fails is counted, not retried
            failed += 1
    print(f"READY {len(rooms)} {failed}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        await asyncio.wait_for(reader.readline(), 900)
    except TimeoutError:
        pass
    await asyncio.gather(*(r.disconnect() for r in rooms), return_exceptions=True)


def spawn_listeners(url: str, prefix: str, count: int) -> subprocess.Popen[str]:
    command = [sys.executable, __file__, "--listen", url, "--prefix", prefix, "--count", str(count)]
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )


async def run_config(
    server: LiveKitServer, speakers: int, steps: list[int], window: float, per_process: int
) -> list[dict[str, Any]]:
    assert server.proc is not None
    pid = server.proc.pid
    lk = api.LiveKitAPI(server.http_url, KEY, SECRET)
    await lk.room.create_room(api.CreateRoomRequest(name=ROOM, empty_timeout=60))
    rooms: list[rtc.Room] = []
    tasks: list[asyncio.Task[None]] = []
    results: list[dict[str, Any]] = []
    probes: list[Probe] = []
    children: list[subprocess.Popen[str]] = []
    try:
        for s in range(speakers):
            room = await connect(server.ws_url, f"speaker{s}", publish=True)
            rooms.append(room)
            source = rtc.AudioSource(48000, 1)
            tasks.append(asyncio.ensure_future(tone(source, 330 + 110 * s)))
            track = rtc.LocalAudioTrack.create_audio_track(f"mic{s}", source)
            options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
            await asyncio.wait_for(room.local_participant.publish_track(track, options), 20)
        probes.extend([Probe(), Probe()])
        for i, probe in enumerate(probes):
            rooms.append(await connect(server.ws_url, f"probe{i}", publish=False, probe=probe))
        listeners = 0
        for target in steps:
            failed = 0
            while listeners < target:
                batch = min(per_process, target - listeners)
                children.append(spawn_listeners(server.ws_url, f"l{len(children)}", batch))
                listeners += batch
                line = await asyncio.to_thread(children[-1].stdout.readline) if children[-1].stdout else ""
                parts = line.split()
                failed += batch if len(parts) != 3 or parts[0] != "READY" else int(parts[2])
            await asyncio.sleep(3)  # subscriptions settle
            before = {k: dict(p.loud) for k, p in enumerate(probes)}
            cpu0, t0 = cpu_s(pid), time.monotonic()
            await asyncio.sleep(window)
            cpu = (cpu_s(pid) - cpu0) / (time.monotonic() - t0)
            heard = min(
                p.loud.get(f"speaker{s}", 0) - before[k].get(f"speaker{s}", 0)
                for k, p in enumerate(probes)
                for s in range(speakers)
            )
            subscribed = listeners - failed + len(probes)
            row = {
                "speakers": speakers,
                "subscribed_listeners": subscribed,
                "failed_joins": failed,
                "server_cpu_cores": round(cpu, 3),
                "server_rss_mb": round(rss_kb(pid) / 1024, 1),
                "probe_loud_frames_per_s_min": round(heard / window, 1),
                "load_avg_1m": os.getloadavg()[0],
            }
            results.append(row)
            print(json.dumps(row), flush=True)
            if not healthy(row, 50):  # joins failing, or under half the 100 frames/s: not really flowing
                break
    finally:
        for child in children:
            if child.stdin is not None:
                child.stdin.close()
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)
        for task in tasks:
            task.cancel()
        for probe in probes:
            for task in probe.tasks:
                task.cancel()
        await asyncio.gather(*(r.disconnect() for r in rooms), return_exceptions=True)
        await lk.room.delete_room(api.DeleteRoomRequest(room=ROOM))
        await lk.aclose()
    return results


def healthy(row: dict[str, Any], window_frames: float) -> bool:
    return not row["failed_joins"] and row["probe_loud_frames_per_s_min"] >= window_frames


def per_listener(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Slope between the smallest and the largest healthy step: cost of one more subscribed listener."""
    good = [r for r in rows if healthy(r, 95)]  # audio fully flowing at the probes
    if len(good) < 2:
        return {}
    a, b = good[0], good[-1]
    d = b["subscribed_listeners"] - a["subscribed_listeners"]
    return {
        "speakers": a["speakers"],
        "cpu_millicores_per_listener": round(1000 * (b["server_cpu_cores"] - a["server_cpu_cores"]) / d, 2),
        "rss_kb_per_listener": round(1024 * (b["server_rss_mb"] - a["server_rss_mb"]) / d, 1),
        "largest": b["subscribed_listeners"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speakers", default="1,3")
    parser.add_argument("--steps", default="0,25,50,100,150")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--per-process", type=int, default=25, help="listeners per client process")
    parser.add_argument("--json", default="")
    parser.add_argument("--listen", default="", help=argparse.SUPPRESS)  # child mode
    parser.add_argument("--prefix", default="l", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.listen:
        asyncio.run(hold_listeners(args.listen, args.prefix, args.count))
        return
    binary = livekit_binary()
    steps = [int(x) for x in args.steps.split(",")]
    out: dict[str, Any] = {"rows": [], "per_listener": []}
    for speakers in [int(x) for x in args.speakers.split(",")]:
        server = LiveKitServer(binary, "http://127.0.0.1:9/webhooks/livekit")  # webhooks go nowhere
        try:
            server.start()
            rows = asyncio.run(run_config(server, speakers, steps, args.window, args.per_process))
        finally:
            server.cleanup()
        out["rows"].extend(rows)
        out["per_listener"].append(per_listener(rows))
        print(json.dumps(out["per_listener"][-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
