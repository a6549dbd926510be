"""The captioning hook of a ``SpaceSession``: kept apart from the recording code on purpose.

The session hands each stage microphone frame (48 kHz, with the speaker's user id) to ``feed``; this
hook decides whether the Space is captioned (live, captions on, and under this agent's cap of
``SPACES_CAPTIONS_MAX_SPACES`` captioned Spaces), leaves out speakers who declined (their frames are
never resampled nor transcribed), and publishes what the ``SpaceCaptioner`` produces. One engine
thread (``Transcriber``) serves all of the agent's Spaces.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime

import numpy as np
from django.conf import settings

from rooms.agent.db import db
from rooms.captions.captioner import Caption, SpaceCaptioner, Transcriber
from rooms.services import captions

logger = logging.getLogger(__name__)

_transcriber: Transcriber | None = None
_captioned: set[int] = set()  # Spaces this process captions now (the per-agent cap)


def transcriber() -> Transcriber:
    global _transcriber
    if _transcriber is None:
        _transcriber = Transcriber()
        _transcriber.warm_up()
    return _transcriber


def has_capacity() -> bool:
    """Whether this process may caption one more Space (``SPACES_CAPTIONS_MAX_SPACES``)."""
    return len(_captioned) < settings.SPACES_CAPTIONS_MAX_SPACES


class CaptionsHook:
    def __init__(self, *, space_id: int, started_at: datetime | None) -> None:
        self.space_id = space_id
        self._origin_ms = started_at.timestamp() * 1000 if started_at else time.time() * 1000
        self.plan = captions.CaptionsPlan(on=False, declined=frozenset())
        self.captioner: SpaceCaptioner | None = None

    def _clock_ms(self) -> int:
        return int(time.time() * 1000 - self._origin_ms)

    def feed(self, sid: str, user_id: int, samples: np.ndarray) -> None:
        captioner = self.captioner
        if captioner is None:
            return
        if user_id in self.plan.declined:
            captioner.drop(sid)
            return
        captioner.feed(sid, user_id, samples)

    def remove(self, sid: str) -> None:
        if self.captioner is not None:
            self.captioner.remove(sid)

    async def _emit(self, caption: Caption) -> None:
        emit_start = time.time()
        logger.debug("captions.caption", extra={"space_id": self.space_id, "final": caption.final})
        published = await db(
            captions.caption_publish,
            space_id=self.space_id,
            user_id=caption.user_id,
            phrase=caption.phrase,
            start_ms=caption.start_ms,
            end_ms=caption.end_ms,
            text=caption.text,
            final=caption.final,
        )
        if caption.final:
            timing = dict(
                caption.timing, emit_start=emit_start, published=time.time(), audio_ms=caption.end_ms - caption.start_ms
            )
            timing.update(end_ms=caption.end_ms, origin_ms=self._origin_ms)
            logger.info("captions.timing %s", json.dumps(timing))
            logger.info(
                "captions.final",
                extra={"space_id": self.space_id, "published": published, "ms": caption.end_ms - caption.start_ms},
            )

    async def _apply(self) -> None:
        self.plan = await db(captions.captions_plan, space_id=self.space_id)
        if self.plan.on and self.captioner is None:
            if not has_capacity():
                return  # at the cap: recorded without captions; tried again next poll
            _captioned.add(self.space_id)
            self.captioner = SpaceCaptioner(
                transcriber=transcriber(),
                emit=self._emit,
                clock_ms=self._clock_ms,
                partial_s=settings.SPACES_CAPTIONS_PARTIAL_S,
            )
            logger.info("captions.started", extra={"space_id": self.space_id})
        elif not self.plan.on and self.captioner is not None:
            await self.close()

    async def loop(self) -> None:
        """Follow the host's switch and the speakers' consent (every ``SPACES_AGENT_POLL_S``)."""
        while True:
            try:
                await self._apply()
            except Exception:
                logger.exception("captions.plan_failed", extra={"space_id": self.space_id})
            await asyncio.sleep(settings.SPACES_AGENT_POLL_S)

    async def close(self) -> None:
        captioner, self.captioner = self.captioner, None
        _captioned.discard(self.space_id)
        if captioner is not None:
            await captioner.close()
