"""The web client in a real headless Chromium against the real stack: daphne, Redis, PostgreSQL and
livekit-server, with Chromium's fake microphone. What LiveKit really carries is checked through its
server API, not through the page."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from rooms import livekit_client
from rooms.models import Space
from rooms.services import space_create
from tests.factories import HostFactory, UserFactory
from tests.support.browser import (  # noqa: F401 - the shared helpers other modules imported from here
    CHROMIUM_FLAGS,
    PASSWORD,
    SCREENSHOTS,
    eventually,
    log_in,
    off_loop,
    wait_js,
    wait_text,
)
from tests.support.servers import Server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


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

    from tests.support.builders import make_host, make_ticketed_space
    from tests.support.stripe import payment_succeeded, sign
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
