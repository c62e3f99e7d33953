"""KPI tiles (value, period-over-period delta, target progress, weekly sparkline) and the
cached KPI fetchers every page can share.

Cached fetchers key on the warehouse URL and the frozen ``Filters``; the engine is passed as
``_engine`` and not hashed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from components.context import serving_store
from i18n import _
from metrics import formatting as fmt
from metrics import small_samples as small
from metrics.filters import Filters
from metrics.marketing import kpi_sql
from metrics.marketing.kpis import KPIS, Direction, Kpi, Unit, format_value

TTL = 600


def warehouse_key(engine: Engine) -> str:
    """A cache key for the engine's warehouse (password hidden) and the serving store's
    version: a refresh of the serving store invalidates every cached figure."""
    store = serving_store()
    version = store.version_key() if store is not None else "live"
    return f"{engine.url.render_as_string(hide_password=True)}|{version}"


@st.cache_data(ttl=TTL, show_spinner=False)
def cached_kpi(_engine: Engine, url: str, name: str, filters: Filters, grain: str) -> pd.DataFrame:
    """``metrics.marketing.kpi_sql.fetch_kpi``, cached (``url`` = :func:`warehouse_key`);
    served from the serving store when it covers the question."""
    return kpi_sql.fetch_kpi(_engine, name, filters, grain, serving=serving_store())


@st.cache_data(ttl=TTL, show_spinner=False)
def cached_totals(
    _engine: Engine, url: str, names: tuple[str, ...], filters: Filters
) -> pd.DataFrame:
    """``metrics.marketing.kpi_sql.fetch_kpi_totals`` (current + previous period), cached."""
    return kpi_sql.fetch_kpi_totals(_engine, names, filters, serving=serving_store())


@st.cache_data(ttl=TTL, show_spinner=False)
def cached_experiment_activity(_engine: Engine, url: str, filters: Filters) -> dict[str, int]:
    return kpi_sql.fetch_experiment_activity(_engine, filters)


def _finite(x: object) -> float | None:
    if x is None:
        return None
    try:
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def delta_text(kpi: Kpi, current: float | None, previous: float | None) -> str | None:
    """Signed change vs the previous period: percentage points for percent KPIs, points for
    NPS, relative % otherwise; None when it cannot be computed."""
    cur, prev = _finite(current), _finite(previous)
    if cur is None or prev is None:
        return None
    unit = Unit(kpi.unit)
    if unit is Unit.PERCENT:
        return fmt.points(cur - prev)
    if unit is Unit.POINTS:
        return fmt.score(cur - prev) + " pts"
    if prev == 0:
        return None
    return fmt.percent((cur - prev) / abs(prev), signed=True)


def target_progress(kpi: Kpi, current: float | None) -> float | None:
    """Fraction of the target reached (0–1, clipped); lower-is-better KPIs: target ÷ value."""
    cur = _finite(current)
    if kpi.target is None or cur is None or kpi.target == 0:
        return None
    if Direction(kpi.direction) is Direction.LOWER:
        frac = kpi.target / cur if cur > 0 else 1.0
    else:
        frac = cur / kpi.target
    return min(max(frac, 0.0), 1.0)


def kpi_tile(
    kpi: Kpi,
    current: float | None,
    previous: float | None,
    *,
    spark: Sequence[float] | None = None,
    days: int | None = None,
    n_current: float | None = None,
    n_previous: float | None = None,
    border: bool = True,
    target_line: tuple[float | None, str] | None = None,
) -> None:
    """One bordered tile: value, delta coloured by the KPI's good direction, definition in the
    help tooltip, weekly sparkline, and progress vs the target when one is set.

    A rate, NPS or CSAT on fewer than ``metrics.small_samples.MIN_UNITS`` units (``n_current``)
    shows a greyed "n too small" and no delta; so does the delta alone when the previous
    period's sample (``n_previous``) is too small. ``target_line`` (progress 0–1 or None,
    text) replaces the catalog target with a stored one (``components.targets_view``).
    """
    description: str | None = _("vs previous {days} days").format(days=days) if days else None
    small_now = small.too_small(kpi, n_current)
    small_before = small.too_small(kpi, n_previous)
    delta = None if small_now or small_before else delta_text(kpi, current, previous)
    if delta is None:
        description = None  # no "vs previous" line under a missing delta
    if small_before and not small_now:
        description = _("previous period: {TOO_SMALL}").format(TOO_SMALL=small.TOO_SMALL)
    sample = (
        ""
        if n_current is None or not small.is_sample_sized(kpi)
        else (
            _(" Sample: n = {n_current} (minimum {MIN_UNITS}).").format(
                n_current=fmt.count(n_current), MIN_UNITS=small.MIN_UNITS
            )
        )
    )
    st.metric(
        kpi.label,
        f":gray[{small.TOO_SMALL}]" if small_now else format_value(kpi, _finite(current)),
        delta=delta,
        delta_color="normal" if Direction(kpi.direction) is Direction.HIGHER else "inverse",
        help=_("**How is this computed?** {definition}{sample}").format(
            definition=kpi.definition, sample=sample
        ),
        border=border,
        chart_data=[v for v in (spark or []) if _finite(v) is not None] or None,
        chart_type="line",
        delta_description=description,
    )
    if target_line is not None and not small_now:
        st.progress(target_line[0] or 0.0, text=target_line[1])
        return
    progress = None if small_now else target_progress(kpi, current)
    if progress is not None:
        st.progress(
            progress,
            text=_("Target {kpi}: {progress:.0%}").format(
                kpi=format_value(kpi, kpi.target), progress=progress
            ),
        )


def kpi_tiles(
    totals: pd.DataFrame,
    sparks: Mapping[str, Sequence[float]] | None = None,
    *,
    days: int | None = None,
    per_row: int = 4,
    after_tile: Callable[[str], None] | None = None,
    target_lines: Mapping[str, tuple[float | None, str]] | None = None,
) -> None:
    """A grid of tiles for the rows of ``fetch_kpi_totals`` (in order); ``after_tile(kpi)``
    draws under each tile (e.g. its drill-down link, ``components.drilldown``)."""
    rows = list(totals.itertuples())
    for start in range(0, len(rows), per_row):
        cols = st.columns(per_row)
        for col, row in zip(cols, rows[start : start + per_row], strict=False):
            with col:
                kpi_tile(
                    KPIS[row.kpi],
                    row.current,
                    row.previous,
                    spark=(sparks or {}).get(row.kpi),
                    days=days,
                    n_current=getattr(row, "n_current", None),
                    n_previous=getattr(row, "n_previous", None),
                    target_line=(target_lines or {}).get(row.kpi),
                )
                if after_tile is not None:
                    after_tile(row.kpi)
