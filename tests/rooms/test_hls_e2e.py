"""HLS overflow end to end: a real livekit-server, real audio agents (subprocesses), a real nginx started
by ``bin/services``. A Python HLS client fetches the signed playlist and segments through nginx and
decodes them with PyAV; signatures, bans and the agent's failover are checked against the running origin.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import numpy as np
import pytest

from rooms.models import AgentLease, Participant, Recording, Space
from rooms.services import hls
from tests.factories import UserFactory
from tests.rooms.agent_harness import FAST, agents, longest_run, tone_levels
from tests.rooms.hls_harness import HlsOrigin, Listener, get, running_origin
from tests.support.livekit import wait_until

pytestmark = [pytest.mark.livekit, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HOST_HZ = 440.0
PRESENT = 1500.0  # the host publishes its tone at amplitude 8000; AAC at 64 kbit/s keeps it near that
LEASE_S, POLL_S = float(FAST["SPACES_AGENT_LEASE_S"]), float(FAST["SPACES_AGENT_POLL_S"])
LINK_TTL_S = 4


@pytest.fixture(scope="session")
def hls_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsOrigin]:
    with running_origin(tmp_path_factory.mktemp("hls-origin")) as origin:
        yield origin


@pytest.fixture
def hls_world(world, make_client, hls_origin: HlsOrigin, settings: Any) -> Any:
    settings.SPACES_HLS_URL = hls_origin.url
    settings.SPACES_HLS_DIR = str(hls_origin.directory)
    settings.SPACES_HLS_SECRET = hls_origin.env["SPACES_HLS_SECRET"]
    settings.SPACES_HLS_LINK_TTL_S = LINK_TTL_S
    world.make_client = make_client
    world.origin = hls_origin
    return world


@pytest.fixture
def hls_agents(postgres_url, tmp_path: Path, lk, hls_origin: HlsOrigin):
    media = tmp_path / "media"
    media.mkdir()
    with agents(postgres_url=postgres_url, media_root=media, log_dir=tmp_path) as made:
        made.env.update(hls_origin.env)
        yield made


def _start(run_agents: Any, *names: str) -> None:
    from rooms.models import AgentWorker

    for name in names:
        run_agents.start(name)
    assert wait_until(lambda: AgentWorker.objects.filter(agent_id__in=names).count() == len(names), timeout=30)


def _hls_join(world: Any, user: Any = None) -> tuple[Any, dict[str, Any]]:
    user = user or UserFactory()
    response = world.make_client(user).post(
        f"/api/v1/spaces/{world.space_id}/join", {"transport": "hls"}, format="json"
    )
    assert response.status_code == 200, response.json()
    return user, response.json()


def _served(world: Any) -> None:
    """Wait until the agent serves the Space's playlist. Its start-up (its poll, joining the room, a first
    segment) can outlast a 4 s link on a busy machine: the tests then take a fresh link, joining again as
    a client refreshing its link does (docs/api.md)."""
    playlist = Path(hls.space_dir(world.space_id)) / hls.PLAYLIST
    assert wait_until(playlist.exists, timeout=30)


def _expires(url: str) -> int:
    return int(url.split("/hls/")[1].split("/")[1])


def _listen(listener: Listener, *, seconds: float, timeout: float = 30, since: int = -1) -> np.ndarray:
    """Follow the playlist until ``seconds`` of audio newer than segment ``since`` arrived."""

    def enough() -> bool:
        listener.poll()
        return listener.audio(since).size >= seconds * 48000

    assert wait_until(enough, timeout=timeout, interval=0.25), (
        listener.last and listener.last.text,
        listener.seen.keys(),
    )
    return listener.audio(since)


# An agent's first segment begins before it hears the host (it joins the room, subscribes, and the decoder
# fades in, choppily for a few windows): the tone is judged from half a second after it is first heard,
# for 3 s, and must be first heard within 2 s. On a busy machine the agent's incoming audio can also miss
# a few packets (a 200 ms concealment fade-out, seen under two busy loops), so "heard" is a share and a
# run of a second, not every window: silence, a choppy stream or another tone still fails.
ONSET_S, SETTLE_S, JUDGED_S = 2.0, 0.5, 3.0


def _tone_back(listener: Listener, *, since: int = -1, timeout: float = 30) -> np.ndarray:
    """The host's tone levels over the ``JUDGED_S`` seconds that start ``SETTLE_S`` after the tone is
    first heard in the audio newer than segment ``since``; asserts it is first heard within ``ONSET_S``
    and then heard steadily."""
    pcm = _listen(listener, seconds=ONSET_S + SETTLE_S + JUDGED_S, since=since, timeout=timeout)
    levels = tone_levels(pcm, HOST_HZ)
    onset = int(np.argmax(levels > PRESENT))
    assert levels[onset] > PRESENT and onset * 20 <= ONSET_S * 1000, (levels / 100).round().tolist()
    judged = levels[onset + int(SETTLE_S * 50) :][: int(JUDGED_S * 50)]
    heard = judged > PRESENT
    run_ms = longest_run(heard) * 20
    print(f"\nhls tone: first heard at {onset * 20} ms, then in {heard.mean():.2f} of windows, run {run_ms} ms")
    assert judged.size == JUDGED_S * 50 and heard.mean() > 0.9, (judged / 100).round().tolist()
    assert run_ms >= 1000, (judged / 100).round().tolist()
    return judged


def test_hls_listener_hears_the_stage_through_signed_links(hls_world, hls_agents):
    world = hls_world
    _start(hls_agents, "agent-h")
    user, creds = _hls_join(world)
    assert creds["transport"] == "hls" and creds["role"] == "listener"
    assert "token" not in creds and "livekit_url" not in creds
    assert creds["hls_url"].startswith(world.origin.url + "/hls/") and creds["ws_url"].endswith("?transport=hls")
    assert creds["expires_in"] == LINK_TTL_S
    # an HLS listener is a listener (presence from the join and the socket; LiveKit never sees them)
    assert Participant.objects.get(space_id=world.space_id, user=user).transport == "hls"
    assert Space.objects.get(pk=world.space_id).listener_count == 1
    # the agent serves the Space for HLS alone (recording is off) and the client hears the host's tone
    # it listens longer than one link lives, so it refreshes the link as a client does
    listener = Listener(creds["hls_url"], refresh=lambda: str(_hls_join(world, user)[1]["hls_url"]), ttl_s=LINK_TTL_S)
    _tone_back(listener)
    assert not Recording.objects.filter(space_id=world.space_id).exists()
    # cache headers a CDN follows: the playlist for a second, segments forever (on a fresh link: the first
    # one may have expired while the client listened)
    url = _hls_join(world, user)[1]["hls_url"]
    status, headers, body = get(url)
    assert status == 200 and headers["Cache-Control"] == "public, max-age=1"
    assert headers["Content-Type"] == "application/vnd.apple.mpegurl"
    segment_url = urljoin(url, body.decode().strip().splitlines()[-1])
    status, headers, _ = get(segment_url)
    assert status == 200 and headers["Cache-Control"] == "public, max-age=60, immutable"
    assert headers["Content-Type"] == "video/mp2t"
    # segments are short-lived: only the sliding window is on disk (HLS is not a recording)
    on_disk = list((world.origin.directory / str(world.space_id)).glob("s*.ts"))
    assert len(on_disk) <= 6 + 4 + 1, on_disk


def test_signed_links_refuse_tampering_expiry_and_other_spaces(hls_world, hls_agents):
    world = hls_world
    _start(hls_agents, "agent-s")
    user, _ = _hls_join(world)
    _served(world)
    url = _hls_join(world, user)[1]["hls_url"]
    assert get(url)[0] == 200
    sig, expires, who, space, name = url.split("/hls/")[1].split("/")
    base = url.split("/hls/")[0] + "/hls"
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    assert get(f"{base}/{flipped}/{expires}/{who}/{space}/{name}")[0] == 403  # tampered signature
    assert get(f"{base}/{sig}/{int(expires) + 60}/{who}/{space}/{name}")[0] == 403  # stretched expiry
    assert get(f"{base}/{sig}/{expires}/u0/{space}/{name}")[0] == 403  # someone else's link
    assert get(f"{base}/{sig}/{expires}/{who}/{int(space) + 1}/{name}")[0] == 403  # another Space
    old = hls.signed_url(space_id=world.space_id, listener=who, ttl_s=1, now=time.time() - 10)
    assert get(old)[0] == 403  # expired
    segment = get(url)[2].decode().strip().splitlines()[-1]
    assert get(f"{base}/{flipped}/{expires}/{who}/{space}/{segment}")[0] == 403  # segments are checked too
    assert get(urljoin(url, segment))[0] == 200


def test_banned_listener_loses_hls_within_the_link_lifetime(hls_world, hls_agents):
    world = hls_world
    _start(hls_agents, "agent-b")
    user, _ = _hls_join(world)
    _served(world)
    issued = int(time.time())
    url = _hls_join(world, user)[1]["hls_url"]
    assert issued <= _expires(url) - LINK_TTL_S <= time.time()  # the link's lifetime is the setting's
    assert get(url)[0] == 200
    removed = world.host_api.post(
        f"/api/v1/spaces/{world.space_id}/participants/{user.username}/remove", {"ban": "space"}, format="json"
    )
    assert removed.status_code == 204, removed.content
    again = world.make_client(user).post(f"/api/v1/spaces/{world.space_id}/join", {"transport": "hls"}, format="json")
    assert again.status_code == 403 and again.json()["code"] == "banned" and "hls_url" not in again.json()
    # the link they hold dies when it expires (SPACES_HLS_LINK_TTL_S after it was issued), not later:
    # nginx serves it through the second `expires` and refuses it from the next; judged against the link's
    # own expiry, not the moment of the ban, with a second for the last poll on a busy machine
    assert wait_until(lambda: get(url)[0] == 403, timeout=LINK_TTL_S + 5)
    died = time.time() - _expires(url)
    print(f"\nhls ban: the link died {died:.2f} s after its expiry second")
    assert died <= 1 + 1.0, died
    _, other = _hls_join(world)
    assert get(other["hls_url"])[0] == 200  # someone else's fresh link plays on


def test_killed_agent_is_replaced_and_the_playlist_goes_on(hls_world, hls_agents, settings):
    world = hls_world
    settings.SPACES_HLS_LINK_TTL_S = 60  # one link for the whole test: the player does not reload
    _start(hls_agents, "agent-1", "agent-2")
    _, creds = _hls_join(world)
    listener = Listener(creds["hls_url"])
    _listen(listener, seconds=2)
    holder = AgentLease.objects.get(space_id=world.space_id).agent_id
    before = max(listener.seen)
    hls_agents.kill(holder)
    killed_at = time.monotonic()
    survivor = "agent-2" if holder == "agent-1" else "agent-1"
    assert wait_until(lambda: AgentLease.objects.get(space_id=world.space_id).agent_id == survivor, timeout=LEASE_S + 5)
    # the same URL keeps working: the media sequence goes on after a discontinuity, and the tone is back
    _listen(listener, seconds=0.5, since=before, timeout=LEASE_S + 15)
    assert wait_until(lambda: listener.poll() and listener.discontinuities, timeout=LEASE_S + 15)
    resumed_s = time.monotonic() - killed_at
    switched = min(listener.discontinuities)
    assert switched > before, listener.discontinuities
    # judge the new agent's audio alone: the old agent's last segments end where it was killed, so a window
    # straddling the switch holds a gap that says nothing about whether the tone came back
    _tone_back(listener, since=switched - 1, timeout=15)
    numbers = sorted(listener.seen)
    assert numbers == list(range(numbers[0], numbers[-1] + 1)), numbers  # no sequence number skipped or reused
    # back within the lease time plus the new agent's poll, join and first segment
    print(f"\nhls failover: the playlist went on {resumed_s:.1f} s after the kill")
    assert resumed_s <= LEASE_S + POLL_S + 2 * 1.0 + 3, resumed_s
