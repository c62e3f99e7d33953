"""Multi-touch attribution of orders to channels or campaigns, computed in SQL.

Definitions
-----------
- **Conversion** = one order (``orders``) placed in the filter period by a customer in the selected
  segments/regions. Its **revenue** is the order revenue (USD).
- **Touch** = a ``touchpoints`` row of the same customer whose ``event_type`` is in
  :data:`TOUCH_EVENT_TYPES` (click, visit, email_open, email_click, referral: contacts with a
  channel that the customer acted on; impressions are view-through and are *not* counted, nor are
  outcomes such as signup/trial/purchase or service events such as support_contact/review), that
  occurred in the **lookback window** ``[ordered_at - lookback_days, ordered_at]``.
- Orders with no touch in their window go to the explicit :data:`NO_TOUCH` bucket with weight 1,
  so every model's totals equal the orders and revenue of the period.

Models (weights of the ``n`` touches of one order, ordered by time, ``i = 1..n``; they sum to 1):

- ``first_touch``: 1 for ``i = 1``; ``last_touch``: 1 for ``i = n``; ``linear``: ``1/n``.
- ``time_decay``: ``2^(-age_i/h) / Σ_j 2^(-age_j/h)``, ``age`` = days from touch to order,
  ``h`` = half-life in days.
- ``position_based`` (U-shaped 40/20/40): one touch 1; two touches 0.5/0.5; otherwise 0.4 to the
  first and the last and ``0.2/(n-2)`` to each middle touch.

The global channel filter selects which *rows of the result* are shown (credits are those of the
full model), so a channel's credit does not change when other channels are hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd
from sqlalchemy import (
    Double,
    Engine,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    select,
    union_all,
)

from data.schema import EventType, campaigns, customers, orders, touchpoints
from data.sqlfuncs import GRAINS, add_days, days_between, trunc_to
from metrics.filters import Filters

MODELS: tuple[str, ...] = (
    "first_touch",
    "last_touch",
    "linear",
    "time_decay",
    "position_based",
)
MODEL_LABELS: dict[str, str] = {
    "first_touch": "First touch",
    "last_touch": "Last touch",
    "linear": "Linear",
    "time_decay": "Time decay",
    "position_based": "Position based (40/20/40)",
}
TOUCH_EVENT_TYPES: tuple[str, ...] = (
    EventType.CLICK,
    EventType.VISIT,
    EventType.EMAIL_OPEN,
    EventType.EMAIL_CLICK,
    EventType.REFERRAL,
)
NO_TOUCH = "(no touch)"
NO_CAMPAIGN = "(no campaign)"

By = Literal["channel", "campaign"]


@dataclass(frozen=True)
class AttributionOptions:
    """Lookback window and time-decay half-life, both in days."""

    lookback_days: int = 30
    half_life_days: float = 7.0
    touch_event_types: tuple[str, ...] = TOUCH_EVENT_TYPES

    def __post_init__(self) -> None:
        if not isinstance(self.lookback_days, int) or not 0 <= self.lookback_days <= 365:
            raise ValueError(
                f"lookback window must be a whole number of days from 0 to 365, "
                f"got {self.lookback_days!r}"
            )
        if not self.half_life_days > 0:
            raise ValueError(f"time-decay half-life must be > 0 days, got {self.half_life_days!r}")
        if not self.touch_event_types:
            raise ValueError("at least one touch event type is needed")
        unknown = set(self.touch_event_types) - {e.value for e in EventType}
        if unknown:
            raise ValueError(f"unknown touch event type(s): {', '.join(sorted(unknown))}")


DEFAULT_OPTIONS = AttributionOptions()


def attribution_stmt(
    filters: Filters,
    options: AttributionOptions = DEFAULT_OPTIONS,
    *,
    by: By = "channel",
    grain: str | None = None,
) -> Select:
    """One row per (period,) key: ``conversions_<model>`` and ``revenue_<model>`` per model.

    ``key`` is the touch channel (``by="channel"``) or the campaign id as text
    (``by="campaign"``; touches without a campaign give ``(no campaign)``); orders without a
    touch give ``(no touch)``. With ``grain`` a ``period`` column (start of the order's
    day/week/month...) is added.
    """
    if by not in ("channel", "campaign"):
        raise ValueError(f"attribute by 'channel' or 'campaign', not {by!r}")
    if grain is not None and grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}; use one of {', '.join(GRAINS)}")

    conv = (
        select(
            orders.c.order_id,
            orders.c.customer_id,
            orders.c.ordered_at,
            cast(orders.c.revenue, Double).label("revenue"),
        )
        .select_from(orders.join(customers, customers.c.customer_id == orders.c.customer_id))
        .where(
            filters.time_condition(orders.c.ordered_at),
            filters.dimension_condition(segment=customers.c.segment, region=customers.c.region),
        )
        .cte("conv")
    )

    in_window = and_(
        touchpoints.c.customer_id == conv.c.customer_id,
        touchpoints.c.occurred_at >= add_days(conv.c.ordered_at, -options.lookback_days),
        touchpoints.c.occurred_at <= conv.c.ordered_at,
        touchpoints.c.event_type.in_(options.touch_event_types),
    )
    if by == "channel":
        key_expr = touchpoints.c.channel
    else:
        key_expr = func.coalesce(cast(touchpoints.c.campaign_id, String), NO_CAMPAIGN)

    part = {"partition_by": conv.c.order_id}
    age = days_between(touchpoints.c.occurred_at, conv.c.ordered_at)
    touches = (
        select(
            conv.c.order_id,
            conv.c.ordered_at,
            conv.c.revenue,
            key_expr.label("key"),
            func.row_number()
            .over(order_by=(touchpoints.c.occurred_at, touchpoints.c.touchpoint_id), **part)
            .label("rn"),
            func.count().over(**part).label("n"),
            func.power(literal(0.5, Double), age / float(options.half_life_days)).label("decay"),
        )
        .select_from(conv.join(touchpoints, in_window))
        .cte("touches")
    )

    n = cast(touches.c.n, Double)
    weights = {
        "first_touch": case((touches.c.rn == 1, 1.0), else_=0.0),
        "last_touch": case((touches.c.rn == touches.c.n, 1.0), else_=0.0),
        "linear": literal(1.0, Double) / n,
        "time_decay": touches.c.decay
        / func.sum(touches.c.decay).over(partition_by=touches.c.order_id),
        "position_based": case(
            (touches.c.n == 1, 1.0),
            (touches.c.n == 2, 0.5),
            (touches.c.rn == 1, 0.4),
            (touches.c.rn == touches.c.n, 0.4),
            else_=literal(0.2, Double) / (n - 2.0),
        ),
    }
    weighted = select(
        touches.c.ordered_at,
        touches.c.revenue,
        touches.c.key,
        *(cast(w, Double).label(f"w_{m}") for m, w in weights.items()),
    ).cte("weighted")

    untouched = select(
        conv.c.ordered_at,
        conv.c.revenue,
        literal(NO_TOUCH, String).label("key"),
        *(literal(1.0, Double).label(f"w_{m}") for m in MODELS),
    ).where(~exists().where(in_window).select_from(touchpoints))
    rows = union_all(select(weighted), untouched).subquery("credited")

    group = [rows.c.key]
    cols = [rows.c.key]
    if grain is not None:
        period = trunc_to(grain, rows.c.ordered_at).label("period")
        group.insert(0, period)
        cols.insert(0, period)
    for m in MODELS:
        w = rows.c[f"w_{m}"]
        cols.append(func.sum(w).label(f"conversions_{m}"))
        cols.append(func.sum(w * rows.c.revenue).label(f"revenue_{m}"))
    return select(*cols).group_by(*group).order_by(*group)


def _key_filter(df: pd.DataFrame, filters: Filters, by: By) -> pd.DataFrame:
    if by == "channel" and filters.channels:
        return df[df["key"].isin(filters.channels)]
    return df


def attribute(
    engine: Engine,
    filters: Filters,
    options: AttributionOptions = DEFAULT_OPTIONS,
    *,
    by: By = "channel",
) -> pd.DataFrame:
    """Attributed conversions and revenue per key and model (long format).

    Columns: ``key`` (channel, campaign id as text, ``(no campaign)`` or ``(no touch)``),
    ``model``, ``conversions`` (fractional orders), ``revenue`` (USD). With
    ``by="campaign"`` also ``campaign`` (name) and ``channel`` (campaign's channel).
    """
    with engine.connect() as conn:
        wide = pd.read_sql(attribution_stmt(filters, options, by=by), conn)
    long = _to_long(wide, ["key"])
    if by == "campaign":
        long = _with_campaign_names(engine, long)
        if filters.channels:
            long = long[long["channel"].isin(filters.channels)]
    return _key_filter(long, filters, by).reset_index(drop=True)


def attribute_over_time(
    engine: Engine,
    filters: Filters,
    options: AttributionOptions = DEFAULT_OPTIONS,
    *,
    grain: str = "week",
) -> pd.DataFrame:
    """Like :func:`attribute` by channel, with a ``period`` (timestamp) column first."""
    with engine.connect() as conn:
        wide = pd.read_sql(attribution_stmt(filters, options, by="channel", grain=grain), conn)
    long = _to_long(wide, ["period", "key"])
    long["period"] = pd.to_datetime(long["period"]).astype("datetime64[us]")
    return _key_filter(long, filters, "channel").reset_index(drop=True)


def _to_long(wide: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    frames = []
    for m in MODELS:
        part = wide[ids].copy()
        part["model"] = m
        part["conversions"] = wide[f"conversions_{m}"].astype(float)
        part["revenue"] = wide[f"revenue_{m}"].astype(float)
        frames.append(part)
    if not frames or wide.empty:
        return pd.DataFrame(columns=[*ids, "model", "conversions", "revenue"])
    out = pd.concat(frames, ignore_index=True)
    out["key"] = out["key"].astype(str)
    return out


def campaign_names(engine: Engine) -> pd.DataFrame:
    """``key`` (campaign id as text), ``campaign`` (name), ``channel`` for every campaign."""
    with engine.connect() as conn:
        names = pd.read_sql(
            select(
                cast(campaigns.c.campaign_id, String).label("key"),
                campaigns.c.name.label("campaign"),
                campaigns.c.channel,
            ),
            conn,
        )
    names["key"] = names["key"].astype(str)
    return names


def _with_campaign_names(engine: Engine, long: pd.DataFrame) -> pd.DataFrame:
    out = long.merge(campaign_names(engine), on="key", how="left")
    out["campaign"] = out["campaign"].fillna(out["key"])
    return out


def attribution_table(long: pd.DataFrame, value: str = "conversions") -> pd.DataFrame:
    """Models side by side: one row per key, one column per model (``value`` per cell)."""
    if value not in ("conversions", "revenue"):
        raise ValueError("value must be 'conversions' or 'revenue'")
    if long.empty:
        return pd.DataFrame(columns=["key", *MODELS])
    table = long.pivot_table(index="key", columns="model", values=value, aggfunc="sum")
    table = table.reindex(columns=list(MODELS)).fillna(0.0)
    return table.sort_values("last_touch", ascending=False).reset_index()
