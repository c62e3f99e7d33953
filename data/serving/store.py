"""Reading the serving store: what it holds, how fresh it is, whether it covers a question.

``ServingStore`` wraps a read-only engine on the store. For the default DuckDB file it notices
when a refresh has swapped in a new file (its inode changes) and reopens, so a running app
serves the new figures without a restart. ``covers`` is the routing rule the metrics layer
applies before it answers from here instead of the warehouse.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    DateTime,
    Double,
    Engine,
    Integer,
    String,
    Table,
    inspect,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from data.serving.config import ServingConfig, warehouse_fingerprint
from data.serving.rollups import SERVING_METADATA, SERVING_VERSION
from data.warehouse import open_engine

RECORDS_TTL_SECONDS = 30.0
"""How long a store that is not a swapped file (e.g. PostgreSQL) trusts its cached log."""

refresh_log = Table(
    "ll_serving_refresh",
    SERVING_METADATA,
    Column("rollup", String(64), primary_key=True),
    Column("version", Integer, nullable=False, comment="SERVING_VERSION it was built with"),
    Column("warehouse", String(32), nullable=False, comment="fingerprint of the warehouse URL"),
    Column("refreshed_at", DateTime, nullable=False, comment="UTC, end of the refresh"),
    Column("mode", String(16), nullable=False, comment="full | incremental"),
    Column("since", Date, nullable=True, comment="first day re-read (NULL: everything)"),
    Column("covered_through", Date, nullable=True, comment="complete through this day"),
    Column("warehouse_latest", DateTime, nullable=True, comment="newest warehouse event"),
    Column("row_count", BigInteger, nullable=False),
    Column("seconds", Double, nullable=False),
    comment="one row per serving table: its last refresh",
)


@dataclass(frozen=True)
class RefreshRecord:
    """The last refresh of one serving table."""

    rollup: str
    version: int
    warehouse: str
    refreshed_at: dt.datetime
    mode: str
    since: dt.date | None
    covered_through: dt.date | None
    warehouse_latest: dt.datetime | None
    row_count: int
    seconds: float


def _as_date(value: object) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _as_datetime(value: object) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value  # type: ignore[return-value]
    return dt.datetime.fromisoformat(str(value))


class ServingStore:
    """Read access to one serving store, for one warehouse.

    ``warehouse_url`` identifies the warehouse the pages read: a store built from another
    warehouse (or by another version of LoopLens) covers nothing.
    """

    def __init__(self, config: ServingConfig, warehouse_url: str) -> None:
        self.config = config
        self.fingerprint = warehouse_fingerprint(warehouse_url)
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._file_id: tuple[int, int] | None = None
        self._records: dict[str, RefreshRecord] | None = None
        self._records_at = 0.0

    # --- the engine, reopened after a file swap ------------------------------------------

    def _current_file_id(self) -> tuple[int, int] | None:
        path = self.config.file_path
        if path is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def exists(self) -> bool:
        """Whether there is a store to read (a file-backed store: whether the file exists)."""
        return self.config.file_path is None or self._current_file_id() is not None

    def engine(self) -> Engine:
        """A read-only engine on the store (a new one after a refresh swapped the file)."""
        with self._lock:
            file_id = self._current_file_id()
            if self._engine is None or file_id != self._file_id:
                if self._engine is not None:
                    self._engine.dispose()
                self._engine = open_engine(self.config.url, read_only=True)
                self._file_id = file_id
                self._records = None
            return self._engine

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
            self._engine, self._records = None, None

    # --- what it holds --------------------------------------------------------------------

    @staticmethod
    def read_log(conn: Connection) -> dict[str, dict]:
        """The refresh log's rows by serving table, read on an open connection ({} if none)."""
        if not inspect(conn).has_table(refresh_log.name):
            return {}
        return {r["rollup"]: dict(r) for r in conn.execute(select(refresh_log)).mappings()}

    def records(self, *, reload: bool = False) -> dict[str, RefreshRecord]:
        """The refresh log by serving table ({} when there is no store or no log yet)."""
        if not self.exists():
            return {}
        engine = self.engine()
        stale = (
            self.config.file_path is None
            and time.monotonic() - self._records_at > RECORDS_TTL_SECONDS
        )
        if self._records is not None and not reload and not stale:
            return self._records
        try:
            with engine.connect() as conn:
                rows = list(self.read_log(conn).values())
        except SQLAlchemyError:
            return {}
        records = {
            r["rollup"]: RefreshRecord(
                rollup=r["rollup"],
                version=int(r["version"]),
                warehouse=r["warehouse"],
                refreshed_at=_as_datetime(r["refreshed_at"]),  # type: ignore[arg-type]
                mode=r["mode"],
                since=_as_date(r["since"]),
                covered_through=_as_date(r["covered_through"]),
                warehouse_latest=_as_datetime(r["warehouse_latest"]),
                row_count=int(r["row_count"]),
                seconds=float(r["seconds"]),
            )
            for r in rows
        }
        self._records, self._records_at = records, time.monotonic()
        return records

    def usable(self, record: RefreshRecord | None) -> bool:
        """Built for this warehouse by this version of LoopLens."""
        return (
            record is not None
            and record.version == SERVING_VERSION
            and record.warehouse == self.fingerprint
        )

    def covers(self, rollups: Iterable[str], through: dt.date) -> bool:
        """Routing rule: every named serving table is usable and complete through ``through``.

        A period ending after the last refresh's newest day is answered live: the warehouse
        may hold rows the store has not seen yet.
        """
        records = self.records()
        for name in rollups:
            rec = records.get(name)
            if not self.usable(rec) or rec.covered_through is None:  # type: ignore[union-attr]
                return False
            if through > rec.covered_through:  # type: ignore[union-attr]
                return False
        return True

    def version_key(self) -> str:
        """Changes whenever a refresh lands: part of every cache key for served figures."""
        records = self.records()
        if not records:
            return "none"
        newest = max(r.refreshed_at for r in records.values())
        return f"{self._file_id}-{newest.isoformat()}"

    def freshness(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """(last refresh time UTC, newest warehouse event it saw), over usable tables."""
        usable = [r for r in self.records().values() if self.usable(r)]
        if not usable:
            return None, None
        return (
            max(r.refreshed_at for r in usable),
            max((r.warehouse_latest for r in usable if r.warehouse_latest), default=None),
        )
