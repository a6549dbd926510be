"""``python manage.py run_agent``: one audio agent process (see rooms/agent/)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from rooms import livekit_client


class Command(BaseCommand):
    help = "Run an audio agent: records the live Spaces that have recording on (any number may run)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--agent-id", default=None, help="stable id (default: host-pid-random)")
        parser.add_argument("--max-spaces", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        if not livekit_client.is_configured():
            raise CommandError("LiveKit is not configured (LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET)")
        asyncio.run(self._main(options["agent_id"], options["max_spaces"]))

    async def _main(self, agent_id: str | None, max_spaces: int | None) -> None:
        from rooms.agent.worker import Agent

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        agent = Agent(agent_id=agent_id, max_spaces=max_spaces)
        self.stdout.write(f"agent {agent.agent_id} running")
        self.stdout.flush()
        await agent.run(stop)
