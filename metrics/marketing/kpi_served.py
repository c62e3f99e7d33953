"""Compile catalog measures to SQL over the serving store's KPI tables (``data.serving.facts``).

:func:`served_measure_query` is a drop-in for :func:`metrics.marketing.kpi_sql.measure_query`:
same arguments, same ``SELECT [k,] v`` shape and the same value, computed from daily facts and
first-occurrence tables instead of raw rows. It raises :class:`NotServable` (with the reason)
for a measure, grain or filter the serving tables do not cover; the caller then answers live.

Definitions follow the live SQL exactly:

- additive measures: ``SUM`` of the daily counts / sums over the period's days;
- distinct customers in [s, e]: rows with ``s <= day <= e`` and ``prev_day`` NULL or ``< s``
  (each active customer has exactly one such row); *before s*: ``day < s`` and no ``prev_day``;
- *also active in the previous period* (retention): ``prev_day`` within that period; *active in
  the previous period but not now* (churn): previous-period customers minus those;
- a customer dimension (segment, region, persona, acquisition channel) is NULL where the live
  SQL's inner join to ``customers`` would drop the row, so filtering or grouping by it drops it
  here too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, assert_never

from sqlalchemy import Select, and_, case, false, func, or_, select, true
from sqlalchemy.sql.expression import ColumnElement

from data.serving import facts
from data.sqlfuncs import as_timestamp, day_of, trunc_to
from i18n import _
from metrics.filters import Filters
from metrics.marketing.kpis import Agg, Cond, Measure, Op, Window

SERVED_ROLLUPS: tuple[str, ...] = tuple(r.name for r in facts.ROLLUPS)
"""The serving tables a served KPI may read (all must be fresh to serve)."""

TIME_GRAINS = ("day", "week", "month")


@dataclass(frozen=True)
class BucketFilters:
    """Filters whose dates are columns of a buckets table (one row per day/week/month).

    Handed to the measure compilers in place of :class:`Filters`, it turns "the total of this
    measure for the period" into one grouped statement over every bucket of a series: each
    bucket is its own period, its previous period the equal-length window before it.
    """

    start: Any
    end: Any
    prev_start: Any
    prev_end: Any
    key: Any
    channels: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    def previous_period(self) -> BucketFilters:
        return replace(self, start=self.prev_start, end=self.prev_end)


class NotServable(ValueError):
    """The serving tables do not cover this measure / grain / filter (the message says why)."""


_DAILY = {
    "customers": facts.customers_daily,
    "orders": facts.orders_daily,
    "daily_spend": facts.spend_daily,
    "touchpoints": facts.touchpoints_daily,
    "surveys": facts.surveys_daily,
}
_OWN_CHANNEL = frozenset({"touchpoints", "daily_spend"})
_SUMMED = {("orders", "revenue"), ("daily_spend", "spend"), ("daily_spend", "impressions"),
           ("daily_spend", "clicks"), ("touchpoints", "value")}  # fmt: skip
_CUSTOMER_GRAINS = ("segment", "region", "persona")
_CAMPAIGN_GRAINS = ("target_stage", "is_personalised")


def condition(col: Any, cond: Cond) -> ColumnElement[bool]:
    """A catalog condition (``Cond``) on a column, as SQL (values become bound parameters)."""
    op = Op(cond.op)
    if op is Op.EQ:
        return col == cond.value
    if op is Op.IN:
        return col.in_(tuple(cond.value))  # type: ignore[arg-type]
    if op is Op.GE:
        return col >= cond.value
    if op is Op.LE:
        return col <= cond.value
    if op is Op.NOT_NULL:
        return col.is_not(None)
    assert_never(op)


def _cond(table: Any, cond: Cond) -> ColumnElement[bool]:
    if cond.column == "campaign_id" and Op(cond.op) is Op.NOT_NULL and "has_campaign" in table.c:
        return table.c.has_campaign
    if cond.column not in table.c:
        raise NotServable(f"{table.name} has no {cond.column}")
    return condition(table.c[cond.column], cond)


def _days(col: Any, window: Window, f: Filters) -> ColumnElement[bool]:
    if window is Window.CURRENT:
        return and_(col >= f.start, col <= f.end)
    if window is Window.PREVIOUS:
        p = f.previous_period()
        return and_(col >= p.start, col <= p.end)
    if window is Window.BEFORE:
        return col < f.start
    return col <= f.end  # THROUGH_END


def _key_for_time(grain: str, day: Any) -> Any:
    return trunc_to(grain, as_timestamp(day))


def _dims_condition(t: Any, f: Filters, *, channel: Any | None) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if f.channels and channel is not None:
        out.append(channel.in_(f.channels))
    for name, values in (("segment", f.segments), ("region", f.regions)):
        if values and name in t.c:
            out.append(t.c[name].in_(values))
    return out


def _with_key(
    value: ColumnElement[Any], source: Any, conds: list[Any], key: Any | None, f: Any = None
) -> Select:
    if key is None and isinstance(f, BucketFilters):
        key = f.key  # one row per bucket of a period-relative series
    v = value.label("v")
    if key is None:
        return select(v).select_from(source).where(*conds)
    k = key.label("k")
    return select(k, v).select_from(source).where(*conds).group_by(k)


def _campaign_join(t: Any) -> Any:
    c = facts.campaigns_copy
    return t.outerjoin(c, c.c.campaign_id == t.c.campaign_id), c


def _additive(m: Measure, f: Filters, grain: str) -> Select:
    t = _DAILY.get(m.table)
    if t is None:
        raise NotServable(_("no daily facts for {table}").format(table=m.table))
    by_campaign = grain == "campaign" or grain in _CAMPAIGN_GRAINS
    if m.table == "touchpoints" and by_campaign:
        if f.segments or f.regions:
            raise NotServable(_("touchpoints by campaign with a segment or region filter"))
        t = facts.touchpoints_campaign_daily
    agg = Agg(m.agg)
    if agg is Agg.COUNT:
        if m.column is not None:
            raise NotServable(_("COUNT(column) is not pre-aggregated"))
        value: Any = func.sum(t.c.n)
    elif (m.table, m.column) in _SUMMED:
        value = func.sum(t.c[m.column])
    else:
        raise NotServable(
            _("SUM({table}.{column}) is not pre-aggregated").format(table=m.table, column=m.column)
        )
    own = m.table in _OWN_CHANNEL
    channel = t.c.channel if own else t.c.get("acquisition_channel")
    conds = [_days(t.c.day, Window(m.window), f), *(_cond(t, c) for c in m.where)]
    conds += _dims_condition(t, f, channel=channel)
    source: Any = t
    key: Any = None
    if grain in TIME_GRAINS:
        key = _key_for_time(grain, t.c.day)
    elif grain == "channel":
        key = channel
        if not own:
            conds.append(channel.is_not(None))
    elif grain in _CUSTOMER_GRAINS:
        key = t.c[grain]
        conds.append(key.is_not(None))
    elif grain == "campaign":
        key = t.c.campaign_id
    elif grain in _CAMPAIGN_GRAINS:
        source, c = _campaign_join(t)
        key = c.c[grain]
    elif grain != "total":
        raise NotServable(f"grain {grain}")
    return _with_key(value, source, conds, key, f)


# --- distinct customers ---------------------------------------------------------------------


def _first_in(day: Any, prev: Any, start: Any, end: Any | None) -> ColumnElement[bool]:
    """The one row per customer active in [start, end] (``end=None``: no upper bound)."""
    upper = [day <= end] if end is not None else []
    return and_(day >= start, *upper, or_(prev.is_(None), prev < start))


def _touchpoint_signature(m: Measure) -> str:
    wanted = {(c.column, Op(c.op), c.value) for c in m.where}
    for sig, conds in facts.TOUCHPOINT_SIGNATURES.items():
        have = set()
        for cond in conds:
            left = cond.left.name
            if cond.operator.__name__ == "eq":
                have.add((left, Op.EQ, cond.right.value))
            else:
                have.add((left, Op.NOT_NULL, None))
        if have == wanted:
            return sig
    raise NotServable(_("no first-occurrence table for these touchpoint conditions"))


def _lifecycle_signature(m: Measure) -> str:
    if len(m.where) == 1 and Op(m.where[0].op) is Op.EQ and m.where[0].value == "dormant":
        return {"from_stage": "from_dormant", "to_stage": "to_dormant"}.get(m.where[0].column) or ""
    return ""


def _bucket_start(grain: str, day: Any, f: Filters) -> Any:
    """The first day that counts for ``day``'s row: the later of its bucket's start and s."""
    start = day_of(trunc_to(grain, as_timestamp(day)))
    return case((start > f.start, start), else_=f.start)


def _distinct(m: Measure, f: Filters, grain: str) -> Select:
    if m.column != "customer_id":
        raise NotServable(_("distinct counts are served for customers only"))
    window = Window(m.window)
    if m.table == "orders" and not m.where:
        t: Any = facts.orders_first
        part_cond: list[Any] = []
        part_key: Any = None
        channel: Any = t.c.acquisition_channel
    elif m.table == "touchpoints":
        t = facts.touchpoints_first
        sig = _touchpoint_signature(m)
        parts = facts.TOUCHPOINT_PARTS[sig]
        part, part_value = "total", None
        if grain == "channel" or grain in _CAMPAIGN_GRAINS:
            part = grain
            if f.channels and grain != "channel":
                raise NotServable(_("a channel filter with a campaign grain"))
        elif f.channels:
            if len(f.channels) != 1:
                raise NotServable(_("distinct customers over several (not all) channels"))
            part, part_value = "channel", f.channels[0]
        if part not in parts:
            raise NotServable(_("no {part} partition for {sig}").format(part=part, sig=sig))
        part_cond = [t.c.sig == sig, t.c.part == part]
        if part_value is not None:
            part_cond.append(t.c.part_value == part_value)
        elif part == "channel" and f.channels:
            part_cond.append(t.c.part_value.in_(f.channels))
        part_key = t.c.part_value if part != "total" else None
        channel = None  # handled by the partition
    elif m.table == "lifecycle_changes":
        sig = _lifecycle_signature(m)
        if not sig:
            raise NotServable(_("no first-occurrence table for these stage conditions"))
        t = facts.lifecycle_first
        part_cond, part_key, channel = [t.c.sig == sig], None, t.c.acquisition_channel
    else:
        raise NotServable(
            _("distinct counts over {table} are not pre-aggregated").format(table=m.table)
        )

    key: Any = None
    conds: list[Any] = [*part_cond, *_dims_condition(t, f, channel=channel)]
    if grain in TIME_GRAINS:
        key = _key_for_time(grain, t.c.day)
    elif grain == "channel":
        key = part_key if m.table == "touchpoints" else t.c.acquisition_channel
        if m.table != "touchpoints":
            conds.append(key.is_not(None))
    elif grain in _CUSTOMER_GRAINS:
        if grain not in t.c:
            raise NotServable(f"{t.name} has no {grain}")
        key = t.c[grain]
        conds.append(key.is_not(None))
    elif grain in _CAMPAIGN_GRAINS and m.table == "touchpoints":
        key = part_key
        if grain == "is_personalised":
            key = case(
                (part_key.in_(("true", "1")), true()),
                (part_key.in_(("false", "0")), false()),
                else_=None,
            )
    elif grain != "total":
        raise NotServable(_("distinct customers by {grain}").format(grain=grain))

    day, prev = t.c.day, t.c.prev_day
    period = f if window is not Window.PREVIOUS else f.previous_period()
    start: Any = _bucket_start(grain, day, period) if grain in TIME_GRAINS else period.start

    if m.cohort is None:
        if window in (Window.CURRENT, Window.PREVIOUS):
            conds.append(_first_in(day, prev, start, period.end))
        elif window is Window.BEFORE:
            conds += [day < f.start, prev.is_(None)]
        else:
            conds += [day <= f.end, prev.is_(None)]
        return _with_key(func.sum(t.c.n), t, conds, key, f)

    if grain in TIME_GRAINS:
        raise NotServable(_("cohort measures by time bucket are answered per period"))
    cohort = m.cohort
    if m.table != "orders" or cohort.table != "orders" or cohort.where:
        raise NotServable(_("this cohort is not pre-aggregated"))
    cw = Window(cohort.window)
    prev_p = f.previous_period()
    if window is Window.CURRENT and not cohort.negate and cw is Window.BEFORE:
        conds += [day >= f.start, day <= f.end, prev.is_not(None), prev < f.start]
    elif window is Window.CURRENT and not cohort.negate and cw is Window.PREVIOUS:
        conds += [day >= f.start, day <= f.end, prev >= prev_p.start, prev <= prev_p.end]
    elif window is Window.PREVIOUS and cohort.negate and cw is Window.CURRENT:
        in_previous = _first_in(day, prev, prev_p.start, prev_p.end)
        retained = and_(day >= f.start, day <= f.end, prev >= prev_p.start, prev <= prev_p.end)
        value = func.sum(case((in_previous, t.c.n), else_=0)) - func.sum(
            case((retained, t.c.n), else_=0)
        )
        conds.append(or_(in_previous, retained))
        return _with_key(value, t, conds, key, f)
    else:
        raise NotServable(_("this cohort is not pre-aggregated"))
    return _with_key(func.sum(t.c.n), t, conds, key, f)


def _customers_with_orders(m: Measure, f: Filters, grain: str) -> Select:
    """New customers (first seen in the period) who ordered in the period."""
    cohort = m.cohort
    assert cohort is not None
    if (
        cohort.table != "orders"
        or cohort.where
        or cohort.negate
        or Window(cohort.window) is not Window.CURRENT
        or Window(m.window) is not Window.CURRENT
        or m.where
        or Agg(m.agg) is not Agg.COUNT
        or m.column is not None
    ):
        raise NotServable(_("this customers cohort is not pre-aggregated"))
    if grain in TIME_GRAINS:
        raise NotServable(_("cohort measures by time bucket are answered per period"))
    t = facts.orders_first
    conds = [
        t.c.first_seen_day >= f.start,
        t.c.first_seen_day <= f.end,
        _first_in(t.c.day, t.c.prev_day, f.start, f.end),
        *_dims_condition(t, f, channel=t.c.acquisition_channel),
    ]
    key: Any = None
    if grain == "channel":
        key = t.c.acquisition_channel
    elif grain in _CUSTOMER_GRAINS:
        key = t.c[grain]
    elif grain != "total":
        raise NotServable(_("new customers by {grain}").format(grain=grain))
    return _with_key(func.sum(t.c.n), t, conds, key, f)


def served_measure_query(m: Measure, filters: Filters, grain: str = "total") -> Select:
    """``SELECT [k,] v`` for one measure over the serving tables (see the module docstring)."""
    agg = Agg(m.agg)
    if agg is Agg.COUNT_DISTINCT:
        return _distinct(m, filters, grain)
    if m.cohort is not None:
        if m.table == "customers":
            return _customers_with_orders(m, filters, grain)
        raise NotServable(_("cohorts are served for customers and orders only"))
    return _additive(m, filters, grain)
