"""Compile catalog KPIs (:mod:`metrics.marketing.kpis`) to one SQLAlchemy Core statement each.

``kpi_query(kpi, filters, grain)`` returns a ``Select`` with columns ``<grain>`` (absent for
``"total"``), ``value`` and, for ratios, ``numerator`` / ``denominator``. Grains:

- ``"total"``: one row for the whole period;
- ``"day" | "week" | "month"``: one row per period start (``data.sqlfuncs.trunc_to``; weeks
  start on Monday; edge buckets are clipped to the selected dates);
- a dimension: ``channel, campaign, segment, region, persona, target_stage, is_personalised``.

Each measure is aggregated on its own (a subquery per measure and grain key), the keys of all
measures are unioned, the measures left-joined to them (``IS NOT DISTINCT FROM``, so a NULL
key such as "no campaign" is its own row), missing measures count as 0, and ratios are divided
with ``NULLIF(denominator, 0)`` so an empty denominator gives NULL, never an error.

Filters apply to every measure: dates on the measure's time column (shifted for measures that
look at the previous period); channel on the measure's own channel column (touchpoints,
daily_spend) or else the customer's ``acquisition_channel``; segment and region by joining
``customers``. A table that cannot honour a filter (``daily_spend`` has no customer, so no
segment or region) is not filtered by it: :func:`ignored_filters` says so for display.

KPIs that compare windows (retention, churn, repeat purchase, conversion, reactivation) are
defined per period; their time series is a ``UNION ALL`` of one total per bucket, each bucket
treated as the period (its "previous period" is the equal-length window before it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, assert_never

import pandas as pd
from sqlalchemy import (
    Date,
    DateTime,
    Double,
    Engine,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union,
    union_all,
)
from sqlalchemy.sql.expression import ColumnElement

from data.schema import ExperimentStatus, metadata
from data.serving.store import ServingStore
from data.sqlfuncs import as_timestamp, trunc_to
from i18n import _
from metrics.filters import Filters
from metrics.marketing.kpi_served import (
    SERVED_ROLLUPS,
    BucketFilters,
    NotServable,
    condition,
    served_measure_query,
)
from metrics.marketing.kpis import (
    KPIS,
    Agg,
    Cohort,
    Cond,
    Kpi,
    KpiKind,
    Measure,
    Window,
    get_kpi,
    is_period_relative,
    measures_of,
)
from metrics.marketing.shared_scans import SharedScans

TIME_GRAINS: tuple[str, ...] = ("day", "week", "month")
DIMENSIONS: tuple[str, ...] = (
    "channel",
    "campaign",
    "segment",
    "region",
    "persona",
    "target_stage",
    "is_personalised",
)
GRAINS: tuple[str, ...] = ("total", *TIME_GRAINS, *DIMENSIONS)
MAX_BUCKETS = 400

_CUSTOMERS = metadata.tables["customers"]
_CAMPAIGNS = metadata.tables["campaigns"]
_OWN_CHANNEL_TABLES = frozenset({"touchpoints", "daily_spend"})
_CUSTOMER_DIMS = {"segment": "segment", "region": "region", "persona": "persona"}
_CAMPAIGN_DIMS = {"target_stage": "target_stage", "is_personalised": "is_personalised"}


class UnsupportedQuery(ValueError):
    """A KPI cannot be computed at the requested grain (message says why and what to do)."""


# --- one measure ----------------------------------------------------------------------------


def _is_date(col: Any) -> bool:
    return isinstance(col.type, Date) and not isinstance(col.type, DateTime)


def _window_condition(col: Any, window: Window, filters: Filters) -> ColumnElement[bool]:
    is_date = _is_date(col)
    if window is Window.CURRENT:
        return filters.date_condition(col) if is_date else filters.time_condition(col)
    if window is Window.PREVIOUS:
        prev = filters.previous_period()
        return prev.date_condition(col) if is_date else prev.time_condition(col)
    if window is Window.BEFORE:
        return col < (filters.start if is_date else filters.start_ts)
    if window is Window.THROUGH_END:
        return col <= filters.end if is_date else col < filters.end_ts
    assert_never(window)


def _cond(table: Table, cond: Cond) -> ColumnElement[bool]:
    return condition(table.c[cond.column], cond)


def _cohort_condition(table: Table, cohort: Cohort, filters: Filters) -> ColumnElement[bool]:
    ct = metadata.tables[cohort.table]
    time_col = ct.c[_time_column_name(cohort.table)]
    members = select(ct.c.customer_id).where(
        _window_condition(time_col, Window(cohort.window), filters),
        *(_cond(ct, c) for c in cohort.where),
    )
    return (
        table.c.customer_id.not_in(members) if cohort.negate else table.c.customer_id.in_(members)
    )


def _time_column_name(table: str) -> str:
    name = Measure(table, Agg.COUNT).time_col
    if name is None:
        raise UnsupportedQuery(_("table {table} has no time column").format(table=table))
    return name


def _channel_column(table: Table) -> Any:
    if table.name in _OWN_CHANNEL_TABLES:
        return table.c.channel
    if "customer_id" in table.c:
        return _CUSTOMERS.c.acquisition_channel
    return None


def _dimension_key(m: Measure, table: Table, grain: str) -> tuple[Any, bool, bool]:
    """(key expression, needs customers join, needs campaigns join) for a dimension grain."""
    has_customer = "customer_id" in table.c
    if grain == "channel":
        col = _channel_column(table)
        return col, col is not None and table.name not in _OWN_CHANNEL_TABLES, False
    if grain in _CUSTOMER_DIMS:
        if has_customer:
            return _CUSTOMERS.c[_CUSTOMER_DIMS[grain]], True, False
        return None, False, False
    if grain == "campaign":
        return (table.c.campaign_id if "campaign_id" in table.c else None), False, False
    if grain in _CAMPAIGN_DIMS:
        if "campaign_id" in table.c:
            return _CAMPAIGNS.c[_CAMPAIGN_DIMS[grain]], False, True
        return None, False, False
    raise UnsupportedQuery(
        _("unknown grain {grain!r}; use one of {GRAINS}").format(
            grain=grain, GRAINS=", ".join(GRAINS)
        )
    )


def _aggregate(m: Measure, table: Table) -> ColumnElement[Any]:
    agg = Agg(m.agg)
    if agg is Agg.COUNT:
        return func.count() if m.column is None else func.count(table.c[m.column])
    if agg is Agg.COUNT_DISTINCT:
        return func.count(distinct(table.c[m.column]))
    if agg is Agg.SUM:
        return func.sum(table.c[m.column])
    assert_never(agg)


def measure_query(m: Measure, filters: Filters, grain: str = "total") -> Select:
    """``SELECT [k,] agg AS v`` for one measure: filtered, grouped by the grain key ``k``."""
    table = metadata.tables[m.table]
    time_col = table.c[m.time_col or _time_column_name(m.table)]
    key: Any = None
    need_customers = bool(filters.segments or filters.regions) and "customer_id" in table.c
    need_campaigns = False
    if grain in TIME_GRAINS:
        key = trunc_to(grain, as_timestamp(time_col) if _is_date(time_col) else time_col)
    elif grain != "total":
        key, cust, camp = _dimension_key(m, table, grain)
        if key is None:
            raise UnsupportedQuery(
                _("{table} has no {grain}: a KPI built on it cannot be split by {grain}").format(
                    table=m.table, grain=grain
                )
            )
        need_customers |= cust
        need_campaigns |= camp
    channel_col = _channel_column(table)
    if filters.channels and channel_col is not None and table.name not in _OWN_CHANNEL_TABLES:
        need_customers = True
    is_customers = table is _CUSTOMERS
    source: Any = table
    if need_customers and not is_customers:
        source = source.join(_CUSTOMERS, _CUSTOMERS.c.customer_id == table.c.customer_id)
    if need_campaigns:
        source = source.outerjoin(_CAMPAIGNS, _CAMPAIGNS.c.campaign_id == table.c.campaign_id)
    has_customer = is_customers or "customer_id" in table.c
    conds = [
        _window_condition(time_col, Window(m.window), filters),
        *(_cond(table, c) for c in m.where),
        filters.dimension_condition(
            channel=channel_col,
            segment=_CUSTOMERS.c.segment if has_customer else None,
            region=_CUSTOMERS.c.region if has_customer else None,
        ),
    ]
    if m.cohort is not None:
        conds.append(_cohort_condition(table, m.cohort, filters))
    value = _aggregate(m, table).label("v")
    if key is None:
        return select(value).select_from(source).where(*conds)
    k = key.label("k")
    return select(k, value).select_from(source).where(*conds).group_by(k)


MeasureBuilder = Callable[[Measure, Filters, str], Select]
"""Compiles one measure at a grain to ``SELECT [k,] v`` (live or served)."""


# --- a whole KPI ----------------------------------------------------------------------------


def _num(col: Any) -> ColumnElement[float]:
    return cast(func.coalesce(col, 0), Double)


def _nonzero(expr: Any) -> ColumnElement[float]:
    # typed so SQLAlchemy's true division does not wrap it in CAST(... AS DECIMAL)
    return func.nullif(expr, literal(0.0, Double), type_=Double)


def _value_expr(kpi: Kpi, cols: dict[Measure, Any]) -> dict[str, ColumnElement[Any]]:
    """``value`` (and ``numerator`` / ``denominator`` for ratios) over measure columns."""
    kind = KpiKind(kpi.kind)
    if kind is KpiKind.SIMPLE:
        assert kpi.numerator is not None
        return {"value": _num(cols[kpi.numerator])}
    if kind is KpiKind.RATIO:
        assert kpi.numerator is not None and kpi.denominator is not None
        num = _num(cols[kpi.numerator])
        if kpi.subtract is not None:
            num = num - _num(cols[kpi.subtract])
        den = _num(cols[kpi.denominator])
        value = num / _nonzero(den)
        if kpi.scale != 1.0:
            value = value * literal(float(kpi.scale), Double)
        return {"value": value, "numerator": num, "denominator": den}
    if kind is KpiKind.DERIVED:
        assert kpi.of is not None
        a = _value_expr(get_kpi(kpi.of[0]), cols)["value"]
        b = _value_expr(get_kpi(kpi.of[1]), cols)["value"]
        return {"value": a / _nonzero(b)}
    assert_never(kind)


def _direct_query(
    kpi: Kpi, filters: Filters, grain: str, measure: MeasureBuilder = measure_query
) -> Select:
    measures = list(dict.fromkeys(measures_of(kpi)))
    if grain == "total":
        subs = [measure(m, filters, grain).subquery(f"m{i}") for i, m in enumerate(measures)]
    else:  # each measure is read twice (keys, join): a CTE computes it once
        subs = [measure(m, filters, grain).cte(f"m{i}") for i, m in enumerate(measures)]
    cols = {m: s.c.v for m, s in zip(measures, subs, strict=True)}
    exprs = [e.label(n) for n, e in _value_expr(kpi, cols).items()]
    if grain == "total":
        source: Any = subs[0]
        for s in subs[1:]:
            source = source.join(s, true())
        return select(*exprs).select_from(source)
    keys = union(*(select(s.c.k) for s in subs)).subquery("keys")
    source = keys
    for s in subs:
        source = source.outerjoin(s, s.c.k.is_not_distinct_from(keys.c.k))
    return select(keys.c.k.label(grain), *exprs).select_from(source).order_by(keys.c.k)


def buckets(grain: str, filters: Filters) -> list[tuple[dt.date, Filters]]:
    """(bucket start, filters clipped to the bucket) for each day/week/month in the period."""
    out: list[tuple[dt.date, Filters]] = []
    if grain == "day":
        start = filters.start
    elif grain == "week":
        start = filters.start - dt.timedelta(days=filters.start.weekday())
    elif grain == "month":
        start = filters.start.replace(day=1)
    else:
        raise UnsupportedQuery(
            _("unknown time grain {grain!r}; use one of {TIME_GRAINS}").format(
                grain=grain, TIME_GRAINS=TIME_GRAINS
            )
        )
    while start <= filters.end:
        if grain == "day":
            nxt = start + dt.timedelta(days=1)
        elif grain == "week":
            nxt = start + dt.timedelta(days=7)
        else:
            nxt = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        clipped = replace(
            filters,
            start=max(start, filters.start),
            end=min(nxt - dt.timedelta(days=1), filters.end),
        )
        out.append((start, clipped))
        start = nxt
    return out


def _bucketed_query(
    kpi: Kpi, filters: Filters, grain: str, measure: MeasureBuilder = measure_query
) -> Select:
    parts = buckets(grain, filters)
    if len(parts) > MAX_BUCKETS:
        raise UnsupportedQuery(
            _(
                "{label} by {grain} over {days} days needs {parts} periods; choose a coarser grain "
                "or a shorter date range (at most {MAX_BUCKETS})."
            ).format(
                label=kpi.label,
                grain=grain,
                days=filters.days,
                parts=len(parts),
                MAX_BUCKETS=MAX_BUCKETS,
            )
        )
    selects = []
    for start, bucket in parts:
        total = _direct_query(kpi, bucket, "total", measure).subquery()
        label = literal(dt.datetime.combine(start, dt.time.min), DateTime)
        selects.append(select(label.label(grain), *total.c))
    if len(selects) == 1:
        return selects[0]
    u = union_all(*selects).subquery("buckets")
    return select(*u.c).order_by(u.c[grain])


def kpi_query(
    kpi: Kpi | str,
    filters: Filters,
    grain: str = "total",
    measure: MeasureBuilder = measure_query,
) -> Select:
    """One statement computing a KPI at a grain (see the module docstring for the columns).

    ``measure`` compiles one measure: the live SQL over the contract tables by default, or
    :func:`metrics.marketing.kpi_served.served_measure_query` over the serving store.
    """
    kpi = get_kpi(kpi) if isinstance(kpi, str) else kpi
    if grain not in GRAINS:
        raise UnsupportedQuery(
            _("unknown grain {grain!r}; use one of {GRAINS}").format(
                grain=grain, GRAINS=", ".join(GRAINS)
            )
        )
    if grain in TIME_GRAINS and is_period_relative(kpi):
        if measure is served_measure_query:
            return _served_bucketed_query(kpi, filters, grain)
        return _bucketed_query(kpi, filters, grain, measure)
    return _direct_query(kpi, filters, grain, measure)


def _served_bucketed_query(kpi: Kpi, filters: Filters, grain: str) -> Select:
    """The served form of :func:`_bucketed_query`: one grouped statement over a buckets table
    instead of a UNION of one total per bucket; the same rows and values."""
    parts = buckets(grain, filters)
    if len(parts) > MAX_BUCKETS:
        raise UnsupportedQuery(
            _(
                "{label} by {grain} over {days} days needs {parts} periods; choose a coarser grain "
                "or a shorter date range (at most {MAX_BUCKETS})."
            ).format(
                label=kpi.label,
                grain=grain,
                days=filters.days,
                parts=len(parts),
                MAX_BUCKETS=MAX_BUCKETS,
            )
        )
    rows = []
    for start, bucket in parts:
        prev = bucket.previous_period()
        rows.append(
            select(
                literal(dt.datetime.combine(start, dt.time.min), DateTime).label("k"),
                literal(bucket.start, Date).label("s"),
                literal(bucket.end, Date).label("e"),
                literal(prev.start, Date).label("ps"),
                literal(prev.end, Date).label("pe"),
            )
        )
    table = (union_all(*rows) if len(rows) > 1 else rows[0]).cte("buckets")
    sym = BucketFilters(
        start=table.c.s,
        end=table.c.e,
        prev_start=table.c.ps,
        prev_end=table.c.pe,
        key=table.c.k,
        channels=filters.channels,
        segments=filters.segments,
        regions=filters.regions,
    )
    measures = list(dict.fromkeys(measures_of(kpi)))
    subs = [
        served_measure_query(m, sym, "total").cte(f"m{i}")  # type: ignore[arg-type]
        for i, m in enumerate(measures)
    ]
    source: Any = table
    for s in subs:
        source = source.outerjoin(s, s.c.k == table.c.k)
    cols = {m: s.c.v for m, s in zip(measures, subs, strict=True)}
    exprs = [e.label(n) for n, e in _value_expr(kpi, cols).items()]
    return select(table.c.k.label(grain), *exprs).select_from(source).order_by(table.c.k)


def supports_grain(kpi: Kpi | str, grain: str) -> bool:
    """Whether every measure of the KPI has the grain's key (e.g. CAC has no campaign)."""
    kpi = get_kpi(kpi) if isinstance(kpi, str) else kpi
    if grain == "total" or grain in TIME_GRAINS:
        return True
    if grain not in DIMENSIONS:
        return False
    return all(
        _dimension_key(m, metadata.tables[m.table], grain)[0] is not None for m in measures_of(kpi)
    )


def ignored_filters(kpi: Kpi | str, filters: Filters) -> list[str]:
    """Plain-language notes on filters some measure of the KPI cannot apply."""
    kpi = get_kpi(kpi) if isinstance(kpi, str) else kpi
    notes: list[str] = []
    for m in dict.fromkeys(measures_of(kpi)):
        table = metadata.tables[m.table]
        missing = []
        if filters.segments and "customer_id" not in table.c:
            missing.append("segment")
        if filters.regions and "customer_id" not in table.c:
            missing.append("region")
        if missing:
            notes.append(
                _(
                    "{label}: {table} has no customer, so its {value} "
                    "are not filtered by {missing}."
                ).format(
                    label=kpi.label,
                    table=m.table,
                    value=m.column or "rows",
                    missing=" or ".join(missing),
                )
            )
    return notes


# --- fetching (small aggregated frames only) ------------------------------------------------


def _frame(engine: Engine, stmt: Select) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(stmt)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _tidy(df: pd.DataFrame, grain: str) -> pd.DataFrame:
    for col in ("value", "numerator", "denominator"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    if grain in TIME_GRAINS and grain in df:
        df[grain] = pd.to_datetime(df[grain])
    elif grain == "is_personalised" and grain in df:
        df[grain] = df[grain].map(lambda v: None if v is None or pd.isna(v) else bool(v))
    return df


def _route(
    serving: ServingStore | None,
    filters: Filters,
    build: Callable[[MeasureBuilder], Select],
    served: MeasureBuilder = served_measure_query,
) -> tuple[Select, str]:
    """(served statement, "") when the serving store covers it, else (None, why not)."""
    if serving is None:
        return None, _("no serving store")  # type: ignore[return-value]
    if not serving.covers(SERVED_ROLLUPS, filters.end):
        return None, _("the serving store does not cover this period yet")  # type: ignore[return-value]
    try:
        return build(served), ""
    except NotServable as exc:
        return None, str(exc)  # type: ignore[return-value]


def _mark(df: pd.DataFrame, source: str, reason: str = "") -> pd.DataFrame:
    df.attrs["source"] = source
    df.attrs["source_reason"] = reason
    return df


def fetch_kpi(
    engine: Engine,
    kpi_name: str,
    filters: Filters,
    grain: str = "total",
    *,
    serving: ServingStore | None = None,
) -> pd.DataFrame:
    """A KPI at a grain as a small frame: ``[<grain>,] value[, numerator, denominator]``.

    With ``serving``, answered from the serving store when it covers the question (same
    value); ``df.attrs["source"]`` says ``"serving"`` or ``"live"`` (``"source_reason"``: why).
    """
    if grain not in GRAINS:
        raise UnsupportedQuery(
            _("unknown grain {grain!r}; use one of {GRAINS}").format(
                grain=grain, GRAINS=", ".join(GRAINS)
            )
        )
    served, reason = _route(
        serving, filters, lambda m: kpi_query(kpi_name, filters, grain, measure=m)
    )
    if served is not None:
        return _mark(_tidy(_frame(serving.engine(), served), grain), "serving")  # type: ignore[union-attr]
    stmt = kpi_query(kpi_name, filters, grain)
    return _mark(_tidy(_frame(engine, stmt), grain), "live", reason)


def totals_query(
    names: Sequence[str], filters: Filters, measure: MeasureBuilder = measure_query
) -> Select:
    """One statement: rows (kpi, period ∈ {current, previous}, value, n) for the given KPIs;
    ``n`` is a ratio KPI's denominator (its sample size), NULL for other kinds."""
    if not names:
        raise ValueError(_("totals_query needs at least one KPI name"))
    selects = []
    for name in names:
        kpi = get_kpi(name)
        for period, f in (("current", filters), ("previous", filters.previous_period())):
            total = _direct_query(kpi, f, "total", measure).subquery()
            n = _num(total.c.denominator) if "denominator" in total.c else cast(null(), Double)
            selects.append(
                select(
                    literal(name, String).label("kpi"),
                    literal(period, String).label("period"),
                    total.c.value,
                    n.label("n"),
                )
            )
    return union_all(*selects) if len(selects) > 1 else selects[0]  # type: ignore[return-value]


TOTALS_COLUMNS = ("kpi", "label", "current", "previous", "change", "n_current", "n_previous")


def _size(sizes: pd.DataFrame, name: str, period: str) -> float:
    if name not in sizes.index or period not in sizes.columns:
        return float("nan")
    return float(sizes.at[name, period])


def fetch_kpi_totals(
    engine: Engine,
    names: Iterable[str],
    filters: Filters,
    *,
    serving: ServingStore | None = None,
) -> pd.DataFrame:
    """Current and previous-period totals, one row per KPI in the order given.

    Columns: ``kpi, label, current, previous, change`` (change relative to previous, a
    fraction; NaN when previous is 0 or missing) and ``n_current, n_previous`` (a ratio KPI's
    denominator — customers, responses, sends — in each period; NaN for other kinds). The
    previous period has equal length.
    With ``serving``, the KPIs it covers come from the serving store, the rest live;
    ``attrs["source"]`` is ``"serving"``, ``"live"`` or ``"mixed"``.
    """
    names = list(names)
    scans = SharedScans(served_measure_query)  # one scan per serving table for every KPI
    served_names: list[str] = []
    reasons: list[str] = []
    for name in names:
        stmt, reason = _route(
            serving, filters, lambda m, n=name: totals_query([n], filters, m), scans.collect
        )
        if stmt is not None:
            served_names.append(name)
        else:
            reasons.append(f"{KPIS[name].label}: {reason}")
    live_names = [n for n in names if n not in served_names]
    parts = []
    if served_names:
        both = totals_query(served_names, filters, scans.answer)
        parts.append(_frame(serving.engine(), both))  # type: ignore[union-attr,arg-type]
    if live_names:
        parts.append(_frame(engine, totals_query(live_names, filters)))
    raw = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    source = "serving" if not live_names else ("live" if not served_names else "mixed")
    raw["value"] = pd.to_numeric(raw["value"], errors="coerce").astype("float64")
    raw["n"] = pd.to_numeric(raw["n"], errors="coerce").astype("float64")
    wide = raw.pivot_table(index="kpi", columns="period", values="value", dropna=False)
    sizes = raw.pivot_table(index="kpi", columns="period", values="n", dropna=False)
    rows = []
    for name in names:
        cur = wide.at[name, "current"] if name in wide.index else float("nan")
        prev = wide.at[name, "previous"] if name in wide.index else float("nan")
        change = (cur - prev) / abs(prev) if pd.notna(prev) and prev != 0 else float("nan")
        rows.append(
            {
                "kpi": name,
                "label": KPIS[name].label,
                "current": cur,
                "previous": prev,
                "change": change,
                "n_current": _size(sizes, name, "current"),
                "n_previous": _size(sizes, name, "previous"),
            }
        )
    out = pd.DataFrame(rows, columns=[*TOTALS_COLUMNS])
    return _mark(out, source, "; ".join(reasons) if serving is not None else "")


# --- experiments (Evolve loop) --------------------------------------------------------------


ACTIVITY_LABELS: dict[str, tuple[str, str]] = {
    "running": (
        "Running at period end",
        "Experiments that had started before the period's last day ended and had not ended "
        "by then (still running, or concluded later).",
    ),
    "concluded": ("Concluded in period", "Status 'concluded', ended within the period."),
    "started": ("Started in period", "Experiments that started within the period."),
}
"""Label and definition of each :func:`experiment_activity_query` count (one name each)."""


def experiment_activity_query(filters: Filters) -> Select:
    """Counts of experiments: running at the period end, concluded in it, started in it, all.

    See :data:`ACTIVITY_LABELS` for the definitions. Dimension filters do not apply.
    """
    e = metadata.tables["experiments"]
    running = and_(
        e.c.started_at < filters.end_ts,
        or_(
            e.c.status == str(ExperimentStatus.RUNNING),
            and_(e.c.status == str(ExperimentStatus.CONCLUDED), e.c.ended_at >= filters.end_ts),
        ),
    )
    concluded = and_(
        e.c.status == str(ExperimentStatus.CONCLUDED), filters.time_condition(e.c.ended_at)
    )
    started = filters.time_condition(e.c.started_at)

    def n(cond: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    return select(
        n(running).label("running"),
        n(concluded).label("concluded"),
        n(started).label("started"),
        func.count().label("total"),
    ).select_from(e)


def fetch_experiment_activity(engine: Engine, filters: Filters) -> dict[str, int]:
    """``{"running", "concluded", "started", "total"}`` counts (see the query's docstring)."""
    df = _frame(engine, experiment_activity_query(filters))
    return {k: int(df.at[0, k]) for k in ("running", "concluded", "started", "total")}
