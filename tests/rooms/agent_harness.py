"""Audio agents as real subprocesses (``manage.py run_agent``) against the test database and the test's
livekit-server, and spectrum checks for decoded recordings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import numpy as np
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

# Short leases so a takeover test takes seconds: renew every 1 s, expire after 3 s.
FAST = {
    "SPACES_AGENT_LEASE_S": "3",
    "SPACES_AGENT_RENEW_S": "1",
    "SPACES_AGENT_POLL_S": "0.5",
    "SPACES_RECORDING_PART_S": "1",
}


class Agents:
    """Start and kill agent processes; every one is stopped at the end of the test."""

    def __init__(self, *, postgres_url: str, media_root: Path, log_dir: Path) -> None:
        self.env = dict(os.environ)
        self.env.update(
            DATABASE_URL=urlunparse(urlparse(postgres_url)._replace(path="/" + connection.settings_dict["NAME"])),
            LIVEKIT_URL=settings.LIVEKIT_URL,
            LIVEKIT_API_URL=settings.LIVEKIT_API_URL,
            LIVEKIT_API_KEY=settings.LIVEKIT_API_KEY,
            LIVEKIT_API_SECRET=settings.LIVEKIT_API_SECRET,
            LIVEKIT_ROOM_PREFIX=settings.LIVEKIT_ROOM_PREFIX,
            SPACES_MEDIA_ROOT=str(media_root),
            CELERY_TASK_ALWAYS_EAGER="true",
            **FAST,
        )
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, agent_id: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{agent_id}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_agent", "--agent-id", agent_id],
            cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.procs[agent_id] = proc
        return proc

    def kill(self, agent_id: str) -> None:
        """SIGKILL: the crash case (no last part, no lease release)."""
        self.procs[agent_id].kill()
        self.procs[agent_id].wait(5)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def log(self, agent_id: str) -> str:
        return (self.log_dir / f"{agent_id}.log").read_text(errors="replace")


@contextmanager
def agents(*, postgres_url: str, media_root: Path, log_dir: Path) -> Iterator[Agents]:
    made = Agents(postgres_url=postgres_url, media_root=media_root, log_dir=log_dir)
    try:
        yield made
    finally:
        made.stop_all()


WINDOW_MS = 20


def tone_levels(pcm: np.ndarray, hz: float, window_ms: int = WINDOW_MS) -> np.ndarray:
    """The amplitude of the ``hz`` component in each window (a single-bin DFT, Hann-windowed)."""
    n = 48 * window_ms
    windows = pcm[: pcm.size // n * n].astype(np.float64).reshape(-1, n)
    hann = np.hanning(n)
    t = np.arange(n) / 48000
    basis = np.exp(-2j * np.pi * hz * t) * hann
    return np.asarray(2 * np.abs(windows @ basis) / hann.sum())


def longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in ``mask``."""
    best = run = 0
    for value in mask.tolist():
        run = run + 1 if value else 0
        best = max(best, run)
    return best


def describe(*values: Any) -> str:
    return " ".join(str(v) for v in values)
