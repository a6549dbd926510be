"""Listening that heals itself, in a real headless Chromium against the real stack: a private
``livekit-server`` (so a test may stop it and start it again on the same ports), daphne, PostgreSQL and
Redis. The speaker is a realtime client publishing a 440 Hz tone; what the page plays is measured with a
WebAudio analyser on the page's own audio element (``captureStream``), so a paused element hears nothing.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rooms import livekit_client
from rooms.models import Space
from rooms.services import audio_health, space_create, space_join
from tests.factories import HostFactory, UserFactory
from tests.support.browser import CHROMIUM_FLAGS, PASSWORD, SCREENSHOTS, eventually, off_loop, wait_text
from tests.support.livekit import KEY, SECRET, LiveKitServer, Peer, livekit_binary
from tests.support.servers import Server, free_port, server_database_url, start_server, stop_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BLOCKED_AUTOPLAY = [f for f in CHROMIUM_FLAGS if not f.startswith("--autoplay-policy")] + [
    "--autoplay-policy=document-user-activation-required"
]
HEARD_RMS = 0.01  # the tone is ~0.24 RMS; silence is 0


class Stack:
    def __init__(self, lk: LiveKitServer, web: Server) -> None:
        self.lk, self.web = lk, web


@pytest.fixture
def stack(postgres_url: str, redis_url: str, chromium_path: str, tmp_path: Path, settings: Any) -> Iterator[Stack]:
    binary = livekit_binary()
    if binary is None:
        pytest.skip("livekit-server binary not found (bin/services up livekit builds it)")
    port = free_port()
    lk = LiveKitServer(binary, webhook_url=f"http://127.0.0.1:{port}/webhooks/livekit")
    lk.start()
    prefix = f"l{uuid.uuid4().hex[:8]}-"
    settings.LIVEKIT_ROOM_PREFIX = prefix
    settings.LIVEKIT_URL, settings.LIVEKIT_API_URL = lk.ws_url, lk.http_url
    settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = KEY, SECRET
    settings.LIVEKIT_API_TIMEOUT_S = 2
    env = dict(os.environ)
    env.update(
        DATABASE_URL=server_database_url(),
        LIVEKIT_ROOM_PREFIX=prefix,
        LIVEKIT_URL=lk.ws_url,
        LIVEKIT_API_URL=lk.http_url,
        LIVEKIT_API_KEY=KEY,
        LIVEKIT_API_SECRET=SECRET,
        LIVEKIT_API_TIMEOUT_S="2",
        SPACES_CHANNEL_PREFIX=f"ch-{prefix}",
        SPACES_DISABLE_THROTTLING="1",
        SPACES_FAST_PASSWORD_HASHER="1",
        CELERY_TASK_ALWAYS_EAGER="true",
        LOG_LEVEL="WARNING",
    )
    env.pop("SPACES_TEST_DB_NAME", None)
    web = start_server("daphne", env, tmp_path, port=port)
    try:
        yield Stack(lk, web)
    finally:
        stop_server(web)
        lk.cleanup()


def launch(chromium_path: str, flags: list[str]) -> Any:
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    return pw, pw.chromium.launch(executable_path=chromium_path, args=flags)


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Any]:
    pw, instance = launch(chromium_path, CHROMIUM_FLAGS)
    try:
        yield instance
    finally:
        instance.close()
        pw.stop()


def log_in(browser: Any, server: Server, username: str, **context: Any) -> Any:
    context.setdefault("permissions", ["microphone"])
    context.setdefault("viewport", {"width": 1000, "height": 800})
    page = browser.new_context(**context).new_page()
    if os.environ.get("SPACES_BROWSER_CONSOLE"):
        page.on("console", lambda m: print(f"[{username}] {m.type}: {m.text}"))
    page.goto(f"{server.http}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{server.http}/")
    return page


def log_in_quietly(browser: Any, server: Server, username: str) -> Any:
    context = browser.new_context(permissions=["microphone"], viewport={"width": 1000, "height": 800})
    context.request.get(f"{server.http}/login")
    csrf = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    response = context.request.post(
        f"{server.http}/api/v1/auth/token",
        data={"username": username, "password": PASSWORD},
        headers={"X-CSRFToken": csrf, "Referer": f"{server.http}/login"},
    )
    assert response.ok, response.text()
    page = context.new_page()
    if os.environ.get("SPACES_BROWSER_CONSOLE"):
        page.on("console", lambda m: print(f"[{username}] {m.type}: {m.text}"))
    return page


def speaker_on_air(space: Space, host: Any, peers: list[Peer], timeout: float = 30) -> Peer:
    """The host's realtime client: join through the service (fresh token), connect, publish the tone.
    Retried like a real client would while LiveKit comes back."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        creds = off_loop(lambda: space_join(space_id=space.pk, user=host))
        peer = Peer(creds.livekit_url, creds.token, name="speaker")
        peers.append(peer)
        try:
            peer.connect()
            if peer.publish_tone():
                return peer
        except Exception as exc:  # LiveKit not (yet) taking us: retry
            last = exc
        peer.close()
        time.sleep(0.5)
    raise AssertionError(f"the speaker could not get on air: {last!r}")


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for peer in made:
        peer.close()


# The RMS of what the page's audio element for ``identity`` plays, over ``ms`` (0 when paused or absent).
PLAYED_RMS = """async ([identity, ms]) => {
  const el = [...document.querySelectorAll('audio[data-lk]')].find((a) => a.dataset.identity === identity);
  if (!el || el.paused) return 0;
  const ctx = new AudioContext();
  if (ctx.state !== 'running') { await ctx.close(); return -1; }
  const src = ctx.createMediaStreamSource(el.captureStream());
  const an = ctx.createAnalyser(); an.fftSize = 2048; src.connect(an);
  const buf = new Float32Array(an.fftSize); let peak = 0;
  const until = performance.now() + ms;
  while (performance.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    an.getFloatTimeDomainData(buf);
    let sum = 0; for (const v of buf) sum += v * v;
    peak = Math.max(peak, Math.sqrt(sum / buf.length));
  }
  await ctx.close();
  return peak;
}"""


def played(page: Any, identity: str, ms: int = 400) -> float:
    return float(page.evaluate(PLAYED_RMS, [identity, ms]))


def hears(page: Any, identity: str, timeout: float = 20) -> float:
    """Seconds until the page plays the speaker's tone."""
    started = time.monotonic()
    eventually(lambda: played(page, identity) > HEARD_RMS, f"the page plays {identity}'s tone", timeout)
    return time.monotonic() - started


def test_autoplay_blocked_shows_tap_to_listen_and_one_tap_starts_the_sound(
    stack: Stack, chromium_path: str, peers: list[Peer]
) -> None:
    host = off_loop(lambda: HostFactory(username="tonehost"))
    off_loop(lambda: UserFactory(username="shyear"))
    space = off_loop(lambda: space_create(host=host, title="Autoplay"))
    speaker_on_air(space, host, peers)
    identity = livekit_client.identity_for(host.pk)

    pw, blocked = launch(chromium_path, BLOCKED_AUTOPLAY)
    try:
        # Logged in without a click (a click would give the origin a user activation that Chrome carries
        # over same-origin navigations): a fresh document with no gesture, on the auto-join path.
        page = log_in_quietly(blocked, stack.web, "shyear")
        # No Playwright query before the tap: its evaluations count as user gestures. The page says what it
        # does on the console; the screenshot shows the prompt.
        logs: list[str] = []
        page.on("console", lambda m: logs.append(m.text))
        page.goto(f"{stack.web.http}/spaces/{space.pk}?join=1")
        deadline = time.monotonic() + 20
        while "spaces-audio: playback blocked" not in logs and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert "spaces-audio: playback blocked" in logs, logs[-20:]
        page.screenshot(path=str(SCREENSHOTS / "space-tap-to-listen.png"))
        assert page.evaluate("window.SpacesPage.room().canPlaybackAudio") is False
        assert page.is_visible("#tap-to-listen")
        assert played(page, identity) == 0  # the element is paused: nothing plays

        page.click("#tap-to-listen")
        page.wait_for_selector("#tap-to-listen", state="hidden")
        hears(page, identity, timeout=10)
    finally:
        blocked.close()
        pw.stop()


def test_listener_rejoins_after_the_livekit_node_comes_back_and_a_ban_ends_it(
    stack: Stack, browser: Any, peers: list[Peer]
) -> None:
    from moderation.models import SpaceBan

    host = off_loop(lambda: HostFactory(username="nodehost"))
    listener = off_loop(lambda: UserFactory(username="patient"))
    space = off_loop(lambda: space_create(host=host, title="Outage"))
    speaker_on_air(space, host, peers)
    identity = livekit_client.identity_for(host.pk)
    page = log_in(browser, stack.web, "patient")
    page.goto(f"{stack.web.http}/spaces/{space.pk}")
    page.click("#join-btn")
    hears(page, identity)
    # Rooms ensured in the last 10 s are remembered (rooms/services/presence.py ROOM_ENSURED_TTL_S);
    # a node that restarts loses its rooms, so measure the usual case: a room older than that.
    time.sleep(10)

    stack.lk.stop()
    wait_text(page, "#audio-status", "Reconnecting")
    time.sleep(3)
    stack.lk.start()
    back = time.monotonic()
    speaker_on_air(space, host, peers)
    hears(page, identity, timeout=40)
    recovered = time.monotonic() - back
    print(f"\nrejoin: audio heard again {recovered:.1f} s after the LiveKit node came back")
    assert recovered < 30
    assert page.evaluate("window.SpacesPage.audio.rejoins") >= 1
    assert page.inner_text("#conn-status") == "Connected"

    # Away again; meanwhile the host bans the listener: the rejoin is refused with the ban's message.
    stack.lk.stop()
    wait_text(page, "#audio-status", "Reconnecting")
    off_loop(lambda: SpaceBan.objects.create(space=space, user=listener))
    stack.lk.start()
    wait_text(page, "#banner", "cannot rejoin", timeout=40000)
    assert page.evaluate("window.SpacesPage.audio.rejoining") is False
    assert page.is_hidden("#audio-status")


def test_a_speaker_unsubscribed_at_the_sfu_is_healed_and_cant_hear_is_counted(
    stack: Stack, browser: Any, peers: list[Peer]
) -> None:
    from livekit import api as lkapi

    host = off_loop(lambda: HostFactory(username="healhost"))
    listener = off_loop(lambda: UserFactory(username="healear"))
    space = off_loop(lambda: space_create(host=host, title="Self-heal"))
    peer = speaker_on_air(space, host, peers)
    identity = livekit_client.identity_for(host.pk)
    page = log_in(browser, stack.web, "healear")
    page.goto(f"{stack.web.http}/spaces/{space.pk}")
    page.click("#join-btn")
    hears(page, identity)

    async def unsubscribe() -> None:
        async with lkapi.LiveKitAPI(stack.lk.http_url, KEY, SECRET) as client:
            await client.room.update_subscriptions(
                lkapi.UpdateSubscriptionsRequest(
                    room=space.livekit_room,
                    identity=livekit_client.identity_for(listener.pk),
                    track_sids=[peer.publication_sid or ""],
                    subscribe=False,
                )
            )

    cut = time.monotonic()
    off_loop(lambda: asyncio.run(unsubscribe()))
    eventually(lambda: played(page, identity, 200) == 0, "the SFU stopped sending the speaker to this listener")
    try:
        hears(page, identity, timeout=20)
    except AssertionError:
        print(
            "STATE",
            page.evaluate("""() => { const r = window.SpacesPage.room(); const a = window.SpacesPage.audio;
          return {els: [...document.querySelectorAll('audio')].map(e => ({id: e.dataset.identity, lk: e.dataset.lk, paused: e.paused, muted: e.muted, tracks: e.srcObject ? e.srcObject.getTracks().map(t => [t.readyState, t.muted, t.enabled]) : null})), heals: a.heals, watch: [...a.watch.entries()], parts: [...r.remoteParticipants.values()].map(p => ({id: p.identity, speaking: p.isSpeaking, level: p.audioLevel, pubs: [...p.audioTrackPublications.values()].map(x => ({sub: x.isSubscribed, desired: x.isDesired, track: !!x.track, st: x.subscriptionStatus}))}))}; }"""),
        )
        raise
    healed = time.monotonic() - cut
    print(f"\nself-heal: audio back {healed:.1f} s after the SFU unsubscribed the listener")
    heals = page.evaluate("window.SpacesPage.audio.heals.map((h) => h.kind)")
    assert "resubscribe" in heals
    eventually(
        lambda: off_loop(lambda: audio_health.audio_health_counts(space_id=space.pk))["resubscribe"] >= 1, "counted"
    )

    page.click("#cant-hear-btn")
    eventually(
        lambda: off_loop(lambda: audio_health.audio_health_counts(space_id=space.pk))["cant_hear"] == 1, "counted"
    )
    hears(page, identity, timeout=10)


def mic_published(space: Space, user_id: int) -> bool:
    remote = off_loop(lambda: livekit_client.participant_get(room=space.livekit_room, user_id=user_id))
    return remote is not None and any(t.source == "microphone" for t in remote.tracks)


def test_microphone_denied_is_explained_nothing_breaks_and_retry_works(stack: Stack, chromium_path: str) -> None:
    host = off_loop(lambda: HostFactory(username="micless"))
    space = off_loop(lambda: space_create(host=host, title="No microphone"))
    # Without the flag that accepts every prompt, and without the grant, Chromium refuses the microphone.
    pw, instance = launch(chromium_path, [f for f in CHROMIUM_FLAGS if f != "--use-fake-ui-for-media-stream"])
    try:
        page = log_in(instance, stack.web, "micless", permissions=[])
        page.goto(f"{stack.web.http}/spaces/{space.pk}")
        page.click("#join-btn")
        page.wait_for_selector("#mic-problem:not([hidden])", timeout=20000)
        assert "Microphone access is blocked" in page.inner_text("#mic-problem-text")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "space-mic-denied.png"))
        # Nothing else broke: connected to the socket and to LiveKit, the controls work, no microphone.
        assert page.inner_text("#conn-status") == "Connected"
        assert off_loop(lambda: livekit_client.participant_get(room=space.livekit_room, user_id=host.pk)) is not None
        assert not mic_published(space, host.pk)
        assert page.is_visible("#end-btn") and page.is_visible("#mic-btn")
        assert page.get_attribute("#mic-btn", "aria-pressed") == "false"

        page.context.grant_permissions(["microphone"], origin=stack.web.http)
        page.click("#mic-retry")
        eventually(lambda: mic_published(space, host.pk), "the microphone published after the retry")
        page.wait_for_selector("#mic-problem", state="hidden")
        page.wait_for_selector("#mic-meter:not([hidden])")
        eventually(lambda: page.evaluate("document.getElementById('mic-level').value") > 0, "the level meter moves")
        # The lock screen / media notification names the Space and its host.
        metadata = page.evaluate("[navigator.mediaSession.metadata.title, navigator.mediaSession.metadata.artist]")
        assert metadata == ["No microphone", "Hosted by @micless"]
    finally:
        instance.close()
        pw.stop()


def test_a_guest_listens_from_the_share_link_and_cannot_act(stack: Stack, browser: Any, peers: list[Peer]) -> None:
    """No account: the share page offers "Listen as guest" when the host allows it; the Space page then
    plays the speaker, follows the event stream with the guest pass, counts the guest, offers no action."""
    host = off_loop(lambda: HostFactory(username="openhost"))
    space = off_loop(lambda: space_create(host=host, title="Open mic", guests_allowed=True))
    closed = off_loop(lambda: space_create(host=HostFactory(username="closedhost"), title="Members"))
    speaker_on_air(space, host, peers)
    identity = livekit_client.identity_for(host.pk)

    page = browser.new_context(viewport={"width": 1000, "height": 800}).new_page()
    if os.environ.get("SPACES_BROWSER_CONSOLE"):
        page.on("console", lambda m: print(f"[guest] {m.type}: {m.text}"))
    page.goto(f"{stack.web.http}/s/{space.pk}")
    page.click("#listen-as-guest")
    page.wait_for_url(f"{stack.web.http}/spaces/{space.pk}?guest=1&join=1")
    hears(page, identity)
    eventually(lambda: page.text_content("#conn-status") == "Connected", "the guest's event socket is open", 10)
    eventually(
        lambda: off_loop(lambda: Space.objects.get(pk=space.pk).listener_count) == 1,
        "the guest is counted as a listener",
        10,
    )
    assert page.is_visible("#guest-note")
    for control in ("#hand-btn", ".reactions", "#message-panel", "#mic-btn"):
        assert not page.is_visible(control), control
    # The page's own origin, no account: every action is refused.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    headers = {"X-CSRFToken": csrf, "Referer": f"{stack.web.http}/spaces/{space.pk}"}
    for path, body in (("hand", None), ("reactions", {"emoji": "👏"}), ("messages", {"text": "hi"})):
        r = page.context.request.post(f"{stack.web.http}/api/v1/spaces/{space.pk}/{path}", data=body, headers=headers)
        assert r.status in (401, 403) and r.json()["code"] == "not_authenticated", (path, r.status, r.text())
    page.screenshot(path=str(SCREENSHOTS / "space-guest.png"))

    # A Space that does not allow guests: no offer on its share page, and the Space page wants a login.
    page.goto(f"{stack.web.http}/s/{closed.pk}")
    assert page.locator("#listen-as-guest").count() == 0
    page.goto(f"{stack.web.http}/spaces/{closed.pk}?guest=1&join=1")
    assert page.url.startswith(f"{stack.web.http}/login")


WAKE_LOCK = """async () => {
  const held = window.SpacesPage.audio.wakeLock;
  let probe = null;
  if (!held && 'wakeLock' in navigator) {
    try { const l = await navigator.wakeLock.request('screen'); await l.release(); probe = 'granted'; }
    catch (e) { probe = e.name; }
  }
  return { api: 'wakeLock' in navigator, held: !!held && !held.released, type: held ? held.type : null, probe };
}"""


@pytest.mark.parametrize("granted", [True, False], ids=["granted", "refused"])
def test_the_screen_stays_on_while_the_microphone_is_on(stack: Stack, browser: Any, granted: bool) -> None:
    """A speaker's page holds a screen wake lock while the microphone is on and lets it go when muted.

    Headless Chromium has the Wake Lock API but refuses it (``NotAllowedError``) unless the permission is
    granted, which Playwright has no name for: granted through DevTools here. Refused, the page carries on:
    no lock, no error, the microphone works."""
    host = off_loop(lambda: HostFactory(username=f"awake{int(granted)}"))
    space = off_loop(lambda: space_create(host=host, title="Stay awake"))
    page = log_in(browser, stack.web, host.username)
    cdp = page.context.new_cdp_session(page)
    context_id = cdp.send("Target.getTargetInfo")["targetInfo"]["browserContextId"]
    setting = "granted" if granted else "denied"
    cdp.send(
        "Browser.setPermission",
        {
            "permission": {"name": "screen-wake-lock"},
            "setting": setting,
            "origin": stack.web.http,
            "browserContextId": context_id,
        },
    )
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{stack.web.http}/spaces/{space.pk}")
    page.click("#join-btn")
    eventually(lambda: mic_published(space, host.pk), "the host's microphone is published")
    eventually(lambda: page.get_attribute("#mic-btn", "aria-pressed") == "true", "the mic button shows on")
    if granted:
        eventually(lambda: page.evaluate(WAKE_LOCK)["held"], "the wake lock is held while the mic is on", 5)
        assert page.evaluate(WAKE_LOCK)["type"] == "screen"
    else:
        page.wait_for_timeout(1000)  # the request is asynchronous: give it time to be refused
        state = page.evaluate(WAKE_LOCK)
        assert state["api"] and not state["held"] and state["probe"] == "NotAllowedError", state
    page.click("#mic-btn")
    eventually(lambda: page.get_attribute("#mic-btn", "aria-pressed") == "false", "the mic button shows off")
    eventually(lambda: not page.evaluate(WAKE_LOCK)["held"], "no wake lock while the mic is off", 5)
    page.click("#mic-btn")
    eventually(lambda: mic_published(space, host.pk), "the microphone is published again")
    if granted:
        eventually(lambda: page.evaluate(WAKE_LOCK)["held"], "the wake lock is taken again", 5)
    assert page.inner_text("#conn-status") == "Connected"
    assert errors == []
