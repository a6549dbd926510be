"""The OpenAPI schema tells the truth: error responses, paginated lists, optional URL and e-mail fields.

``SpacesAutoSchema`` (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``) adds to every operation the error
responses it can give, all in the one ``{code, detail, extra}`` shape of
:func:`spaces_project.common.exceptions.api_exception_handler`:

- 400 and 413 on every operation: any request can carry a malformed query string or body, or a body
  over ``DATA_UPLOAD_MAX_MEMORY_SIZE``, and both are refused before the view runs;
- 401 and 403 when it authenticates (a bad or missing token, a suspended account, a CSRF failure, a
  permission refused);
- 404 when it names a resource in its path or pages a list (a forged cursor);
- 409 for every write on an authenticated view (the state it acts on has moved on);
- 415 when it takes a body (not a media type it parses);
- 429 everywhere (every view is rate-limited in production);
- what the view lists in ``openapi_error_statuses`` (402 ``ticket_required``, 503 a provider down…): a
  tuple for every method of the view, or a dict from method (``"GET"``) to a tuple for one method.

``tests/test_openapi_conformance.py`` and the fuzzer (``tests/fuzz``) hold the schema to it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import AllowAny

ERROR_DESCRIPTIONS = {
    400: "Bad input: `invalid_input` (field errors under `extra.fields`), `parse_error`, `invalid_character` "
    "or a domain code.",
    401: "Not authenticated, or the token is invalid.",
    402: "Payment required (`ticket_required`).",
    403: "Refused: `permission_denied`, `account_suspended`, a ban, a block or a CSRF failure.",
    404: "Not found (also a forged or expired pagination cursor).",
    409: "Conflicts with the current state (a stable `code` says which rule).",
    413: "The request body is too large (`request_too_large`).",
    415: "Unsupported media type: send JSON.",
    416: "The `Range` asked for is not in the file (`range_not_satisfiable`; `extra.size` gives its size).",
    429: "Rate-limited; `extra.retry_after` gives the seconds to wait.",
    503: "A provider (LiveKit, Stripe) is not configured or not reachable.",
}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ErrorSerializer(serializers.Serializer[dict[str, Any]]):
    """Every API error: a stable snake_case ``code``, a human ``detail`` and ``extra`` context."""

    code = serializers.CharField()
    detail = serializers.CharField()
    extra = serializers.DictField(help_text="Context: `fields` (field errors), `retry_after`, …")


# No top-level "type": drf-spectacular would add the URL/e-mail validator's ``format`` to it, and ``""``
# is neither a URI nor an e-mail address.
@extend_schema_field(
    {
        "anyOf": [{"type": "string", "format": "uri", "maxLength": 500}, {"type": "string", "maxLength": 0}],
        "description": "An http(s) URL, or empty when not set.",
    }
)
class OptionalURLField(serializers.URLField):
    """A URL that may be blank: its schema says "string" since ``""`` is no URI."""


@extend_schema_field(
    {
        "anyOf": [{"type": "string", "format": "email"}, {"type": "string", "maxLength": 0}],
        "description": "An e-mail address, or empty when not given.",
    }
)
class OptionalEmailField(serializers.EmailField):
    """An e-mail address that may be blank."""


class SpacesAutoSchema(AutoSchema):
    def _error_statuses(self, operation: dict[str, Any]) -> set[int]:
        view = self.view
        authenticates = bool(getattr(view, "authentication_classes", []))
        requires_auth = not any(
            isinstance(p, type) and issubclass(p, AllowAny) for p in getattr(view, "permission_classes", [])
        )
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        statuses = {400, 413, 429}
        if authenticates or requires_auth:
            statuses |= {401, 403}
        if any(p.get("in") == "path" for p in parameters) or any(p.get("name") == "cursor" for p in parameters):
            statuses.add(404)
        if self.method in UNSAFE_METHODS and requires_auth:
            statuses.add(409)
        if has_body:
            statuses.add(415)
        extra = getattr(view, "openapi_error_statuses", ())
        if isinstance(extra, dict):
            extra = extra.get(self.method, ())
        statuses |= set(extra)
        return statuses

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        for status in sorted(self._error_statuses(operation)):
            if str(status) not in responses:
                response = self._get_response_for_code(ErrorSerializer, str(status))
                response["description"] = ERROR_DESCRIPTIONS[status]
                responses[str(status)] = response
        return operation


class SessionScheme(OpenApiAuthenticationExtension):
    """The web client's session cookie (``ActiveSessionAuthentication`` refuses suspended accounts)."""

    target_class = "accounts.authentication.ActiveSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        from django.conf import settings

        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
