"""HLS in the web client (issue 18), in a real headless Chromium against the real stack: daphne, PostgreSQL,
Redis, livekit-server, an audio agent (subprocess) encoding the stage's mix as HLS, and nginx from
``bin/services`` serving it behind signed links. The host's page publishes Chromium's fake microphone; the
listener's page, with the data saver on, plays the HLS stream through hls.js, raises a hand, is approved,
switches to WebRTC and publishes (the host's page receives it), and is moved back to HLS. Every page runs
under the server's Content-Security-Policy, and anything it blocks fails the test (the ``browser`` fixture).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from rooms.models import AgentWorker, Participant
from rooms.services import space_create
from tests.factories import HostFactory, UserFactory
from tests.rooms.agent_harness import agents
from tests.rooms.hls_harness import HlsOrigin, running_origin
from tests.support.browser import eventually, log_in, off_loop, wait_js, wait_text
from tests.support.servers import Server, server_database_url, start_server, stop_server
from tests.web.test_browser import mic_published

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LINK_TTL_S = 16  # short, so the page refreshes its signed link (at 3/4 of its life) during the test

# WebAudio on the HLS <audio> element: the loudest sample since the last reset, every 50 ms.
ANALYSE = """() => {
  const el = document.querySelector('audio[data-hls]');
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  ctx.createMediaElementSource(el).connect(analyser);
  analyser.connect(ctx.destination);
  window.__hlsPeak = 0;
  const data = new Float32Array(analyser.fftSize);
  setInterval(() => {
    analyser.getFloatTimeDomainData(data);
    for (const v of data) window.__hlsPeak = Math.max(window.__hlsPeak, Math.abs(v));
  }, 50);
  return ctx.resume().then(() => ctx.state);
}"""

# Packets the host's page has received on the given user's microphone track (LiveKit identity ends
# with the user id: rooms/livekit_client.py identity_for).
HOST_RECEIVED = """async (userId) => {
  const room = window.SpacesPage.room();
  if (!room) return -1;
  for (const p of room.remoteParticipants.values()) {
    if (!new RegExp(`\\\\D${userId}$`).test(p.identity)) continue;
    for (const pub of p.audioTrackPublications.values()) {
      if (!pub.track || !pub.track.receiver) continue;
      let packets = 0;
      (await pub.track.receiver.getStats()).forEach((s) => { if (s.type === 'inbound-rtp') packets += s.packetsReceived || 0; });
      return packets;
    }
  }
  return -1;
}"""


@pytest.fixture(scope="module")
def hls_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsOrigin]:
    with running_origin(tmp_path_factory.mktemp("hls-origin-web")) as origin:
        yield origin


@pytest.fixture
def hls_web_server(
    postgres_url: str, redis_url: str, livekit_url: str, hls_origin: HlsOrigin, tmp_path: Path
) -> Iterator[Server]:
    prefix = f"h{uuid.uuid4().hex[:8]}-"
    settings.LIVEKIT_ROOM_PREFIX = prefix
    env = dict(os.environ)
    env.update(
        DATABASE_URL=server_database_url(),
        LIVEKIT_ROOM_PREFIX=prefix,
        SPACES_CHANNEL_PREFIX=f"ch-{prefix}",
        SPACES_DISABLE_THROTTLING="1",
        SPACES_FAST_PASSWORD_HASHER="1",
        CELERY_TASK_ALWAYS_EAGER="true",
        LOG_LEVEL="WARNING",
        SPACES_HLS_LINK_TTL_S=str(LINK_TTL_S),
        **hls_origin.env,
    )
    env.pop("SPACES_TEST_DB_NAME", None)
    server = start_server("daphne", env, tmp_path)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def hls_agent(hls_web_server: Server, postgres_url: str, hls_origin: HlsOrigin, tmp_path: Path) -> Iterator[Any]:
    media = tmp_path / "media"
    media.mkdir()
    with agents(postgres_url=postgres_url, media_root=media, log_dir=tmp_path) as made:
        made.env.update(hls_origin.env)
        made.start("agent-web")
        eventually(
            lambda: off_loop(lambda: AgentWorker.objects.filter(agent_id="agent-web").exists()),
            "the agent registered",
            30,
        )
        yield made


def media_time(page: Any) -> float:
    return float(page.evaluate("(document.querySelector('audio[data-hls]') || {currentTime: -1}).currentTime"))


def assert_hls_plays(page: Any, what: str) -> None:
    """The HLS element's media time advances by two seconds, and the analyser hears more than silence."""
    wait_js(
        page, "window.SpacesPage.transport() === 'hls' && !!document.querySelector('audio[data-hls]')", timeout=30000
    )
    wait_js(page, "(document.querySelector('audio[data-hls]') || {}).currentTime > 0", timeout=45000)
    start = media_time(page)
    wait_js(page, f"document.querySelector('audio[data-hls]').currentTime > {start + 2}", timeout=20000)
    assert page.evaluate(ANALYSE) == "running", what
    wait_js(page, "window.__hlsPeak > 0.02", timeout=20000)
    assert page.evaluate("window.SpacesPage.room()") is None, f"{what}: no LiveKit room while on HLS"


def test_hls_listener_plays_raises_hand_speaks_over_webrtc_and_returns_to_hls(
    hls_web_server: Server, hls_agent: Any, browser: Any
) -> None:
    server = hls_web_server
    host = off_loop(lambda: HostFactory(username="hlshost", display_name="HLS Host"))
    listener = off_loop(lambda: UserFactory(username="hlsfan", display_name="HLS Fan"))
    space = off_loop(lambda: space_create(host=host, title="HLS in the browser"))

    host_page = log_in(browser, server, "hlshost")
    host_page.goto(f"{server.http}/spaces/{space.pk}")
    host_page.click("#join-btn")
    wait_text(host_page, "#conn-status", "Connected", exact=True)
    eventually(lambda: mic_published(space, host.pk), "the host's fake microphone published in LiveKit")

    # The listener chooses the data saver: the join asks for HLS and the page plays it through hls.js.
    page = log_in(browser, server, "hlsfan")
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.text.startswith(("spaces-", "rejoin")) else None)
    page.goto(f"{server.http}/spaces/{space.pk}")
    page.check("#data-saver")
    page.click("#join-btn")
    wait_text(page, "#conn-status", "Connected", exact=True)
    assert_hls_plays(page, "the data-saver listener")
    assert page.evaluate("window.SpacesPage.hls().mode") == "hls.js"
    row = off_loop(lambda: Participant.objects.get(space=space, user=listener))
    assert row.transport == "hls" and row.is_connected, "an HLS listener is present through the socket"
    assert not mic_published(space, listener.pk)

    # The signed link is refreshed before it expires, and playback goes on through it.
    wait_js(page, "window.SpacesPage.hls().freshBase !== null", timeout=(LINK_TTL_S + 5) * 1000)
    start = media_time(page)
    wait_js(page, f"document.querySelector('audio[data-hls]').currentTime > {start + 2}", timeout=20000)

    # Hand raised, approved: the page joins again, gets WebRTC with a publishing token, and publishes.
    page.click("#hand-btn")
    host_page.wait_for_selector('[data-approve="hlsfan"]')
    host_page.click('[data-approve="hlsfan"]')
    wait_js(page, "window.SpacesPage.transport() === 'webrtc' && !!window.SpacesPage.room()", timeout=30000)
    eventually(lambda: mic_published(space, listener.pk), "the approved HLS listener's microphone published")
    assert page.evaluate("document.querySelector('audio[data-hls]')") is None
    assert page.url.endswith(f"/spaces/{space.pk}"), "no reload, no navigation"
    # The host's page receives it: packets on the new speaker's track grow.
    eventually(lambda: host_page.evaluate(HOST_RECEIVED, listener.pk) > 0, "the host receives the speaker's audio")
    first = host_page.evaluate(HOST_RECEIVED, listener.pk)
    eventually(lambda: host_page.evaluate(HOST_RECEIVED, listener.pk) > first + 20, "the speaker's packets keep coming")
    assert off_loop(lambda: Participant.objects.get(space=space, user=listener).transport) == "webrtc"

    # Moved back to the audience: the page asks for HLS again, leaves LiveKit and plays HLS.
    host_page.click('#stage li[data-user="hlsfan"] button[data-act="move-to-listeners"]')
    eventually(lambda: not mic_published(space, listener.pk), "the moved speaker's track unpublished")
    assert_hls_plays(page, "the listener moved back")
    assert page.evaluate("window.SpacesPage.audio.switches") == 2
    assert page.evaluate("window.SpacesPage.audio.rejoins") == 0, "\n".join(console)
    row = off_loop(lambda: Participant.objects.get(space=space, user=listener))
    assert row.transport == "hls" and row.is_connected and row.role == "listener"


def test_hls_playback_survives_the_agent_dying_without_a_reload(
    hls_web_server: Server, hls_agent: Any, browser: Any
) -> None:
    """The agent holding the Space is killed: another takes the lease and appends to the playlist after a
    discontinuity; the page keeps the same player (no reload, no new join for it) and plays on."""
    from rooms.models import AgentLease

    server = hls_web_server
    hls_agent.start("agent-web-2")
    host = off_loop(lambda: HostFactory(username="failhost"))
    off_loop(lambda: UserFactory(username="failfan"))
    space = off_loop(lambda: space_create(host=host, title="HLS failover"))
    host_page = log_in(browser, server, "failhost")
    host_page.goto(f"{server.http}/spaces/{space.pk}")
    host_page.click("#join-btn")
    eventually(lambda: mic_published(space, host.pk), "the host's fake microphone published in LiveKit")

    page = log_in(browser, server, "failfan")
    page.goto(f"{server.http}/spaces/{space.pk}")
    page.check("#data-saver")
    page.click("#join-btn")
    assert_hls_plays(page, "before the failover")
    page.evaluate("window.__samePage = true; window.__player = window.SpacesPage.hls()")

    holder = off_loop(lambda: AgentLease.objects.get(space_id=space.pk).agent_id)
    hls_agent.kill(holder)
    survivor = "agent-web-2" if holder == "agent-web" else "agent-web"
    eventually(
        lambda: off_loop(lambda: AgentLease.objects.get(space_id=space.pk).agent_id) == survivor,
        "the other agent took the Space over",
        30,
    )
    # Played on past the new encoder's first segments: media time moves 4 s beyond where it was at the
    # takeover, and the analyser hears the host again.
    start = media_time(page)
    wait_js(page, f"document.querySelector('audio[data-hls]').currentTime > {start + 4}", timeout=45000)
    page.evaluate("window.__hlsPeak = 0")
    wait_js(page, "window.__hlsPeak > 0.02", timeout=20000)
    assert page.evaluate("window.__samePage === true && window.__player === window.SpacesPage.hls()")
    assert page.evaluate("window.SpacesPage.audio.switches") == 0
