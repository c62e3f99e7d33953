"""Move an aggregate result from the warehouse into the serving store, in bulk.

Reading: DuckDB through its native Arrow path (~100x faster than Python rows); any other
dialect through the DB-API cursor. Writing: DuckDB by scanning the Arrow table, PostgreSQL with
``COPY ... FROM STDIN``, anything else with ``executemany`` in chunks.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Select, Table

INSERT_CHUNK_ROWS = 20_000


def read_arrow(conn: Connection, stmt: Select) -> pa.Table:
    """Run ``stmt`` on ``conn`` and return its result as an Arrow table (column names kept)."""
    dialect = conn.dialect
    if dialect.name == "duckdb":
        # render_postcompile: expanding IN lists become numbered parameters too
        compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        params = [compiled.params[k] for k in (compiled.positiontup or ())]
        native = conn.connection.driver_connection
        return native.sql(str(compiled), params=params or None).to_arrow_table()
    result = conn.execute(stmt)
    names = list(result.keys())
    rows = result.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pa.table({n: pa.array(list(c)) for n, c in zip(names, columns, strict=True)})


def write_arrow(conn: Connection, table: Table, data: pa.Table) -> int:
    """Append ``data`` (columns named as ``table``'s) to ``table``; returns the rows written."""
    if data.num_rows == 0:
        return 0
    names = [c.name for c in table.columns if c.name in data.column_names]
    dialect = conn.dialect.name
    cols = ", ".join(f'"{n}"' for n in names)
    if dialect == "duckdb":
        native = conn.connection.driver_connection
        native.register("_looplens_rows", data.select(names))
        try:
            native.execute(f'INSERT INTO "{table.name}" ({cols}) SELECT {cols} FROM _looplens_rows')
        finally:
            native.unregister("_looplens_rows")
        return data.num_rows
    if dialect == "postgresql":
        dbapi = conn.connection.driver_connection
        with dbapi.cursor() as cur, cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
            for row in _rows(data, names):
                copy.write_row(row)
        return data.num_rows
    batch: list[dict[str, Any]] = []
    for row in _rows(data, names):
        batch.append(dict(zip(names, row, strict=True)))
        if len(batch) >= INSERT_CHUNK_ROWS:
            conn.execute(table.insert(), batch)
            batch = []
    if batch:
        conn.execute(table.insert(), batch)
    return data.num_rows


def _rows(data: pa.Table, names: list[str]):  # noqa: ANN202 - an iterator of tuples
    for batch in data.select(names).to_batches(max_chunksize=INSERT_CHUNK_ROWS):
        yield from zip(*(col.to_pylist() for col in batch.columns), strict=True)
