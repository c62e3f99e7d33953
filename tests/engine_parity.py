"""Every page's SQL on another engine equals DuckDB's answer on the same demo warehouse.

Shared by the Spark (tests/test_spark.py) and MySQL/MariaDB (tests/test_mysql.py) suites: one
demo (same size, seed and last day) is loaded into DuckDB and into the other engine, and each
entry of :data:`CHECKS` — data health, every KPI, lifecycle, channels and attribution,
retention, the experiment sufficient statistics — is computed on both through the app's own
functions. Results are normalised (timestamps to ISO text, Decimals and ints to floats, rows
sorted by their non-numeric columns) and compared: counts exactly, money and ratios to a
relative 1e-9 (floating-point sums in another order).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from data.health import check_warehouse
from metrics.experiments import sql as xsql
from metrics.experiments.data import list_experiments
from metrics.experiments.definitions import QUANTILE_METRICS, get_metric
from metrics.filters import Filters
from metrics.marketing import attribution, channels, kpi_sql, lifecycle
from metrics.marketing.kpis import KPIS
from metrics.retention import cohorts
from metrics.retention.channel_clv import channel_clv
from metrics.retention.clv import CLVSettings

DEMO_END = dt.date(2026, 11, 30)
DEMO_CUSTOMERS = 3_000
DEMO_SEED = 5
AS_OF = dt.datetime(2026, 12, 1)  # experiments' "now": the day after the demo's last day

DEFAULT = Filters(start=DEMO_END - dt.timedelta(days=89), end=DEMO_END)
NARROW = Filters(
    start=DEMO_END - dt.timedelta(days=200),
    end=DEMO_END - dt.timedelta(days=30),
    channels=("email", "paid_search"),
    segments=("smb",),
)
KPI_GRAINS = (
    "total",
    "week",
    "month",
    "day",
    "channel",
    "segment",
    "region",
    "persona",
    "campaign",
    "target_stage",
    "is_personalised",
)
YEAR_START = DEMO_END - dt.timedelta(days=364)


def _kpis(engine: Engine, filters: Filters, grains: tuple[str, ...] = KPI_GRAINS) -> pd.DataFrame:
    parts = []
    for name in KPIS:
        for grain in grains:
            if not kpi_sql.supports_grain(name, grain):
                continue
            try:
                df = kpi_sql.fetch_kpi(engine, name, filters, grain)
            except kpi_sql.UnsupportedQuery:
                continue
            parts.append(df.assign(kpi=name, grain=grain))
    return _concat(parts)


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    normalised = [normalise(p) for p in parts]
    return pd.concat(normalised, ignore_index=True) if normalised else pd.DataFrame()


def _experiments(engine: Engine) -> pd.DataFrame:
    rows = []
    for info in list_experiments(engine, as_of=AS_OF):
        d = dataclasses.asdict(info)
        d["variants"] = ",".join(str(v) for v in d.get("variants", ()))
        rows.append({k: str(v) if isinstance(v, tuple | list | dict) else v for k, v in d.items()})
    return pd.DataFrame(rows)


def _stats_frame(by_key: dict[str, list[Any]], key: str = "metric") -> pd.DataFrame:
    rows = []
    for name, stats in by_key.items():
        for s in stats:
            rows.append({key: name, **dataclasses.asdict(s)})
    return pd.DataFrame(rows)


def _experiment_stats(engine: Engine) -> pd.DataFrame:
    parts = []
    for info in list_experiments(engine, as_of=AS_OF):
        names = (info.primary_metric, *info.secondary_metrics, *info.guardrail_metrics)
        metrics = [get_metric(n) for n in dict.fromkeys(names)]
        for covariate in (False, True):
            stats = xsql.fetch_experiment_stats(
                engine, info.experiment_id, metrics, covariate=covariate, as_of=AS_OF
            )
            parts.append(_stats_frame(stats).assign(exp=info.experiment_id, cuped=covariate))
        capped = xsql.fetch_experiment_stats(
            engine, info.experiment_id, metrics, winsorize_pct=0.99, as_of=AS_OF
        )
        parts.append(_stats_frame(capped).assign(exp=info.experiment_id, cuped="capped"))
    return _concat(parts)


def _experiment_breakdowns(engine: Engine) -> pd.DataFrame:
    parts = []
    for info in list_experiments(engine, as_of=AS_OF):
        metric = get_metric(info.primary_metric)
        eid = info.experiment_id
        sliced = xsql.fetch_sliced_stats(engine, eid, metric, "segment", as_of=AS_OF)
        parts.append(_stats_frame(sliced, "slice").assign(exp=eid, part="segment"))
        daily = xsql.fetch_daily_stats(engine, eid, metric, as_of=AS_OF)
        parts.append(daily.assign(exp=eid, part="daily"))
        parts.append(xsql.fetch_daily_assignments(engine, eid, as_of=AS_OF).assign(exp=eid))
        counts = xsql.fetch_assignment_counts(engine, eid, as_of=AS_OF)
        parts.append(_as_frame(counts).assign(exp=eid, part="counts"))
        q = xsql.fetch_quantile_stats(engine, eid, list(QUANTILE_METRICS.values()), as_of=AS_OF)
        parts.append(_stats_frame(q).assign(exp=eid, part="quantiles"))
    return _concat(parts)


def _as_frame(value: Any) -> pd.DataFrame:
    if isinstance(value, pd.DataFrame):
        return value
    if isinstance(value, dict):
        return pd.DataFrame({"key": list(value), "value": list(value.values())})
    return pd.DataFrame(
        [dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for v in value]
    )


def _health(engine: Engine) -> pd.DataFrame:
    report = check_warehouse(engine, now=dt.datetime(2026, 12, 1, 6))
    rows = [{"table": "(all)", "status": str(report.status)}]
    for t in report.tables:
        rows.append(
            {
                "table": t.name,
                "status": str(t.status),
                "rows": t.row_count,
                "problems": "; ".join(str(p) for p in getattr(t, "problems", ())),
            }
        )
    return pd.DataFrame(rows)


def _lifecycle(engine: Engine, filters: Filters) -> pd.DataFrame:
    parts = [
        lifecycle.stage_volumes(engine, filters, "week").assign(part="volumes"),
        lifecycle.stage_distribution(engine, filters).assign(part="distribution"),
        lifecycle.stage_conversion(engine, filters).assign(part="conversion"),
        lifecycle.median_time_in_stage(engine, filters).assign(part="time_in_stage"),
        lifecycle.transitions(engine, filters).assign(part="transitions"),
        lifecycle.campaign_stage_comparison(engine, filters).assign(part="campaign_stage"),
        lifecycle.stage_kpis(engine, filters).assign(part="stage_kpis"),
    ]
    return _concat(parts)


def _channels(engine: Engine, filters: Filters) -> pd.DataFrame:
    parts = [
        attribution.attribute(engine, filters).assign(part="attribute_channel"),
        attribution.attribute(engine, filters, by="campaign").assign(part="attribute_campaign"),
        attribution.attribute_over_time(engine, filters, grain="week").assign(part="over_time"),
        attribution.daily_credit(engine, filters).assign(part="daily_credit"),
        channels.performance(engine, filters).assign(part="performance"),
        channels.performance(engine, filters, by="campaign", model="linear").assign(part="perf_c"),
        channels.timeseries(engine, filters, grain="month").assign(part="timeseries"),
        channels.dark_funnel(engine, filters).assign(part="dark_funnel"),
    ]
    return _concat(parts)


def _retention(engine: Engine, filters: Filters) -> pd.DataFrame:
    parts = []
    for activity in ("purchase", "any"):
        cells = cohorts.cohort_retention(engine, filters, YEAR_START, DEMO_END, "month", activity)
        parts.append(cells.assign(part=f"cohorts_{activity}"))
    weekly = cohorts.cohort_retention(
        engine, filters, YEAR_START, DEMO_END, "week", "purchase", "segment"
    )
    parts.append(weekly.assign(part="cohorts_week_segment"))
    parts.append(cohorts.repeat_purchase(engine, filters, YEAR_START, DEMO_END).assign(part="rep"))
    parts.append(cohorts.channel_cac(engine, filters, YEAR_START, DEMO_END).assign(part="cac"))
    return _concat(parts)


def _clv(engine: Engine, filters: Filters) -> pd.DataFrame:
    return normalise(channel_clv(engine, filters, YEAR_START, DEMO_END, CLVSettings()))


CHECKS: dict[str, Callable[[Engine], pd.DataFrame]] = {
    "health": _health,
    "kpis_default": lambda e: _kpis(e, DEFAULT),
    "kpis_filtered": lambda e: _kpis(e, NARROW),
    "kpi_totals": lambda e: _concat(
        [
            kpi_sql.fetch_kpi_totals(e, list(KPIS), f).assign(f=i)
            for i, f in enumerate((DEFAULT, NARROW))
        ]
    ),
    "experiment_activity": lambda e: _as_frame(kpi_sql.fetch_experiment_activity(e, DEFAULT)),
    "lifecycle_default": lambda e: _lifecycle(e, DEFAULT),
    "lifecycle_filtered": lambda e: _lifecycle(e, NARROW),
    "channels_default": lambda e: _channels(e, DEFAULT),
    "channels_filtered": lambda e: _channels(e, NARROW),
    "retention": lambda e: _retention(e, Filters(start=YEAR_START, end=DEMO_END)),
    "clv": lambda e: _clv(e, Filters(start=YEAR_START, end=DEMO_END)),
    "experiments": _experiments,
    "experiment_stats": _experiment_stats,
    "experiment_breakdowns": _experiment_breakdowns,
}


SPARK_KPI_GRAINS = ("total", "week", "channel", "campaign")
"""Spark answers each statement in ~1 s on one machine: every KPI at four grains (time, a
dimension, the campaign path) instead of all eleven keeps the suite to a few minutes."""

SPARK_CHECKS: dict[str, Callable[[Engine], pd.DataFrame]] = {
    "health": _health,
    "kpis": lambda e: _kpis(e, DEFAULT, SPARK_KPI_GRAINS),
    "kpi_totals": lambda e: _concat(
        [
            kpi_sql.fetch_kpi_totals(e, list(KPIS), f).assign(f=i)
            for i, f in enumerate((DEFAULT, NARROW))
        ]
    ),
    "lifecycle": lambda e: _lifecycle(e, NARROW),
    "channels": lambda e: _concat(
        [
            attribution.attribute(e, NARROW).assign(part="attribute_channel"),
            attribution.attribute_over_time(e, NARROW, grain="week").assign(part="over_time"),
            channels.performance(e, NARROW, by="campaign", model="linear").assign(part="perf"),
            channels.dark_funnel(e, NARROW).assign(part="dark_funnel"),
        ]
    ),
    "experiments": _experiments,
    "experiment_stats": _experiment_stats,
}
"""The focused set the Spark suite runs (see :data:`SPARK_KPI_GRAINS`)."""


def serving_tables(warehouse_url: str, serving_path: str) -> dict[str, pd.DataFrame]:
    """Refresh a DuckDB serving store at ``serving_path`` from the warehouse (full build) and
    return every serving table's rows, normalised."""
    import duckdb

    from data.serving.config import ServingConfig
    from data.serving.refresh import refresh
    from data.serving.rollups import all_rollups
    from data.warehouse import open_engine

    engine = open_engine(warehouse_url)
    try:
        refresh(engine, ServingConfig(f"duckdb:///{serving_path}", "env"), warehouse_url, full=True)
    finally:
        engine.dispose()
    out = {}
    with duckdb.connect(serving_path, read_only=True) as con:
        for rollup in all_rollups():
            df = con.sql(f'SELECT * FROM "{rollup.name}"').df()
            # srv_lc_stays.bin is CAST(days AS INTEGER) in the warehouse's dialect: rounded on
            # DuckDB, truncated on Spark and MySQL. Either is non-decreasing in days, which is
            # all the exact median needs (data/serving/lifecycle.py); the exact days are compared.
            out[rollup.name] = normalise(df.drop(columns=[c for c in UNPORTABLE if c in df]))
    return out


UNPORTABLE = ("bin",)
"""Serving columns whose values legitimately differ by engine (see :func:`serving_tables`)."""


# --- comparison ---------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    """One value in a comparable form: numbers as float, moments in time as ISO text."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, decimal.Decimal | int | float | np.integer | np.floating):
        f = float(value)
        return None if math.isnan(f) else f
    if isinstance(value, pd.Timestamp | dt.datetime):
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S.%f")
    return str(value)


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every cell through :func:`_cell` (object dtype), columns in order."""
    return pd.DataFrame(
        {c: [_cell(v) for v in df[c].tolist()] for c in df.columns},
        columns=list(df.columns),
        dtype=object,
    )


def _sort_key(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:+.8e}"
    return str(v)


def differences(reference: pd.DataFrame, other: pd.DataFrame, limit: int = 5) -> list[str]:
    """What differs between two normalised frames (empty when equal)."""
    a, b = normalise(reference), normalise(other)
    if list(a.columns) != list(b.columns):
        return [f"columns {list(a.columns)} != {list(b.columns)}"]
    if len(a) != len(b):
        return [f"{len(a)} rows != {len(b)} rows"]
    if a.empty:
        return []
    text_cols = [c for c in a.columns if not all(isinstance(v, float) or v is None for v in a[c])]
    # Sort by the text columns, then by every number rounded to 9 significant digits: rows tied
    # on their labels (a numeric campaign id, say) come back in engine order otherwise.
    key = lambda s: s.map(_sort_key)  # noqa: E731
    order = text_cols + [c for c in a.columns if c not in text_cols]
    a = a.sort_values(order, key=key, kind="stable").reset_index(drop=True)
    b = b.sort_values(order, key=key, kind="stable").reset_index(drop=True)
    out = []
    for col in a.columns:
        for i, (x, y) in enumerate(zip(a[col], b[col], strict=True)):
            same = (
                x == y
                or (x is None and y is None)
                or (
                    isinstance(x, float)
                    and isinstance(y, float)
                    and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)
                )
            )
            if not same:
                row = {c: a.at[i, c] for c in text_cols}
                out.append(f"{col}: {x!r} != {y!r} at {row}")
                if len(out) >= limit:
                    return out
    return out
