"""Bulk-write the demo tables: DuckDB via Arrow, PostgreSQL via COPY, anything else executemany.

Each table arrives as a pandas DataFrame with the contract's columns in contract order.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable

import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from data.schema import CONTRACT_TABLES, create_contract, metadata
from data.sqlfuncs import MYSQL_DIALECTS, table_names
from data.warehouse import mask_url

Tick = Callable[[str, int], None]  # table name, rows written so far

COPY_CHUNK_ROWS = 500_000
INSERT_CHUNK_ROWS = 20_000

RECOMMENDED_INDEXES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("customers", ("first_seen_at",)),
    ("touchpoints", ("occurred_at",)),
    ("touchpoints", ("customer_id", "occurred_at")),
    ("orders", ("ordered_at",)),
    ("orders", ("customer_id", "ordered_at")),
    ("lifecycle_changes", ("changed_at",)),
    ("lifecycle_changes", ("customer_id", "changed_at")),
    ("surveys", ("responded_at",)),
    ("experiment_assignments", ("experiment_id", "customer_id")),
)
"""(table, columns) of the B-tree indexes a row-store warehouse (PostgreSQL, MySQL) should have
beyond the primary keys: each table's time column (every page bounds its scans to the period,
and an incremental serving refresh reads only the days since the last one) and the join keys
of the per-customer windows (previous occurrence, next stage change, the attribution lookback,
each unit's experiment window). ``docs/warehouse.md`` lists them; the PostgreSQL demo loader
creates them. ``daily_spend`` needs none: its primary key starts with ``spend_date``."""


def index_name(table: str, columns: tuple[str, ...]) -> str:
    """The name the demo loader gives the index on ``table (columns)``: ``ix_<table>_<cols>``."""
    return f"ix_{table}_{'_'.join(columns)}"


def create_recommended_indexes(cur, tables: set[str]) -> None:  # noqa: ANN001 - a DB-API cursor
    """``CREATE INDEX IF NOT EXISTS`` each of :data:`RECOMMENDED_INDEXES` on ``tables``."""
    for table, columns in RECOMMENDED_INDEXES:
        if table in tables:
            cols = ", ".join(f'"{c}"' for c in columns)
            cur.execute(
                f'CREATE INDEX IF NOT EXISTS "{index_name(table, columns)}" ON "{table}" ({cols})'
            )


class TargetExistsError(RuntimeError):
    """The target already holds a warehouse and overwriting was not requested."""


class TargetDatabaseError(RuntimeError):
    """The target database does not exist and cannot be created (the message says why)."""


MAINTENANCE_DATABASES = ("postgres", "template1")
INSUFFICIENT_PRIVILEGE = "42501"


def ensure_postgres_database(url: str) -> str | None:
    """Create the database named in a PostgreSQL ``url`` if it is missing and the server lets us.

    Returns the database's name when it was created, None when it already existed (or the
    target could be reached). The check is language-independent: when the target cannot be
    reached, the same credentials connect to a maintenance database (``postgres``, else
    ``template1``) and look the name up in ``pg_database``; ``CREATE DATABASE`` runs there with
    AUTOCOMMIT, the name quoted as an identifier. Raises ``TargetDatabaseError`` with what to
    do when the user may not create databases; any other connection problem is re-raised as is.
    """
    target = make_url(url)
    name = target.database
    if not name:
        raise TargetDatabaseError(f"{mask_url(url)} names no database: add /DATABASE to the URL")
    engine = create_engine(target)
    try:
        with engine.connect():
            return None
    except OperationalError as exc:
        unreachable = exc
    finally:
        engine.dispose()
    for maintenance in MAINTENANCE_DATABASES:
        admin = create_engine(target.set(database=maintenance), isolation_level="AUTOCOMMIT")
        try:
            try:
                conn = admin.connect()
            except OperationalError:
                continue  # this maintenance database cannot be reached: try the next one
            with conn:
                if _create_database(conn, target, name):
                    return name
            break  # the target exists: it could not be reached for another reason
        finally:
            admin.dispose()
    raise unreachable


def _create_database(conn: Connection, target: URL, name: str) -> bool:
    """CREATE DATABASE ``name`` unless it exists; False when it already existed."""
    query = text("SELECT 1 FROM pg_database WHERE datname = :name")
    if conn.execute(query, {"name": name}).scalar():
        return False
    quote = conn.dialect.identifier_preparer.quote_identifier
    try:
        conn.execute(text(f"CREATE DATABASE {quote(name)}"))
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise
        user = target.username or conn.execute(text("SELECT current_user")).scalar()
        where = f"{target.host or 'localhost'}:{target.port or 5432}"
        raise TargetDatabaseError(
            f"database {name!r} does not exist on {where}, and user {user!r} may not create it "
            f"(no CREATEDB privilege). Ask an administrator to run: CREATE DATABASE "
            f"{quote(name)} OWNER {quote(user)}; or point --out at an existing database"
        ) from None
    return True


def existing_contract_tables(engine: Engine) -> list[str]:
    names = set(table_names(engine))
    return [t.name for t in CONTRACT_TABLES if t.name in names]


def write_duckdb(engine: Engine, frames: dict[str, pd.DataFrame], tick: Tick) -> None:
    """Create the contract and insert every frame through DuckDB's Arrow scan."""
    create_contract(engine)
    raw = engine.raw_connection()
    try:
        con = raw.driver_connection
        for name, df in frames.items():
            arrow = pa.Table.from_pandas(df, preserve_index=False)
            con.register("_looplens_src", arrow)
            cols = ", ".join(f'"{c}"' for c in df.columns)
            con.execute(f'INSERT INTO "{name}" ({cols}) SELECT {cols} FROM _looplens_src')
            con.unregister("_looplens_src")
            tick(name, len(df))
        con.execute("CHECKPOINT")
        raw.commit()
    finally:
        raw.close()


def _reset(conn: Connection, overwrite: bool) -> None:
    existing = set(inspect(conn).get_table_names())
    present = [t for t in CONTRACT_TABLES if t.name in existing]
    if present and not overwrite:
        names = ", ".join(t.name for t in present)
        raise TargetExistsError(
            f"the target already has contract tables ({names}); pass overwrite=True / --force "
            "to replace them"
        )
    if present:
        metadata.drop_all(conn, tables=present)
    metadata.create_all(conn)


def write_postgres(
    engine: Engine, frames: dict[str, pd.DataFrame], tick: Tick, *, overwrite: bool
) -> None:
    """One transaction: (drop,) create, COPY ... FROM STDIN (CSV) per table, then the
    :data:`RECOMMENDED_INDEXES` (built after the load: faster than maintaining them row by row)
    and ``ANALYZE``."""
    with engine.begin() as conn:
        _reset(conn, overwrite)
        dbapi = conn.connection.driver_connection
        with dbapi.cursor() as cur:
            for name, df in frames.items():
                cols = ", ".join(f'"{c}"' for c in df.columns)
                sql = f'COPY "{name}" ({cols}) FROM STDIN WITH (FORMAT csv)'
                with cur.copy(sql) as copy:
                    for start in range(0, len(df), COPY_CHUNK_ROWS):
                        buf = io.StringIO()
                        df.iloc[start : start + COPY_CHUNK_ROWS].to_csv(
                            buf, header=False, index=False, date_format="%Y-%m-%d %H:%M:%S.%f"
                        )
                        copy.write(buf.getvalue())
                tick(name, len(df))
            create_recommended_indexes(cur, set(frames))
            # Fresh planner statistics: without them PostgreSQL misjudges the experiment
            # queries' joins right after a bulk load (nested loops, minutes instead of ms).
            for name in frames:
                cur.execute(f'ANALYZE "{name}"')


def _python_values(series: pd.Series) -> list:
    """Column values as plain Python objects with None for missing values."""
    values = series.astype(object).tolist()
    out = []
    for v in values:
        if v is None or v is pd.NaT or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        elif isinstance(v, pd.Timestamp):
            out.append(v.to_pydatetime())
        else:
            out.append(v)
    return out


def write_generic(
    engine: Engine, frames: dict[str, pd.DataFrame], tick: Tick, *, overwrite: bool
) -> None:
    """Portable path (SQLite and others): Core ``insert`` executemany in large batches."""
    tables = {t.name: t for t in CONTRACT_TABLES}
    with engine.begin() as conn:
        _reset(conn, overwrite)
        for name, df in frames.items():
            cols = list(df.columns)
            data = [_python_values(df[c]) for c in cols]
            rows = len(df)
            for start in range(0, rows, INSERT_CHUNK_ROWS):
                stop = min(rows, start + INSERT_CHUNK_ROWS)
                batch = [
                    dict(zip(cols, vals, strict=True))
                    for vals in zip(*(col[start:stop] for col in data), strict=True)
                ]
                conn.execute(tables[name].insert(), batch)
            tick(name, rows)
        if conn.dialect.name in MYSQL_DIALECTS:
            # Without them MySQL/MariaDB (nested-loop joins) take ~20 s per attribution query
            # at 3,000 customers instead of well under one.
            for table, columns in RECOMMENDED_INDEXES:
                if table in frames:
                    q = conn.dialect.identifier_preparer.quote
                    cols = ", ".join(q(c) for c in columns)
                    conn.exec_driver_sql(
                        f"CREATE INDEX {q(index_name(table, columns))} ON {q(table)} ({cols})"
                    )


SPARK_STAGING_ENV = "LOOPLENS_SPARK_STAGING"
"""A folder the Spark driver can read (``file:`` on the same machine, or a shared ``s3://`` /
``dbfs:/`` mount path written by other means): the demo loader stages its Parquet files there."""


def spark_column_type(column) -> str:  # noqa: ANN001 - a sqlalchemy Column
    """The Spark SQL type of a contract column (``TIMESTAMP`` for DateTime: Spark's session
    time zone must be UTC for it to mean the contract's naive UTC timestamps)."""
    from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, Integer

    t = column.type
    if isinstance(t, Boolean):
        return "BOOLEAN"
    if isinstance(t, DateTime):
        return "TIMESTAMP"
    if isinstance(t, Date):
        return "DATE"
    if isinstance(t, BigInteger):
        return "BIGINT"
    if isinstance(t, Integer):
        return "INT"
    if isinstance(t, Float):
        return "DOUBLE"
    return "STRING"


def write_spark(
    engine: Engine,
    frames: dict[str, pd.DataFrame],
    tick: Tick,
    *,
    overwrite: bool,
    staging: str | None = None,
) -> None:
    """Spark SQL (through the Thrift server): each frame is staged as one Parquet file, then
    Spark itself writes the contract table from it (``CREATE TABLE ... USING parquet AS SELECT``
    with every column cast to its contract type), so the tables are Spark-written Parquet in
    the Spark warehouse. ``staging`` (default ``LOOPLENS_SPARK_STAGING``, else a temporary
    folder on this machine) must be readable by the Spark driver. Spark has no primary keys or
    indexes: the contract's keys are the loader's promise, not the engine's."""
    import shutil
    import tempfile
    from pathlib import Path

    import pyarrow.parquet as pq

    tables = {t.name: t for t in CONTRACT_TABLES}
    root = staging or os.environ.get(SPARK_STAGING_ENV) or None
    folder = Path(tempfile.mkdtemp(prefix="looplens-spark-", dir=root))
    try:
        with engine.connect() as conn:
            existing = set(table_names(conn))
            present = [n for n in frames if n in existing]
            if present and not overwrite:
                raise TargetExistsError(
                    f"the target already has contract tables ({', '.join(present)}); pass "
                    "overwrite=True / --force to replace them"
                )
            quote = conn.dialect.identifier_preparer.quote
            for name, df in frames.items():
                path = folder / f"{name}.parquet"
                pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
                cols = ", ".join(
                    f"CAST({quote(c.name)} AS {spark_column_type(c)}) AS {quote(c.name)}"
                    for c in tables[name].columns
                )
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(name)}")
                conn.exec_driver_sql(
                    f"CREATE TABLE {quote(name)} USING parquet AS SELECT {cols} "
                    f"FROM parquet.`{path.resolve().as_uri()}`"
                )
                tick(name, len(df))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
