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

import datetime as dt
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
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql.expression import ColumnElement, Subquery

from data.schema import EventType, campaigns, customers, orders, touchpoints
from data.serving.store import ServingStore
from data.sqlfuncs import GRAINS, add_days, day_of, days_between, trunc_to
from i18n import _
from metrics.filters import Filters
from metrics.marketing.serving_route import route, tag

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
                _(
                    "lookback window must be a whole number of days "
                    "from 0 to 365, got {lookback_days!r}"
                ).format(lookback_days=self.lookback_days)
            )
        if not self.half_life_days > 0:
            raise ValueError(
                _("time-decay half-life must be > 0 days, got {half_life_days!r}").format(
                    half_life_days=self.half_life_days
                )
            )
        if not self.touch_event_types:
            raise ValueError(_("at least one touch event type is needed"))
        unknown = set(self.touch_event_types) - {e.value for e in EventType}
        if unknown:
            raise ValueError(
                _("unknown touch event type(s): {join}").format(join=", ".join(sorted(unknown)))
            )


DEFAULT_OPTIONS = AttributionOptions()


def credited_rows(
    conv_conditions: list[ColumnElement[bool]],
    options: AttributionOptions = DEFAULT_OPTIONS,
    *,
    touches_from: dt.datetime | None = None,
    touches_before: dt.datetime | None = None,
) -> Subquery:
    """Every (order, touch) credit row, and one :data:`NO_TOUCH` row per untouched order.

    Columns: ``ordered_at``, ``revenue`` (USD), ``channel`` (the touch channel), ``campaign``
    (campaign id as text, :data:`NO_CAMPAIGN` without one), the customer's ``segment`` and
    ``region``, and ``w_<model>`` (the touch's weight in the order, see the module docstring).
    ``conv_conditions`` select the orders (over ``orders`` joined to ``customers``);
    ``touches_from`` / ``touches_before`` bound the touchpoints scanned (they must not cut any
    lookback window of a selected order: pass the first order instant minus the lookback and
    the instant after the last order).
    """
    conv = (
        select(
            orders.c.order_id,
            orders.c.customer_id,
            orders.c.ordered_at,
            cast(orders.c.revenue, Double).label("revenue"),
            customers.c.segment,
            customers.c.region,
        )
        .select_from(orders.join(customers, customers.c.customer_id == orders.c.customer_id))
        .where(*conv_conditions)
        .cte("conv")
    )
    bounds = []
    if touches_from is not None:
        bounds.append(touchpoints.c.occurred_at >= touches_from)
    if touches_before is not None:
        bounds.append(touchpoints.c.occurred_at < touches_before)
    in_window = and_(
        touchpoints.c.customer_id == conv.c.customer_id,
        touchpoints.c.occurred_at >= add_days(conv.c.ordered_at, -options.lookback_days),
        touchpoints.c.occurred_at <= conv.c.ordered_at,
        # equalities, not IN: no expanding parameter (the serving refresh reads this natively)
        or_(*(touchpoints.c.event_type == e for e in options.touch_event_types)),
        *bounds,
    )
    campaign = func.coalesce(cast(touchpoints.c.campaign_id, String), NO_CAMPAIGN)
    part = {"partition_by": conv.c.order_id}
    age = days_between(touchpoints.c.occurred_at, conv.c.ordered_at)
    touches = (
        select(
            conv.c.order_id,
            conv.c.ordered_at,
            conv.c.revenue,
            conv.c.segment,
            conv.c.region,
            touchpoints.c.channel.label("channel"),
            campaign.label("campaign"),
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
        touches.c.channel,
        touches.c.campaign,
        touches.c.segment,
        touches.c.region,
        *(cast(w, Double).label(f"w_{m}") for m, w in weights.items()),
    )
    # Untouched orders: no touchpoint in their window. NOT EXISTS, not NOT IN over the touched
    # orders: PostgreSQL plans NOT IN (subquery) as a per-row scan of the subquery (quadratic;
    # a 1M-customer serving build did not finish in 45 min), while every engine turns NOT
    # EXISTS into an anti-join.
    touched = select(literal(1)).select_from(touchpoints).where(in_window)
    untouched = select(
        conv.c.ordered_at,
        conv.c.revenue,
        literal(NO_TOUCH, String).label("channel"),
        literal(NO_TOUCH, String).label("campaign"),
        conv.c.segment,
        conv.c.region,
        *(literal(1.0, Double).label(f"w_{m}") for m in MODELS),
    ).where(~touched.exists())
    return union_all(weighted, untouched).subquery("credited")


def _live_rows(filters: Filters, options: AttributionOptions) -> Subquery:
    """Credit rows for the orders of the filter period (touchpoints bounded to its windows)."""
    return credited_rows(
        [
            filters.time_condition(orders.c.ordered_at),
            filters.dimension_condition(segment=customers.c.segment, region=customers.c.region),
        ],
        options,
        touches_from=filters.start_ts - dt.timedelta(days=options.lookback_days),
        touches_before=filters.end_ts,
    )


def _sums(rows: Subquery) -> list[ColumnElement]:
    cols: list[ColumnElement] = []
    for m in MODELS:
        w = rows.c[f"w_{m}"]
        cols.append(func.sum(w).label(f"conversions_{m}"))
        cols.append(func.sum(w * rows.c.revenue).label(f"revenue_{m}"))
    return cols


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
        raise ValueError(_("attribute by 'channel' or 'campaign', not {by!r}").format(by=by))
    if grain is not None and grain not in GRAINS:
        raise ValueError(
            _("unknown grain {grain!r}; use one of {GRAINS}").format(
                grain=grain, GRAINS=", ".join(GRAINS)
            )
        )
    rows = _live_rows(filters, options)
    key = rows.c[by].label("key")
    group: list[ColumnElement] = [key]
    if grain is not None:
        group.insert(0, trunc_to(grain, rows.c.ordered_at).label("period"))
    return select(*group, *_sums(rows)).group_by(*group).order_by(*group)


def daily_credit_stmt(filters: Filters, options: AttributionOptions = DEFAULT_OPTIONS) -> Select:
    """Live credit per order ``day`` × ``channel`` × ``campaign`` (one attribution per page:
    every by-channel, by-campaign and over-time figure is a sum of these rows)."""
    rows = _live_rows(filters, options)
    group = [day_of(rows.c.ordered_at).label("day"), rows.c.channel, rows.c.campaign]
    return select(*group, *_sums(rows)).group_by(*group)


SERVED_TABLES: tuple[str, ...] = ("srv_attribution_daily", "srv_campaigns")
"""Serving tables the served attribution reads (built for :data:`DEFAULT_OPTIONS` only)."""


def served_daily_credit_stmt(filters: Filters) -> Select:
    """:func:`daily_credit_stmt` for the default options, over ``srv_attribution_daily``."""
    from data.serving.channels import attribution_daily as t

    cols = [c for c in t.c if c.name.startswith(("conversions_", "revenue_"))]
    group = [t.c.day, t.c.channel, t.c.campaign]
    return (
        select(*group, *(func.sum(c).label(c.name) for c in cols))
        .where(
            filters.date_condition(t.c.day),
            filters.dimension_condition(segment=t.c.segment, region=t.c.region),
        )
        .group_by(*group)
    )


def daily_credit(
    engine: Engine,
    filters: Filters,
    options: AttributionOptions = DEFAULT_OPTIONS,
    *,
    serving: ServingStore | None = None,
) -> pd.DataFrame:
    """Credit per order ``day`` (timestamp at midnight), ``channel`` and ``campaign`` (campaign
    id as text, :data:`NO_CAMPAIGN`, or :data:`NO_TOUCH` for both), wide by model
    (``conversions_<model>``, ``revenue_<model>``), with ``campaign_name`` and
    ``campaign_channel`` (NaN for the two buckets).

    Served from the serving store for :data:`DEFAULT_OPTIONS` when it covers the period, else
    computed live (``attrs["source"]`` says which).
    """
    why = None if options == DEFAULT_OPTIONS else _("attribution options are not the defaults")
    r = route(engine, serving, SERVED_TABLES, filters, live_because=why)
    stmt = served_daily_credit_stmt(filters) if r.served else daily_credit_stmt(filters, options)
    with r.engine.connect() as conn:
        wide = pd.read_sql(stmt, conn)
    wide["day"] = pd.to_datetime(wide["day"]).astype("datetime64[us]")
    for col in ("channel", "campaign"):
        wide[col] = wide[col].astype(str)
    for m in MODELS:
        for col in (f"conversions_{m}", f"revenue_{m}"):
            wide[col] = wide[col].astype(float)
    names = campaign_names(r.engine, "srv_campaigns" if r.served else "campaigns")
    names = names.rename(
        columns={"key": "campaign", "campaign": "campaign_name", "channel": "campaign_channel"}
    )
    wide = wide.merge(names, on="campaign", how="left")
    wide = wide.sort_values(["day", "channel", "campaign"]).reset_index(drop=True)
    return tag(wide, r)


def trunc_days(days: pd.Series, grain: str) -> pd.Series:
    """Start of each day's period (weeks start on Monday), as :func:`data.sqlfuncs.trunc_to`."""
    if grain not in GRAINS:
        raise ValueError(
            _("unknown grain {grain!r}; use one of {GRAINS}").format(
                grain=grain, GRAINS=", ".join(GRAINS)
            )
        )
    if grain == "day":
        return days
    freq = {"week": "W-SUN", "month": "M", "quarter": "Q", "year": "Y"}[grain]
    return days.dt.to_period(freq).dt.start_time.astype("datetime64[us]")


def _from_daily(credit: pd.DataFrame, ids: dict[str, pd.Series]) -> pd.DataFrame:
    value_cols = [c for c in credit.columns if c.startswith(("conversions_", "revenue_"))]
    frame = pd.DataFrame({**ids, **{c: credit[c] for c in value_cols}})
    return frame.groupby(list(ids), as_index=False, sort=True)[value_cols].sum()


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
    serving: ServingStore | None = None,
    credit: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Attributed conversions and revenue per key and model (long format).

    Columns: ``key`` (channel, campaign id as text, ``(no campaign)`` or ``(no touch)``),
    ``model``, ``conversions`` (fractional orders), ``revenue`` (USD). With
    ``by="campaign"`` also ``campaign`` (name) and ``channel`` (campaign's channel).

    ``credit``: the page's :func:`daily_credit` for the same filters and options (computed once
    per page); without it and without ``serving`` one live statement by key runs.
    """
    if by not in ("channel", "campaign"):
        raise ValueError(_("attribute by 'channel' or 'campaign', not {by!r}").format(by=by))
    if credit is None and serving is not None:
        credit = daily_credit(engine, filters, options, serving=serving)
    if credit is None:
        with engine.connect() as conn:
            wide = pd.read_sql(attribution_stmt(filters, options, by=by), conn)
        source = {"source": "live", "source_reason": _("no serving store")}
    else:
        wide = _from_daily(credit, {"key": credit[by]})
        source = {k: credit.attrs[k] for k in ("source", "source_reason") if k in credit.attrs}
    long = _to_long(wide, ["key"])
    if by == "campaign":
        if credit is None:
            long = _with_campaign_names(engine, long)
        else:
            names = credit[["campaign", "campaign_name", "campaign_channel"]].drop_duplicates()
            names.columns = ["key", "campaign", "channel"]
            long = long.merge(names, on="key", how="left")
            long["campaign"] = long["campaign"].fillna(long["key"])
        if filters.channels:
            long = long[long["channel"].isin(filters.channels)]
    out = _key_filter(long, filters, by).reset_index(drop=True)
    out.attrs.update(source)
    return out


def attribute_over_time(
    engine: Engine,
    filters: Filters,
    options: AttributionOptions = DEFAULT_OPTIONS,
    *,
    grain: str = "week",
    serving: ServingStore | None = None,
    credit: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Like :func:`attribute` by channel, with a ``period`` (timestamp) column first."""
    if credit is None and serving is not None:
        credit = daily_credit(engine, filters, options, serving=serving)
    if credit is None:
        with engine.connect() as conn:
            wide = pd.read_sql(attribution_stmt(filters, options, by="channel", grain=grain), conn)
        source = {"source": "live", "source_reason": _("no serving store")}
    else:
        wide = _from_daily(
            credit, {"period": trunc_days(credit["day"], grain), "key": credit["channel"]}
        )
        source = {k: credit.attrs[k] for k in ("source", "source_reason") if k in credit.attrs}
    long = _to_long(wide, ["period", "key"])
    long["period"] = pd.to_datetime(long["period"]).astype("datetime64[us]")
    out = _key_filter(long, filters, "channel").reset_index(drop=True)
    out.attrs.update(source)
    return out


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


def campaign_names(engine: Engine, table: str = "campaigns") -> pd.DataFrame:
    """``key`` (campaign id as text), ``campaign`` (name), ``channel`` for every campaign.

    ``table``: ``"campaigns"`` (the warehouse) or ``"srv_campaigns"`` (its serving copy).
    """
    if table == "srv_campaigns":
        from data.serving.facts import campaigns_copy as src
    else:
        src = campaigns
    with engine.connect() as conn:
        names = pd.read_sql(
            select(
                cast(src.c.campaign_id, String).label("key"),
                src.c.name.label("campaign"),
                src.c.channel,
            ),
            conn,
        )
    names["key"] = names["key"].astype(str)
    return names


def _with_campaign_names(
    engine: Engine, long: pd.DataFrame, table: str = "campaigns"
) -> pd.DataFrame:
    out = long.merge(campaign_names(engine, table), on="key", how="left")
    out["campaign"] = out["campaign"].fillna(out["key"])
    return out


def attribution_table(long: pd.DataFrame, value: str = "conversions") -> pd.DataFrame:
    """Models side by side: one row per key, one column per model (``value`` per cell)."""
    if value not in ("conversions", "revenue"):
        raise ValueError(_("value must be 'conversions' or 'revenue'"))
    if long.empty:
        return pd.DataFrame(columns=["key", *MODELS])
    table = long.pivot_table(index="key", columns="model", values=value, aggfunc="sum")
    table = table.reindex(columns=list(MODELS)).fillna(0.0)
    return table.sort_values("last_touch", ascending=False).reset_index()
