"""Errors that Django itself answers (no DRF view ran): JSON under /api/ and /webhooks/, HTML elsewhere.

``handler400/403/404/500`` in ``spaces_project/urls.py`` point here, so an unknown ``/api/v1/...``
path, a bad ``Host`` header, an over-size body or an unhandled exception still gets the one error
shape ``{code, detail, extra}`` of docs/api.md. Web pages keep Django's HTML pages.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

JSON_PREFIXES = ("/api/", "/webhooks/")


def wants_json(request: HttpRequest) -> bool:
    """Machine clients live under these paths: they get JSON errors, never an HTML page."""
    return request.path_info.startswith(JSON_PREFIXES)


def error_json(code: str, detail: str, *, status: int, extra: dict[str, Any] | None = None) -> JsonResponse:
    return JsonResponse({"code": code, "detail": detail, "extra": extra or {}}, status=status)


def request_too_large(request: HttpRequest) -> HttpResponse:
    from django.conf import settings

    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    detail = f"The request body is larger than {limit} bytes."
    if wants_json(request):
        return error_json("request_too_large", detail, status=413, extra={"max_bytes": limit})
    return HttpResponse(detail, status=413, content_type="text/plain; charset=utf-8")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Every ``SuspiciousOperation`` lands here (bad Host header, over-size body, too many fields)."""
    if isinstance(exception, RequestDataTooBig):
        return request_too_large(request)
    if wants_json(request):
        return error_json("bad_request", "The request could not be understood.", status=400)
    return defaults.bad_request(request, exception or Exception())


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if wants_json(request):
        return error_json("permission_denied", "You do not have permission to perform this action.", status=403)
    return defaults.permission_denied(request, exception or Exception())


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if wants_json(request):
        return error_json("not_found", "Not found.", status=404)
    return defaults.page_not_found(request, exception or Exception())


def server_error(request: HttpRequest) -> HttpResponse:
    if wants_json(request):
        return error_json("server_error", "The server failed to answer this request.", status=500)
    return defaults.server_error(request)
