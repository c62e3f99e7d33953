"""KPI series from the warehouse, their bands and the driver of an anomalous bucket.

Every figure comes from ``metrics.marketing.kpi_sql.fetch_kpi`` — the same catalog KPI
function the tiles and charts use (pushed down to SQL; served when the serving store covers
it). Scope (a channel or segment) is an ordinary ``Filters`` selection.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import pandas as pd
from sqlalchemy import Engine

from data.serving.store import ServingStore
from metrics.anomaly import detector
from metrics.anomaly.drivers import Contribution, contributions, driver
from metrics.filters import Filters
from metrics.marketing import kpi_sql
from metrics.marketing.kpis import get_kpi

HISTORY_BUCKETS = {"day": 364, "week": 104}
"""Buckets of history fetched per series (within ``kpi_sql.MAX_BUCKETS``)."""
DRIVER_HISTORY_DAYS = {"day": 28, "week": 56}
"""Days before the anomalous bucket whose mix is its expected mix."""
DRIVER_DIMENSIONS = ("channel", "segment")


@dataclass(frozen=True)
class Anomaly:
    """One bucket outside its band, in the KPI's unit, with what explains it."""

    kpi: str
    grain: str
    bucket: dt.date
    actual: float
    expected: float
    lower: float
    upper: float
    driver: Contribution | None


def series_filters(scope: Filters, end: dt.date, grain: str) -> Filters:
    """``scope``'s selections over the history ending on ``end`` (whole weeks for weeks)."""
    if grain == "week":
        end = end - dt.timedelta(days=(end.weekday() + 1) % 7)  # last complete Sunday
        start = end - dt.timedelta(days=7 * HISTORY_BUCKETS["week"] - 1)
    else:
        start = end - dt.timedelta(days=HISTORY_BUCKETS["day"] - 1)
    return replace(scope, start=start, end=end)


def bucket_end(bucket: dt.date, grain: str) -> dt.date:
    return bucket + dt.timedelta(days=6 if grain == "week" else 0)


def kpi_series(
    engine: Engine,
    kpi: str,
    scope: Filters,
    end: dt.date,
    grain: str = "day",
    *,
    serving: ServingStore | None = None,
) -> pd.Series:
    """The KPI per ``grain`` bucket (indexed by bucket start, oldest first) up to ``end``."""
    f = series_filters(scope, end, grain)
    df = kpi_sql.fetch_kpi(engine, kpi, f, grain, serving=serving)
    if df.empty:
        return pd.Series(dtype="float64")
    s = df.set_index(grain)["value"].astype("float64")
    s.index = pd.DatetimeIndex(s.index).date
    return s.sort_index()


def kpi_band(
    engine: Engine,
    kpi: str,
    scope: Filters,
    end: dt.date,
    grain: str = "day",
    *,
    level: float = detector.DEFAULT_LEVEL,
    serving: ServingStore | None = None,
) -> pd.DataFrame | detector.BandError:
    """:func:`detector.band` on :func:`kpi_series` (index: bucket start dates)."""
    return detector.band(
        kpi_series(engine, kpi, scope, end, grain, serving=serving), grain, level=level
    )


def explain(
    engine: Engine,
    kpi: str,
    scope: Filters,
    bucket: dt.date,
    grain: str,
    expected: float,
    actual: float,
    *,
    serving: ServingStore | None = None,
) -> Contribution | None:
    """The channel or segment that explains most of ``actual − expected`` in ``bucket``."""
    k = get_kpi(kpi)
    now_f = replace(scope, start=bucket, end=bucket_end(bucket, grain))
    hist_f = replace(
        scope,
        start=bucket - dt.timedelta(days=DRIVER_HISTORY_DAYS[grain]),
        end=bucket - dt.timedelta(days=1),
    )
    candidates: list[Contribution] = []
    for dim in DRIVER_DIMENSIONS:
        selected = scope.channels if dim == "channel" else scope.segments
        if len(selected) == 1 or not kpi_sql.supports_grain(k, dim):
            continue
        now = kpi_sql.fetch_kpi(engine, kpi, now_f, dim, serving=serving)
        hist = kpi_sql.fetch_kpi(engine, kpi, hist_f, dim, serving=serving)
        candidates += contributions(k, dim, now, hist, expected)
    return driver(candidates, actual, expected)


def anomalies(
    engine: Engine,
    kpi: str,
    scope: Filters,
    end: dt.date,
    grain: str = "day",
    *,
    level: float = detector.DEFAULT_LEVEL,
    serving: ServingStore | None = None,
    with_driver: bool = True,
) -> list[Anomaly] | detector.BandError:
    """Every bucket of the band window outside the band, oldest first, with its driver."""
    b = kpi_band(engine, kpi, scope, end, grain, level=level, serving=serving)
    if isinstance(b, detector.BandError):
        return b
    out = []
    for bucket, row in b[b["anomaly"]].iterrows():
        why = (
            explain(engine, kpi, scope, bucket, grain, row.expected, row.actual, serving=serving)
            if with_driver
            else None
        )
        out.append(Anomaly(kpi, grain, bucket, row.actual, row.expected, row.lower, row.upper, why))
    return out
