"""Build the serving store from the warehouse: full or incremental, locked, atomic.

A refresh reads the warehouse with aggregate SELECTs only and writes only to the serving store.

- **Full** (``full=True``, a new store, a store built by another LoopLens version or from
  another warehouse): every serving table is rebuilt from all history.
- **Incremental**: a day-partitioned table re-reads the days from ``since`` = (newest day of its
  last refresh − ``late_days``) and replaces those days; a key-partitioned table replaces the
  keys the re-read returns; small unpartitioned tables are rebuilt. Running it twice in a row
  changes nothing (idempotent).
- **Safe if two run at once**: a lock serialises refreshes of one store (a lock file beside a
  DuckDB/SQLite file; ``pg_advisory_xact_lock`` on PostgreSQL). For the default DuckDB file the
  refresh writes a copy and swaps it in with ``os.replace``: readers never see a half-built
  store, and an open app keeps serving the old file until it notices the new one.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, delete, func, inspect, select, text
from sqlalchemy.engine import make_url

from data.schema import metadata as contract
from data.serving.config import ServingConfig, warehouse_fingerprint
from data.serving.rollups import SERVING_VERSION, Rollup, all_rollups
from data.serving.store import ServingStore, refresh_log
from data.serving.transfer import read_batches, write_arrow

DEFAULT_LATE_DAYS = 3
"""Days before the last refreshed day that an incremental refresh re-reads (late data)."""

Progress = Callable[[str], None]

_TIME_COLUMNS = {
    "customers": "first_seen_at",
    "touchpoints": "occurred_at",
    "orders": "ordered_at",
    "lifecycle_changes": "changed_at",
    "surveys": "responded_at",
    "daily_spend": "spend_date",
    "experiment_assignments": "assigned_at",
}


@dataclass(frozen=True)
class TableResult:
    """What one refresh did to one serving table."""

    rollup: str
    mode: str  # full | incremental
    since: dt.date | None
    rows_written: int
    row_count: int
    seconds: float


@dataclass(frozen=True)
class RefreshResult:
    tables: tuple[TableResult, ...]
    warehouse_latest: dt.datetime | None
    seconds: float

    @property
    def mode(self) -> str:
        modes = {t.mode for t in self.tables}
        return modes.pop() if len(modes) == 1 else "mixed"


def latest_by_table(conn: Connection) -> dict[str, dt.datetime | None]:
    """The newest event time of each contract table with a time column (None: empty)."""
    values = [
        select(func.max(contract.tables[table].c[column])).scalar_subquery().label(table)
        for table, column in _TIME_COLUMNS.items()
    ]
    row = conn.execute(select(*values)).one()
    out: dict[str, dt.datetime | None] = {}
    for table, value in zip(_TIME_COLUMNS, row, strict=True):
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value is not None and not isinstance(value, dt.datetime):
            value = dt.datetime.combine(value, dt.time.min)
        out[table] = value
    return out


def warehouse_latest(conn: Connection) -> dt.datetime | None:
    """The newest event time over the contract's time columns (empty tables ignored)."""
    return max((v for v in latest_by_table(conn).values() if v is not None), default=None)


def covered_through(rollup: Rollup, latest: dict[str, dt.datetime | None]) -> dt.date | None:
    """The newest day of the table a rollup is built from (its first ``depends_on`` with a
    time column); the serving table is complete through that day as of the refresh."""
    for table in rollup.depends_on:
        if table in latest:
            value = latest[table]
            return value.date() if value is not None else None
    newest = max((v for v in latest.values() if v is not None), default=None)
    return newest.date() if newest is not None else None


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # waits for a refresh already running
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _local_file(url: str) -> Path | None:
    parsed = make_url(url)
    local = parsed.get_backend_name() in ("duckdb", "sqlite") and parsed.database
    return Path(parsed.database) if local and parsed.database != ":memory:" else None


def refresh(
    warehouse: Engine,
    config: ServingConfig,
    warehouse_url: str,
    *,
    full: bool = False,
    late_days: int = DEFAULT_LATE_DAYS,
    rollups: Sequence[Rollup] | None = None,
    progress: Progress | None = None,
) -> RefreshResult:
    """Refresh the serving store described by ``config`` from ``warehouse``.

    ``warehouse_url`` is the URL the app uses for that warehouse (it identifies the store's
    source); ``late_days`` widens an incremental refresh for late-arriving rows.
    """
    if late_days < 0:
        raise ValueError("late_days must be >= 0")
    say = progress or (lambda _msg: None)
    todo = tuple(rollups) if rollups is not None else all_rollups()
    lock_path = _local_file(config.url)
    started = time.perf_counter()
    if lock_path is None:
        return _refresh_in_place(warehouse, config.url, warehouse_url, full, late_days, todo, say)
    with _file_lock(lock_path):
        if config.file_path is None:  # SQLite: in place (its own transactions keep readers safe)
            return _refresh_in_place(
                warehouse, config.url, warehouse_url, full, late_days, todo, say
            )
        target = config.file_path
        tmp = target.with_name(f".{target.name}.{os.getpid()}.building")
        tmp.unlink(missing_ok=True)
        if target.exists() and not full:
            shutil.copyfile(target, tmp)
        try:
            result = _refresh_in_place(
                warehouse, f"duckdb:///{tmp}", warehouse_url, full, late_days, todo, say
            )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
            Path(str(tmp) + ".wal").unlink(missing_ok=True)
    say(f"serving store ready in {time.perf_counter() - started:.1f} s")
    return result


def _refresh_in_place(
    warehouse: Engine,
    serving_url: str,
    warehouse_url: str,
    full: bool,
    late_days: int,
    todo: Sequence[Rollup],
    say: Progress,
) -> RefreshResult:
    started = time.perf_counter()
    fingerprint = warehouse_fingerprint(warehouse_url)
    kwargs = {"connect_args": {"timeout": 60}} if serving_url.startswith("sqlite") else {}
    engine = create_engine(serving_url, **kwargs)
    results: list[TableResult] = []
    try:
        with warehouse.connect() as wconn:
            by_table = latest_by_table(wconn)
            latest = max((v for v in by_table.values() if v is not None), default=None)
            say(f"warehouse data through {latest.date() if latest else 'nothing yet'}")
            with engine.begin() as sconn:
                if sconn.dialect.name == "postgresql":
                    sconn.execute(text("SELECT pg_advisory_xact_lock(7381200917)"))
                refresh_log.create(sconn, checkfirst=True)
                previous = ServingStore.read_log(sconn)
                for rollup in todo:
                    results.append(
                        _refresh_one(
                            wconn, sconn, rollup, previous.get(rollup.name), fingerprint,
                            full=full, late_days=late_days,
                            through=covered_through(rollup, by_table), latest=latest,
                            say=say,
                        )
                    )  # fmt: skip
            if engine.dialect.name == "duckdb":
                with engine.connect() as sconn:
                    sconn.exec_driver_sql("CHECKPOINT")
    finally:
        engine.dispose()
    return RefreshResult(tuple(results), latest, time.perf_counter() - started)


def _refresh_one(
    wconn: Connection,
    sconn: Connection,
    rollup: Rollup,
    prev: dict | None,
    fingerprint: str,
    *,
    full: bool,
    late_days: int,
    through: dt.date | None,
    latest: dt.datetime | None,
    say: Progress,
) -> TableResult:
    t0 = time.perf_counter()
    table = rollup.table
    reusable = (
        not full
        and prev is not None
        and prev["version"] == SERVING_VERSION
        and prev["warehouse"] == fingerprint
        and prev["covered_through"] is not None
        and inspect(sconn).has_table(table.name)
    )
    since: dt.date | None = None
    if reusable and rollup.partition != "none":
        since = _to_date(prev["covered_through"]) - dt.timedelta(days=late_days)  # type: ignore[index]
    if since is None:
        table.drop(sconn, checkfirst=True)
        table.create(sconn)
    if since is not None and rollup.partition == "day":
        sconn.execute(delete(table).where(table.c.day >= since))
    written = 0
    replaced: set[tuple] = set()  # keys whose old rows are already deleted
    for data in read_batches(wconn, rollup.source(since)):
        if since is not None and rollup.partition != "day":
            _delete_keys(sconn, rollup, data, replaced)
        written += write_arrow(sconn, table, data, rollup.index)
    if since is None:
        _create_index(sconn, rollup)
    count = sconn.execute(select(func.count()).select_from(table)).scalar_one()
    seconds = time.perf_counter() - t0
    mode = "full" if since is None else "incremental"
    sconn.execute(delete(refresh_log).where(refresh_log.c.rollup == table.name))
    sconn.execute(
        refresh_log.insert().values(
            rollup=table.name,
            version=SERVING_VERSION,
            warehouse=fingerprint,
            refreshed_at=dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
            mode=mode,
            since=since,
            covered_through=through,
            warehouse_latest=latest,
            row_count=int(count),
            seconds=round(seconds, 3),
        )
    )
    detail = f"from {since}" if since else "all history"
    say(f"{table.name}: {mode} ({detail}), {written:,} rows written, {count:,} in all, "
        f"{seconds:.2f} s")  # fmt: skip
    return TableResult(table.name, mode, since, written, int(count), seconds)


def _create_index(sconn: Connection, rollup: Rollup) -> None:
    """The rollup's index on a row store, built after the bulk load (cheaper than during it)."""
    if sconn.dialect.name == "duckdb" or not rollup.index:
        return
    quote = sconn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(c) for c in rollup.index)
    # DDL text, not sqlalchemy.Index: an Index object would attach itself to the shared Table
    sconn.execute(
        text(f"CREATE INDEX {quote(rollup.name + '_ix')} ON {quote(rollup.name)} ({columns})")
    )
    if sconn.dialect.name == "postgresql":
        sconn.execute(text(f'ANALYZE "{rollup.name}"'))  # plans need the new row counts


def _delete_keys(sconn: Connection, rollup: Rollup, data, replaced: set[tuple]) -> None:  # noqa: ANN001 - pa.Table
    """Delete the stored rows of the keys in ``data`` not deleted yet (rows of one key can
    arrive in several batches: only the first batch's delete may run)."""
    table = rollup.table
    if data.num_rows == 0:
        return
    keys = {tuple(row) for row in zip(*(data.column(k).to_pylist() for k in rollup.key_columns),
                                      strict=True)} - replaced  # fmt: skip
    replaced |= keys
    if len(rollup.key_columns) == 1:
        (col,) = rollup.key_columns
        values = sorted(k[0] for k in keys)
        for i in range(0, len(values), 500):
            sconn.execute(delete(table).where(table.c[col].in_(values[i : i + 500])))
        return
    for key in keys:
        cond = [table.c[c] == v for c, v in zip(rollup.key_columns, key, strict=True)]
        sconn.execute(delete(table).where(*cond))


def _to_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
