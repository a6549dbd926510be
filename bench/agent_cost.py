"""Audio agent cost: CPU and memory per recorded Space (3 speakers talking), Spaces per core, recording
on → first audio in storage, and Space end → replay ready (plus joining a synthetic one-hour recording).

Everything real, on loopback: PostgreSQL, a private ``livekit-server``, one agent process
(``manage.py run_agent``, measured through /proc), and three realtime-client speakers per Space
publishing tones in bursts (they run in this process, not in the agent's). Bounded: N Spaces, fixed
durations; everything it started is stopped at the end.

    set -a; . .services/env; set +a          # bin/services up first (PostgreSQL, livekit-server binary)
    .venv/bin/python bench/agent_cost.py --spaces 6 --measure-s 20
    .venv/bin/python bench/agent_cost.py --only-hour     # only join the synthetic hour (no LiveKit)

Prints one JSON object and Markdown rows for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, free_port, summary, use_database

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_for(predicate: Any, timeout: float) -> float | None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if predicate():
            return (time.perf_counter() - t0) * 1000
        time.sleep(0.02)
    return None


def one_hour_join_s() -> dict[str, float]:
    """Join 1800 two-second parts (one hour) into a replay, as the agent does when a Space ends."""
    import numpy as np
    from django.utils import timezone

    from accounts.models import User
    from rooms import audio
    from rooms.models import Recording, Space
    from rooms.services import recordings

    host = User.objects.create(username=f"bhour{os.getpid()}{int(time.time())}", follower_count=10**6)
    space = Space.objects.create(host=host, title="hour", state="ended", started_at=timezone.now())
    rec = Recording.objects.create(space=space, started_at=timezone.now(), state="recording")
    epoch = recordings.lease_acquire(space_id=space.pk, agent_id="bench")
    assert epoch is not None
    t = np.arange(96000) / 48000
    data = audio.encode((6000 * np.sin(2 * np.pi * 300 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)).astype(np.int16))
    t0 = time.perf_counter()
    for i in range(1800):
        recordings.part_store(
            space_id=space.pk, agent_id="bench", epoch=epoch, recording_id=rec.pk, start_ms=i * 2000,
            duration_ms=2000, data=data,
        )  # fmt: skip
    store_s = time.perf_counter() - t0
    recordings.lease_release(space_id=space.pk, agent_id="bench", epoch=epoch)
    Recording.objects.filter(pk=rec.pk).update(state="processing", ended_at=timezone.now())
    t0 = time.perf_counter()
    assert recordings.recording_finalise(space_id=space.pk) == "ready"
    join_s = time.perf_counter() - t0
    return {"store_1800_parts_s": round(store_s, 1), "join_one_hour_s": round(join_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", type=int, default=6)
    parser.add_argument("--measure-s", type=float, default=20.0)
    parser.add_argument("--skip-hour", action="store_true")
    parser.add_argument("--only-hour", action="store_true", help="only join the synthetic one-hour recording")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    use_database("spaces_bench_agent")
    media = tempfile.mkdtemp(prefix="spaces-bench-media-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="spaces_project.settings",
        LIVEKIT_ROOM_PREFIX=f"bagent{os.getpid()}-",
        LOG_LEVEL="WARNING",
        CELERY_TASK_ALWAYS_EAGER="1",
        SPACES_MEDIA_ROOT=media,
    )
    import django

    django.setup()
    from _livekit import KEY, SECRET, LiveKitServer, Peer, livekit_binary
    from django.conf import settings
    from django.core.management import call_command

    from accounts.models import User
    from rooms import livekit_client
    from rooms.models import Participant, Recording, RecordingPart, Role, Space
    from rooms.services import lifecycle, recordings

    call_command("migrate", verbosity=0)
    if args.only_hour:
        hour = one_hour_join_s()
        print(json.dumps({**hour, "load_before": round(load_before, 1), "load_after": round(os.getloadavg()[0], 1)}))
        return
    # Leftovers of an interrupted run must not be recorded alongside (they would count in the CPU figure).
    Space.objects.filter(state="live").update(state="ended", record=False)
    server = LiveKitServer(livekit_binary(), webhook_url=f"http://127.0.0.1:{free_port()}/webhooks/livekit")
    server.start()
    settings.LIVEKIT_URL, settings.LIVEKIT_API_URL = server.ws_url, server.http_url
    settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = KEY, SECRET
    env = dict(os.environ, LIVEKIT_URL=server.ws_url, LIVEKIT_API_URL=server.http_url, LIVEKIT_API_KEY=KEY,
               LIVEKIT_API_SECRET=SECRET, SPACES_AGENT_POLL_S="0.25")  # fmt: skip
    log = open(Path(media) / "agent.log", "ab")
    agent = subprocess.Popen([sys.executable, "manage.py", "run_agent", "--agent-id", "bench", "--max-spaces", "200"],
                             cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    peers: list[Peer] = []
    run = f"{os.getpid()}x{int(time.time())}"
    starts: list[float] = []
    ready: list[float] = []
    try:
        time.sleep(4)  # Django start-up of the agent process
        rss_idle, spaces = rss_mb(agent.pid), []
        for i in range(args.spaces):
            host = User.objects.create(username=f"bh{run}n{i}", follower_count=settings.SPACES_HOST_MIN_FOLLOWERS)
            space = lifecycle.space_create(host=host, title=f"Bench {i}")
            livekit_client.room_ensure(room=space.livekit_room, empty_timeout_s=60, departure_timeout_s=60)
            speakers = [host] + [User.objects.create(username=f"bs{run}n{i}s{k}") for k in range(2)]
            for k, user in enumerate(speakers):
                Participant.objects.update_or_create(
                    space=space, user=user, defaults={"role": Role.HOST if k == 0 else Role.SPEAKER}
                )
                token = livekit_client.token_mint(room=space.livekit_room, user_id=user.pk, name=user.username,
                                                  permission=livekit_client.STAGE_PERMISSION)  # fmt: skip
                peer = Peer(server.ws_url, token, name=user.username, tone_hz=300 + 200 * k, pattern=(1.0 + k, 0.7))
                peers.append(peer)
                peer.connect()
                assert peer.publish_tone(), "a speaker could not publish"
            time.sleep(0.5)
            recordings.recording_set(space_id=space.pk, actor=host, on=True)  # the host turns recording on
            took = wait_for(lambda s=space: RecordingPart.objects.filter(recording__space=s).exists(), 15)
            if took is not None:
                starts.append(took)
            spaces.append((space, host))
        time.sleep(3)
        c0, t0 = cpu_s(agent.pid), time.perf_counter()
        time.sleep(args.measure_s)
        cores = (cpu_s(agent.pid) - c0) / (time.perf_counter() - t0)
        rss_busy = rss_mb(agent.pid)
        parts = RecordingPart.objects.filter(recording__space__in=[s for s, _ in spaces]).count()
        for space, host in spaces:
            lifecycle.space_end(space_id=space.pk, actor=host)
        for space, _host in spaces:
            wait_for(lambda s=space: Recording.objects.get(space=s).state == "ready", 120)
            rec = Recording.objects.get(space=space)
            if rec.ready_at and rec.ended_at:
                ready.append((rec.ready_at - rec.ended_at).total_seconds() * 1000)
    finally:
        for peer in peers:
            peer.close()
        agent.terminate()
        try:
            agent.wait(30)
        except subprocess.TimeoutExpired:
            agent.kill()
        log.close()
        server.cleanup()
    hour = {} if args.skip_hour else one_hour_join_s()
    n = args.spaces
    per_space_cpu = cores / n
    report = {
        "benchmark": "agent_cost",
        "spaces": n,
        "speakers_per_space": 3,
        "agent_cpu_cores_total": round(cores, 3),
        "agent_cpu_per_space_pct_of_core": round(100 * per_space_cpu, 2),
        "spaces_per_core": round(1 / per_space_cpu, 1) if per_space_cpu else None,
        "agent_rss_idle_mb": round(rss_idle, 1),
        "agent_rss_busy_mb": round(rss_busy, 1),
        "agent_rss_per_space_mb": round((rss_busy - rss_idle) / n, 1),
        "parts_stored": parts,
        "recording_on_to_first_audio_stored": summary(starts) if starts else None,
        "space_end_to_replay_ready": summary(ready) if ready else None,
        **hour,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "media": media,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
