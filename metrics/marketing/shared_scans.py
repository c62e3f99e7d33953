"""One table scan per question: many one-row aggregates over a table folded into one SELECT.

A KPI tile row asks for dozens of measures (each KPI's numerator and denominator, for the
current and the previous period), and each compiles to ``SELECT agg(...) FROM t WHERE c``.
Run as separate subqueries, that is one scan of ``t`` per measure. :class:`SharedScans` is a
measure builder (same signature as ``measure_query``) used in two passes:

1. ``collect``: compile every measure once, remembering each one-row aggregate over a plain
   table (no GROUP BY, one FROM table; anything else is left alone);
2. ``answer``: per table, one materialised CTE ``SELECT agg_1', agg_2', ... FROM t WHERE h``
   where ``agg_i'`` is ``agg_i`` with its own condition moved inside every aggregate
   (``sum(CASE WHEN c_i THEN x END)``, ``count(CASE WHEN c_i THEN 1 END)``); each measure then
   reads its column. The values are identical: an aggregate over the rows where ``c_i`` holds,
   NULL for SUM/MIN/MAX over no rows, 0 for COUNT.

``h`` only has to keep every row some ``c_i`` keeps. It is the *hull* of the conditions when
they have one — the range of each column every ``c_i`` bounds (``day BETWEEN min start AND max
end``) and the values of each column every ``c_i`` fixes (``sig IN (...)``) — else ``c_1 OR c_2
OR ...``. A hull is a few plain comparisons: cheap per row, and DuckDB skips whole row groups
by their min/max (the serving tables are stored sorted by day).

CASE, not ``FILTER (WHERE ...)``: every engine runs it (MariaDB has no FILTER clause).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import Select, Table, and_, case, literal, or_, select
from sqlalchemy.sql import functions, operators
from sqlalchemy.sql.elements import (
    BinaryExpression,
    BindParameter,
    BooleanClauseList,
    Grouping,
    Label,
)
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


_LOWER = (operators.ge, operators.gt)
_UPPER = (operators.le, operators.lt)


def _conjuncts(cond: ColumnElement[bool]) -> list[ColumnElement[bool]]:
    """The terms of ``cond`` read as ``t_1 AND t_2 AND ...`` (nested ANDs flattened)."""
    if isinstance(cond, Grouping):
        return _conjuncts(cond.element)
    if isinstance(cond, BooleanClauseList) and cond.operator is operators.and_:
        return [t for c in cond.clauses for t in _conjuncts(c)]
    return [cond]


def _bounds(cond: ColumnElement[bool]) -> dict[Any, dict[str, Any]]:
    """Per column of ``cond``'s conjuncts ``column <op> value``: the lower bound
    (``lo``, from >= or >), upper bound (``hi``, from <= or <) and fixed value (``eq``)."""
    terms = _conjuncts(cond)
    out: dict[Any, dict[str, Any]] = {}
    for term in terms:
        if not (isinstance(term, BinaryExpression) and isinstance(term.right, BindParameter)):
            continue
        value = term.right.value
        if value is None or term.right.callable is not None:
            continue
        kind = "lo" if term.operator in _LOWER else "hi" if term.operator in _UPPER else None
        if term.operator is operators.eq:
            kind = "eq"
        if kind is None:
            continue
        slot = out.setdefault(term.left, {})
        if kind not in slot:
            slot[kind] = value
            continue
        try:  # a second bound of one kind in one conjunction: the tighter one holds
            tighter = {"lo": max, "hi": min}.get(kind)
            same = slot[kind] is not None and slot[kind] == value
            slot[kind] = tighter(slot[kind], value) if tighter else (value if same else None)
        except TypeError:
            slot[kind] = None
    return out


def hull(conds: list[ColumnElement[bool]]) -> ColumnElement[bool] | None:
    """A condition true wherever any of ``conds`` is (see the module docstring), or None when
    the conditions share no bounded column."""
    per_cond = [_bounds(c) for c in conds]
    terms: list[ColumnElement[bool]] = []
    for column in per_cond[0]:
        slots = [b.get(column, {}) for b in per_cond]
        try:
            eqs = [s.get("eq") for s in slots]
            if all(v is not None for v in eqs):
                terms.append(column.in_(sorted(set(eqs))))
                continue
            los = [s.get("lo", s.get("eq")) for s in slots]
            if all(v is not None for v in los):
                terms.append(column >= min(los))
            his = [s.get("hi", s.get("eq")) for s in slots]
            if all(v is not None for v in his):
                terms.append(column <= max(his))
        except TypeError:  # values that do not compare (mixed types): no bound on this column
            continue
    return and_(*terms) if terms else None


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
                scan = scan.where(hull(conds) if hull(conds) is not None else or_(*conds))
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
