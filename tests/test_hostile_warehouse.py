"""Hostile warehouse: each contract table dropped, emptied, NULL-ed, duplicated and out of range
(dates, numbers, and unknown / markup / overlong text), on a copied DuckDB demo file.

Each case runs the frame and every page that reads the mutated table (found once, by recording
the SQL each page sends on the intact file) and asserts no exception, no traceback text, no
raw HTML from the data and the warehouse file unchanged (see tests/hostile_helpers.py).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import Engine, event

from components.navigation import PAGE_SPECS
from data.schema import CONTRACT_TABLES
from tests.hostile_helpers import INJECTED_HTML, INJECTED_MARKDOWN, file_hash, new_app, run_pages

TABLES = tuple(t.name for t in CONTRACT_TABLES)
ALL_PAGES = tuple(spec.path for spec in PAGE_SPECS)
OFFLINE = tuple(spec.path for spec in PAGE_SPECS if not spec.needs_warehouse)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [(name, kind.upper()) for name, kind in rows]


def _unconstrained(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Recreate ``table`` without NOT NULL / primary keys, so any value can be written."""
    con.execute(f"CREATE TABLE _hostile AS SELECT * FROM {table}")
    con.execute(f"DROP TABLE {table}")
    con.execute(f"ALTER TABLE _hostile RENAME TO {table}")


def _drop(con, table: str) -> None:
    con.execute(f"DROP TABLE {table}")


def _empty(con, table: str) -> None:
    con.execute(f"DELETE FROM {table}")


def _nulls(con, table: str) -> None:
    """Column k is NULL in the rows whose rowid ≡ k (mod the number of columns)."""
    _unconstrained(con, table)
    cols = _columns(con, table)
    for k, (name, _) in enumerate(cols):
        con.execute(f'UPDATE {table} SET "{name}" = NULL WHERE rowid % {len(cols)} = {k}')


def _duplicate(con, table: str) -> None:
    _unconstrained(con, table)
    con.execute(f"INSERT INTO {table} SELECT * FROM {table}")


def _out_of_range(con, table: str) -> None:
    """Values outside the contract in a few rows each: dates at 9999-12-31 and 0001-01-01,
    numbers huge and negative, and text that is an unknown value ('limbo'), HTML or Markdown
    markup, or 5,000 characters of unicode (bidi override included)."""
    _unconstrained(con, table)
    long_text = "ﷺ\u202e𝕏" * 1700
    for name, kind in _columns(con, table):
        if kind == "VARCHAR":
            con.execute(f"UPDATE {table} SET \"{name}\" = 'limbo' WHERE rowid % 30 = 2")
            con.execute(f'UPDATE {table} SET "{name}" = ? WHERE rowid % 30 = 3', [INJECTED_HTML])
            con.execute(f'UPDATE {table} SET "{name}" = ? WHERE rowid % 30 = 4', [long_text])
            con.execute(
                f'UPDATE {table} SET "{name}" = ? WHERE rowid % 30 = 5', [INJECTED_MARKDOWN]
            )
            continue
        if kind.startswith("TIMESTAMP") or kind == "DATE":
            high, low = "'9999-12-31'", "'0001-01-01'"
        elif kind in ("DOUBLE", "FLOAT", "REAL") or kind.startswith("DECIMAL"):
            high, low = "1e300", "-1e15"
        elif kind in ("BIGINT", "INTEGER", "SMALLINT", "HUGEINT"):
            high, low = "2147483647", "-5"
        else:
            continue
        con.execute(f'UPDATE {table} SET "{name}" = {high} WHERE rowid % 40 = 0')
        con.execute(f'UPDATE {table} SET "{name}" = {low} WHERE rowid % 40 = 1')


MUTATIONS: dict[str, Callable[[duckdb.DuckDBPyConnection, str], None]] = {
    "dropped": _drop,
    "emptied": _empty,
    "nulled": _nulls,
    "duplicated": _duplicate,
    "out_of_range": _out_of_range,
}


@pytest.fixture(scope="module")
def base_file(tmp_path_factory) -> Path:
    from data.demo import generator as demo

    path = tmp_path_factory.mktemp("hostile") / "base.duckdb"
    demo.generate(str(path), customers=1_000, seed=5)
    return path


@pytest.fixture(autouse=True)
def _isolated_state(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LOOPLENS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    monkeypatch.setenv("LOOPLENS_SERVING_URL", f"duckdb:///{tmp_path / 'serving.duckdb'}")


@pytest.fixture(scope="module")
def pages_reading(base_file: Path) -> dict[str, tuple[str, ...]]:
    """Table name → the pages whose SQL names it (recorded on the intact demo file)."""
    seen: dict[str, set[str]] = {t: set() for t in TABLES}
    current = ["(frame)"]
    patterns = {t: re.compile(rf"\b{t}\b") for t in TABLES}

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        for table, pattern in patterns.items():
            if pattern.search(statement):
                seen[table].add(current[0])

    mp = pytest.MonkeyPatch()
    mp.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{base_file}")
    mp.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{base_file.parent / 'map_state.sqlite'}")
    mp.setenv("LOOPLENS_SERVING_URL", f"duckdb:///{base_file.parent / 'map_serving.duckdb'}")
    event.listen(Engine, "before_cursor_execute", record)
    try:
        at = new_app()
        at.run()
        for page in ALL_PAGES:
            current[0] = page
            at.switch_page(page)
            at.run()
            assert not at.exception, (page, [e.value for e in at.exception])
    finally:
        event.remove(Engine, "before_cursor_execute", record)
        mp.undo()
    return {t: tuple(p for p in ALL_PAGES if p in seen[t]) for t in TABLES}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
@pytest.mark.parametrize("table", TABLES)
def test_mutated_table(
    table: str, mutation: str, base_file: Path, pages_reading, tmp_path, monkeypatch
) -> None:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(base_file, path)
    con = duckdb.connect(str(path))
    try:
        MUTATIONS[mutation](con, table)
    finally:
        con.close()
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{path}")
    before = file_hash(path)
    # A dropped table stops every warehouse page at the frame's contract check.
    pages = OFFLINE if mutation == "dropped" else pages_reading[table] or OFFLINE
    found = run_pages(new_app(), pages)
    assert not found, found
    assert file_hash(path) == before, "the warehouse file changed"
