"""Websocket clients for tests against real server processes: open, read frames, wait for a close, call the
REST API, run ORM code off the event loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
from django.db import connection
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.event_conformance import validate_frame


async def open_ws(url: str, token: str | None = None) -> ClientConnection:
    headers = {"Authorization": f"Token {token}"} if token else None
    return await connect(url, additional_headers=headers, proxy=None, open_timeout=10)


async def recv(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The next frame, checked against the event catalogue (``tests/event_conformance.py``)."""
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    validate_frame(frame)
    return frame


async def recv_until(ws: ClientConnection, type_: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next frame of ``type_``, skipping others (e.g. ``listeners.count``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await recv(ws, max(0.01, deadline - loop.time()))
        if frame["type"] == type_:
            return frame


async def frames_for(ws: ClientConnection, seconds: float, skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every frame received within ``seconds`` (for asserting what did *not* arrive)."""
    frames: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            frame = await recv(ws, left)
        except (TimeoutError, ConnectionClosed):
            break
        if frame["type"] not in skip:
            frames.append(frame)
    return frames


async def close_code(ws: ClientConnection, timeout: float = 5.0) -> tuple[int | None, str | None]:
    """Wait for the server to close the socket; its (code, reason)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except ConnectionClosed as closed:
        return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, None)


async def refusal(ws: ClientConnection) -> tuple[int | None, str]:
    """A refused socket: (close code, the ``error`` frame's code sent before it)."""
    error = await recv(ws)
    assert error["type"] == "error", error
    code, reason = await close_code(ws)
    assert reason in ("", error["data"]["code"])  # daphne drops close reasons; uvicorn sends the code
    return code, error["data"]["code"]


async def in_thread(fn: Callable[[], Any]) -> Any:
    """Run ORM code (its own committed transaction) from a test's event loop."""

    def run() -> Any:
        try:
            return fn()
        finally:
            connection.close()

    return await asyncio.to_thread(run)


async def api(method: str, url: str, token: str, json_body: dict[str, Any] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        return await client.request(method, url, json=json_body, headers={"Authorization": f"Token {token}"})
