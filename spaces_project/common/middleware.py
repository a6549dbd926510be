"""The first middleware: refuse input that no view can use before any of it reaches the database.

- a NUL byte in the path (``/api/v1/users/a%00b``): no route can name such a thing → 404. PostgreSQL
  refuses NUL in text, so the lookup a view would make raised instead of finding nothing;
- a NUL byte in a query parameter (name or value) → 400 ``invalid_character``;
- a body whose ``Content-Length`` passes ``DATA_UPLOAD_MAX_MEMORY_SIZE`` → 413 ``request_too_large``
  (no route takes file uploads). Django enforces that limit only when ``request.body``/``POST`` is
  read, and then as a 400; DRF reads the stream itself and would parse a body of any size.

Pure CPU checks, so the middleware runs inline on both the sync and the async path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.decorators import sync_and_async_middleware

from spaces_project.common.errors import error_json, page_not_found, request_too_large, wants_json

NUL = "\x00"


def _refusal(request: HttpRequest) -> HttpResponse | None:
    if NUL in request.path_info:
        return page_not_found(request)
    if NUL in request.META.get("QUERY_STRING", "") or any(
        NUL in key or any(NUL in value for value in values) for key, values in request.GET.lists()
    ):
        detail = "Query parameters must not contain NUL characters."
        if wants_json(request):
            return error_json("invalid_character", detail, status=400, extra={"where": "query"})
        return HttpResponse(detail, status=400, content_type="text/plain; charset=utf-8")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is not None and length > limit:
        return request_too_large(request)
    return None


@sync_and_async_middleware
def input_guard_middleware(
    get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]],
) -> Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]:
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponseBase:
            refusal = _refusal(request)
            if refusal is not None:
                return refusal
            response = get_response(request)
            assert not isinstance(response, HttpResponseBase)
            return await response

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponseBase:
        refusal = _refusal(request)
        if refusal is not None:
            return refusal
        response = get_response(request)
        assert isinstance(response, HttpResponseBase)
        return response

    return middleware
