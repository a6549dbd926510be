"""A real nginx HLS origin (started by ``bin/services up nginx`` in a private state directory, so the
tests check the configuration operators run) and a small Python HLS client: fetch the signed playlist,
follow its segments, decode them with PyAV."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import av
import numpy as np

from tests.support.servers import free_port
from tests.support.services import unavailable

ROOT = Path(__file__).resolve().parents[2]


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


@contextmanager
def running_origin(state: Path) -> Iterator[HlsOrigin]:
    """A private nginx origin in ``state`` for the duration (skips locally, fails under CI=true, without
    nginx)."""
    if nginx_binary() is None:
        unavailable("nginx not found (bin/services up nginx installs the Debian package)")
    origin = HlsOrigin(state)
    origin.start()
    try:
        yield origin
    finally:
        origin.stop()


@dataclass
class HlsOrigin:
    state: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        run_env = {**os.environ, "SPACES_SERVICES_DIR": str(self.state), "SPACES_NGINX_PORT": str(self.port)}
        subprocess.run([str(ROOT / "bin" / "services"), "up", "nginx"], env=run_env, check=True, capture_output=True)
        out = subprocess.run(
            [str(ROOT / "bin" / "services"), "env"], env=run_env, check=True, capture_output=True, text=True
        ).stdout
        self.env = dict(re.findall(r"^export (SPACES_(?:HLS|NGINX)_\w+)=(.*)$", out, re.M))

    @property
    def url(self) -> str:
        return self.env["SPACES_HLS_URL"]

    @property
    def directory(self) -> Path:
        return Path(self.env["SPACES_HLS_DIR"])

    def stop(self) -> None:
        pidfile = self.state / "nginx" / "nginx.pid"
        if pidfile.exists():
            pid = int(pidfile.read_text().strip())
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return
                time.sleep(0.05)


def get(url: str, timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@dataclass
class Playlist:
    media_sequence: int
    segments: list[tuple[int, str, bool]]  # (sequence number, uri, discontinuity before it)
    text: str


def parse(text: str) -> Playlist:
    seq = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))  # type: ignore[union-attr]
    segments, n, disc = [], seq, False
    for line in text.splitlines():
        if line.startswith("#EXT-X-DISCONTINUITY"):
            disc = True
        elif line and not line.startswith("#"):
            segments.append((n, line, disc))
            n, disc = n + 1, False
    return Playlist(seq, segments, text)


def decode_ts(data: bytes) -> np.ndarray:
    """One MPEG-TS segment's AAC audio as 48 kHz mono int16."""
    out: list[np.ndarray] = []
    container: Any = av.open(io.BytesIO(data), "r", format="mpegts")
    with container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        for frame in container.decode(audio=0):
            for f in resampler.resample(frame):
                out.append(f.to_ndarray().reshape(-1))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)


class Listener:
    """Follows a live playlist like a player: new segments in order, each fetched once. Given ``refresh``
    (a new signed URL, i.e. ``join`` again) and the link's ``ttl_s``, it swaps its link at two thirds of
    the lifetime as docs/api.md tells clients to, so it can listen longer than one link lives."""

    def __init__(self, url: str, *, refresh: Callable[[], str] | None = None, ttl_s: float = 0) -> None:
        self.url = url
        self.refresh, self.ttl_s, self.issued = refresh, ttl_s, time.monotonic()
        self.seen: dict[int, np.ndarray] = {}
        self.discontinuities: list[int] = []
        self.fetched_at: dict[int, float] = {}
        self.last: Playlist | None = None

    def poll(self) -> int:
        """Fetch the playlist and any new segments; returns the playlist's HTTP status."""
        if self.refresh is not None and time.monotonic() - self.issued >= self.ttl_s * 2 / 3:
            self.url, self.issued = self.refresh(), time.monotonic()
        status, _, body = get(self.url)
        if status != 200:
            return status
        self.last = parse(body.decode())
        for n, uri, disc in self.last.segments:
            if n in self.seen:
                continue
            s_status, _, data = get(urljoin(self.url, uri))
            if s_status != 200:
                continue
            self.seen[n] = decode_ts(data)
            self.fetched_at[n] = time.monotonic()
            if disc:
                self.discontinuities.append(n)
        return status

    def audio(self, since: int = -1) -> np.ndarray:
        parts = [pcm for n, pcm in sorted(self.seen.items()) if n > since]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
