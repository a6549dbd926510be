"""Hold every API response the test suite sees to the OpenAPI schema served at ``/api/schema/``.

``tests/conftest.py`` wraps ``APIClient.request`` with :func:`validate_response`: a response to an
``/api/v1/`` operation must carry a status the schema documents for that operation and a body that
matches the schema given for it (formats included). The check is the one the fuzzer
(``tests/fuzz``) applies to a live server: schemathesis' ``response_schema_conformance``.
"""

from __future__ import annotations

import functools
import json
import threading
from typing import Any

import requests
import schemathesis
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.schemas import OpenApiSchema

API_PREFIX = "/api/v1/"
# Concurrency tests send their API requests from several threads at once; neither drf-spectacular's
# generator (its extensions load lazily) nor schemathesis' first validation of an operation (it compiles
# its validators; in parallel Python 3.11 failed with "AST constructor recursion depth mismatch") is safe
# to run in parallel. The schema is built once under one lock, and responses are checked one at a time:
# the check runs after the response was produced, so the requests themselves still race.
_building = threading.Lock()
_checking = threading.Lock()


class SchemaViolation(AssertionError):
    """A response the OpenAPI schema does not describe."""


def schema_document() -> dict[str, Any]:
    """The schema exactly as ``/api/schema/?format=json`` serves it (built once; do not modify it)."""
    with _building:
        return _schema_document()


@functools.cache
def _schema_document() -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    raw = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(raw, renderer_context={}))


def api_schema() -> OpenApiSchema:
    with _building:
        return _api_schema()


@functools.cache
def _api_schema() -> OpenApiSchema:
    schema = schemathesis.openapi.from_dict(_schema_document())
    assert isinstance(schema, OpenApiSchema)
    return schema


def validate_response(method: str, path: str, status_code: int, headers: dict[str, str], content: bytes) -> None:
    """Raise :class:`SchemaViolation` unless the schema documents this status and body for the operation.

    Paths outside ``/api/v1/``, paths no operation matches (an unknown URL, a wrong method), ``HEAD`` and
    ``OPTIONS`` are not held to it: there is no operation or body to compare with."""
    if not path.startswith(API_PREFIX) or method in {"HEAD", "OPTIONS"}:
        return  # HEAD has no body to compare; OPTIONS is DRF's metadata, not an operation of the schema
    with _checking:
        _validate(method, path, status_code, headers, content)


def _validate(method: str, path: str, status_code: int, headers: dict[str, str], content: bytes) -> None:
    schema = api_schema()
    operation = schema.find_operation_by_path(method, path)
    if operation is None:
        return
    if operation.responses.find_by_status_code(status_code) is None:
        documented = ", ".join(sorted(operation.responses.status_codes))
        raise SchemaViolation(
            f"{method} {path} answered {status_code}, which {operation.label} does not document "
            f"(documented: {documented}). Body: {content[:500]!r}"
        )
    request = requests.Request(method, f"http://testserver{path}").prepare()
    response = schemathesis.Response(
        status_code=status_code,
        headers={name.lower(): [value] for name, value in headers.items()},
        content=content,
        request=request,
        elapsed=0.0,
        verify=True,
    )
    try:
        operation.validate_response(response)
    except (FailureGroup, Failure) as exc:
        failures = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
        details = "\n".join(f"- {failure.title}: {failure.message}" for failure in failures)
        raise SchemaViolation(
            f"{method} {path} → {status_code} does not match the schema of {operation.label}:\n{details}\n"
            f"Body: {content[:1000]!r}"
        ) from None


def validate_django_response(method: str, path: str, response: Any) -> None:
    if getattr(response, "streaming", False):
        return
    validate_response(method.upper(), path, response.status_code, dict(response.headers.items()), response.content)
