"""Hold every websocket event the suite sees to the catalogue (``spaces_project.realtime.events``).

Two places see events: services sending them (``tests/conftest.py`` wraps the catalogue's ``check``, so
every ``send_event_on_commit`` of any test is validated against its class), and test clients reading
frames from real servers (``tests/support/sockets.py``'s ``recv``: every frame is validated against the
JSON Schema the server publishes at ``/api/v1/events/schema``). An event its class does not describe
fails the test.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import jsonschema

from spaces_project.realtime import events as catalogue

# Off only for tests marked ``raw_frames``: transport probes that publish payloads straight to the
# transport (``spaces_project.realtime.publish.publish_on_commit``), outside the catalogue on purpose.
FRAMES_CHECKED = True


class EventViolation(AssertionError):
    """An event (or a frame) its class in the catalogue does not describe."""


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is not None and "T" in value


_formats = jsonschema.FormatChecker()
_formats.checks("date-time")(_is_datetime)


@functools.cache
def _validator(cls: type[catalogue.Event], delivered: bool) -> jsonschema.Draft202012Validator:
    defs: dict[str, Any] = {}
    schema = catalogue.envelope_schema(cls, defs, delivered=delivered)
    return jsonschema.Draft202012Validator({**schema, "$defs": defs}, format_checker=_formats)


def _errors(cls: type[catalogue.Event], envelope: dict[str, Any], delivered: bool) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(frame)'}: {e.message}"
        for e in _validator(cls, delivered).iter_errors(envelope)
    ]


def validate_sent(event: catalogue.Event) -> None:
    """An event a service sends: as its class declares it (before any coalescing by the hub)."""
    envelope = {
        "type": event.type,
        "seq": event.seq,
        "space": event.space_id,
        "ts": datetime.now().astimezone().isoformat(),
        "data": event.data(),
    }
    errors = _errors(type(event), envelope, delivered=False)
    if errors:
        raise EventViolation(f"{type(event).__name__} {envelope['data']!r} breaks its class: {'; '.join(errors)}")


def validate_frame(frame: Any) -> None:
    """A frame a socket received: one of the classes of its ``type``, as delivered."""
    if not FRAMES_CHECKED:
        return
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise EventViolation(f"not a frame: {frame!r}")
    classes = catalogue.classes_of(frame["type"])
    if not classes:
        raise EventViolation(f"{frame['type']!r} is not in the event catalogue: {frame!r}")
    failures = [(cls.__name__, _errors(cls, frame, delivered=True)) for cls in classes]
    if all(errors for _, errors in failures):
        detail = "; ".join(f"{name}: {', '.join(errors)}" for name, errors in failures)
        raise EventViolation(f"a {frame['type']!r} frame no class describes ({detail}): {frame!r}")
