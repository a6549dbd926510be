"""Per-speaker captioning for one Space, fed by the audio agent's track readers.

``SpaceCaptioner.feed`` is called with each 48 kHz frame of a stage microphone (only for speakers who
have not declined captions); it resamples, runs the VAD and, never waiting, schedules work on the
agent's single ``Transcriber`` thread: a *final* caption when a phrase ends, and a *partial* one every
``partial_s`` while a long phrase goes on, only if the engine is idle at that moment (partials are
dropped under load).

Speculative finals (the latency fix): the VAD only knows a phrase has ended ``HANG_MS`` after its last
speech, and the engine then needs about a third of the phrase's length. So as soon as a speaker has
paused for ``SPEC_PAUSE_MS`` the phrase so far is transcribed at once (if the engine is idle); if the
phrase then ends with no more speech, that text *is* the final caption (the same speech, less trailing
silence) and is published the moment both are known; if the speaker goes on, it is published as a
partial. A final transcribed after the end is cut at the last speech (the hangover's silence is not
given to the engine). Finals are queued up to ``max_backlog`` calls; beyond that they are dropped and
counted (the Space falls behind gracefully instead of piling up work). The engine runs in a thread
(ctypes releases the GIL), so the recording's mix loop is never held up.

Times are milliseconds on the recording's clock (since the recording started), like the speaker
timeline, so the transcript lines up with the replay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from rooms.captions import engine as engines
from rooms.captions.resample import Downsampler
from rooms.captions.vad import RATE as VAD_RATE
from rooms.captions.vad import Phrase, PhraseCutter

logger = logging.getLogger(__name__)

RATE_IN = 48000
SPEC_PAUSE_MS = 240  # a pause this long starts a speculative final (shorter ones are often inside words)
TAIL_MS = 90  # silence kept after the last speech when a final is transcribed after the end


@dataclass(frozen=True)
class Caption:
    user_id: int
    phrase: int  # per Space, increasing; a final replaces the partials of the same phrase
    start_ms: int
    end_ms: int
    text: str
    final: bool
    # Wall times (time.time()) of the steps, for the latency breakdown: "closed" (the VAD ended the
    # phrase), "engine_start", "engine_end"; the hook adds "published".
    timing: dict[str, float] = field(default_factory=dict, compare=False)


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
        self.rtf = 0.4  # engine seconds per second of audio, a moving average of the calls so far

    @property
    def busy(self) -> bool:
        return self.pending > 0

    def _transcribe(self, pcm: np.ndarray, timing: dict[str, float] | None = None) -> str:
        if timing is not None:
            timing["engine_start"] = time.time()
        if self._engine is None:
            self._engine = engines.engine()
        started = time.perf_counter()
        text = self._engine.transcribe(pcm)
        if pcm.size >= engines.RATE:
            self.rtf += 0.3 * ((time.perf_counter() - started) / (pcm.size / engines.RATE) - self.rtf)
        if timing is not None:
            timing["engine_end"] = time.time()
        return text

    async def transcribe(self, pcm: np.ndarray, timing: dict[str, float] | None = None) -> str:
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._transcribe, pcm, timing)
        finally:
            self.pending -= 1
            self.calls += 1

    def warm_up(self) -> None:
        """Load the engine on its thread now, so the first caption does not wait for it."""
        self._executor.submit(self._transcribe, np.zeros(engines.RATE // 2, dtype=np.int16))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


@dataclass
class _Spec:
    """A speculative final: the phrase transcribed during a pause, up to ``upto_ms`` (its last speech)."""

    phrase: Phrase
    upto_ms: int
    timing: dict[str, float]
    done: bool = False
    text: str | None = None  # None: the engine failed
    final: bool = False  # the phrase ended with no more speech: this text is its final caption


class _Speaker:
    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self.down = Downsampler()
        self.cutter = PhraseCutter()
        self.partial_at_ms = 0  # phrase length at the last partial
        self.phrase_ids: dict[int, int] = {}  # the cutter's phrase index -> Space-wide phrase id
        self.spec: _Spec | None = None


class SpaceCaptioner:
    def __init__(
        self,
        *,
        transcriber: Transcriber,
        emit: Callable[[Caption], Awaitable[None]],
        clock_ms: Callable[[], int],
        partial_s: float = 1.5,
        speculate: bool = True,
        partial_budget_s: float | None = None,
    ) -> None:
        self.transcriber = transcriber
        self._emit = emit
        self._clock_ms = clock_ms
        self._partial_ms = int(partial_s * 1000)
        self._speculate = speculate
        # A timed partial is skipped if the engine would need longer than this for it (its current
        # rate times the phrase so far): the final would wait behind it. Under load, partials go first.
        self._partial_budget_s = partial_budget_s if partial_budget_s is not None else 1.5 * partial_s
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
        if length - (current.last_speech_ms - current.start_ms) >= SPEC_PAUSE_MS and self._speculate:
            spec = speaker.spec
            fresh = spec is not None and spec.phrase is current and spec.upto_ms == current.last_speech_ms
            if not fresh and not self.transcriber.busy:
                speaker.partial_at_ms = length
                speaker.spec = _Spec(current, current.last_speech_ms, {"spec_start": time.time()})
                self._spawn(self._speculation(speaker, speaker.spec, current.samples()))
            return  # no timed partial during a pause: the speculative run is the partial
        if length - speaker.partial_at_ms >= self._partial_ms:
            speaker.partial_at_ms = length
            if self.transcriber.busy or self.transcriber.rtf * length / 1000 > self._partial_budget_s:
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
        spec, closed = speaker.spec, time.time()
        if spec is not None and spec.phrase is phrase:
            speaker.spec = None
            if spec.upto_ms == phrase.last_speech_ms and not (spec.done and spec.text is None):
                # No speech since the speculative run: its text is the final caption.
                spec.timing["closed"] = closed
                spec.final = True
                if spec.done:
                    self._spawn(self._finish_spec(speaker, spec))
                return
        self._final_run(speaker, phrase, closed)

    def _final_run(self, speaker: _Speaker, phrase: Phrase, closed: float) -> None:
        if self.transcriber.pending >= self.transcriber.max_backlog:
            self.transcriber.dropped_finals += 1
            logger.warning("captions.final_dropped", extra={"user_id": speaker.user_id})
            speaker.phrase_ids.pop(phrase.index, None)
            return
        keep = (phrase.last_speech_ms - phrase.start_ms + TAIL_MS) * VAD_RATE // 1000
        pcm = phrase.samples()[: max(0, keep)]
        self._spawn(self._run(speaker, phrase, pcm, final=True, end_ms=phrase.end_ms, closed=closed))

    async def _speculation(self, speaker: _Speaker, spec: _Spec, pcm: np.ndarray) -> None:
        phrase = spec.phrase
        phrase_id = self._phrase_id(speaker, phrase)
        try:
            spec.text = await self.transcriber.transcribe(pcm, spec.timing)
        except Exception:
            logger.exception("captions.transcribe_failed", extra={"user_id": speaker.user_id})
        spec.done = True
        if spec.final:
            await self._finish_spec(speaker, spec)
        elif spec.text and speaker.cutter.current is phrase:
            end_ms = phrase.start_ms + phrase.length_ms
            caption = Caption(speaker.user_id, phrase_id, phrase.start_ms, end_ms, spec.text, False, spec.timing)
            self.partials += 1
            await self._publish(caption)

    async def _finish_spec(self, speaker: _Speaker, spec: _Spec) -> None:
        phrase = spec.phrase
        phrase_id = self._phrase_id(speaker, phrase)
        if spec.text is None:  # the engine failed: transcribe the whole phrase again
            self._final_run(speaker, phrase, spec.timing["closed"])
            return
        speaker.phrase_ids.pop(phrase.index, None)
        if not spec.text:
            return
        spec.timing["speculative"] = 1.0
        self.finals += 1
        await self._publish(
            Caption(speaker.user_id, phrase_id, phrase.start_ms, phrase.end_ms, spec.text, True, spec.timing)
        )

    async def _run(
        self, speaker: _Speaker, phrase: Phrase, pcm: np.ndarray, *, final: bool, end_ms: int, closed: float = 0.0
    ) -> None:
        phrase_id = self._phrase_id(speaker, phrase)
        timing = {"closed": closed or time.time()}
        try:
            text = await self.transcriber.transcribe(pcm, timing)
        except Exception:
            logger.exception("captions.transcribe_failed", extra={"user_id": speaker.user_id})
            return
        if final:
            speaker.phrase_ids.pop(phrase.index, None)
        elif speaker.cutter.current is not phrase:
            return  # the phrase has ended meanwhile: its final caption supersedes this partial
        if not text:
            return
        caption = Caption(speaker.user_id, phrase_id, phrase.start_ms, end_ms, text, final, timing)
        if final:
            self.finals += 1
        else:
            self.partials += 1
        await self._publish(caption)

    async def _publish(self, caption: Caption) -> None:
        try:
            await self._emit(caption)
        except Exception:
            logger.exception("captions.emit_failed", extra={"user_id": caption.user_id})

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
