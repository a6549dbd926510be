"""Cursor pagination used by every list endpoint (stable under inserts, no COUNT(*)).

A cursor is client input: base64 of ``o=<offset>&r=<reverse>&p=<position>``, where the position is
the value of the first ordering field where the page starts. DRF checks the envelope but filters by
the position as given, so a forged one (``p=9999-99-99``) used to reach the database and answer 500.
Every cursor here is checked against its ordering field first; a bad one is the same 404
``not_found`` ("Invalid cursor") as an undecodable one.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Field, Model, QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.views import APIView


class CheckedCursorPagination(CursorPagination):
    """A cursor pagination whose cursor position must be a valid value of the ordering field."""

    page_size_query_param = "page_size"
    max_page_size = 200
    _model: type[Model] | None = None

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: APIView | None = None
    ) -> list[Any] | None:
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request: Request) -> Cursor | None:
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            self._check_position(str(cursor.position))
        return cursor

    def _check_position(self, position: str) -> None:
        if "\x00" in position or self._model is None:
            raise NotFound(self.invalid_cursor_message)
        ordering = self.ordering if isinstance(self.ordering, (list, tuple)) else (self.ordering,)
        try:
            field = self._model._meta.get_field(str(ordering[0]).lstrip("-"))
        except FieldDoesNotExist:  # an annotation or a related path: the database will compare it
            return
        if not isinstance(field, Field):
            return
        try:
            field.get_prep_value(field.to_python(position))
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            raise NotFound(self.invalid_cursor_message) from None


class CreatedCursorPagination(CheckedCursorPagination):
    ordering = "-created_at"


class IdCursorPagination(CheckedCursorPagination):
    ordering = "-id"
