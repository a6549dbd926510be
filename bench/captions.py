"""Live captions: WER, real-time factor on one core, concurrent speakers per core, caption latency.

    .venv/bin/python bench/captions.py                 # model figures (no services needed)
    .venv/bin/python bench/captions.py --latency       # + end-to-end latency: runs the real-stack test
                                                        #   (bin/services up and .services/env first)

Model figures run pinned to one CPU (``sched_setaffinity``), so onnxruntime's threads share one core:
- WER on the fixed espeak-ng set (rooms/captions/testset.py) and on real recorded English speech shipped
  in packages: the moonshine-cpp wheel's test-data/beckett.wav (MIT) and Debian alsa-utils' eight
  speaker-test announcements, /usr/share/sounds/alsa/*.wav (GPL-2);
- real-time factor: engine wall time and CPU time per second of speech;
- concurrent speakers: N speakers talking at once in real time through one ``Transcriber`` (the agent's
  one engine thread); a count is sustained if no final caption is dropped and the p95 lag from a
  phrase's end to its final caption stays ≤ 3 s.
Latency end to end (``--latency``): tests/rooms/test_captions_e2e.py with a real livekit-server and
agent writes, for each sentence, end of speech → final caption on a listener's socket.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings")


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def model_figures() -> dict[str, object]:

    from rooms.captions.engine import MoonshineEngine, wer
    from rooms.captions.testset import SENTENCES, alsa_announcements, beckett_16k, speak

    engine = MoonshineEngine()
    engine.transcribe(speak(SENTENCES[0], 16000))  # warm up
    edits = total = 0
    wall = cpu = audio_s = 0.0
    per_sentence = []
    for sentence in SENTENCES:
        pcm = speak(sentence, 16000)
        w, c = time.perf_counter(), time.process_time()
        text = engine.transcribe(pcm)
        wall += time.perf_counter() - w
        cpu += time.process_time() - c
        audio_s += pcm.size / 16000
        e, n = wer(sentence, text)
        edits, total = edits + e, total + n
        per_sentence.append({"said": sentence, "heard": text, "edits": e, "words": n})
    pcm, reference = beckett_16k()
    b_edits, b_total = wer(reference, engine.transcribe(pcm))
    a_edits = a_total = 0
    alsa_heard = []
    for pcm, reference in alsa_announcements():
        heard = engine.transcribe(pcm)
        e, n = wer(reference, heard)
        a_edits, a_total = a_edits + e, a_total + n
        alsa_heard.append(heard)
    return {
        "wer_espeak": round(edits / total, 3),
        "wer_espeak_edits": [edits, total],
        "wer_beckett": round(b_edits / b_total, 3),
        "wer_alsa": round(a_edits / a_total, 3) if a_total else "alsa-utils not installed",
        "wer_alsa_edits": [a_edits, a_total],
        "alsa_heard": alsa_heard,
        "rtf_wall_one_core": round(wall / audio_s, 3),
        "rtf_cpu": round(cpu / audio_s, 3),
        "sentences": per_sentence,
    }


async def _speakers(n: int, seconds: float) -> dict[str, object]:
    import numpy as np

    from rooms.captions.captioner import Caption, SpaceCaptioner, Transcriber
    from rooms.captions.engine import MoonshineEngine
    from rooms.captions.testset import SENTENCES, speak

    transcriber = Transcriber(MoonshineEngine())
    lags: list[float] = []
    ends: dict[tuple[int, int], float] = {}
    t0 = time.time()

    def clock() -> int:
        return int((time.time() - t0) * 1000)

    async def emit(caption: Caption) -> None:
        if caption.final:
            lags.append(time.time() - (t0 + caption.end_ms / 1000))

    captioner = SpaceCaptioner(transcriber=transcriber, emit=emit, clock_ms=clock, partial_s=1.5)
    gap = np.zeros(48000, dtype=np.int16)
    tracks = []
    for i in range(n):
        parts = [np.zeros(4800 * i, dtype=np.int16)]  # staggered starts
        for k in range(len(SENTENCES)):
            parts += [speak(SENTENCES[(i + k) % len(SENTENCES)], 48000), gap]
        tracks.append(np.concatenate(parts))
    frames = int(seconds * 100)
    start = time.perf_counter()
    for f in range(frames):
        for i, track in enumerate(tracks):
            chunk = track[(f * 480) % track.size :][:480]
            if chunk.size == 480:
                captioner.feed(f"TR_{i}", i + 1, chunk)
        delay = start + (f + 1) / 100 - time.perf_counter()
        await asyncio.sleep(max(0.0, delay))
    await captioner.close(timeout=30)
    transcriber.shutdown()
    del ends
    return {
        "speakers": n,
        "finals": captioner.finals,
        "partials": captioner.partials,
        "dropped_finals": transcriber.dropped_finals,
        "dropped_partials": transcriber.dropped_partials,
        "lag_median_s": round(statistics.median(lags), 2) if lags else None,
        "lag_p95_s": round(_quantile(lags, 0.95), 2) if lags else None,
        "sustained": transcriber.dropped_finals == 0 and bool(lags) and _quantile(lags, 0.95) <= 3.0,
    }


def latency() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "latency.json"
        env = dict(os.environ, SPACES_CAPTIONS_BENCH_OUT=str(out))
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/rooms/test_captions_e2e.py",
            "-k",
            "test_spoken_sentences",
        ]
        # The test's own output goes to stderr: stdout is this bench's JSON.
        passed = subprocess.run(cmd, cwd=ROOT, env=env, check=False, stdout=sys.stderr).returncode == 0
        data = json.loads(out.read_text())  # written before the test's bounds are asserted
    values = data["latencies_s"]
    return {
        "latency_median_s": round(statistics.median(values), 2),
        "latency_p95_s": round(_quantile(values, 0.95), 2),
        "latency_max_s": round(max(values), 2),
        "latency_n": len(values),
        # Median seconds after the end of speech at which each step was done (agent log + socket).
        "latency_breakdown_median_s": {
            step: round(statistics.median(row[step] for row in data["breakdown"] if step in row), 3)
            for step in ("closed", "engine_start", "engine_end", "emit_start", "published", "socket", "audio_s")
            if any(step in row for row in data["breakdown"])
        },
        "latency_breakdown": data["breakdown"],
        "wer_through_livekit": round(data["wer"][0] / data["wer"][1], 3),
        "heard": data["lines"],
        "test_passed": passed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--speakers", default="1,2,3,4")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    import django

    django.setup()
    result: dict[str, object] = {"load_avg": os.getloadavg(), "cpus": os.cpu_count()}
    if args.latency:
        result.update(latency())  # before pinning: the test starts its own processes
    os.sched_setaffinity(0, {0})
    result.update(model_figures())
    result["concurrent"] = [asyncio.run(_speakers(int(n), args.seconds)) for n in args.speakers.split(",")]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
