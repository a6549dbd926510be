"""The replay page's transcript in a real headless Chromium: the lines are listed, clicking one seeks
the replay there, and the caption of the moment is shown in a live region while it plays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rooms.models import CaptionLine, Recording
from tests.factories import UserFactory
from tests.support.browser import PASSWORD, off_loop, wait_js, wait_text
from tests.web.test_replay_browser import _recorded_space, browser, replay_server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def media(tmp_path: Path, settings: Any) -> Path:
    """MEDIA_ROOT through pytest-django's ``settings``: its change signal resets ``default_storage``'s
    cached location, so the next test's media directory is really used (and this one is undone)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


def _transcribed() -> int:
    space_id, guest = _recorded_space()
    recording = Recording.objects.get(space_id=space_id)
    CaptionLine.objects.create(
        recording=recording, space_id=space_id, user=recording.space.host, start_ms=500, end_ms=2500,
        text="Welcome to the replay",
    )  # fmt: skip
    CaptionLine.objects.create(
        recording=recording, space_id=space_id, user=guest, start_ms=5000, end_ms=7500, text="Ripe mangoes at five"
    )
    return space_id


def test_transcript_lists_lines_seeks_and_captions(browser, replay_server):  # noqa: F811
    space_id = off_loop(_transcribed)
    listener = off_loop(UserFactory)
    page = browser.new_context().new_page()
    page.goto(f"{replay_server.http}/login")
    page.fill("#username", listener.username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{replay_server.http}/")
    page.goto(f"{replay_server.http}/s/{space_id}")
    page.wait_for_selector("section.transcript li", timeout=15000)
    items = page.locator("section.transcript li button")
    assert items.count() == 2 and "Ripe mangoes at five" in items.nth(1).inner_text()
    page.evaluate("document.querySelector('#replay').muted = true")
    items.nth(1).click()
    wait_js(page, "(() => { const t = document.querySelector('#replay').currentTime; return t >= 5 && t < 7.5; })()")
    wait_text(page, "section.transcript [aria-live]", "Ripe mangoes", timeout=15000)
    assert page.locator("section.transcript li[aria-current='true']").inner_text().endswith("Ripe mangoes at five")


def test_live_captions_on_the_space_page_are_accessible_and_keyboard_operable(web_server, browser, settings):  # noqa: F811
    """The Space page with live captions showing (toggle on, final lines in the ARIA live region, a
    partial below): axe-core finds no serious or critical violation at desktop size and at 200 % zoom,
    nothing scrolls sideways at 200 %, and the viewer's toggle works from the keyboard."""
    from rooms.models import Participant, Role
    from rooms.services import captions, space_create
    from tests.factories import HostFactory
    from tests.web.test_accessibility import VIEWPORTS, axe_violations, context_for, overflows

    # The captions are published from this process (as the agent would): on the server's channels.
    settings.SPACES_CHANNEL_PREFIX = f"ch-{settings.LIVEKIT_ROOM_PREFIX}"
    host = off_loop(lambda: HostFactory(username="caphost"))
    speaker = off_loop(lambda: UserFactory(username="capspeaker", display_name="Ada Speaker"))
    off_loop(lambda: UserFactory(username="capviewer"))
    space = off_loop(lambda: space_create(host=host, title="Captioned live Space"))
    off_loop(lambda: Participant.objects.create(space=space, user=speaker, role=Role.SPEAKER, is_connected=True))
    off_loop(lambda: captions.captions_set(space_id=space.pk, actor=host, on=True))
    lines = [
        "Welcome everyone, this Space is captioned live.",
        "Captions appear here as each phrase ends, with the speaker's name before them.",
    ]
    found: dict[str, Any] = {}
    for name in ("desktop", "zoom200"):
        page = context_for(browser, web_server, VIEWPORTS[name], "capviewer")
        page.goto(f"{web_server.http}/spaces/{space.pk}")
        page.click("#join-btn")
        wait_text(page, "#conn-status", "Connected", exact=True)
        page.wait_for_selector('#captions-toggle[aria-pressed="true"]')
        for i, text in enumerate(lines, 1):
            sent = off_loop(
                lambda text=text, i=i: captions.caption_publish(
                    space_id=space.pk, user_id=speaker.pk, phrase=i + 10 * len(found), start_ms=i * 1000,
                    end_ms=i * 1000 + 900, text=text, final=True,
                )
            )  # fmt: skip
            assert sent
        off_loop(
            lambda: captions.caption_publish(
                space_id=space.pk, user_id=speaker.pk, phrase=99, start_ms=5000, end_ms=6000,
                text="and a partial caption still", final=False,
            )
        )  # fmt: skip
        wait_text(page, "#captions-lines", lines[1], timeout=15000)
        wait_text(page, "#captions-partial", "partial caption", timeout=15000)
        assert "Ada Speaker" in page.inner_text("#captions-lines")
        assert page.get_attribute("#captions-lines", "aria-live") == "polite"
        assert page.get_attribute("#captions-lines", "role") == "log"
        found[name] = axe_violations(page)
        if name == "zoom200" and overflows(page):
            found[name] = [*found[name], "scrolls sideways"]
        if name == "desktop":
            # The viewer's toggle, from the keyboard: focus it with Tab, Enter hides, Space shows again.
            for _ in range(40):
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement === document.querySelector('#captions-toggle')"):
                    break
            else:
                raise AssertionError("#captions-toggle is not reachable with Tab")
            page.keyboard.press("Enter")
            page.wait_for_selector('#captions-toggle[aria-pressed="false"]')
            assert page.locator("#captions-lines").is_hidden()
            page.keyboard.press("Space")
            page.wait_for_selector('#captions-toggle[aria-pressed="true"]')
            assert page.locator("#captions-lines").is_visible() and lines[1] in page.inner_text("#captions-lines")
        page.context.close()
    assert not any(found.values()), found
