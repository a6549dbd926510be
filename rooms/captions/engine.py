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
        return " ".join(raw.decode("utf-8", "replace").split())


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
