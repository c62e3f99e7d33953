"""What the one-page executive summary shows, computed exactly as the Loop health page does.

The same calls in the same order as ``pages/overview.py``: ``kpi_sql.fetch_kpi_totals`` for the
tiles, ``kpi_sql.fetch_kpi`` by channel / personalisation for the loop inputs, the
``metrics.marketing.loop_health`` graders and ``highlights``; targets are paced on the view's
last day with the tile's value (``metrics.targets.pace``), as the tiles do. No Streamlit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from data.app_state import alerts as store_alerts
from data.app_state.store import AppStateError, AppStateStore
from data.app_state.targets import Target, current_targets
from metrics.experiments.evolve import EvolveSummary, evolve_summary
from metrics.filters import Filters
from metrics.marketing import kpi_sql
from metrics.marketing import loop_health as lh
from metrics.targets import Pace, pace

TILE_KPIS = (
    "new_customers",
    "revenue",
    "cac",
    "roas",
    "conversion_rate",
    "clv_cac",
    "nps",
    "churn_rate",
)
"""The Loop health page's tiles, in its order."""
EXTRA_KPIS = ("csat", "reach", "paid_spend")
TREND_KPIS = ("new_customers", "revenue")
TREND_WEEKS = 12


def trend_window(filters: Filters) -> Filters:
    """Whole Monday–Sunday weeks for the trend charts: the view's weeks, at least the
    ``TREND_WEEKS`` weeks ending with the view (a one-week summary still shows a trend)."""
    start = min(filters.start, filters.end - dt.timedelta(days=7 * TREND_WEEKS - 1))
    return filters.with_dates(start, filters.end).whole_periods("week")


@dataclass(frozen=True)
class TargetLine:
    """One target that applies to the view, with its pace on the view's last day."""

    target: Target
    current: float | None
    pace: Pace


@dataclass(frozen=True)
class SummaryData:
    """Everything on the page. ``totals``: one row per KPI (current, previous, …);
    ``weekly``: KPI → weekly values (:func:`trend_window`) for the trend charts."""

    filters: Filters
    totals: pd.DataFrame
    weekly: dict[str, pd.DataFrame]
    loops: tuple[lh.LoopHealth, ...]
    highlights: tuple[str, ...]
    mix_now: pd.Series
    targets: tuple[TargetLine, ...]
    alerts: tuple[store_alerts.Episode, ...]
    store_note: str | None


def value_of(totals: pd.DataFrame, name: str, column: str = "current") -> float | None:
    """The KPI's value in ``column`` (None when missing), as the page's ``_value``."""
    row = totals[totals.kpi == name]
    if row.empty or pd.isna(row[column].iloc[0]):
        return None
    return float(row[column].iloc[0])


def scope_matches(target: Target, filters: Filters) -> bool:
    """A target applies to a view whose channel/segment selection is exactly its scope."""
    if target.scope_kind == "all":
        return not filters.channels and not filters.segments
    chosen = filters.channels if target.scope_kind == "channel" else filters.segments
    other = filters.segments if target.scope_kind == "channel" else filters.channels
    return chosen == (target.scope_value,) and not other


def collect(engine: Engine, filters: Filters, store: AppStateStore | None) -> SummaryData:
    """Read the warehouse (and the app-state store, when given) for the summary of ``filters``."""
    prev = filters.previous_period()
    totals = kpi_sql.fetch_kpi_totals(engine, TILE_KPIS + EXTRA_KPIS, filters)
    weeks = trend_window(filters)
    weekly = {n: kpi_sql.fetch_kpi(engine, n, weeks, "week") for n in TREND_KPIS}
    new_by_channel = kpi_sql.fetch_kpi(engine, "new_customers", filters, "channel")
    new_by_channel_prev = kpi_sql.fetch_kpi(engine, "new_customers", prev, "channel")
    by_personalised = kpi_sql.fetch_kpi(
        engine, "campaign_conversion_rate", filters, "is_personalised"
    )
    activity = kpi_sql.fetch_experiment_activity(engine, filters)
    evolve: EvolveSummary | None = None
    note: str | None = None
    targets: list[TargetLine] = []
    alerts: list[store_alerts.Episode] = []
    if store is not None:
        try:
            evolve = evolve_summary(engine, store)
            for t in current_targets(store):
                if not scope_matches(t, filters):
                    continue
                cur = value_of(totals, t.kpi)
                p = pace(
                    value=t.value,
                    direction=t.direction,
                    baseline=t.baseline,
                    set_on=t.set_on,
                    deadline=t.deadline,
                    current=cur,
                    today=filters.end,
                )
                targets.append(TargetLine(t, cur, p))
            alerts = store_alerts.open_episodes(store)
        except (AppStateError, SQLAlchemyError) as exc:
            note = f"app-state store unavailable: {exc}"
    v = lambda name, col="current": value_of(totals, name, col)  # noqa: E731
    loops = (
        lh.express_health(v("nps"), v("csat"), new_by_channel, filters=filters),
        lh.tailor_health(lh.tailor_lift(by_personalised)),
        lh.amplify_health(v("roas"), v("clv_cac"), v("cac"), v("cac", "previous"), filters=filters),
        lh.evolve_health(activity, evolve),
    )
    mix_now = lh.channel_shares(new_by_channel)
    mix_before = lh.channel_shares(new_by_channel_prev)
    items = lh.highlights(
        totals[totals.kpi.isin(TILE_KPIS)], mix_now, mix_before, list(loops), filters.days
    )
    return SummaryData(
        filters=filters,
        totals=totals,
        weekly=weekly,
        loops=loops,
        highlights=tuple(items),
        mix_now=mix_now,
        targets=tuple(targets),
        alerts=tuple(sorted(alerts, key=lambda e: e.started_on, reverse=True)),
        store_note=note,
    )


def period_filters(
    period: str | None, start: str | None, end: str | None, latest: dt.date
) -> tuple[dt.date, dt.date]:
    """(start, end) for ``period`` relative to ``latest`` (the last day with data), or the
    explicit ISO ``start``/``end``. Periods: last-week (the last complete Monday–Sunday week),
    last-month (the last complete calendar month), last-N-days (N days ending ``latest``).
    Raises ValueError with a readable message."""
    if start or end:
        if not (start and end):
            raise ValueError("--start and --end go together")
        try:
            s, e = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
        except ValueError:
            raise ValueError(f"--start/--end must be ISO dates, got {start!r} / {end!r}") from None
        if s > e:
            raise ValueError(f"--start {s} is after --end {e}")
        return s, e
    p = (period or "last-week").strip().lower()
    if p == "last-week":
        e = latest - dt.timedelta(days=(latest.weekday() + 1) % 7)  # the last Sunday ≤ latest
        return e - dt.timedelta(days=6), e
    if p == "last-month":
        first = latest.replace(day=1)
        nxt = (latest + dt.timedelta(days=1)).replace(day=1)
        if nxt != first:  # latest is the month's last day: that month is complete
            return first, latest
        e = first - dt.timedelta(days=1)
        return e.replace(day=1), e
    if p.startswith("last-") and p.endswith("-days"):
        n = p[len("last-") : -len("-days")]
        if n.isdigit() and 1 <= int(n) <= 3660:
            return latest - dt.timedelta(days=int(n) - 1), latest
    raise ValueError(
        f"unknown --period {period!r}: use last-week, last-month, last-N-days (e.g. last-28-days)"
        " or --start/--end"
    )
