"""Per-variant sufficient statistics of an experiment metric, computed in the warehouse.

One query per metric (``variant_stats_query``), or one for all of an analysis' metrics
(``experiment_stats_query``: the same CTEs, each source table's per-unit sums shared between
metrics, a column per metric in ``per_unit``, one cap CTE per winsorised mean metric). Shape::

    units     first assignment of each unit (customer_id) in the experiment
    agg_<t>   per unit, sums over the unit's rows of source table t within its windows
    per_unit  units LEFT JOIN agg_*  ->  y (outcome), x (ratio denominator), c (CUPED covariate)
    [capped]  y winsorised at a percentile of y over the experiment's units (mean metrics)
    SELECT variant [, slice] [, day], COUNT(*), Σy, Σy², Σx, Σx², Σxy, Σc, Σc², Σyc [, Σxc]
    GROUP BY variant [, slice] [, day]

Definitions (see ``metrics.experiments.definitions``):

- **Unit and assignment.** A unit with several assignment rows in one experiment counts once,
  with its *first* row (earliest ``assigned_at``; ties broken by variant name). Its later rows
  are ignored, including rows for another variant.
- **Windows.** Outcome: ``assigned_at <= t < assigned_at + window_days``; covariate pre-period:
  ``assigned_at - pre_period_days <= t < assigned_at``. Units without events get y = 0
  (x = 0, c = 0). NULL values in a summed column count as 0.
- **As of.** With ``as_of`` (a timestamp), only units assigned before it and outcome events
  before it count: the analysis as it looked at that moment.
- **Winsorisation** (mean metrics only): y is capped at the ``p``-quantile of y over all the
  experiment's units (both arms), with linear interpolation between order statistics (the
  definition of ``percentile_cont`` and of pandas/numpy's default quantile). It is computed
  with ``ROW_NUMBER``/``COUNT`` window functions on *every* dialect (SQLite has no
  ``percentile_cont``, Trino has only ``approx_percentile``), so all warehouses agree exactly.
  The covariate is not capped.

Every value is a bound parameter; identifiers come only from the catalog and the allow-list
``SLICE_COLUMNS``. Only aggregates leave the warehouse (one row per variant × slice × day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, assert_never

import pandas as pd
from sqlalchemy import (
    Double,
    Float,
    Select,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.expression import CTE, ColumnElement

from data.schema import (
    customers,
    experiment_assignments,
    experiment_variants,
    orders,
    touchpoints,
)
from data.sqlfuncs import add_days, day_of, trunc_to
from metrics.experiments.definitions import (
    TIME_COLUMNS,
    Aggregation,
    ExperimentMetric,
    Measure,
    MetricKind,
    QuantileMetric,
    SourceTable,
)
from metrics.stats.quantile import QuantileStats, needed_ranks, stats_from_ranks
from metrics.stats.sufficient import VariantStats

if TYPE_CHECKING:
    from data.serving.store import ServingStore
    from metrics.experiments.served import Source

SLICE_COLUMNS: tuple[str, ...] = ("acquisition_channel", "segment", "region", "persona")
"""Customer dimensions results may be sliced by (an allow-list of identifiers)."""

UNKNOWN_SLICE = "(unknown)"
"""Slice label for units without a ``customers`` row."""

_TABLES = {SourceTable.ORDERS: orders, SourceTable.TOUCHPOINTS: touchpoints}

STAT_COLUMNS: tuple[str, ...] = (
    "units",
    "sum",
    "sum_sq",
    "denom_sum",
    "denom_sum_sq",
    "cross_sum",
    "cov_sum",
    "cov_sum_sq",
    "cov_cross_sum",
    "cov_denom_cross_sum",
)
"""Result columns, named like the ``VariantStats`` fields (absent ones are omitted)."""


# --- query building -----------------------------------------------------------------------


def _check_options(
    metric: ExperimentMetric,
    slice_by: str | None,
    covariate: bool,
    winsorize_pct: float | None,
) -> None:
    if slice_by is not None and slice_by not in SLICE_COLUMNS:
        raise ValueError(f"cannot slice by {slice_by!r}; use one of {', '.join(SLICE_COLUMNS)}")
    if covariate and metric.covariate is None:
        raise ValueError(f"metric {metric.name!r} has no CUPED covariate")
    if winsorize_pct is not None:
        if metric.kind is not MetricKind.MEAN:
            raise ValueError(f"winsorisation applies to mean metrics, not {metric.kind} metrics")
        if not 0.0 < winsorize_pct < 1.0:
            raise ValueError(f"winsorize_pct must be a fraction in (0, 1), got {winsorize_pct}")


def _usable(a: Any) -> tuple[ColumnElement[bool], ...]:
    """Assignment rows that can count: a row without a unit, a variant or a time is bad data
    (a NULL variant once crashed Experiment detail) and is ignored everywhere."""
    return (a.c.customer_id.is_not(None), a.c.variant.is_not(None), a.c.assigned_at.is_not(None))


def first_assignments_cte(experiment_id: str, as_of: dt.datetime | None = None) -> CTE:
    """CTE ``units(customer_id, variant, assigned_at)``: each unit's first assignment row."""
    a = experiment_assignments
    ranked = select(
        a.c.customer_id,
        a.c.variant,
        a.c.assigned_at,
        func.row_number()
        .over(partition_by=a.c.customer_id, order_by=(a.c.assigned_at, a.c.variant))
        .label("rn"),
    ).where(a.c.experiment_id == bindparam("experiment_id", experiment_id), *_usable(a))
    if as_of is not None:
        ranked = ranked.where(a.c.assigned_at < as_of)
    sub = ranked.subquery("ranked")
    return (
        select(sub.c.customer_id, sub.c.variant, sub.c.assigned_at)
        .where(sub.c.rn == 1)
        .cte("units")
    )


def _value(measure: Measure, table: Any) -> ColumnElement[Any]:
    match measure.aggregation:
        case Aggregation.ANY | Aggregation.COUNT:
            return literal(1)
        case Aggregation.SUM:
            assert measure.source.value_column is not None
            return func.coalesce(table.c[measure.source.value_column], 0.0)
        case _ as unreachable:
            assert_never(unreachable)


def _finish(measure: Measure, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The per-unit value of a measure from its (possibly NULL) per-unit sum."""
    total = func.coalesce(column, 0)
    match measure.aggregation:
        case Aggregation.ANY:
            return case((total > 0, 1), else_=0)
        case Aggregation.COUNT | Aggregation.SUM:
            return total
        case _ as unreachable:
            assert_never(unreachable)


def _cap_cte(per_unit: CTE, column: str, pct: float, name: str) -> CTE:
    """One-row CTE ``<name>(cap)``: ``pct``-quantile of ``per_unit.<column>`` (``_winsorised``)."""
    ranked = select(
        per_unit.c[column].label("y"),
        (func.row_number().over(order_by=per_unit.c[column]) - 1).label("r"),
        func.count().over().label("n"),
    ).subquery(f"ranked_{column}")
    r, y = ranked.c.r, ranked.c.y
    h = (ranked.c.n - 1) * bindparam("winsorize_pct", pct, type_=Float)
    return (
        select(
            func.sum(
                case(
                    (and_(r <= h, r + 1 > h), y * (1 - (h - r))),
                    (and_(r - 1 <= h, r > h), y * (h - (r - 1))),
                    else_=0.0,
                )
            ).label("cap")
        )
        .select_from(ranked)
        .cte(name)
    )


@dataclass(frozen=True)
class _Sum:
    """One per-unit sum over a source table's rows: a value over a window (in days from the
    unit's ``assigned_at``). Metrics that need the same sum share one column."""

    event_type: str | None
    value_column: str | None  # None: count rows (the ANY and COUNT aggregations)
    start_days: int
    end_days: int
    outcome: bool  # outcome window (``as_of`` applies) rather than pre-period


def _sum_of(measure: Measure, metric: ExperimentMetric, pre_period: bool) -> _Sum:
    match measure.aggregation:
        case Aggregation.ANY | Aggregation.COUNT:
            value = None
        case Aggregation.SUM:
            value = measure.source.value_column
        case _ as unreachable:
            assert_never(unreachable)
    event_type = None if measure.source.event_type is None else str(measure.source.event_type)
    if pre_period:
        return _Sum(event_type, value, -metric.pre_period_days, 0, False)
    return _Sum(event_type, value, 0, metric.window_days, True)


def _shifted(ts: ColumnElement[Any], days: int) -> ColumnElement[Any]:
    return ts if days == 0 else add_days(ts, days)


def _shared_aggregate(
    units: CTE,
    source: SourceTable,
    sums: dict[_Sum, str],
    as_of: dt.datetime | None,
    keys: Sequence[str] = ("customer_id",),
) -> CTE:
    """CTE ``agg_<table>(<keys>, <labels>)``: every wanted per-unit sum of one table, by
    conditional aggregation over the unit's rows in the union of the windows. ``keys``: the
    unit's key columns in ``units`` (``experiment_id, customer_id`` for several experiments)."""
    t = _TABLES[source]
    ts = t.c[TIME_COLUMNS[source]]
    at = units.c.assigned_at
    columns = []
    for s, label in sums.items():
        cond = and_(ts >= _shifted(at, s.start_days), ts < _shifted(at, s.end_days))
        if s.outcome and as_of is not None:
            cond = and_(cond, ts < as_of)
        if s.event_type is not None:
            cond = and_(cond, t.c.event_type == bindparam(None, s.event_type))
        value = literal(1) if s.value_column is None else func.coalesce(t.c[s.value_column], 0.0)
        columns.append(func.sum(case((cond, value), else_=0)).label(label))
    join_on = and_(
        t.c.customer_id == units.c.customer_id,
        ts >= _shifted(at, min(s.start_days for s in sums)),
        ts < _shifted(at, max(s.end_days for s in sums)),
    )
    event_types = {s.event_type for s in sums}
    if None not in event_types:
        join_on = and_(join_on, t.c.event_type.in_(sorted(e for e in event_types if e)))
    key_cols = [units.c[k] for k in keys]
    return (
        select(*key_cols, *columns)
        .select_from(units.join(t, join_on))
        .group_by(*key_cols)
        .cte(f"agg_{source.value}")
    )


def _check_shared_options(metrics: Sequence[ExperimentMetric], winsorize_pct: float | None) -> None:
    names = [m.name for m in metrics]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"metric names must be unique; repeated: {', '.join(duplicated)}")
    if winsorize_pct is not None and not 0.0 < winsorize_pct < 1.0:
        raise ValueError(f"winsorize_pct must be a fraction in (0, 1), got {winsorize_pct}")


def _unit_values(
    units: CTE,
    metrics: Sequence[ExperimentMetric],
    *,
    covariate: bool,
    as_of: dt.datetime | None,
    keys: Sequence[str] = ("customer_id",),
) -> tuple[Any, list[ColumnElement[Any]]]:
    """``units`` LEFT JOIN one ``agg_<table>`` CTE per source table, and the per-unit value
    columns ``m<i>_y`` (outcome), ``m<i>_x`` (ratio denominator), ``m<i>_c`` (covariate, with
    ``covariate`` and only for metrics that have one). ``keys``: the unit's key columns."""
    # Per-unit sums, shared between metrics, grouped by source table.
    wanted: list[tuple[int, str, Measure, bool]] = []
    for i, metric in enumerate(metrics):
        wanted.append((i, "y", metric.numerator, False))
        if metric.denominator is not None:
            wanted.append((i, "x", metric.denominator, False))
        if covariate and metric.covariate is not None:
            wanted.append((i, "c", metric.covariate, True))
    by_table: dict[SourceTable, dict[_Sum, str]] = {}
    sum_of: dict[tuple[int, str], tuple[SourceTable, _Sum]] = {}
    for i, role, measure, pre in wanted:
        key = _sum_of(measure, metrics[i], pre)
        table_sums = by_table.setdefault(measure.source.table, {})
        table_sums.setdefault(key, f"s{len(table_sums)}")
        sum_of[(i, role)] = (measure.source.table, key)
    aggs = {
        source: _shared_aggregate(units, source, sums, as_of, keys)
        for source, sums in by_table.items()
    }
    frm: Any = units
    for agg in aggs.values():
        on = [agg.c[k] == units.c[k] for k in keys]
        frm = frm.outerjoin(agg, on[0] if len(on) == 1 else and_(*on))
    unit_cols: list[ColumnElement[Any]] = []
    for i, role, measure, _ in wanted:
        source, key = sum_of[(i, role)]
        column = aggs[source].c[by_table[source][key]]
        unit_cols.append(_finish(measure, column).label(f"m{i}_{role}"))
    return frm, unit_cols


def _stat_sums(base: Any, n_metrics: int) -> list[ColumnElement[Any]]:
    """Σy, Σy² [, Σx, Σx², Σxy] [, Σc, Σc², Σyc] of each metric's per-unit columns in ``base``,
    labelled ``m<i>_<stat>``."""
    stats: list[ColumnElement[Any]] = []
    for i in range(n_metrics):
        y = base.c[f"m{i}_y"]
        stats += [func.sum(y).label(f"m{i}_sum"), func.sum(y * y).label(f"m{i}_sum_sq")]
        if f"m{i}_x" in base.c:
            x = base.c[f"m{i}_x"]
            stats += [
                func.sum(x).label(f"m{i}_denom_sum"),
                func.sum(x * x).label(f"m{i}_denom_sum_sq"),
                func.sum(x * y).label(f"m{i}_cross_sum"),
            ]
        if f"m{i}_c" in base.c:
            c = base.c[f"m{i}_c"]
            stats += [
                func.sum(c).label(f"m{i}_cov_sum"),
                func.sum(c * c).label(f"m{i}_cov_sum_sq"),
                func.sum(y * c).label(f"m{i}_cov_cross_sum"),
            ]
            if f"m{i}_x" in base.c:  # CUPED for ratio metrics needs Σxc too
                stats.append(func.sum(base.c[f"m{i}_x"] * c).label(f"m{i}_cov_denom_cross_sum"))
    return stats


def experiment_stats_query(
    experiment_id: str,
    metrics: Sequence[ExperimentMetric],
    *,
    slice_by: str | None = None,
    by_day: bool = False,
    covariate: bool = False,
    winsorize_pct: float | None = None,
    as_of: dt.datetime | None = None,
) -> Select[Any]:
    """Sufficient statistics of several metrics per variant [× slice] [× day], one statement.

    One ``units`` CTE (first assignments), one conditional-aggregation CTE per source table
    (sums shared between metrics), one per-unit row with a column per metric, one GROUP BY.
    Columns: ``variant``, optional ``slice`` (value of ``customers.<slice_by>``, NULL when the
    unit has no customers row), optional ``day`` (assignment day, a timestamp at midnight; ISO
    text on SQLite), ``units``, then ``m<i>_<stat>`` for the i-th metric and each of its
    ``STAT_COLUMNS`` except ``units``. With ``covariate``, Σc, Σc², Σyc for the metrics that
    have a covariate; with ``winsorize_pct``, y of every *mean* metric is capped at that
    quantile over all units (others uncapped). Groups without units are absent.
    """
    _check_shared_options(metrics, winsorize_pct)
    if slice_by is not None and slice_by not in SLICE_COLUMNS:
        raise ValueError(f"cannot slice by {slice_by!r}; use one of {', '.join(SLICE_COLUMNS)}")
    units = first_assignments_cte(experiment_id, as_of)

    frm, unit_cols = _unit_values(units, metrics, covariate=covariate, as_of=as_of)
    group_exprs: list[ColumnElement[Any]] = []
    if slice_by is not None:
        frm = frm.outerjoin(customers, customers.c.customer_id == units.c.customer_id)
        group_exprs.append(customers.c[slice_by].label("slice"))
    if by_day:
        group_exprs.append(trunc_to("day", units.c.assigned_at).label("day"))
    per_unit = (
        select(units.c.customer_id, units.c.variant, *group_exprs, *unit_cols)
        .select_from(frm)
        .cte("per_unit")
    )

    capped_ids = [
        i for i, m in enumerate(metrics) if winsorize_pct is not None and m.kind is MetricKind.MEAN
    ]
    base = per_unit
    if capped_ids:
        assert winsorize_pct is not None
        caps = {i: _cap_cte(per_unit, f"m{i}_y", winsorize_pct, f"cap_{i}") for i in capped_ids}
        cap_of = {f"m{i}_y": cap.c.cap for i, cap in caps.items()}
        frm = per_unit
        for cap in caps.values():
            frm = frm.join(cap, true())
        columns: list[ColumnElement[Any]] = [
            case((col > cap_of[col.name], cap_of[col.name]), else_=col).label(col.name)
            if col.name in cap_of
            else col
            for col in per_unit.c
        ]
        base = select(*columns).select_from(frm).cte("capped")

    keys = [base.c.variant] + [base.c[e.name] for e in group_exprs]
    stats = [func.count().label("units"), *_stat_sums(base, len(metrics))]
    return select(*keys, *stats).group_by(*keys).order_by(*keys)


def all_slices_stats_query(
    experiment_ids: Any | None, metrics: Sequence[ExperimentMetric]
) -> Select[Any]:
    """Sufficient statistics per experiment × variant × assignment day × every slice column.

    The serving layer's grain (``data.serving.experiments``): the same per-unit values as
    ``experiment_stats_query`` (first assignments, windows, NULLs as 0, no ``as_of``, no
    winsorisation), computed for several experiments at once (``experiment_ids``: a SELECT of
    ids, or None for every experiment with assignments) and grouped by ``experiment_id``,
    ``variant``, ``day`` (the assignment day, a DATE; ISO text on SQLite) and every column of
    ``SLICE_COLUMNS`` (NULL when the unit has no customers row). CUPED sums are included for
    every metric that has a covariate. Statistic columns are named as in
    ``experiment_stats_query``: ``units`` and ``m<i>_<stat>``.
    """
    _check_shared_options(metrics, None)
    a = experiment_assignments
    ranked = select(
        a.c.experiment_id,
        a.c.customer_id,
        a.c.variant,
        a.c.assigned_at,
        func.row_number()
        .over(
            partition_by=(a.c.experiment_id, a.c.customer_id),
            order_by=(a.c.assigned_at, a.c.variant),
        )
        .label("rn"),
    ).where(*_usable(a))
    if experiment_ids is not None:
        ranked = ranked.where(a.c.experiment_id.in_(experiment_ids))
    sub = ranked.subquery("ranked")
    units = (
        select(sub.c.experiment_id, sub.c.customer_id, sub.c.variant, sub.c.assigned_at)
        .where(sub.c.rn == 1)
        .cte("units")
    )
    keys = ("experiment_id", "customer_id")
    frm, unit_cols = _unit_values(units, metrics, covariate=True, as_of=None, keys=keys)
    frm = frm.outerjoin(customers, customers.c.customer_id == units.c.customer_id)
    per_unit = (
        select(
            units.c.experiment_id,
            units.c.variant,
            day_of(units.c.assigned_at).label("day"),
            *(customers.c[c].label(c) for c in SLICE_COLUMNS),
            *unit_cols,
        )
        .select_from(frm)
        .cte("per_unit")
    )
    group = [per_unit.c[k] for k in ("experiment_id", "variant", "day", *SLICE_COLUMNS)]
    stats = [func.count().label("units"), *_stat_sums(per_unit, len(metrics))]
    return select(*group, *stats).group_by(*group)


def variant_stats_query(
    experiment_id: str,
    metric: ExperimentMetric,
    *,
    slice_by: str | None = None,
    by_day: bool = False,
    covariate: bool = False,
    winsorize_pct: float | None = None,
    as_of: dt.datetime | None = None,
) -> Select[Any]:
    """Sufficient statistics of one metric per variant [× ``slice``] [× ``day``].

    ``experiment_stats_query`` for a single metric, with the statistics named like the
    ``VariantStats`` fields (``units`` and ``STAT_COLUMNS``) instead of ``m0_<stat>``. Stricter
    than the shared query: asking for a covariate the metric lacks, or winsorising a metric
    that is not a mean, raises.
    """
    _check_options(metric, slice_by, covariate, winsorize_pct)
    shared = experiment_stats_query(
        experiment_id,
        [metric],
        slice_by=slice_by,
        by_day=by_day,
        covariate=covariate,
        winsorize_pct=winsorize_pct,
        as_of=as_of,
    ).subquery("shared")
    keys = [shared.c[k] for k in ("variant", "slice", "day") if k in shared.c]
    stats = [shared.c.units] + [
        shared.c[f"m0_{name}"].label(name) for name in STAT_COLUMNS[1:] if f"m0_{name}" in shared.c
    ]
    return select(*keys, *stats).order_by(*keys)


def declared_variants_query(experiment_id: str) -> Select[Any]:
    """``variant, is_control, expected_share`` of an experiment, control first."""
    v = experiment_variants
    return (
        select(v.c.variant, v.c.is_control, v.c.expected_share)
        .where(v.c.experiment_id == bindparam("experiment_id", experiment_id))
        .order_by(v.c.is_control.desc(), v.c.variant)
    )


def daily_assignments_query(experiment_id: str, as_of: dt.datetime | None = None) -> Select[Any]:
    """Units per assignment ``day`` and ``variant`` (first assignments only)."""
    units = first_assignments_cte(experiment_id, as_of)
    day = trunc_to("day", units.c.assigned_at).label("day")
    return (
        select(day, units.c.variant, func.count().label("units"))
        .group_by(day, units.c.variant)
        .order_by(day, units.c.variant)
    )


def assignment_counts_query(experiment_id: str, as_of: dt.datetime | None = None) -> Select[Any]:
    """Units per ``variant`` (first assignments only): the counts an SRM check uses."""
    units = first_assignments_cte(experiment_id, as_of)
    return (
        select(units.c.variant, func.count().label("units"))
        .group_by(units.c.variant)
        .order_by(units.c.variant)
    )


# --- fetching -----------------------------------------------------------------------------


def _declared_variants(conn: Connection, experiment_id: str) -> list[str]:
    """Declared variant names, control first; NULL names and repeats are left out."""
    names = [row.variant for row in conn.execute(declared_variants_query(experiment_id))]
    return list(dict.fromkeys(str(n) for n in names if n is not None))


def _to_stats(
    variant: str, row: Any | None, metric: ExperimentMetric, covariate: bool
) -> VariantStats:
    """A ``VariantStats`` from a result row (None: a variant without units)."""
    m = row._mapping if row is not None and hasattr(row, "_mapping") else row

    def val(name: str) -> float:
        return float(m[name] or 0.0) if m is not None else 0.0

    ratio = metric.kind is MetricKind.RATIO
    return VariantStats(
        variant=variant,
        units=int(m["units"]) if m is not None else 0,
        sum=val("sum"),
        sum_sq=val("sum_sq"),
        denom_sum=val("denom_sum") if ratio else None,
        denom_sum_sq=val("denom_sum_sq") if ratio else None,
        cross_sum=val("cross_sum") if ratio else None,
        cov_sum=val("cov_sum") if covariate else None,
        cov_sum_sq=val("cov_sum_sq") if covariate else None,
        cov_cross_sum=val("cov_cross_sum") if covariate else None,
        cov_denom_cross_sum=val("cov_denom_cross_sum") if covariate and ratio else None,
    )


def _ordered(declared: list[str], present: Sequence[str]) -> list[str]:
    """Declared variants (control first), then undeclared ones found in assignments."""
    return declared + sorted(v for v in set(present) if v not in declared)


def _route(
    serving: ServingStore | None,
    experiment_id: str,
    metrics: Sequence[ExperimentMetric],
    winsorize_pct: float | None = None,
    as_of: dt.datetime | None = None,
) -> Source | None:
    """None without a store (the live path, unchanged), else the routing decision."""
    if serving is None:
        return None
    from metrics.experiments.served import route

    return route(serving, experiment_id, metrics, winsorize_pct=winsorize_pct, as_of=as_of)


def _declared(engine: Engine, experiment_id: str) -> list[str]:
    with engine.connect() as conn:
        return _declared_variants(conn, experiment_id)


def fetch_variant_stats(
    engine: Engine,
    experiment_id: str,
    metric: ExperimentMetric,
    *,
    covariate: bool = False,
    winsorize_pct: float | None = None,
    as_of: dt.datetime | None = None,
    serving: ServingStore | None = None,
) -> list[VariantStats]:
    """One ``VariantStats`` per variant: declared variants first (control first), with zeros
    for a variant without units, then any undeclared variant found in the assignments.

    With ``serving``, answered from the serving store when it covers the question
    (``metrics.experiments.served.route``), else live; the numbers are the same."""
    src = _route(serving, experiment_id, [metric], winsorize_pct, as_of)
    if src is not None and src.served:
        from metrics.experiments import served

        _check_options(metric, None, covariate, winsorize_pct)
        assert serving is not None
        found = served.stats_rows(serving, experiment_id, [metric], covariate=covariate,
                                  prefixed=False)  # fmt: skip
        rows: dict[str, Any] = {r["variant"]: r for r in found}
        declared = _declared(engine, experiment_id)
        return [
            _to_stats(v, rows.get(v), metric, covariate) for v in _ordered(declared, list(rows))
        ]
    stmt = variant_stats_query(
        experiment_id, metric, covariate=covariate, winsorize_pct=winsorize_pct, as_of=as_of
    )
    with engine.connect() as conn:
        rows = {row.variant: row for row in conn.execute(stmt)}
        declared = _declared_variants(conn, experiment_id)
    return [_to_stats(v, rows.get(v), metric, covariate) for v in _ordered(declared, list(rows))]


def fetch_experiment_stats(
    engine: Engine,
    experiment_id: str,
    metrics: Sequence[ExperimentMetric],
    *,
    covariate: bool = False,
    winsorize_pct: float | None = None,
    as_of: dt.datetime | None = None,
    serving: ServingStore | None = None,
) -> dict[str, list[VariantStats]]:
    """``{metric name: [VariantStats per variant]}`` for several metrics from one statement.

    Each list equals ``fetch_variant_stats`` for that metric (same variant order, zeros for a
    declared variant without units), except that ``covariate`` adds CUPED sums only to metrics
    that have a covariate and ``winsorize_pct`` caps only mean metrics, instead of refusing the
    others. Every list carries the same ``units`` per variant (first assignments): the SRM counts.
    With ``serving``, answered from the serving store when it covers the question.
    """
    src = _route(serving, experiment_id, metrics, winsorize_pct, as_of)
    if src is not None and src.served:
        from metrics.experiments import served

        assert serving is not None
        _check_shared_options(metrics, winsorize_pct)
        if not metrics:
            return {}
        found = served.stats_rows(serving, experiment_id, metrics, covariate=covariate)
        rows: dict[str, Any] = {r["variant"]: r for r in found}
        declared = _declared(engine, experiment_id)
    else:
        stmt = experiment_stats_query(
            experiment_id, metrics, covariate=covariate, winsorize_pct=winsorize_pct, as_of=as_of
        )
        if not metrics:
            return {}
        with engine.connect() as conn:
            rows = {row.variant: row._mapping for row in conn.execute(stmt)}
            declared = _declared_variants(conn, experiment_id)
    variants = _ordered(declared, list(rows))
    result: dict[str, list[VariantStats]] = {}
    for i, metric in enumerate(metrics):
        with_cov = covariate and metric.covariate is not None
        stats = []
        for v in variants:
            row = rows.get(v)
            values = None
            if row is not None:
                values = {"units": row["units"]} | {
                    name: row[f"m{i}_{name}"] for name in STAT_COLUMNS[1:] if f"m{i}_{name}" in row
                }
            stats.append(_to_stats(v, values, metric, with_cov))
        result[metric.name] = stats
    return result


def fetch_sliced_stats(
    engine: Engine,
    experiment_id: str,
    metric: ExperimentMetric,
    slice_by: str,
    *,
    covariate: bool = False,
    as_of: dt.datetime | None = None,
    serving: ServingStore | None = None,
) -> dict[str, list[VariantStats]]:
    """``{slice value: [VariantStats per variant]}`` for one customer dimension.

    Slice values are sorted; units without a customers row form ``UNKNOWN_SLICE``. Every slice
    lists every variant (zeros where a variant has no units in that slice). With ``serving``,
    answered from the serving store when it covers the question.
    """
    src = _route(serving, experiment_id, [metric], None, as_of)
    rows: list[Any]
    if src is not None and src.served:
        from metrics.experiments import served

        assert serving is not None
        _check_options(metric, slice_by, covariate, None)
        rows = served.stats_rows(serving, experiment_id, [metric], covariate=covariate,
                                 slice_by=slice_by, prefixed=False)  # fmt: skip
        declared = _declared(engine, experiment_id)
    else:
        stmt = variant_stats_query(
            experiment_id, metric, slice_by=slice_by, covariate=covariate, as_of=as_of
        )
        with engine.connect() as conn:
            rows = [row._mapping for row in conn.execute(stmt)]
            declared = _declared_variants(conn, experiment_id)
    by_slice: dict[str, dict[str, Any]] = {}
    for row in rows:
        label = UNKNOWN_SLICE if row["slice"] is None else str(row["slice"])
        by_slice.setdefault(label, {})[row["variant"]] = row
    variants = _ordered(declared, [row["variant"] for row in rows])
    return {
        label: [_to_stats(v, by_slice[label].get(v), metric, covariate) for v in variants]
        for label in sorted(by_slice)
    }


def _day_column(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.astype(str), format="ISO8601").dt.normalize()


MAX_DAILY_DAYS = 1_100
"""Most days a day-by-day series spans (about three years). Longer spans come only from bad
data (an assignment dated 0001-01-01 or 9999-12-31), which would make a dense daily grid of
millions of days: earlier days are folded into the first day kept."""
FUTURE_SLACK_DAYS = 31
"""Assignment days later than today (UTC) + this many days are implausible and left out."""


def _bounded_days(frame: pd.DataFrame, value_cols: list[str]) -> pd.DataFrame:
    """``frame`` (one row per ``day`` and ``variant``) limited to a plausible, bounded span.

    Days after today + :data:`FUTURE_SLACK_DAYS` are dropped; days more than
    :data:`MAX_DAILY_DAYS` before the last day kept are summed into that first kept day, so
    cumulative statistics from it on are unchanged. ``attrs["days_note"]`` says what changed.
    """
    today = pd.Timestamp(dt.datetime.now(dt.UTC).date())
    future = frame["day"] > today + pd.Timedelta(days=FUTURE_SLACK_DAYS)
    kept = frame[~future]
    notes = []
    if future.any():
        notes.append(f"{int(future.sum())} day-variant rows dated after today were left out")
    if not kept.empty:
        cutoff = kept["day"].max() - pd.Timedelta(days=MAX_DAILY_DAYS - 1)
        early = kept["day"] < cutoff
        if early.any():
            kept = kept.assign(day=kept["day"].where(~early, cutoff))
            kept = kept.groupby(["day", "variant"], as_index=False)[value_cols].sum()
            notes.append(f"days before {cutoff:%Y-%m-%d} were summed into that day")
    kept = kept.copy()
    if notes:
        kept.attrs["days_note"] = "; ".join(notes)
    return kept


def _with_source(frame: pd.DataFrame, src: Source | None) -> pd.DataFrame:
    """``frame`` with ``attrs`` saying which source answered (nothing without a store)."""
    if src is not None:
        frame.attrs.update(src.attrs())
    return frame


def fetch_daily_stats(
    engine: Engine,
    experiment_id: str,
    metric: ExperimentMetric,
    *,
    covariate: bool = False,
    as_of: dt.datetime | None = None,
    serving: ServingStore | None = None,
) -> pd.DataFrame:
    """Cumulative sufficient statistics by assignment day.

    One row per (``day``, ``variant``) for every day from the first to the last assignment day:
    the statistics of all units assigned on or before ``day`` (each with its full outcome
    window, or up to ``as_of``). Columns: ``day`` (datetime64), ``variant``, then the
    ``STAT_COLUMNS`` the metric has. Empty frame when the experiment has no units. With
    ``serving``, answered from the serving store when it covers the question, and
    ``attrs["source"]`` (``serving`` | ``live``) and ``attrs["source_reason"]`` say which.
    """
    src = _route(serving, experiment_id, [metric], None, as_of)
    if src is not None and src.served:
        from metrics.experiments import served

        assert serving is not None
        _check_options(metric, None, covariate, None)
        found = served.stats_rows(serving, experiment_id, [metric], covariate=covariate,
                                  by_day=True, prefixed=False)  # fmt: skip
        names = ["variant", "day", "units", *served._stat_names(metric, covariate)]
        frame = pd.DataFrame([[r[n] for n in names] for r in found], columns=names)
        declared = _declared(engine, experiment_id)
    else:
        stmt = variant_stats_query(
            experiment_id, metric, by_day=True, covariate=covariate, as_of=as_of
        )
        with engine.connect() as conn:
            result = conn.execute(stmt)
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
            declared = _declared_variants(conn, experiment_id)
    stat_cols = [c for c in STAT_COLUMNS if c in frame.columns]
    if frame.empty:
        return _with_source(pd.DataFrame(columns=["day", "variant", *stat_cols]), src)
    frame["day"] = _day_column(frame["day"])
    frame[stat_cols] = frame[stat_cols].astype(float)
    frame = _bounded_days(frame, stat_cols)
    if frame.empty:
        return _with_source(pd.DataFrame(columns=["day", "variant", *stat_cols]), src)
    variants = _ordered(declared, frame["variant"].tolist())
    days = pd.date_range(frame["day"].min(), frame["day"].max(), freq="D")
    full = (
        frame.set_index(["day", "variant"])[stat_cols]
        .reindex(pd.MultiIndex.from_product([days, variants], names=["day", "variant"]))
        .fillna(0.0)
    )
    cumulative = full.groupby(level="variant", sort=False).cumsum().reset_index()
    cumulative["units"] = cumulative["units"].astype(int)
    return _with_source(cumulative, src)


def fetch_daily_assignments(
    engine: Engine,
    experiment_id: str,
    *,
    as_of: dt.datetime | None = None,
    serving: ServingStore | None = None,
) -> pd.DataFrame:
    """Units per assignment day and variant (the traffic split over time).

    Columns: ``day`` (datetime64), ``variant``, ``units`` (assigned that day),
    ``cumulative_units``. Days without assignments in a variant have 0. With ``serving``,
    answered from the serving store when it covers the question (``attrs`` say which).
    """
    src = _route(serving, experiment_id, [], None, as_of)
    if src is not None and src.served:
        from metrics.experiments import served

        assert serving is not None
        frame = pd.DataFrame(
            served.daily_units(serving, experiment_id), columns=["day", "variant", "units"]
        )
        declared = _declared(engine, experiment_id)
    else:
        with engine.connect() as conn:
            result = conn.execute(daily_assignments_query(experiment_id, as_of))
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
            declared = _declared_variants(conn, experiment_id)
    if frame.empty:
        empty = pd.DataFrame(columns=["day", "variant", "units", "cumulative_units"])
        return _with_source(empty, src)
    frame["day"] = _day_column(frame["day"])
    frame = _bounded_days(frame, ["units"])
    if frame.empty:
        empty = pd.DataFrame(columns=["day", "variant", "units", "cumulative_units"])
        return _with_source(empty, src)
    variants = _ordered(declared, frame["variant"].tolist())
    days = pd.date_range(frame["day"].min(), frame["day"].max(), freq="D")
    full = (
        frame.set_index(["day", "variant"])["units"]
        .reindex(pd.MultiIndex.from_product([days, variants], names=["day", "variant"]))
        .fillna(0)
        .astype(int)
        .reset_index()
    )
    full["cumulative_units"] = full.groupby("variant", sort=False)["units"].cumsum()
    return _with_source(full, src)


def fetch_assignment_counts(
    engine: Engine,
    experiment_id: str,
    *,
    as_of: dt.datetime | None = None,
    serving: ServingStore | None = None,
) -> dict[str, int]:
    """Units per variant (declared variants first, 0 for a variant without units). With
    ``serving``, answered from the serving store when it covers the question."""
    src = _route(serving, experiment_id, [], None, as_of)
    if src is not None and src.served:
        from metrics.experiments import served

        assert serving is not None
        counts = served.assignment_counts(serving, experiment_id)
        declared = _declared(engine, experiment_id)
    else:
        with engine.connect() as conn:
            counts = {
                row.variant: int(row.units)
                for row in conn.execute(assignment_counts_query(experiment_id, as_of))
            }
            declared = _declared_variants(conn, experiment_id)
    return {v: counts.get(v, 0) for v in _ordered(declared, list(counts))}


# --- quantile metrics (order statistics, not sums) ----------------------------------------


def order_values_cte(experiment_id: str, window_days: int, as_of: dt.datetime | None = None) -> CTE:
    """CTE ``order_values(variant, v)``: one row per buying unit, v = its mean order value
    (Σ revenue / orders in ``[assigned_at, assigned_at + window_days)``; first assignments, NULL
    revenue as 0, ``as_of`` as everywhere). The same window SQL as the sums (``_unit_values``)."""
    sample = next(iter(_quantile_catalog().values()))
    proxy = ExperimentMetric(
        name="order_value",
        label="order value",
        description="",
        kind=MetricKind.RATIO,
        higher_is_better=True,
        numerator=sample.revenue,
        denominator=sample.orders,
        window_days=window_days,
    )
    units = first_assignments_cte(experiment_id, as_of)
    frm, unit_cols = _unit_values(units, [proxy], covariate=False, as_of=as_of)
    per_unit = select(units.c.variant, *unit_cols).select_from(frm).cte("per_unit")
    y, x = per_unit.c.m0_y, per_unit.c.m0_x
    return (
        select(per_unit.c.variant, (cast(y, Double) / cast(x, Double)).label("v"))
        .where(x > 0)
        .cte("order_values")
    )


def _quantile_catalog() -> dict[str, QuantileMetric]:
    from metrics.experiments.definitions import QUANTILE_METRICS

    return QUANTILE_METRICS


def buyer_counts_query(
    experiment_id: str, window_days: int, as_of: dt.datetime | None = None
) -> Select[Any]:
    """``variant, units``: buying units per variant (the n of a quantile metric)."""
    values = order_values_cte(experiment_id, window_days, as_of)
    return select(values.c.variant, func.count().label("units")).group_by(values.c.variant)


def order_statistics_query(
    experiment_id: str,
    window_days: int,
    ranks: dict[str, Sequence[int]],
    as_of: dt.datetime | None = None,
) -> Select[Any]:
    """``variant, pos, v``: the order values at the given 1-based ``ranks`` per variant
    (ascending order within the variant). Only these few values leave the warehouse."""
    values = order_values_cte(experiment_id, window_days, as_of)
    ranked = select(
        values.c.variant,
        values.c.v,
        func.row_number().over(partition_by=values.c.variant, order_by=values.c.v).label("rn"),
    ).subquery("ranked_values")
    wanted = [
        and_(ranked.c.variant == bindparam(None, v), ranked.c.rn.in_(sorted(set(r))))
        for v, r in ranks.items()
        if r
    ]
    stmt = select(ranked.c.variant, ranked.c.rn.label("pos"), ranked.c.v)
    return stmt.where(or_(*wanted) if wanted else literal(False))


def fetch_quantile_stats(
    engine: Engine,
    experiment_id: str,
    metrics: Sequence[QuantileMetric],
    *,
    as_of: dt.datetime | None = None,
) -> dict[str, list[QuantileStats]]:
    """``{metric name: [QuantileStats per variant]}`` (declared variants first; n = 0 for a
    variant without buyers), always live: quantiles are not additive over the serving layer's
    groups. Two statements per outcome window: buyers per variant, then the few order
    statistics each quantile needs (``metrics.stats.quantile.needed_ranks``)."""
    result: dict[str, list[QuantileStats]] = {}
    with engine.connect() as conn:
        declared = _declared_variants(conn, experiment_id)
        for window in sorted({m.window_days for m in metrics}):
            group = [m for m in metrics if m.window_days == window]
            counts = {
                r.variant: int(r.units)
                for r in conn.execute(buyer_counts_query(experiment_id, window, as_of))
            }
            ranks = {
                v: sorted({r for m in group for r in needed_ranks(n, m.q)})
                for v, n in counts.items()
            }
            values: dict[str, dict[int, float]] = {}
            if any(ranks.values()):
                stmt = order_statistics_query(experiment_id, window, ranks, as_of)
                for r in conn.execute(stmt):
                    values.setdefault(r.variant, {})[int(r.pos)] = float(r.v)
            variants = _ordered(declared, list(counts))
            for m in group:
                result[m.name] = [
                    stats_from_ranks(v, counts.get(v, 0), m.q, values.get(v, {})) for v in variants
                ]
    return result
