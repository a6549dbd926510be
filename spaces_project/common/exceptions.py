"""One error type with a stable code, and the DRF handler that gives every error one shape.

Every error the API returns looks like ``{"code": "...", "detail": "...", "extra": {...}}``; field
errors sit under ``extra.fields``. The same codes are used on the websocket.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A domain rule was broken; ``code`` is stable forever, ``detail`` is for humans."""

    code = "application_error"
    status_code = 400
    default_detail = "The request could not be completed."

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status_code: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.extra = extra or {}
        super().__init__(self.detail)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, "extra": self.extra}


class NotFound(ApplicationError):
    code = "not_found"
    status_code = 404
    default_detail = "Not found."


class Forbidden(ApplicationError):
    code = "permission_denied"
    status_code = 403
    default_detail = "You do not have permission to perform this action."


class Conflict(ApplicationError):
    code = "conflict"
    status_code = 409
    default_detail = "The request conflicts with the current state."


_DRF_CODES = {
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.ParseError: "parse_error",
    drf_exceptions.Throttled: "throttled",
    drf_exceptions.ValidationError: "invalid_input",
}


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def _first_message(fields: Any) -> str:
    if isinstance(fields, dict):
        for key, value in fields.items():
            message = _first_message(value)
            return message if key == "non_field_errors" else f"{key}: {message}"
    if isinstance(fields, list) and fields:
        return _first_message(fields[0])
    return str(fields)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every API error as ``{code, detail, extra}`` with the right HTTP status."""
    if isinstance(exc, ApplicationError):
        return Response(exc.as_dict(), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        # A model or validator check that no serializer ran first: still the client's input, never a 500.
        exc = drf_exceptions.ValidationError(as_serializer_error(exc))

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    assert isinstance(exc, drf_exceptions.APIException)
    extra: dict[str, Any] = {}
    if isinstance(exc, drf_exceptions.ValidationError):
        fields = _flatten(exc.detail)
        if not isinstance(fields, dict):
            fields = {"non_field_errors": fields}
        extra["fields"] = fields
        detail = _first_message(fields)
        code = "invalid_input"
    else:
        mapped = _DRF_CODES.get(type(exc))
        code = mapped or "error"
        if mapped is None:
            codes = exc.get_codes()
            code = codes if isinstance(codes, str) else "error"
        # AuthenticationFailed raised with an explicit code (e.g. account_suspended) keeps it.
        raw_codes = exc.get_codes()
        if isinstance(raw_codes, str) and raw_codes not in {exc.default_code, "error"}:
            code = raw_codes
        detail = str(exc.detail) if not isinstance(exc.detail, (list, dict)) else _first_message(exc.detail)
        extra.update(getattr(exc, "extra", None) or {})  # e.g. where an invalid character is
        wait = getattr(exc, "wait", None)
        if isinstance(exc, drf_exceptions.Throttled) and wait is not None:
            extra["retry_after"] = int(wait + 0.999)
    response.data = {"code": code, "detail": detail, "extra": extra}
    return response
