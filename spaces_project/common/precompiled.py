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

from django.db import models

M = TypeVar("M", bound=models.Model)


class Precompiled(Generic[M]):
    """``build(**sentinels)`` → a queryset; ``first(**values)``: the same query with ``values`` bound."""

    def __init__(self, build: Callable[..., models.QuerySet[M]], **sentinels: Any) -> None:
        self._build = build
        self._sentinels = sentinels
        self._lock = threading.Lock()
        self._compiled: tuple[type[M], str, list[Any], list[str | None]] | None = None

    def _compile(self) -> tuple[type[M], str, list[Any], list[str | None]]:
        with self._lock:
            if self._compiled is None:
                queryset = self._build(**self._sentinels)
                sql, params = queryset.query.sql_with_params()
                by_value = {repr(v): name for name, v in self._sentinels.items()}
                slots = [by_value.get(repr(p)) for p in params]
                missing = set(self._sentinels) - set(slots)
                if missing:  # a value inlined in the SQL: this query cannot be precompiled safely
                    raise ValueError(f"sentinels not bound as parameters: {sorted(missing)}")
                self._compiled = (queryset.model, sql, list(params), slots)
            return self._compiled

    def first(self, **values: Any) -> M | None:
        model, sql, params, slots = self._compile()
        bound = [values[slot] if slot is not None else p for p, slot in zip(params, slots, strict=True)]
        for row in model._default_manager.raw(sql, bound):
            return row
        return None
