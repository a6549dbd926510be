"""The catalogue of websocket events: typed event classes, their registry, and the one way to send them.

Every frame a client can receive is a class here or in an app's ``events.py`` (``rooms/events.py``,
``accounts/events.py``): its ``type``, its fields (dataclass fields; nested shapes are TypedDicts), who
gets it (:class:`Audience`), whether it takes a new ``seq`` (:class:`Seq`), who produces it
(:class:`Origin`) and its delivery rules (:class:`CloseSockets`, :class:`Coalesce`). Subclassing one of
the audience bases registers a class that names a ``type``; this package imports no app, the apps'
``events`` modules are found the way Django's admin finds ``admin`` modules.

Services call :func:`send_event_on_commit` inside their transaction::

    send_event_on_commit(events.HandLowered(space_id=space.pk, seq=space.seq, user_id=user.pk))

The event is checked against its class's rules (registered, ``seq`` as its rule says, recipients named)
and handed to the transport, which sends it once the transaction commits (never if it rolls back).

:func:`json_schema` publishes the catalogue as JSON Schema (served at ``/api/v1/events/schema``);
``docs/protocol.md`` lists the same types, and the suite checks both, and every event it sees, against
these classes (``tests/realtime/test_catalogue.py``, ``tests/conftest.py``).
"""

from __future__ import annotations

import dataclasses
import enum
import threading
import types
import typing
from collections.abc import Iterator
from typing import Any, ClassVar, Literal, get_args, get_origin, get_type_hints

from spaces_project.realtime import publish as transport
from spaces_project.realtime import rules, wire

SCHEMA_ID = "/api/v1/events/schema"


class Audience(enum.StrEnum):
    ROOM = "room"  # every socket of the Space
    HOSTS = "hosts"  # the host team (host and co-hosts) of the Space, resolved when the transaction commits
    USER = "user"  # every socket of the named users (whatever their Space)
    SOCKET = "socket"  # one socket: an answer to that socket only (snapshot, pong, error)


class Seq(enum.StrEnum):
    NEXT = "next"  # takes the Space's next number in the transaction of the change (clients check gaps)
    CURRENT = "current"  # carries the Space's current number without taking one
    NONE = "none"  # ``null``


class Origin(enum.StrEnum):
    SERVICE = "service"  # sent by a service through send_event_on_commit
    HUB = "hub"  # made by each process's hub (coalesced counts, reaction sums)
    SOCKET = "socket"  # written by the socket itself (snapshot, pong, error)


class Unset(enum.Enum):
    """A field left out of ``data`` (``space.updated`` carries the changed fields only)."""

    UNSET = "unset"


UNSET = Unset.UNSET


@dataclasses.dataclass(frozen=True)
class Format:
    """A JSON Schema ``format`` for a string field: ``Annotated[str, Format("date-time")]``."""

    name: str


Timestamp = typing.Annotated[str, Format("date-time")]  # UTC, ISO 8601


@dataclasses.dataclass(frozen=True)
class CloseSockets:
    """Delivery rule: after the frame, close sockets of the Space with ``code``/``reason``: all of them,
    or only those of the user named by the data field ``user_field``."""

    code: int
    reason: str
    user_field: str | None = None


@dataclasses.dataclass(frozen=True)
class Coalesce:
    """Delivery rule: the hub sums these per Space over ``window_s`` and sends one frame of the shape
    ``delivered`` (a TypedDict) instead: sockets never see the events one by one."""

    key: str  # the data field counted
    window_s: float
    delivered: Any


# --- the classes ------------------------------------------------------------------------------------

_registry: dict[str, list[type[Event]]] = {}
_registry_lock = threading.Lock()
_discovered = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event:
    """A websocket event. Subclass an audience base (:class:`RoomEvent`, :class:`HostTeamEvent`,
    :class:`UserEvent`, :class:`SocketFrame`) as a frozen, keyword-only dataclass naming ``type``."""

    type: ClassVar[str]
    audience: ClassVar[Audience]
    seq_rule: ClassVar[Seq]
    origin: ClassVar[Origin] = Origin.SERVICE
    close: ClassVar[CloseSockets | None] = None
    coalesce: ClassVar[Coalesce | None] = None
    route_fields: ClassVar[tuple[str, ...]] = ("space_id", "seq")
    echo: ClassVar[tuple[str, ...]] = ()  # routing fields that are also in ``data``

    space_id: int | None
    seq: int | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type" in cls.__dict__:
            register(cls)

    def data(self) -> dict[str, Any]:
        """The frame's ``data``: the declared fields in order, without routing and unset ones."""
        return {
            f.name: value
            for f in dataclasses.fields(self)
            if (f.name not in self.route_fields or f.name in self.echo)
            and (value := getattr(self, f.name)) is not UNSET
        }

    def recipients(self) -> list[int]:
        return []


@dataclasses.dataclass(frozen=True, kw_only=True)
class RoomEvent(Event):
    audience = Audience.ROOM
    seq_rule = Seq.NEXT
    space_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class HostTeamEvent(Event):
    audience = Audience.HOSTS
    seq_rule = Seq.CURRENT
    space_id: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class UserEvent(Event):
    """A personal event: ``user_ids`` names every recipient explicitly."""

    audience = Audience.USER
    seq_rule = Seq.CURRENT
    route_fields = ("space_id", "seq", "user_ids")
    user_ids: tuple[int, ...]

    def recipients(self) -> list[int]:
        return list(self.user_ids)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SocketFrame(Event):
    """A frame one socket writes for itself (never sent through :func:`send_event_on_commit`)."""

    audience = Audience.SOCKET
    seq_rule = Seq.NONE
    origin = Origin.SOCKET


def register(cls: type[Event]) -> None:
    """Add an event class to the catalogue (done by subclassing; one class per type and audience)."""
    with _registry_lock:
        classes = _registry.setdefault(cls.type, [])
        for known in list(classes):
            if known.__qualname__ == cls.__qualname__ and known.__module__ == cls.__module__:
                classes.remove(known)  # the same class defined again (a module reloaded)
            elif known.audience == cls.audience:
                raise ValueError(f"{cls.type!r} to {cls.audience} is already {known.__qualname__}")
        classes.append(cls)


def _discover() -> None:
    global _discovered
    if not _discovered:
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("events")
        _discovered = True


def catalogue() -> dict[str, list[type[Event]]]:
    """Every event type and its classes (one per audience), with every app's ``events`` module loaded."""
    _discover()
    with _registry_lock:
        return {name: list(classes) for name, classes in sorted(_registry.items())}


def classes_of(type_: str) -> list[type[Event]]:
    return catalogue().get(type_, [])


# --- frames of the socket itself ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Error(SocketFrame):
    """A refused socket (then closed) or an unusable client frame (the socket stays open): ``code`` is
    stable (the REST API's codes, ``invalid_frame``); ``extra`` carries context when there is any."""

    type = "error"
    code: str
    detail: str
    extra: dict[str, Any] | Unset = UNSET


@dataclasses.dataclass(frozen=True, kw_only=True)
class Pong(SocketFrame):
    """The answer to ``{"action": "ping"}``."""

    type = "pong"
    space_id: int


# --- sending ----------------------------------------------------------------------------------------


class EventRuleError(ValueError):
    """An event that breaks its class's rules (a programming error, raised where it is sent)."""


def check(event: Event) -> None:
    """Raise :class:`EventRuleError` unless ``event`` may be sent as it is."""
    cls = type(event)
    if cls not in _registry.get(getattr(cls, "type", ""), []):
        raise EventRuleError(f"{cls.__qualname__} is not a registered event class")
    if cls.origin is not Origin.SERVICE:
        raise EventRuleError(f"{cls.type!r} is written by the {cls.origin}, not sent by a service")
    if (cls.seq_rule is Seq.NONE) != (event.seq is None):
        raise EventRuleError(f"{cls.type!r} takes seq {cls.seq_rule}, got {event.seq!r}")
    if cls.audience is not Audience.USER and event.space_id is None:
        raise EventRuleError(f"{cls.type!r} to {cls.audience} needs a space_id")
    if cls.audience is Audience.USER and not event.recipients():
        raise EventRuleError(f"{cls.type!r} names no recipient")


def _close_rule(close: CloseSockets) -> rules.CloseRule:
    def rule(data: dict[str, Any]) -> rules.Close | None:
        if close.user_field is None:
            return rules.Close(close.code, close.reason)
        target = data.get(close.user_field)
        return rules.Close(close.code, close.reason, users=[target]) if isinstance(target, int) else None

    return rule


def delivery_rules_register() -> None:
    """Tell the realtime layer the catalogue's delivery rules (``close``, ``coalesce``), keyed by type: the
    classes are their one source. Called from ``AppConfig.ready`` (rooms/realtime.py), once apps load."""
    for type_, classes in catalogue().items():
        for cls in classes:
            if cls.close is not None:
                rules.register_close(type_, _close_rule(cls.close))
            if cls.coalesce is not None:
                rules.register_coalesced(type_, field=cls.coalesce.key, window_s=cls.coalesce.window_s)


def send_event_on_commit(event: Event) -> wire.Event:
    """Check ``event`` and queue it for its audience, sent once the current transaction commits.

    Room events carry the ``seq`` their service took in this transaction; host-team events go to the
    host team as it is at commit; personal events to ``user_ids``. Returns the envelope to be sent.
    """
    check(event)
    return transport.publish_on_commit(
        type=event.type,
        data=event.data(),
        space_id=event.space_id,
        audience=wire.Audience(str(event.audience)),
        user_ids=event.recipients(),
        seq=event.seq,
    )


# --- JSON Schema ----------------------------------------------------------------------------------


def _is_typed_dict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def type_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of one Python type as the fields of event classes use them."""
    origin = get_origin(tp)
    if origin is typing.Annotated:
        base, *meta = get_args(tp)
        schema = type_schema(base, defs)
        for item in meta:
            if isinstance(item, Format):
                schema["format"] = item.name
        return schema
    if origin in (typing.Union, types.UnionType):
        return _union_schema(tp, defs)
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if origin in (list, tuple):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return {"type": "array", "items": type_schema(args[0], defs) if args else {}}
    if origin is dict:
        _key, value = get_args(tp)
        return {"type": "object", "additionalProperties": type_schema(value, defs)}
    if _is_typed_dict(tp):
        return _typed_dict_schema(tp, defs)
    simple = {int: "integer", str: "string", bool: "boolean", float: "number", type(None): "null", dict: "object"}
    if tp in simple:
        return {"type": simple[tp]}
    if tp is Any:
        return {}
    raise TypeError(f"no JSON Schema for {tp!r}")


def _union_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    options = [a for a in get_args(tp) if a is not Unset]
    if len(options) == 1:
        return type_schema(options[0], defs)
    schemas = [type_schema(a, defs) for a in options]
    if all(list(s) == ["type"] and isinstance(s["type"], str) for s in schemas):
        return {"type": [s["type"] for s in schemas]}  # e.g. ["integer", "null"]
    return {"anyOf": schemas}


def _typed_dict_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """A TypedDict is one named shape in ``$defs`` (the stage member, the snapshot's parts)."""
    name = tp.__name__
    if name not in defs:
        defs[name] = {}  # recursion guard
        hints = get_type_hints(tp, include_extras=True)
        defs[name] = {
            "type": "object",
            "properties": {key: type_schema(value, defs) for key, value in hints.items()},
            "required": [key for key in hints if key in tp.__required_keys__],
            "additionalProperties": False,
        }
    return {"$ref": f"#/$defs/{name}"}


def data_fields(cls: type[Event]) -> Iterator[tuple[str, Any, bool]]:
    """(name, type, required) of each ``data`` field of an event class, in order."""
    hints = get_type_hints(cls, include_extras=True)
    for f in dataclasses.fields(cls):
        if f.name in cls.route_fields and f.name not in cls.echo:
            continue
        tp = hints[f.name]
        optional = f.default is UNSET or (get_origin(tp) in (typing.Union, types.UnionType) and Unset in get_args(tp))
        yield f.name, tp, not optional


def data_schema(cls: type[Event], defs: dict[str, Any], *, delivered: bool = True) -> dict[str, Any]:
    """The schema of ``data``; for a coalesced event, what sockets receive unless ``delivered`` is False."""
    if delivered and cls.coalesce is not None:
        return type_schema(cls.coalesce.delivered, defs)
    fields = list(data_fields(cls))
    return {
        "type": "object",
        "properties": {name: type_schema(tp, defs) for name, tp, _ in fields},
        "required": [name for name, _, required in fields if required],
        "additionalProperties": False,
    }


def envelope_schema(cls: type[Event], defs: dict[str, Any], *, delivered: bool = True) -> dict[str, Any]:
    """The schema of a whole frame of ``cls``, with the class's rules as ``x-`` annotations."""
    hints = get_type_hints(cls, include_extras=True)
    seq: dict[str, Any] = {"type": "null"} if cls.seq_rule is Seq.NONE else {"type": "integer"}
    schema: dict[str, Any] = {
        "title": cls.__name__,
        "description": (cls.__doc__ or "").strip(),
        "type": "object",
        "properties": {
            "type": {"const": cls.type},
            "seq": seq,
            "space": type_schema(hints["space_id"], defs),
            "ts": {"type": "string", "format": "date-time"},
            "data": data_schema(cls, defs, delivered=delivered),
        },
        "required": ["type", "seq", "space", "ts", "data"],
        "additionalProperties": False,
        "x-audience": str(cls.audience),
        "x-seq": str(cls.seq_rule),
        "x-origin": str(cls.origin),
    }
    if cls.close is not None:
        schema["x-close"] = dataclasses.asdict(cls.close)
    if cls.coalesce is not None:
        schema["x-coalesce"] = {"key": cls.coalesce.key, "window_s": cls.coalesce.window_s}
    return schema


def json_schema() -> dict[str, Any]:
    """The whole catalogue as one JSON Schema (2020-12) document: a frame is one of ``$defs``."""
    defs: dict[str, Any] = {}
    frames: dict[str, Any] = {}
    for classes in catalogue().values():
        for cls in classes:
            frames[cls.__name__] = envelope_schema(cls, defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Spaces websocket frames",
        "description": "Every frame the server sends on /ws/spaces/{id}/ (docs/protocol.md).",
        "x-protocol-version": wire.PROTOCOL_VERSION,
        "oneOf": [{"$ref": f"#/$defs/{name}"} for name in frames],
        "$defs": {**defs, **frames},
    }
