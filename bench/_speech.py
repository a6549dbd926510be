"""A fixed set of English sentences spoken by espeak-ng (en-us, 150 wpm), for bench/captions.py.

The same sentences as tests/rooms/speech.py (the caption tests'): the WER the bench reports is the one the
tests bound. Keep the two lists equal (a bench imports nothing from tests/).

The set mixes plain sentences the model gets right with names, numbers and rare words it gets partly
wrong, so a WER bound on it means something.
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
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", raw, text], check=True, capture_output=True)
        subprocess.run(["sox", raw, "-r", str(rate), "-c", "1", "-b", "16", out], check=True, capture_output=True)
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
