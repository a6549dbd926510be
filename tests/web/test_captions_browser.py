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
