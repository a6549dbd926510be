"""Admission under a crowd (issue 16): the fast snapshot path keeps every rule and every event.

- The stage shared by all listeners at one ``seq`` never carries host-only data (hand queue) or anyone
  else's personal data, whoever built it first.
- A ban or a ticket rule issued while a crowd is arriving applies to every join and socket after it.
- A listener admitted while room events are flowing ends in the state of one who was there before.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from rooms.models import HandRaise, Invitation, Role, Space
from rooms.snapshot import ROOM_PARTS, space_snapshot
from tests.factories import UserFactory
from tests.support.builders import live_space, member, token_for
from tests.support.servers import Server
from tests.support.sockets import api, close_code, in_thread, open_ws, recv

pytestmark = pytest.mark.django_db(transaction=True)

# The consent flags are public on purpose: everyone sees who is left out of the recording or the captions.
STAGE_KEYS = {"user_id", "username", "display_name", "role", "is_muted", "is_connected", "is_speaking"} | {
    "recording_declined",
    "captions_declined",
}


def _frame(space: Space, user: User) -> dict[str, Any]:
    frame, _seq, _host_team = space_snapshot(space_id=space.pk, user=user)
    return dict(json.loads(frame))


def test_shared_stage_never_carries_host_only_or_personal_data() -> None:
    space = live_space()
    cohost = member(space, Role.COHOST)
    speaker = member(space, Role.SPEAKER)
    waiting, invited, plain = member(space), member(space), member(space)
    HandRaise.objects.create(space=space, user=waiting)
    invitation = Invitation.objects.create(space=space, inviter=space.host, invitee=invited, role=Role.SPEAKER)
    ROOM_PARTS.clear()

    # Whoever comes first builds nothing the next one may not see: the host team first, then listeners.
    host_view = _frame(space, space.host)
    cohost_view = _frame(space, cohost)
    views = {u.pk: _frame(space, u) for u in (waiting, invited, plain, speaker)}

    assert [h["user_id"] for h in host_view["data"]["hands"]] == [waiting.pk]
    assert [h["user_id"] for h in cohost_view["data"]["hands"]] == [waiting.pk]
    for user_id, view in views.items():
        data = view["data"]
        assert data["hands"] is None, "a listener or speaker got the hand queue"
        assert data["you"]["user_id"] == user_id
        assert {m["user_id"] for m in data["stage"]} == {space.host_id, cohost.pk, speaker.pk}
        assert all(set(m) == STAGE_KEYS for m in data["stage"])
        assert view["seq"] == host_view["seq"]
    # Each one's own part is their own, never another's.
    assert views[waiting.pk]["data"]["you"]["hand"] is not None
    assert views[invited.pk]["data"]["you"]["invitation"] == {
        "id": invitation.pk,
        "role": Role.SPEAKER,
        "inviter_id": space.host_id,
        "recorded": space.record,
    }
    for other in (invited.pk, plain.pk, speaker.pk):
        assert views[other]["data"]["you"]["hand"] is None
    for other in (waiting.pk, plain.pk, speaker.pk):
        assert views[other]["data"]["you"]["invitation"] is None
    # A listener's frame names no one from the hand queue who is not on stage.
    assert f'"user_id":{waiting.pk},' not in json.dumps(views[plain.pk], separators=(",", ":"))
    # What is shared between sockets is the stage alone.
    cached = ROOM_PARTS.get(space.pk, host_view["seq"])
    assert cached is not None
    assert json.loads(cached) == views[plain.pk]["data"]["stage"]


def test_listener_frame_equals_the_one_transaction_read() -> None:
    """The spliced frame is byte-for-byte the full read's (but for its timestamp)."""
    from rooms.snapshot import space_snapshot_full

    space = live_space()
    member(space, Role.SPEAKER)
    listener, invited = member(space), member(space)
    HandRaise.objects.create(space=space, user=listener)
    Invitation.objects.create(space=space, inviter=space.host, invitee=invited, role=Role.SPEAKER)
    for user in (listener, invited):
        ROOM_PARTS.clear()
        fast = json.loads(space_snapshot(space_id=space.pk, user=user)[0])
        full = json.loads(space_snapshot_full(space_id=space.pk, user=user)[0])
        fast.pop("ts"), full.pop("ts")
        assert fast == full


def _admit(server: Server, space_id: int, token: str) -> Any:
    """One arrival: REST join, then the socket up to its first frame. (join status, first frame, socket)."""

    async def run() -> tuple[int, dict[str, Any], Any]:
        joined = await api("POST", f"{server.http}/api/v1/spaces/{space_id}/join", token)
        ws = await open_ws(server.ws(space_id), token)
        return joined.status_code, await recv(ws, timeout=20), ws

    return run()


def test_ban_and_ticket_rule_issued_during_a_storm_apply_to_every_later_join_and_socket(
    servers: list[Server],
) -> None:
    from tickets.models import Ticket, TicketOffer, TicketStatus

    uvicorn, daphne = servers
    space = live_space()
    host_token = token_for(space.host)
    early = [UserFactory() for _ in range(24)]  # the crowd already arriving
    banned_early = early[:3]  # admitted before the ban: their sockets are closed by it
    banned_late = [UserFactory() for _ in range(6)]  # arrive after the ban
    late = [UserFactory() for _ in range(10)]  # arrive after the ban and the ticket rule
    paid = late[:3]
    tokens = {u.pk: token_for(u) for u in [*early, *banned_late, *late]}

    async def scenario() -> None:
        first = [
            asyncio.create_task(_admit(uvicorn if i % 2 else daphne, space.pk, tokens[u.pk]))
            for i, u in enumerate(early)
        ]
        # Ban while the crowd is arriving (the first admissions are done, others are in flight).
        early_done = await asyncio.gather(*first[:3])
        for user in [*banned_early, *banned_late]:
            banned = await api(
                "POST", f"{uvicorn.http}/api/v1/spaces/{space.pk}/bans", host_token, {"username": user.username}
            )
            assert banned.status_code in (200, 201), banned.text
        early_done += await asyncio.gather(*first[3:])
        for status, frame, _ws in early_done[:3]:
            assert (status, frame["type"]) == (200, "snapshot")
        for _status, _frame, ws in early_done[:3]:  # banned while connected: closed
            assert (await close_code(ws, timeout=10))[0] == 4403

        # After the ban: every join and socket of a banned user is refused, on both processes.
        for i, user in enumerate(banned_late):
            server = uvicorn if i % 2 else daphne
            joined = await api("POST", f"{server.http}/api/v1/spaces/{space.pk}/join", tokens[user.pk])
            assert (joined.status_code, joined.json()["code"]) == (403, "banned")
            ws = await open_ws(server.ws(space.pk), tokens[user.pk])
            refused = await recv(ws)
            assert refused["type"] == "error" and refused["data"]["code"] == "banned"
            assert (await close_code(ws))[0] == 4403

        # A ticket rule added while sockets are open: later arrivals without a paid ticket are refused.
        def ticketed() -> None:
            TicketOffer.objects.create(space=space, price_cents=500, capacity=100, seats_taken=len(paid))
            for user in paid:
                Ticket.objects.create(
                    space=space,
                    buyer=user,
                    status=TicketStatus.PAID,
                    price_cents=500,
                    payment_intent_id=f"pi_storm_{space.pk}_{user.pk}",
                    hold_expires_at=timezone.now(),
                    paid_at=timezone.now(),
                )

        await in_thread(ticketed)
        results = await asyncio.gather(
            *(_admit(uvicorn if i % 2 else daphne, space.pk, tokens[u.pk]) for i, u in enumerate(late)),
            return_exceptions=True,
        )
        for user, result in zip(late, results, strict=True):
            if user in paid:
                assert not isinstance(result, BaseException), result
                assert (result[0], result[1]["type"]) == (200, "snapshot")
            else:
                assert not isinstance(result, BaseException), result
                status, frame, ws = result
                assert status == 402
                assert frame["type"] == "error" and frame["data"]["code"] == "ticket_required"
                assert (await close_code(ws))[0] == 4402
        for status, frame, ws in early_done[3:]:
            assert (status, frame["type"]) == (200, "snapshot")
            await ws.close()

    asyncio.run(scenario())


def _apply(state: dict[int, dict[str, Any]], frame: dict[str, Any]) -> None:
    if frame["type"] == "stage.updated":
        state.clear()
        state.update({m["user_id"]: m for m in frame["data"]["stage"]})
    elif frame["type"] == "participant.muted":
        for user_id in frame["data"]["user_ids"]:
            if user_id in state:
                state[user_id] = {**state[user_id], "is_muted": True}


class Follower:
    """A client as docs/protocol.md describes it: the snapshot, then every room event newer than it."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seq = -1
        self.stage: dict[int, dict[str, Any]] = {}
        self.applied: list[int] = []
        self.history: dict[int, dict[int, tuple[str, bool]]] = {}  # seq → the view at that seq

    async def start(self) -> None:
        snapshot = await recv(self.ws, timeout=20)
        assert snapshot["type"] == "snapshot", snapshot
        self.seq = snapshot["seq"]
        self.stage = {m["user_id"]: m for m in snapshot["data"]["stage"]}
        self.history[self.seq] = self.view()

    async def drain(self, quiet_s: float) -> None:
        while True:
            try:
                frame = await recv(self.ws, timeout=quiet_s)
            except TimeoutError:
                return
            seq = frame.get("seq")
            if frame["type"] in ("stage.updated", "participant.muted") and seq is not None and seq > self.seq:
                _apply(self.stage, frame)
                self.seq = seq
                self.applied.append(seq)
                self.history[seq] = self.view()

    def view(self) -> dict[int, tuple[str, bool]]:
        return {uid: (m["role"], m["is_muted"]) for uid, m in self.stage.items()}


def test_listener_admitted_while_events_flow_ends_like_one_who_was_there(servers: list[Server]) -> None:
    uvicorn, daphne = servers
    space = live_space()
    speakers = [member(space, Role.SPEAKER) for _ in range(6)]
    host_token = token_for(space.host)
    there = member(space)
    arriving = [member(space) for _ in range(16)]
    tokens = {u.pk: token_for(u) for u in [there, *arriving]}

    async def scenario() -> None:
        before = Follower(await open_ws(daphne.ws(space.pk), tokens[there.pk]))
        await before.start()
        followers: list[Follower] = []

        async def arrive(i: int, user: User) -> None:
            await asyncio.sleep(0.1 * i)
            follower = Follower(await open_ws((uvicorn if i % 2 else daphne).ws(space.pk), tokens[user.pk]))
            await follower.start()
            followers.append(follower)

        async def events() -> None:
            # Stage changes first, then mutes: the last events are partial updates, which a client that
            # missed anything cannot recover from by a later full stage.
            base = f"{uvicorn.http}/api/v1/spaces/{space.pk}/participants"
            calls = [(s, "mute") for s in speakers[1::2]]
            calls += [(s, "move-to-listeners") for s in speakers[1::2]]
            calls += [(s, "mute") for s in speakers[0::2]]
            for speaker, action in calls:
                response = await api("POST", f"{base}/{speaker.username}/{action}", host_token)
                assert response.status_code == 200, response.text
                await asyncio.sleep(0.1)

        started = time.monotonic()
        await asyncio.gather(events(), *(arrive(i, u) for i, u in enumerate(arriving)))
        assert time.monotonic() - started < 60
        await asyncio.gather(before.drain(2.0), *(f.drain(2.0) for f in followers))

        final = Follower(await open_ws(uvicorn.ws(space.pk), tokens[there.pk]))
        await final.start()
        expected = final.view()
        assert expected == before.view()
        assert len(before.applied) >= 9  # 6 mutes and 3 stage changes reached the one who was there
        for follower in followers:
            # Its snapshot was the room exactly as the one who was there saw it at that seq ...
            first_seq = min(follower.history)
            known = max(seq for seq in before.history if seq <= first_seq)
            assert follower.history[first_seq] == before.history[known], "snapshot inconsistent with its seq"
            # ... and with the events after it, it ends in the same state.
            assert follower.seq == final.seq, "an event was lost between a snapshot and its stream"
            assert follower.view() == expected
        for follower in [before, final, *followers]:
            await follower.ws.close()

    asyncio.run(scenario())
    assert Space.objects.get(pk=space.pk).seq >= 9
    assert timezone.now()  # the run used real servers and a real clock throughout


def test_socket_admissions_leave_no_database_session_open(postgres_url: str) -> None:
    """The admission pool's threads close their connections in the call's own context (offthread.py)."""
    # (PostgreSQL only: it counts sessions in pg_stat_activity)
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator
    from django.db import connection

    from accounts.ws_auth import TokenOrSessionAuthMiddlewareStack
    from spaces_project.routing import websocket_urlpatterns

    space = live_space()
    users = [space.host, member(space, Role.COHOST), member(space), member(space)]
    tokens = [token_for(u) for u in users]

    def sessions() -> int:
        """This process's other sessions (the server processes of other tests have their own)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND client_port = ANY(%s)",
                [_own_tcp_ports()],
            )
            return int(cursor.fetchone()[0])

    before = sessions()

    async def scenario() -> None:
        for token in tokens:  # host team (one-transaction read) and listeners (the fast path)
            app = TokenOrSessionAuthMiddlewareStack(URLRouter(websocket_urlpatterns))
            headers = [(b"authorization", f"Token {token}".encode())]
            communicator = WebsocketCommunicator(app, f"/ws/spaces/{space.pk}/", headers=headers)
            assert (await communicator.connect())[0]
            assert json.loads(await communicator.receive_from(timeout=10))["type"] == "snapshot"
            await communicator.disconnect()

    asyncio.run(scenario())
    assert sessions() <= before


def _own_tcp_ports() -> list[int]:
    """Local ports of this process's TCP sockets (Linux: /proc/self/fd and /proc/net/tcp{,6})."""
    import os
    from pathlib import Path

    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 9 and fields[9] in inodes:
                ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
