"""The OpenAPI schema tells the truth, and the suite's response check (tests/openapi_conformance.py) bites."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.openapi_conformance import SchemaViolation, schema_document, validate_response

JSON = {"Content-Type": "application/json"}
OPERATIONS = [
    (path, method.upper(), operation)
    for path, item in schema_document()["paths"].items()
    for method, operation in item.items()
]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _json_schema(document: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    return _resolve(document, response["content"]["application/json"]["schema"])


@pytest.mark.django_db
def test_served_schema_is_the_one_responses_are_checked_against() -> None:
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert json.loads(response.content) == schema_document()


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS])
def test_every_operation_documents_its_errors_in_the_error_shape(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    document = schema_document()
    errors = {code: r for code, r in operation["responses"].items() if code.startswith(("4", "5"))}
    assert {"400", "413", "429"} <= errors.keys()  # any request: malformed, too large, rate-limited
    if operation.get("security") and {} not in operation["security"]:
        assert {"401", "403"} <= errors.keys()
    if "{" in path:
        assert "404" in errors
    if "requestBody" in operation:
        assert "415" in errors
    for code, response in errors.items():
        schema = _json_schema(document, response)
        assert schema["required"] == ["code", "detail", "extra"], (code, schema)
        assert schema["properties"]["extra"]["type"] == "object"


@pytest.mark.parametrize(
    ("path", "method", "operation"),
    [op for op in OPERATIONS if any(p["name"] == "cursor" for p in op[2].get("parameters", []))],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_cursor_paginated_lists_are_described_as_pages(path: str, method: str, operation: dict[str, Any]) -> None:
    document = schema_document()
    schema = _json_schema(document, operation["responses"]["200"])
    assert schema["type"] == "object"
    page = schema if "results" in schema["properties"] else _resolve(document, schema["properties"]["listeners"])
    assert {"next", "previous", "results"} <= page["properties"].keys()
    assert page["properties"]["next"]["nullable"] is True
    assert page["properties"]["results"]["type"] == "array"


def test_paginated_list_endpoints_take_a_cursor() -> None:
    paged = {f"{m} {p}" for p, m, op in OPERATIONS if any(x["name"] == "cursor" for x in op.get("parameters", []))}
    for label in [
        "GET /api/v1/spaces",
        "GET /api/v1/spaces/upcoming",
        "GET /api/v1/spaces/{space_id}/messages",
        "GET /api/v1/spaces/{space_id}/participants",
        "GET /api/v1/spaces/{space_id}/bans",
        "GET /api/v1/spaces/{space_id}/moderation-log",
        "GET /api/v1/me/notifications",
        "GET /api/v1/me/reports",
        "GET /api/v1/me/notices",
        "GET /api/v1/me/bans",
        "GET /api/v1/me/tickets",
        "GET /api/v1/me/payouts",
        "GET /api/v1/users/{username}/followers",
        "GET /api/v1/users/{username}/following",
    ]:
        assert label in paged


@pytest.mark.django_db
def test_blank_email_and_avatar_are_described_as_they_are(make_client: Any) -> None:
    user = UserFactory(email="", avatar_url="")
    response = make_client(user).get("/api/v1/me")  # checked against the schema by tests/conftest.py
    assert response.status_code == 200
    assert response.json()["email"] == "" and response.json()["avatar_url"] == ""
    body = {**response.json(), "avatar_url": "not a url"}
    with pytest.raises(SchemaViolation, match="avatar_url"):
        validate_response("GET", "/api/v1/me", 200, JSON, json.dumps(body).encode())


@pytest.mark.django_db
def test_a_body_the_schema_does_not_describe_fails() -> None:
    with pytest.raises(SchemaViolation, match="does not match"):
        validate_response("GET", "/api/v1/me", 200, JSON, b'{"id": "seven"}')


def test_an_error_not_in_the_error_shape_fails() -> None:
    validate_response("GET", "/api/v1/spaces/7", 404, JSON, b'{"code": "space_not_found", "detail": "x", "extra": {}}')
    with pytest.raises(SchemaViolation, match="does not match"):
        validate_response("GET", "/api/v1/spaces/7", 404, JSON, b'{"detail": "Not found."}')


def test_an_undocumented_status_fails() -> None:
    with pytest.raises(SchemaViolation, match="does not document"):
        validate_response("GET", "/api/v1/spaces/7", 418, JSON, b'{"code": "teapot", "detail": "x", "extra": {}}')


def test_paths_outside_the_api_or_unknown_to_the_schema_are_not_checked() -> None:
    validate_response("GET", "/healthz", 200, JSON, b"anything")
    validate_response("GET", "/api/v1/no-such-thing", 404, JSON, b"<html>")
    validate_response("HEAD", "/api/v1/spaces/7", 200, JSON, b"")
    validate_response("OPTIONS", "/api/v1/spaces/7", 200, JSON, b'{"name": "Space Detail"}')
