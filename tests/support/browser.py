"""Headless Chromium against a real server: the ``browser`` and ``web_server`` fixtures (registered from
tests/conftest.py; tests using ``browser`` carry the ``browser`` marker) and the page helpers.

CSP forbids Playwright's ``wait_for_function`` (it evals a string in the page): use ``wait_text`` and
``wait_js``. ``off_loop`` runs ORM code outside Playwright's event loop.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from tests.support.servers import Server, server_environment, start_server, stop_server

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
    """daphne on the test database, Redis and the shared livekit-server, for one test."""
    prefix = f"b{uuid.uuid4().hex[:8]}-"
    settings.LIVEKIT_ROOM_PREFIX = prefix
    env = server_environment(f"ch-{prefix}", LIVEKIT_ROOM_PREFIX=prefix)
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
