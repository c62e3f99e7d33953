"""The app-state store: the one database LoopLens writes to (the warehouse stays read-only).

Where it is (first match wins, the same order as the warehouse URL):

1. ``[connections.app_state] url = "..."`` in ``.streamlit/secrets.toml``,
2. the environment variable ``LOOPLENS_APP_STATE_URL``,
3. the embedded SQLite file ``.looplens/app_state.sqlite`` (created on first use).

Any SQLAlchemy URL works; SQLite files, DuckDB files and PostgreSQL are tested. Do not point it at
the warehouse DuckDB file: a read-write DuckDB connection locks the file against other processes.

The schema has its own ``MetaData`` (never the warehouse contract's) and is created on first use.
``schema_version`` records which version of it a database holds; a database written by a newer
LoopLens is refused rather than misread. Ids are generated in Python (no ``SERIAL``: DuckDB
rejects it). Timestamps are UTC, stored without a time zone.

Every database failure surfaces as :class:`AppStateError`, whose ``title``, ``detail`` and
``fix`` fit ``components.context.show_problem``.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    Date,
    DateTime,
    Double,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError

from data import warehouse

ENV_VAR = "LOOPLENS_APP_STATE_URL"
SECRETS_KEY = "app_state"
DEFAULT_PATH = warehouse.STATE_DIR / "app_state.sqlite"
SCHEMA_VERSION = 3
"""The schema version this code writes. Bump it (and add a migration step) on schema changes.

1: the decision log. 2: ``decisions.identity_verified`` and the ``approvals`` table.
3: ``targets``, ``alert_rules`` and ``alert_episodes`` (data.app_state.targets / .alerts)."""

BUSY_TIMEOUT_S = 30.0
"""How long an SQLite writer waits for another writer's lock before giving up, in seconds."""

WRITE_ATTEMPTS = 30
"""How often a write that lost a race (unique conflict, serialization failure) is retried."""

Source = Literal["argument", "secrets", "env", "default"]
T = TypeVar("T")

# Text limits shared by the schema and the validation messages (characters).
EXPERIMENT_ID_MAX = 64  # as data.schema.experiments.experiment_id
NAME_MAX = 200
LABEL_MAX = 64
RATIONALE_MAX = 10_000
EVIDENCE_MAX = 100_000


class DecisionKind(StrEnum):
    """What was decided about an experiment (the decision log's ``decision`` column)."""

    SHIP = "ship"  # roll the winning variant out
    ITERATE = "iterate"  # change the idea and test again
    KILL = "kill"  # stop; keep control
    EXTEND = "extend"  # keep running to collect more data


metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", DateTime, nullable=False, comment="UTC"),
    comment="one row per schema version applied to this database",
)

decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", String(32), primary_key=True, comment="uuid4 hex"),
    Column("experiment_id", String(EXPERIMENT_ID_MAX), nullable=False),
    Column("version", Integer, nullable=False, comment="1, 2, ... per experiment"),
    Column("decision", String(16), nullable=False),
    Column("rationale", Text, nullable=False),
    Column("decided_by", String(NAME_MAX), nullable=False),
    Column("evidence", Text, nullable=False, comment="JSON object"),
    Column("recommendation_at_decision", String(LABEL_MAX), nullable=True),
    Column("followed_recommendation", Boolean, nullable=True),
    Column("target_kpi", String(LABEL_MAX), nullable=True),
    Column("expected_impact", Double, nullable=True, comment="relative lift, fraction"),
    Column("rollout_date", Date, nullable=True),
    Column("recorded_at", DateTime, nullable=False, comment="UTC"),
    Column(
        "identity_verified",
        Boolean,
        nullable=True,
        comment="decided_by is a signed-in identity (True) or typed text (False); NULL: before v2",
    ),
    UniqueConstraint("experiment_id", "version", name="uq_decisions_experiment_version"),
    CheckConstraint("version >= 1", name="ck_decisions_version"),
    CheckConstraint(
        "decision IN (" + ", ".join(f"'{kind}'" for kind in DecisionKind) + ")",
        name="ck_decisions_kind",
    ),
    comment="append-only decision log: a change is a new row with the next version",
)

approvals = Table(
    "approvals",
    metadata,
    Column("approval_id", String(32), primary_key=True, comment="uuid4 hex"),
    Column("decision_id", String(32), nullable=False, unique=True, comment="decisions row"),
    Column("experiment_id", String(EXPERIMENT_ID_MAX), nullable=False),
    Column("version", Integer, nullable=False, comment="the decision version approved"),
    Column("approved_by", String(NAME_MAX), nullable=False),
    Column("identity_verified", Boolean, nullable=False),
    Column("note", Text, nullable=True),
    Column("approved_at", DateTime, nullable=False, comment="UTC"),
    comment="append-only: one approval per decision version, by someone with the approver role",
)


class AppStateError(RuntimeError):
    """The app-state store cannot be used; ``title``/``detail``/``fix`` are safe to show."""

    def __init__(self, title: str, detail: str, fix: str) -> None:
        super().__init__(f"{title}. {detail} {fix}")
        self.title = title
        self.detail = detail
        self.fix = fix


@dataclass(frozen=True)
class AppStateConfig:
    """A resolved app-state location. ``url`` may hold a password: show ``masked_url``."""

    url: str = field(repr=False)  # may hold a password
    source: Source

    @property
    def masked_url(self) -> str:
        return warehouse.mask_url(self.url)


def default_url() -> str:
    """The embedded SQLite file, ``.looplens/app_state.sqlite`` (``LOOPLENS_HOME`` moves it);
    ``app_state-vnd.sqlite`` beside the VND demo, whose targets are in đồng."""
    code = warehouse.demo_currency()
    path = (
        DEFAULT_PATH
        if code == "USD"
        else DEFAULT_PATH.with_name(f"app_state-{code.lower()}.sqlite")
    )
    return f"sqlite:///{path}"


def read_secrets_url(path: Path | None = None) -> str | None:
    """The ``[connections.app_state] url`` in a secrets file (default: the project's), or None."""
    return warehouse.read_secrets_url(path, connection=SECRETS_KEY)


def resolve_config(secrets_url: str | None = None) -> AppStateConfig:
    """Pick the URL: secrets, then ``LOOPLENS_APP_STATE_URL``, then the embedded SQLite file.

    ``secrets_url`` lets the app pass what ``st.secrets`` holds; otherwise the file is read.
    """
    if secrets_url is None:
        try:
            secrets_url = read_secrets_url()
        except (OSError, tomllib.TOMLDecodeError):
            secrets_url = None
    if secrets_url:
        return AppStateConfig(secrets_url, "secrets")
    env_url = os.environ.get(ENV_VAR, "").strip()
    if env_url:
        return AppStateConfig(env_url, "env")
    return AppStateConfig(default_url(), "default")


@dataclass(frozen=True)
class AppStateStore:
    """An engine on the app-state database whose schema is known to be current.

    Thread-safe (the engine pools connections). Create it with :func:`open_store`.
    """

    engine: Engine
    config: AppStateConfig
    read_only: bool = False
    """True when the database could only be opened for reading (a read-only file system):
    reads work, every write raises :class:`AppStateError` saying so."""

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction; database errors become :class:`AppStateError`."""
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except DBAPIError as exc:
            raise _translate(exc, self.config) from exc

    def write(self, work: Callable[[Connection], T], *, attempts: int = WRITE_ATTEMPTS) -> T:
        """Run ``work(conn)`` in one write transaction and commit; retry it if it lost a race.

        A lost race is a unique-key conflict (another writer took the same key first), a
        serialization failure or a deadlock; ``work`` must therefore be safe to run again (read
        what it needs inside the transaction). On SQLite the transaction takes the write lock at
        its start (``BEGIN IMMEDIATE``), so writers queue (up to ``BUSY_TIMEOUT_S``) instead of
        failing. Anything else, or a race lost ``attempts`` times, raises :class:`AppStateError`.
        """
        if self.read_only:
            raise AppStateError(
                "The app-state store is read-only",
                f"{self.config.masked_url} ({self.config.source}) is on a read-only file "
                "system: decisions can be read but not recorded.",
                _FIX_WRITABLE,
            )
        writer = self.engine.execution_options(looplens_write=True)
        for attempt in range(1, attempts + 1):
            try:
                with writer.connect() as conn, conn.begin():
                    return work(conn)
            except DBAPIError as exc:
                if not _lost_race(exc):
                    raise _translate(exc, self.config) from exc
                if attempt == attempts:
                    raise AppStateError(
                        "The app-state store is too busy",
                        f"A write lost {attempts} races with other writers in a row "
                        f"(last: {_first_line(exc)}).",
                        "Try again in a moment.",
                    ) from exc
                time.sleep(random.uniform(0, min(0.2, 0.002 * 2**attempt)))
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def close(self) -> None:
        """Close pooled connections (the store may still be used; it reconnects)."""
        self.engine.dispose()


def open_store(url: str | None = None) -> AppStateStore:
    """Open the app-state store at ``url`` (default: :func:`resolve_config`), creating its schema.

    Raises :class:`AppStateError` if the URL is invalid, the database is unreachable or not
    writable, or it holds a schema written by a newer LoopLens.
    """
    config = AppStateConfig(url, "argument") if url else resolve_config()
    engine = _create_engine(config)
    store = AppStateStore(engine, config)
    try:
        store.write(_ensure_schema)
    except AppStateError:
        engine.dispose()
        folder = _unwritable_sqlite_folder(config)
        if folder is None:
            raise
        return _open_read_only_sqlite(config, folder)
    return store


def _unwritable_sqlite_folder(config: AppStateConfig) -> Path | None:
    """The folder of a plain SQLite file URL when that folder cannot be written, else None."""
    try:
        parsed = make_url(config.url)
    except (ArgumentError, ValueError):
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    folder = _file_folder(parsed)
    if folder is None or os.access(folder, os.W_OK):
        return None
    return folder


def _open_read_only_sqlite(config: AppStateConfig, folder: Path) -> AppStateStore:
    """Open an SQLite store on a read-only file system for reading only.

    SQLite in WAL mode needs to create its ``-shm`` file even to read; ``immutable=1`` tells it
    that nothing can change the file (true on a read-only file system), so no file is created.
    """
    path = Path(make_url(config.url).database or "")
    where = f"{config.masked_url} ({config.source})"
    if not path.is_file():
        raise AppStateError(
            "The app-state store is read-only",
            f"{where}: {folder} is on a read-only file system (or not writable) and holds no "
            "decision log yet, so there is nothing to read and nothing can be recorded.",
            _FIX_WRITABLE,
        )
    uri = f"file:{path}?mode=ro&immutable=1"
    engine = create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
    )
    _configure_sqlite(engine)
    store = AppStateStore(engine, config, read_only=True)
    try:
        with store.read() as conn:
            current = conn.scalar(select(func.max(schema_version.c.version)))
    except AppStateError:
        engine.dispose()
        raise
    if current is None or current > SCHEMA_VERSION:
        engine.dispose()
        raise AppStateError(
            "The app-state store cannot be read",
            f"{where}: it is read-only and holds "
            + ("no LoopLens schema." if current is None else f"schema version {current}."),
            _FIX_WRITABLE,
        )
    return store


def _create_engine(config: AppStateConfig) -> Engine:
    try:
        parsed = make_url(config.url)
        backend = parsed.get_backend_name()
    except (ArgumentError, ValueError) as exc:
        raise AppStateError(
            "The app-state URL is not valid",
            f"Could not parse {config.masked_url!r} ({config.source}).",
            _FIX_URL,
        ) from exc
    kwargs: dict[str, Any] = {"pool_pre_ping": backend not in ("duckdb", "sqlite")}
    folder = _file_folder(parsed)
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AppStateError(
                "The app-state folder cannot be created",
                f"{folder}: {exc.strerror or exc}.",
                _FIX_WRITABLE,
            ) from exc
    if backend == "sqlite":
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        raise AppStateError(
            "The app-state URL is not usable",
            f"{config.masked_url!r} ({config.source}): {_first_line(exc)}.",
            _FIX_URL,
        ) from exc
    if backend == "sqlite":
        _configure_sqlite(engine)
    return engine


def _file_folder(parsed: URL) -> Path | None:
    """The folder of a plain SQLite/DuckDB file URL (created on first use), else None."""
    database = parsed.database or ""
    if parsed.get_backend_name() not in ("sqlite", "duckdb") or database in ("", ":memory:"):
        return None
    if database.startswith("file:") or parsed.query.get("uri"):
        return None  # an SQLite URI filename (e.g. mode=ro): left to the driver
    return Path(database).parent


def _configure_sqlite(engine: Engine) -> None:
    """WAL (readers never block the writer), a busy timeout, and BEGIN IMMEDIATE for writes.

    pysqlite's own transaction handling is switched off (SQLAlchemy's documented recipe) so that
    SQLAlchemy's BEGIN is the real one: reads use a deferred BEGIN, writes take the write lock
    up front so a read-then-insert cannot be overtaken between its read and its write.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            # On a read-only file this fails; the first write then reports it clearly.
            with suppress(sqlite3.OperationalError):
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("looplens_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _ensure_schema(conn: Connection) -> None:
    """Create missing tables and record the schema version; refuse a newer schema."""
    if conn.dialect.name == "postgresql":
        # Concurrent first opens would race on CREATE TABLE (duplicate_table / pg_type clashes):
        # serialise them with a transaction-scoped advisory lock.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
    metadata.create_all(conn)
    current = conn.scalar(select(func.max(schema_version.c.version)))
    if current is None:
        conn.execute(
            insert(schema_version).values(
                version=SCHEMA_VERSION, applied_at=datetime.now(UTC).replace(tzinfo=None)
            )
        )
    elif current > SCHEMA_VERSION:
        raise AppStateError(
            "The app-state store is newer than this LoopLens",
            f"It holds schema version {current}; this LoopLens knows up to {SCHEMA_VERSION}.",
            "Upgrade LoopLens, or point LOOPLENS_APP_STATE_URL at another database.",
        )
    elif current < SCHEMA_VERSION:  # migrations, one version at a time
        if current < 2:  # create_all above made `approvals`; `decisions` needs its new column
            conn.execute(text("ALTER TABLE decisions ADD COLUMN identity_verified BOOLEAN"))
        conn.execute(
            insert(schema_version).values(
                version=SCHEMA_VERSION, applied_at=datetime.now(UTC).replace(tzinfo=None)
            )
        )


_SCHEMA_LOCK_KEY = 0x100B1E25  # an arbitrary, fixed advisory-lock id for LoopLens' schema
# serialization failure, deadlock, and a CREATE that lost a race on another database kind
_SERIALIZATION_STATES = frozenset({"40001", "40P01", "42P07", "42710"})


def _lost_race(exc: DBAPIError) -> bool:
    """True for errors that mean "another writer got there first; run the transaction again"."""
    if isinstance(exc, IntegrityError):
        return True
    if getattr(exc.orig, "sqlstate", None) in _SERIALIZATION_STATES:
        return True
    # DuckDB (optimistic concurrency) reports a concurrent key clash or write-write conflict
    # at COMMIT as a TransactionException ("TransactionContext Error: Failed to commit: ...").
    return type(exc.orig).__name__ == "TransactionException"


_FIX_URL = (
    f"Check {ENV_VAR} or `[connections.{SECRETS_KEY}] url` in .streamlit/secrets.toml "
    "(any SQLAlchemy URL, e.g. sqlite:///path/app_state.sqlite), or unset both to use "
    "the embedded SQLite file."
)
_FIX_WRITABLE = (
    f"Give the app write access to it, or set {ENV_VAR} to a writable database. "
    "Everything else in LoopLens keeps working without it."
)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _translate(exc: DBAPIError, config: AppStateConfig) -> AppStateError:
    """A user-facing error for a database failure (URL masked, first driver line only)."""
    reason = _first_line(exc)
    where = f"{config.masked_url} ({config.source})"
    lowered = reason.lower()
    if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
        return AppStateError(
            "The app-state store is read-only", f"{where}: {reason}.", _FIX_WRITABLE
        )
    if "database is locked" in lowered or "could not set lock" in lowered:
        return AppStateError(
            "The app-state store is locked by another process",
            f"{where}: {reason}.",
            "Try again in a moment. A DuckDB file can be written by one process only: "
            "prefer the SQLite default or PostgreSQL when several app processes run.",
        )
    if exc.connection_invalidated or any(
        word in lowered for word in ("connect", "resolve", "unable to open", "timeout")
    ):
        return AppStateError("The app-state store is unreachable", f"{where}: {reason}.", _FIX_URL)
    return AppStateError("The app-state store failed", f"{where}: {reason}.", _FIX_URL)
