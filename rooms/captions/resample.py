"""48 kHz → 16 kHz, streaming: a windowed-sinc low-pass (cut at 7 kHz) and keep every third sample.

Chunks of any size give the same output as the whole signal at once (the filter's history and the
decimation phase carry over), so the 10 ms frames LiveKit delivers are resampled without seams.
"""

from __future__ import annotations

import numpy as np

FACTOR = 3
TAPS = 63


def _design(taps: int = TAPS, cutoff_hz: float = 7000.0, rate: float = 48000.0) -> np.ndarray:
    n = np.arange(taps) - (taps - 1) / 2
    h = np.sinc(2 * cutoff_hz / rate * n) * np.blackman(taps)
    return (h / h.sum()).astype(np.float32)


class Downsampler:
    def __init__(self) -> None:
        self._taps = _design()
        self._history = np.zeros(TAPS - 1, dtype=np.float32)
        self._phase = 0  # index, in the next chunk's filtered output, of the next sample to keep

    def process(self, samples: np.ndarray) -> np.ndarray:
        """int16 48 kHz in, int16 16 kHz out."""
        if samples.size == 0:
            return np.zeros(0, dtype=np.int16)
        buffer = np.concatenate([self._history, samples.astype(np.float32)])
        filtered = np.convolve(buffer, self._taps, mode="valid")
        self._history = buffer[-(TAPS - 1) :]
        out = filtered[self._phase :: FACTOR]
        self._phase = (self._phase - filtered.size) % FACTOR
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)
