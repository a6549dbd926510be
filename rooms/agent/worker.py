"""The agent process: lease Spaces that need it (recording or captions on: rooms/services/agent_jobs.py),
serve each with a ``SpaceSession``, report health.

Any number of agents run side by side; the lease rows decide who serves which Space. An agent that
cannot reach LiveKit gives the Space back, waits (backoff per Space) and tries again, and reports
``livekit_ok = false`` with the error in its heartbeat row (admin, readyz).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid

from django.conf import settings

from rooms.agent import captions_hook
from rooms.agent.db import db, db_long
from rooms.agent.session import SessionError, SpaceSession
from rooms.services import agent_jobs, recordings

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 3.0  # a Space whose room could not be joined is left alone this long (then doubled, to 60 s)


class Agent:
    def __init__(self, agent_id: str | None = None, max_spaces: int | None = None) -> None:
        host = socket.gethostname()
        self.agent_id = agent_id or f"{host[:30]}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
        self.hostname = host
        self.max_spaces = max_spaces or settings.SPACES_AGENT_MAX_SPACES
        self.sessions: dict[int, tuple[SpaceSession | None, asyncio.Task[None]]] = {}
        self.livekit_ok = True
        self.last_error = ""
        self._backoff: dict[int, tuple[float, float]] = {}  # space id -> (retry at, delay)
        self._finalising: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        logger.info("agent.started", extra={"agent_id": self.agent_id})
        try:
            while not stop.is_set():
                await self._tick()
                try:
                    await asyncio.wait_for(stop.wait(), settings.SPACES_AGENT_POLL_S)
                except TimeoutError:
                    pass
        finally:
            await self.shutdown()

    async def _tick(self) -> None:
        try:
            await db(
                recordings.agent_heartbeat,
                agent_id=self.agent_id,
                pid=os.getpid(),
                hostname=self.hostname,
                livekit_ok=self.livekit_ok,
                error=self.last_error,
                spaces=len(self.sessions),
            )
            free = self.max_spaces - len(self.sessions)
            if free <= 0:
                return
            # Spread the work: an agent already busy waits a little longer before taking more.
            await asyncio.sleep(random.uniform(0, 0.1) + 0.02 * len(self.sessions))
            # At its cap of captioned Spaces, an agent leaves captions-only Spaces to other agents.
            wanted = await db(recordings.spaces_needing_agent, limit=free, captions=captions_hook.has_capacity())
            for space_id in wanted:
                if space_id in self.sessions or self._backoff.get(space_id, (0.0, 0.0))[0] > time.monotonic():
                    continue
                epoch = await db(recordings.lease_acquire, space_id=space_id, agent_id=self.agent_id)
                if epoch is not None:
                    self._start(space_id, epoch)
        except Exception:  # the database may be briefly away: log, and try again next tick
            logger.exception("agent.tick_failed", extra={"agent_id": self.agent_id})

    def _start(self, space_id: int, epoch: int) -> None:
        task = asyncio.create_task(self._serve(space_id, epoch))
        self.sessions[space_id] = (None, task)
        task.add_done_callback(lambda _t: self.sessions.pop(space_id, None))

    async def _serve(self, space_id: int, epoch: int) -> None:
        plan = await db(recordings.agent_plan, space_id=space_id)
        if not plan.needed or (plan.jobs == {agent_jobs.CAPTIONS} and not captions_hook.has_capacity()):
            await db(recordings.lease_release, space_id=space_id, agent_id=self.agent_id, epoch=epoch)
            return
        session = SpaceSession(agent_id=self.agent_id, space_id=space_id, epoch=epoch, plan=plan)
        self.sessions[space_id] = (session, self.sessions[space_id][1])
        try:
            reason = await session.run()
        except SessionError as exc:
            self._failed(space_id, str(exc))
            await db(recordings.lease_release, space_id=space_id, agent_id=self.agent_id, epoch=epoch)
            return
        except Exception as exc:
            logger.exception("agent.session_failed", extra={"space_id": space_id})
            self._failed(space_id, f"{type(exc).__name__}: {exc}")
            await db(recordings.lease_release, space_id=space_id, agent_id=self.agent_id, epoch=epoch)
            return
        self.livekit_ok, self.last_error = True, ""
        self._backoff.pop(space_id, None)
        if reason in ("lease_lost", "shutdown"):
            return
        # Ended or recording turned off (the room's deletion may reach us before our plan poll does): make
        # the replay now.
        if session.recording and not (await db(recordings.agent_plan, space_id=space_id)).record:
            task = asyncio.create_task(self._finalise(space_id))
            self._finalising.add(task)
            task.add_done_callback(self._finalising.discard)

    def _failed(self, space_id: int, error: str) -> None:
        self.livekit_ok, self.last_error = False, error
        delay = min(60.0, self._backoff.get(space_id, (0.0, RETRY_AFTER_S / 2))[1] * 2)
        self._backoff[space_id] = (time.monotonic() + delay, delay)
        logger.warning("agent.join_failed", extra={"space_id": space_id, "error": error, "retry_in_s": delay})

    async def _finalise(self, space_id: int) -> None:
        """The Space ended and our last part is stored: make the replay now (Celery is the fallback)."""
        try:
            await db_long(recordings.recording_finalise, space_id=space_id)
        except Exception:
            logger.exception("agent.finalise_failed", extra={"space_id": space_id})

    async def shutdown(self) -> None:
        """Stop every session cleanly (last parts stored, leases released: others take over at once)."""
        for session, _task in list(self.sessions.values()):
            if session is not None:
                session.stop("shutdown")
        tasks = [task for _s, task in self.sessions.values()] + list(self._finalising)
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        try:
            await db(recordings.agent_gone, agent_id=self.agent_id)
        except Exception:
            logger.exception("agent.unregister_failed")
        logger.info("agent.stopped", extra={"agent_id": self.agent_id})
