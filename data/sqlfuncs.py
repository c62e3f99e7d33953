"""Portable SQL functions for date arithmetic, compiled per dialect.

SQLAlchemy Core has no portable "add N days", "truncate to week" or "seconds between", and each
warehouse spells them differently. These constructs compile to the right SQL on DuckDB,
PostgreSQL, SQLite, MySQL/MariaDB, Spark SQL (PyHive's ``hive`` dialect on the Spark Thrift
Server, and Databricks' ``databricks`` dialect), Trino, Snowflake, BigQuery and Redshift, so query
builders stay dialect-free. The few *type* spellings a dialect gets wrong for us are fixed here
too (see the end of the module), so every module that builds SQL gets them by importing this one.

Weeks start on Monday everywhere (ISO 8601). ``seconds_between`` counts whole-second boundaries
crossed (DuckDB's ``date_diff('second', ...)``) everywhere except PostgreSQL, Redshift, SQLite,
Snowflake and BigQuery; see docs/warehouse.md ("Dialect notes").
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import Date, DateTime, Float, Numeric
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement, literal_column
from sqlalchemy.sql.visitors import InternalTraversal

SPARK_DIALECTS = ("hive", "databricks")
"""SQLAlchemy dialect names that speak Spark SQL: PyHive's ``hive`` (the Spark Thrift Server,
EMR, Dataproc) and ``databricks`` (databricks-sqlalchemy)."""
MYSQL_DIALECTS = ("mysql", "mariadb")


def _compiles_for(element: type, *dialects: str):  # noqa: ANN202 - a decorator
    """``@compiles(element, d)`` for each of ``dialects`` (one body for a dialect family)."""

    def register(fn):  # noqa: ANN001, ANN202
        for dialect in dialects:
            compiles(element, dialect)(fn)
        return fn

    return register


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


@_compiles_for(add_days, *SPARK_DIALECTS)
def _add_days_spark(element: add_days, compiler: Any, **kw: Any) -> str:
    # date_add / ``+ INTERVAL`` on a DATE gives a DATE: cast first so the time of day is kept.
    (ts,) = element.clauses
    return f"timestampadd(DAY, {element.days}, CAST({compiler.process(ts, **kw)} AS TIMESTAMP))"


@_compiles_for(add_days, *MYSQL_DIALECTS)
def _add_days_mysql(element: add_days, compiler: Any, **kw: Any) -> str:
    (ts,) = element.clauses
    return f"TIMESTAMPADD(DAY, {element.days}, CAST({compiler.process(ts, **kw)} AS DATETIME(6)))"


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


@_compiles_for(trunc_to, *SPARK_DIALECTS)
def _trunc_spark(element: trunc_to, compiler: Any, **kw: Any) -> str:
    # Spark's date_trunc takes the unit first (WEEK = Monday) and always returns a TIMESTAMP.
    (ts,) = element.clauses
    t = compiler.process(ts, **kw)
    return f"date_trunc('{element.grain.upper()}', CAST({t} AS TIMESTAMP))"


@_compiles_for(trunc_to, *MYSQL_DIALECTS)
def _trunc_mysql(element: trunc_to, compiler: Any, **kw: Any) -> str:
    # MySQL/MariaDB have no date_trunc. Built from DATE()/MAKEDATE() and intervals only: a
    # DATE_FORMAT pattern would need its '%' doubled for the driver's pyformat parameters.
    (ts,) = element.clauses
    t = compiler.process(ts, **kw)
    if element.grain == "day":
        start = f"DATE({t})"
    elif element.grain == "week":
        start = f"(DATE({t}) - INTERVAL WEEKDAY({t}) DAY)"  # WEEKDAY: Monday = 0
    elif element.grain == "month":
        start = f"(MAKEDATE(YEAR({t}), 1) + INTERVAL (MONTH({t}) - 1) MONTH)"
    elif element.grain == "quarter":
        start = f"(MAKEDATE(YEAR({t}), 1) + INTERVAL (QUARTER({t}) - 1) QUARTER)"
    else:
        start = f"MAKEDATE(YEAR({t}), 1)"
    return f"CAST({start} AS DATETIME(6))"


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


@_compiles_for(seconds_between, *SPARK_DIALECTS)
def _secs_spark(element: seconds_between, compiler: Any, **kw: Any) -> str:
    # Whole-second boundaries crossed, as DuckDB's date_diff('second'): unix_seconds truncates.
    start, end = element.clauses
    s, e = compiler.process(start, **kw), compiler.process(end, **kw)
    return (
        f"CAST(unix_seconds(CAST({e} AS TIMESTAMP)) - unix_seconds(CAST({s} AS TIMESTAMP)) "
        "AS DOUBLE)"
    )


MYSQL_EPOCH = "TIMESTAMP'1970-01-01 00:00:00'"


@_compiles_for(seconds_between, *MYSQL_DIALECTS)
def _secs_mysql(element: seconds_between, compiler: Any, **kw: Any) -> str:
    # Whole-second boundaries crossed, as DuckDB (TIMESTAMPDIFF truncates the difference, so
    # take it from the epoch on both sides). UNIX_TIMESTAMP() would depend on the session's
    # time zone.
    start, end = element.clauses
    s, e = compiler.process(start, **kw), compiler.process(end, **kw)
    return (
        f"CAST(TIMESTAMPDIFF(SECOND, {MYSQL_EPOCH}, {e}) - TIMESTAMPDIFF(SECOND, {MYSQL_EPOCH}, "
        f"{s}) AS DOUBLE)"
    )


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


@_compiles_for(as_timestamp, *MYSQL_DIALECTS)
def _as_ts_mysql(element: as_timestamp, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses  # MySQL's CAST knows DATETIME, not TIMESTAMP
    return f"CAST({compiler.process(arg, **kw)} AS DATETIME(6))"


@compiles(as_timestamp, "sqlite")
def _as_ts_sqlite(element: as_timestamp, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses  # ISO text already; trunc_to formats it
    return compiler.process(arg, **kw)


# --- type spellings ------------------------------------------------------------------------------


@compiles(Numeric, "hive")
def _numeric_hive(type_: Numeric, compiler: Any, **kw: Any) -> str:
    """PyHive renders every NUMERIC as a bare ``DECIMAL`` (Spark: DECIMAL(10, 0), which drops
    the cents of ``CAST(x AS NUMERIC(18, 6))``): keep the precision and scale."""
    if isinstance(type_, Float):
        return "DOUBLE"
    if type_.precision is None:
        return "DECIMAL(38, 18)"
    return f"DECIMAL({type_.precision}, {type_.scale or 0})"


@compiles(Date, "hive")
def _date_hive(type_: Date, compiler: Any, **kw: Any) -> str:
    """PyHive spells DATE as ``TIMESTAMP`` (old Hive had no DATE); Spark has DATE."""
    return "DATE"


@_compiles_for(DateTime, *MYSQL_DIALECTS)
def _datetime_mysql(type_: DateTime, compiler: Any, **kw: Any) -> str:
    """MySQL's DATETIME keeps whole seconds unless asked for more: store (and CAST to)
    microseconds, as every other engine does."""
    return "DATETIME(6)"


# --- catalog ------------------------------------------------------------------------------------


def table_names(bind: Any, schema: str | None = None) -> list[str]:
    """Names of the tables and views visible in ``schema`` (default: the connection's).

    SQLAlchemy's inspector everywhere but on PyHive's ``hive`` dialect, whose
    ``get_table_names`` returns the first column of ``SHOW TABLES`` — on the Spark Thrift
    Server that is the *namespace* (``default``), not the table: there the ``tableName``
    column is read instead (plain HiveServer2 has only ``tab_name``, the first column).
    """
    from sqlalchemy import inspect, text

    if bind.dialect.name != "hive":
        insp = inspect(bind)
        return list(dict.fromkeys([*insp.get_table_names(schema=schema),
                                   *insp.get_view_names(schema=schema)]))  # fmt: skip
    quote = bind.dialect.identifier_preparer.quote_identifier
    query = "SHOW TABLES" + (f" IN {quote(schema)}" if schema else "")

    def run(conn: Any) -> list[str]:
        result = conn.execute(text(query))
        keys = list(result.keys())
        at = keys.index("tableName") if "tableName" in keys else 0
        return [row[at] for row in result]

    if hasattr(bind, "connect"):  # an Engine
        with bind.connect() as conn:
            return run(conn)
    return run(bind)
