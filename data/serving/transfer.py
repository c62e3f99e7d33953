"""Move an aggregate result from the warehouse into the serving store, in bulk.

Reading: DuckDB through its native Arrow path (~100x faster than Python rows); any other
dialect through the DB-API cursor. Writing: DuckDB by scanning the Arrow table, PostgreSQL with
``COPY ... FROM STDIN``, anything else with ``executemany`` in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Select, Table

INSERT_CHUNK_ROWS = 20_000
READ_CHUNK_ROWS = 100_000


def read_batches(conn: Connection, stmt: Select, rows: int = READ_CHUNK_ROWS) -> Iterator[pa.Table]:
    """Run ``stmt`` on ``conn`` and yield its result as Arrow tables (column names kept).

    DuckDB: one table from the native Arrow path (columnar, cheap). Any other dialect: a
    server-side cursor read ``rows`` at a time, so a multi-million-row rollup never sits in
    memory as Python tuples. Always yields at least one (possibly empty) table.
    """
    dialect = conn.dialect
    if dialect.name == "duckdb":
        # render_postcompile expands IN-lists into single parameters (the native API has no
        # "expanding" parameters)
        compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        params = [compiled.params[k] for k in (compiled.positiontup or ())]
        native = conn.connection.driver_connection
        yield native.sql(str(compiled), params=params or None).to_arrow_table()
        return
    result = conn.execution_options(stream_results=True, yield_per=rows).execute(stmt)
    names = list(result.keys())
    empty = True
    for chunk in result.partitions():
        empty = False
        columns = list(zip(*chunk, strict=True))
        yield pa.table({n: pa.array(list(c)) for n, c in zip(names, columns, strict=True)})
    if empty:
        yield pa.table({n: pa.array([]) for n in names})


def write_arrow(
    conn: Connection, table: Table, data: pa.Table, order_by: Sequence[str] = ()
) -> int:
    """Append ``data`` (columns named as ``table``'s) to ``table``; returns the rows written.

    On DuckDB the rows are written sorted by ``order_by``: its per-row-group min/max (zone
    maps) then skip most of a table for a bounded ``day`` range or one ``sig``/``part``."""
    if data.num_rows == 0:
        return 0
    names = [c.name for c in table.columns if c.name in data.column_names]
    dialect = conn.dialect.name
    cols = ", ".join(f'"{n}"' for n in names)
    if dialect == "duckdb":
        native = conn.connection.driver_connection
        native.register("_looplens_rows", data.select(names))
        try:
            order = ", ".join(f'"{c}"' for c in order_by)
            order = f" ORDER BY {order}" if order else ""
            native.execute(
                f'INSERT INTO "{table.name}" ({cols}) SELECT {cols} FROM _looplens_rows{order}'
            )
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
