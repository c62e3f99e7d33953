"""One table scan per question: many one-row aggregates over a table folded into one SELECT.

A KPI tile row asks for dozens of measures (each KPI's numerator and denominator, for the
current and the previous period), and each compiles to ``SELECT agg(...) FROM t WHERE c``.
Run as separate subqueries, that is one scan of ``t`` per measure. :class:`SharedScans` is a
measure builder (same signature as ``measure_query``) used in two passes:

1. ``collect``: compile every measure once, remembering each one-row aggregate over a plain
   table (no GROUP BY, one FROM table; anything else is left alone);
2. ``answer``: per table, one materialised CTE ``SELECT agg_1', agg_2', ... FROM t WHERE c_1 OR
   c_2 OR ...`` where ``agg_i'`` is ``agg_i`` with its own condition moved inside every
   aggregate (``sum(CASE WHEN c_i THEN x END)``, ``count(CASE WHEN c_i THEN 1 END)``); each
   measure then reads its column. The values are identical: an aggregate over the rows where
   ``c_i`` holds, NULL for SUM/MIN/MAX over no rows, 0 for COUNT.

CASE, not ``FILTER (WHERE ...)``: every engine runs it (MariaDB has no FILTER clause).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import Select, Table, case, literal, or_, select
from sqlalchemy.sql import functions
from sqlalchemy.sql.elements import Label
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import iterate, replacement_traverse

from metrics.filters import Filters
from metrics.marketing.kpis import Measure

Builder = Callable[[Measure, Filters, str], Select]

_AGGREGATES = (functions.sum, functions.count, functions.min, functions.max)


def _one_row_over_table(stmt: Select) -> Table | None:
    """The table of ``SELECT <one aggregate column> FROM table [WHERE ...]``, else None."""
    if stmt._group_by_clauses or stmt._having_criteria or len(stmt.selected_columns) != 1:  # noqa: SLF001
        return None
    froms = stmt.get_final_froms()
    if len(froms) != 1 or not isinstance(froms[0], Table):
        return None
    (value,) = stmt.selected_columns
    if not any(isinstance(e, _AGGREGATES) for e in iterate(value)):
        return None  # one row per matching row, not one row in all
    return froms[0]


def _conditioned(value: ColumnElement[Any], cond: ColumnElement[bool] | None) -> ColumnElement:
    """``value`` with ``cond`` moved inside each aggregate it contains."""
    if cond is None:
        return value

    def inside(element: Any) -> Any:
        if isinstance(element, _AGGREGATES):
            args = list(element.clauses)
            if isinstance(element, functions.count) and (not args or _is_star(args[0])):
                return functions.count(case((cond, literal(1))))
            return type(element)(case((cond, args[0])))
        return None

    return replacement_traverse(value, {}, inside)


def _is_star(arg: Any) -> bool:
    return getattr(arg, "text", None) == "*" or getattr(arg, "name", None) == "*"


class SharedScans:
    """A two-pass measure builder folding one-row aggregates into one scan per table."""

    def __init__(self, build: Builder) -> None:
        self._build = build
        self._collected: dict[Hashable, tuple[Table, Select]] = {}
        self._columns: dict[Hashable, ColumnElement[Any]] | None = None

    def collect(self, m: Measure, f: Filters, grain: str) -> Select:
        """Pass 1: compile (and remember) the measure; returns it unchanged."""
        stmt = self._build(m, f, grain)
        table = _one_row_over_table(stmt) if grain == "total" else None
        if table is not None:
            self._collected.setdefault((m, f, grain), (table, stmt))
        return stmt

    def _shared_columns(self) -> dict[Hashable, ColumnElement[Any]]:
        by_table: dict[Table, list[tuple[Hashable, Select]]] = {}
        for key, (table, stmt) in self._collected.items():
            by_table.setdefault(table, []).append((key, stmt))
        columns: dict[Hashable, ColumnElement[Any]] = {}
        for n, (table, items) in enumerate(by_table.items()):
            if len(items) == 1:
                continue  # nothing to share: keep the plain statement
            values, conds = [], []
            for i, (_, stmt) in enumerate(items):
                cond = stmt.whereclause
                conds.append(cond)
                (value,) = stmt.selected_columns
                if isinstance(value, Label):
                    value = value.element
                values.append(_conditioned(value, cond).label(f"m{i}"))
            scan = select(*values).select_from(table)
            if all(c is not None for c in conds):
                scan = scan.where(or_(*conds))
            cte = scan.cte(f"scan{n}_{table.name}").prefix_with("MATERIALIZED")
            for i, (key, _) in enumerate(items):
                columns[key] = cte.c[f"m{i}"]
        return columns

    def answer(self, m: Measure, f: Filters, grain: str) -> Select:
        """Pass 2: the measure read from its table's shared scan (or compiled as usual)."""
        if self._columns is None:
            self._columns = self._shared_columns()
        column = self._columns.get((m, f, grain))
        if column is None:
            return self._build(m, f, grain)
        return select(column.label("v"))
