"""A speaking peer (espeak-ng sentences into a LiveKit microphone track, 48 kHz, real time) and a
listener's websocket (the production consumer through Channels, in a thread) for caption tests."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from typing import Any

import numpy as np
from livekit import rtc
from rest_framework.authtoken.models import Token

from accounts.models import User
from rooms.captions.testset import speak
from tests.support.livekit import Peer


class SpeakingPeer(Peer):
    """Publishes silence, or the sentences queued with ``say`` (each followed by ``gap_s`` of silence).

    ``spoken``: (sentence, wall time its first sample was captured, wall time its last *audible* one was:
    espeak-ng ends every clip with about 0.39 s of silence, which is not part of the phrase)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queue: deque[tuple[str, np.ndarray]] = deque()
        self.spoken: list[tuple[str, float, float]] = []

    def say(self, sentences: list[str], gap_s: float = 1.5) -> None:
        silence = np.zeros(int(48000 * gap_s), dtype=np.int16)
        for sentence in sentences:
            self._queue.append((sentence, speak(sentence, 48000)))
            self._queue.append(("", silence))

    def done(self) -> bool:
        return not self._queue

    async def _tone(self, source: rtc.AudioSource) -> None:  # the harness's publishing loop
        n = 480
        current: tuple[str, np.ndarray] | None = None
        offset, started = 0, 0.0
        while True:
            frame = rtc.AudioFrame.create(48000, 1, n)
            data = np.frombuffer(frame.data, dtype=np.int16)
            if current is None and self._queue:
                # The source queues up to a second ahead: a sample is sent queued_duration from now.
                current, offset, started = self._queue.popleft(), 0, time.time() + source.queued_duration
            if current is not None:
                chunk = current[1][offset : offset + n]
                data[: chunk.size] = chunk
                offset += n
                if offset >= current[1].size:
                    if current[0]:
                        audible = np.nonzero(np.abs(current[1]) > 200)[0]
                        silent_tail = (current[1].size - 1 - audible[-1]) / 48000 if audible.size else 0.0
                        ends = time.time() + source.queued_duration + n / 48000 - silent_tail
                        self.spoken.append((current[0], started, ends))
                    current = None
            await source.capture_frame(frame)  # paces the loop in real time


class ListenerSocket:
    """A listener's websocket on the Space, against a real ASGI server process, read in its own thread.

    ``frames``: (wall time received, decoded frame), in order."""

    def __init__(self, url: str, user: User) -> None:
        self.url = url
        self.token = Token.objects.get_or_create(user=user)[0].key
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True, name="listener-ws")

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(20), "the listener's socket did not connect"

    async def _run(self) -> None:
        from websockets.asyncio.client import connect

        headers = {"Authorization": f"Token {self.token}"}
        async with connect(self.url, additional_headers=headers, proxy=None, open_timeout=15) as ws:
            self._ready.set()
            while not self._stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                self.frames.append((time.time(), json.loads(raw)))

    def captions(self, *, final: bool | None = None) -> list[tuple[float, dict[str, Any]]]:
        return [
            (t, f["data"])
            for t, f in list(self.frames)
            if f["type"] == "caption" and (final is None or f["data"]["final"] is final)
        ]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
