"""Cohort retention, repeat purchase and acquisition cost, pushed down to SQL.

Definitions (shown on the Retention & CLV page):

- **Acquisition** is a customer's first order; the **cohort** is the week (Monday) or month of
  that first order. Only customers whose first order falls in the cohort window count.
- A customer is **active in period k** (k = 0, 1, ... weeks or months since the cohort period)
  when they have an activity in that calendar period: an order (``purchase``) or any engaged
  touchpoint (``engagement``: every event type except ``impression``, which is passive), or an
  order. **Retention** in period k is active customers ÷ cohort size; **churn** is 1 − that.
- Cells are **complete** when the whole period k ended on or before the observation end;
  incomplete cells are left out.
- **Repeat-purchase rate**: share of acquired customers with a second purchase day by the end
  (orders on the same day are one purchase, as in the CLV summary); **time to second purchase**:
  whole days from the first to the second purchase day.
- **CAC (per paying customer)**: a channel's media spend over the cohort window ÷ customers
  whose first order in the window came through that channel (their acquisition channel).

Global filters: segment and region filter customers, the channel filter their acquisition
channel; the cohort window replaces the date range.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import pandas as pd
from sqlalchemy import (
    Engine,
    Integer,
    Select,
    String,
    and_,
    cast,
    func,
    literal,
    select,
    union_all,
)

from data.schema import EventType, campaigns, customers, daily_spend, orders, touchpoints
from data.sqlfuncs import days_between, trunc_to
from i18n import _
from metrics.filters import Filters

Activity = Literal["purchase", "engagement"]
CohortGrain = Literal["week", "month"]
DIMENSIONS: dict[str, str] = {
    "channel": "acquisition_channel",
    "campaign": "acquisition_campaign",
    "segment": "segment",
    "persona": "persona",
}
MONTH_DAYS = 30.4375
UNRECORDED = "(not recorded)"
"""The breakdown value of customers whose channel, segment or persona is NULL in the warehouse."""
NO_CAMPAIGN = "(no campaign)"
"""The acquisition campaign of customers whose first touch carried no campaign."""


def acquisition_campaigns():  # noqa: ANN201 - a subquery
    """``customer_id, campaign_id``: each customer's **acquisition campaign**, the campaign of
    their first tracked touch on their acquisition channel (earliest ``occurred_at``, ties by
    ``touchpoint_id``); ``campaign_id`` is NULL when that touch carried no campaign."""
    ranked = (
        select(
            touchpoints.c.customer_id,
            touchpoints.c.campaign_id,
            func.row_number()
            .over(
                partition_by=touchpoints.c.customer_id,
                order_by=(touchpoints.c.occurred_at, touchpoints.c.touchpoint_id),
            )
            .label("rn"),
        )
        .select_from(
            touchpoints.join(
                customers,
                and_(
                    customers.c.customer_id == touchpoints.c.customer_id,
                    customers.c.acquisition_channel == touchpoints.c.channel,
                ),
            )
        )
        .subquery("first_touch")
    )
    return (
        select(ranked.c.customer_id, ranked.c.campaign_id)
        .where(ranked.c.rn == 1)
        .subquery("acquisition_campaign")
    )


def campaign_key(campaign_id):  # noqa: ANN001, ANN201 - a SQL column
    """A campaign id as the breakdown text value (NULL: :data:`NO_CAMPAIGN`)."""
    return func.coalesce(cast(campaign_id, String), literal(NO_CAMPAIGN, String))


def _dimension(acq, dimension: str):  # noqa: ANN001, ANN202 - a subquery and its column
    """The breakdown column of ``acq`` with NULL shown as :data:`UNRECORDED` (campaigns: the
    acquisition campaign's id as text, :data:`NO_CAMPAIGN` without one)."""
    if dimension == "campaign":
        return acq.c.acquisition_campaign
    return func.coalesce(acq.c[DIMENSIONS[dimension]], literal(UNRECORDED, String))


def _first_orders(  # noqa: ANN202 - subquery
    filters: Filters, start: dt.date, end: dt.date, with_campaign: bool = False
):
    """Customers whose first order falls in ``[start, end]``, with their dimensions (and their
    acquisition campaign with ``with_campaign``: one more pass over the touchpoints)."""
    first = (
        select(orders.c.customer_id, func.min(orders.c.ordered_at).label("first_at"))
        .group_by(orders.c.customer_id)
        .subquery("first_order")
    )
    lo = dt.datetime.combine(start, dt.time())
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time())
    cols = [
        first.c.customer_id,
        first.c.first_at,
        customers.c.acquisition_channel,
        customers.c.segment,
        customers.c.persona,
    ]
    source = first.join(customers, customers.c.customer_id == first.c.customer_id)
    if with_campaign:
        camp = acquisition_campaigns()
        cols.append(campaign_key(camp.c.campaign_id).label("acquisition_campaign"))
        source = source.outerjoin(camp, camp.c.customer_id == first.c.customer_id)
    return (
        select(*cols)
        .select_from(source)
        .where(
            first.c.first_at >= lo,
            first.c.first_at < hi,
            filters.dimension_condition(
                channel=customers.c.acquisition_channel,
                segment=customers.c.segment,
                region=customers.c.region,
            ),
        )
        .subquery("acquired")
    )


def _activity(activity: Activity, end: dt.date):  # noqa: ANN202 - subquery
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time())
    buys = select(
        orders.c.customer_id, orders.c.ordered_at.label("at_ts"), orders.c.revenue.label("rev")
    ).where(orders.c.ordered_at < hi)
    if activity == "purchase":
        return buys.subquery("activity")
    engaged = select(
        touchpoints.c.customer_id,
        touchpoints.c.occurred_at.label("at_ts"),
        literal(0.0).label("rev"),
    ).where(
        touchpoints.c.occurred_at < hi,
        touchpoints.c.event_type != EventType.IMPRESSION.value,
    )
    return union_all(buys, engaged).subquery("activity")


def _period_index(grain: CohortGrain, cohort, period):  # noqa: ANN001, ANN202 - SQL columns
    days = days_between(cohort, period)
    step = 7.0 if grain == "week" else MONTH_DAYS
    return cast(func.round(days / step), Integer)


def cohort_retention_query(
    filters: Filters,
    start: dt.date,
    end: dt.date,
    grain: CohortGrain = "month",
    activity: Activity = "purchase",
    dimension: str = "channel",
) -> Select:
    """``dim, cohort, period, active, revenue`` for every cohort × period with activity."""
    acq = _first_orders(filters, start, end, dimension == "campaign")
    act = _activity(activity, end)
    dim = _dimension(acq, dimension).label("dim")
    cohort = trunc_to(grain, acq.c.first_at)
    period = _period_index(grain, cohort, trunc_to(grain, act.c.at_ts)).label("period")
    joined = (
        select(acq.c.customer_id, dim, cohort.label("cohort"), period, act.c.rev.label("rev"))
        .select_from(
            acq.join(
                act, and_(act.c.customer_id == acq.c.customer_id, act.c.at_ts >= acq.c.first_at)
            )
        )
        .subquery("cells")
    )
    return select(
        joined.c.dim,
        joined.c.cohort,
        joined.c.period,
        func.count(func.distinct(joined.c.customer_id)).label("active"),
        func.coalesce(func.sum(joined.c.rev), 0.0).label("revenue"),
    ).group_by(joined.c.dim, joined.c.cohort, joined.c.period)


def cohort_size_query(
    filters: Filters, start: dt.date, end: dt.date, grain: CohortGrain, dimension: str
) -> Select:
    """``dim, cohort, size`` (customers acquired per cohort)."""
    acq = _first_orders(filters, start, end, dimension == "campaign")
    dim = _dimension(acq, dimension)
    cohort = trunc_to(grain, acq.c.first_at)
    return select(dim.label("dim"), cohort.label("cohort"), func.count().label("size")).group_by(
        dim, cohort
    )


def _run(engine: Engine, stmt: Select) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(stmt).mappings().all())


def _ts(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.astype(str).str.slice(0, 19)).dt.normalize()


def _period_end(cohort: pd.Timestamp, k: int, grain: CohortGrain) -> pd.Timestamp:
    if grain == "week":
        return cohort + pd.Timedelta(days=7 * (k + 1))
    return cohort + pd.DateOffset(months=k + 1)


def cohort_retention(
    engine: Engine,
    filters: Filters,
    start: dt.date,
    end: dt.date,
    grain: CohortGrain = "month",
    activity: Activity = "purchase",
    dimension: str = "channel",
) -> pd.DataFrame:
    """Complete cohort × period cells: ``dim, cohort, period, size, active, retention, revenue``.

    ``retention`` = active ÷ size; periods with no active customer appear with 0. ``revenue`` is
    order revenue in the cell (USD).
    """
    if dimension not in DIMENSIONS:
        raise ValueError(
            _("unknown dimension {dimension!r}; use one of {DIMENSIONS}").format(
                dimension=dimension, DIMENSIONS=", ".join(DIMENSIONS)
            )
        )
    sizes = _run(engine, cohort_size_query(filters, start, end, grain, dimension))
    cols = ["dim", "cohort", "period", "size", "active", "retention", "revenue"]
    if sizes.empty:
        return pd.DataFrame(columns=cols)
    cells = _run(engine, cohort_retention_query(filters, start, end, grain, activity, dimension))
    sizes["cohort"] = _ts(sizes["cohort"])
    sizes["dim"] = sizes["dim"].astype(str)
    horizon = pd.Timestamp(end) + pd.Timedelta(days=1)
    rows = []
    for rec in sizes.itertuples(index=False):
        k = 0
        while _period_end(rec.cohort, k, grain) <= horizon:
            rows.append((rec.dim, rec.cohort, k, int(rec.size)))
            k += 1
    grid = pd.DataFrame(rows, columns=["dim", "cohort", "period", "size"])
    if grid.empty:
        return pd.DataFrame(columns=cols)
    if cells.empty:
        cells = pd.DataFrame(columns=["dim", "cohort", "period", "active", "revenue"])
    cells["cohort"] = _ts(cells["cohort"])
    cells["dim"] = cells["dim"].astype(str)
    cells["period"] = cells["period"].astype(int)
    out = grid.merge(cells, on=["dim", "cohort", "period"], how="left")
    out["active"] = out["active"].fillna(0).astype(int)
    out["revenue"] = out["revenue"].fillna(0.0).astype(float)
    out["retention"] = out["active"] / out["size"]
    return out[cols].sort_values(["dim", "cohort", "period"]).reset_index(drop=True)


def retention_curves(cells: pd.DataFrame) -> pd.DataFrame:
    """Per ``dim`` and period: customers observed, active, retention, churn, revenue/customer.

    Pools every cohort whose period k is complete (customer-weighted); ``cum_revenue`` is the
    cumulative revenue per acquired customer through period k over those same cohorts.
    """
    if cells.empty:
        return pd.DataFrame(
            columns=["dim", "period", "customers", "active", "retention", "churn", "cum_revenue"]
        )
    g = cells.groupby(["dim", "period"], as_index=False)[["size", "active", "revenue"]].sum()
    g = g.rename(columns={"size": "customers"})
    g["retention"] = g["active"] / g["customers"]
    g["churn"] = 1.0 - g["retention"]
    # cumulative revenue per customer through k, over the cohorts complete through k: the grid
    # holds every period 0..K of a cohort, so the cohorts with a row at k are exactly those
    cells = cells.sort_values(["dim", "cohort", "period"])
    cum = cells.assign(cum=cells.groupby(["dim", "cohort"])["revenue"].cumsum())
    cum = cum.groupby(["dim", "period"], as_index=False)[["cum", "size"]].sum()
    g = g.merge(cum, on=["dim", "period"], how="left", validate="one_to_one")
    g["cum_revenue"] = (g["cum"] / g["size"]).where(g["size"] > 0)
    return g.drop(columns=["cum", "size"])


def repeat_purchase_query(filters: Filters, start: dt.date, end: dt.date, dimension: str) -> Select:
    """``dim, days_to_second, customers``: acquired customers by whole days to their second
    purchase day (NULL: no second purchase by ``end``)."""
    acq = _first_orders(filters, start, end, dimension == "campaign")
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time())
    day = trunc_to("day", orders.c.ordered_at)
    days = (
        select(orders.c.customer_id, day.label("day"))
        .where(orders.c.ordered_at < hi)
        .group_by(orders.c.customer_id, day)
        .subquery("purchase_days")
    )
    ranked = select(
        days.c.customer_id,
        days.c.day,
        func.row_number().over(partition_by=days.c.customer_id, order_by=days.c.day).label("rn"),
    ).subquery("ranked_days")
    first = select(ranked.c.customer_id, ranked.c.day).where(ranked.c.rn == 1).subquery("d1")
    second = select(ranked.c.customer_id, ranked.c.day).where(ranked.c.rn == 2).subquery("d2")
    gap = cast(func.round(days_between(first.c.day, second.c.day)), Integer)
    dim = _dimension(acq, dimension)
    q = (
        select(dim.label("dim"), gap.label("days_to_second"), func.count().label("customers"))
        .select_from(
            acq.join(first, first.c.customer_id == acq.c.customer_id).outerjoin(
                second, second.c.customer_id == acq.c.customer_id
            )
        )
        .group_by(dim, gap)
    )
    return q


def repeat_purchase(
    engine: Engine, filters: Filters, start: dt.date, end: dt.date, dimension: str = "channel"
) -> pd.DataFrame:
    """Per ``dim``: ``customers``, ``repeaters``, ``repeat_rate``, ``median_days_to_second``,
    ``within_30`` / ``within_90`` (share of all acquired customers with a second purchase within
    30 / 90 days)."""
    raw = _run(engine, repeat_purchase_query(filters, start, end, dimension))
    cols = ["dim", "customers", "repeaters", "repeat_rate", "median_days_to_second"]
    if raw.empty:
        return pd.DataFrame(columns=[*cols, "within_30", "within_90"])
    raw["dim"] = raw["dim"].astype(str)
    rows = []
    for d, sub in raw.groupby("dim"):
        total = int(sub["customers"].sum())
        rep = sub.dropna(subset=["days_to_second"]).sort_values("days_to_second")
        n_rep = int(rep["customers"].sum())
        median = float("nan")
        if n_rep:
            cum = rep["customers"].cumsum().to_numpy()
            vals = rep["days_to_second"].to_numpy(dtype=float)
            lo = vals[(cum >= (n_rep + 1) // 2).argmax()]
            hi = vals[(cum >= n_rep // 2 + 1).argmax()]
            median = (lo + hi) / 2.0
        d2 = rep["days_to_second"].astype(float)
        rows.append(
            {
                "dim": d,
                "customers": total,
                "repeaters": n_rep,
                "repeat_rate": n_rep / total if total else float("nan"),
                "median_days_to_second": median,
                "within_30": float(rep.loc[d2 <= 30, "customers"].sum() / total),
                "within_90": float(rep.loc[d2 <= 90, "customers"].sum() / total),
            }
        )
    return pd.DataFrame(rows)


def channel_cac(engine: Engine, filters: Filters, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Per acquisition channel: ``spend`` (USD, over the window), ``new_customers`` (first order
    in the window), ``cac`` = spend ÷ new customers (NaN without spend)."""
    acq = _first_orders(filters, start, end)
    new = _run(
        engine,
        select(
            acq.c.acquisition_channel.label("dim"), func.count().label("new_customers")
        ).group_by(acq.c.acquisition_channel),
    )
    cond = [daily_spend.c.spend_date >= start, daily_spend.c.spend_date <= end]
    if filters.channels:
        cond.append(daily_spend.c.channel.in_(filters.channels))
    spend = _run(
        engine,
        select(daily_spend.c.channel.label("dim"), func.sum(daily_spend.c.spend).label("spend"))
        .where(*cond)
        .group_by(daily_spend.c.channel),
    )
    if new.empty:
        return pd.DataFrame(columns=["dim", "new_customers", "spend", "cac"])
    new["dim"] = new["dim"].astype(str)
    if spend.empty:
        spend = pd.DataFrame(columns=["dim", "spend"])
    out = new.merge(spend, on="dim", how="left")
    out["spend"] = out["spend"].astype(float).fillna(0.0)
    out["cac"] = (out["spend"] / out["new_customers"]).where(out["spend"] > 0)
    return out


def campaign_cac(engine: Engine, filters: Filters, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Per acquisition campaign (``dim``: the campaign id as text, :data:`NO_CAMPAIGN`):
    ``spend`` (USD, the campaign's media spend over the window), ``new_customers`` (first order
    in the window, acquired by the campaign), ``cac`` = spend ÷ new customers (NaN without
    spend, as for customers acquired without a campaign)."""
    acq = _first_orders(filters, start, end, with_campaign=True)
    new = _run(
        engine,
        select(
            acq.c.acquisition_campaign.label("dim"), func.count().label("new_customers")
        ).group_by(acq.c.acquisition_campaign),
    )
    cond = [daily_spend.c.spend_date >= start, daily_spend.c.spend_date <= end]
    if filters.channels:
        cond.append(daily_spend.c.channel.in_(filters.channels))
    key = campaign_key(daily_spend.c.campaign_id)
    spend = _run(
        engine,
        select(key.label("dim"), func.sum(daily_spend.c.spend).label("spend"))
        .where(*cond)
        .group_by(key),
    )
    if new.empty:
        return pd.DataFrame(columns=["dim", "new_customers", "spend", "cac"])
    new["dim"] = new["dim"].astype(str)
    if spend.empty:
        spend = pd.DataFrame(columns=["dim", "spend"])
    spend["dim"] = spend["dim"].astype(str)
    out = new.merge(spend, on="dim", how="left")
    out["spend"] = out["spend"].astype(float).fillna(0.0)
    out["cac"] = (out["spend"] / out["new_customers"]).where(out["spend"] > 0)
    return out


def campaign_names(engine: Engine) -> dict[str, tuple[str, str]]:
    """Campaign id as text → (name, channel), from the campaigns table."""
    rows = _run(engine, select(campaigns.c.campaign_id, campaigns.c.name, campaigns.c.channel))
    return {str(r.campaign_id): (str(r.name), str(r.channel)) for r in rows.itertuples()}
