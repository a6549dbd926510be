"""The websocket half of an admission, made cheap (issue 16, docs/benchmarks.md "Third round"): what each
cut keeps.

- The database hop (``spaces_project.realtime.offthread``): a crowd of calls runs in batches on the
  pool's threads, every caller gets its own result or its own exception, a cancelled caller harms no one.
- The Space route runs on plain ASGI (``rooms.consumers.SpaceSocket``): no Task per open socket beyond
  the server's own, messages handled in order, and a closed socket leaves nothing in the hub.
- The hub's wait for subscription confirmations: one future and one timer per socket, a timeout that
  still lets the socket in, and nothing left hanging on the shared confirmations.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from rooms.models import Role
from spaces_project.common.exceptions import ApplicationError
from spaces_project.realtime import hub as hub_module
from spaces_project.realtime.offthread import WORKERS, db_offthread
from tests.support.builders import live_space, member, token_for


# -- the database hop ---------------------------------------------------------------------------------
def _work(i: int) -> tuple[int, str]:
    time.sleep(0.002)  # a statement's round trip: the next calls queue meanwhile
    if i % 7 == 3:
        raise ApplicationError(f"refused {i}", code="banned", status_code=403)
    return i, threading.current_thread().name


def test_a_crowd_of_database_calls_runs_in_batches_and_each_caller_gets_its_own_outcome() -> None:
    work = db_offthread(_work)

    async def scenario() -> tuple[list[Any], int]:
        before = WORKERS.batches
        outcomes = await asyncio.gather(*(work(i) for i in range(200)), return_exceptions=True)
        return outcomes, WORKERS.batches - before

    outcomes, batches = asyncio.run(scenario())
    for i, outcome in enumerate(outcomes):
        if i % 7 == 3:
            assert isinstance(outcome, ApplicationError) and outcome.detail == f"refused {i}"
        else:
            assert not isinstance(outcome, BaseException)
            assert outcome[0] == i
            assert outcome[1].startswith("ws-db_"), "ran on the event loop's thread"
    assert batches < 200 / 4, f"{batches} batches for 200 calls queued together: no batching"


def test_a_cancelled_caller_leaves_the_others_settled() -> None:
    gate = threading.Event()
    blocked = db_offthread(lambda: gate.wait(10))
    work = db_offthread(_work)

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(blocked())  # holds one worker until the others are queued
        doomed = [asyncio.ensure_future(work(i)) for i in range(0, 40, 2)]
        kept = [asyncio.ensure_future(work(i)) for i in range(1, 40, 2)]
        await asyncio.sleep(0.01)
        for task in doomed:
            task.cancel()
        gate.set()
        assert await first is True
        return await asyncio.gather(*kept, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert [o[0] for o in outcomes if not isinstance(o, BaseException)] == [i for i in range(1, 40, 2) if i % 7 != 3]


# -- the Space route on plain ASGI --------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_an_open_space_socket_costs_no_task_beyond_its_own_and_leaves_nothing_in_the_hub() -> None:
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator

    from accounts.ws_auth import TokenOrSessionAuthMiddlewareStack
    from spaces_project.routing import websocket_urlpatterns

    space = live_space()
    tokens = [token_for(member(space)) for _ in range(6)] + [token_for(member(space, Role.COHOST))]
    app = TokenOrSessionAuthMiddlewareStack(URLRouter(websocket_urlpatterns))

    async def opened(token: str) -> WebsocketCommunicator:
        headers = [(b"authorization", f"Token {token}".encode())]
        communicator = WebsocketCommunicator(app, f"/ws/spaces/{space.pk}/", headers=headers)
        assert (await communicator.connect(timeout=10))[0]
        assert json.loads(await communicator.receive_from(timeout=10))["type"] == "snapshot"
        return communicator

    async def scenario() -> None:
        first = await opened(tokens[0])  # starts the hub's own tasks (Redis reader, count ticker)
        await asyncio.sleep(0.05)
        tasks_before = len(asyncio.all_tasks())
        others = [await opened(token) for token in tokens[1:]]
        await asyncio.sleep(0.05)
        # One task per socket: the communicator's, which stands for the server's. Channels' consumer
        # kept a second one per socket, waiting on receive().
        assert len(asyncio.all_tasks()) - tasks_before == len(others)
        # Client frames are handled in order, each answered before the next is read.
        cohost = others[-1]
        await cohost.send_to(text_data=json.dumps({"action": "ping"}))
        await cohost.send_to(text_data="nonsense")
        await cohost.send_to(text_data=json.dumps({"action": "resync"}))
        kinds = [json.loads(await cohost.receive_from(timeout=10))["type"] for _ in range(3)]
        assert kinds == ["pong", "error", "snapshot"]
        hub = hub_module.get_hub()
        assert len(hub.sinks[space.pk]) == len(tokens)
        for communicator in [first, *others]:
            await communicator.disconnect()
        assert space.pk not in hub.sinks, "a closed socket stayed registered in the hub"
        await hub.aclose()

    asyncio.run(scenario())


# -- the hub's wait for confirmations -----------------------------------------------------------------
def test_the_wait_for_confirmations_times_out_and_leaves_no_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "SUBSCRIBE_WAIT_S", 0.1)

    async def scenario() -> None:
        hub = hub_module.Hub(asyncio.get_running_loop())
        loop = asyncio.get_running_loop()
        never: asyncio.Future[None] = loop.create_future()
        soon: asyncio.Future[None] = loop.create_future()
        started = loop.time()
        assert await hub._confirmations([never, soon]) is False  # Redis away: the socket goes on
        assert 0.09 <= loop.time() - started < 1.0
        loop.call_later(0.01, soon.set_result, None)
        later: asyncio.Future[None] = loop.create_future()
        loop.call_later(0.02, later.set_result, None)
        assert await hub._confirmations([soon, later]) is True
        # A cancelled socket takes its callbacks with it: the shared confirmation is not held by it.
        waiter = asyncio.ensure_future(hub._confirmations([never]))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert not never.cancelled()
        assert not getattr(never, "_callbacks", None), "a cancelled wait left its callback on the confirmation"
        never.set_result(None)
        await asyncio.sleep(0)

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_a_socket_that_fails_unexpectedly_leaves_nothing_in_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator

    from accounts.ws_auth import TokenOrSessionAuthMiddlewareStack
    from rooms import consumers
    from spaces_project.routing import websocket_urlpatterns

    space = live_space()
    token = token_for(member(space))

    async def database_gone(**_kwargs: Any) -> Any:
        raise RuntimeError("the database went away mid-snapshot")

    monkeypatch.setattr(consumers, "_snapshot", database_gone)
    app = TokenOrSessionAuthMiddlewareStack(URLRouter(websocket_urlpatterns))

    async def scenario() -> None:
        headers = [(b"authorization", f"Token {token}".encode())]
        communicator = WebsocketCommunicator(app, f"/ws/spaces/{space.pk}/", headers=headers)
        await communicator.connect(timeout=10)
        with pytest.raises(RuntimeError, match="went away"):
            await communicator.wait(timeout=10)
        hub = hub_module.get_hub()
        assert space.pk not in hub.sinks, "the failed socket stayed registered in the hub"
        await hub.aclose()

    asyncio.run(scenario())
