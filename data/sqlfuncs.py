"""Portable SQL functions for date arithmetic, compiled per dialect.

SQLAlchemy Core has no portable "add N days", "truncate to week" or "seconds between", and each
warehouse spells them differently. These constructs compile to the right SQL on DuckDB,
PostgreSQL, SQLite, Trino, Snowflake, BigQuery and Redshift, so query builders stay dialect-free.

Weeks start on Monday everywhere (ISO 8601).
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import Date, DateTime, Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement, literal_column
from sqlalchemy.sql.visitors import InternalTraversal

Grain = Literal["day", "week", "month", "quarter", "year"]
GRAINS: tuple[str, ...] = ("day", "week", "month", "quarter", "year")


class add_days(FunctionElement):  # noqa: N801 - reads like the SQL function it stands for
    """``ts + n days`` for a timestamp expression and an integer literal ``n``."""

    type = DateTime()
    inherit_cache = True
    name = "add_days"
    # ``days`` is rendered into the SQL, so it must be part of the statement cache key.
    _traverse_internals = [
        *FunctionElement._traverse_internals,
        ("days", InternalTraversal.dp_plain_obj),
    ]

    def __init__(self, ts: Any, days: int) -> None:
        if not isinstance(days, int):
            raise TypeError("add_days takes an integer literal number of days")
        self.days = days
        super().__init__(ts)


@compiles(add_days)
def _add_days_default(element: add_days, compiler: Any, **kw: Any) -> str:
    (ts,) = element.clauses
    return f"({compiler.process(ts, **kw)} + INTERVAL '{element.days} days')"


@compiles(add_days, "duckdb")
def _add_days_duckdb(element: add_days, compiler: Any, **kw: Any) -> str:
    (ts,) = element.clauses
    return f"(CAST({compiler.process(ts, **kw)} AS TIMESTAMP) + INTERVAL ({element.days}) DAY)"


@compiles(add_days, "sqlite")
def _add_days_sqlite(element: add_days, compiler: Any, **kw: Any) -> str:
    (ts,) = element.clauses
    return (
        f"strftime('%Y-%m-%d %H:%M:%f000', {compiler.process(ts, **kw)}, '{element.days:+d} days')"
    )


@compiles(add_days, "trino")
def _add_days_trino(element: add_days, compiler: Any, **kw: Any) -> str:
    (ts,) = element.clauses
    return f"date_add('day', {element.days}, {compiler.process(ts, **kw)})"


@compiles(add_days, "snowflake")
def _add_days_snowflake(element: add_days, compiler: Any, **kw: Any) -> str:
    (ts,) = element.clauses
    return f"dateadd(day, {element.days}, {compiler.process(ts, **kw)})"


@compiles(add_days, "bigquery")
def _add_days_bigquery(element: add_days, compiler: Any, **kw: Any) -> str:
    (ts,) = element.clauses
    return f"DATETIME_ADD({compiler.process(ts, **kw)}, INTERVAL {element.days} DAY)"


class trunc_to(FunctionElement):  # noqa: N801
    """Truncate a timestamp or date to the start of its day/week/month/quarter/year.

    Returns a timestamp on most dialects and an ISO text timestamp on SQLite.
    """

    type = DateTime()
    inherit_cache = True
    name = "trunc_to"
    # ``grain`` is rendered into the SQL, so it must be part of the statement cache key.
    _traverse_internals = [
        *FunctionElement._traverse_internals,
        ("grain", InternalTraversal.dp_plain_obj),
    ]

    def __init__(self, grain: str, ts: Any) -> None:
        if grain not in GRAINS:
            raise ValueError(f"unknown grain {grain!r}; use one of {', '.join(GRAINS)}")
        self.grain = grain
        super().__init__(ts)


@compiles(trunc_to)
def _trunc_default(element: trunc_to, compiler: Any, **kw: Any) -> str:
    (ts,) = element.clauses
    return f"date_trunc('{element.grain}', {compiler.process(ts, **kw)})"


@compiles(trunc_to, "postgresql")
def _trunc_pg(element: trunc_to, compiler: Any, **kw: Any) -> str:
    # On a DATE, PostgreSQL's date_trunc returns timestamptz: truncate a TIMESTAMP instead.
    (ts,) = element.clauses
    return f"date_trunc('{element.grain}', CAST({compiler.process(ts, **kw)} AS TIMESTAMP))"


@compiles(trunc_to, "duckdb")
def _trunc_duckdb(element: trunc_to, compiler: Any, **kw: Any) -> str:
    (ts,) = element.clauses
    return f"CAST(date_trunc('{element.grain}', {compiler.process(ts, **kw)}) AS TIMESTAMP)"


@compiles(trunc_to, "sqlite")
def _trunc_sqlite(element: trunc_to, compiler: Any, **kw: Any) -> str:
    (ts,) = element.clauses
    t = compiler.process(ts, **kw)
    if element.grain == "day":
        return f"strftime('%Y-%m-%d 00:00:00.000000', {t})"
    if element.grain == "week":
        # 'weekday 0' moves forward to Sunday; minus six days lands on that week's Monday.
        return f"strftime('%Y-%m-%d 00:00:00.000000', {t}, '-6 days', 'weekday 1')"
    if element.grain == "month":
        return f"strftime('%Y-%m-01 00:00:00.000000', {t})"
    if element.grain == "quarter":
        return (
            f"printf('%s-%02d-01 00:00:00.000000', strftime('%Y', {t}), "
            f"((CAST(strftime('%m', {t}) AS INTEGER) - 1) / 3) * 3 + 1)"
        )
    return f"strftime('%Y-01-01 00:00:00.000000', {t})"


@compiles(trunc_to, "bigquery")
def _trunc_bigquery(element: trunc_to, compiler: Any, **kw: Any) -> str:
    (ts,) = element.clauses
    part = "WEEK(MONDAY)" if element.grain == "week" else element.grain.upper()
    return f"DATETIME_TRUNC({compiler.process(ts, **kw)}, {part})"


class seconds_between(FunctionElement):  # noqa: N801
    """Seconds from ``start`` to ``end`` (positive when ``end`` is later), as a float."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"

    def __init__(self, start: Any, end: Any) -> None:
        super().__init__(start, end)


@compiles(seconds_between)
def _secs_default(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = element.clauses
    s, e = compiler.process(start, **kw), compiler.process(end, **kw)
    return f"CAST(date_diff('second', {s}, {e}) AS DOUBLE)"


@compiles(seconds_between, "postgresql")
def _secs_pg(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = element.clauses
    s, e = compiler.process(start, **kw), compiler.process(end, **kw)
    return f"CAST(EXTRACT(EPOCH FROM ({e} - {s})) AS DOUBLE PRECISION)"


@compiles(seconds_between, "redshift")
def _secs_redshift(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = element.clauses
    s, e = compiler.process(start, **kw), compiler.process(end, **kw)
    return f"CAST(datediff(second, {s}, {e}) AS DOUBLE PRECISION)"


@compiles(seconds_between, "sqlite")
def _secs_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = element.clauses
    s, e = compiler.process(start, **kw), compiler.process(end, **kw)
    return f"((julianday({e}) - julianday({s})) * 86400.0)"


@compiles(seconds_between, "snowflake")
def _secs_snowflake(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = element.clauses
    s, e = compiler.process(start, **kw), compiler.process(end, **kw)
    return f"CAST(datediff(second, {s}, {e}) AS DOUBLE)"


@compiles(seconds_between, "bigquery")
def _secs_bigquery(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = element.clauses
    s, e = compiler.process(start, **kw), compiler.process(end, **kw)
    return f"CAST(DATETIME_DIFF({e}, {s}, SECOND) AS FLOAT64)"


def days_between(start: Any, end: Any) -> ColumnElement[float]:
    """Days (fractional) from ``start`` to ``end``."""
    return seconds_between(start, end) / literal_column("86400.0")


class day_of(FunctionElement):  # noqa: N801
    """The calendar day (a DATE) of a timestamp or date expression."""

    type = Date()
    inherit_cache = True
    name = "day_of"


@compiles(day_of)
def _day_of_default(element: day_of, compiler: Any, **kw: Any) -> str:
    (ts,) = element.clauses
    return f"CAST({compiler.process(ts, **kw)} AS DATE)"


@compiles(day_of, "sqlite")
def _day_of_sqlite(element: day_of, compiler: Any, **kw: Any) -> str:
    (ts,) = element.clauses  # ISO text; CAST(... AS DATE) would give a number in SQLite
    return f"date({compiler.process(ts, **kw)})"


class as_timestamp(FunctionElement):  # noqa: N801
    """A DATE as a timestamp (so date and timestamp measures share grain keys)."""

    type = DateTime()
    inherit_cache = True
    name = "as_timestamp"


@compiles(as_timestamp)
def _as_ts_default(element: as_timestamp, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    return f"CAST({compiler.process(arg, **kw)} AS TIMESTAMP)"


@compiles(as_timestamp, "sqlite")
def _as_ts_sqlite(element: as_timestamp, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses  # ISO text already; trunc_to formats it
    return compiler.process(arg, **kw)
