"""The hub frames a message once for every socket: the bytes must be what a websocket server sends."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from spaces_project.realtime.hub import text_frame


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_text_frame_matches_the_websockets_serializer(size: int) -> None:
    payload = ("é" * size).encode()[:size]
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
    assert text_frame(payload) == expected
