"""Voice activity per speaker: WebRTC's VAD on 30 ms frames, with hysteresis, cutting phrases.

Why WebRTC's VAD rather than energy: it scores each frame with a small speech/noise model (sub-band
energies, Gaussian mixtures), so steady background noise, a hum or a loud room does not count as
speech and a quiet speaker still does, without a per-microphone level to tune; it costs a few
microseconds per frame. Energy with hysteresis (what the recording's speaker timeline uses) is fine
for "who is talking" but cuts phrases badly on noisy microphones.

WebRTC's VAD alone, though, calls steady broadband noise speech once it has heard speech (measured:
white noise at -40 dBFS after a sentence scores as speech in every frame, at every aggressiveness),
so a frame counts as speech only if the VAD says so *and* its level is ``FLOOR_RATIO`` times above the
noise floor (tracked as a fast-falling, slow-rising minimum of the frame levels).

Hysteresis: a phrase starts when ``START_FRAMES`` of the last ``WINDOW`` frames are speech (keeping
``PRE_ROLL_MS`` before it, so the first syllable is not lost) and ends after ``HANG_MS`` without
speech; a phrase longer than ``MAX_PHRASE_MS`` is cut there (and the next one starts at once).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import webrtcvad

RATE = 16000
FRAME_MS = 30
FRAME = RATE * FRAME_MS // 1000  # 480 samples
WINDOW = 5
START_FRAMES = 3
PRE_ROLL_MS = 300
HANG_MS = 450
MAX_PHRASE_MS = 12000
AGGRESSIVENESS = 2  # 0 (lenient) .. 3 (strict)
FLOOR_RATIO = 3.0
FLOOR_RISE = 0.003  # per frame: the floor follows a louder room within ~10 s
MIN_RMS = 30.0  # below this (about -60 dBFS) a frame is silence whatever the VAD says
MIN_SPEECH_FRAMES = 8  # a "phrase" with less than 240 ms of speech (a cough, a click) is dropped


@dataclass
class Phrase:
    """A phrase being spoken or just ended: its samples and where it sits on the speaker's clock."""

    index: int
    start_ms: int
    pcm: list[np.ndarray]
    end_ms: int = 0
    last_speech_ms: int = 0
    speech_frames: int = 0

    def samples(self) -> np.ndarray:
        return np.concatenate(self.pcm) if self.pcm else np.zeros(0, dtype=np.int16)

    @property
    def length_ms(self) -> int:
        return sum(p.size for p in self.pcm) * 1000 // RATE


class PhraseCutter:
    """Feed 16 kHz samples with the time of their first sample; get the phrases that ended."""

    def __init__(self) -> None:
        self._vad = webrtcvad.Vad(AGGRESSIVENESS)
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_ms = 0
        self._recent: deque[tuple[int, np.ndarray, bool]] = deque(maxlen=PRE_ROLL_MS // FRAME_MS)
        self.current: Phrase | None = None
        self._count = 0
        self._floor: float | None = None

    def _is_speech(self, frame: np.ndarray) -> bool:
        level = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2)))
        if self._floor is None or level < self._floor:
            self._floor = level
        else:
            self._floor += (level - self._floor) * FLOOR_RISE
        if level < MIN_RMS or level < FLOOR_RATIO * self._floor:
            return False
        return bool(self._vad.is_speech(frame.tobytes(), RATE))

    def feed(self, samples: np.ndarray, at_ms: int) -> list[Phrase]:
        if self._pending.size == 0:
            self._pending_ms = at_ms
        self._pending = np.concatenate([self._pending, samples])
        ended: list[Phrase] = []
        while self._pending.size >= FRAME:
            frame, self._pending = self._pending[:FRAME], self._pending[FRAME:]
            frame_ms = self._pending_ms
            self._pending_ms += FRAME_MS
            speech = self._is_speech(frame)
            phrase = self._step(frame, frame_ms, speech)
            if phrase is not None:
                ended.append(phrase)
        return ended

    def _step(self, frame: np.ndarray, at_ms: int, speech: bool) -> Phrase | None:
        phrase = self.current
        if phrase is None:
            self._recent.append((at_ms, frame, speech))
            recent = list(self._recent)[-WINDOW:]
            if sum(s for _t, _f, s in recent) >= START_FRAMES:
                self._count += 1
                frames = list(self._recent)
                self.current = Phrase(
                    self._count,
                    frames[0][0],
                    [f for _t, f, _s in frames],
                    last_speech_ms=at_ms + FRAME_MS,
                    speech_frames=sum(s for _t, _f, s in frames),
                )
                self._recent.clear()
            return None
        phrase.pcm.append(frame)
        if speech:
            phrase.last_speech_ms = at_ms + FRAME_MS
            phrase.speech_frames += 1
        if at_ms + FRAME_MS - phrase.last_speech_ms >= HANG_MS or phrase.length_ms >= MAX_PHRASE_MS:
            return self._close(at_ms + FRAME_MS)
        return None

    def _close(self, now_ms: int) -> Phrase | None:
        phrase = self.current
        assert phrase is not None
        phrase.end_ms = min(now_ms, phrase.last_speech_ms)
        self.current = None
        if phrase.length_ms >= MAX_PHRASE_MS and now_ms - phrase.last_speech_ms < HANG_MS:
            # Cut inside speech: the next phrase starts right away.
            self._count += 1
            self.current = Phrase(self._count, now_ms, [], last_speech_ms=now_ms)
            phrase.end_ms = now_ms
        return phrase if phrase.speech_frames >= MIN_SPEECH_FRAMES else None

    def flush(self) -> Phrase | None:
        """The speaker left: the phrase in progress, if any, ends now."""
        if self.current is None:
            return None
        phrase = self.current
        phrase.end_ms = phrase.last_speech_ms
        self.current = None
        return phrase if phrase.speech_frames >= MIN_SPEECH_FRAMES else None
