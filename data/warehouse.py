"""Where the warehouse is and how to open it (read-only), without Streamlit.

Resolution order for the warehouse URL:

1. ``[connections.warehouse] url = "..."`` in ``.streamlit/secrets.toml`` (Streamlit's own
   convention; the app reads it through ``st.connection``),
2. the environment variable ``LOOPLENS_WAREHOUSE_URL``,
3. the embedded demo DuckDB file ``.looplens/demo.duckdb`` (generated on first start).

The app never writes to the warehouse. DuckDB files are opened with ``read_only=True`` so a CLI
or a second process can read the same file at the same time.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote_plus

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

ENV_VAR = "LOOPLENS_WAREHOUSE_URL"
DUCKDB_MEMORY_ENV = "LOOPLENS_DUCKDB_MEMORY_LIMIT"
DUCKDB_THREADS_ENV = "LOOPLENS_DUCKDB_THREADS"
DUCKDB_READ_LIMITS: dict[str, Any] = {}
"""Per-database limits for read-only DuckDB engines (the app's warehouse and serving store):
none by default (DuckDB's own: 80% of RAM, one thread per core).

Opt in with ``LOOPLENS_DUCKDB_MEMORY_LIMIT`` (e.g. ``256MB``) and ``LOOPLENS_DUCKDB_THREADS``
to cap one app process's buffer cache (see docs/scaling.md). Not on by default: every engine
on one DuckDB file in a process must use the same config (DuckDB refuses a second one), and a
live fallback query at 1M customers can need more than 128MB.
"""
PROJECT_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("LOOPLENS_HOME", PROJECT_ROOT / ".looplens"))
DEMO_PATH = STATE_DIR / "demo.duckdb"
SECRETS_PATH = PROJECT_ROOT / ".streamlit" / "secrets.toml"

Source = Literal["secrets", "env", "demo"]


@dataclass(frozen=True)
class WarehouseConfig:
    """A resolved warehouse location. ``url`` may hold a password: show ``masked_url``."""

    url: str
    source: Source

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    @property
    def is_demo(self) -> bool:
        return self.source == "demo"

    @property
    def dialect(self) -> str:
        try:
            return make_url(self.url).get_backend_name()
        except (ArgumentError, ValueError):
            return "unknown"


CURRENCY_ENV = "LOOPLENS_CURRENCY"


def demo_currency() -> str:
    """The embedded demo's currency: ``LOOPLENS_CURRENCY``, then ``[looplens] currency`` in the
    secrets file, then USD. Only USD and VND have a demo (data.demo.localise); any other
    currency keeps the USD demo."""
    code = os.environ.get(CURRENCY_ENV, "").strip().upper()
    if not code and SECRETS_PATH.exists():
        try:
            with SECRETS_PATH.open("rb") as fh:
                code = str(tomllib.load(fh).get("looplens", {}).get("currency", "")).upper()
        except (OSError, tomllib.TOMLDecodeError):
            code = ""
    return code if code in {"USD", "VND"} else "USD"


def demo_path(currency: str | None = None) -> Path:
    """The demo file of a currency: ``demo.duckdb`` (USD) or ``demo-vnd.duckdb`` (VND), so a
    switch of currency never shows one demo's amounts in another's."""
    code = (currency or demo_currency()).upper()
    return DEMO_PATH if code == "USD" else DEMO_PATH.with_name(f"demo-{code.lower()}.duckdb")


def demo_url(path: Path | None = None) -> str:
    return f"duckdb:///{path if path is not None else demo_path()}"


def read_secrets_url(path: Path | None = None, connection: str = "warehouse") -> str | None:
    """The ``[connections.<connection>] url`` from a secrets file (default: the project's)."""
    path = SECRETS_PATH if path is None else path
    if not path.exists():
        return None
    with path.open("rb") as fh:
        secrets = tomllib.load(fh)
    url = secrets.get("connections", {}).get(connection, {}).get("url")
    return str(url) if url else None


def resolve_config(secrets_url: str | None = None) -> WarehouseConfig:
    """Pick the warehouse URL: secrets, then ``LOOPLENS_WAREHOUSE_URL``, then the demo file.

    ``secrets_url`` lets the app pass what ``st.secrets`` holds; the CLI reads the file itself.
    """
    if secrets_url is None:
        try:
            secrets_url = read_secrets_url()
        except (OSError, tomllib.TOMLDecodeError):
            secrets_url = None
    if secrets_url:
        return WarehouseConfig(secrets_url, "secrets")
    env_url = os.environ.get(ENV_VAR, "").strip()
    if env_url:
        return WarehouseConfig(env_url, "env")
    return WarehouseConfig(demo_url(), "demo")


SECRET_QUERY_KEY = re.compile(r"pass|pwd|token|secret|key|credential|auth|sig", re.IGNORECASE)
"""A URL query parameter whose name matches this holds a secret (``?password=``, Snowflake's
``private_key_file_pwd``, ``?token=``, ``?api_key=``, ``?sig=``): it is masked like a password."""
MASK = "***"


def mask_url(url: str) -> str:
    """The URL with its password and every secret-looking query value replaced by ``***``
    (also for unparsable URLs)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: non-numeric port
        # Unparsable: still hide anything that looks like user:password@host or ?secret=value.
        masked = re.sub(r"((?:^|(?<=://)|(?<=\s))[^\s:/@]+):([^\s@/]*)@", r"\1:***@", url)
        return re.sub(
            r"([?&;][^=&;\s]*(?:pass|pwd|token|secret|key|credential|auth|sig)[^=&;\s]*=)[^&;\s]*",
            rf"\1{MASK}",
            masked,
            flags=re.IGNORECASE,
        )
    rendered = parsed.render_as_string(hide_password=True)
    secret_keys = [k for k in parsed.query if SECRET_QUERY_KEY.search(k)]
    if not secret_keys:
        return rendered
    # Rebuild the query by hand: URL.render_as_string would percent-encode the mask.
    base = rendered.split("?", 1)[0]
    parts = []
    for key, value in parsed.query.items():
        values = [value] if isinstance(value, str) else list(value)
        for item in values:
            shown = MASK if key in secret_keys else quote_plus(str(item))
            parts.append(f"{quote_plus(key)}={shown}")
    return f"{base}?{'&'.join(parts)}"


SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


def to_url(target: str | os.PathLike) -> str:
    """A SQLAlchemy URL for ``target``: a URL, or a bare file path (what every CLI accepts).

    Anything containing ``://`` is a URL and returned as given (stripped). Anything else is a
    file path, made absolute: ``.sqlite`` / ``.sqlite3`` / ``.db`` files are SQLite, every other
    path is a DuckDB file. ``ValueError`` for an empty target. The URL is not validated here
    (``open_engine`` / ``make_url`` raise ``ArgumentError`` on a malformed one).
    """
    text = os.fspath(target).strip()
    if not text:
        raise ValueError("empty warehouse location: give a SQLAlchemy URL or a file path")
    if "://" in text:
        return text
    path = Path(text).expanduser().resolve()
    backend = "sqlite" if path.suffix.lower() in SQLITE_SUFFIXES else "duckdb"
    return f"{backend}:///{path}"


def duckdb_read_config() -> dict[str, Any]:
    """DuckDB ``config`` for read-only engines: :data:`DUCKDB_READ_LIMITS`, env overrides."""
    config: dict[str, Any] = dict(DUCKDB_READ_LIMITS)
    memory = os.environ.get(DUCKDB_MEMORY_ENV, "").strip()
    if memory:
        config["memory_limit"] = memory
    threads = os.environ.get(DUCKDB_THREADS_ENV, "").strip()
    if threads:
        config["threads"] = int(threads)
    return config


READ_ONLY_OPTION = "-c default_transaction_read_only=on"
"""libpq ``options`` that make every transaction of a PostgreSQL session read-only."""
MYSQL_READ_ONLY = "SET SESSION TRANSACTION READ ONLY"


def read_only_url(url: str | URL) -> str | URL:
    """``url`` rewritten so the driver itself opens the database read-only, where the URL is
    the only way to say so: an SQLite file becomes ``file:<path>?mode=ro`` (an SQLite URI).
    Every other URL is returned unchanged (see :func:`engine_kwargs`)."""
    parsed = make_url(url)
    database = parsed.database or ""
    if (
        parsed.get_backend_name() != "sqlite"
        or database in ("", ":memory:")
        or database.startswith("file:")
        or parsed.query.get("uri")
    ):
        return url
    path = Path(database).expanduser().resolve()
    return parsed.set(database=f"file:{path}?mode=ro", query={**parsed.query, "uri": "true"})


def engine_kwargs(url: str | URL, *, read_only: bool = True) -> dict[str, Any]:
    """``create_engine`` keyword arguments for a warehouse URL.

    With ``read_only`` the session is read-only in the database itself, not only by grants:
    DuckDB files are opened with ``read_only`` (so another process can read the same file),
    with the memory and thread limits of :func:`duckdb_read_config` (every read-only engine on
    one file in a process must get the same config: DuckDB refuses a second one); PostgreSQL
    sessions get ``default_transaction_read_only=on`` (any write fails with "cannot execute
    ... in a read-only transaction"); MySQL / MariaDB sessions run ``SET SESSION TRANSACTION
    READ ONLY``; SQLite files are opened ``mode=ro`` by :func:`read_only_url`. Other dialects
    (Snowflake, BigQuery, ...) have no session switch: use a read-only role.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"pool_pre_ping": backend not in ("duckdb", "sqlite")}
    if not read_only:
        return kwargs
    if backend == "duckdb":
        config = duckdb_read_config()
        kwargs["connect_args"] = {"read_only": True, **({"config": config} if config else {})}
    elif backend == "postgresql":
        given = parsed.query.get("options")
        given = given if isinstance(given, str) else " ".join(given or ())
        kwargs["connect_args"] = {"options": f"{given} {READ_ONLY_OPTION}".strip()}
    elif backend in ("mysql", "mariadb"):
        kwargs["connect_args"] = {"init_command": MYSQL_READ_ONLY}
    return kwargs


def open_engine(url: str | URL, *, read_only: bool = True) -> Engine:
    """Create (not connect) an engine for the warehouse, read-only by default (see
    :func:`engine_kwargs`). Raises ``ArgumentError`` on bad URLs."""
    target = read_only_url(url) if read_only else url
    return create_engine(target, **engine_kwargs(url, read_only=read_only))


def duckdb_path(url: str) -> Path | None:
    """The file path of a ``duckdb:///path`` URL, or None for other URLs / in-memory."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "duckdb" or not parsed.database:
        return None
    if parsed.database in (":memory:", ""):
        return None
    return Path(parsed.database)
