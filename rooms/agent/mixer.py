"""Mixing 48 kHz mono tracks with per-track jitter buffers, and a speaker timeline from their energy.

Pure numpy: no LiveKit, no database (unit-tested alone). The mix runs on the agent's clock; a track
whose audio is late contributes silence for that frame and re-primes, so one speaker's jitter never
holds back the others.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from rooms.audio import RATE, SAMPLES_PER_MS, rms

FRAME = 20 * SAMPLES_PER_MS  # the mix step: 20 ms
PRIME = 40 * SAMPLES_PER_MS  # a track starts (again) being mixed once it holds 40 ms
MAX_BUFFER = 400 * SAMPLES_PER_MS  # beyond this the oldest audio is dropped (bounded latency)
SPEECH_RMS = 400.0  # int16 RMS above which a frame counts as speech (about -38 dBFS)
HANGOVER_MS = 400  # a pause shorter than this does not end a speaker's segment


class TrackBuffer:
    """Samples of one track waiting to be mixed."""

    def __init__(self) -> None:
        self._chunks: deque[np.ndarray] = deque()
        self.size = 0
        self.primed = False
        self.underruns = 0
        self.dropped = 0

    def push(self, samples: np.ndarray) -> None:
        self._chunks.append(samples)
        self.size += samples.size
        if self.size > MAX_BUFFER:
            self._drop(self.size - PRIME)
        if self.size >= PRIME:
            self.primed = True

    def _drop(self, n: int) -> None:
        self.dropped += n
        self._take(n)

    def _take(self, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.int16)
        filled = 0
        while filled < n and self._chunks:
            chunk = self._chunks[0]
            k = min(n - filled, chunk.size)
            out[filled : filled + k] = chunk[:k]
            filled += k
            if k == chunk.size:
                self._chunks.popleft()
            else:
                self._chunks[0] = chunk[k:]
        self.size -= filled
        return out

    def trim(self, keep: int = PRIME) -> None:
        """Keep only the newest ``keep`` samples (a track that waited to be confirmed joins the mix in time)."""
        if self.size > keep:
            self._take(self.size - keep)

    def pull(self, n: int) -> np.ndarray | None:
        """The next ``n`` samples, or None while (re)priming. A short buffer gives what it has + silence."""
        if not self.primed:
            return None
        if self.size < n:
            self.underruns += 1
            self.primed = False
        return self._take(n)


class Mixer:
    """Sums the tracks of consenting speakers, ``FRAME`` samples at a time.

    A new track is *pending* until the caller confirms it against consent read after it appeared:
    a speaker who declined just before publishing is never mixed, not even for one poll interval.
    """

    def __init__(self) -> None:
        self.tracks: dict[str, tuple[int, TrackBuffer]] = {}  # track sid -> (user id, buffer)
        self.pending: set[str] = set()

    def add(self, sid: str, user_id: int) -> TrackBuffer:
        buffer = TrackBuffer()
        self.tracks[sid] = (user_id, buffer)
        self.pending.add(sid)
        return buffer

    def confirm(self, sid: str) -> None:
        if sid in self.pending and sid in self.tracks:
            self.pending.discard(sid)
            self.tracks[sid][1].trim()

    def remove(self, sid: str) -> None:
        self.tracks.pop(sid, None)
        self.pending.discard(sid)

    def mix(self, included: frozenset[int] | set[int]) -> tuple[np.ndarray, dict[int, float]]:
        """One frame of the mix and each included speaker's RMS in it. Excluded tracks are drained unheard."""
        frame, energy, _live = self.mix_live(included)
        return frame, energy

    def mix_live(self, included: frozenset[int] | set[int]) -> tuple[np.ndarray, dict[int, float], np.ndarray]:
        """:meth:`mix`, plus the live mix of every confirmed track (HLS: what WebRTC listeners hear)."""
        total = np.zeros(FRAME, dtype=np.int32)
        live = np.zeros(FRAME, dtype=np.int32)
        energy: dict[int, float] = {}
        for sid, (user_id, buffer) in list(self.tracks.items()):
            if sid in self.pending:
                continue  # not pulled: its buffer keeps the newest audio until it is confirmed
            samples = buffer.pull(FRAME)
            if samples is None:
                continue
            live += samples
            if user_id not in included:
                continue
            total += samples
            energy[user_id] = max(energy.get(user_id, 0.0), rms(samples))
        clip = (np.clip(total, -32768, 32767).astype(np.int16), np.clip(live, -32768, 32767).astype(np.int16))
        return clip[0], energy, clip[1]


@dataclass
class SpeakerTimeline:
    """Turns per-frame energies into closed ``(user_id, start_ms, end_ms)`` segments."""

    open: dict[int, list[int]] = field(default_factory=dict)  # user -> [start_ms, last_loud_end_ms]
    closed: list[tuple[int, int, int]] = field(default_factory=list)

    def feed(self, at_ms: int, energy: dict[int, float], frame_ms: int = FRAME // SAMPLES_PER_MS) -> None:
        for user_id, value in energy.items():
            if value < SPEECH_RMS:
                continue
            span = self.open.get(user_id)
            if span is None:
                self.open[user_id] = [at_ms, at_ms + frame_ms]
            else:
                span[1] = at_ms + frame_ms
        for user_id, (start, end) in list(self.open.items()):
            if at_ms + frame_ms - end > HANGOVER_MS:
                self.closed.append((user_id, start, end))
                del self.open[user_id]

    def take_closed(self) -> list[tuple[int, int, int]]:
        out, self.closed = self.closed, []
        return out

    def close_all(self) -> list[tuple[int, int, int]]:
        for user_id, (start, end) in self.open.items():
            self.closed.append((user_id, start, end))
        self.open.clear()
        return self.take_closed()


__all__ = ["FRAME", "RATE", "Mixer", "SpeakerTimeline", "TrackBuffer"]
