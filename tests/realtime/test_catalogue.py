"""The event catalogue: documented in docs/protocol.md, served as JSON Schema, enforced where events are sent."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest
from django.db import transaction
from rest_framework.test import APIClient

from accounts.events import Notification, NotificationKindName
from moderation.models import NoticeKind
from rooms import events
from rooms.models import NotificationKind
from spaces_project.realtime import events as catalogue
from spaces_project.realtime import publish as realtime
from spaces_project.realtime.wire import decode_message
from tests.event_conformance import EventViolation, validate_frame, validate_sent

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "docs" / "protocol.md"


def _documented_rows() -> dict[str, list[str]]:
    """``{type: [rows of the "Event types" table naming it]}``."""
    text = PROTOCOL.read_text()
    section = text.split("### Event types", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first = line.split("|")[1]
        for name in re.findall(r"`([^`]+)`", first):
            rows.setdefault(name, []).append(line)
    return rows


def test_every_event_type_is_documented_and_every_documented_type_exists() -> None:
    documented = set(_documented_rows())
    known = set(catalogue.catalogue())
    assert known - documented == set(), "event types missing from docs/protocol.md"
    assert documented - known == set(), "docs/protocol.md lists event types that no longer exist"
    assert {"invite.answered", "message.received"} <= documented


def test_every_field_of_every_event_is_documented_with_its_type() -> None:
    rows = _documented_rows()
    missing = []
    for type_, classes in catalogue.catalogue().items():
        text = " ".join(rows[type_])
        for cls in classes:
            for name, _tp, _required in catalogue.data_fields(cls):
                if f"`{name}`" not in text:
                    missing.append(f"{type_}: {name}")
    assert missing == []


def test_each_type_has_one_class_per_audience_with_its_rules() -> None:
    for type_, classes in catalogue.catalogue().items():
        audiences = [cls.audience for cls in classes]
        assert len(audiences) == len(set(audiences)), type_
    assert catalogue.classes_of("space.ended")[0].close == catalogue.CloseSockets(code=4410, reason="space_ended")
    assert events.ParticipantRemoved.close is not None and events.ParticipantRemoved.close.user_field == "user_id"
    assert events.Reaction.coalesce is not None and events.Reaction.origin is catalogue.Origin.SERVICE
    assert events.ListenersCount.origin is catalogue.Origin.HUB


def test_one_notification_shape_covers_every_kind_its_producers_send() -> None:
    kinds = set(get_args(NotificationKindName))
    assert {k.value for k in NotificationKind} <= kinds
    assert {k.value for k in NoticeKind} <= kinds
    assert catalogue.classes_of("notification") == [Notification]
    fields = [name for name, _tp, required in catalogue.data_fields(Notification) if required]
    assert fields[:3] == ["space_id", "kind", "text"]
    assert len(fields) == len(list(catalogue.data_fields(Notification)))  # every key always present


@pytest.mark.django_db
def test_the_catalogue_is_served_as_json_schema() -> None:
    response = APIClient().get("/api/v1/events/schema")
    assert response.status_code == 200
    schema = response.json()
    assert schema == catalogue.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    titles = {
        d["properties"]["type"]["const"]
        for d in schema["$defs"].values()
        if "properties" in d and "ts" in d["properties"]
    }
    assert titles == set(catalogue.catalogue())
    frame = {
        "type": "participant.muted",
        "seq": 4,
        "space": 7,
        "ts": "2026-11-25T16:10:00.123456+00:00",
        "data": {"user_ids": [3], "by": 2},
    }
    jsonschema.Draft202012Validator(schema).validate(frame)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate({**frame, "data": {"user_ids": "3", "by": 2}})


def test_a_frame_the_catalogue_does_not_describe_fails() -> None:
    good = {"type": "hand.lowered", "seq": 3, "space": 1, "ts": "2026-11-25T16:10:00+00:00", "data": {"user_id": 9}}
    validate_frame(good)
    with pytest.raises(EventViolation, match="user_id"):
        validate_frame({**good, "data": {}})
    with pytest.raises(EventViolation, match="not in the event catalogue"):
        validate_frame({**good, "type": "hand.waved"})
    with pytest.raises(EventViolation):
        validate_frame({**good, "ts": "yesterday"})
    # a coalesced event: sockets get the sums, never the single reaction
    reaction = {"type": "reaction", "seq": 3, "space": 1, "ts": good["ts"], "data": {"counts": {"🔥": 2}}}
    validate_frame(reaction)
    with pytest.raises(EventViolation):
        validate_frame({**reaction, "data": {"emoji": "🔥", "user_id": 1}})


def test_an_event_that_breaks_its_class_fails() -> None:
    validate_sent(events.HandLowered(space_id=1, seq=2, user_id=3))
    with pytest.raises(EventViolation, match="user_id"):
        validate_sent(events.HandLowered(space_id=1, seq=2, user_id="3"))  # type: ignore[arg-type]
    with pytest.raises(EventViolation, match="kind"):
        validate_sent(Notification(space_id=None, user_ids=(1,), kind="surprise", text="x"))  # type: ignore[arg-type]


@pytest.mark.django_db
def test_send_event_on_commit_refuses_what_its_class_does_not_allow() -> None:
    with pytest.raises(catalogue.EventRuleError, match="seq"):
        catalogue.send_event_on_commit(events.SpaceStarted(space_id=1, seq=None, started_at="x"))
    with pytest.raises(catalogue.EventRuleError, match="seq"):
        catalogue.send_event_on_commit(Notification(space_id=None, seq=4, user_ids=(1,), kind="warning", text="x"))
    with pytest.raises(catalogue.EventRuleError, match="recipient"):
        catalogue.send_event_on_commit(Notification(space_id=None, user_ids=(), kind="warning", text="x"))
    with pytest.raises(catalogue.EventRuleError, match="hub"):
        catalogue.send_event_on_commit(events.ListenersCount(space_id=1, seq=1, count=3))
    with pytest.raises(catalogue.EventRuleError, match="socket"):
        catalogue.send_event_on_commit(catalogue.Pong(space_id=1))


@pytest.mark.django_db(transaction=True)
def test_delivery_rules_travel_with_the_event_to_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    published: list[tuple[dict[str, Any], str]] = []
    monkeypatch.setattr(realtime, "publish_message", lambda channel, raw: published.append(decode_message(raw)))
    with transaction.atomic():
        catalogue.send_event_on_commit(
            events.SpaceEnded(space_id=5, seq=9, reason="", ended_at="2026-12-01T01:00:00+00:00")
        )
        catalogue.send_event_on_commit(events.ParticipantRemoved(space_id=5, seq=10, user_id=8, by=None))
        catalogue.send_event_on_commit(events.Reaction(space_id=5, seq=10, emoji="🔥", user_id=8))
        catalogue.send_event_on_commit(events.ParticipantMuted(space_id=5, seq=11, user_ids=[8], by=2))
        assert published == []  # nothing before commit
    assert [header for header, _frame in published] == [
        {"a": "room", "seq": 9, "close": {"code": 4410, "reason": "space_ended"}},
        {"a": "room", "seq": 10, "close": {"code": 4403, "reason": "removed", "users": [8]}},
        {"a": "room", "seq": 10, "k": "reaction", "emoji": "🔥"},
        {"a": "room", "seq": 11},
    ]
    frame = published[3][1]
    assert frame.startswith('{"type":"participant.muted","seq":11,"space":5,"ts":"')
    assert frame.endswith(',"data":{"user_ids":[8],"by":2}}')


def test_the_shared_package_imports_no_app() -> None:
    apps = {"accounts", "rooms", "tickets", "moderation"}
    for path in (ROOT / "spaces_project" / "realtime").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[Any] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not {name.split(".")[0] for name in names} & apps, (path.name, names)
