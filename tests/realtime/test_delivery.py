"""Room, host-team and personal events across two server processes (uvicorn and daphne) over Redis."""

from __future__ import annotations

import asyncio

import pytest
from django.db import transaction
from django.db.models import F

from rooms.events import Reaction
from rooms.models import Participant, Role, Space
from spaces_project.realtime.events import send_event_on_commit
from spaces_project.realtime.hub import gauge_due
from spaces_project.realtime.publish import Audience, publish_on_commit
from tests.support.builders import live_space, member, token_for
from tests.support.servers import Server, start_server, stop_server
from tests.support.sockets import api, frames_for, in_thread, open_ws, recv, recv_until

pytestmark = pytest.mark.django_db(transaction=True)

SKIP_COUNTS = ("listeners.count",)


def test_api_event_committed_in_one_process_reaches_sockets_on_both(servers: list[Server]) -> None:
    uvicorn, daphne = servers
    space = live_space()
    speaker = member(space, Role.SPEAKER)
    listeners = [member(space), member(space)]
    host_token = token_for(space.host)
    tokens = [token_for(u) for u in listeners]

    async def scenario() -> None:
        on_uvicorn = await open_ws(uvicorn.ws(space.pk), tokens[0])
        on_daphne = await open_ws(daphne.ws(space.pk), tokens[1])
        snapshots = [await recv(on_uvicorn), await recv(on_daphne)]
        for snap in snapshots:
            assert snap["type"] == "snapshot"
            assert snap["seq"] == space.seq
            stage = {m["user_id"]: m for m in snap["data"]["stage"]}
            assert stage[speaker.pk]["is_muted"] is False
            assert snap["data"]["hands"] is None
        # The host mutes the speaker through the REST API of the *daphne* process.
        response = await api(
            "POST", f"{daphne.http}/api/v1/spaces/{space.pk}/participants/{speaker.username}/mute", host_token
        )
        assert response.status_code == 200, response.text
        for ws in (on_uvicorn, on_daphne):
            event = await recv_until(ws, "participant.muted")
            assert event["seq"] == space.seq + 1
            assert event["space"] == space.pk
            assert event["data"]["user_ids"] == [speaker.pk]
        await on_uvicorn.close()
        await on_daphne.close()

    asyncio.run(scenario())


@pytest.mark.raw_frames
def test_rolled_back_change_reaches_no_socket(servers: list[Server]) -> None:
    uvicorn, _ = servers
    space = live_space()
    token = token_for(member(space))

    def publish(note: str, fail: bool) -> None:
        with transaction.atomic():
            Space.objects.filter(pk=space.pk).update(seq=F("seq") + 1)
            seq = Space.objects.values_list("seq", flat=True).get(pk=space.pk)
            publish_on_commit(type="space.updated", data={"note": note}, space_id=space.pk, seq=seq)
            if fail:
                raise RuntimeError("rolled back")

    def publish_rolled_back() -> None:
        with pytest.raises(RuntimeError):
            publish("never", fail=True)

    async def scenario() -> None:
        ws = await open_ws(uvicorn.ws(space.pk), token)
        await recv(ws)
        await in_thread(publish_rolled_back)
        assert await frames_for(ws, 0.7, skip=SKIP_COUNTS) == []
        await in_thread(lambda: publish("kept", fail=False))
        event = await recv_until(ws, "space.updated")
        assert event["data"] == {"note": "kept"}
        assert event["seq"] == space.seq + 1
        await ws.close()

    asyncio.run(scenario())


def test_hand_raise_reaches_the_host_team_and_never_a_listener(servers: list[Server]) -> None:
    uvicorn, daphne = servers
    space = live_space()
    cohost = member(space, Role.COHOST)
    raiser, other = member(space), member(space)
    tokens = {u.pk: token_for(u) for u in (space.host, cohost, raiser, other)}

    async def scenario() -> None:
        host_ws = await open_ws(uvicorn.ws(space.pk), tokens[space.host_id])
        cohost_ws = await open_ws(daphne.ws(space.pk), tokens[cohost.pk])
        raiser_ws = await open_ws(daphne.ws(space.pk), tokens[raiser.pk])
        other_ws = await open_ws(uvicorn.ws(space.pk), tokens[other.pk])
        host_snap = await recv(host_ws)
        assert host_snap["data"]["hands"] == []
        await recv(cohost_ws)
        assert (await recv(raiser_ws))["data"]["hands"] is None
        await recv(other_ws)

        response = await api("POST", f"{uvicorn.http}/api/v1/spaces/{space.pk}/hand", tokens[raiser.pk])
        assert response.status_code in (200, 201), response.text
        for ws in (host_ws, cohost_ws):
            event = await recv_until(ws, "hand.raised")
            assert event["data"]["user_id"] == raiser.pk
        for ws in (raiser_ws, other_ws):
            assert [f["type"] for f in await frames_for(ws, 1.0, skip=SKIP_COUNTS)] == []
        # A fresh snapshot shows the queue to the host team only.
        await host_ws.send('{"action": "resync"}')
        assert [h["user_id"] for h in (await recv_until(host_ws, "snapshot"))["data"]["hands"]] == [raiser.pk]
        await raiser_ws.send('{"action": "resync"}')
        assert (await recv_until(raiser_ws, "snapshot"))["data"]["hands"] is None
        for ws in (host_ws, cohost_ws, raiser_ws, other_ws):
            await ws.close()

    asyncio.run(scenario())


@pytest.mark.raw_frames
def test_personal_event_reaches_only_its_user(servers: list[Server]) -> None:
    uvicorn, daphne = servers
    space = live_space()
    invitee, bystander = member(space), member(space)
    invitee_token, bystander_token = token_for(invitee), token_for(bystander)

    def invite() -> None:
        with transaction.atomic():
            publish_on_commit(
                type="invite.received",
                data={"invitation_id": 7, "role": "speaker"},
                space_id=space.pk,
                audience=Audience.USER,
                user_ids=[invitee.pk],
                seq=space.seq,
            )

    async def scenario() -> None:
        invitee_ws = await open_ws(daphne.ws(space.pk), invitee_token)
        bystander_ws = await open_ws(uvicorn.ws(space.pk), bystander_token)
        await recv(invitee_ws)
        await recv(bystander_ws)
        await in_thread(invite)
        event = await recv_until(invitee_ws, "invite.received")
        assert event["data"] == {"invitation_id": 7, "role": "speaker"}
        assert await frames_for(bystander_ws, 0.7, skip=SKIP_COUNTS) == []
        await invitee_ws.close()
        await bystander_ws.close()

    asyncio.run(scenario())


def test_listener_count_is_coalesced_to_one_a_second(servers: list[Server]) -> None:
    uvicorn, _ = servers
    space = live_space()
    token = token_for(member(space))

    async def scenario() -> None:
        ws = await open_ws(uvicorn.ws(space.pk), token)
        await recv(ws)
        await asyncio.sleep(1.2)  # let the first tick report the starting count
        await frames_for(ws, 0.1)
        for _ in range(10):
            await in_thread(lambda: Space.objects.filter(pk=space.pk).update(listener_count=F("listener_count") + 1))
            await asyncio.sleep(0.1)
        counts = [f for f in await frames_for(ws, 2.5) if f["type"] == "listeners.count"]
        assert 1 <= len(counts) <= 4  # ten changes over ~3.6 s, at most one frame a second
        assert counts[-1]["data"]["count"] == 11
        await ws.close()

    asyncio.run(scenario())


def test_listener_count_slows_down_in_a_crowded_space(
    server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A Space with many local sockets gets its count less often (GAUGE_FRAMES_PER_S): here a budget of
    one frame a second per Space, so two sockets get a changed count at most every 2 s, not every 1 s."""
    server = start_server("uvicorn", {**server_env, "SPACES_GAUGE_FRAMES_PER_S": "1"}, tmp_path_factory.mktemp("g"))
    try:
        space = live_space()
        tokens = [token_for(member(space)), token_for(member(space))]

        async def scenario() -> None:
            sockets = [await open_ws(server.ws(space.pk), token) for token in tokens]
            for ws in sockets:
                await recv(ws)
            await asyncio.sleep(1.2)
            await asyncio.gather(*(frames_for(ws, 0.1) for ws in sockets))

            async def bump() -> None:
                for _ in range(45):  # a change every 0.1 s for 4.5 s
                    await in_thread(
                        lambda: Space.objects.filter(pk=space.pk).update(listener_count=F("listener_count") + 1)
                    )
                    await asyncio.sleep(0.1)

            bumping = asyncio.ensure_future(bump())
            frames = await frames_for(sockets[0], 6.5)
            await bumping
            counts = [f for f in frames if f["type"] == "listeners.count"]
            assert 2 <= len(counts) <= 4, counts  # ~6.5 s at one frame per 2 s (one a second would be 5-6)
            final = await in_thread(lambda: Space.objects.values_list("listener_count", flat=True).get(pk=space.pk))
            assert counts[-1]["data"]["count"] == final  # the latest value still arrives
            for ws in sockets:
                await ws.close()

        asyncio.run(scenario())
    finally:
        stop_server(server)


def test_gauge_due_spreads_a_crowd() -> None:
    assert gauge_due(now=10.0, last_sent=None, sockets=50_000, interval_s=1.0, frames_per_s=2000)
    assert gauge_due(now=11.0, last_sent=10.0, sockets=2_000, interval_s=1.0, frames_per_s=2000)
    assert not gauge_due(now=11.0, last_sent=10.0, sockets=10_000, interval_s=1.0, frames_per_s=2000)
    assert gauge_due(now=15.0, last_sent=10.0, sockets=10_000, interval_s=1.0, frames_per_s=2000)


def test_reactions_are_aggregated(servers: list[Server]) -> None:
    _, daphne = servers
    space = live_space()
    user = member(space)
    token = token_for(user)

    def react(n: int) -> None:
        for i in range(n):
            with transaction.atomic():
                emoji = "🔥" if i % 2 else "👏"
                send_event_on_commit(Reaction(space_id=space.pk, seq=space.seq, emoji=emoji, user_id=user.pk))

    async def scenario() -> None:
        ws = await open_ws(daphne.ws(space.pk), token)
        await recv(ws)
        await in_thread(lambda: react(40))
        frames = [f for f in await frames_for(ws, 1.5) if f["type"] == "reaction"]
        assert 1 <= len(frames) <= 6
        total: dict[str, int] = {}
        for frame in frames:
            for emoji, n in frame["data"]["counts"].items():
                total[emoji] = total.get(emoji, 0) + n
        assert total == {"🔥": 20, "👏": 20}
        await ws.close()

    asyncio.run(scenario())


def test_ping_is_answered_and_other_frames_are_refused(servers: list[Server]) -> None:
    _, daphne = servers
    space = live_space()
    token = token_for(member(space))

    async def scenario() -> None:
        ws = await open_ws(daphne.ws(space.pk), token)
        await recv(ws)
        await ws.send('{"action": "ping"}')
        assert (await recv_until(ws, "pong"))["space"] == space.pk
        await ws.send('{"action": "mute", "user": 1}')
        error = await recv_until(ws, "error")
        assert error["data"]["code"] == "invalid_frame"
        await ws.send("not json")
        assert (await recv_until(ws, "error"))["data"]["code"] == "invalid_frame"
        await ws.close()

    asyncio.run(scenario())


def test_participant_rows_unchanged_by_sockets(servers: list[Server]) -> None:
    """Opening and closing sockets is not presence: it writes nothing (presence is join/leave)."""
    uvicorn, _ = servers
    space = live_space()
    token = token_for(member(space))
    before = list(Participant.objects.order_by("pk").values())

    async def scenario() -> None:
        ws = await open_ws(uvicorn.ws(space.pk), token)
        await recv(ws)
        await ws.close()

    asyncio.run(scenario())
    assert list(Participant.objects.order_by("pk").values()) == before
    assert Space.objects.get(pk=space.pk).seq == space.seq
