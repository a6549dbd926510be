"""Real LiveKit for end-to-end tests: a private ``livekit-server``, the app on a real HTTP port (to
receive its webhooks), and realtime-client participants that publish a tone and count frames.

A private server per test session (own ports, own webhook target) keeps parallel test runs on one
machine apart, and lets a test stop or freeze it without disturbing anyone else. Fixtures (registered
from tests/conftest.py; tests using them carry the ``livekit`` marker): ``livekit_stack`` (the server and
the app, for the whole session), ``lk`` (the app pointed at it for one test), ``peers`` (closed after the
test) and ``world`` (a live Space whose host is connected and publishing a tone).
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
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from livekit import rtc

from tests.factories import HostFactory
from tests.support.servers import free_port
from tests.support.services import unavailable

KEY = "e2ekey"
SECRET = "e2e-livekit-secret-for-tests-0123456789abcdef"
SILENCE = 200  # an int16 sample above this is sound


def livekit_binary() -> str | None:
    candidates = [
        os.environ.get("SPACES_LIVEKIT_BIN", ""),
        shutil.which("livekit-server") or "",
        str(Path(os.environ.get("SPACES_TOOLS_DIR", Path.home() / ".cache/spaces-tools")) / "bin/livekit-server"),
    ]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


class LiveKitServer:
    """One ``livekit-server`` on loopback whose webhooks go to ``webhook_url``."""

    def __init__(self, binary: str, webhook_url: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.udp_port = free_port(socket.SOCK_DGRAM)
        self.dir = Path(tempfile.mkdtemp(prefix="spaces-lk-"))
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
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def freeze(self) -> None:
        """Make the server unreachable without losing its rooms (SIGSTOP), as during an outage."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class AppServer:
    """The Django app on a real loopback port (threaded WSGI), so livekit-server can post webhooks."""

    def __init__(self, port: int | None = None) -> None:
        from django.core.handlers.wsgi import WSGIHandler
        from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

        class QuietHandler(WSGIRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.port = port or free_port()
        self.httpd = ThreadedWSGIServer(("127.0.0.1", self.port), QuietHandler, allow_reuse_address=True)
        self.django = WSGIHandler()
        self.httpd.set_app(self._gated)
        # Closed, the server answers 503 without touching the database: a test that empties the tables
        # must not race a late webhook (TRUNCATE against an open transaction deadlocks).
        self.open = False
        self.in_flight = 0
        self.lock = threading.Condition()
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _gated(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self.lock:
            if not self.open:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"closed"]
            self.in_flight += 1
        try:
            return self.django(environ, start_response)
        finally:
            with self.lock:
                self.in_flight -= 1
                self.lock.notify_all()

    def close_gate(self, timeout: float = 10) -> None:
        """Stop taking requests and wait for those in progress to finish."""
        with self.lock:
            self.open = False
            self.lock.wait_for(lambda: self.in_flight == 0, timeout)

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
    """A realtime-client participant driven from synchronous test code (its own event loop thread)."""

    def __init__(
        self, url: str, token: str, name: str = "peer", tone_hz: float = 440, pattern: tuple[float, float] | None = None
    ) -> None:
        """``tone_hz``: the tone it publishes; ``pattern=(on_s, off_s)`` makes it talk in bursts (else steady)."""
        self.url, self.token, self.name = url, token, name
        self.tone_hz, self.pattern = tone_hz, pattern
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name=f"peer-{name}")
        self.thread.start()
        self.room: rtc.Room | None = None
        self.loud_frames: dict[str, int] = {}
        self.first_loud_at: dict[str, float] = {}
        self.disconnected = threading.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._source: rtc.AudioSource | None = None
        self.publication_sid: str | None = None
        self.closed = False
        self._allowed = asyncio.Event()  # set (in the loop) when the server grants can_publish

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 20) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # --- connection ---------------------------------------------------------------------------
    def connect(self) -> None:
        self.run(self._connect())

    async def _connect(self) -> None:
        room = rtc.Room(loop=self.loop)
        room.on("track_subscribed", self._on_track)
        room.on("disconnected", lambda *_: self.disconnected.set())
        room.on("participant_permissions_changed", self._on_permissions)
        await room.connect(self.url, self.token, options=rtc.RoomOptions(auto_subscribe=True))
        self.room = room

    def _on_permissions(self, participant: Any, permissions: Any) -> None:
        if self.room is not None and participant.identity == self.room.local_participant.identity:
            if permissions.can_publish:
                self._allowed.set()

    def publish_when_allowed(self, timeout: float = 10) -> Any:
        """Start waiting for the server's grant, then publish at once; returns a future (True if published)."""

        async def go() -> bool:
            await asyncio.wait_for(self._allowed.wait(), timeout)
            return await self._publish(timeout)

        return asyncio.run_coroutine_threadsafe(go(), self.loop)

    def _on_track(self, track: rtc.Track, publication: Any, participant: rtc.RemoteParticipant) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            self._tasks.append(self.loop.create_task(self._listen(track, participant.identity)))

    async def _listen(self, track: rtc.Track, identity: str) -> None:
        stream = rtc.AudioStream(track, sample_rate=48000, num_channels=1)
        async for event in stream:
            samples = event.frame.data
            if max(abs(s) for s in samples) > SILENCE:
                self.loud_frames[identity] = self.loud_frames.get(identity, 0) + 1
                self.first_loud_at.setdefault(identity, time.perf_counter())

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

    # --- publishing ---------------------------------------------------------------------------
    def publish_tone(self, timeout: float = 10) -> bool:
        """Publish a 440 Hz microphone tone; False if the server did not accept it within ``timeout``."""
        return bool(self.run(self._publish(timeout), timeout=timeout + 5))

    async def _publish(self, timeout: float) -> bool:
        assert self.room is not None
        if self._source is None:
            self._source = rtc.AudioSource(48000, 1)
            self._tasks.append(self.loop.create_task(self._tone(self._source)))
        track = rtc.LocalAudioTrack.create_audio_track(f"mic-{self.name}", self._source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        try:
            publication = await asyncio.wait_for(self.room.local_participant.publish_track(track, options), timeout)
        except Exception:  # a refused publish hangs (wait_for times out) or raises
            return False
        self.publication_sid = publication.sid
        return True

    async def _tone(self, source: rtc.AudioSource) -> None:
        n = 480  # 10 ms at 48 kHz
        phase = 0
        cycle = (round(self.pattern[0] * 100), round(sum(self.pattern) * 100)) if self.pattern else None
        frames = 0
        while True:
            frame = rtc.AudioFrame.create(48000, 1, n)
            data = np.frombuffer(frame.data, dtype=np.int16)
            if cycle is None or frames % cycle[1] < cycle[0]:
                t = (phase + np.arange(n)) / 48000
                data[:] = (8000 * np.sin(2 * math.pi * self.tone_hz * t)).astype(np.int16)
            phase += n
            frames += 1
            await source.capture_frame(frame)

    # --- waiting ------------------------------------------------------------------------------
    def heard_from(self, identity: str, frames: int = 20, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.loud_frames.get(identity, 0) >= frames:
                return True
            time.sleep(0.05)
        return False

    def loud_count(self, identity: str) -> int:
        return self.loud_frames.get(identity, 0)


def wait_until(predicate: Any, timeout: float = 10, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def remote(room: str, user: Any) -> Any:
    """``user``'s participant in the LiveKit ``room`` as the server lists it, or None."""
    from rooms import livekit_client

    return next(
        (p for p in livekit_client.participants_list(room=room) if p.identity == livekit_client.identity_for(user.pk)),
        None,
    )


class _Nobody:
    can_publish = False
    tracks = ()


NOBODY = _Nobody()  # stands in for a participant LiveKit no longer lists (cannot publish, no tracks)


@pytest.fixture(scope="session")
def livekit_stack() -> Iterator[tuple[LiveKitServer, AppServer]]:
    """A private livekit-server whose webhooks reach this test process's app on a real port."""
    binary = livekit_binary()
    if binary is None:
        unavailable("livekit-server binary not found (bin/services up livekit builds it)")
    app = AppServer()
    app.start()
    server = LiveKitServer(binary, webhook_url=f"{app.url}/webhooks/livekit")
    try:
        server.start()
        yield server, app
    finally:
        server.cleanup()
        app.stop()


@pytest.fixture
def lk(livekit_stack: tuple[LiveKitServer, AppServer], settings: Any) -> Iterator[LiveKitServer]:
    """Point the app at the private livekit-server for this test (webhooks on); yields the server."""
    server, app = livekit_stack
    server.thaw()
    settings.LIVEKIT_URL = server.ws_url
    settings.LIVEKIT_API_URL = server.http_url
    settings.LIVEKIT_API_KEY = KEY
    settings.LIVEKIT_API_SECRET = SECRET
    settings.LIVEKIT_API_TIMEOUT_S = 2
    app.open = True
    yield server
    server.thaw()
    app.close_gate()


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for peer in made:
        peer.close()


@pytest.fixture
def world(lk, make_client, peers):
    """A live Space whose host is connected and publishing a tone."""
    from rooms.models import Space

    host = HostFactory()
    host_api = make_client(host)
    space_id = host_api.post("/api/v1/spaces", {"title": "Audio"}, format="json").json()["id"]

    def enter(user, api=None):
        api = api or make_client(user)
        creds = api.post(f"/api/v1/spaces/{space_id}/join").json()
        peer = Peer(creds["livekit_url"], creds["token"], name=user.username)
        peers.append(peer)
        peer.connect()
        return peer, api, creds

    host_peer, _, host_creds = enter(host, host_api)
    assert host_peer.publish_tone()

    class World:
        pass

    w = World()
    w.space_id, w.host, w.host_api, w.host_peer, w.host_identity = (
        space_id,
        host,
        host_api,
        host_peer,
        host_creds["identity"],
    )
    w.room = Space.objects.get(pk=space_id).livekit_room
    w.enter = enter
    return w
