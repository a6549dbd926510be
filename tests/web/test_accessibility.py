"""Accessibility in a real Chromium: axe-core (npm, injected by the test from frontend/node_modules, never
served to users) finds no serious or critical violation on any page; the pages reflow without horizontal
scrolling on a phone and at 200 % zoom; the Space page works from the keyboard and announces stage
changes and hand-raise results in a live region."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from rest_framework.authtoken.models import Token

from rooms.models import Space, SpaceState
from rooms.services import space_create
from tests.factories import HostFactory, UserFactory
from tests.support.browser import PASSWORD, SCREENSHOTS, off_loop, wait_text
from tests.support.servers import Server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parents[2] / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
# Desktop, a phone, and a 1280 px window at 200 % zoom (the CSS viewport halves).
VIEWPORTS = {"desktop": (1100, 850), "phone": (390, 844), "zoom200": (640, 400)}


def axe_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, { resultTypes: ['violations'] })")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5], "help": v["help"]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def overflows(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"))


def context_for(browser: Any, server: Server, viewport: tuple[int, int], username: str | None) -> Any:
    # bypass_csp: the test injects axe-core inline; the site's Content-Security-Policy rightly forbids that.
    width, height = viewport
    context = browser.new_context(
        viewport={"width": width, "height": height}, bypass_csp=True, permissions=["microphone"]
    )
    page = context.new_page()
    if username:
        page.goto(f"{server.http}/login")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        page.press("#password", "Enter")
        page.wait_for_url(f"{server.http}/")
    return page


def test_every_page_has_no_serious_axe_violation_and_reflows(web_server: Server, browser: Any) -> None:
    host = off_loop(lambda: HostFactory(username="axehost", display_name="Axe Host"))
    off_loop(lambda: UserFactory(username="axeuser"))
    live = off_loop(lambda: space_create(host=host, title="Accessible live Space", topics=["a11y"]))
    ended = off_loop(lambda: Space.objects.create(host=host, title="Over", state=SpaceState.ENDED))
    anonymous = {"login": "/login", "signup": "/signup", "share": f"/s/{live.pk}", "share-ended": f"/s/{ended.pk}"}
    signed_in = {
        "home": "/",
        "create": "/spaces/new",
        "space": f"/spaces/{live.pk}",
        "profile": "/u/axehost",
        "dashboard": "/dashboard",
    }
    found: dict[str, Any] = {}
    for name, viewport in VIEWPORTS.items():
        for who, paths in ((None, anonymous), ("axeuser", signed_in)):
            page = context_for(browser, web_server, viewport, who)
            for label, path in paths.items():
                page.goto(f"{web_server.http}{path}")
                page.wait_for_load_state("networkidle")
                if label == "space":
                    page.click("#join-btn")
                    wait_text(page, "#conn-status", "Connected", exact=True)
                    page.wait_for_selector("#controls:not([hidden])")
                violations = axe_violations(page)
                if violations:
                    found[f"{label}@{name}"] = violations
                if name != "desktop" and overflows(page):
                    found[f"{label}@{name}"] = [*found.get(f"{label}@{name}", []), "scrolls sideways"]
                if label == "home" and name == "desktop":
                    # Follows nobody: the first visit shows what is popular, not an empty row.
                    page.wait_for_selector("#live-now a.bubble")
                    assert "Accessible live Space" in page.inner_text("#live-now")
                    assert "axehost" in page.inner_text("#hosts")
                if name == "phone" and label in ("home", "space"):
                    page.screenshot(path=str(SCREENSHOTS / f"a11y-{label}-phone.png"))
            page.context.close()
    for where, problems in found.items():
        print(where, problems)
    assert not found, found


def test_the_space_page_works_from_the_keyboard_and_announces_stage_changes(
    web_server: Server,
    browser: Any,
) -> None:
    host = off_loop(lambda: HostFactory(username="kbhost"))
    off_loop(lambda: UserFactory(username="kbuser"))
    space = off_loop(lambda: space_create(host=host, title="Keyboard"))
    page = context_for(browser, web_server, VIEWPORTS["desktop"], "kbuser")
    page.goto(f"{web_server.http}/spaces/{space.pk}")

    def tab_to(selector: str) -> None:
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate(f"document.activeElement === document.querySelector('{selector}')"):
                return
        raise AssertionError(f"{selector} is not reachable with Tab")

    tab_to("#join-btn")
    page.keyboard.press("Enter")
    wait_text(page, "#conn-status", "Connected", exact=True)
    page.wait_for_selector("#hand-btn:not([hidden])")
    tab_to("#hand-btn")
    page.keyboard.press("Space")
    page.wait_for_selector('#hand-btn[aria-pressed="true"]')
    tab_to("#cant-hear-btn")

    # The host answers through the API (its events reach the page through daphne's channel layer).
    token = off_loop(lambda: Token.objects.get_or_create(user=host)[0].key)

    def host_does(action: str) -> None:
        response = httpx.post(
            f"{web_server.http}/api/v1/spaces/{space.pk}/hands/kbuser/{action}",
            headers={"Authorization": f"Token {token}"},
        )
        assert response.status_code in (200, 204), response.text

    host_does("decline")
    wait_text(page, "#announcer", "declined", timeout=15000)
    page.wait_for_selector('#hand-btn[aria-pressed="false"]')
    tab_to("#hand-btn")
    page.keyboard.press("Enter")
    page.wait_for_selector('#hand-btn[aria-pressed="true"]')
    host_does("approve")
    wait_text(page, "#announcer", "You are on stage now", timeout=15000)
    assert page.get_attribute("#announcer", "aria-live") == "polite"
