"""Page data-fetch benchmarks: served vs live pushed-down SQL vs the naive way.

For each page, ``live`` runs the same fetch functions the page calls against the warehouse
(aggregates in SQL, small frames back); ``served`` runs them with the serving store (built
first, into a DuckDB file beside the warehouse, or ``serving_path``): the Lifecycle and
Channels rows read the serving tables wherever they cover the question; ``naive`` reads the
rows those figures come from into pandas with ``pd.read_sql`` and aggregates there — what a
dashboard without push-down would do. The naive versions compute a *subset* of each page's
figures, so their times are a lower bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pandas as pd
from sqlalchemy import Engine, func, select

from bench.report import Table
from data.schema import customers, daily_spend, lifecycle_changes, orders, touchpoints
from data.serving import ServingConfig, ServingStore
from data.serving.refresh import refresh
from data.serving.rollups import all_rollups
from data.warehouse import mask_url, open_engine
from metrics.filters import Filters, default_filters
from metrics.marketing import attribution, channels, kpi_sql, lifecycle, markov

OVERVIEW_KPIS = (
    "new_customers", "revenue", "cac", "roas", "conversion_rate", "clv_cac", "nps", "churn_rate",
)  # fmt: skip
OVERVIEW_EXTRA = ("csat", "reach", "paid_spend")


def overview_pushed(engine: Engine, f: Filters, store: ServingStore | None = None) -> None:
    """What the Loop health page fetches (``pages/overview.py``), served when ``store``."""
    kpi_sql.fetch_kpi_totals(engine, [*OVERVIEW_KPIS, *OVERVIEW_EXTRA], f, serving=store)
    weeks = f.whole_periods("week")
    for name in OVERVIEW_KPIS:
        kpi_sql.fetch_kpi(engine, name, weeks, "week", serving=store)
    prev = f.previous_period()
    kpi_sql.fetch_kpi(engine, "new_customers", f, "channel", serving=store)
    kpi_sql.fetch_kpi(engine, "new_customers", prev, "channel", serving=store)
    kpi_sql.fetch_kpi(engine, "campaign_conversion_rate", f, "is_personalised", serving=store)
    for name in ("reach", "cac", "roas"):
        kpi_sql.fetch_kpi(engine, name, f, "channel", serving=store)
    kpi_sql.fetch_experiment_activity(engine, f)


LIFECYCLE_PARTS: dict[str, Callable[..., object]] = {
    "stage volumes": lambda e, f, s: lifecycle.stage_volumes(e, f, "week", serving=s),
    "stage distribution": lambda e, f, s: lifecycle.stage_distribution(e, f, serving=s),
    "stage conversion": lambda e, f, s: lifecycle.stage_conversion(e, f, serving=s),
    "time in stage": lambda e, f, s: lifecycle.median_time_in_stage(e, f, serving=s),
    "transitions": lambda e, f, s: lifecycle.transitions(e, f, serving=s),
    "campaign comparison": lambda e, f, s: lifecycle.campaign_stage_comparison(e, f, serving=s),
    "stage KPIs": lambda e, f, s: lifecycle.stage_kpis(e, f, serving=s),
}
"""The Lifecycle page's fetches (engine, filters, serving store or None)."""

_PART_TIMES: dict[tuple[str, str], float] = {}


def lifecycle_page(engine: Engine, f: Filters, store: ServingStore | None = None) -> None:
    mode = "served" if store is not None else "live"
    for name, fetch in LIFECYCLE_PARTS.items():
        t0 = time.perf_counter()
        fetch(engine, f, store)
        _PART_TIMES[("Lifecycle: " + name, mode)] = time.perf_counter() - t0


def channels_page(engine: Engine, f: Filters, store: ServingStore | None = None) -> None:
    """What the Channels page fetches: one daily attribution shared by four figures."""
    mode = "served" if store is not None else "live"
    t0 = time.perf_counter()
    credit = attribution.daily_credit(engine, f, serving=store)
    _PART_TIMES[("Channels: attribution (daily credit)", mode)] = time.perf_counter() - t0
    t0 = time.perf_counter()
    channels.performance(engine, f, serving=store, credit=credit)
    channels.performance(engine, f, by="campaign", serving=store, credit=credit)
    channels.timeseries(engine, f, serving=store, credit=credit)
    attribution.attribute(engine, f, serving=store, credit=credit)
    _PART_TIMES[("Channels: media + tables", mode)] = time.perf_counter() - t0
    t0 = time.perf_counter()
    channels.dark_funnel(engine, f, serving=store)
    _PART_TIMES[("Channels: dark funnel", mode)] = time.perf_counter() - t0
    t0 = time.perf_counter()
    markov.attribute(engine, f)  # always live: SQL path counts, then the chain in numpy
    _PART_TIMES[("Channels: Markov attribution (path counts)", mode)] = time.perf_counter() - t0


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


Fetch = Callable[..., None]
PAGES: dict[str, tuple[Fetch, Fetch, bool]] = {
    "Loop health (overview)": (overview_pushed, overview_naive, True),
    "Lifecycle": (lifecycle_page, lifecycle_naive, True),
    "Channels & attribution": (channels_page, channels_naive, True),
}
"""page -> (fetch(engine, filters, store=None), naive fetch, whether it reads the store)."""


def _fresh_engine(url: str) -> Engine:
    """A new engine (cold: no pooled connection, no Streamlit cache)."""
    return open_engine(url, read_only=True)


def build_serving(url: str, serving_url: str) -> tuple[ServingConfig, float]:
    """Build the serving store at ``serving_url`` for warehouse ``url`` (full); (config, s)."""
    config = ServingConfig(serving_url, "env")
    engine = _fresh_engine(url)
    t0 = time.perf_counter()
    refresh(engine, config, url, full=True)
    seconds = time.perf_counter() - t0
    engine.dispose()
    return config, seconds


def bench_pages(
    url: str, *, naive: bool = True, serving: bool = True, serving_url: str | None = None
) -> Table:
    """Per page: cold data-fetch seconds served / live / naive for the warehouse at ``url``.

    With ``serving`` the store at ``serving_url`` is built first (full)."""
    engine = _fresh_engine(url)
    with engine.connect() as conn:
        latest = conn.execute(select(func.max(touchpoints.c.occurred_at))).scalar()
    engine.dispose()
    f = default_filters(latest.date())
    config = None
    built = "not used"
    if serving and serving_url is not None:
        config = ServingConfig(serving_url, "env")
        current = ServingStore(config, url)
        # the marketing pages' tables (experiments are covered through their last assignment)
        pages = [r.name for r in all_rollups() if r.partition != "key"]
        if current.exists() and current.covers(pages, latest.date()):
            built = "reused (up to date)"  # e.g. just built by the `serving` section
        else:
            config, build_s = build_serving(url, serving_url)
            built = f"full build {build_s:.1f} s"
        current.dispose()
    table = Table(
        f"Page data fetch, cold cache ({f.start} – {f.end}; {mask_url(url)}); serving store "
        f"{mask_url(serving_url) if config else '(none)'} {built}; "
        "naive = rows into pandas",
        ["page", "served s", "live s", "naive s", "live ÷ served", "naive ÷ served"],
    )
    _PART_TIMES.clear()
    for name, (fetch, slow, reads_store) in PAGES.items():
        engine = _fresh_engine(url)
        t0 = time.perf_counter()
        fetch(engine, f)
        live_s = time.perf_counter() - t0
        engine.dispose()
        served_s = float("nan")
        if config is not None and reads_store:
            engine = _fresh_engine(url)
            store = ServingStore(config, url)  # cold: a new store engine
            t0 = time.perf_counter()
            fetch(engine, f, store)
            served_s = time.perf_counter() - t0
            store.dispose()
            engine.dispose()
        slow_s = float("nan")
        if naive:
            engine = _fresh_engine(url)
            t0 = time.perf_counter()
            slow(engine, f)
            slow_s = time.perf_counter() - t0
            engine.dispose()
        table.add(name, served_s, live_s, slow_s, live_s / served_s, slow_s / served_s)
    return table


def part_times() -> Table:
    """Per-fetch times of the last :func:`bench_pages` run (served and live)."""
    table = Table("Page fetches, cold (last run)", ["fetch", "served s", "live s"])
    for name in dict.fromkeys(n for n, _ in _PART_TIMES):
        table.add(
            name,
            _PART_TIMES.get((name, "served"), float("nan")),
            _PART_TIMES.get((name, "live"), float("nan")),
        )
    return table
