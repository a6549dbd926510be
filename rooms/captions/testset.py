"""Speech to measure captions on (tests and ``bench/captions.py``): no Django, nothing downloaded.

- ``SENTENCES``: a fixed set of English sentences spoken by espeak-ng (en-us, 150 wpm). It mixes plain
  sentences the model gets right with names, numbers and rare words it gets partly wrong (Kubernetes,
  Nguyen, Siobhan, Reykjavik), so a WER bound on it means something.
- ``beckett_16k``: real recorded English speech shipped inside the moonshine-cpp wheel (MIT).
- ``alsa_announcements``: real recorded English speech shipped in Debian's ``alsa-utils`` (GPL-2):
  the eight speaker-test announcements, "Front Left" ... "Side Right" (bin/services installs it).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from functools import lru_cache

import av
import numpy as np

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please remember to mute your microphone when you are not speaking.",
    "We will open the floor for questions in about five minutes.",
    "Thank you all for joining this conversation about public transport.",
    "The meeting starts at seven thirty on Thursday evening.",
    "Kubernetes schedules containers across a cluster of machines.",
    "Nguyen and Siobhan will moderate the panel from Reykjavik.",
    "My favourite fruit is a ripe mango with a little lime juice.",
]


@lru_cache(maxsize=64)
def speak(text: str, rate: int = 48000) -> np.ndarray:
    """int16 mono samples of espeak-ng saying ``text``, resampled to ``rate`` (sox, very high quality)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = os.path.join(tmp, "raw.wav"), os.path.join(tmp, "out.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", raw, text], check=True, capture_output=True)  # noqa: S603, S607
        subprocess.run(["sox", raw, "-r", str(rate), "-c", "1", "-b", "16", out], check=True, capture_output=True)  # noqa: S603, S607
        with av.open(out) as container:
            blocks = [frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)]
    return np.concatenate(blocks).astype(np.int16)


def beckett_16k() -> tuple[np.ndarray, str]:
    """Real recorded English speech shipped inside the moonshine-cpp wheel (test-data/beckett.wav, 10 s),
    and what it says (Samuel Beckett, Worstward Ho)."""
    import moonshine_cpp

    path = os.path.join(os.path.dirname(moonshine_cpp.__file__), "test-data", "beckett.wav")
    with av.open(path) as container:
        pcm = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)])
    return pcm.astype(np.int16), "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better."


ALSA_SOUNDS = "/usr/share/sounds/alsa"


def _read_16k(path: str) -> np.ndarray:
    """A sound file as 16 kHz mono int16 (sox converts)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.wav")
        subprocess.run(["sox", path, "-r", "16000", "-c", "1", "-b", "16", out], check=True, capture_output=True)  # noqa: S603, S607
        with av.open(out) as container:
            blocks = [frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)]
    return np.concatenate(blocks).astype(np.int16)


def alsa_announcements() -> list[tuple[np.ndarray, str]]:
    """(16 kHz samples, what is said) for each of alsa-utils' recorded announcements; empty if the
    package is not installed."""
    if not os.path.isdir(ALSA_SOUNDS):
        return []
    out = []
    for name in sorted(os.listdir(ALSA_SOUNDS)):
        if name.endswith(".wav") and name != "Noise.wav":
            out.append((_read_16k(os.path.join(ALSA_SOUNDS, name)), name[:-4].replace("_", " ")))
    return out
