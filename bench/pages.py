"""Page data-fetch benchmarks: pushed-down SQL (what the pages do) vs the naive way.

For each page, ``pushed_down`` runs the same fetch functions the page calls (aggregates in SQL,
small frames back); ``naive`` reads the rows those figures come from into pandas with
``pd.read_sql`` and aggregates there — what a dashboard without push-down would do. The naive
versions compute a *subset* of each page's figures, so their times are a lower bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, func, select

from bench.report import Table
from data.schema import customers, daily_spend, lifecycle_changes, orders, touchpoints
from data.warehouse import open_engine, to_url
from metrics.filters import Filters, default_filters
from metrics.marketing import attribution, channels, kpi_sql, lifecycle

OVERVIEW_KPIS = (
    "new_customers", "revenue", "cac", "roas", "conversion_rate", "clv_cac", "nps", "churn_rate",
)  # fmt: skip


def overview_pushed(engine: Engine, f: Filters) -> None:
    kpi_sql.fetch_kpi_totals(engine, list(OVERVIEW_KPIS) + ["csat"], f)
    for name in OVERVIEW_KPIS:
        kpi_sql.fetch_kpi(engine, name, f, "week")
    for name, grain in (("new_customers", "channel"), ("cac", "channel"), ("roas", "channel")):
        kpi_sql.fetch_kpi(engine, name, f, grain)
    kpi_sql.fetch_kpi(engine, "campaign_conversion_rate", f, "is_personalised")


def lifecycle_pushed(engine: Engine, f: Filters) -> None:
    lifecycle.stage_volumes(engine, f, "week")
    lifecycle.stage_distribution(engine, f)
    lifecycle.stage_conversion(engine, f)
    lifecycle.median_time_in_stage(engine, f)
    lifecycle.transitions(engine, f)
    lifecycle.campaign_stage_comparison(engine, f)
    lifecycle.stage_kpis(engine, f)


def channels_pushed(engine: Engine, f: Filters) -> None:
    channels.performance(engine, f)
    channels.timeseries(engine, f)
    attribution.attribute(engine, f)
    channels.dark_funnel(engine, f)


def overview_naive(engine: Engine, f: Filters) -> None:
    prev = f.previous_period()
    o = pd.read_sql(select(orders).where(orders.c.ordered_at >= prev.start_ts,
                                         orders.c.ordered_at < f.end_ts), engine)  # fmt: skip
    c = pd.read_sql(select(customers), engine)
    s = pd.read_sql(select(daily_spend).where(daily_spend.c.spend_date >= prev.start), engine)
    new = c[(c.first_seen_at >= f.start_ts) & (c.first_seen_at < f.end_ts)]
    cur = o[o.ordered_at >= f.start_ts]
    _ = (cur.revenue.sum(), len(new), s.spend.sum() / max(len(new), 1))
    _ = new.groupby("acquisition_channel").size()
    _ = cur.groupby(cur.ordered_at.dt.to_period("W")).revenue.sum()


def lifecycle_naive(engine: Engine, f: Filters) -> None:
    lc = pd.read_sql(
        select(lifecycle_changes).where(lifecycle_changes.c.changed_at < f.end_ts), engine
    )
    period = lc[lc.changed_at >= f.start_ts]
    _ = period.groupby(["from_stage", "to_stage"], dropna=False).size()
    _ = period.groupby([period.changed_at.dt.to_period("W"), "to_stage"]).size()
    _ = lc.sort_values("changed_at").groupby("customer_id").to_stage.last().value_counts()


def channels_naive(engine: Engine, f: Filters, lookback_days: int = 30) -> None:
    lo = f.start_ts - pd.Timedelta(days=lookback_days)
    t = pd.read_sql(
        select(touchpoints.c.customer_id, touchpoints.c.occurred_at, touchpoints.c.channel)
        .where(touchpoints.c.occurred_at >= lo, touchpoints.c.occurred_at < f.end_ts)
        .where(touchpoints.c.event_type.in_(attribution.TOUCH_EVENT_TYPES)),
        engine,
    )
    o = pd.read_sql(select(orders).where(orders.c.ordered_at >= f.start_ts,
                                         orders.c.ordered_at < f.end_ts), engine)  # fmt: skip
    last = pd.merge_asof(
        o.sort_values("ordered_at"), t.sort_values("occurred_at"),
        left_on="ordered_at", right_on="occurred_at", by="customer_id",
        tolerance=pd.Timedelta(days=lookback_days),
    )  # fmt: skip
    _ = last.groupby("channel", dropna=False).revenue.agg(["size", "sum"])


PAGES: dict[str, tuple[Callable[[Engine, Filters], None], Callable[[Engine, Filters], None]]] = {
    "Loop health (overview)": (overview_pushed, overview_naive),
    "Lifecycle": (lifecycle_pushed, lifecycle_naive),
    "Channels & attribution": (channels_pushed, channels_naive),
}


def _fresh_engine(path: Path) -> Engine:
    """A new engine (cold: no pooled connection, no Streamlit cache)."""
    return open_engine(to_url(path), read_only=True)


def bench_pages(path: Path, *, naive: bool = True) -> Table:
    engine = _fresh_engine(path)
    with engine.connect() as conn:
        latest = conn.execute(select(func.max(touchpoints.c.occurred_at))).scalar()
    engine.dispose()
    f = default_filters(latest.date())
    table = Table(
        f"Page data fetch, cold cache ({f.start} – {f.end}); naive = rows into pandas",
        ["page", "pushed-down s", "naive s", "naive ÷ pushed-down"],
    )
    for name, (pushed, slow) in PAGES.items():
        engine = _fresh_engine(path)
        t0 = time.perf_counter()
        pushed(engine, f)
        fast_s = time.perf_counter() - t0
        engine.dispose()
        slow_s = float("nan")
        if naive:
            engine = _fresh_engine(path)
            t0 = time.perf_counter()
            slow(engine, f)
            slow_s = time.perf_counter() - t0
            engine.dispose()
        table.add(name, fast_s, slow_s, slow_s / fast_s)
    return table
