"""Serving tables for the Lifecycle page, each exact for any date range and customer filter.

Every table keeps the customer's ``acquisition_channel``, ``segment`` and ``region`` (the
page's filters) and, like the live SQL, drops stage changes whose customer is missing from
``customers`` (inner join). Days are UTC calendar days (:class:`data.sqlfuncs.day_of`).

- ``srv_lc_entries``: one group per entry day × stage × ``prev_day`` × dims, where a row is one
  (customer, stage, day) with an entry into the stage and ``prev_day`` the customer's previous
  day with an entry into the same stage. ``entries`` = stage changes, ``n`` = (customer, day)
  rows. Distinct customers entering a stage in [s, e] = ``n`` over rows with ``s <= day <= e``
  and ``prev_day`` NULL or ``< s`` (stage volumes and "entered" of stage conversion).
- ``srv_lc_conversions``: for the first entry of a (customer, funnel stage k, day) — its earliest
  change that day — the day of the customer's first entry into stage k+1 strictly after it
  (``day``; the partition key, so a later conversion only adds rows), with ``entry_day`` and
  ``prev_day`` as above. "Converted by the end e" = ``n`` over rows whose entry counts and
  ``day <= e``.
- ``srv_lc_stays``: completed stays (a stage change up to the customer's next change, same order
  as the live ``lead()``), by the day the stay ended (``day``), entry day, stage, dims and the
  duration in days **exactly as the warehouse computes it** (``days_between``: whole seconds on
  DuckDB, microseconds on PostgreSQL, ``julianday`` on SQLite); ``n`` stays share a duration.
  ``bin`` = ``CAST(days AS INTEGER)`` in the warehouse's dialect (truncated or rounded: either
  way non-decreasing in ``days``, so ordering by bin, then days, is ordering by days). The
  median over any period is exact: a histogram by bin locates the one or two middle bins, and
  only those bins' exact durations are read (rows are written in ``entry_day`` order).
- ``srv_lc_flow``: daily net flow per stage (+1 when a customer enters it, -1 when the customer
  leaves it for the next stage). The number of customers whose latest stage is S at the end of
  day D is the cumulative sum of ``net`` over days ``<= D``.
- ``srv_lc_transitions``: stage changes with a known origin by day × from × to × dims, with
  ``moves`` and ``n`` = (customer, from, to, day) rows with ``prev_day`` as above (distinct
  customers making a transition in [s, e]).

Incremental refresh: a day-partitioned source re-reads only customers with a stage change on or
after ``since`` (their whole history, so previous-occurrence days, next changes and conversions
stay exact) and returns the rows of days ``>= since``; rows of earlier days never change.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
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
    literal,
    select,
    union_all,
)

from data.schema import FUNNEL_STAGES
from data.schema import metadata as contract
from data.serving.rollups import SERVING_METADATA, Rollup
from data.sqlfuncs import day_of, days_between

LC_DIMS = ("acquisition_channel", "segment", "region")
"""Customer columns kept on every lifecycle serving table (the page's three filters)."""

_L = contract.tables["lifecycle_changes"]
_C = contract.tables["customers"]


def _dims() -> list[Column]:
    return [Column(d, String(32), nullable=True) for d in LC_DIMS]


def _ts(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min)


def _changes(since: dt.date | None) -> Any:
    """Subquery of stage changes with the customer's dims (inner join, like the live SQL); with
    ``since``, only customers having a change on or after it (their whole history)."""
    conds = []
    if since is not None:
        recent = select(_L.c.customer_id).where(_L.c.changed_at >= _ts(since)).distinct()
        conds.append(_L.c.customer_id.in_(recent))
    return (
        select(
            _L.c.customer_id,
            _L.c.changed_at,
            _L.c.from_stage,
            _L.c.to_stage,
            *(_C.c[d].label(d) for d in LC_DIMS),
        )
        .select_from(_L.join(_C, _C.c.customer_id == _L.c.customer_id))
        .where(*conds)
        .subquery("ch")
    )


def _since_day(col: Any, since: dt.date | None) -> list[Any]:
    return [] if since is None else [col >= since]


# --- entries (stage volumes, "entered") ------------------------------------------------------

entries = Table(
    "srv_lc_entries",
    SERVING_METADATA,
    Column("day", Date, nullable=False),
    Column("prev_day", Date, nullable=True),
    Column("stage", String(32), nullable=False),
    *_dims(),
    Column("n", BigInteger, nullable=False),
    Column("entries", BigInteger, nullable=False),
    comment="(customer, stage, day) entries with the previous entry day into that stage",
)


def _entry_days(since: dt.date | None) -> Any:
    """One row per (customer, stage, day): first change time, changes, previous entry day."""
    ch = _changes(since)
    day = day_of(ch.c.changed_at)
    per_day = (
        select(
            ch.c.customer_id,
            ch.c.to_stage.label("stage"),
            day.label("day"),
            func.min(ch.c.changed_at).label("first_at"),
            func.count().label("entries"),
            *(ch.c[d] for d in LC_DIMS),
        )
        .group_by(ch.c.customer_id, ch.c.to_stage, day, *(ch.c[d] for d in LC_DIMS))
        .subquery("per_day")
    )
    prev = func.lag(per_day.c.day, type_=Date).over(
        partition_by=(per_day.c.customer_id, per_day.c.stage), order_by=per_day.c.day
    )
    return select(*per_day.c, prev.label("prev_day")).subquery("entry_days")


def _entries(since: dt.date | None) -> Select:
    e = _entry_days(since)
    cols = [e.c.day, e.c.prev_day, e.c.stage, *(e.c[d] for d in LC_DIMS)]
    return (
        select(*cols, func.count().label("n"), func.sum(e.c.entries).label("entries"))
        .where(*_since_day(e.c.day, since))
        .group_by(*cols)
    )


# --- conversions -----------------------------------------------------------------------------

conversions = Table(
    "srv_lc_conversions",
    SERVING_METADATA,
    Column("day", Date, nullable=False),  # the conversion day (first entry into k+1 after)
    Column("entry_day", Date, nullable=False),
    Column("prev_day", Date, nullable=True),
    Column("stage", String(32), nullable=False),
    *_dims(),
    Column("n", BigInteger, nullable=False),
    comment="(customer, funnel stage, entry day) with the day of the next stage's entry after",
)


def _conversions(since: dt.date | None) -> Select:
    e = _entry_days(since)
    pairs = zip(FUNNEL_STAGES[:-1], FUNNEL_STAGES[1:], strict=True)
    next_stage = case(*((e.c.stage == a.value, b.value) for a, b in pairs), else_=None)
    later = _L.alias("later")
    firsts = (
        select(
            e.c.customer_id,
            e.c.stage,
            e.c.day.label("entry_day"),
            e.c.prev_day,
            *(e.c[d] for d in LC_DIMS),
            func.min(later.c.changed_at).label("converted_at"),
        )
        .select_from(
            e.join(
                later,
                and_(
                    later.c.customer_id == e.c.customer_id,
                    later.c.to_stage == next_stage,
                    later.c.changed_at > e.c.first_at,
                ),
            )
        )
        .where(next_stage.is_not(None))  # funnel stages but the last
        .group_by(e.c.customer_id, e.c.stage, e.c.day, e.c.prev_day, *(e.c[d] for d in LC_DIMS))
        .subquery("firsts")
    )
    day = day_of(firsts.c.converted_at).label("day")
    cols = [day, firsts.c.entry_day, firsts.c.prev_day, firsts.c.stage]
    cols += [firsts.c[d] for d in LC_DIMS]
    return (
        select(*cols, func.count().label("n"))
        .where(*_since_day(day_of(firsts.c.converted_at), since))
        .group_by(*cols)
    )


# --- stays (time in stage) -------------------------------------------------------------------

stays = Table(
    "srv_lc_stays",
    SERVING_METADATA,
    Column("day", Date, nullable=False),  # the day the stay ended (next stage change)
    Column("entry_day", Date, nullable=False),
    Column("stage", String(32), nullable=False),
    *_dims(),
    Column("days", Double, nullable=False),
    Column("bin", Integer, nullable=False),  # CAST(days AS INTEGER): non-decreasing in days
    Column("n", BigInteger, nullable=False),
    comment="completed stays by end day, entry day, stage and exact duration (days)",
)


def _stays(since: dt.date | None) -> Select:
    ch = _changes(since)
    nxt = func.lead(ch.c.changed_at).over(
        partition_by=ch.c.customer_id, order_by=(ch.c.changed_at, ch.c.to_stage)
    )
    seq = select(
        ch.c.to_stage.label("stage"),
        ch.c.changed_at.label("entered_at"),
        nxt.label("left_at"),
        *(ch.c[d] for d in LC_DIMS),
    ).subquery("seq")
    days = cast(days_between(seq.c.entered_at, seq.c.left_at), Double)
    cols = [
        day_of(seq.c.left_at).label("day"),
        day_of(seq.c.entered_at).label("entry_day"),
        seq.c.stage,
        *(seq.c[d] for d in LC_DIMS),
        days.label("days"),
        cast(days, Integer).label("bin"),
    ]
    return (
        select(*cols, func.count().label("n"))
        .where(seq.c.left_at.is_not(None), *_since_day(day_of(seq.c.left_at), since))
        .group_by(*cols)
        .order_by(cols[1])  # entry_day: a period's rows are contiguous (zone maps)
    )


# --- net flow (stage distribution) -----------------------------------------------------------

flow = Table(
    "srv_lc_flow",
    SERVING_METADATA,
    Column("day", Date, nullable=False),
    Column("stage", String(32), nullable=False),
    *_dims(),
    Column("net", BigInteger, nullable=False),
    comment="daily net flow into each stage (entries minus exits to the next stage)",
)


def _flow(since: dt.date | None) -> Select:
    ch = _changes(since)
    prev = func.lag(ch.c.to_stage).over(
        partition_by=ch.c.customer_id, order_by=(ch.c.changed_at, ch.c.to_stage)
    )
    seq = select(
        day_of(ch.c.changed_at).label("day"),
        ch.c.to_stage,
        prev.label("prev_stage"),
        *(ch.c[d] for d in LC_DIMS),
    ).subquery("seq")
    dims = [seq.c[d] for d in LC_DIMS]
    ins = select(seq.c.day, seq.c.to_stage.label("stage"), *dims, literal(1).label("delta"))
    outs = select(
        seq.c.day, seq.c.prev_stage.label("stage"), *dims, literal(-1).label("delta")
    ).where(seq.c.prev_stage.is_not(None))
    both = union_all(ins, outs).subquery("moves")
    cols = [both.c.day, both.c.stage, *(both.c[d] for d in LC_DIMS)]
    return (
        select(*cols, func.sum(both.c.delta).label("net"))
        .where(*_since_day(both.c.day, since))
        .group_by(*cols)
    )


# --- transitions -----------------------------------------------------------------------------

transitions = Table(
    "srv_lc_transitions",
    SERVING_METADATA,
    Column("day", Date, nullable=False),
    Column("prev_day", Date, nullable=True),
    Column("from_stage", String(32), nullable=False),
    Column("to_stage", String(32), nullable=False),
    *_dims(),
    Column("n", BigInteger, nullable=False),
    Column("moves", BigInteger, nullable=False),
    comment="(customer, from, to, day) transitions with the previous day of the same move",
)


def _transitions(since: dt.date | None) -> Select:
    ch = _changes(since)
    day = day_of(ch.c.changed_at)
    dims = [ch.c[d] for d in LC_DIMS]
    per_day = (
        select(
            ch.c.customer_id,
            ch.c.from_stage,
            ch.c.to_stage,
            day.label("day"),
            *dims,
            func.count().label("moves"),
        )
        .where(ch.c.from_stage.is_not(None))
        .group_by(ch.c.customer_id, ch.c.from_stage, ch.c.to_stage, day, *dims)
        .subquery("per_day")
    )
    prev = func.lag(per_day.c.day, type_=Date).over(
        partition_by=(per_day.c.customer_id, per_day.c.from_stage, per_day.c.to_stage),
        order_by=per_day.c.day,
    )
    t = select(*per_day.c, prev.label("prev_day")).subquery("t")
    cols = [t.c.day, t.c.prev_day, t.c.from_stage, t.c.to_stage, *(t.c[d] for d in LC_DIMS)]
    return (
        select(*cols, func.count().label("n"), func.sum(t.c.moves).label("moves"))
        .where(*_since_day(t.c.day, since))
        .group_by(*cols)
    )


_DEPS = ("lifecycle_changes", "customers")

ROLLUPS: tuple[Rollup, ...] = (
    Rollup(entries, _entries, "day", "stage entries with previous entry day", depends_on=_DEPS),
    Rollup(conversions, _conversions, "day", "funnel stage conversions by conversion day",
           depends_on=_DEPS),
    Rollup(stays, _stays, "day", "completed stays with exact durations", depends_on=_DEPS),
    Rollup(flow, _flow, "day", "daily net flow per stage", depends_on=_DEPS),
    Rollup(transitions, _transitions, "day", "stage transitions with previous day",
           depends_on=_DEPS),
)  # fmt: skip
