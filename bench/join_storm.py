"""Join storm: N new listeners arrive within T seconds; each does the REST ``join`` then opens the Space
websocket up to its snapshot, against one server process (uvicorn, the production ASGI stack).

The listeners are seeded before the timed part (bulk-created accounts and token rows). A separate client
process (this file with ``--client``: uvloop, one small protocol object per connection, no task per
listener) sends listener *i* at ``start + i·T/N`` (an open-loop arrival schedule; at most
``--inflight`` admissions in progress, later ones wait in the client and the wait counts in their time).
Each admission: ``POST /api/v1/spaces/{id}/join`` on a new connection (the LiveKit token), then a new
connection for ``/ws/spaces/{id}/`` until the ``snapshot`` frame. The sockets stay open to the end.

Reported per run: admissions per second (completed admissions over the time from the first scheduled
tap to the last snapshot), p50/p99 tap-to-snapshot, the REST part alone, failures by reason, and the
server process's CPU per admission (user+system from /proc, the storm and its tail until idle).
The same client then connects the same number of sockets to Centrifugo (JWT connect, one channel
subscribed by the token) on the same schedule: its connect rate is the reference.

    set -a; . .services/env; set +a          # after bin/services up (PostgreSQL, Redis, LiveKit)
    .venv/bin/python bench/join_storm.py --sizes 1000,10000 --window 10
    .venv/bin/python bench/join_storm.py --sizes 1000 --window 10 --profile /tmp/storm-prof   # py-spy, SQL, Redis
    .venv/bin/python bench/join_storm.py --sizes 0 --livekit 200 --livekit-batch 20          # LiveKit only
    .venv/bin/python bench/join_storm.py --sizes 10000 --window 10 --processes 2             # a web tier

``--processes K``: K web processes sharing the database, Redis and the channel prefix (the cluster's web
tier without its balancer, whose cost is not ours): listener *i* goes to process *i mod K*; the CPU is the
sum of the K processes.

``--livekit M``: after the storm, M of the admitted listeners connect to the LiveKit room with the tokens
their joins returned (Python realtime client ``livekit``, ``--livekit-batch`` at a time) while a host
publishes a tone; reports joins per second for the node and time to first audio (first loud frame).

Bounded: every wait has a timeout, every process it starts is stopped, and the client exits by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    EXTRA_ENV,
    ROOT,
    bench_database_url,
    centrifugo_token,
    cpu_s,
    ensure_database,
    listener_tokens,
    machine,
    pct,
    raise_nofile,
    setup_django,
    start_centrifugo,
    start_server,
    stop,
    wait_idle,
)

ADMISSION_TIMEOUT_S = 60.0


# -- the client (a subprocess: python bench/join_storm.py --client ...) -------------------------------
class Admission(asyncio.Protocol):
    """One listener's arrival: the join request, then the websocket until its first frame."""

    __slots__ = (
        "buf",
        "cfg",
        "closing_http",
        "connect_sent",
        "done",
        "i",
        "phase",
        "port",
        "t_join",
        "t_snap",
        "t_tap",
        "token",
        "transport",
    )

    def __init__(self, cfg: dict[str, Any], i: int, token: str, t_tap: float, done: asyncio.Future[Any]) -> None:
        self.cfg, self.i, self.token, self.t_tap, self.done = cfg, i, token, t_tap, done
        # Several server processes (--processes): listener i goes to process i mod K for both of its
        # connections, as a balancer spreading arrivals round-robin would.
        ports = cfg.get("ports") or [cfg["port"]]
        self.port = ports[i % len(ports)]
        self.phase = "ws" if cfg["protocol"] in ("centrifugo", "ws") else "join"
        self.buf = b""
        self.closing_http = False
        self.connect_sent = False
        self.t_join = 0.0
        self.t_snap = 0.0
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        cfg, host = self.cfg, f"127.0.0.1:{self.port}"
        if self.phase == "join" and cfg["protocol"] == "healthz":  # the reference: Django's cheapest request
            transport.write(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            return
        if self.phase == "join":
            transport.write(
                (
                    f"POST /api/v1/spaces/{cfg['space']}/join HTTP/1.1\r\nHost: {host}\r\n"
                    f"Authorization: Token {self.token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ).encode()
            )
            return
        key = base64.b64encode(os.urandom(16)).decode()
        if cfg["protocol"] == "centrifugo":
            path, auth = "/connection/websocket", ""
        else:
            path, auth = f"/ws/spaces/{cfg['space']}/", f"Authorization: Token {self.token}\r\n"
        transport.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{auth}\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return  # admitted: later frames (counts, events) are not read
        self.buf += data
        if self.phase == "join":
            head, sep, body = self.buf.partition(b"\r\n\r\n")
            if not sep:
                return
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(body) < length:
                return
            status = head.split(b" ", 2)[1]
            self.closing_http = True
            self.transport.close()
            if status != b"200":
                code = b""
                try:
                    code = json.loads(body).get("code", "").encode()
                except ValueError:
                    pass
                self.finish(f"join_{status.decode()}_{code.decode()}")
                return
            self.t_join = time.monotonic()
            if self.cfg["protocol"] == "healthz":
                self.t_snap = self.t_join
                self.finish("")
                return
            self.phase, self.buf = "ws", b""
            loop = asyncio.get_running_loop()
            task = loop.create_task(loop.create_connection(lambda: self, "127.0.0.1", self.port))
            task.add_done_callback(self._connected)
            return
        head, sep, rest = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            self.finish("ws_handshake")
            return
        if self.cfg["protocol"] == "centrifugo" and not self.connect_sent:
            self.connect_sent = True
            self._send_connect()
            return
        while True:  # skip control frames (a ping before the snapshot)
            if len(rest) < 2:
                return
            n, offset = rest[1] & 0x7F, 2
            if rest[0] & 0x0F == 1 or n >= 126 or len(rest) < offset + n:
                break
            rest = rest[offset + n :]
        if n == 126:
            if len(rest) < 4:
                return
            n, offset = int.from_bytes(rest[2:4], "big"), 4
        elif n == 127:
            if len(rest) < 10:
                return
            n, offset = int.from_bytes(rest[2:10], "big"), 10
        if len(rest) < offset + min(n, 20):
            return
        first = rest[offset : offset + 40]
        if first.startswith(b'{"type":"snapshot"') or first.startswith(b'{"id":1,"connect":'):
            self.t_snap = time.monotonic()
            self.finish("")
        else:
            self.finish("ws_refused:" + first.decode(errors="replace"))

    def _send_connect(self) -> None:
        """Centrifugo's connect command, once the handshake is answered (as bench/fanout_client.py does)."""
        payload = json.dumps({"id": 1, "connect": {"token": self.token}}).encode()
        mask = os.urandom(4)
        masked = bytes(b ^ mask[k % 4] for k, b in enumerate(payload))
        size = len(payload)
        head = bytes([0x81, 0x80 | size]) if size < 126 else bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
        self.transport.write(head + mask + masked)

    def _connected(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or task.exception() is not None:
            self.finish("ws_connect")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closing_http:  # the join's connection, closed by us
            self.closing_http = False
            return
        if not self.done.done():
            self.finish("ws_closed")

    def finish(self, error: str) -> None:
        if not self.done.done():
            self.done.set_result(error)


async def run_client(cfg: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    tokens = [t for t in Path(cfg["tokens"]).read_text().split() if t]
    n, window = len(tokens), float(cfg["window"])
    gate = asyncio.Semaphore(int(cfg["inflight"]))
    results: list[tuple[float, float, float, str]] = [(0.0, 0.0, 0.0, "not_started")] * n
    protocols: list[Admission] = []
    start = time.monotonic() + 0.5

    async def one(i: int) -> None:
        t_tap = start + i * window / max(1, n)
        await asyncio.sleep(max(0.0, t_tap - time.monotonic()))
        async with gate:
            done: asyncio.Future[str] = loop.create_future()
            proto = Admission(cfg, i, tokens[i], t_tap, done)
            protocols.append(proto)
            try:
                await loop.create_connection(lambda: proto, "127.0.0.1", proto.port)
                error = await asyncio.wait_for(done, ADMISSION_TIMEOUT_S)
            except TimeoutError:
                error = f"timeout_{proto.phase}"
            except OSError as exc:
                error = f"connect_{proto.phase}_{exc.errno}"
            results[i] = (t_tap, proto.t_join, proto.t_snap, error)

    await asyncio.gather(*(one(i) for i in range(n)))
    end = time.monotonic()
    sys.stdout.write("ADMITTED\n")
    sys.stdout.flush()
    await asyncio.sleep(float(cfg.get("hold", 0)))
    for proto in protocols:
        if proto.transport is not None:
            proto.transport.close()
    return {"start": start, "end": end, "results": results}


def client_main(args: argparse.Namespace) -> None:
    import resource

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cfg = json.loads(args.client)
    cpu0 = time.process_time()
    out = asyncio.run(run_client(cfg))
    out["client_cpu_s"] = time.process_time() - cpu0
    Path(cfg["out"]).write_text(json.dumps(out))


# -- the driver ------------------------------------------------------------------------------------
def new_space(tag: str, host_name: str = "storm_host") -> tuple[int, int, str]:
    """A fresh live Space (nobody joined yet) with its host: (space id, host id, host token)."""
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from accounts.models import User
    from rooms.models import Participant, Role, Space, SpaceState

    host, _ = User.objects.get_or_create(username=host_name, defaults={"follower_count": 100_000})
    Space.objects.filter(host=host, state=SpaceState.LIVE).update(state=SpaceState.ENDED, ended_at=timezone.now())
    space = Space.objects.create(host=host, title=f"Join storm {tag}", state=SpaceState.LIVE, started_at=timezone.now())
    Participant.objects.create(space=space, user=host, role=Role.HOST, is_connected=True, joined_at=timezone.now())
    return space.pk, host.pk, Token.objects.get_or_create(user=host)[0].key


class LockWaits:
    """Samples PostgreSQL every 50 ms during the storm: how many backends wait on a lock (the Space row's
    listener count is the candidate hot row), and how many are active at all."""

    def __init__(self, db: str) -> None:
        import threading

        self.db = db
        self.samples: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(bench_database_url(self.db), autocommit=True) as conn:
            while not self._stop.wait(0.05):
                row = conn.execute(
                    "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*) FILTER (WHERE state = 'active')"
                    " FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    [self.db],
                ).fetchone()
                if row is not None:
                    self.samples.append((int(row[0]), int(row[1])))

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(timeout=5)
        if not self.samples:
            return {}
        waiting = [w for w, _a in self.samples]
        return {
            "samples": len(self.samples),
            "share_with_a_lock_wait": round(sum(1 for w in waiting if w) / len(waiting), 3),
            "mean_lock_waiters": round(statistics.mean(waiting), 2),
            "mean_active_backends": round(statistics.mean(a for _w, a in self.samples), 2),
        }


def drive(
    cfg: dict[str, Any], timeout_s: float, server_pids: list[int], on_admitted: Any = None
) -> tuple[dict[str, Any], float]:
    """Run the client; returns its results and the server's CPU seconds at the moment the last admission ended."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--client", json.dumps(cfg)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "ADMITTED": every listener has its snapshot (or failed)
    cpu_at_end = sum(cpu_s(pid) for pid in server_pids)
    if on_admitted is not None:
        on_admitted()
    if line.strip() != "ADMITTED":
        proc.kill()
        raise RuntimeError(f"storm client: {line!r}")
    if proc.wait(timeout=timeout_s) != 0:
        raise RuntimeError(f"storm client exited with {proc.returncode}")
    return json.loads(Path(cfg["out"]).read_text()), cpu_at_end


def summarise(data: dict[str, Any], n: int) -> dict[str, Any]:
    results = data["results"]
    ok = [r for r in results if not r[3]]
    failures: dict[str, int] = {}
    for r in results:
        if r[3]:
            failures[r[3][:60]] = failures.get(r[3][:60], 0) + 1
    total = [(r[2] - r[0]) * 1000 for r in ok]
    rest = [(r[1] - r[0]) * 1000 for r in ok if r[1]]
    ws = [(r[2] - r[1]) * 1000 for r in ok if r[1]]
    first_tap = min((r[0] for r in results), default=0.0)
    last = max((r[2] for r in ok), default=first_tap)
    span = max(1e-9, last - first_tap)

    def stats(values: list[float]) -> dict[str, float | None]:
        if not values:
            return {"p50": None, "p99": None, "max": None}
        return {"p50": round(statistics.median(values), 1), "p99": round(pct(values, 99), 1), "max": round(max(values))}

    return {
        "listeners": n,
        "admitted": len(ok),
        "failed": n - len(ok),
        "failures": failures,
        "span_s": round(span, 2),
        "admissions_per_s": round(len(ok) / span, 1),
        "tap_to_snapshot_ms": stats(total),
        "join_ms": stats(rest),
        "ws_to_snapshot_ms": stats(ws),
        "client_cpu_s": round(data.get("client_cpu_s", 0.0), 2),
    }


def storm(
    args: argparse.Namespace,
    n: int,
    tokens: list[tuple[int, str]],
    work: Path,
    root: Path = ROOT,
    protocol: str = "spaces",
) -> dict[str, Any]:
    space_id, _host_id, _host_token = new_space(f"{n}-{uuid.uuid4().hex[:6]}")
    tokens_file = work / f"tokens-{n}.txt"
    tokens_file.write_text("\n".join(key for _uid, key in tokens[:n]))
    prefix = f"storm-{uuid.uuid4().hex[:8]}"
    if args.profile:
        Profile.log_statements(args.db, on=True)
    k = max(1, args.processes)
    servers: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []
    profiler = None
    try:
        for j in range(k):  # the processes share the database, Redis and the channel prefix, as a cluster's do
            server, port = start_server("uvicorn", "hub", args.db, work / f"server-{n}-{j}.log", prefix, root)
            servers.append(server)
            ports.append(port)
        pids = [server.pid for server in servers]
        time.sleep(1.0)
        # Warm-up in another Space: first-request imports and URL resolving are not admission costs.
        warm_space, _warm_host, _ = new_space(f"warm-{uuid.uuid4().hex[:6]}", host_name="storm_warm_host")
        warm_file = work / "warm-tokens.txt"
        warm_file.write_text("\n".join(key for _uid, key in listener_tokens(20 * k, prefix="storm_w")))
        warm = {"protocol": "spaces", "ports": ports, "space": warm_space, "tokens": str(warm_file), "window": 0.5}
        drive({**warm, "inflight": 20, "out": str(work / "warm.json"), "hold": 0}, 120, pids)
        time.sleep(1.0)
        if args.profile:
            profiler = Profile(Path(args.profile), pids[0], args.db)
        load0 = os.getloadavg()[0]
        cpu0 = sum(cpu_s(pid) for pid in pids)
        out = work / f"storm-{n}.json"
        cfg = {
            "protocol": protocol,
            "ports": ports,
            "space": space_id,
            "tokens": str(tokens_file),
            "window": args.window,
            "inflight": args.inflight,
            "out": str(out),
            "hold": 2.0,
        }
        stop_sampling = profiler.stop_sampling if profiler is not None else None
        locks = LockWaits(args.db)
        try:
            data, cpu_admitted = drive(cfg, args.window + ADMISSION_TIMEOUT_S * 3 + 120, pids, stop_sampling)
        finally:
            lock_waits = locks.stop()
        for pid in pids:
            wait_idle(pid, limit_s=30)
        cpu = cpu_admitted - cpu0
        result = summarise(data, n)
        if profiler is not None:
            result["profile"] = profiler.finish(result["admitted"])
            profiler = None
        from rooms.models import Participant, Space

        count = Space.objects.values_list("listener_count", flat=True).get(pk=space_id)
        connected = Participant.objects.filter(space_id=space_id, is_connected=True, role="listener").count()
        where = "one process" if k == 1 else f"{k} processes"
        result.update(
            {
                "target": f"{protocol} (uvicorn, {where}, {'this checkout' if root == ROOT else root})",
                "processes": k,
                "window_s": args.window,
                "server_cpu_s": round(cpu, 2),
                "server_cpu_ms_per_admission": round(cpu * 1000 / max(1, result["admitted"]), 2),
                "pg_lock_waits": lock_waits,
                "listener_count_after": count,
                "connected_listeners_after": connected,
                "loadavg_1m": [round(load0, 1), round(os.getloadavg()[0], 1)],
            }
        )
        if args.livekit and n and protocol == "spaces":
            result["livekit"] = livekit_phase(args, space_id, tokens[: min(n, args.livekit)], ports[0])
    finally:
        if profiler is not None:
            profiler.finish(1)
        for server in servers:
            stop(server)
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            for j, port in enumerate(ports):
                log = work / f"server-{n}-{j}.log"
                (Path(args.keep) / f"server-{n}-{port}.log").write_bytes(log.read_bytes())
    return result


class Profile:
    """Where an admission's time goes: py-spy samples of every server thread, the SQL statements
    PostgreSQL ran (``log_statement=all`` on the bench database, read back from its log) and Redis
    commands (``INFO commandstats``), each divided by the number of admissions."""

    @staticmethod
    def log_statements(db: str, on: bool) -> None:
        """Switch statement logging; before the server starts (its connections read it when they open)."""
        import psycopg

        setting = "SET log_statement = 'all'" if on else "RESET log_statement"
        with psycopg.connect(bench_database_url("postgres"), autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{db}" {setting}')

    def __init__(self, out: Path, pid: int, db: str) -> None:
        import redis

        self.out, self.db = out, db
        out.mkdir(parents=True, exist_ok=True)
        self.redis = redis.Redis.from_url(os.environ["REDIS_URL"])
        self.redis.config_resetstat()
        self.pg_log = Path(os.environ.get("SPACES_SERVICES_DIR") or ROOT / ".services") / "pg/pg.log"
        self.pg_offset = self.pg_log.stat().st_size if self.pg_log.exists() else 0
        spy = [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(pid), "-r", "250", "-f", "raw"]
        self.spy = subprocess.Popen(
            [*spy, "-o", str(out / "pyspy.txt"), "--threads", "--gil", "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop_sampling(self) -> None:
        """At the last admission: the samples cover the storm, not the sockets' teardown."""
        import signal

        if self.spy.poll() is None:
            self.spy.send_signal(signal.SIGINT)
            try:
                self.spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.spy.kill()

    def finish(self, admissions: int) -> dict[str, Any]:
        self.stop_sampling()
        self.log_statements(self.db, on=False)
        statements: dict[str, int] = {}
        if self.pg_log.exists():
            with self.pg_log.open("rb") as fh:
                fh.seek(self.pg_offset)
                for line in fh.read().decode(errors="replace").splitlines():
                    _, sep, sql = line.partition("LOG:  statement: ")
                    if sep:
                        key = " ".join(sql.split()[:6])[:90]
                        statements[key] = statements.get(key, 0) + 1
        commands = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in self.redis.info("commandstats").items()}
        per = max(1, admissions)
        report = {
            "sql_per_admission": round(sum(statements.values()) / per, 2),
            "sql": {k: round(v / per, 2) for k, v in sorted(statements.items(), key=lambda kv: -kv[1])[:25]},
            "redis_per_admission": round(sum(commands.values()) / per, 2),
            "redis": {k: round(v / per, 3) for k, v in sorted(commands.items(), key=lambda kv: -kv[1])},
        }
        (self.out / "counts.json").write_text(json.dumps(report, indent=1))
        report["stacks"] = summarise_stacks(self.out / "pyspy.txt")
        return report


def summarise_stacks(path: Path, top: int = 30) -> dict[str, Any]:
    """Inclusive share of samples per function (py-spy raw: ``frame;frame;... count`` per line)."""
    if not path.exists():
        return {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not count_s.isdigit():
            continue
        count = int(count_s)
        total += count
        for frame in set(stack.split(";")):
            name = frame.split(" (")[0] + " " + frame.rsplit("/", 1)[-1].split(":")[0].rstrip(")")
            inclusive[name] = inclusive.get(name, 0) + count
    ranked = sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]
    return {"samples": total, "inclusive_pct": {k: round(100 * v / max(1, total), 1) for k, v in ranked}}


def centrifugo_storm(args: argparse.Namespace, n: int, work: Path) -> dict[str, Any]:
    channel = "space_storm"
    tokens_file = work / f"cf-tokens-{n}.txt"
    tokens_file.write_text("\n".join(centrifugo_token(str(i), channel) for i in range(n)))
    server, port = start_centrifugo(work, work / f"centrifugo-{n}.log")
    try:
        time.sleep(1.0)
        cpu0 = cpu_s(server.pid)
        out = work / f"cf-{n}.json"
        cfg = {
            "protocol": "centrifugo",
            "port": port,
            "tokens": str(tokens_file),
            "window": args.window,
            "inflight": args.inflight,
            "out": str(out),
            "hold": 2.0,
        }
        data, cpu_admitted = drive(cfg, args.window + ADMISSION_TIMEOUT_S * 3 + 120, [server.pid])
        wait_idle(server.pid, limit_s=30)
        cpu = cpu_admitted - cpu0
        result = summarise(data, n)
        result.update(
            {
                "target": "centrifugo (GOMAXPROCS=1, Redis engine): websocket connect only",
                "window_s": args.window,
                "server_cpu_s": round(cpu, 2),
                "server_cpu_ms_per_admission": round(cpu * 1000 / max(1, result["admitted"]), 2),
                "loadavg_1m": round(os.getloadavg()[0], 1),
            }
        )
    finally:
        stop(server)
    return result


# -- LiveKit: M admitted listeners connect to the room ---------------------------------------------
def livekit_phase(args: argparse.Namespace, space_id: int, tokens: list[tuple[int, str]], port: int) -> dict[str, Any]:
    """Each listener's join token (from the REST join of the running server) connects to LiveKit."""
    import httpx

    creds = []
    with httpx.Client(timeout=30, trust_env=False) as http:
        for _uid, key in tokens:
            r = http.post(
                f"http://127.0.0.1:{port}/api/v1/spaces/{space_id}/join", headers={"Authorization": f"Token {key}"}
            )
            r.raise_for_status()
            creds.append(r.json())
    host_creds = host_join(space_id, port)
    pid_file = Path(os.environ.get("SPACES_SERVICES_DIR") or ROOT / ".services") / "livekit/pid"
    lk_pid = int(pid_file.read_text()) if pid_file.exists() else 0
    cpu0 = cpu_s(lk_pid) if lk_pid else 0.0
    result = asyncio.run(livekit_connect(creds, host_creds, args.livekit_batch))
    if lk_pid:
        # livekit-server's own CPU over the phase (joins, the host's track forwarded to each listener,
        # leaves): what one node spends per admitted listener, whatever the starved clients achieved.
        cpu = cpu_s(lk_pid) - cpu0
        result["livekit_server_cpu_s"] = round(cpu, 2)
        result["livekit_server_cpu_ms_per_join"] = round(cpu * 1000 / max(1, result["connected"]), 1)
        result["joins_per_core_s_from_cpu"] = round(result["connected"] / cpu, 1) if cpu else None
    return result


def host_join(space_id: int, port: int) -> dict[str, Any]:
    import httpx
    from rest_framework.authtoken.models import Token

    from rooms.models import Space

    host = Space.objects.select_related("host").get(pk=space_id).host
    key = Token.objects.get_or_create(user=host)[0].key
    r = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/spaces/{space_id}/join",
        headers={"Authorization": f"Token {key}"},
        timeout=30,
        trust_env=False,
    )
    r.raise_for_status()
    return dict(r.json())


async def livekit_connect(creds: list[dict[str, Any]], host: dict[str, Any], batch: int) -> dict[str, Any]:
    import math

    import numpy as np
    from livekit import rtc

    url = host["livekit_url"]
    # The host publishes a 440 Hz tone for the whole phase.
    host_room = rtc.Room()
    await host_room.connect(url, host["token"])
    source = rtc.AudioSource(48000, 1)
    track = rtc.LocalAudioTrack.create_audio_track("mic", source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await host_room.local_participant.publish_track(track, options)
    stop_tone = asyncio.Event()

    async def tone() -> None:
        t = 0
        samples = 480
        while not stop_tone.is_set():
            frame = rtc.AudioFrame.create(48000, 1, samples)
            data = np.frombuffer(frame.data, dtype=np.int16)
            idx = np.arange(t, t + samples)
            data[:] = (np.sin(2 * math.pi * 440 * idx / 48000) * 8000).astype(np.int16)
            t += samples
            await source.capture_frame(frame)

    tone_task = asyncio.create_task(tone())
    rooms: list[Any] = []
    connect_ms: list[float] = []
    first_audio_ms: list[float] = []
    failures = 0

    async def listener(cred: dict[str, Any]) -> None:
        nonlocal failures
        room = rtc.Room()
        heard: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        async def read(track: Any) -> None:
            stream = rtc.AudioStream(track)
            async for event in stream:
                samples = np.frombuffer(event.frame.data, dtype=np.int16)
                if samples.size and int(np.abs(samples).max()) > 1000:
                    if not heard.done():
                        heard.set_result(time.monotonic())
                    break
            await stream.aclose()

        readers: list[asyncio.Task[None]] = []

        @room.on("track_subscribed")
        def _on_track(track: Any, *_: Any) -> None:
            if track.kind == rtc.TrackKind.KIND_AUDIO:
                readers.append(asyncio.ensure_future(read(track)))

        t0 = time.monotonic()
        try:
            await asyncio.wait_for(room.connect(url, cred["token"]), 30)
            t1 = time.monotonic()
            connect_ms.append((t1 - t0) * 1000)
            first_audio_ms.append((await asyncio.wait_for(heard, 30) - t0) * 1000)
        except Exception:
            failures += 1
        rooms.append(room)

    t_start = time.monotonic()
    for i in range(0, len(creds), batch):
        await asyncio.gather(*(listener(c) for c in creds[i : i + batch]))
    elapsed = time.monotonic() - t_start
    stop_tone.set()
    await tone_task
    for room in rooms:
        await room.disconnect()
    await host_room.disconnect()

    def stats(values: list[float]) -> dict[str, float | None]:
        if not values:
            return {"p50": None, "p95": None, "max": None}
        return {"p50": round(statistics.median(values), 1), "p95": round(pct(values, 95), 1), "max": round(max(values))}

    return {
        "listeners": len(creds),
        "batch": batch,
        "connected": len(connect_ms),
        "failed": failures,
        "joins_per_s": round(len(connect_ms) / elapsed, 1),
        "connect_ms": stats(connect_ms),
        "first_audio_ms": stats(first_audio_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", default="", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="1000,10000", help="listeners per storm, comma-separated")
    parser.add_argument("--window", type=float, default=10.0, help="seconds over which the listeners arrive")
    parser.add_argument("--inflight", type=int, default=1000, help="admissions in progress at most (client side)")
    parser.add_argument("--db", default="spaces_bench_storm")
    parser.add_argument(
        "--processes", type=int, default=1, help="K web processes sharing the database and Redis (a cluster's tier)"
    )
    parser.add_argument("--no-centrifugo", action="store_true")
    parser.add_argument(
        "--no-spaces",
        action="store_true",
        help="no full admissions (of this checkout or --baseline-root): only --ws-only, --healthz, Centrifugo",
    )
    parser.add_argument("--profile", default="", help="a directory: py-spy samples, SQL and Redis counts")
    parser.add_argument("--livekit", type=int, default=0, help="M listeners then connect to LiveKit")
    parser.add_argument("--livekit-batch", type=int, default=20)
    parser.add_argument("--json", default="")
    parser.add_argument("--keep", default="", help="copy the server logs to this directory")
    parser.add_argument("--baseline-root", default="", help="also storm another checkout (A/B in one run)")
    parser.add_argument("--healthz", action="store_true", help="also the same schedule of GET /healthz")
    parser.add_argument("--ws-only", action="store_true", help="also the websocket half alone (no REST join)")
    parser.add_argument(
        "--server-root", default="", help="serve another checkout of the code (an A/B run: `git archive REV`)"
    )
    parser.add_argument("--server-env", action="append", default=[], help="KEY=VALUE for the server process")
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return
    if not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("needs REDIS_URL, LIVEKIT_* and a PostgreSQL DATABASE_URL (set -a; . .services/env; set +a)")
    raise_nofile()
    ensure_database(args.db)
    setup_django(args.db)
    # The REST join needs LiveKit (token and room); a pooled database connection per request thread.
    EXTRA_ENV.update(
        {
            "LIVEKIT_URL": os.environ.get("LIVEKIT_URL", ""),
            "LIVEKIT_API_URL": os.environ.get("LIVEKIT_API_URL", ""),
            "DATABASE_URL": bench_database_url(args.db) + "?pool=true",
            "DB_CONN_MAX_AGE": "0",
        }
    )
    EXTRA_ENV.update(kv.split("=", 1) for kv in args.server_env)
    sizes = [int(x) for x in args.sizes.split(",") if x]
    t0 = time.monotonic()
    tokens = listener_tokens(max([*sizes, args.livekit, 1]), prefix="storm_l")
    print(json.dumps({"seeded": len(tokens), "seed_s": round(time.monotonic() - t0, 1)}), flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="join-storm-") as tmp:
        work = Path(tmp)
        root = Path(args.server_root) if args.server_root else ROOT
        for n in sizes:
            if not args.no_spaces:
                result = storm(args, n, tokens, work, root)
                print(json.dumps(result), flush=True)
                results.append(result)
            if args.baseline_root and not args.no_spaces:  # the same storm against another checkout, same run
                result = storm(args, n, tokens, work, Path(args.baseline_root))
                print(json.dumps(result), flush=True)
                results.append(result)
            if args.ws_only:  # the websocket half alone (no REST join): what the 65/s measured
                for ws_root in [root, *([Path(args.baseline_root)] if args.baseline_root else [])]:
                    result = storm(args, n, tokens, work, ws_root, protocol="ws")
                    print(json.dumps(result), flush=True)
                    results.append(result)
            if args.healthz:  # the same schedule of GET /healthz: the ceiling of any Django request here
                result = storm(args, n, tokens, work, root, protocol="healthz")
                print(json.dumps(result), flush=True)
                results.append(result)
            if not args.no_centrifugo:
                cf = centrifugo_storm(args, n, work)
                print(json.dumps(cf), flush=True)
                results.append(cf)
        if not sizes and args.livekit:
            args.window = max(1.0, args.livekit / 100)
            result = storm(args, args.livekit, tokens, work)
            print(json.dumps(result), flush=True)
            results.append(result)
    print(json.dumps({"machine": machine()}), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
