"""One Space served by one agent: join its LiveKit room hidden, mix the stage microphones, store parts.

Three loops run while the lease is held: the mix (every 20 ms on the agent's clock), the lease renewal
(every ``SPACES_AGENT_RENEW_S``) and the plan refresh (every ``SPACES_AGENT_POLL_S``: consent, whether
the Space still needs recording). The session ends when the Space ends or recording is turned off
(the last part is stored, the lease released), when the lease is lost (nothing more is stored), or
when the process is asked to stop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import numpy as np
from django.conf import settings
from livekit import rtc

from rooms import audio, livekit_client
from rooms.agent.captions_hook import CaptionsHook
from rooms.agent.db import db
from rooms.agent.hls import HlsWriter
from rooms.agent.hls import remove as hls_remove
from rooms.agent.mixer import FRAME, Mixer, SpeakerTimeline, TrackBuffer
from rooms.services import hls, recordings

logger = logging.getLogger(__name__)

FRAME_MS = FRAME // audio.SAMPLES_PER_MS
LATENCY_S = 0.06  # the mix of t is made at t + 60 ms: the jitter buffers' depth
BATCH_S = 0.08  # frames are mixed in batches: up to 80 ms later, from audio already buffered
FIRST_PART_S = 0.5  # the first part is short, so audio reaches storage soon after recording starts
CONNECT_TIMEOUT_S = 10.0


class SessionError(Exception):
    """The session could not join the room (LiveKit unreachable or refused)."""


class SpaceSession:
    def __init__(self, *, agent_id: str, space_id: int, epoch: int, plan: recordings.AgentPlan) -> None:
        self.agent_id, self.space_id, self.epoch, self.plan = agent_id, space_id, epoch, plan
        self.mixer = Mixer()
        self.timeline = SpeakerTimeline()
        self.room: rtc.Room | None = None
        self.stop_reason = ""
        self.stopped = asyncio.Event()
        self.lost = False  # the lease is gone: store nothing more
        self.parts_stored = 0
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._stores: set[asyncio.Task[None]] = set()  # stores and confirmations in flight
        self._store_lock = asyncio.Lock()
        self._part: list[np.ndarray] = []
        self._part_start_ms = 0
        self._plan_reads = self._plan_applied = 0
        # Live captions (issue 17): a separate hook fed the same frames; see rooms/agent/captions_hook.py.
        self.captions = CaptionsHook(space_id=space_id, started_at=plan.started_at)
        self.hls: HlsWriter | None = None  # the live mix as HLS while the plan asks for it (rooms/agent/hls.py)

    def stop(self, reason: str) -> None:
        if not self.stopped.is_set():
            self.stop_reason = reason
            self.stopped.set()

    # --- the room ------------------------------------------------------------------------------------
    async def _connect(self) -> None:
        room = rtc.Room()
        room.on("track_subscribed", self._on_track)
        room.on("track_unsubscribed", self._on_untrack)
        room.on("disconnected", lambda *_: self.stop("disconnected"))
        token = livekit_client.agent_token_mint(room=self.plan.room, agent_id=self.agent_id)
        try:
            await db(
                livekit_client.room_ensure,
                room=self.plan.room,
                empty_timeout_s=settings.LIVEKIT_ROOM_EMPTY_TIMEOUT_S,
                departure_timeout_s=settings.LIVEKIT_ROOM_EMPTY_TIMEOUT_S,
            )
            options = rtc.RoomOptions(auto_subscribe=True)
            await asyncio.wait_for(room.connect(settings.LIVEKIT_URL, token, options=options), CONNECT_TIMEOUT_S)
        except Exception as exc:  # the SDK raises ConnectError, timeouts, or LiveKitUnavailable from room_ensure
            raise SessionError(f"{type(exc).__name__}: {exc}") from exc
        self.room = room

    def _on_track(self, track: rtc.Track, publication: rtc.RemoteTrackPublication, participant: Any) -> None:
        if track.kind != rtc.TrackKind.KIND_AUDIO or publication.source != rtc.TrackSource.SOURCE_MICROPHONE:
            return
        user_id = livekit_client.user_id_from_identity(participant.identity)
        if user_id is None:
            return
        buffer = self.mixer.add(publication.sid, user_id)
        self._readers[publication.sid] = asyncio.create_task(self._read(track, buffer, publication.sid, user_id))
        confirm = asyncio.create_task(self._confirm(publication.sid))
        self._stores.add(confirm)
        confirm.add_done_callback(self._stores.discard)

    async def _confirm(self, sid: str) -> None:
        """Read consent again now that the track exists, then let it into the mix (if its owner consents)."""
        await self._refresh_plan()
        self.mixer.confirm(sid)

    async def _refresh_plan(self) -> recordings.AgentPlan:
        """Read the plan; a read that started earlier never replaces one that started later."""
        self._plan_reads += 1
        ticket = self._plan_reads
        plan = await db(recordings.agent_plan, space_id=self.space_id)
        if ticket > self._plan_applied and plan.recording_id == self.plan.recording_id:
            self._plan_applied = ticket
            self.plan = plan
        return plan

    def _on_untrack(self, track: rtc.Track, publication: rtc.RemoteTrackPublication, participant: Any) -> None:
        self.mixer.remove(publication.sid)
        self.captions.remove(publication.sid)
        reader = self._readers.pop(publication.sid, None)
        if reader is not None:
            reader.cancel()

    async def _read(self, track: rtc.Track, buffer: TrackBuffer, sid: str, user_id: int) -> None:
        stream = rtc.AudioStream(track, sample_rate=audio.RATE, num_channels=1, frame_size_ms=FRAME_MS)
        try:
            async for event in stream:
                samples = np.frombuffer(event.frame.data, dtype=np.int16).copy()
                buffer.push(samples)
                self.captions.feed(sid, user_id, samples)
        finally:
            await stream.aclose()

    # --- the loops -----------------------------------------------------------------------------------
    async def _mix_loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.plan.started_at is not None
        t0, wall0 = loop.time(), time.time()
        base_ms = max(0, int((wall0 - self.plan.started_at.timestamp()) * 1000))
        self._part_start_ms = base_ms
        target = int(FIRST_PART_S * 1000) // FRAME_MS
        n = 0
        while True:
            delay = t0 + (n + 1) * FRAME_MS / 1000 + LATENCY_S - loop.time()
            if delay > 0:  # wake once per BATCH_S and make every frame then due (fewer wake-ups per Space)
                await asyncio.sleep(delay + BATCH_S)
            frame, energy, live = self.mixer.mix_live(self.plan.consenting)
            self._hls_feed(live)
            if self.plan.record:
                self.timeline.feed(base_ms + n * FRAME_MS, energy)
                self._part.append(frame)
            n += 1
            if len(self._part) >= target:
                self._flush(next_start_ms=base_ms + n * FRAME_MS)
                target = max(1, int(settings.SPACES_RECORDING_PART_S * 1000) // FRAME_MS)

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(settings.SPACES_AGENT_RENEW_S)
            if not await db(recordings.lease_renew, space_id=self.space_id, agent_id=self.agent_id, epoch=self.epoch):
                self.lost = True
                self.stop("lease_lost")
                return

    async def _plan_loop(self) -> None:
        while True:
            await asyncio.sleep(settings.SPACES_AGENT_POLL_S)
            plan = await self._refresh_plan()
            if plan.recording_id != self.plan.recording_id or not plan.needed:
                self.stop("not_needed")
                return

    # --- HLS ---------------------------------------------------------------------------------------
    def _hls_feed(self, live: np.ndarray) -> None:
        """Encode the live mix while the plan asks for HLS and we hold the lease (never after losing it)."""
        if self.plan.hls and not self.lost:
            if self.hls is None:
                self.hls = HlsWriter(hls.space_dir(self.space_id), segment_s=settings.SPACES_HLS_SEGMENT_S)
            self.hls.write(live)
        elif self.hls is not None:
            self._hls_close()

    def _hls_close(self) -> None:
        # After a lost lease this still flushes our last segment and rewrites the playlist once; the agent
        # that took over rewrites it again with its next segment (≤ 1 s), so players may see one stale
        # playlist, which they tolerate. A lease is lost only by an agent stalled past SPACES_AGENT_LEASE_S.
        if self.hls is not None:
            try:
                self.hls.close()
            except Exception:
                logger.exception("agent.hls_close_failed", extra={"space_id": self.space_id})
            self.hls = None

    # --- storing -------------------------------------------------------------------------------------
    def _flush(self, *, next_start_ms: int) -> None:
        if not self._part or self.lost or not self.plan.record or self.plan.recording_id is None:
            self._part = []
            return
        pcm = np.concatenate(self._part)
        start_ms, segments = self._part_start_ms, self.timeline.take_closed()
        self._part, self._part_start_ms = [], next_start_ms
        task = asyncio.create_task(self._store(pcm, start_ms, segments))
        self._stores.add(task)
        task.add_done_callback(self._stores.discard)

    async def _store(self, pcm: np.ndarray, start_ms: int, segments: list[tuple[int, int, int]]) -> None:
        async with self._store_lock:  # parts reach storage in order
            if self.lost:
                return
            assert self.plan.recording_id is not None  # _flush stores nothing without a recording
            data = await asyncio.to_thread(audio.encode, pcm)
            stored = await db(
                recordings.part_store,
                space_id=self.space_id,
                agent_id=self.agent_id,
                epoch=self.epoch,
                recording_id=self.plan.recording_id,
                start_ms=start_ms,
                duration_ms=pcm.size // audio.SAMPLES_PER_MS,
                data=data,
            )
            if not stored:
                self.lost = True
                self.stop("lease_lost")
                return
            self.parts_stored += 1
            if segments:
                await db(recordings.segments_store, recording_id=self.plan.recording_id, segments=segments)

    # --- the whole session ---------------------------------------------------------------------------
    async def run(self) -> str:
        """Serve the Space until it no longer needs us; returns why it stopped."""
        await self._connect()
        loops = [
            asyncio.create_task(c)
            for c in (self._mix_loop(), self._renew_loop(), self._plan_loop(), self.captions.loop())
        ]
        logger.info("agent.session_started", extra={"space_id": self.space_id, "agent_id": self.agent_id})
        try:
            await self.stopped.wait()
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self._finish()
        logger.info("agent.session_stopped", extra={"space_id": self.space_id, "reason": self.stop_reason})
        return self.stop_reason

    async def _finish(self) -> None:
        await self.captions.close()
        self._hls_close()
        self._flush(next_start_ms=0)
        if not self.lost:
            segments = self.timeline.close_all()
            if segments and self.plan.recording_id is not None:
                await db(recordings.segments_store, recording_id=self.plan.recording_id, segments=segments)
        if self._stores:
            await asyncio.gather(*list(self._stores), return_exceptions=True)
        for reader in self._readers.values():
            reader.cancel()
        if not self.lost:
            if self.stop_reason != "shutdown" and not (await db(recordings.agent_plan, space_id=self.space_id)).hls:
                hls_remove(hls.space_dir(self.space_id))  # the Space ended: its HLS is not kept
            await db(recordings.lease_release, space_id=self.space_id, agent_id=self.agent_id, epoch=self.epoch)
        if self.room is not None:
            await self.room.disconnect()
