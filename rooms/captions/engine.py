"""Speech engines: ``transcribe(pcm16k) -> text`` on 16 kHz mono int16 samples.

The default is Moonshine's English base model shipped inside the ``moonshine-cpp`` wheel (encoder and
decoder ``.ort`` files plus its own onnxruntime): nothing is downloaded at run time. An operator can
configure another engine with ``SPACES_CAPTIONS_ENGINE`` (a dotted path to a class with the same
``transcribe`` method); only Moonshine is the default and tested.

Streaming needs no more than this: the captioner re-transcribes the phrase so far for a partial
caption and the whole phrase for the final one (Moonshine's cost grows with the audio's length, and
phrases are cut at ``MAX_PHRASE_S``).
"""

from __future__ import annotations

import ctypes
import threading
from functools import lru_cache
from typing import Protocol

import numpy as np
from django.conf import settings
from django.utils.module_loading import import_string

RATE = 16000


class Engine(Protocol):
    def transcribe(self, pcm16k: np.ndarray) -> str:
        """Text of 16 kHz mono int16 speech (empty if none was recognised)."""
        ...


class EngineError(Exception):
    """The engine failed on this audio."""


class MoonshineEngine:
    """``moonshine_cpp``'s English base model, called through its raw float-buffer C function.

    The package's own ``MoonshineModel.transcribe`` wrapper builds a ``ctypes.c_float_p`` that does not
    exist in ctypes, so the C function is called here directly with a float32 numpy buffer.
    """

    MIN_SAMPLES = RATE // 10  # the model needs at least 100 ms

    def __init__(self) -> None:
        import moonshine_cpp

        self._lib = moonshine_cpp.moonshine_lib
        self._model = moonshine_cpp.MoonshineModel(language="en")
        self._lock = threading.Lock()  # one call at a time per model handle

    def transcribe(self, pcm16k: np.ndarray) -> str:
        if pcm16k.size < self.MIN_SAMPLES:
            return ""
        samples = np.ascontiguousarray(pcm16k, dtype=np.float32) / 32768.0
        text = ctypes.c_char_p(0)
        pointer = samples.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        with self._lock:
            error = self._lib.moonshine_transcribe(self._model.model_handle, pointer, samples.size, ctypes.byref(text))
        if error != 0:
            raise EngineError(f"moonshine_transcribe returned {error}")
        raw = text.value or b""
        self._lib.moonshine_free_text(text)
        return collapse_loops(" ".join(raw.decode("utf-8", "replace").split()))


LOOP_REPEATS = 3  # an n-gram said this many times in a row is a decoder loop, not speech


def collapse_loops(text: str, max_n: int = 4) -> str:
    """Keep one copy of a run of 1 to ``max_n`` words repeated ``LOOP_REPEATS`` or more times in a row.

    Moonshine given audio cut inside a word (a partial, or a garbled stretch) can loop until its token
    limit: "from rake to rake to rake to rake to …". People do repeat themselves, but hardly three
    times running, so such runs are cut back to one copy (``words`` ignores case and punctuation)."""
    tokens = text.split()
    keys = words_of_tokens(tokens)
    n = 1
    while n <= max_n:
        i, changed = 0, False
        while i + n * LOOP_REPEATS <= len(tokens):
            unit = keys[i : i + n]
            reps = 1
            while keys[i + reps * n : i + (reps + 1) * n] == unit:
                reps += 1
            if reps >= LOOP_REPEATS and any(unit):
                del tokens[i + n : i + reps * n]
                del keys[i + n : i + reps * n]
                changed = True
            i += 1
        if not changed:
            n += 1
    return " ".join(tokens)


def words_of_tokens(tokens: list[str]) -> list[str]:
    return [" ".join(words(token)) for token in tokens]


@lru_cache(maxsize=1)
def engine() -> Engine:
    """The configured engine, loaded once per process (Moonshine loads in about half a second)."""
    cls = import_string(settings.SPACES_CAPTIONS_ENGINE)
    return cls()  # type: ignore[no-any-return]


def words(text: str) -> list[str]:
    """Lower-case words without punctuation (for WER and search)."""
    cleaned = "".join(c if c.isalnum() or c in " '" else " " for c in text.lower())
    return [w.strip("'") for w in cleaned.split() if w.strip("'")]


def wer(reference: str, hypothesis: str) -> tuple[int, int]:
    """(word edits, reference words): Levenshtein distance over words."""
    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1], len(ref)
