"""Per-speaker captioning for one Space, fed by the audio agent's track readers.

``SpaceCaptioner.feed`` is called with each 48 kHz frame of a stage microphone (only for speakers who
have not declined captions); it resamples, runs the VAD and, never waiting, schedules work on the
agent's single ``Transcriber`` thread: a *final* caption when a phrase ends, and a *partial* one every
``partial_s`` while a long phrase goes on, only if the engine is idle at that moment (partials are
dropped under load). Finals are queued up to ``max_backlog`` calls; beyond that they are dropped and
counted (the Space falls behind gracefully instead of piling up work). The engine runs in a thread
(ctypes releases the GIL), so the recording's mix loop is never held up.

Times are milliseconds on the recording's clock (since the recording started), like the speaker
timeline, so the transcript lines up with the replay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from rooms.captions import engine as engines
from rooms.captions.resample import Downsampler
from rooms.captions.vad import Phrase, PhraseCutter

logger = logging.getLogger(__name__)

RATE_IN = 48000


@dataclass(frozen=True)
class Caption:
    user_id: int
    phrase: int  # per Space, increasing; a final replaces the partials of the same phrase
    start_ms: int
    end_ms: int
    text: str
    final: bool


class Transcriber:
    """The agent's one engine thread (one core): calls run one at a time, in order."""

    def __init__(self, engine: engines.Engine | None = None, max_backlog: int = 6) -> None:
        self._engine = engine
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="captions")
        self.max_backlog = max_backlog
        self.pending = 0
        self.calls = 0
        self.dropped_partials = 0
        self.dropped_finals = 0

    @property
    def busy(self) -> bool:
        return self.pending > 0

    def _transcribe(self, pcm: np.ndarray) -> str:
        if self._engine is None:
            self._engine = engines.engine()
        return self._engine.transcribe(pcm)

    async def transcribe(self, pcm: np.ndarray) -> str:
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._transcribe, pcm)
        finally:
            self.pending -= 1
            self.calls += 1

    def warm_up(self) -> None:
        """Load the engine on its thread now, so the first caption does not wait for it."""
        self._executor.submit(self._transcribe, np.zeros(engines.RATE // 2, dtype=np.int16))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class _Speaker:
    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self.down = Downsampler()
        self.cutter = PhraseCutter()
        self.partial_at_ms = 0  # phrase length at the last partial
        self.phrase_ids: dict[int, int] = {}  # the cutter's phrase index -> Space-wide phrase id


class SpaceCaptioner:
    def __init__(
        self,
        *,
        transcriber: Transcriber,
        emit: Callable[[Caption], Awaitable[None]],
        clock_ms: Callable[[], int],
        partial_s: float = 1.5,
    ) -> None:
        self.transcriber = transcriber
        self._emit = emit
        self._clock_ms = clock_ms
        self._partial_ms = int(partial_s * 1000)
        self._speakers: dict[str, _Speaker] = {}  # track sid -> speaker
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_phrase = 0
        self.finals = 0
        self.partials = 0

    def feed(self, sid: str, user_id: int, samples: np.ndarray) -> None:
        """One frame of a speaker's 48 kHz track (just received). Never blocks."""
        speaker = self._speakers.get(sid)
        if speaker is None or speaker.user_id != user_id:
            speaker = self._speakers[sid] = _Speaker(user_id)
        at_ms = self._clock_ms() - samples.size * 1000 // RATE_IN
        for phrase in speaker.cutter.feed(speaker.down.process(samples), at_ms):
            self._final(speaker, phrase)
        current = speaker.cutter.current
        if current is None:
            speaker.partial_at_ms = 0
            return
        length = current.length_ms
        if length - speaker.partial_at_ms >= self._partial_ms:
            speaker.partial_at_ms = length
            if self.transcriber.busy:
                self.transcriber.dropped_partials += 1
            else:
                self._spawn(
                    self._run(speaker, current, current.samples(), final=False, end_ms=current.start_ms + length)
                )

    def remove(self, sid: str) -> None:
        """The track is gone (speaker left the stage, muted by unpublishing, or declined): end its phrase."""
        speaker = self._speakers.pop(sid, None)
        if speaker is not None:
            phrase = speaker.cutter.flush()
            if phrase is not None:
                self._final(speaker, phrase)

    def drop(self, sid: str) -> None:
        """Forget a track without captioning what it said (its speaker declined captions)."""
        self._speakers.pop(sid, None)

    def _phrase_id(self, speaker: _Speaker, phrase: Phrase) -> int:
        if phrase.index not in speaker.phrase_ids:
            self._next_phrase += 1
            speaker.phrase_ids[phrase.index] = self._next_phrase
        return speaker.phrase_ids[phrase.index]

    def _final(self, speaker: _Speaker, phrase: Phrase) -> None:
        if self.transcriber.pending >= self.transcriber.max_backlog:
            self.transcriber.dropped_finals += 1
            logger.warning("captions.final_dropped", extra={"user_id": speaker.user_id})
            speaker.phrase_ids.pop(phrase.index, None)
            return
        self._spawn(self._run(speaker, phrase, phrase.samples(), final=True, end_ms=phrase.end_ms))

    async def _run(self, speaker: _Speaker, phrase: Phrase, pcm: np.ndarray, *, final: bool, end_ms: int) -> None:
        phrase_id = self._phrase_id(speaker, phrase)
        try:
            text = await self.transcriber.transcribe(pcm)
        except Exception:
            logger.exception("captions.transcribe_failed", extra={"user_id": speaker.user_id})
            return
        if final:
            speaker.phrase_ids.pop(phrase.index, None)
        elif speaker.cutter.current is not phrase:
            return  # the phrase has ended meanwhile: its final caption supersedes this partial
        if not text:
            return
        caption = Caption(speaker.user_id, phrase_id, phrase.start_ms, end_ms, text, final)
        if final:
            self.finals += 1
        else:
            self.partials += 1
        try:
            await self._emit(caption)
        except Exception:
            logger.exception("captions.emit_failed", extra={"user_id": speaker.user_id})

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, timeout: float = 10.0) -> None:
        """End every phrase in progress and wait (bounded) for their captions."""
        for sid in list(self._speakers):
            self.remove(sid)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
