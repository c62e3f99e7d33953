"""Serving tables for the experiment pages: per-experiment sufficient statistics.

**What is stored.**

- ``srv_experiment_stats``: one row per experiment × catalog metric × variant × assignment day ×
  (``acquisition_channel``, ``segment``, ``region``, ``persona``) with the sufficient statistics
  of the metric over the units first assigned that day in that variant with those customer
  attributes: ``units`` (n), ``sum`` (Σy), ``sum_sq`` (Σy²), for ratio metrics ``denom_sum``
  (Σx), ``denom_sum_sq`` (Σx²), ``cross_sum`` (Σxy), and for metrics with a pre-period
  covariate ``cov_sum`` (Σc), ``cov_sum_sq`` (Σc²), ``cov_cross_sum`` (Σyc) and, for ratio
  metrics with one, ``cov_denom_cross_sum`` (Σxc, CUPED for ratios); NULL where the
  metric has no such value. y, x and c are exactly the per-unit values of the live SQL
  (``metrics.experiments.sql``: first assignment, outcome and pre-period windows, NULL as 0;
  the same SQL expressions, see ``all_slices_stats_query``). Every catalog metric is stored for
  every experiment (not only the ones it declares), with ``metric_hash``, a fingerprint of the
  metric's definition at build time.
- ``srv_experiments``: one row per experiment in the warehouse's ``experiments`` table at the
  refresh: its status, start/end, assignment rows and first/latest assignment time. An
  experiment is served only if it has a row here (otherwise it is newer than the last refresh).

**Why sums over it are exact.** Each unit belongs to exactly one (variant, day, slice
combination) group, so the whole-experiment statistics are the SUM over all rows, the per-day
statistics (cumulative effect, daily traffic split) the SUM per ``day`` and the per-slice
statistics the SUM per value of one slice column: integer statistics (units, counts of events
and their squares) are equal exactly; float sums (revenue) differ from the live single-pass
sums only by summation order (relative ~1e-15). ``units`` per variant (SRM inputs, traffic
split) is the same for every metric row.

**Not additive, hence answered live** (the metrics layer routes these to the warehouse):

- **Winsorisation**: the cap is a percentile of y over *all* the experiment's units, for any
  fraction the caller picks; capped sums cannot be rebuilt from group sums (they would need the
  whole distribution). The pages do not winsorise; ``winsorize_pct`` is always live.
- **``as_of``**: truncates every unit's outcome window at a moment, which changes the per-unit
  values themselves, not only which units count. Always live.
- A metric whose definition changed since the build (``metric_hash`` differs): live until the
  next refresh rebuilds the experiment (``refresh --full`` for ended experiments).

**Refresh** (``partition="key"`` on ``experiment_id``): a full build reads every experiment.
An incremental refresh from day ``since`` rebuilds, whole, every experiment whose statistics
can have changed: running ones (status ``running`` or no ``ended_at``), and any experiment
started, ended or with an assignment on or after ``since - W`` (W = the longest outcome window
in the catalog): a unit's outcome rows lie before ``assigned_at + W``, its pre-period rows
before ``assigned_at``, so an experiment whose last assignment is before ``since - W`` reads no
row at or after ``since``. Like every rollup this assumes that rows older than the late-data
window do not appear or change later (and that customers' attributes do not change); a
``refresh --full`` rebuilds everything. Running experiments are rebuilt on every refresh; the
served figures are those of the last refresh, and the pages say when that was.

This module reads the metric catalog (``metrics.experiments``) lazily, inside the source
functions: the catalog's definitions are what the statistics are of.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Double,
    Integer,
    Select,
    String,
    Table,
    case,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    union,
    union_all,
)

from data.schema import experiment_assignments, experiments
from data.serving.rollups import SERVING_METADATA, Rollup

SLICE_DIMS = ("acquisition_channel", "segment", "region", "persona")
"""The customer attributes stored on every row (= ``metrics.experiments.sql.SLICE_COLUMNS``)."""

STATS = (
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
"""Stored statistic columns besides ``units`` (named like the ``VariantStats`` fields)."""

experiment_stats = Table(
    "srv_experiment_stats",
    SERVING_METADATA,
    Column("experiment_id", String(64), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("metric_hash", String(16), nullable=False, comment="fingerprint of the definition"),
    Column("variant", String(64), nullable=False),
    Column("day", Date, nullable=False, comment="assignment day of the units"),
    *(Column(d, String(32), nullable=True) for d in SLICE_DIMS),
    Column("units", BigInteger, nullable=False),
    *(Column(s, Double, nullable=True) for s in STATS),
    comment="sufficient statistics per experiment × metric × variant × day × customer attributes",
)

experiment_index = Table(
    "srv_experiments",
    SERVING_METADATA,
    Column("experiment_id", String(64), nullable=False),
    Column("status", String(16), nullable=True),
    Column("started_at", DateTime, nullable=True),
    Column("ended_at", DateTime, nullable=True),
    Column("assignment_rows", BigInteger, nullable=False),
    Column("first_assigned_at", DateTime, nullable=True),
    Column("last_assigned_at", DateTime, nullable=True),
    comment="experiments present at the last refresh, with their assignment span",
)

ROLLUP_NAMES = (experiment_index.name, experiment_stats.name)
"""The serving tables an experiment question needs."""


def metric_hash(metric: Any) -> str:
    """A fingerprint of an ``ExperimentMetric`` definition (16 hex digits)."""
    return hashlib.sha256(repr(metric).encode()).hexdigest()[:16]


def _catalog() -> list[Any]:
    from metrics.experiments.definitions import EXPERIMENT_METRICS

    return list(EXPERIMENT_METRICS.values())


def max_window_days() -> int:
    """The longest outcome window in the catalog (days)."""
    return max((m.window_days for m in _catalog()), default=0)


def selected_experiments(since: dt.date | None) -> Any | None:
    """The experiment ids an incremental refresh from ``since`` rebuilds (None: all)."""
    if since is None:
        return None
    e, a = experiments, experiment_assignments
    reach = dt.datetime.combine(since, dt.time.min) - dt.timedelta(days=max_window_days())
    touched = select(e.c.experiment_id).where(
        or_(
            e.c.ended_at.is_(None),
            e.c.status == "running",
            e.c.started_at >= reach,
            e.c.ended_at >= reach,
        )
    )
    assigned = select(a.c.experiment_id).where(a.c.assigned_at >= reach).distinct()
    return union(touched, assigned)


def _index_source(since: dt.date | None) -> Select:
    e, a = experiments, experiment_assignments
    spans = (
        select(
            a.c.experiment_id,
            func.count().label("n"),
            func.min(a.c.assigned_at).label("first_at"),
            func.max(a.c.assigned_at).label("last_at"),
        )
        .group_by(a.c.experiment_id)
        .subquery("spans")
    )
    stmt = select(
        e.c.experiment_id,
        e.c.status,
        e.c.started_at,
        e.c.ended_at,
        cast(func.coalesce(spans.c.n, 0), BigInteger).label("assignment_rows"),
        spans.c.first_at.label("first_assigned_at"),
        spans.c.last_at.label("last_assigned_at"),
    ).select_from(e.outerjoin(spans, spans.c.experiment_id == e.c.experiment_id))
    chosen = selected_experiments(since)
    if chosen is not None:
        stmt = stmt.where(e.c.experiment_id.in_(chosen))
    return stmt


def _stats_source(since: dt.date | None) -> Select:
    from metrics.experiments.sql import all_slices_stats_query

    metrics = _catalog()
    grouped = all_slices_stats_query(selected_experiments(since), metrics).subquery("g")
    # One row per catalog metric (our own identifiers, rendered inline), crossed with the
    # grouped statistics: each statistic is read once and unpivoted with CASE.
    names = union_all(
        *(
            select(
                literal_column(str(i), Integer).label("i"),
                literal_column(f"'{m.name}'", String).label("metric"),
                literal_column(f"'{metric_hash(m)}'", String).label("metric_hash"),
            )
            for i, m in enumerate(metrics)
        )
    ).subquery("m")
    cols: list[Any] = [
        grouped.c.experiment_id,
        names.c.metric,
        names.c.metric_hash,
        grouped.c.variant,
        grouped.c.day,
        *(grouped.c[d] for d in SLICE_DIMS),
        cast(grouped.c.units, BigInteger).label("units"),
    ]
    for stat in STATS:
        branches = [
            (names.c.i == literal_column(str(i), Integer), grouped.c[f"m{i}_{stat}"])
            for i in range(len(metrics))
            if f"m{i}_{stat}" in grouped.c
        ]
        value = case(*branches, else_=null()) if branches else null()
        cols.append(cast(value, Double).label(stat))
    return select(*cols).select_from(grouped.join(names, true()))


ROLLUPS: tuple[Rollup, ...] = (
    Rollup(
        experiment_index,
        _index_source,
        "key",
        "experiments present at the refresh and their assignment span",
        key_columns=("experiment_id",),
        depends_on=("experiments", "experiment_assignments"),
    ),
    Rollup(
        experiment_stats,
        _stats_source,
        "key",
        "experiment sufficient statistics per metric × variant × day × customer attributes",
        key_columns=("experiment_id",),
        depends_on=("experiment_assignments", "orders", "touchpoints", "customers"),
    ),
)
