"""Serving tables for the Channels & attribution page.

- ``srv_attribution_daily``: attribution credit of every order under the **default** options
  (:data:`metrics.marketing.attribution.DEFAULT_OPTIONS`: 30-day lookback, 7-day half-life,
  the default touch event types) summed per order day × touch channel × campaign × the
  customer's segment and region, for each of the five models (``conversions_<model>``:
  fractional orders; ``revenue_<model>``: USD). The per-order weights are computed by the same
  SQL as the live page (:func:`metrics.marketing.attribution.credited_rows`), so any date
  range, grain, segment/region selection and channel/campaign grouping is a SUM over these rows.
  Other options are answered live. An order's credit depends only on touches up to the order
  time, so a day's rows never change once written (partitioned by order day).
- ``srv_dark_funnel``: customers by first-seen day × tracked acquisition channel × self-reported
  source (NULL answers as ``(no answer)``) × segment × region. Rebuilt whole on every refresh (a
  group-by over ``customers``), so a late answer to the survey question is picked up too.

Spend, impressions and clicks come from ``srv_spend_daily`` (:mod:`data.serving.facts`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Column, Date, Double, Select, String, Table, func, select

from data.schema import metadata as contract
from data.serving.rollups import SERVING_METADATA, Rollup
from data.sqlfuncs import day_of

_C = contract.tables["customers"]
_O = contract.tables["orders"]
NO_ANSWER = "(no answer)"  # same as metrics.marketing.channels.NO_ANSWER
MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based")

attribution_daily = Table(
    "srv_attribution_daily",
    SERVING_METADATA,
    Column("day", Date, nullable=False),
    Column("channel", String(32), nullable=False),
    Column("campaign", String(32), nullable=False),
    Column("segment", String(32), nullable=True),
    Column("region", String(32), nullable=True),
    *(Column(f"{kind}_{m}", Double, nullable=True) for m in MODELS
      for kind in ("conversions", "revenue")),
    comment="default-options attribution credit per order day, channel, campaign, dims",
)  # fmt: skip


def _attribution_daily(since: dt.date | None) -> Select:
    from metrics.marketing import attribution as attr

    if tuple(attr.MODELS) != MODELS:  # the table's columns follow the models
        raise RuntimeError("srv_attribution_daily is out of date with the attribution models")
    opts = attr.DEFAULT_OPTIONS
    conds = []
    touches_from = None
    if since is not None:
        since_ts = dt.datetime.combine(since, dt.time.min)
        conds.append(_O.c.ordered_at >= since_ts)
        touches_from = since_ts - dt.timedelta(days=opts.lookback_days)
    rows = attr.credited_rows(conds, opts, touches_from=touches_from)
    group = [
        day_of(rows.c.ordered_at).label("day"),
        rows.c.channel,
        rows.c.campaign,
        rows.c.segment,
        rows.c.region,
    ]
    sums = []
    for m in MODELS:
        w = rows.c[f"w_{m}"]
        sums.append(func.sum(w).label(f"conversions_{m}"))
        sums.append(func.sum(w * rows.c.revenue).label(f"revenue_{m}"))
    return select(*group, *sums).group_by(*group)


dark_funnel = Table(
    "srv_dark_funnel",
    SERVING_METADATA,
    Column("day", Date, nullable=False),
    Column("tracked", String(32), nullable=True),
    Column("self_reported", String(32), nullable=False),
    Column("segment", String(32), nullable=True),
    Column("region", String(32), nullable=True),
    Column("n", BigInteger, nullable=False),
    comment="customers by first-seen day, tracked channel, self-reported source and dims",
)


def _dark_funnel(_since: dt.date | None) -> Select:
    reported = func.coalesce(_C.c.self_reported_source, NO_ANSWER)
    group = [
        day_of(_C.c.first_seen_at).label("day"),
        _C.c.acquisition_channel.label("tracked"),
        reported.label("self_reported"),
        _C.c.segment,
        _C.c.region,
    ]
    return select(*group, func.count().label("n")).group_by(*group)


ROLLUPS: tuple[Rollup, ...] = (
    Rollup(attribution_daily, _attribution_daily, "day",
           "attribution credit per day (default options)",
           depends_on=("orders", "customers", "touchpoints")),
    Rollup(dark_funnel, _dark_funnel, "none", "tracked vs self-reported source per day",
           depends_on=("customers",)),
)  # fmt: skip
