"""A replay and a clip in a real headless Chromium (daphne serving the app, PostgreSQL): the replay
plays from the shared moment (the media element's time advances and a WebAudio analyser hears it),
jumping to a speaker seeks there, a clip is made from the page and its own page plays."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings

from rooms import audio
from rooms.models import Clip, Recording
from rooms.services import lifecycle, recordings
from tests.factories import HostFactory, UserFactory
from tests.support.browser import CHROMIUM_FLAGS, PASSWORD, off_loop, wait_js
from tests.support.servers import Server, server_database_url, start_server, stop_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LISTEN = """async () => {
  const el = document.querySelector('audio');
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  ctx.createMediaElementSource(el).connect(analyser);
  analyser.connect(ctx.destination);
  window.__peak = 0;
  const data = new Float32Array(analyser.fftSize);
  setInterval(() => {
    analyser.getFloatTimeDomainData(data);
    for (const v of data) window.__peak = Math.max(window.__peak, Math.abs(v));
  }, 50);
  await ctx.resume();
  await el.play();
}"""


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def replay_server(postgres_url: str, media: Path, tmp_path: Path) -> Iterator[Server]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=server_database_url(),
        SPACES_MEDIA_ROOT=str(media),
        SPACES_DISABLE_THROTTLING="1",
        SPACES_FAST_PASSWORD_HASHER="1",
        SPACES_CHANNEL_PREFIX=f"ch-{uuid.uuid4().hex[:8]}",
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
        try:
            yield instance
        finally:
            instance.close()


def _recorded_space() -> tuple[int, Any]:
    """An ended Space with an 8 s replay (a tone throughout) and two speakers in its timeline."""
    host, guest = HostFactory(), UserFactory()
    space = lifecycle.space_create(host=host, title="Replayed")
    recordings.recording_set(space_id=space.pk, actor=host, on=True)
    rec = Recording.objects.get(space=space)
    epoch = recordings.lease_acquire(space_id=space.pk, agent_id="a")
    assert epoch is not None
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(96000) / 48000)).astype(np.int16)
    for i in range(4):
        recordings.part_store(
            space_id=space.pk, agent_id="a", epoch=epoch, recording_id=rec.pk, start_ms=i * 2000,
            duration_ms=2000, data=audio.encode(tone),
        )  # fmt: skip
    recordings.segments_store(recording_id=rec.pk, segments=[(host.pk, 0, 3000), (guest.pk, 5000, 8000)])
    recordings.lease_release(space_id=space.pk, agent_id="a", epoch=epoch)
    lifecycle.space_end(space_id=space.pk, actor=host)
    recordings.recording_finalise(space_id=space.pk)  # (the end's on-commit task may have done it already)
    assert Recording.objects.get(pk=rec.pk).state == "ready"
    return space.pk, guest


def test_replay_plays_seeks_and_clips(browser, replay_server):
    space_id, guest = off_loop(_recorded_space)
    listener = off_loop(UserFactory)
    page = browser.new_context().new_page()
    page.goto(f"{replay_server.http}/login")
    page.fill("#username", listener.username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{replay_server.http}/")
    page.goto(f"{replay_server.http}/s/{space_id}?t=2")
    wait_js(page, "document.querySelector('#replay').readyState >= 1")
    page.evaluate(LISTEN)
    # it plays from the shared moment, and is heard
    wait_js(page, "document.querySelector('#replay').currentTime > 2.5")
    wait_js(page, "window.__peak > 0.05")
    # jump to the second speaker (5 s in the timeline)
    page.click("[data-seek='5.0']")
    wait_js(page, "(() => { const t = document.querySelector('#replay').currentTime; return t >= 5 && t < 6.5; })()")
    page.click("[data-rate='2']")
    assert page.evaluate("document.querySelector('#replay').playbackRate") == 2
    # clip 30 s from here (capped at the end of the recording), then open its page and play it
    page.evaluate("document.querySelector('#replay').pause()")
    page.click("#clip-here")
    page.wait_for_selector("#clip-link", timeout=15000)
    clip = off_loop(lambda: Clip.objects.get(space_id=space_id))
    assert clip.end_ms == 8000 and 5000 <= clip.start_ms < 8000 and clip.creator_id == listener.pk
    page.click("#clip-link")
    page.wait_for_url(f"{replay_server.http}/c/{clip.pk}")
    assert page.locator("meta[property='og:audio']").get_attribute("content").endswith(f"/api/v1/clips/{clip.pk}/audio")
    wait_js(page, "document.querySelector('#clip').readyState >= 1")
    page.evaluate(LISTEN)
    wait_js(page, "document.querySelector('#clip').currentTime > 0.3")
    wait_js(page, "window.__peak > 0.05")
    assert guest is not None
