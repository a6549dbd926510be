"""LiveKit for the benchmarks: a private ``livekit-server`` on loopback (the pinned build ``bin/services``
makes), the app on a real HTTP port for its webhooks, and realtime-client peers that publish a tone and
time when they first hear one another.

The benchmarks' own copy of what tests/support/livekit.py gives the tests (a bench imports nothing from
tests/): smaller, and free to change with what the benchmarks measure.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import numpy as np
from _common import ROOT, free_port
from livekit import rtc

KEY = "benchkey"
SECRET = "bench-livekit-secret-0123456789abcdef-0123"
SILENCE = 200  # an int16 sample above this is sound


def livekit_binary() -> str:
    """$SPACES_LIVEKIT_BIN, or the pinned livekit-server ``bin/services tool`` builds once into the tool cache."""
    if os.environ.get("SPACES_LIVEKIT_BIN"):
        return os.environ["SPACES_LIVEKIT_BIN"]
    built = subprocess.run(
        [str(ROOT / "bin" / "services"), "tool", "livekit-server"],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        timeout=1800,
    )
    return built.stdout.strip().splitlines()[-1]


def _udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveKitServer:
    """One ``livekit-server`` on loopback whose webhooks go to ``webhook_url``."""

    def __init__(self, binary: str, webhook_url: str) -> None:
        self.binary = binary
        self.port, self.udp_port = free_port(), _udp_port()
        self.dir = Path(tempfile.mkdtemp(prefix="spaces-bench-lk-"))
        self.config = self.dir / "livekit.yaml"
        self.config.write_text(
            f"""port: {self.port}
bind_addresses: ["127.0.0.1"]
keys: {{{KEY}: "{SECRET}"}}
logging: {{level: warn}}
rtc:
  udp_port: {self.udp_port}
  tcp_port: 0
  use_external_ip: false
  node_ip: 127.0.0.1
  enable_loopback_candidate: true
  interfaces: {{includes: [lo]}}
  ips: {{includes: [127.0.0.1/32]}}
  stun_servers: ["127.0.0.1:3478"]
room: {{auto_create: false, empty_timeout: 10, departure_timeout: 1}}
webhook: {{api_key: {KEY}, urls: ["{webhook_url}"]}}
"""
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.dir / "livekit.log").open("ab")
        self.proc = subprocess.Popen([self.binary, "--config", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.http_url, timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"livekit-server did not start; see {self.dir / 'livekit.log'}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class AppServer:
    """The Django app of this process on a real loopback port (threaded WSGI), for LiveKit's webhooks."""

    def __init__(self) -> None:
        from django.core.handlers.wsgi import WSGIHandler
        from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

        class QuietHandler(WSGIRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.port = free_port()
        self.httpd = ThreadedWSGIServer(("127.0.0.1", self.port), QuietHandler, allow_reuse_address=True)
        self.httpd.set_app(WSGIHandler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class Peer:
    """A realtime-client participant driven from synchronous code (its own event loop thread): publishes a
    tone (``pattern=(on_s, off_s)``: in bursts), counts the loud frames it hears per speaker and when the
    first one came (``first_loud_at``, ``time.perf_counter``)."""

    def __init__(
        self, url: str, token: str, name: str = "peer", tone_hz: float = 440, pattern: tuple[float, float] | None = None
    ) -> None:
        self.url, self.token, self.name = url, token, name
        self.tone_hz, self.pattern = tone_hz, pattern
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name=f"peer-{name}")
        self.thread.start()
        self.room: rtc.Room | None = None
        self.loud_frames: dict[str, int] = {}
        self.first_loud_at: dict[str, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._source: rtc.AudioSource | None = None
        self._allowed = asyncio.Event()  # set (in the loop) when the server grants can_publish
        self.closed = False

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 20) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def connect(self) -> None:
        self.run(self._connect())

    async def _connect(self) -> None:
        room = rtc.Room(loop=self.loop)
        room.on("track_subscribed", self._on_track)
        room.on("participant_permissions_changed", self._on_permissions)
        await room.connect(self.url, self.token, options=rtc.RoomOptions(auto_subscribe=True))
        self.room = room

    def _on_permissions(self, participant: Any, permissions: Any) -> None:
        if self.room is not None and participant.identity == self.room.local_participant.identity:
            if permissions.can_publish:
                self._allowed.set()

    def _on_track(self, track: rtc.Track, publication: Any, participant: rtc.RemoteParticipant) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            self._tasks.append(self.loop.create_task(self._listen(track, participant.identity)))

    async def _listen(self, track: rtc.Track, identity: str) -> None:
        async for event in rtc.AudioStream(track, sample_rate=48000, num_channels=1):
            if max(abs(s) for s in event.frame.data) > SILENCE:
                self.loud_frames[identity] = self.loud_frames.get(identity, 0) + 1
                self.first_loud_at.setdefault(identity, time.perf_counter())

    def publish_tone(self, timeout: float = 10) -> bool:
        """Publish the tone as a microphone; False if the server did not accept it within ``timeout``."""
        return bool(self.run(self._publish(timeout), timeout=timeout + 5))

    def publish_when_allowed(self, timeout: float = 10) -> Any:
        """Wait for the server's grant, then publish at once; a future (True if published)."""

        async def go() -> bool:
            await asyncio.wait_for(self._allowed.wait(), timeout)
            return await self._publish(timeout)

        return asyncio.run_coroutine_threadsafe(go(), self.loop)

    async def _publish(self, timeout: float) -> bool:
        assert self.room is not None
        if self._source is None:
            self._source = rtc.AudioSource(48000, 1)
            self._tasks.append(self.loop.create_task(self._tone(self._source)))
        track = rtc.LocalAudioTrack.create_audio_track(f"mic-{self.name}", self._source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        try:
            await asyncio.wait_for(self.room.local_participant.publish_track(track, options), timeout)
        except Exception:  # a refused publish hangs (wait_for times out) or raises
            return False
        return True

    async def _tone(self, source: rtc.AudioSource) -> None:
        n = 480  # 10 ms at 48 kHz
        cycle = (round(self.pattern[0] * 100), round(sum(self.pattern) * 100)) if self.pattern else None
        phase = frames = 0
        while True:
            frame = rtc.AudioFrame.create(48000, 1, n)
            data = np.frombuffer(frame.data, dtype=np.int16)
            if cycle is None or frames % cycle[1] < cycle[0]:
                t = (phase + np.arange(n)) / 48000
                data[:] = (8000 * np.sin(2 * math.pi * self.tone_hz * t)).astype(np.int16)
            phase += n
            frames += 1
            await source.capture_frame(frame)

    def heard_from(self, identity: str, frames: int = 20, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.loud_frames.get(identity, 0) >= frames:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.run(self._close(), timeout=15)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)

    async def _close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.room is not None:
            await self.room.disconnect()
