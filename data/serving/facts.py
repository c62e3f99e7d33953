"""Serving tables for the KPI catalog: additive daily facts and exact distinct-count tables.

**Daily facts** (``srv_*_daily``): one row per day × dimension values with row counts and sums;
any date range, grain or filter over those dimensions is a SUM over them. Tables with a
``customer_id`` carry the customer's ``acquisition_channel``, ``segment``, ``region`` and
``persona`` (NULL for a row whose customer is missing from ``customers``, which the live SQL's
inner join drops whenever it filters or groups by them).

**First-occurrence tables** (``srv_*_first``): exact distinct customers over *any* date range
without COUNT(DISTINCT). Each row is one (customer, day) with activity, carrying ``prev_day``,
the customer's previous active day (NULL on the first). A customer is active in [s, e] exactly
once with ``s <= day <= e and (prev_day IS NULL or prev_day < s)``; with ``prev_day`` between
``s - L`` and ``s - 1`` the customer was also active in the L days before (retention), and so
on. Rows are counted per day × prev_day × dimensions. Row-level dimensions (a touchpoint's own
channel, campaign) need their own partition: ``part`` says which one the previous occurrence was
taken within (``total`` = all rows).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Double,
    Integer,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    func,
    literal_column,
    not_,
    null,
    select,
    union_all,
)

from data.schema import metadata as contract
from data.serving.rollups import SERVING_METADATA, Rollup
from data.sqlfuncs import day_of

CUSTOMER_DIMS = ("acquisition_channel", "segment", "region", "persona")

_C = contract.tables["customers"]
_T = contract.tables["touchpoints"]
_O = contract.tables["orders"]
_S = contract.tables["daily_spend"]
_SV = contract.tables["surveys"]
_L = contract.tables["lifecycle_changes"]
_CA = contract.tables["campaigns"]


def _dims() -> list[Column]:
    return [Column(d, String(32), nullable=True) for d in CUSTOMER_DIMS]


def _table(name: str, *columns: Column, comment: str) -> Table:
    return Table(name, SERVING_METADATA, *columns, comment=comment)


def _since(col: Any, since: dt.date | None) -> list[Any]:
    if since is None:
        return []
    is_date = isinstance(col.type, Date) and col.type.__class__.__name__ == "Date"
    return [col >= (since if is_date else dt.datetime.combine(since, dt.time.min))]


def _with_customer(table: Table) -> Any:
    return table.outerjoin(_C, _C.c.customer_id == table.c.customer_id)


def _customer_cols() -> list[Any]:
    return [_C.c[d].label(d) for d in CUSTOMER_DIMS]


# --- daily facts ----------------------------------------------------------------------------

customers_daily = _table(
    "srv_customers_daily",
    Column("day", Date, nullable=False),
    *_dims(),
    Column("n", BigInteger, nullable=False),
    comment="customers by first_seen day",
)


def _customers_daily(since: dt.date | None) -> Select:
    day = day_of(_C.c.first_seen_at).label("day")
    cols = [day, *_customer_cols()]
    return (
        select(*cols, func.count().label("n"))
        .where(*_since(_C.c.first_seen_at, since))
        .group_by(*cols)
    )


orders_daily = _table(
    "srv_orders_daily",
    Column("day", Date, nullable=False),
    *_dims(),
    Column("n", BigInteger, nullable=False),
    Column("revenue", Double, nullable=True),
    comment="orders and revenue by order day",
)


def _orders_daily(since: dt.date | None) -> Select:
    day = day_of(_O.c.ordered_at).label("day")
    cols = [day, *_customer_cols()]
    return (
        select(*cols, func.count().label("n"), func.sum(_O.c.revenue).label("revenue"))
        .select_from(_with_customer(_O))
        .where(*_since(_O.c.ordered_at, since))
        .group_by(*cols)
    )


spend_daily = _table(
    "srv_spend_daily",
    Column("day", Date, nullable=False),
    Column("channel", String(32), nullable=True),
    Column("campaign_id", Integer, nullable=True),
    Column("n", BigInteger, nullable=False),
    Column("spend", Double, nullable=True),
    Column("impressions", BigInteger, nullable=True),
    Column("clicks", BigInteger, nullable=True),
    comment="ad spend, impressions and clicks by day, channel and campaign",
)


def _spend_daily(since: dt.date | None) -> Select:
    day = day_of(_S.c.spend_date).label("day")
    cols = [day, _S.c.channel.label("channel"), _S.c.campaign_id.label("campaign_id")]
    return (
        select(
            *cols,
            func.count().label("n"),
            func.sum(_S.c.spend).label("spend"),
            func.sum(_S.c.impressions).label("impressions"),
            func.sum(_S.c.clicks).label("clicks"),
        )
        .where(*_since(_S.c.spend_date, since))
        .group_by(*cols)
    )


touchpoints_daily = _table(
    "srv_touchpoints_daily",
    Column("day", Date, nullable=False),
    Column("channel", String(32), nullable=True),
    Column("event_type", String(32), nullable=True),
    Column("has_campaign", Boolean, nullable=False),
    *(Column(d, String(32), nullable=True) for d in ("segment", "region", "persona")),
    Column("n", BigInteger, nullable=False),
    Column("value", Double, nullable=True),
    comment="touchpoints and their value by day, own channel, event type and customer dims",
)


def _touchpoints_daily(since: dt.date | None) -> Select:
    day = day_of(_T.c.occurred_at).label("day")
    cols = [
        day,
        _T.c.channel.label("channel"),
        _T.c.event_type.label("event_type"),
        _T.c.campaign_id.is_not(None).label("has_campaign"),
        *(_C.c[d].label(d) for d in ("segment", "region", "persona")),
    ]
    return (
        select(*cols, func.count().label("n"), func.sum(_T.c.value).label("value"))
        .select_from(_with_customer(_T))
        .where(*_since(_T.c.occurred_at, since))
        .group_by(*cols)
    )


touchpoints_campaign_daily = _table(
    "srv_touchpoints_campaign_daily",
    Column("day", Date, nullable=False),
    Column("channel", String(32), nullable=True),
    Column("event_type", String(32), nullable=True),
    Column("campaign_id", Integer, nullable=True),
    Column("n", BigInteger, nullable=False),
    Column("value", Double, nullable=True),
    comment="touchpoints by day, channel, event type and campaign (no customer dims)",
)


def _touchpoints_campaign_daily(since: dt.date | None) -> Select:
    day = day_of(_T.c.occurred_at).label("day")
    cols = [
        day,
        _T.c.channel.label("channel"),
        _T.c.event_type.label("event_type"),
        _T.c.campaign_id.label("campaign_id"),
    ]
    return (
        select(*cols, func.count().label("n"), func.sum(_T.c.value).label("value"))
        .where(*_since(_T.c.occurred_at, since))
        .group_by(*cols)
    )


surveys_daily = _table(
    "srv_surveys_daily",
    Column("day", Date, nullable=False),
    Column("kind", String(8), nullable=True),
    Column("score", Integer, nullable=True),
    *_dims(),
    Column("n", BigInteger, nullable=False),
    comment="survey responses by day, kind, score and customer dims",
)


def _surveys_daily(since: dt.date | None) -> Select:
    day = day_of(_SV.c.responded_at).label("day")
    cols = [day, _SV.c.kind.label("kind"), _SV.c.score.label("score"), *_customer_cols()]
    return (
        select(*cols, func.count().label("n"))
        .select_from(_with_customer(_SV))
        .where(*_since(_SV.c.responded_at, since))
        .group_by(*cols)
    )


campaigns_copy = _table(
    "srv_campaigns",
    Column("campaign_id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(128), nullable=True),
    Column("channel", String(32), nullable=True),
    Column("target_stage", String(32), nullable=True),
    Column("loop_stage", String(16), nullable=True),
    Column("is_personalised", Boolean, nullable=True),
    comment="a copy of the campaigns table (small), for campaign attributes",
)


def _campaigns(_since: dt.date | None) -> Select:
    return select(
        _CA.c.campaign_id,
        _CA.c.name,
        _CA.c.channel,
        _CA.c.target_stage,
        _CA.c.loop_stage,
        _CA.c.is_personalised,
    )


# --- first occurrences (exact distinct counts) ----------------------------------------------


def _first_rows(
    table: Table,
    time_col: Any,
    conds: list[Any],
    part: Any | None,
    since: dt.date | None,
) -> Any:
    """Subquery: customer_id, part_value, day, prev_day — one row per active (customer, day)
    within the partition, ``prev_day`` the previous active day (also before ``since``)."""
    part_col = (part if part is not None else cast(null(), String)).label("part_value")
    day = day_of(time_col)
    recent = (
        select(table.c.customer_id, part_col, day.label("day"))
        .where(*conds, *_since(time_col, since))
        .distinct()
        .subquery("recent")
    )
    keys = [recent.c.customer_id] if part is None else [recent.c.customer_id, recent.c.part_value]
    lag = func.lag(recent.c.day).over(partition_by=keys, order_by=recent.c.day)
    if since is None:
        return select(recent.c.customer_id, recent.c.part_value, recent.c.day,
                      lag.label("prev_day")).subquery("firsts")  # fmt: skip
    before_part = (part if part is not None else cast(null(), String)).label("part_value")
    before = (
        select(table.c.customer_id, before_part, func.max(day).label("last_day"))
        .where(*conds, time_col < dt.datetime.combine(since, dt.time.min))
        .where(table.c.customer_id.in_(select(recent.c.customer_id)))
        .group_by(table.c.customer_id, before_part)
        .subquery("before")
    )
    on = [before.c.customer_id == recent.c.customer_id]
    if part is not None:
        on.append(before.c.part_value == recent.c.part_value)
    prev = func.coalesce(lag, before.c.last_day)
    return (
        select(recent.c.customer_id, recent.c.part_value, recent.c.day, prev.label("prev_day"))
        .select_from(recent.outerjoin(before, and_(*on)))
        .subquery("firsts")
    )


def _count_firsts(
    firsts: Any,
    constants: dict[str, str],
    extra: list[Any],
    *,
    with_first_seen: bool = False,
    dims: tuple[str, ...] = CUSTOMER_DIMS,
) -> Select:
    """Count the rows of ``firsts`` per day × prev_day × dims; ``constants`` are fixed text
    columns (our own identifiers, rendered inline: a bound parameter cannot be grouped)."""
    fixed = [literal_column(f"'{v}'", String).label(k) for k, v in constants.items()]
    cols = [*extra, firsts.c.day.label("day"), firsts.c.prev_day.label("prev_day")]
    if with_first_seen:
        cols.append(day_of(_C.c.first_seen_at).label("first_seen_day"))
    cols += [_C.c[d].label(d) for d in dims]
    return (
        select(*fixed, *cols, func.count().label("n"))
        .select_from(firsts.outerjoin(_C, _C.c.customer_id == firsts.c.customer_id))
        .group_by(*cols)
    )


orders_first = _table(
    "srv_orders_first",
    Column("day", Date, nullable=False),
    Column("prev_day", Date, nullable=True),
    Column("first_seen_day", Date, nullable=True),
    *_dims(),
    Column("n", BigInteger, nullable=False),
    comment="(customer, order day) with the previous order day: distinct purchasers",
)


def _orders_first(since: dt.date | None) -> Select:
    firsts = _first_rows(_O, _O.c.ordered_at, [], None, since)
    return _count_firsts(firsts, {}, [], with_first_seen=True)


TOUCHPOINT_SIGNATURES: dict[str, list[Any]] = {
    "all": [],
    "referral": [_T.c.event_type == "referral"],
    "campaign": [_T.c.campaign_id.is_not(None)],
    "campaign_purchase": [_T.c.event_type == "purchase", _T.c.campaign_id.is_not(None)],
}
"""Row conditions of the catalog's distinct-customer touchpoint measures, by name."""

TOUCHPOINT_PARTS: dict[str, tuple[str, ...]] = {
    "all": ("total", "channel"),
    "referral": ("total", "channel"),
    "campaign": ("total", "is_personalised"),
    "campaign_purchase": ("total", "is_personalised"),
}
"""Which partitions each signature is stored for (a grain or filter on another one is live)."""

TOUCHPOINT_FIRST_DIMS = ("segment", "region")
"""Customer dimensions kept on ``srv_touchpoints_first`` (each one multiplies its size)."""

touchpoints_first = _table(
    "srv_touchpoints_first",
    Column("sig", String(32), nullable=False),
    Column("part", String(16), nullable=False),
    Column("part_value", String(64), nullable=True),
    Column("day", Date, nullable=False),
    Column("prev_day", Date, nullable=True),
    *(Column(d, String(32), nullable=True) for d in TOUCHPOINT_FIRST_DIMS),
    Column("n", BigInteger, nullable=False),
    comment="(customer, day) with activity per signature and partition, with the previous day",
)


def _part_expr(part: str) -> tuple[Any | None, Any]:
    """(partition expression, touchpoints source with the campaigns join when needed)."""
    if part == "total":
        return None, _T
    if part == "channel":
        return _T.c.channel, _T
    joined = _T.outerjoin(_CA, _CA.c.campaign_id == _T.c.campaign_id)
    if part == "campaign":
        return func.cast(_T.c.campaign_id, String), _T
    if part == "target_stage":
        return _CA.c.target_stage, joined
    if part == "is_personalised":
        # one spelling on every engine: CAST(boolean AS text) is '0'/'1' on MySQL and SQLite
        flag = _CA.c.is_personalised
        return case((flag, "true"), (not_(flag), "false"), else_=None), joined
    raise ValueError(f"unknown partition {part!r}")


def _touchpoints_first(since: dt.date | None) -> Select:
    parts = []
    for sig, conds in TOUCHPOINT_SIGNATURES.items():
        for part in TOUCHPOINT_PARTS[sig]:
            expr, source = _part_expr(part)
            firsts = _first_rows_from(source, conds, expr, since)
            parts.append(
                _count_firsts(
                    firsts,
                    {"sig": sig, "part": part},
                    [firsts.c.part_value.label("part_value")],
                    dims=TOUCHPOINT_FIRST_DIMS,
                )
            )
    return union_all(*parts)  # type: ignore[return-value]


def _first_rows_from(source: Any, conds: list[Any], part: Any | None, since: dt.date | None):  # noqa: ANN202
    if source is _T:
        return _first_rows(_T, _T.c.occurred_at, conds, part, since)
    # a join: wrap it as a subquery with the columns _first_rows needs
    sub = (
        select(
            _T.c.customer_id,
            _T.c.occurred_at,
            (part if part is not None else null()).label("pv"),
            _T.c.event_type,
            _T.c.campaign_id,
        )
        .select_from(source)
        .subquery("tp")
    )  # fmt: skip
    sub_conds = [_rebind(c, sub) for c in conds]
    return _first_rows(sub, sub.c.occurred_at, sub_conds, sub.c.pv, since)


def _rebind(cond: Any, sub: Any) -> Any:
    from sqlalchemy.sql import visitors

    def replace(el: Any) -> Any:
        if isinstance(el, Column) and el.table is _T:
            return sub.c[el.name]
        return None

    return visitors.replacement_traverse(cond, {}, replace)


LIFECYCLE_SIGNATURES: dict[str, list[Any]] = {
    "from_dormant": [_L.c.from_stage == "dormant"],
    "to_dormant": [_L.c.to_stage == "dormant"],
}

lifecycle_first = _table(
    "srv_lifecycle_first",
    Column("sig", String(32), nullable=False),
    Column("day", Date, nullable=False),
    Column("prev_day", Date, nullable=True),
    *_dims(),
    Column("n", BigInteger, nullable=False),
    comment="(customer, day) with a matching stage change, with the previous such day",
)


def _lifecycle_first(since: dt.date | None) -> Select:
    parts = []
    for sig, conds in LIFECYCLE_SIGNATURES.items():
        firsts = _first_rows(_L, _L.c.changed_at, conds, None, since)
        parts.append(_count_firsts(firsts, {"sig": sig}, []))
    return union_all(*parts)  # type: ignore[return-value]


ROLLUPS: tuple[Rollup, ...] = (
    Rollup(campaigns_copy, _campaigns, "none", "campaign attributes", depends_on=("campaigns",)),
    Rollup(customers_daily, _customers_daily, "day", "new customers per day",
           depends_on=("customers",)),
    Rollup(orders_daily, _orders_daily, "day", "orders and revenue per day",
           depends_on=("orders", "customers")),
    Rollup(spend_daily, _spend_daily, "day", "spend, impressions, clicks per day",
           depends_on=("daily_spend",)),
    Rollup(touchpoints_daily, _touchpoints_daily, "day", "touchpoints per day",
           depends_on=("touchpoints", "customers")),
    Rollup(touchpoints_campaign_daily, _touchpoints_campaign_daily, "day",
           "touchpoints per day and campaign", depends_on=("touchpoints",)),
    Rollup(surveys_daily, _surveys_daily, "day", "survey responses per day",
           depends_on=("surveys", "customers")),
    Rollup(orders_first, _orders_first, "day", "distinct purchasers over any range",
           depends_on=("orders", "customers")),
    Rollup(touchpoints_first, _touchpoints_first, "day",
           "distinct active customers over any range", depends_on=("touchpoints", "customers")),
    Rollup(lifecycle_first, _lifecycle_first, "day", "distinct dormancy/reactivation customers",
           depends_on=("lifecycle_changes", "customers")),
)  # fmt: skip
