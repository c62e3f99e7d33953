"""Data-health checks of a warehouse against the LoopLens contract (pure: no Streamlit).

:func:`check_warehouse` connects, reads the columns of every contract table in one
catalog query, then runs one aggregate query per table (``COUNT(*)``, ``MIN``/``MAX`` of the
time column, ``COUNT(key)`` per key column). Each table is checked independently: a broken
table yields a table-level :class:`~data.errors.Problem`, never an exception.

Definitions
-----------
- *Type family*: native type names map onto integer, float (incl. decimal), text, boolean,
  date, timestamp or other. An integer column is accepted where a float is expected, a date
  where a timestamp is expected (and vice versa), an integer where a boolean is expected. Text
  is never accepted for a date or timestamp.
- *Age* of a table: ``now - MAX(time column)`` in days (a date counts from its midnight). All
  times are naive UTC. *Fresh*: age ≤ 2 days; *stale*: ≤ 7 days; *very stale*: older.
- *Null rate* of a key column: ``1 - COUNT(col) / COUNT(*)``, a fraction of rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, inspect, literal_column, select
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy import text as sa_text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.sqltypes import Boolean, Date, DateTime, Float, Integer, Numeric, String

from data.errors import DOCS, Problem, diagnose
from data.schema import CONTRACT_TABLES, TABLE_ROLES
from data.sqlfuncs import table_names
from data.warehouse import mask_url
from i18n import _


class Status(StrEnum):
    """Overall status of a table or the warehouse (worst problem severity)."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


class Freshness(StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    VERY_STALE = "very_stale"


class Family(StrEnum):
    """Type families a native column type maps onto."""

    INTEGER = "integer"
    FLOAT = "float"
    TEXT = "text"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    OTHER = "other"


class CheckCode(StrEnum):
    """Problems the health checks report (connection problems use ``errors.ErrorCode``)."""

    TABLE_MISSING = "table_missing"
    COLUMN_MISSING = "column_missing"
    TYPE_INCOMPATIBLE = "type_incompatible"
    TABLE_EMPTY = "table_empty"
    HIGH_NULL_RATE = "high_null_rate"
    STALE_DATA = "stale_data"
    FUTURE_DATA = "future_data"
    QUERY_FAILED = "query_failed"


@dataclass(frozen=True)
class Thresholds:
    """Limits for warnings. Ages in days; null rates as fractions of rows."""

    fresh_days: float = 2.0
    stale_days: float = 7.0
    null_warning: float = 0.01
    null_error: float = 0.5
    future_days: float = 1.0


FRESHNESS_EXEMPT: frozenset[str] = frozenset({"experiments", "experiment_assignments"})
"""Tables whose newest row may legitimately be old (no experiment need be assigning units):
their age is shown but never reported as a problem."""

# Dialects whose information_schema.columns we query (one query for all tables).
_INFO_SCHEMA_DIALECTS = frozenset(
    {"duckdb", "postgresql", "redshift", "snowflake", "trino", "mysql", "mariadb", "mssql"}
)
# ... and the subset whose information_schema.columns has numeric_scale.
_HAS_NUMERIC_SCALE = _INFO_SCHEMA_DIALECTS - {"trino"}


@dataclass(frozen=True)
class ColumnCheck:
    """One contract column: expected family, what the warehouse has, and whether it fits."""

    name: str
    expected: Family
    native_type: str | None  # None when the column is missing
    family: Family | None

    @property
    def present(self) -> bool:
        return self.native_type is not None

    @property
    def compatible(self) -> bool:
        return self.family is not None and is_compatible(self.expected, self.family)


@dataclass(frozen=True)
class TableHealth:
    """The health of one contract table."""

    name: str
    present: bool
    columns: tuple[ColumnCheck, ...] = ()
    row_count: int | None = None
    time_column: str | None = None
    min_time: dt.datetime | None = None
    max_time: dt.datetime | None = None
    age_days: float | None = None
    freshness: Freshness | None = None
    null_rates: tuple[tuple[str, float], ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def status(self) -> Status:
        return _worst(self.problems)

    @property
    def columns_ok(self) -> int:
        return sum(c.present and c.compatible for c in self.columns)

    @property
    def worst_null_rate(self) -> tuple[str, float] | None:
        """The key column with the highest null rate, or None if none was measured."""
        return max(self.null_rates, key=lambda item: item[1]) if self.null_rates else None


@dataclass(frozen=True)
class HealthReport:
    """The result of :func:`check_warehouse`. ``connection_problem`` is set when the
    warehouse could not be reached; ``tables`` is then empty."""

    dialect: str
    masked_url: str
    schema: str | None
    checked_at: dt.datetime
    connection_problem: Problem | None = None
    tables: tuple[TableHealth, ...] = field(default_factory=tuple)

    @property
    def connected(self) -> bool:
        return self.connection_problem is None

    @property
    def status(self) -> Status:
        if self.connection_problem is not None:
            return Status.ERROR
        return max((t.status for t in self.tables), key=_RANK.__getitem__, default=Status.OK)

    def table(self, name: str) -> TableHealth:
        return next(t for t in self.tables if t.name == name)

    def counts(self) -> dict[Status, int]:
        """Number of tables per status."""
        return {s: sum(t.status == s for t in self.tables) for s in Status}


_RANK = {Status.OK: 0, Status.WARNING: 1, Status.ERROR: 2}


def _worst(problems: Sequence[Problem]) -> Status:
    if any(p.severity == "error" for p in problems):
        return Status.ERROR
    return Status.WARNING if problems else Status.OK


# -- type families ----------------------------------------------------------------------------

_FAMILY_PATTERNS: tuple[tuple[Family, str], ...] = (
    (Family.TIMESTAMP, r"^(timestamp|datetime|smalldatetime|timestamptz)"),
    (Family.DATE, r"^date$"),
    (Family.BOOLEAN, r"^(bool|boolean|bit)$"),
    (
        Family.INTEGER,
        r"^u?(tiny|small|medium|big|huge)?int(eger)?(2|4|8|16|32|64|128)?( unsigned)?$"
        r"|^(long|byteint|serial|bigserial|smallserial)$",
    ),
    (Family.FLOAT, r"^(float|double|real|decimal|numeric|number|bignumeric|money|dec)"),
    (
        Family.TEXT,
        r"^(varchar|char|character|text|string|nvarchar|nchar|bpchar|name|citext|uuid"
        r"|tinytext|mediumtext|longtext|clob|enum)",
    ),
)


def type_family(native: str, numeric_scale: int | None = None) -> Family:
    """Map a native type name (any dialect, any case, with or without parameters) to a family.

    ``DECIMAL(p, 0)`` / ``NUMBER(p, 0)`` (scale 0) counts as integer.
    """
    name = native.strip().lower()
    name = re.sub(r"^nullable\((.*)\)$", r"\1", name)  # ClickHouse
    base = re.sub(r"\s*\(.*$", "", name).strip()
    for family, pattern in _FAMILY_PATTERNS:
        if re.search(pattern, base):
            if family is Family.FLOAT and re.match(r"^(decimal|numeric|number|dec)", base):
                scale = numeric_scale
                params = re.search(r"\(\s*\d+\s*,\s*(\d+)\s*\)", name)
                if params:
                    scale = int(params.group(1))
                if scale == 0:
                    return Family.INTEGER
            return family
    return Family.OTHER


_COMPATIBLE: dict[Family, frozenset[Family]] = {
    Family.INTEGER: frozenset({Family.INTEGER}),
    Family.FLOAT: frozenset({Family.FLOAT, Family.INTEGER}),
    Family.TEXT: frozenset({Family.TEXT}),
    Family.BOOLEAN: frozenset({Family.BOOLEAN, Family.INTEGER}),
    Family.DATE: frozenset({Family.DATE, Family.TIMESTAMP}),
    Family.TIMESTAMP: frozenset({Family.TIMESTAMP, Family.DATE}),
}


def is_compatible(expected: Family, actual: Family) -> bool:
    """Whether a column of family ``actual`` can stand in for ``expected``."""
    return actual in _COMPATIBLE.get(expected, frozenset({expected}))


def expected_family(sa_type: Any) -> Family:
    """The family of a contract column's SQLAlchemy type."""
    if isinstance(sa_type, Boolean):
        return Family.BOOLEAN
    if isinstance(sa_type, DateTime):
        return Family.TIMESTAMP
    if isinstance(sa_type, Date):
        return Family.DATE
    if isinstance(sa_type, Integer):
        return Family.INTEGER
    if isinstance(sa_type, Float | Numeric):
        return Family.FLOAT
    if isinstance(sa_type, String):
        return Family.TEXT
    return Family.OTHER


# -- reading columns ----------------------------------------------------------------------------

# table name (lower case) -> {column name (lower case): (actual name, native type, family)}
Catalog = dict[str, dict[str, tuple[str, str, Family]]]


def read_catalog(conn: Connection, schema: str | None, names: Sequence[str]) -> Catalog:
    """Columns and native types of the named tables/views (absent ones are left out).

    information_schema where available (one query), ``PRAGMA table_info`` on SQLite, the
    SQLAlchemy inspector otherwise (column reflection fails on DuckDB with SQLAlchemy 2.1).
    """
    dialect = conn.dialect.name
    if dialect == "sqlite":
        return _catalog_sqlite(conn, schema, names)
    if dialect in _INFO_SCHEMA_DIALECTS:
        return _catalog_information_schema(conn, schema, names)
    if dialect == "hive":
        return _catalog_describe(conn, schema, names)
    return _catalog_inspector(conn, schema, names)


def _catalog_describe(conn: Connection, schema: str | None, names: Sequence[str]) -> Catalog:
    """Spark / Hive through PyHive: ``DESCRIBE`` each table (PyHive's inspector keeps only the
    first word of a type and lists namespaces as tables on the Spark Thrift Server)."""
    present = {n.lower(): n for n in table_names(conn, schema)}
    quote = conn.dialect.identifier_preparer.quote_identifier
    catalog: Catalog = {}
    for name in names:
        actual = present.get(name.lower())
        if actual is None:
            continue
        target = f"{quote(schema)}.{quote(actual)}" if schema else quote(actual)
        for row in conn.execute(sa_text(f"DESCRIBE {target}")):
            column, native = (row[0] or "").strip(), (row[1] or "").strip()
            if not column or column.startswith("#"):
                if column.startswith("# Partition"):
                    break
                continue
            catalog.setdefault(name, {})[column.lower()] = (column, native, type_family(native))
    return catalog


def _catalog_information_schema(
    conn: Connection, schema: str | None, names: Sequence[str]
) -> Catalog:
    dialect = conn.dialect.name
    cols = [
        sa_column("table_name"),
        sa_column("column_name"),
        sa_column("data_type"),
        sa_column("ordinal_position"),
    ]
    if dialect in _HAS_NUMERIC_SCALE:
        cols.append(sa_column("numeric_scale"))
    info = sa_table("columns", *cols, schema="information_schema")
    schema_name = schema or inspect(conn).default_schema_name
    query = (
        select(*info.c)
        .where(func.lower(info.c.table_name).in_(bindparam("names", expanding=True)))
        .where(func.lower(sa_column("table_schema")) == (schema_name or "").lower())
        .order_by(info.c.table_name, info.c.ordinal_position)
    )
    catalog: Catalog = {}
    for row in conn.execute(query, {"names": [n.lower() for n in names]}).mappings():
        scale = row.get("numeric_scale")
        native = str(row["data_type"])
        family = type_family(native, int(scale) if scale is not None else None)
        catalog.setdefault(str(row["table_name"]).lower(), {})[str(row["column_name"]).lower()] = (
            str(row["column_name"]),
            native,
            family,
        )
    return catalog


def _catalog_sqlite(conn: Connection, schema: str | None, names: Sequence[str]) -> Catalog:
    catalog: Catalog = {}
    prefix = f'"{schema}".' if schema else ""
    for name in names:
        # PRAGMA takes no bound parameters; names come from the contract, not from users.
        rows = conn.execute(sa_text(f'PRAGMA {prefix}table_info("{name}")')).all()
        for row in rows:
            native = str(row[2] or "")
            # SQLite views over expressions have no declared type: nothing to compare.
            family = type_family(native) if native else None
            catalog.setdefault(name, {})[str(row[1]).lower()] = (str(row[1]), native, family)
    return catalog


def _catalog_inspector(conn: Connection, schema: str | None, names: Sequence[str]) -> Catalog:
    insp = inspect(conn)
    present = {n.lower(): n for n in table_names(conn, schema)}
    catalog: Catalog = {}
    for name in names:
        actual = present.get(name.lower())
        if actual is None:
            continue
        for col in insp.get_columns(actual, schema=schema):
            native = str(col["type"])
            catalog.setdefault(name, {})[col["name"].lower()] = (
                col["name"],
                native,
                type_family(native),
            )
    return catalog


# -- the check ----------------------------------------------------------------------------------


def _utc_naive(value: Any) -> dt.datetime | None:
    """A MIN/MAX result as a naive UTC datetime (dates at midnight, ISO text parsed)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    return None


def _type_sql(sa_type: Any, dialect: Any) -> str:
    try:
        return sa_type.compile(dialect=dialect)
    except Exception:  # noqa: BLE001 - only used for a hint
        return str(sa_type)


def _anchor(name: str) -> str:
    """The docs section of a contract table (headings are the bare table names)."""
    return f"{DOCS}#{name}"


def check_table(
    conn: Connection,
    contract: Any,
    catalog: Catalog,
    *,
    schema: str | None,
    now: dt.datetime,
    thresholds: Thresholds,
) -> TableHealth:
    """Check one contract table (``contract`` is a ``sqlalchemy.Table`` from data.schema)."""
    name = contract.name
    role = TABLE_ROLES[name]
    where = f"`{schema}.{name}`" if schema else f"`{name}`"
    found = catalog.get(name)
    if not found:
        cols = ", ".join(
            f"{c.name} {_type_sql(c.type, conn.dialect)}{'' if c.nullable else ' NOT NULL'}"
            for c in contract.columns
        )
        return TableHealth(
            name,
            present=False,
            time_column=role.time_column,
            problems=(
                Problem(
                    CheckCode.TABLE_MISSING,
                    _("Table {where} is missing").format(where=where),
                    _("No table or view named {where} is visible to this user.").format(
                        where=where
                    ),
                    f"Create a view named `{name}` with the columns {cols} "
                    f"(see {_anchor(name)} for the meaning of each column and mapping "
                    "examples). If it exists in another schema, select that schema; if it "
                    "exists but is hidden, grant the LoopLens user `SELECT` on it.",
                ),
            ),
        )

    problems: list[Problem] = []
    checks: list[ColumnCheck] = []
    for col in contract.columns:
        expected = expected_family(col.type)
        hit = found.get(col.name.lower())
        if hit is None:
            checks.append(ColumnCheck(col.name, expected, None, None))
            problems.append(
                Problem(
                    CheckCode.COLUMN_MISSING,
                    _("Column `{name}.{name2}` is missing").format(name=name, name2=col.name),
                    _("{where} has no column `{name}` ({value}{value2}: {value3}).").format(
                        where=where,
                        name=col.name,
                        value=expected.value,
                        value2=_(", required") if not col.nullable else _(", may be NULL"),
                        value3=col.comment or "see the contract",
                    ),
                    f"Add it to the `{name}` view, e.g. `SELECT ..., <your column> AS "
                    f"{col.name}` (type {_type_sql(col.type, conn.dialect)}); "
                    f"see {_anchor(name)}.",
                )
            )
            continue
        _name, native, family = hit
        check = ColumnCheck(col.name, expected, native, family or expected)
        checks.append(check)
        if family is not None and not is_compatible(expected, family):
            cast_to = _type_sql(col.type, conn.dialect)
            if family is Family.TEXT and expected in (Family.TIMESTAMP, Family.DATE):
                detail = _(
                    "`{name}.{name2}` is stored as text ({native}); "
                    "LoopLens needs a {value}, and text "
                    "is not compatible: date filters, truncation and "
                    "freshness would compare strings."
                ).format(name=name, name2=col.name, native=native, value=expected.value)
            else:
                detail = _(
                    "`{name}.{name2}` is {native} ({value}); the contract expects {value2}."
                ).format(
                    name=name,
                    name2=col.name,
                    native=native,
                    value=family.value,
                    value2=expected.value,
                )
            problems.append(
                Problem(
                    CheckCode.TYPE_INCOMPATIBLE,
                    _("Column `{name}.{name2}` has an incompatible type").format(
                        name=name, name2=col.name
                    ),
                    detail,
                    _(
                        "Convert it in the view: `CAST({name} AS {cast_to}) "
                        "AS {name}` (for text timestamps "
                        "in UTC, parse them with your warehouse's timestamp parser). See {name2}."
                    ).format(name=col.name, cast_to=cast_to, name2=_anchor(name)),
                )
            )

    row_count, min_time, max_time, null_rates, failure = _aggregate(
        conn, name, found, schema, role.time_column, role.key_columns, checks
    )
    if failure is not None:
        problems.append(failure)
        return TableHealth(
            name, True, tuple(checks), time_column=role.time_column, problems=tuple(problems)
        )

    age = freshness = None
    if row_count == 0:
        problems.append(
            Problem(
                CheckCode.TABLE_EMPTY,
                _("Table {where} is empty").format(where=where),
                _("{where} exists but has no rows; every chart that uses it will be blank.").format(
                    where=where
                ),
                f"Load data into it or check the view's joins and WHERE clause "
                f"(`SELECT COUNT(*) FROM {name}` should be > 0). See {_anchor(name)}.",
                severity="warning",
            )
        )
    for col_name, rate in null_rates:
        if rate > thresholds.null_warning:
            severe = rate >= thresholds.null_error
            problems.append(
                Problem(
                    CheckCode.HIGH_NULL_RATE,
                    _("`{name}.{col_name}` is NULL in {rate:.1%} of rows").format(
                        name=name, col_name=col_name, rate=rate
                    ),
                    _(
                        "`{col_name}` is a key column and should never be "
                        "NULL; {rate:.1%} of {row_count:,} "
                        "rows have no value, so they drop out of joins and breakdowns."
                    ).format(col_name=col_name, rate=rate, row_count=row_count),
                    f"Fill it in the view (e.g. `COALESCE({col_name}, <default>)` or a join "
                    f"that finds the missing value), or filter those rows out with "
                    f"`WHERE {col_name} IS NOT NULL`. See {_anchor(name)}.",
                    severity="error" if severe else "warning",
                )
            )
    if max_time is not None:
        age = (now - max_time).total_seconds() / 86_400
        if age <= thresholds.fresh_days:
            freshness = Freshness.FRESH
        elif age <= thresholds.stale_days:
            freshness = Freshness.STALE
        else:
            freshness = Freshness.VERY_STALE
        if freshness is not Freshness.FRESH and name not in FRESHNESS_EXEMPT:
            very = freshness is Freshness.VERY_STALE
            problems.append(
                Problem(
                    CheckCode.STALE_DATA,
                    (
                        _("`{name}` is very stale: newest row {age:.1f} days old")
                        if very
                        else _("`{name}` is stale: newest row {age:.1f} days old")
                    ).format(name=name, age=age),
                    _(
                        "The newest `{time_column}` is {max_time:%Y-%m-%d "
                        "%H:%M} UTC, {age:.1f} days before "
                        "{now:%Y-%m-%d %H:%M} UTC (fresh means ≤ "
                        "{fresh_days:g} days). Recent periods will "
                        "look empty."
                    ).format(
                        time_column=role.time_column,
                        max_time=max_time,
                        age=age,
                        now=now,
                        fresh_days=thresholds.fresh_days,
                    ),
                    _(
                        "Check the loader or sync job that feeds this "
                        "table (last successful run, errors, "
                        "paused connector), and that timestamps are in "
                        "UTC. If no new rows are expected, "
                        "ignore this warning."
                    ),
                    severity="warning",
                )
            )
        elif age < -thresholds.future_days:
            problems.append(
                Problem(
                    CheckCode.FUTURE_DATA,
                    _("`{name}` has rows in the future").format(name=name),
                    _(
                        "The newest `{time_column}` is {max_time:%Y-%m-%d "
                        "%H:%M}, {value:.1f} days after now "
                        "(UTC)."
                    ).format(time_column=role.time_column, max_time=max_time, value=-age),
                    _(
                        "Timestamps must be UTC: convert local times in "
                        "the view (e.g. PostgreSQL `ts AT "
                        "TIME ZONE 'Europe/Berlin' AT TIME ZONE 'UTC'`) and "
                        "drop test rows with placeholder "
                        "dates."
                    ),
                    severity="warning",
                )
            )
    return TableHealth(
        name,
        True,
        tuple(checks),
        row_count=row_count,
        time_column=role.time_column,
        min_time=min_time,
        max_time=max_time,
        age_days=age,
        freshness=freshness,
        null_rates=tuple(null_rates),
        problems=tuple(problems),
    )


def _aggregate(
    conn: Connection,
    name: str,
    found: dict[str, tuple[str, str, Family]],
    schema: str | None,
    time_column: str | None,
    key_columns: Sequence[str],
    checks: Sequence[ColumnCheck],
) -> tuple[int, dt.datetime | None, dt.datetime | None, list[tuple[str, float]], Problem | None]:
    """One query: row count, time coverage and key-column non-null counts."""
    by_name = {c.name: c for c in checks}
    time_ok = (
        time_column is not None
        and by_name[time_column].present
        and by_name[time_column].family in (Family.DATE, Family.TIMESTAMP)
    )
    keys = [k for k in key_columns if by_name[k].present]
    cols = {c: sa_column(found[c][0]) for c in ([time_column] if time_ok else []) + keys}
    tbl = sa_table(name, *cols.values(), schema=schema)
    exprs = [func.count(literal_column("*")).label("n")]
    if time_ok:
        exprs += [
            func.min(cols[time_column]).label("min_t"),
            func.max(cols[time_column]).label("max_t"),
        ]
    exprs += [func.count(cols[k]).label(f"nn_{i}") for i, k in enumerate(keys)]
    try:
        row = conn.execute(select(*exprs).select_from(tbl)).mappings().one()
    except SQLAlchemyError as exc:
        conn.rollback()  # PostgreSQL: leave the aborted transaction so other tables still run
        problem = diagnose(exc, conn.engine.url.render_as_string(hide_password=False))
        return (
            0,
            None,
            None,
            [],
            Problem(
                problem.code if problem.code != "unknown" else CheckCode.QUERY_FAILED,
                f"Reading `{name}` failed: {problem.title}",
                problem.detail,
                problem.fix,
            ),
        )
    n = int(row["n"])
    rates = [(k, 1 - int(row[f"nn_{i}"]) / n) for i, k in enumerate(keys)] if n else []
    if not time_ok:
        return n, None, None, rates, None
    return n, _utc_naive(row["min_t"]), _utc_naive(row["max_t"]), rates, None


def check_warehouse(
    engine: Engine,
    *,
    now: dt.datetime | None = None,
    schema: str | None = None,
    thresholds: Thresholds = Thresholds(),  # noqa: B008 - frozen, immutable default
) -> HealthReport:
    """Check every contract table of the warehouse behind ``engine``.

    ``now`` (naive UTC, or aware and converted) anchors freshness; default: the current time.
    ``schema`` selects the schema holding the LoopLens tables/views (default: the
    connection's default schema, e.g. ``public`` on PostgreSQL, ``main`` on DuckDB).
    """
    now = _utc_naive(now) or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    raw_url = engine.url.render_as_string(hide_password=False)
    base = {
        "dialect": engine.dialect.name,
        "masked_url": mask_url(raw_url),
        "schema": schema,
        "checked_at": now,
    }
    try:
        conn = engine.connect()
    except Exception as exc:  # noqa: BLE001 - any driver error becomes a diagnosis
        return HealthReport(**base, connection_problem=diagnose(exc, raw_url))
    with conn:
        names = [t.name for t in CONTRACT_TABLES]
        try:
            catalog = read_catalog(conn, schema, names)
        except SQLAlchemyError as exc:
            conn.rollback()
            return HealthReport(**base, connection_problem=diagnose(exc, raw_url))
        tables = []
        for contract in CONTRACT_TABLES:
            try:
                tables.append(
                    check_table(
                        conn, contract, catalog, schema=schema, now=now, thresholds=thresholds
                    )
                )
            except SQLAlchemyError as exc:  # belt and braces: one table never stops the rest
                conn.rollback()
                problem = diagnose(exc, raw_url)
                tables.append(TableHealth(contract.name, True, problems=(problem,)))
    return HealthReport(**base, tables=tuple(tables))


def summary_rows(report: HealthReport) -> list[dict[str, Any]]:
    """One plain row per table for the summary table and its CSV export."""
    rows = []
    for t in report.tables:
        worst = t.worst_null_rate
        rows.append(
            {
                "table": t.name,
                "status": t.status.value,
                "rows": t.row_count,
                "columns_ok": f"{t.columns_ok}/{len(t.columns)}" if t.present else "0/0",
                "time_column": t.time_column,
                "first": t.min_time,
                "last": t.max_time,
                "age_days": round(t.age_days, 2) if t.age_days is not None else None,
                "freshness": t.freshness.value if t.freshness else None,
                "worst_null_column": worst[0] if worst else None,
                "worst_null_rate": worst[1] if worst else None,
                "problems": len(t.problems),
            }
        )
    return rows
