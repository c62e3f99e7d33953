"""Data-driven (Markov-chain removal-effect) attribution from path counts aggregated in SQL.

Definitions (the same orders, touches and filters as :mod:`metrics.marketing.attribution`)
-----------------------------------------------------------------------------------------
- **Converting journey** = one order of the filter period (customer in the selected
  segments/regions); its touches are the customer's touchpoints with an event type in
  ``options.touch_event_types`` within ``[ordered_at - lookback_days, ordered_at]``. Orders with
  no touch go to :data:`~metrics.marketing.attribution.NO_TOUCH` (count and revenue), exactly as
  in the rule-based models.
- **Non-converting journey** = one per customer of the selected segments/regions who placed
  **no order in the filter period** but had at least one touch in it: their touches in the
  period within ``lookback_days`` before their last touch of the period. (Touches of converting
  customers after their last order are not used.)
- **Path** = the journey's channels in time order (ties by touchpoint id), consecutive repeats
  collapsed (``email, email, search`` → ``email, search``), then truncated to the **last
  K = :data:`DEFAULT_K` = 4** channels. The warehouse returns one row per distinct path with its
  conversions, revenue (USD) and non-conversions; raw touchpoints never leave the database.

Method
------
First-order chain with states ``START``, the channels, and the absorbing ``CONVERSION`` and
``NULL``: transition probabilities are the path-weighted transition counts normalised per state
(``START → c1``, ``c_i → c_{i+1}``, ``c_last → CONVERSION`` or ``NULL``). The conversion
probability ``P`` from ``START`` solves ``(I - Q) x = r`` (``Q`` transient-to-transient, ``r``
transient-to-CONVERSION; numpy). Removing channel ``c`` sends every transition into ``c`` to
``NULL``; its **removal effect** is ``1 - P_without_c / P``. Credits: removal effects
normalised to sum to 1, times the touched orders (conversions) and times the touched revenue
(revenue credit uses the same shares; a revenue-weighted chain is not used). With no
conversion every effect is 0 and nothing is credited.

Limitations: the chain is observational (a removal effect is not a causal lift), first-order
(only the previous channel matters), and K and the non-converting journey definition shape it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import (
    Double,
    Engine,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)

from data.schema import customers, orders, touchpoints
from data.sqlfuncs import add_days
from i18n import N_, _
from metrics.filters import Filters
from metrics.marketing.attribution import DEFAULT_OPTIONS, NO_TOUCH, AttributionOptions

DEFAULT_K = 4
START, CONVERSION, NULL = "START", "CONVERSION", "NULL"
MODEL = "markov"
MODEL_LABEL = N_("Markov (data-driven)")


def _step_cols(k: int) -> list[str]:
    """``s1`` = last channel of the path, ``s2`` the one before, ... ``s<k>``."""
    return [f"s{i}" for i in range(1, k + 1)]


def path_counts_stmt(
    filters: Filters, options: AttributionOptions = DEFAULT_OPTIONS, *, k: int = DEFAULT_K
) -> Select:
    """One row per distinct path: ``s1..s<k>`` (last channel first, NULL past the path's
    start), ``conversions`` (orders), ``revenue`` (USD) and ``non_conversions`` (journeys)."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(_("path length K must be a whole number ≥ 1, got {k!r}").format(k=k))
    is_touch = or_(*(touchpoints.c.event_type == e for e in options.touch_event_types))
    dims = filters.dimension_condition(segment=customers.c.segment, region=customers.c.region)
    conv = (
        select(
            orders.c.order_id,
            orders.c.customer_id,
            orders.c.ordered_at,
            cast(orders.c.revenue, Double).label("revenue"),
        )
        .select_from(orders.join(customers, customers.c.customer_id == orders.c.customer_id))
        .where(filters.time_condition(orders.c.ordered_at), dims)
        .cte("mk_conv")
    )
    conv_touches = select(
        literal(1, Integer).label("converted"),
        conv.c.order_id.label("jid"),
        conv.c.revenue,
        touchpoints.c.channel,
        touchpoints.c.occurred_at,
        touchpoints.c.touchpoint_id,
    ).select_from(
        conv.join(
            touchpoints,
            and_(
                touchpoints.c.customer_id == conv.c.customer_id,
                touchpoints.c.occurred_at >= add_days(conv.c.ordered_at, -options.lookback_days),
                touchpoints.c.occurred_at <= conv.c.ordered_at,
                is_touch,
            ),
        )
    )
    ordered_in_period = (
        select(literal(1))
        .select_from(orders)
        .where(
            orders.c.customer_id == touchpoints.c.customer_id,
            filters.time_condition(orders.c.ordered_at),
        )
    )
    nc = (
        select(
            touchpoints.c.customer_id,
            touchpoints.c.channel,
            touchpoints.c.occurred_at,
            touchpoints.c.touchpoint_id,
            func.max(touchpoints.c.occurred_at)
            .over(partition_by=touchpoints.c.customer_id)
            .label("last_at"),
        )
        .select_from(
            touchpoints.join(customers, customers.c.customer_id == touchpoints.c.customer_id)
        )
        .where(
            filters.time_condition(touchpoints.c.occurred_at),
            is_touch,
            dims,
            ~ordered_in_period.exists(),
        )
        .subquery("mk_nc")
    )
    nc_touches = select(
        literal(0, Integer).label("converted"),
        nc.c.customer_id.label("jid"),
        literal(0.0, Double).label("revenue"),
        nc.c.channel,
        nc.c.occurred_at,
        nc.c.touchpoint_id,
    ).where(nc.c.occurred_at >= add_days(nc.c.last_at, -options.lookback_days))
    j = union_all(conv_touches, nc_touches).subquery("mk_touches")
    journey = {"partition_by": (j.c.converted, j.c.jid)}
    with_prev = select(
        j,
        func.lag(j.c.channel)
        .over(order_by=(j.c.occurred_at, j.c.touchpoint_id), **journey)
        .label("prev"),
    ).subquery("mk_prev")
    jp = {"partition_by": (with_prev.c.converted, with_prev.c.jid)}
    collapsed = (
        select(
            with_prev.c.converted,
            with_prev.c.jid,
            with_prev.c.revenue,
            with_prev.c.channel,
            func.row_number()
            .over(order_by=(with_prev.c.occurred_at.desc(), with_prev.c.touchpoint_id.desc()), **jp)
            .label("back"),
        )
        .where(or_(with_prev.c.prev.is_(None), with_prev.c.prev != with_prev.c.channel))
        .subquery("mk_collapsed")
    )
    steps = _step_cols(k)
    per_journey = (
        select(
            collapsed.c.converted,
            collapsed.c.jid,
            func.max(collapsed.c.revenue).label("revenue"),
            *(
                func.max(case((collapsed.c.back == i, collapsed.c.channel))).label(s)
                for i, s in enumerate(steps, start=1)
            ),
        )
        .where(collapsed.c.back <= k)
        .group_by(collapsed.c.converted, collapsed.c.jid)
        .subquery("mk_journeys")
    )
    group = [per_journey.c[s] for s in steps]
    converted = per_journey.c.converted == 1
    return select(
        *group,
        func.sum(case((converted, 1), else_=0)).label("conversions"),
        func.sum(case((converted, per_journey.c.revenue), else_=0.0)).label("revenue"),
        func.sum(case((converted, 0), else_=1)).label("non_conversions"),
    ).group_by(*group)


def order_totals_stmt(filters: Filters) -> Select:
    """Orders and revenue (USD) of the filter period (selected segments/regions)."""
    return (
        select(
            func.count().label("orders"),
            func.coalesce(func.sum(cast(orders.c.revenue, Double)), 0.0).label("revenue"),
        )
        .select_from(orders.join(customers, customers.c.customer_id == orders.c.customer_id))
        .where(
            filters.time_condition(orders.c.ordered_at),
            filters.dimension_condition(segment=customers.c.segment, region=customers.c.region),
        )
    )


@dataclass(frozen=True)
class PathCounts:
    """Distinct paths (``path``: tuple of channels in time order) with ``conversions``,
    ``revenue`` (USD), ``non_conversions``; and the untouched orders and their revenue."""

    paths: pd.DataFrame
    no_touch_orders: float = 0.0
    no_touch_revenue: float = 0.0


def path_counts(
    engine: Engine,
    filters: Filters,
    options: AttributionOptions = DEFAULT_OPTIONS,
    *,
    k: int = DEFAULT_K,
) -> PathCounts:
    """Run :func:`path_counts_stmt` and :func:`order_totals_stmt` (two aggregate queries)."""
    steps = _step_cols(k)
    with engine.connect() as conn:
        raw = pd.read_sql(path_counts_stmt(filters, options, k=k), conn)
        totals = conn.execute(order_totals_stmt(filters)).one()
    paths = pd.DataFrame(
        {
            "path": [
                tuple(str(c) for c in reversed(row) if c is not None and not pd.isna(c))
                for row in raw[steps].itertuples(index=False, name=None)
            ],
            "conversions": raw["conversions"].astype(float),
            "revenue": raw["revenue"].astype(float),
            "non_conversions": raw["non_conversions"].astype(float),
        }
    )
    touched_orders = float(paths["conversions"].sum())
    touched_revenue = float(paths["revenue"].sum())
    return PathCounts(
        paths.sort_values("path").reset_index(drop=True),
        no_touch_orders=float(totals.orders) - touched_orders,
        no_touch_revenue=float(totals.revenue or 0.0) - touched_revenue,
    )


def transitions(paths: pd.DataFrame) -> pd.DataFrame:
    """Path-weighted transition counts: ``source``, ``target``, ``count``, ``probability``
    (count / all transitions out of ``source``)."""
    counts: dict[tuple[str, str], float] = {}
    for path, conv, non in paths[["path", "conversions", "non_conversions"]].itertuples(
        index=False, name=None
    ):
        if not path:
            continue
        weight = conv + non
        seq = [START, *path]
        for a, b in zip(seq[:-1], seq[1:], strict=True):
            counts[(a, b)] = counts.get((a, b), 0.0) + weight
        if conv:
            counts[(path[-1], CONVERSION)] = counts.get((path[-1], CONVERSION), 0.0) + conv
        if non:
            counts[(path[-1], NULL)] = counts.get((path[-1], NULL), 0.0) + non
    out = pd.DataFrame(
        [(a, b, c) for (a, b), c in counts.items() if c > 0],
        columns=["source", "target", "count"],
    )
    out["probability"] = out["count"] / out.groupby("source")["count"].transform("sum")
    return out.sort_values(["source", "target"]).reset_index(drop=True)


def conversion_probability(edges: pd.DataFrame, removed: str | None = None) -> float:
    """P(reach CONVERSION from START); with ``removed``, transitions into it go to NULL."""
    if edges.empty:
        return 0.0
    states = [START, *sorted(set(edges["source"]) - {START})]
    index = {s: i for i, s in enumerate(states)}
    q = np.zeros((len(states), len(states)))
    r = np.zeros(len(states))
    for a, b, p in edges[["source", "target", "probability"]].itertuples(index=False, name=None):
        if b == CONVERSION:
            r[index[a]] += p
        elif b != NULL and b != removed:
            q[index[a], index[b]] += p
    return float(np.linalg.solve(np.eye(len(states)) - q, r)[0])


def removal_effects(edges: pd.DataFrame) -> dict[str, float]:
    """``1 - P(without c) / P`` per channel (0 for all when P = 0)."""
    channels = sorted(set(edges["source"]) - {START}) if not edges.empty else []
    p = conversion_probability(edges)
    if p <= 0:
        return {c: 0.0 for c in channels}
    return {c: max(0.0, 1.0 - conversion_probability(edges, c) / p) for c in channels}


@dataclass(frozen=True)
class MarkovResult:
    """``credits``: ``key``, ``removal_effect``, ``share``, ``conversions``, ``revenue`` (USD),
    with a :data:`NO_TOUCH` row when orders had no touch; ``edges``: :func:`transitions`;
    ``conversion_probability``: P from START."""

    credits: pd.DataFrame
    edges: pd.DataFrame
    conversion_probability: float
    journeys: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)


def attribute_paths(counts: PathCounts) -> MarkovResult:
    """Markov removal-effect credits for the path counts (see the module docstring)."""
    paths = counts.paths
    cols = ["key", "removal_effect", "share", "conversions", "revenue"]
    edges = (
        transitions(paths)
        if not paths.empty
        else pd.DataFrame(columns=["source", "target", "count", "probability"])
    )
    effects = removal_effects(edges)
    total = sum(effects.values())
    conv = float(paths["conversions"].sum()) if not paths.empty else 0.0
    rev = float(paths["revenue"].sum()) if not paths.empty else 0.0
    rows = [
        (c, e, e / total if total > 0 else 0.0, conv * e / total if total > 0 else 0.0)
        for c, e in effects.items()
    ]
    credits = pd.DataFrame([(c, e, s, x, rev * s) for c, e, s, x in rows], columns=cols).astype(
        {"removal_effect": float, "share": float, "conversions": float, "revenue": float}
    )
    if counts.no_touch_orders > 0:
        credits.loc[len(credits)] = [
            NO_TOUCH,
            np.nan,
            np.nan,
            counts.no_touch_orders,
            counts.no_touch_revenue,
        ]
    journeys = (
        float(paths["conversions"].sum() + paths["non_conversions"].sum())
        if not paths.empty
        else 0.0
    )
    credits = credits.sort_values("conversions", ascending=False).reset_index(drop=True)
    return MarkovResult(credits, edges, conversion_probability(edges), journeys)


def attribute(
    engine: Engine,
    filters: Filters,
    options: AttributionOptions = DEFAULT_OPTIONS,
    *,
    k: int = DEFAULT_K,
) -> MarkovResult:
    """Markov credits per channel for the filter period (the channel filter selects rows on
    the page; credits come from the full chain, like the rule-based models)."""
    return attribute_paths(path_counts(engine, filters, options, k=k))


def with_markov(
    table: pd.DataFrame, result: MarkovResult, value: str, filters: Filters
) -> pd.DataFrame:
    """:func:`~metrics.marketing.attribution.attribution_table` plus a ``markov`` column
    (``value``: ``"conversions"`` or ``"revenue"``), keys filtered like the table's."""
    credits = result.credits.set_index("key")[value]
    if filters.channels:
        credits = credits[credits.index.isin([*filters.channels])]
    out = table.set_index("key") if not table.empty else pd.DataFrame(index=pd.Index([], "key"))
    out = out.reindex(out.index.union(credits.index))
    out[MODEL] = credits.reindex(out.index)
    return out.fillna(0.0).reset_index().rename(columns={"index": "key"})
