"""The web client in a real headless Chromium against the real stack: daphne, Redis, PostgreSQL and
livekit-server, with Chromium's fake microphone. What LiveKit really carries is checked through its
server API, not through the page."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from rooms import livekit_client
from rooms.models import Space
from rooms.services import space_create
from tests.factories import HostFactory, UserFactory
from tests.realtime.conftest import Server, _test_database_url, start_server, stop_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "correct-horse-battery"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture
def web_server(postgres_url: str, redis_url: str, livekit_url: str, tmp_path: Path) -> Iterator[Server]:
    prefix = f"b{uuid.uuid4().hex[:8]}-"
    settings.LIVEKIT_ROOM_PREFIX = prefix
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_test_database_url(),
        LIVEKIT_ROOM_PREFIX=prefix,
        SPACES_CHANNEL_PREFIX=f"ch-{prefix}",
        SPACES_DISABLE_THROTTLING="1",
        SPACES_FAST_PASSWORD_HASHER="1",
        CELERY_TASK_ALWAYS_EAGER="true",
        LOG_LEVEL="WARNING",
    )
    env.pop("SPACES_TEST_DB_NAME", None)
    server = start_server("daphne", env, tmp_path)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        # Every page runs under the server's Content-Security-Policy; Chromium reports each thing the
        # policy blocked on the console, and no page may have any.
        violations: list[str] = []
        new_context = instance.new_context

        def watched_context(**options: Any) -> Any:
            context = new_context(**options)
            context.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            return context

        instance.new_context = watched_context
        try:
            yield instance
        finally:
            instance.close()
        assert violations == [], "blocked by the Content-Security-Policy"


def log_in(browser: Any, server: Server, username: str) -> Any:
    context = browser.new_context(permissions=["microphone"], viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.goto(f"{server.http}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{server.http}/")
    return page


def wait_text(page: Any, selector: str, text: str, *, exact: bool = False, timeout: float = 30000) -> None:
    """Wait until the element's text is (or contains) ``text``. Not ``wait_for_function``: that evaluates a
    string in the page, which the Content-Security-Policy (no 'unsafe-eval') rightly refuses."""
    from playwright.sync_api import expect

    locator = page.locator(selector)
    if exact:
        expect(locator).to_have_text(text, timeout=timeout)
    else:
        expect(locator).to_contain_text(text, timeout=timeout)


def wait_js(page: Any, expression: str, *, timeout: float = 15000) -> None:
    """Poll ``page.evaluate(expression)`` until it is truthy (``timeout`` in ms). ``page.evaluate`` runs
    through the DevTools protocol, which the CSP allows; ``wait_for_function`` evals a string in the page,
    which it refuses."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        if page.evaluate(expression):
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for: {expression}")
        page.wait_for_timeout(100)


def eventually(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {what}")


def off_loop(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a worker thread: Playwright's sync API keeps an event loop running in this one, and
    neither the ORM nor ``async_to_sync`` may run there."""

    def run() -> Any:
        try:
            return fn()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def mic_published(space: Space, user_id: int) -> bool:
    remote = off_loop(lambda: livekit_client.participant_get(room=space.livekit_room, user_id=user_id))
    return remote is not None and any(t.source == "microphone" for t in remote.tracks)


def livekit_present(space: Space, user_id: int) -> bool:
    return off_loop(lambda: livekit_client.participant_get(room=space.livekit_room, user_id=user_id)) is not None


def join_space(page: Any, server: Server, space: Space) -> None:
    page.goto(f"{server.http}/spaces/{space.pk}")
    page.click("#join-btn")
    wait_text(page, "#conn-status", "Connected", exact=True)


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_raise_hand_approve_speak_move_back_and_remove(web_server: Server, browser: Any) -> None:
    host = off_loop(lambda: HostFactory(username="hostess", display_name="Hostess"))
    listener = off_loop(lambda: UserFactory(username="lola", display_name="Lola"))
    space = off_loop(lambda: space_create(host=host, title="Browser jam session", topics=["music"]))

    host_page = log_in(browser, web_server, "hostess")
    shot(host_page, "home")
    join_space(host_page, web_server, space)
    eventually(lambda: mic_published(space, host.pk), "the host's fake microphone published in LiveKit")

    listener_page = log_in(browser, web_server, "lola")
    join_space(listener_page, web_server, space)
    assert not mic_published(space, listener.pk)

    listener_page.click("#hand-btn")
    host_page.wait_for_selector('[data-approve="lola"]')
    shot(host_page, "space-host-queue")
    host_page.click('[data-approve="lola"]')
    eventually(lambda: mic_published(space, listener.pk), "the approved listener's microphone published")
    listener_page.wait_for_selector('#stage li[data-user="lola"]')
    shot(listener_page, "space-speaker")

    host_page.click('#stage li[data-user="lola"] button[data-act="move-to-listeners"]')
    eventually(lambda: not mic_published(space, listener.pk), "the moved speaker's track unpublished by LiveKit")
    listener_page.wait_for_selector('#stage li[data-user="lola"]', state="detached")

    host_page.click("#listeners-btn")
    host_page.click('[data-remove="lola"]')
    wait_text(listener_page, "#banner", "removed")
    eventually(lambda: not livekit_present(space, listener.pk), "the removed listener disconnected from LiveKit")
    shot(listener_page, "space-removed")

    listener_page.reload()
    listener_page.click("#join-btn")
    wait_text(listener_page, "#banner", "cannot rejoin")


def test_space_page_recovers_a_dropped_connection_without_reload(web_server: Server, browser: Any) -> None:
    from rooms.models import Participant, Role
    from rooms.services import participant_mute
    from rooms.snapshot import ROOM_PART_MAX_AGE_S

    host = off_loop(lambda: HostFactory(username="hosty"))
    speaker = off_loop(lambda: UserFactory(username="sam", display_name="Sam"))
    space = off_loop(lambda: space_create(host=host, title="Reconnect test"))
    page = log_in(browser, web_server, "sam")
    join_space(page, web_server, space)
    off_loop(lambda: Participant.objects.filter(space=space, user=speaker).update(role=Role.SPEAKER))
    # A row changed behind the services' back takes no seq: a snapshot at the same seq may reuse the stage
    # encoded for it for up to ROOM_PART_MAX_AGE_S (rooms/snapshot.py, "the shared room part").
    time.sleep(ROOM_PART_MAX_AGE_S + 0.2)
    page.evaluate("window.SpacesPage.resync()")
    page.wait_for_selector('#stage li[data-user="sam"] .muted-icon[aria-label="unmuted"]')

    page.evaluate("window.SpacesPage.dropSocket()")
    # While the socket is down, the host mutes the speaker: the page learns it from the resync snapshot.
    off_loop(lambda: participant_mute(space_id=space.pk, actor=host, user_id=speaker.pk))
    wait_text(page, "#conn-status", "Connected", exact=True)
    page.wait_for_selector('#stage li[data-user="sam"] .muted-icon[aria-label="muted"]', timeout=15000)
    assert page.evaluate("window.location.pathname") == f"/spaces/{space.pk}"


def test_pages_render_in_a_real_browser(web_server: Server, browser: Any) -> None:
    off_loop(lambda: UserFactory(username="newbie"))
    context = browser.new_context(viewport={"width": 390, "height": 844})  # phone-sized
    page = context.new_page()
    page.goto(f"{web_server.http}/login")
    shot(page, "login")
    page.fill("#username", "newbie")
    page.fill("#password", "wrong-password-x")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#form-error:not([hidden])")
    assert "Wrong username or password" in page.inner_text("#form-error")
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{web_server.http}/")
    page.goto(f"{web_server.http}/spaces/new")
    page.wait_for_selector("#eligibility:not([hidden])")
    assert "600 followers" in page.inner_text("#eligibility")
    shot(page, "create-not-eligible")
    page.goto(f"{web_server.http}/admin/login/")  # Django admin's own pages run under the policy too
    page.wait_for_selector("#login-form")


def test_login_never_leaves_the_site_whatever_next_says(web_server: Server, browser: Any) -> None:
    off_loop(lambda: UserFactory(username="wanderer"))
    for target, lands_on in [
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/dashboard?tab=1", "/dashboard?tab=1"),
    ]:
        context = browser.new_context()
        context.route("**/*", lambda route: route.abort() if "evil.example" in route.request.url else route.continue_())
        page = context.new_page()
        page.goto(f"{web_server.http}/login")
        # What a page would hold had the server not cleaned ?next= (it does: tests/common/test_security.py).
        page.evaluate("t => { document.getElementById('login-form').dataset.next = t; }", target)
        page.fill("#username", "wanderer")
        page.fill("#password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(f"{web_server.http}{lands_on}", timeout=10000)
        context.close()


def test_buying_a_ticket_then_joining(web_server: Server, browser: Any, stripe_mock_url: str) -> None:
    import httpx

    from tests.tickets.conftest import make_host, make_ticketed_space, payment_succeeded, sign
    from tickets.models import Ticket

    space = off_loop(lambda: make_ticketed_space(host=make_host(), price_cents=1500, state="live"))
    buyer = off_loop(lambda: UserFactory(username="payer"))
    page = log_in(browser, web_server, "payer")
    page.goto(f"{web_server.http}/spaces/{space.pk}")
    page.click("#join-btn")
    wait_text(page, "#banner", "ticketed")
    page.click("#ticket-btn")
    wait_text(page, "#banner", "Seat held")
    shot(page, "ticket-held")

    ticket = off_loop(lambda: Ticket.objects.get(space=space, buyer=buyer))
    assert ticket.status == "held"
    payload = __import__("json").dumps(payment_succeeded(ticket))
    secret = os.environ["STRIPE_WEBHOOK_SECRET"]
    response = httpx.post(
        f"{web_server.http}/webhooks/stripe",
        content=payload,
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(payload, secret)},
    )
    assert response.status_code == 200, response.text
    wait_text(page, "#conn-status", "Connected", exact=True, timeout=20000)
    assert off_loop(lambda: Ticket.objects.get(pk=ticket.pk).status) == "paid"
