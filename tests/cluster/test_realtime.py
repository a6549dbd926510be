"""Websockets across the cluster: two web processes behind HAProxy, one Redis.

Same events in the same order whichever process a socket is on; a killed web process's clients come
back through the load balancer to the same state; a Redis restart resyncs every socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import httpx
import pytest
import redis
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from moderation.models import SpaceBan
from rooms.models import Participant, Role, Space, SpaceState
from tests.factories import UserFactory
from tests.support.builders import live_space, make_host, make_ticketed_space, member, token_for
from tests.support.cluster import Cluster, call
from tests.support.sockets import api, in_thread, open_ws, recv, recv_until
from tests.support.stripe import payment_succeeded, sign
from tickets.models import Ticket, TicketOffer, TicketStatus

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SKIP = ("listeners.count", "snapshot", "pong")


async def events_until(ws: ClientConnection, last_seq: int, timeout: float = 15) -> list[tuple[int, str]]:
    """Every ``(seq, type)`` of Space events on ``ws`` up to and including ``last_seq``."""
    seen: list[tuple[int, str]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not seen or seen[-1][0] < last_seq:
        frame = await recv(ws, max(0.01, deadline - loop.time()))
        if frame["type"] not in SKIP and frame["seq"] is not None:
            seen.append((frame["seq"], frame["type"]))
    return seen


def state_of(snapshot: dict[str, Any]) -> dict[str, Any]:
    data = snapshot["data"]
    stage = [{k: m[k] for k in ("user_id", "role", "is_muted")} for m in data["stage"]]
    return {"seq": snapshot["seq"], "stage": stage, "space": data["space"]}


def test_host_on_web1_and_listeners_on_web2_see_the_same_events_in_the_same_order(cluster: Cluster) -> None:
    space = live_space()
    speakers = [member(space, Role.SPEAKER) for _ in range(4)]
    listeners = [member(space) for _ in range(3)]
    # Changes go in through web 1, web 2 and the load balancer in turn.
    fronts = [cluster.web_url(1), cluster.web_url(2), cluster.url]
    paths = [f"{s.username}/mute" for s in speakers] + [f"{s.username}/move-to-listeners" for s in speakers]
    host_token, tokens = token_for(space.host), [token_for(u) for u in listeners]

    async def scenario() -> list[list[tuple[int, str]]]:
        host_ws = await open_ws(cluster.ws(cluster.web_url(1), space.pk), host_token)
        listener_ws = [await open_ws(cluster.ws(cluster.web_url(2), space.pk), t) for t in tokens]
        sockets = [host_ws, *listener_ws]
        for ws in sockets:
            assert (await recv(ws))["type"] == "snapshot"
        for i, path in enumerate(paths):
            url = f"{fronts[i % 3]}/api/v1/spaces/{space.pk}/participants/{path}"
            response = await api("POST", url, host_token)
            assert response.status_code == 200, response.text
        last = await in_thread(lambda: Space.objects.get(pk=space.pk).seq)
        seen = [await events_until(ws, last) for ws in sockets]
        for ws in sockets:
            await ws.close()
        return seen

    seen = asyncio.run(scenario())
    assert all(s == seen[0] for s in seen)
    seqs = [seq for seq, _ in seen[0]]
    assert seqs == list(range(space.seq + 1, space.seq + 1 + len(seqs)))
    types = [t for _, t in seen[0]]
    assert types.count("participant.muted") == 4 and types.count("stage.updated") == 4


async def closed_within(ws: ClientConnection, seconds: float) -> bool:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), seconds)
    except ConnectionClosed:
        return True
    except TimeoutError:
        return False


def test_killed_web_process_clients_reconnect_through_the_balancer_to_the_same_state(cluster: Cluster) -> None:
    space = live_space()
    speakers = [member(space, Role.SPEAKER) for _ in range(2)]
    users = [member(space) for _ in range(6)]
    host_token, tokens = token_for(space.host), {u.pk: token_for(u) for u in users}
    ws_url = cluster.ws(cluster.url, space.pk)

    async def scenario() -> None:
        sockets = [await open_ws(ws_url, tokens[u.pk]) for u in users]
        for ws in sockets:
            assert (await recv(ws))["type"] == "snapshot"
        os.kill(cluster.pid("web1"), signal.SIGKILL)  # a crash, not a graceful stop
        closed = await asyncio.gather(*(closed_within(ws, 3) for ws in sockets))
        dropped = [u for u, c in zip(users, closed, strict=True) if c]
        kept = [ws for ws, c in zip(sockets, closed, strict=True) if not c]
        assert dropped and kept  # HAProxy spread the sockets over both processes

        # The Space goes on while the dropped clients are away.
        base = f"{cluster.url}/api/v1/spaces/{space.pk}/participants"
        for path in (f"{speakers[0].username}/mute", f"{speakers[1].username}/move-to-listeners"):
            response = await api("POST", f"{base}/{path}", host_token)
            assert response.status_code == 200, response.text
        last = await in_thread(lambda: Space.objects.get(pk=space.pk).seq)
        for ws in kept:
            assert [s for s, _ in await events_until(ws, last)] == [last - 1, last]

        back = [await open_ws(ws_url, tokens[u.pk]) for u in dropped]  # through HAProxy, to web 2
        rejoined = [state_of(await recv(ws)) for ws in back]
        await kept[0].send('{"action": "resync"}')
        steady = state_of(await recv_until(kept[0], "snapshot"))
        assert all(r == steady for r in rejoined)
        assert steady["seq"] == last
        stage = {m["user_id"]: m for m in steady["stage"]}
        assert stage[speakers[0].pk]["is_muted"] is True and speakers[1].pk not in stage
        for ws in (*kept, *back):
            await ws.close()

    try:
        asyncio.run(scenario())
    finally:
        cluster.run("start", "web1")
        cluster.wait_healthy()


def redis_run_id(cluster: Cluster) -> str:
    client = redis.Redis.from_url(cluster.redis_url)
    try:
        return str(client.info("server")["run_id"])
    finally:
        client.close()


def test_redis_restart_resyncs_every_socket_and_loses_no_role_change_or_ban(cluster: Cluster) -> None:
    space = live_space()
    speakers = [member(space, Role.SPEAKER) for _ in range(2)]
    listeners = [member(space) for _ in range(4)]
    troll = listeners.pop()
    host = space.host
    host_token, troll_token, tokens = token_for(host), token_for(troll), [token_for(u) for u in listeners]
    participants = f"{cluster.url}/api/v1/spaces/{space.pk}/participants"

    async def scenario() -> None:
        host_ws = await open_ws(cluster.ws(cluster.web_url(1), space.pk), host_token)
        sockets = [host_ws] + [await open_ws(cluster.ws(cluster.web_url(2), space.pk), t) for t in tokens]
        for ws in sockets:
            assert (await recv(ws))["type"] == "snapshot"
        # A role change and a ban, committed just before Redis goes away with everything it held.
        await in_thread(lambda: call("POST", f"{participants}/{speakers[1].username}/move-to-listeners", host))
        await in_thread(lambda: call("POST", f"{participants}/{troll.username}/remove", host, {"ban": "space"}))
        before = await in_thread(lambda: redis_run_id(cluster))
        await in_thread(lambda: cluster.run("stop", "redis"))
        await in_thread(lambda: cluster.run("start", "redis"))
        assert await in_thread(lambda: redis_run_id(cluster)) != before  # a new server, empty of pub/sub state

        # Every socket is told the truth again by a fresh snapshot from its process' reconnected hub.
        fresh = [state_of(await recv_until(ws, "snapshot", timeout=20)) for ws in sockets]
        assert all(f == fresh[0] for f in fresh)
        stage = {m["user_id"]: m for m in fresh[0]["stage"]}
        assert speakers[1].pk not in stage and speakers[0].pk in stage

        # And events flow again, in order, to sockets on both processes.
        response = await api("POST", f"{participants}/{speakers[0].username}/mute", host_token)
        assert response.status_code == 200, response.text
        last = await in_thread(lambda: Space.objects.get(pk=space.pk).seq)
        for ws in sockets:
            assert (await events_until(ws, last))[-1] == (last, "participant.muted")

        # The ban held: the banned user's socket is refused.
        refused = await open_ws(cluster.ws(cluster.url, space.pk), troll_token)
        error = await recv(refused)
        assert error["type"] == "error" and error["data"]["code"] == "banned"
        for ws in (*sockets, refused):
            await ws.close()

    asyncio.run(scenario())
    assert SpaceBan.objects.filter(space=space, user=troll).exists()
    assert Participant.objects.get(space=space, user=speakers[1]).role == Role.LISTENER


def test_a_mute_and_a_ticket_payment_made_while_redis_is_down_are_kept(cluster: Cluster) -> None:
    space = live_space()
    speaker = member(space, Role.SPEAKER)
    listener = member(space)
    ticketed = make_ticketed_space(host=make_host(), price_cents=1500, state=SpaceState.LIVE)
    buyer = UserFactory()
    call("POST", f"{cluster.url}/api/v1/spaces/{ticketed.pk}/tickets", buyer)  # a seat held, before the outage
    ticket = Ticket.objects.get(space=ticketed, buyer=buyer)
    assert ticket.status == TicketStatus.HELD
    payload = json.dumps(payment_succeeded(ticket))
    secret = cluster.env["STRIPE_WEBHOOK_SECRET"]
    host_token, listener_token, buyer_token = token_for(space.host), token_for(listener), token_for(buyer)

    def stripe_webhook() -> httpx.Response:
        headers = {"Content-Type": "application/json", "Stripe-Signature": sign(payload, secret)}
        return httpx.post(
            f"{cluster.url}/webhooks/stripe", content=payload, headers=headers, timeout=30, trust_env=False
        )

    async def scenario() -> None:
        ws = await open_ws(cluster.ws(cluster.url, space.pk), listener_token)
        assert (await recv(ws))["type"] == "snapshot"
        await in_thread(lambda: cluster.run("stop", "redis"))
        try:
            # PostgreSQL holds the truth: the host's mute and Stripe's payment are taken while Redis is gone.
            url = f"{cluster.url}/api/v1/spaces/{space.pk}/participants/{speaker.username}/mute"
            muted = await api("POST", url, host_token)
            paid = await in_thread(stripe_webhook)
        finally:
            await in_thread(lambda: cluster.run("start", "redis"))
        assert muted.status_code == 200, muted.text
        assert paid.status_code == 200, paid.text

        # The socket was never told of the mute (its event had nowhere to go): the resync tells it.
        snapshot = await recv_until(ws, "snapshot", timeout=20)
        assert {m["user_id"]: m["is_muted"] for m in snapshot["data"]["stage"]}[speaker.pk] is True

        # Stripe's retry of the same event changes nothing; the ticket opens the ticketed Space.
        assert (await in_thread(stripe_webhook)).status_code == 200
        buyer_ws = await open_ws(cluster.ws(cluster.url, ticketed.pk), buyer_token)
        assert (await recv(buyer_ws))["type"] == "snapshot"
        for socket in (ws, buyer_ws):
            await socket.close()

    asyncio.run(scenario())
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.PAID
    assert TicketOffer.objects.get(space=ticketed).seats_taken == 1
