"""Serving tables for the Lifecycle page's campaign comparison (campaigns by target stage,
personalised vs generic), exact for any date range, segment/region filter and the channel
filters the page can serve.

The live figures (:func:`metrics.marketing.lifecycle.campaign_touch_stmt`) count campaign
touchpoints (``touchpoints`` inner-joined to ``campaigns`` and to ``customers``) per campaign
``target_stage`` × ``is_personalised``; the channel filter applies to the *campaign's* channel,
segment and region to the touched customer. Days are UTC calendar days (:class:`day_of`).

- ``srv_campaign_touch_daily``: additive counts per day × campaign × the customer's segment and
  region: ``touches`` (touchpoints of any event type), ``clicks`` (click / email_click events),
  ``conversions`` (purchase events). Campaign attributes are *not* stored here: a page joins
  ``srv_campaigns`` (rebuilt on every refresh, like the live join to ``campaigns``), so the
  additive figures follow a campaign that is re-targeted. Distinct campaigns touching a group in
  a period = distinct ``campaign_id`` over these rows (at most a few dozen values).
- ``srv_campaign_reach``: exact distinct customers without COUNT(DISTINCT), as in
  :mod:`data.serving.facts`. One row is one (customer, partition, day) with a campaign touch in
  the partition, carrying ``prev_day``, the customer's previous such day in the same partition
  (NULL on the first); rows are counted (``n``) per day × prev_day × partition × segment ×
  region. A customer is reached in [s, e] exactly once, on its rows with ``s <= day <= e`` and
  ``prev_day`` NULL or ``< s``. Partitions: ``target_stage`` × ``is_personalised`` × ``part``
  (``all``: every campaign channel, ``channel`` NULL; ``channel``: one campaign channel each)
  × ``purchase`` (False: touches of any event type, the page's ``reached``; True: purchase
  events only, its ``converters``). A channel filter selecting every campaign channel (or none)
  reads ``all``; one selecting a single campaign channel reads ``channel``; several but not all
  campaign channels cannot be summed from per-channel partitions (a customer touched in two of
  them would count twice) and are answered live.

The target stage and approach of a campaign are taken at refresh time for ``srv_campaign_reach``
(they are its partitions): re-targeting a campaign needs a full refresh to move its past reach.

Incremental refresh (both tables partitioned by ``day``): the daily counts re-read touchpoints
from ``since``; the reach table re-reads the whole campaign-touch history of the customers with
a campaign touch on or after ``since`` (so ``prev_day`` stays exact) and returns days ``>=
since``. Rows are written in ``day`` order, so a period's rows are contiguous (DuckDB skips the
rest by its min/max zone maps).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Integer,
    Select,
    String,
    Table,
    case,
    false,
    func,
    literal_column,
    null,
    select,
    true,
    union_all,
)

from data.schema import EventType
from data.schema import metadata as contract
from data.serving.rollups import SERVING_METADATA, Rollup
from data.sqlfuncs import day_of

_T = contract.tables["touchpoints"]
_CA = contract.tables["campaigns"]
_C = contract.tables["customers"]

CLICK_EVENTS: tuple[str, ...] = (EventType.CLICK.value, EventType.EMAIL_CLICK.value)
"""Event types counted as clicks (same as :data:`metrics.marketing.lifecycle.CLICK_EVENTS`)."""

PURCHASE = EventType.PURCHASE.value

PARTS: tuple[str, ...] = ("all", "channel")
"""``srv_campaign_reach`` partitions by campaign channel: all channels together, or each one."""


def _ts(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min)


def _campaign_touches() -> Any:
    """touchpoints ⋈ campaigns ⋈ customers (inner joins, like the live page)."""
    return _T.join(_CA, _CA.c.campaign_id == _T.c.campaign_id).join(
        _C, _C.c.customer_id == _T.c.customer_id
    )


# --- additive daily counts -----------------------------------------------------------------

touch_daily = Table(
    "srv_campaign_touch_daily",
    SERVING_METADATA,
    Column("day", Date, nullable=False),
    Column("campaign_id", Integer, nullable=False),
    Column("segment", String(32), nullable=True),
    Column("region", String(32), nullable=True),
    Column("touches", BigInteger, nullable=False),
    Column("clicks", BigInteger, nullable=False),
    Column("conversions", BigInteger, nullable=False),
    comment="campaign touchpoints, clicks and purchase events per day, campaign, segment, region",
)


def _touch_daily(since: dt.date | None) -> Select:
    day = day_of(_T.c.occurred_at).label("day")
    cols = [day, _T.c.campaign_id.label("campaign_id"), _C.c.segment, _C.c.region]
    is_click = _T.c.event_type.in_(CLICK_EVENTS)
    is_purchase = _T.c.event_type == PURCHASE
    conds = [] if since is None else [_T.c.occurred_at >= _ts(since)]
    return (
        select(
            *cols,
            func.count().label("touches"),
            func.sum(case((is_click, 1), else_=0)).label("clicks"),
            func.sum(case((is_purchase, 1), else_=0)).label("conversions"),
        )
        .select_from(_campaign_touches())
        .where(*conds)
        .group_by(*cols)
        .order_by(day)
    )


# --- distinct customers reached / converting ----------------------------------------------

reach = Table(
    "srv_campaign_reach",
    SERVING_METADATA,
    Column("day", Date, nullable=False),
    Column("prev_day", Date, nullable=True),
    Column("target_stage", String(32), nullable=False),
    Column("is_personalised", Boolean, nullable=False),
    Column("part", String(8), nullable=False),
    Column("channel", String(32), nullable=True),
    Column("purchase", Boolean, nullable=False),
    Column("segment", String(32), nullable=True),
    Column("region", String(32), nullable=True),
    Column("n", BigInteger, nullable=False),
    comment="(customer, campaign partition, day) with a campaign touch and the previous such day",
)


def _reach(since: dt.date | None) -> Select:
    conds = []
    if since is not None:
        recent = select(_T.c.customer_id).where(
            _T.c.campaign_id.is_not(None), _T.c.occurred_at >= _ts(since)
        )
        conds.append(_T.c.customer_id.in_(recent.distinct()))
    base = (
        select(
            _T.c.customer_id,
            day_of(_T.c.occurred_at).label("day"),
            _CA.c.target_stage,
            _CA.c.is_personalised,
            _CA.c.channel,
            _T.c.event_type,
            _C.c.segment,
            _C.c.region,
        )
        .select_from(_campaign_touches())
        .where(*conds)
        .subquery("base")
    )
    parts = []
    for purchase in (False, True):
        for part in PARTS:
            channel = base.c.channel if part == "channel" else null()
            keyed = (
                select(
                    base.c.customer_id,
                    base.c.day,
                    base.c.target_stage,
                    base.c.is_personalised,
                    channel.label("channel"),
                    base.c.segment,
                    base.c.region,
                )
                .where(*([base.c.event_type == PURCHASE] if purchase else []))
                .distinct()
                .subquery(f"keyed_{part}_{int(purchase)}")
            )
            keys = [keyed.c.customer_id, keyed.c.target_stage, keyed.c.is_personalised]
            if part == "channel":
                keys.append(keyed.c.channel)
            prev = func.lag(keyed.c.day, type_=Date).over(partition_by=keys, order_by=keyed.c.day)
            rows = select(
                keyed.c.day,
                prev.label("prev_day"),
                keyed.c.target_stage,
                keyed.c.is_personalised,
                literal_column(f"'{part}'", String).label("part"),  # ours: rendered inline
                keyed.c.channel,
                (true() if purchase else false()).label("purchase"),
                keyed.c.segment,
                keyed.c.region,
            ).subquery(f"rows_{part}_{int(purchase)}")
            cols = [rows.c[c.name] for c in reach.columns if c.name != "n"]
            where = [] if since is None else [rows.c.day >= since]
            parts.append(select(*cols, func.count().label("n")).where(*where).group_by(*cols))
    both = union_all(*parts).subquery("parts")
    return select(*both.c).order_by(both.c.day)


_DEPS = ("touchpoints", "campaigns", "customers")

ROLLUPS: tuple[Rollup, ...] = (
    Rollup(touch_daily, _touch_daily, "day", "campaign touches, clicks, purchases per day",
           depends_on=_DEPS),
    Rollup(reach, _reach, "day", "distinct customers per campaign target stage and approach",
           depends_on=_DEPS),
)  # fmt: skip
