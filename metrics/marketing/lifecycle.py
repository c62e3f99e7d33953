"""Lifecycle queries: stage volumes, distribution, conversion, time in stage, non-linear flow.

All aggregation happens in SQL over ``lifecycle_changes`` (one row per stage change). Filters:
the date range applies to ``changed_at``; segment and region to the customer; the channel filter
to the customer's tracked ``acquisition_channel`` (stage changes carry no channel).

Stage order is :data:`data.schema.FUNNEL_STAGES`; ``dormant`` is outside the order. A transition
``from -> to`` (``from`` not NULL) is classified as

- ``to dormant``   when ``to`` is dormant,
- ``reactivation`` when ``from`` is dormant,
- ``forward``      when ``to`` is later in the order than ``from``,
- ``backward``     when it is earlier (``same`` if equal, which well-formed data never has).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import (
    Double,
    Engine,
    Select,
    and_,
    case,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.sql.expression import ColumnElement

from data.schema import (
    FUNNEL_STAGES,
    EventType,
    Stage,
    campaigns,
    customers,
    daily_spend,
    lifecycle_changes,
    touchpoints,
)
from data.serving import lifecycle as srv
from data.serving.store import ServingStore
from data.sqlfuncs import GRAINS, days_between, trunc_to
from i18n import _
from metrics.filters import Filters
from metrics.marketing.kpi_sql import fetch_kpi_totals
from metrics.marketing.kpis import KPIS, format_value
from metrics.marketing.serving_route import Route, live_tag, route, tag

lc = lifecycle_changes
STAGE_ORDER: tuple[str, ...] = (*(s.value for s in FUNNEL_STAGES), Stage.DORMANT.value)
KINDS: tuple[str, ...] = ("forward", "backward", "to dormant", "reactivation")
PERCENTILE_DIALECTS = frozenset({"postgresql", "duckdb", "hive", "databricks"})
"""Dialects with ``percentile_cont(…) WITHIN GROUP``; the others (SQLite, MySQL/MariaDB) use the
rank-based median below, which equals it."""


def _customer_condition(filters: Filters) -> ColumnElement[bool]:
    return filters.dimension_condition(
        channel=customers.c.acquisition_channel,
        segment=customers.c.segment,
        region=customers.c.region,
    )


def _changes_with_customers():  # noqa: ANN202 - a SQLAlchemy Join
    return lc.join(customers, customers.c.customer_id == lc.c.customer_id)


def stage_rank(stage: ColumnElement) -> ColumnElement[int]:
    """Position of a funnel stage (1 = awareness ... 6 = loyalty); NULL for dormant/unknown."""
    return case(*((stage == s.value, i) for i, s in enumerate(FUNNEL_STAGES, 1)), else_=None)


def transition_kind(from_stage: ColumnElement, to_stage: ColumnElement) -> ColumnElement[str]:
    """SQL CASE classifying a transition (see the module docstring)."""
    return case(
        (to_stage == Stage.DORMANT.value, "to dormant"),
        (from_stage == Stage.DORMANT.value, "reactivation"),
        (stage_rank(to_stage) > stage_rank(from_stage), "forward"),
        (stage_rank(to_stage) < stage_rank(from_stage), "backward"),
        else_="same",
    )


# --- volumes and distribution -------------------------------------------------------------------


def stage_volume_stmt(filters: Filters, grain: str = "week") -> Select:
    """Entries per stage per period: ``period, stage, entries, customers``."""
    if grain not in GRAINS:
        raise ValueError(
            _("unknown grain {grain!r}; use one of {GRAINS}").format(
                grain=grain, GRAINS=", ".join(GRAINS)
            )
        )
    period = trunc_to(grain, lc.c.changed_at).label("period")
    return (
        select(
            period,
            lc.c.to_stage.label("stage"),
            func.count().label("entries"),
            func.count(lc.c.customer_id.distinct()).label("customers"),
        )
        .select_from(_changes_with_customers())
        .where(filters.time_condition(lc.c.changed_at), _customer_condition(filters))
        .group_by(period, lc.c.to_stage)
        .order_by(period, lc.c.to_stage)
    )


def served_stage_volume_stmt(filters: Filters, grain: str = "week") -> Select:
    """:func:`stage_volume_stmt` over ``srv_lc_entries``: a customer counts once per period
    and stage on the row whose previous entry into the stage is before the period's first day
    in the filter range (``max(period start, filters.start)``)."""
    if grain not in GRAINS:
        raise ValueError(
            _("unknown grain {grain!r}; use one of {GRAINS}").format(
                grain=grain, GRAINS=", ".join(GRAINS)
            )
        )
    e = srv.entries
    period = trunc_to(grain, e.c.day).label("period")
    first = or_(
        e.c.prev_day.is_(None),
        e.c.prev_day < filters.start,
        trunc_to(grain, e.c.prev_day) < trunc_to(grain, e.c.day),
    )
    return (
        select(
            period,
            e.c.stage,
            func.sum(e.c.entries).label("entries"),
            func.sum(case((first, e.c.n), else_=0)).label("customers"),
        )
        .where(filters.date_condition(e.c.day), _served_dims(filters, e))
        .group_by(period, e.c.stage)
        .order_by(period, e.c.stage)
    )


def stage_volumes(
    engine: Engine,
    filters: Filters,
    grain: str = "week",
    *,
    serving: ServingStore | None = None,
) -> pd.DataFrame:
    """Stage entries per period (``period`` is the period start, a timestamp)."""
    r = route(engine, serving, ("srv_lc_entries",), filters)
    stmt = (
        served_stage_volume_stmt(filters, grain) if r.served else stage_volume_stmt(filters, grain)
    )
    df = _read(r.engine, stmt)
    df["period"] = pd.to_datetime(df["period"]).astype("datetime64[us]")
    for col in ("entries", "customers"):
        df[col] = df[col].astype(int)
    return tag(df, r)


def stage_distribution_stmt(filters: Filters) -> Select:
    """Customers by their latest stage as of the end of the filter period: ``stage, customers``.

    Only changes before the end of the period count (ties at the same instant: the later stage in
    :data:`STAGE_ORDER` wins, so the result is deterministic).
    """
    latest = (
        select(
            lc.c.customer_id,
            lc.c.to_stage,
            func.row_number()
            .over(
                partition_by=lc.c.customer_id,
                order_by=(lc.c.changed_at.desc(), lc.c.to_stage.desc()),
            )
            .label("rn"),
        )
        .select_from(_changes_with_customers())
        .where(lc.c.changed_at < filters.end_ts, _customer_condition(filters))
        .subquery("latest")
    )
    return (
        select(latest.c.to_stage.label("stage"), func.count().label("customers"))
        .where(latest.c.rn == 1)
        .group_by(latest.c.to_stage)
    )


def served_stage_distribution_stmt(filters: Filters) -> Select:
    """:func:`stage_distribution_stmt` over ``srv_lc_flow``: customers in stage S at the end of
    the period = cumulative net flow into S over every day up to the end."""
    f = srv.flow
    total = func.sum(f.c.net)
    return (
        select(f.c.stage, total.label("customers"))
        .where(f.c.day <= filters.end, _served_dims(filters, f))
        .group_by(f.c.stage)
        .having(total != 0)
    )


def stage_distribution(
    engine: Engine, filters: Filters, *, serving: ServingStore | None = None
) -> pd.DataFrame:
    """``stage, customers, share`` (share of all customers with a stage), in stage order."""
    r = route(engine, serving, ("srv_lc_flow",), filters)
    stmt = served_stage_distribution_stmt(filters) if r.served else stage_distribution_stmt(filters)
    df = _read(r.engine, stmt)
    df["customers"] = df["customers"].astype(int)
    total = df["customers"].sum()
    df["share"] = df["customers"] / total if total else 0.0
    return tag(_in_stage_order(df), r)


# --- conversion and time in stage ---------------------------------------------------------------


def stage_conversion_stmt(filters: Filters) -> Select:
    """Per funnel stage k (not the last): customers who entered k in the period (``entered``) and
    how many of them entered k+1 after their first entry into k in the period, no later than the
    end of the period (``converted``)."""
    pairs = zip(FUNNEL_STAGES[:-1], FUNNEL_STAGES[1:], strict=True)
    next_stage = case(
        *((lc.c.to_stage == a.value, b.value) for a, b in pairs),
        else_=None,
    )
    entries = (
        select(
            lc.c.customer_id,
            lc.c.to_stage.label("stage"),
            next_stage.label("next_stage"),
            func.min(lc.c.changed_at).label("first_at"),
        )
        .select_from(_changes_with_customers())
        .where(
            filters.time_condition(lc.c.changed_at),
            lc.c.to_stage.in_([s.value for s in FUNNEL_STAGES[:-1]]),
            _customer_condition(filters),
        )
        .group_by(lc.c.customer_id, lc.c.to_stage)
        .cte("entries")
    )
    later = lc.alias("later")
    joined = entries.outerjoin(
        later,
        and_(
            later.c.customer_id == entries.c.customer_id,
            later.c.to_stage == entries.c.next_stage,
            later.c.changed_at > entries.c.first_at,
            later.c.changed_at >= filters.start_ts,  # implied (first_at is in the period)
            later.c.changed_at < filters.end_ts,
        ),
    )
    return (
        select(
            entries.c.stage,
            entries.c.next_stage,
            func.count(entries.c.customer_id.distinct()).label("entered"),
            func.count(later.c.customer_id.distinct()).label("converted"),
        )
        .select_from(joined)
        .group_by(entries.c.stage, entries.c.next_stage)
    )


NEXT_STAGE: dict[str, str] = {
    a.value: b.value for a, b in zip(FUNNEL_STAGES[:-1], FUNNEL_STAGES[1:], strict=True)
}


def _served_conversion(engine: Engine, filters: Filters) -> pd.DataFrame:
    """``stage, next_stage, entered, converted`` from ``srv_lc_entries`` and
    ``srv_lc_conversions``: a customer's first entry into k in the period is the row whose
    previous entry into k is before the period; it converted when its next-stage day is no
    later than the end."""
    e, c = srv.entries, srv.conversions
    entered = (
        select(e.c.stage, func.sum(e.c.n).label("entered"))
        .where(
            filters.date_condition(e.c.day),
            e.c.stage.in_(list(NEXT_STAGE)),
            or_(e.c.prev_day.is_(None), e.c.prev_day < filters.start),
            _served_dims(filters, e),
        )
        .group_by(e.c.stage)
    )
    converted = (
        select(c.c.stage, func.sum(c.c.n).label("converted"))
        .where(
            filters.date_condition(c.c.entry_day),
            or_(c.c.prev_day.is_(None), c.c.prev_day < filters.start),
            c.c.day <= filters.end,
            _served_dims(filters, c),
        )
        .group_by(c.c.stage)
    )
    ent = _read(engine, entered)
    conv = _read(engine, converted)
    df = ent.merge(conv, on="stage", how="left").fillna({"converted": 0})
    df.insert(1, "next_stage", df["stage"].map(NEXT_STAGE))
    return df


def stage_conversion(
    engine: Engine, filters: Filters, *, serving: ServingStore | None = None
) -> pd.DataFrame:
    """``stage, next_stage, entered, converted, rate`` (rate = converted / entered, 0-1)."""
    r = route(engine, serving, ("srv_lc_entries", "srv_lc_conversions"), filters)
    if r.served:
        df = _served_conversion(r.engine, filters)
    else:
        df = _read(engine, stage_conversion_stmt(filters))
    df["entered"] = df["entered"].astype(int)
    df["converted"] = df["converted"].astype(int)
    df["rate"] = (df["converted"] / df["entered"].where(df["entered"] > 0)).astype(float)
    return tag(_in_stage_order(df), r)


def time_in_stage_stmt(filters: Filters, dialect: str) -> Select:
    """Median days in stage per stage: ``stage, stays, median_days``.

    A *stay* starts with an entry into a stage in the period and ends at the customer's next stage
    change; only stays that ended before the end of the period count (stays still open are
    right-censored and left out, which biases the median of long stays downwards).

    On PostgreSQL and DuckDB the median is ``percentile_cont(0.5)``; on other dialects (SQLite,
    Trino, ...) it is the same exact median computed with window functions: the mean of the one
    or two middle values (``ROW_NUMBER`` / ``COUNT`` over the stage).
    """
    nxt = func.lead(lc.c.changed_at).over(
        partition_by=lc.c.customer_id, order_by=(lc.c.changed_at, lc.c.to_stage)
    )
    stays = (
        select(
            lc.c.to_stage.label("stage"),
            lc.c.changed_at.label("entered_at"),
            nxt.label("left_at"),
        )
        .select_from(_changes_with_customers())
        # A stay entered in the period ends at the next change, also in or after the period:
        # changes before the period never enter the window (same result, bounded scan).
        .where(filters.time_condition(lc.c.changed_at), _customer_condition(filters))
        .cte("stays")
    )
    done = (
        select(
            stays.c.stage,
            cast(days_between(stays.c.entered_at, stays.c.left_at), Double).label("days"),
        )
        .where(
            filters.time_condition(stays.c.entered_at),
            stays.c.left_at.is_not(None),
            stays.c.left_at < filters.end_ts,
        )
        .cte("done")
    )
    if dialect in PERCENTILE_DIALECTS:
        return select(
            done.c.stage,
            func.count().label("stays"),
            func.percentile_cont(0.5).within_group(done.c.days).label("median_days"),
        ).group_by(done.c.stage)
    ranked = select(
        done.c.stage,
        done.c.days,
        func.row_number().over(partition_by=done.c.stage, order_by=done.c.days).label("rn"),
        func.count().over(partition_by=done.c.stage).label("n"),
    ).subquery("ranked")
    middle = and_(2 * ranked.c.rn >= ranked.c.n, 2 * ranked.c.rn <= ranked.c.n + 2)
    return select(
        ranked.c.stage,
        func.max(ranked.c.n).label("stays"),
        func.avg(case((middle, ranked.c.days), else_=None)).label("median_days"),
    ).group_by(ranked.c.stage)


def _stays_conditions(filters: Filters) -> list[ColumnElement[bool]]:
    """Stays entered in the period and ended no later than its end, customer filters applied."""
    s = srv.stays
    return [filters.date_condition(s.c.entry_day), s.c.day <= filters.end, _served_dims(filters, s)]


def served_stay_bins_stmt(filters: Filters) -> Select:
    """Histogram of the period's stays by stage and duration bin: ``stage, bin, n``."""
    s = srv.stays
    return (
        select(s.c.stage, s.c.bin, func.sum(s.c.n).label("n"))
        .where(*_stays_conditions(filters))
        .group_by(s.c.stage, s.c.bin)
    )


def served_stay_values_stmt(filters: Filters, bins: Sequence[tuple[str, int]]) -> Select:
    """The exact durations (and their counts) of the period's stays in the given
    ``(stage, bin)`` pairs: ``stage, bin, days, n``."""
    s = srv.stays
    wanted = or_(*(and_(s.c.stage == stage, s.c.bin == b) for stage, b in bins))
    return (
        select(s.c.stage, s.c.bin, s.c.days, func.sum(s.c.n).label("n"))
        .where(*_stays_conditions(filters), wanted)
        .group_by(s.c.stage, s.c.bin, s.c.days)
    )


def _middle_positions(total: int) -> tuple[int, int]:
    """1-based positions of the one or two middle values of ``total`` sorted values (the median
    is their mean, as ``percentile_cont(0.5)``)."""
    return (total + 1) // 2, total // 2 + 1


def _served_time_in_stage(engine: Engine, filters: Filters) -> pd.DataFrame:
    """``stage, stays, median_days`` from ``srv_lc_stays`` in two small reads: the histogram by
    bin locates, per stage, the bins holding the middle positions; then only those bins' exact
    durations are read and the middle values picked from their cumulative counts."""
    with engine.connect() as conn:
        hist = pd.read_sql(served_stay_bins_stmt(filters), conn)
        if hist.empty:
            return pd.DataFrame({"stage": [], "stays": [], "median_days": []})
        hist["bin"] = hist["bin"].astype("int64")
        hist["n"] = hist["n"].astype("int64")
        hist = hist.sort_values(["stage", "bin"], kind="stable")
        hist["cum"] = hist.groupby("stage")["n"].cumsum()
        targets: dict[str, list[tuple[int, int]]] = {}  # stage -> [(offset in bin, bin)]
        totals = hist.groupby("stage")["n"].sum()
        for stage, group in hist.groupby("stage", sort=False):
            cum = group["cum"].to_numpy()
            bins = group["bin"].to_numpy()
            for pos in _middle_positions(int(totals[stage])):
                i = int(np.searchsorted(cum, pos))  # first bin with cum >= pos
                before = int(cum[i - 1]) if i else 0
                targets.setdefault(str(stage), []).append((pos - before, int(bins[i])))
        pairs = sorted({(st, b) for st, ts in targets.items() for _, b in ts})
        values = pd.read_sql(served_stay_values_stmt(filters, pairs), conn)
    values["bin"] = values["bin"].astype("int64")
    values["n"] = values["n"].astype("int64")
    values["days"] = values["days"].astype(float)
    values = values.sort_values(["stage", "bin", "days"], kind="stable")
    rows = []
    for stage, ts in targets.items():
        picked = []
        for offset, b in ts:
            v = values[(values["stage"] == stage) & (values["bin"] == b)]
            cum = v["n"].cumsum().to_numpy()
            picked.append(float(v["days"].to_numpy()[int(np.searchsorted(cum, offset))]))
        rows.append((stage, int(totals[stage]), (picked[0] + picked[1]) / 2.0))
    return pd.DataFrame(rows, columns=["stage", "stays", "median_days"])


def median_time_in_stage(
    engine: Engine, filters: Filters, *, serving: ServingStore | None = None
) -> pd.DataFrame:
    """``stage, stays, median_days`` (days, fractional) in stage order; see the statement."""
    r = route(engine, serving, ("srv_lc_stays",), filters)
    if r.served:
        df = _served_time_in_stage(r.engine, filters)
    else:
        df = _read(r.engine, time_in_stage_stmt(filters, engine.dialect.name))
    df["stays"] = df["stays"].astype(int)
    df["median_days"] = df["median_days"].astype(float)
    return tag(_in_stage_order(df), r)


# --- non-linear flow ----------------------------------------------------------------------------


def transitions_stmt(filters: Filters) -> Select:
    """Stage changes in the period with a known origin: ``from_stage, to_stage, kind, moves,
    customers`` (first entries, whose ``from_stage`` is NULL, are not transitions)."""
    kind = transition_kind(lc.c.from_stage, lc.c.to_stage).label("kind")
    return (
        select(
            lc.c.from_stage,
            lc.c.to_stage,
            kind,
            func.count().label("moves"),
            func.count(lc.c.customer_id.distinct()).label("customers"),
        )
        .select_from(_changes_with_customers())
        .where(
            filters.time_condition(lc.c.changed_at),
            lc.c.from_stage.is_not(None),
            _customer_condition(filters),
        )
        .group_by(lc.c.from_stage, lc.c.to_stage, kind)
        .order_by(func.count().desc())
    )


def served_transitions_stmt(filters: Filters) -> Select:
    """:func:`transitions_stmt` over ``srv_lc_transitions`` (a customer counts once per move on
    its row whose previous day with the same move is before the period)."""
    t = srv.transitions
    first = or_(t.c.prev_day.is_(None), t.c.prev_day < filters.start)
    sums = (
        select(
            t.c.from_stage,
            t.c.to_stage,
            func.sum(t.c.moves).label("moves"),
            func.sum(case((first, t.c.n), else_=0)).label("customers"),
        )
        .where(filters.date_condition(t.c.day), _served_dims(filters, t))
        .group_by(t.c.from_stage, t.c.to_stage)
        .subquery("sums")
    )
    kind = transition_kind(sums.c.from_stage, sums.c.to_stage).label("kind")
    return select(
        sums.c.from_stage, sums.c.to_stage, kind, sums.c.moves, sums.c.customers
    ).order_by(sums.c.moves.desc())


def transitions(
    engine: Engine, filters: Filters, *, serving: ServingStore | None = None
) -> pd.DataFrame:
    """Transition counts in the period (see :func:`transitions_stmt`)."""
    r = route(engine, serving, ("srv_lc_transitions",), filters)
    stmt = served_transitions_stmt(filters) if r.served else transitions_stmt(filters)
    df = _read(r.engine, stmt)
    df["moves"] = df["moves"].astype(int)
    df["customers"] = df["customers"].astype(int)
    return tag(df, r)


def biggest_backward_flows(trans: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` largest backward transitions with their share of all moves out of the origin."""
    if trans.empty:
        return pd.DataFrame(columns=["from_stage", "to_stage", "moves", "customers", "share_out"])
    out_of = trans.groupby("from_stage")["moves"].sum()
    back = trans[trans["kind"] == "backward"].copy()
    # (astype: with no backward rows, map returns the key's text dtype, and division fails)
    back["share_out"] = back["moves"] / back["from_stage"].map(out_of).astype(float)
    back = back.sort_values(["moves", "from_stage", "to_stage"], ascending=[False, True, True])
    return (
        back[["from_stage", "to_stage", "moves", "customers", "share_out"]]
        .head(n)
        .reset_index(drop=True)
    )


def flow_summary(trans: pd.DataFrame) -> pd.DataFrame:
    """Moves per kind (``kind, moves, share``) in :data:`KINDS` order."""
    moves = trans.groupby("kind")["moves"].sum() if not trans.empty else pd.Series(dtype=int)
    out = pd.DataFrame({"kind": list(KINDS)})
    out["moves"] = out["kind"].map(moves).fillna(0).astype(int)
    total = out["moves"].sum()
    out["share"] = out["moves"] / total if total else 0.0
    return out


# --- campaigns by target stage -----------------------------------------------------------------

CLICK_EVENTS: tuple[str, ...] = (EventType.CLICK.value, EventType.EMAIL_CLICK.value)


def campaign_touch_stmt(filters: Filters) -> Select:
    """Campaign touchpoints in the period per ``target_stage, is_personalised``.

    ``campaigns`` (distinct campaigns touching), ``touches`` (touchpoints of any event type),
    ``reached`` (distinct customers), ``clicks`` (click / email_click events), ``conversions``
    (purchase events carrying the campaign), ``converters`` (distinct customers with one).
    Channel filter: the campaign's channel; segment/region: the touched customer.
    """
    tp = touchpoints
    is_click = tp.c.event_type.in_(CLICK_EVENTS)
    is_purchase = tp.c.event_type == EventType.PURCHASE.value
    return (
        select(
            campaigns.c.target_stage,
            campaigns.c.is_personalised,
            func.count(tp.c.campaign_id.distinct()).label("campaigns"),
            func.count().label("touches"),
            func.count(tp.c.customer_id.distinct()).label("reached"),
            func.sum(case((is_click, 1), else_=0)).label("clicks"),
            func.sum(case((is_purchase, 1), else_=0)).label("conversions"),
            func.count(case((is_purchase, tp.c.customer_id), else_=None).distinct()).label(
                "converters"
            ),
        )
        .select_from(
            tp.join(campaigns, campaigns.c.campaign_id == tp.c.campaign_id).join(
                customers, customers.c.customer_id == tp.c.customer_id
            )
        )
        .where(
            filters.time_condition(tp.c.occurred_at),
            filters.dimension_condition(
                channel=campaigns.c.channel,
                segment=customers.c.segment,
                region=customers.c.region,
            ),
        )
        .group_by(campaigns.c.target_stage, campaigns.c.is_personalised)
    )


def campaign_spend_stmt(filters: Filters) -> Select:
    """Media spend (USD) in the period per ``target_stage, is_personalised``.

    Spend is reported per campaign and day, not per customer: segment/region do not apply.
    """
    return (
        select(
            campaigns.c.target_stage,
            campaigns.c.is_personalised,
            func.sum(daily_spend.c.spend).label("spend"),
        )
        .select_from(
            daily_spend.join(campaigns, campaigns.c.campaign_id == daily_spend.c.campaign_id)
        )
        .where(
            filters.date_condition(daily_spend.c.spend_date),
            filters.dimension_condition(channel=daily_spend.c.channel),
        )
        .group_by(campaigns.c.target_stage, campaigns.c.is_personalised)
    )


CAMPAIGN_TABLES: tuple[str, ...] = (
    "srv_campaign_touch_daily",
    "srv_campaign_reach",
    "srv_spend_daily",
    "srv_campaigns",
)
"""Serving tables :func:`campaign_stage_comparison` reads when served."""

SEVERAL_CHANNELS_REASON = (
    "campaign comparison live: a filter on several but not all campaign channels "
    "(distinct customers are served for all channels or one)"
)


def reach_part(filters: Filters, campaign_channels: set[str]) -> str | None:
    """Which ``srv_campaign_reach`` partition answers ``filters``' channel filter exactly.

    ``"all"`` when the filter is empty or selects every campaign channel; ``"channel"`` when it
    selects at most one campaign channel (its per-channel partition; none: nothing reached);
    ``None`` (answer live) when it selects several but not all of them.
    """
    if not filters.channels:
        return "all"
    chosen = campaign_channels & set(filters.channels)
    if chosen == campaign_channels:
        return "all"
    return "channel" if len(chosen) <= 1 else None


def _served_campaign_frames(engine: Engine, filters: Filters, part: str):  # noqa: ANN202
    """(touches, spend) frames of :func:`campaign_stage_comparison` from the serving store."""
    from data.serving import campaigns as sc
    from data.serving.facts import campaigns_copy as ca
    from data.serving.facts import spend_daily as sd

    d, r = sc.touch_daily, sc.reach
    counts = (
        select(
            ca.c.target_stage,
            ca.c.is_personalised,
            func.count(d.c.campaign_id.distinct()).label("campaigns"),
            func.sum(d.c.touches).label("touches"),
            func.sum(d.c.clicks).label("clicks"),
            func.sum(d.c.conversions).label("conversions"),
        )
        .select_from(d.join(ca, ca.c.campaign_id == d.c.campaign_id))
        .where(
            filters.date_condition(d.c.day),
            filters.dimension_condition(channel=ca.c.channel, segment=d.c.segment,
                                        region=d.c.region),
        )
        .group_by(ca.c.target_stage, ca.c.is_personalised)
    )  # fmt: skip
    first = or_(r.c.prev_day.is_(None), r.c.prev_day < filters.start)
    reached = (
        select(
            r.c.target_stage,
            r.c.is_personalised,
            func.sum(case((~r.c.purchase, r.c.n), else_=0)).label("reached"),
            func.sum(case((r.c.purchase, r.c.n), else_=0)).label("converters"),
        )
        .where(
            filters.date_condition(r.c.day),
            first,
            r.c.part == part,
            filters.dimension_condition(
                channel=r.c.channel if part == "channel" else None,
                segment=r.c.segment,
                region=r.c.region,
            ),
        )
        .group_by(r.c.target_stage, r.c.is_personalised)
    )
    spend = (
        select(ca.c.target_stage, ca.c.is_personalised, func.sum(sd.c.spend).label("spend"))
        .select_from(sd.join(ca, ca.c.campaign_id == sd.c.campaign_id))
        .where(filters.date_condition(sd.c.day), filters.dimension_condition(channel=sd.c.channel))
        .group_by(ca.c.target_stage, ca.c.is_personalised)
    )
    keys = ["target_stage", "is_personalised"]
    with engine.connect() as conn:
        touches = pd.read_sql(counts, conn)
        people = pd.read_sql(reached, conn)
        spent = pd.read_sql(spend, conn)
    for df in (touches, people):
        df["is_personalised"] = df["is_personalised"].astype(bool)
    touches = touches.merge(people, on=keys, how="left")
    return touches, spent


def campaign_stage_comparison(
    engine: Engine, filters: Filters, *, serving: ServingStore | None = None
) -> pd.DataFrame:
    """Campaigns by target stage, personalised vs generic.

    Columns: ``target_stage, approach`` ("personalised" | "generic"), the counts of
    :func:`campaign_touch_stmt`, ``spend`` (USD), ``conversion_rate`` (converters ÷ reached,
    0-1), ``ctr`` (clicks ÷ touches, 0-1) and ``cost_per_conversion`` (spend ÷ conversions, USD;
    NaN without conversions or without media spend, e.g. owned email campaigns).

    Served from :data:`CAMPAIGN_TABLES` when the store covers the period and the channel filter
    is one :func:`reach_part` can answer; live otherwise (the reason is in ``attrs``).
    """
    keys = ["target_stage", "is_personalised"]
    r = route(engine, serving, CAMPAIGN_TABLES, filters)
    part = None
    if r.served:
        part = reach_part(filters, _campaign_channels(r.engine))
        if part is None:
            r = Route(engine, False, SEVERAL_CHANNELS_REASON)
    if r.served and part is not None:
        touches, spend = _served_campaign_frames(r.engine, filters, part)
    else:
        touches = _read(engine, campaign_touch_stmt(filters))
        spend = _read(engine, campaign_spend_stmt(filters))
    for df in (touches, spend):
        df["is_personalised"] = df["is_personalised"].astype(bool)
    out = touches.merge(spend, on=keys, how="outer")
    counts = ["campaigns", "touches", "reached", "clicks", "conversions", "converters"]
    out[counts] = out[counts].fillna(0).astype(int)
    out["spend"] = out["spend"].astype(float).fillna(0.0)
    out["approach"] = out["is_personalised"].map({True: "personalised", False: "generic"})
    out["conversion_rate"] = out["converters"] / out["reached"].where(out["reached"] > 0)
    out["ctr"] = out["clicks"] / out["touches"].where(out["touches"] > 0)
    has_cost = (out["conversions"] > 0) & (out["spend"] > 0)
    out["cost_per_conversion"] = (out["spend"] / out["conversions"]).where(has_cost)
    out = _in_stage_order(out.rename(columns={"target_stage": "stage"}), "stage")
    out = out.rename(columns={"stage": "target_stage"})
    cols = ["target_stage", "approach", *counts, "spend", "ctr", "conversion_rate"]
    out = out[[*cols, "cost_per_conversion"]].astype({"ctr": float, "conversion_rate": float})
    return tag(out, r)


def _campaign_channels(engine: Engine) -> set[str]:
    """The channels of the campaigns in the serving store's ``srv_campaigns``."""
    from data.serving.facts import campaigns_copy as ca

    with engine.connect() as conn:
        return {row[0] for row in conn.execute(select(ca.c.channel).distinct())}


# --- stage-specific KPIs (from the KPI catalog) -------------------------------------------------

STAGE_KPI_NAMES: dict[str, tuple[str, ...]] = {
    Stage.AWARENESS.value: ("new_customers", "reach"),
    Stage.ENGAGEMENT.value: ("email_open_rate", "email_click_rate"),
    Stage.EVALUATION.value: (),
    Stage.PURCHASE.value: ("conversion_rate", "aov"),
    Stage.RETENTION.value: ("repeat_purchase_rate", "csat"),
    Stage.LOYALTY.value: ("nps", "referral_rate"),
    Stage.DORMANT.value: ("reactivation_rate",),
}
"""Catalog KPIs (:mod:`metrics.marketing.kpis`) shown beside each stage."""


def stage_kpis(
    engine: Engine, filters: Filters, *, serving: ServingStore | None = None
) -> pd.DataFrame:
    """Catalog KPIs per stage: ``stage, kpi, label, definition, current, previous, change,
    display, n_current, n_previous`` (``display`` = the current value formatted for its unit;
    ``change`` relative to the previous period of equal length, a fraction; ``n_*`` a rate's
    sample size). One SQL statement for all KPIs."""
    names = [n for ns in STAGE_KPI_NAMES.values() for n in ns if n in KPIS]
    cols = ["stage", "kpi", "label", "definition", "current", "previous", "change", "display"]
    cols += ["n_current", "n_previous"]
    reason = (
        _("KPI catalog figures (metrics.marketing.kpi_sql)") if serving else _("no serving store")
    )
    if not names:
        return live_tag(pd.DataFrame(columns=cols), reason)
    fetched = fetch_kpi_totals(engine, names, filters, serving=serving)
    totals = fetched.set_index("kpi")
    rows = []
    for stage, ns in STAGE_KPI_NAMES.items():
        for name in ns:
            if name not in totals.index:
                continue
            kpi, t = KPIS[name], totals.loc[name]
            rows.append(
                (
                    stage,
                    name,
                    kpi.label,
                    kpi.definition,
                    t["current"],
                    t["previous"],
                    t["change"],
                    format_value(kpi, None if pd.isna(t["current"]) else float(t["current"])),
                    t["n_current"],
                    t["n_previous"],
                )
            )
    out = pd.DataFrame(rows, columns=cols)
    out.attrs["source"] = fetched.attrs.get("source", "live")
    out.attrs["source_reason"] = fetched.attrs.get("source_reason", "")
    return out


# --- helpers ------------------------------------------------------------------------------------


def _served_dims(filters: Filters, table: object) -> ColumnElement[bool]:
    """The customer filters over a lifecycle serving table's dimension columns."""
    c = table.c  # type: ignore[attr-defined]
    return filters.dimension_condition(
        channel=c.acquisition_channel, segment=c.segment, region=c.region
    )


def _in_stage_order(df: pd.DataFrame, column: str = "stage") -> pd.DataFrame:
    if df.empty:
        return df.reset_index(drop=True)
    rank = {s: i for i, s in enumerate(STAGE_ORDER)}
    key = df[column].map(lambda s: rank.get(s, len(rank)))
    return df.assign(_k=key).sort_values("_k").drop(columns="_k").reset_index(drop=True)


def _read(engine: Engine, stmt: Select) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(stmt, conn)
