"""Querysets compiled to SQL once per process; each call only binds its values.

Building a queryset with several ``Exists``/``Subquery`` annotations costs the ORM milliseconds of CPU
(expression resolving, alias relabelling, copies) on every call, more than PostgreSQL needs to run it.
On admission hot paths (docs/benchmarks.md, "Join storm") the SQL is the same every time: it is built
once with sentinel values, and each call substitutes its own values for them and runs it as a raw query
of the same model (annotations become attributes, as with the queryset).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import connections, models

M = TypeVar("M", bound=models.Model)


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
        with connection.cursor() as cursor:
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
