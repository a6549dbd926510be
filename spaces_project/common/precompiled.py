"""Querysets compiled to SQL once per process; each call only binds its values.

Building a queryset with several ``Exists``/``Subquery`` annotations costs the ORM milliseconds of CPU
(expression resolving, alias relabelling, copies) on every call, more than PostgreSQL needs to run it.
On admission hot paths (docs/benchmarks.md, "Join storm") the SQL is the same every time: it is built
once with sentinel values, and each call substitutes its own values for them and runs it as a raw query
of the same model (annotations become attributes, as with the queryset).

On PostgreSQL the statement is also **prepared** on each pooled connection (:func:`hot_cursor`): parsed
and planned once per connection, its values sent apart from its text (server-side binding), instead of
psycopg quoting them into the text and PostgreSQL parsing and planning it again on every call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import psycopg
from django.conf import settings
from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

M = TypeVar("M", bound=models.Model)


# psycopg prepares a statement once it ran this many times on a connection; Django leaves the threshold
# at None (no prepared statements: safe behind a transaction-mode pooler). A connection used by
# hot_cursor gets this one instead: so high that nothing is prepared by count, only the hot statements,
# whose cursor asks for it on every call (psycopg ignores ``prepare=True`` while the threshold is None).
_EXPLICIT_ONLY = 2**31 - 1


class _PreparingCursor(psycopg.Cursor[Any]):
    """Server-side binding, and every statement prepared on its connection at first use."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Any:
        return super().execute(query, params, prepare=True, binary=binary)

    def _send_query_prepared(self, name: bytes, pgq: Any, *, binary: bool | None = None) -> None:
        # psycopg leaves ``_query`` unset for a prepared execution; Django's query log
        # (``last_executed_query``: DEBUG, CaptureQueriesContext) reads the text from it
        self._query = pgq
        super()._send_query_prepared(name, pgq, binary=binary)


@contextmanager
def hot_cursor(connection: BaseDatabaseWrapper) -> Iterator[CursorWrapper]:
    """A Django cursor for a statement run on every admission (the same SQL each time, values bound).

    On PostgreSQL with ``SPACES_DB_PREPARED_STATEMENTS`` (the default; turn it off behind a pooler that
    cannot keep prepared statements, such as PgBouncer in transaction mode before 1.21), it is a
    server-side binding cursor that prepares its statement on the connection; elsewhere Django's own
    cursor. Either way it goes through Django's cursor wrapper (query logging, ``execute_wrapper``,
    error translation), so callers and tests see the same statements.
    """
    if connection.vendor != "postgresql" or not settings.SPACES_DB_PREPARED_STATEMENTS:
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    raw: Any = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = _EXPLICIT_ONLY
    connection.validate_thread_sharing()
    prepared: Any = _PreparingCursor(raw)  # django-stubs types the raw cursor as a CursorWrapper
    cursor = connection.make_debug_cursor(prepared) if connection.queries_logged else connection.make_cursor(prepared)
    with cursor:
        yield cursor


class _Plan(Generic[M]):
    """What a compiled queryset needs at run time: SQL, parameter slots, converters, row → model."""

    def __init__(self, queryset: models.QuerySet[M], sentinels: dict[str, Any]) -> None:
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        by_value = {repr(v): name for name, v in sentinels.items()}
        self.slots = [by_value.get(repr(p)) for p in params]
        missing = set(sentinels) - set(self.slots)
        if missing:  # a value inlined in the SQL: this query cannot be precompiled safely
            raise ValueError(f"sentinels not bound as parameters: {sorted(missing)}")
        self.model = queryset.model
        self.db = queryset.db
        self.sql, self.params = sql, list(params)
        select = compiler.select
        self.converters = [
            (i, convs, expr)
            for i, (convs, expr) in compiler.get_converters([col for col, _sql, _alias in select]).items()
        ]
        fields = compiler.klass_info["select_fields"]  # the model's own columns, in order
        self.model_start, self.model_end = fields[0], fields[-1] + 1
        self.attnames = [select[i][0].target.attname for i in fields]
        self.annotations = list(compiler.annotation_col_map.items())


class Precompiled(Generic[M]):
    """``build(**sentinels)`` → a queryset; ``first(**values)``: its first row with ``values`` bound.

    Same result as ``build(**values).first()`` on the queryset (model instance, annotations as
    attributes, the fields' converters applied), without building the query again.
    """

    def __init__(self, build: Callable[..., models.QuerySet[M]], **sentinels: Any) -> None:
        self._build = build
        self._sentinels = sentinels
        self._lock = threading.Lock()
        self._plan: _Plan[M] | None = None

    def _compiled(self) -> _Plan[M]:
        with self._lock:
            if self._plan is None:
                self._plan = _Plan(self._build(**self._sentinels), self._sentinels)
            return self._plan

    def first(self, **values: Any) -> M | None:
        plan = self._plan or self._compiled()
        bound = [values[slot] if slot is not None else p for p, slot in zip(plan.params, plan.slots, strict=True)]
        connection = connections[plan.db]
        with hot_cursor(connection) as cursor:
            cursor.execute(plan.sql, bound)
            row = cursor.fetchone()
        if row is None:
            return None
        if plan.converters:
            row = list(row)
            for i, convs, expr in plan.converters:
                value = row[i]
                for convert in convs:
                    value = convert(value, expr, connection)
                row[i] = value
        obj = plan.model.from_db(plan.db, plan.attnames, row[plan.model_start : plan.model_end])
        for name, i in plan.annotations:
            setattr(obj, name, row[i])
        return obj
