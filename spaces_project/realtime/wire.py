"""The wire format: the frame envelope sockets get, close codes, and the message on a Redis channel.

A frame is ``{type, seq, space, ts, data}`` encoded as compact JSON (docs/protocol.md). A message on a
Space's or a user's Redis channel is one line of JSON header (audience, ``seq``, delivery instructions)
followed by the frame exactly as sockets get it: the publisher encodes the frame once, every server
process forwards the same bytes.
"""

from __future__ import annotations

import enum
import json
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

PROTOCOL_VERSION = 1

# Websocket close codes; docs/protocol.md lists them. Stable forever.
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_TICKET_REQUIRED = 4402
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408
CLOSE_NOT_LIVE = 4409
CLOSE_ENDED = 4410
CLOSE_FULL = 4429


class Audience(enum.StrEnum):
    ROOM = "room"  # everyone connected to the Space
    HOSTS = "hosts"  # the host team (host and co-hosts) of the Space
    USER = "user"  # one user's personal channel


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class Event:
    type: str
    space: int | None
    data: dict[str, Any]
    seq: int | None = None
    ts: str = field(default_factory=now_iso)

    def envelope(self) -> dict[str, Any]:
        return {"type": self.type, "seq": self.seq, "space": self.space, "ts": self.ts, "data": self.data}

    def encode(self) -> str:
        return json.dumps(self.envelope(), separators=(",", ":"), ensure_ascii=False)


def encode_frame(type_: str, space_id: int | None, seq: int | None, data: dict[str, Any]) -> str:
    """One encoded frame, stamped now (frames the server makes itself: counts, errors, pongs)."""
    envelope = {"type": type_, "seq": seq, "space": space_id, "ts": now_iso(), "data": data}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def error_frame(space_id: int | None, code: str, detail: str, extra: dict[str, Any] | None = None) -> str:
    """The ``error`` frame: the ``{code, detail, extra}`` shape of every API error."""
    return encode_frame("error", space_id, None, {"code": code, "detail": detail, "extra": extra or {}})


def channel_prefix() -> str:
    return str(getattr(settings, "SPACES_CHANNEL_PREFIX", "spaces"))


def space_channel(space_id: int) -> str:
    """The Redis pub/sub channel of one Space: one message per event, read once per server process."""
    return f"{channel_prefix()}:rt:space:{space_id}"


def user_channel(user_id: int) -> str:
    """The Redis pub/sub channel of one user's personal events (read by the processes holding their sockets)."""
    return f"{channel_prefix()}:rt:user:{user_id}"


def encode_message(header: dict[str, Any], frame: str) -> bytes:
    """Wire format on a Space channel: one line of JSON header, then the frame exactly as sockets get it."""
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + frame.encode()


def decode_message(raw: bytes) -> tuple[dict[str, Any], str]:
    head, _, frame = raw.partition(b"\n")
    return json.loads(head), frame.decode()


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented websocket text frame (RFC 6455 5.2) as a server sends it."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload
