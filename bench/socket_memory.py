"""Where an idle websocket's memory goes: tracemalloc over one in-process uvicorn server.

Starts the production ASGI app in this process under uvicorn (same options as the Procfile), connects
N listeners from bench/fanout_client.py, and prints the Python allocations that the connections added,
grouped by the line that made them, with their size per socket. Python objects only: the kernel's
socket buffers and the C parts of uvloop's transports are not in it (compare with fanout.py's RSS).

    set -a; . .services/env; set +a
    .venv/bin/python bench/socket_memory.py --listeners 2000 --top 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import _common as fanout  # noqa: E402  (bench/_common.py: seeding, server start, measurement helpers)


async def serve_and_measure(args: argparse.Namespace, world: dict, tokens_file: Path, out: Path) -> None:
    import uvicorn

    port = fanout.free_port()
    config = uvicorn.Config(
        "spaces_project.asgi:application",
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        backlog=4096,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    tracemalloc.start(args.frames)
    before = tracemalloc.take_snapshot()
    client = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bench/fanout_client.py"),
        *("--port", str(port), "--space", str(world["space"]), "--tokens", str(tokens_file)),
        *("--out", str(out), "--max-seconds", "300"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert client.stdout is not None and client.stdin is not None
    ready = (await client.stdout.readline()).decode().split()
    connected = int(ready[1])
    await asyncio.sleep(3.0)
    after = tracemalloc.take_snapshot()
    stats = after.compare_to(before, "traceback" if args.traceback else "lineno")
    total = sum(s.size_diff for s in stats)
    print(f"{connected} sockets; Python allocations added: {total / connected / 1024:.1f} KB per socket")
    for stat in stats[: args.top]:
        if stat.size_diff <= 0:
            continue
        where = stat.traceback.format()[-1].strip() if not args.traceback else "\n    ".join(stat.traceback.format())
        print(f"{stat.size_diff / connected:8.0f} B/socket {stat.count_diff / connected:6.2f} obj  {where}")
    client.stdin.write(b"DONE\n")
    await client.stdin.drain()
    await client.wait()
    server.should_exit = True
    await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listeners", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--frames", type=int, default=1)
    parser.add_argument("--traceback", action="store_true", help="group by whole traceback (use --frames 8)")
    parser.add_argument("--db", default="spaces_bench_fanout")
    args = parser.parse_args()
    fanout.raise_nofile()
    fanout.ensure_database(args.db)
    settings = fanout.server_settings(args.db, "hub", f"mem-{uuid.uuid4().hex[:8]}")
    settings.pop("DATABASE_URL")  # setup_django points it at the bench database
    os.environ.update(settings)
    fanout.setup_django(args.db)
    world = fanout.seed(args.listeners)
    with tempfile.TemporaryDirectory(prefix="socket-memory-") as tmp:
        tokens_file = Path(tmp) / "tokens.txt"
        tokens_file.write_text("\n".join(world["tokens"]))
        started = time.monotonic()
        asyncio.run(serve_and_measure(args, world, tokens_file, Path(tmp) / "arrivals.json"))
        print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
