"""Turn a failed warehouse connection or query into a specific, actionable :class:`Problem`.

``diagnose(exc, url)`` looks at the exception chain (the SQLAlchemy wrapper, the driver's own
exception, its SQLSTATE where the driver reports one) and the URL, and names the cause: a bad
URL, a missing driver package, an unreachable or unknown host, refused credentials, a missing
database or DuckDB file, a DuckDB file locked by another process, missing privileges, a
timeout. Anything else falls back to the driver's first line. Every message says what to do,
and no message ever contains the password (URLs go through :func:`data.warehouse.mask_url`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, StatementError

from data.warehouse import ENV_VAR, SECRET_QUERY_KEY, mask_url
from i18n import _

Severity = Literal["error", "warning"]

DOCS = "docs/warehouse.md"


@dataclass(frozen=True)
class Problem:
    """One specific problem: a stable ``code``, a one-line ``title``, what was seen
    (``detail``) and what to do about it (``fix``). ``severity`` is ``error`` (LoopLens cannot
    use the data) or ``warning`` (it can, but the numbers may mislead)."""

    code: str
    title: str
    detail: str
    fix: str
    severity: Severity = "error"


class ErrorCode(StrEnum):
    """Causes of a failed connection or query."""

    BAD_URL = "bad_url"
    DRIVER_MISSING = "driver_missing"
    UNKNOWN_DIALECT = "unknown_dialect"
    HOST_NOT_FOUND = "host_not_found"
    HOST_UNREACHABLE = "host_unreachable"
    AUTH_FAILED = "auth_failed"
    ROLE_MISSING = "role_missing"
    DATABASE_MISSING = "database_missing"
    FILE_MISSING = "file_missing"
    FILE_LOCKED = "file_locked"
    NOT_A_DATABASE = "not_a_database"
    PERMISSION_DENIED = "permission_denied"
    TIMEOUT = "timeout"
    SCHEMA_MISMATCH = "schema_mismatch"
    UNKNOWN = "unknown"


# SQLAlchemy dialect (URL scheme before "+") -> the pip package that provides it.
DIALECT_PACKAGES: dict[str, str] = {
    "snowflake": "snowflake-sqlalchemy",
    "bigquery": "sqlalchemy-bigquery",
    "redshift": "sqlalchemy-redshift",
    "trino": "trino",
    "duckdb": "duckdb-engine",
    "databricks": "databricks-sqlalchemy",
    "clickhouse": "clickhouse-sqlalchemy",
    "awsathena": "pyathena[sqlalchemy]",
}

# Python module a driver imports -> the pip package that provides it.
MODULE_PACKAGES: dict[str, str] = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pg8000": "pg8000",
    "asyncpg": "asyncpg",
    "MySQLdb": "mysqlclient",
    "pymysql": "pymysql",
    "pyodbc": "pyodbc",
    "oracledb": "oracledb",
    "redshift_connector": "redshift-connector",
    "snowflake": "snowflake-sqlalchemy",
    "google": "sqlalchemy-bigquery",
    "trino": "trino",
    "duckdb": "duckdb",
    "duckdb_engine": "duckdb-engine",
    "databricks": "databricks-sqlalchemy",
    "pyathena": "pyathena[sqlalchemy]",
}

_BUILTIN_DIALECTS = frozenset({"postgresql", "mysql", "mariadb", "sqlite", "oracle", "mssql"})

_SUPPORTED_EXAMPLES = (
    "duckdb:///path/to/file.duckdb, postgresql+psycopg://user:password@host:5432/db, "
    "snowflake://user:password@account/db/schema, bigquery://project/dataset, "
    "redshift+redshift_connector://user:password@host:5439/db, trino://user@host:8080/catalog/schema"
)

# SQLSTATE classes (PostgreSQL, Redshift, Trino-compatible drivers) -> cause.
_SQLSTATE: dict[str, ErrorCode] = {
    "28P01": ErrorCode.AUTH_FAILED,
    "28000": ErrorCode.AUTH_FAILED,
    "3D000": ErrorCode.DATABASE_MISSING,
    "42501": ErrorCode.PERMISSION_DENIED,
    "57014": ErrorCode.TIMEOUT,
    "42703": ErrorCode.SCHEMA_MISMATCH,  # undefined_column
    "42P01": ErrorCode.SCHEMA_MISMATCH,  # undefined_table
}

# Message patterns (regular expressions on the lower-cased driver message), checked in order:
# the first match wins.
_PATTERNS: tuple[tuple[ErrorCode, str], ...] = (
    (ErrorCode.FILE_LOCKED, r"could not set lock on file|conflicting lock|database is locked"),
    (
        ErrorCode.FILE_MISSING,
        r"read-only mode: database does not exist|unable to open database file",
    ),
    (ErrorCode.NOT_A_DATABASE, r"not a valid duckdb database file|file is not a database"),
    (ErrorCode.TIMEOUT, r"timeout|timed out|canceling statement due to"),
    (
        ErrorCode.AUTH_FAILED,
        r"password authentication failed|authentication failed|no password supplied"
        r"|incorrect username or password|invalid credentials|access denied for user"
        r"|login failed|no pg_hba\.conf entry|invalid authorization specification",
    ),
    (ErrorCode.ROLE_MISSING, r"role \"[^\"]*\" does not exist|user does not exist"),
    (ErrorCode.DATABASE_MISSING, r"database [\"'][^\"']*[\"'] does not exist|unknown database"),
    (
        ErrorCode.HOST_NOT_FOUND,
        r"failed to resolve|name or service not known|could not translate host name"
        r"|nodename nor servname|temporary failure in name resolution|getaddrinfo failed"
        r"|nameresolutionerror",
    ),
    (
        ErrorCode.HOST_UNREACHABLE,
        r"connection refused|no route to host|network is unreachable"
        r"|failed to establish a new connection|could not connect to server"
        r"|server closed the connection unexpectedly",
    ),
    (
        ErrorCode.PERMISSION_DENIED,
        r"permission denied|insufficient privilege|access denied|not authorized"
        r"|does not have privilege",
    ),
    (
        ErrorCode.SCHEMA_MISMATCH,
        r"referenced column .* not found|does not have a column named|no such column"
        r"|column .* does not exist"
        r"|table with name .* does not exist|no such table|relation .* does not exist",
    ),
)


def diagnose(exc: BaseException, url: str) -> Problem:
    """A specific :class:`Problem` for an exception raised while opening or querying ``url``.

    ``url`` is the real warehouse URL (it may hold a password); the result never contains the
    password, only the masked URL.
    """
    secrets = _secrets(url)
    masked = _scrub(mask_url(url), secrets, url, "")
    message = _scrub(_driver_message(exc), secrets, url, masked)
    first_line = message.splitlines()[0].strip() if message.strip() else type(exc).__name__

    parsed, url_error = _parse(url)
    if url_error is not None:
        return _bad_url(masked, url_error)
    if isinstance(exc, NoSuchModuleError):
        return _no_such_module(exc, parsed, masked)
    if isinstance(exc, ArgumentError):
        return _bad_url(masked, first_line)
    if isinstance(exc, ModuleNotFoundError | ImportError):
        return _driver_missing(parsed, getattr(exc, "name", None), first_line)
    if isinstance(exc, ValueError) and "invalid literal for int()" in first_line:
        return _bad_url(masked, _("the port is not a number"))

    code = _classify(exc, message)
    return _problem(code, parsed, masked, first_line)


# -- classification -----------------------------------------------------------------------


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, the driver exception it wraps (``.orig``) and their causes."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop(0)
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        todo.extend([getattr(item, "orig", None), item.__cause__, item.__context__])
    return seen


def _driver_message(exc: BaseException) -> str:
    """The driver's own message (without SQLAlchemy's SQL echo and background link)."""
    if getattr(exc, "orig", None) is None and isinstance(exc.__cause__, StatementError):
        exc = exc.__cause__  # e.g. pandas' DatabaseError wrapping SQLAlchemy's, SQL echoed
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc)
    return text.split("\n(Background on this error")[0]


def _classify(exc: BaseException, message: str) -> ErrorCode:
    chain = _chain(exc)
    # The driver message plus the driver exceptions' names and texts (not SQLAlchemy's
    # wrapper text, which echoes the SQL statement).
    texts = [message] + [
        type(i).__name__ if isinstance(i, StatementError) else f"{type(i).__name__} {i}"
        for i in chain
    ]
    haystack = "\n".join(texts).lower()
    for code, pattern in _PATTERNS:
        if re.search(pattern, haystack):
            return code
    for item in chain:
        state = getattr(item, "sqlstate", None) or getattr(item, "pgcode", None)
        if state in _SQLSTATE:
            return _SQLSTATE[state]
        if isinstance(item, TimeoutError):
            return ErrorCode.TIMEOUT
    for item in chain:
        if isinstance(item, PermissionError):
            return ErrorCode.PERMISSION_DENIED
        if isinstance(item, ConnectionRefusedError):
            return ErrorCode.HOST_UNREACHABLE
    return ErrorCode.UNKNOWN


# -- URL helpers ----------------------------------------------------------------------------


def _parse(url: str) -> tuple[URL | None, str | None]:
    """The parsed URL, or an explanation of why it cannot be parsed."""
    if not url or not url.strip():
        return None, _("the URL is empty")
    try:
        parsed = make_url(url)
        _port = parsed.port  # raises ValueError for a non-numeric port
    except ArgumentError:
        return None, _("it is not of the form dialect+driver://user:password@host:port/database")
    except ValueError:
        return None, _("the port is not a number")
    return parsed, None


_SECRET_KEYS = SECRET_QUERY_KEY


def _secrets(url: str) -> list[str]:
    """The password and any secret-looking query values (``?token=...``) of a URL."""
    found: list[str] = []
    try:
        parsed = make_url(url)
        if parsed.password:
            found.append(str(parsed.password))
        for key, value in parsed.query.items():
            if _SECRET_KEYS.search(key):
                found.extend([value] if isinstance(value, str) else list(value))
    except (ArgumentError, ValueError):
        match = re.search(r"://[^:/@]*:([^@]*)@", url)
        if match:
            found.append(match.group(1))
        found.extend(
            re.findall(
                r"[?&;][^=&;]*(?:pass|pwd|token|secret|key|credential|auth|sig)[^=&;]*=([^&;]+)",
                url,
                re.IGNORECASE,
            )
        )
    # longest first, so a secret containing another is removed whole
    return sorted({s for s in found if s}, key=len, reverse=True)


def _scrub(text: str, secrets: list[str], url: str, masked: str) -> str:
    """Remove the secrets (and the raw URL) from a message."""
    if masked and url and url != masked:
        text = text.replace(url, masked)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _where(parsed: URL | None) -> str:
    if parsed is None or not parsed.host:
        return "the server"
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def _package_for(parsed: URL | None, module: str | None) -> str | None:
    if module:
        root = module.split(".")[0]
        if root in MODULE_PACKAGES:
            return MODULE_PACKAGES[root]
    if parsed is not None:
        backend = parsed.get_backend_name()
        driver = parsed.get_driver_name() if "+" in parsed.drivername else ""
        if driver and driver in MODULE_PACKAGES:
            return MODULE_PACKAGES[driver]
        return DIALECT_PACKAGES.get(backend)
    return None


# -- problem builders ---------------------------------------------------------------------


def _bad_url(masked: str, why: str) -> Problem:
    return Problem(
        ErrorCode.BAD_URL,
        _("The warehouse URL cannot be read"),
        f"`{masked}`: {why}.",
        _(
            "Write the URL as `dialect+driver://user:password@host:port/database`, e.g. "
            "{SUPPORTED_EXAMPLES}. URL-encode special characters in the password (`@` → `%40`, "
            "`/` → `%2F`, `:` → `%3A`; Python: `urllib.parse.quote_plus`). Set it in "
            "`.streamlit/secrets.toml` (`[connections.warehouse] url = ...`) or in the "
            "`{ENV_VAR}` environment variable."
        ).format(SUPPORTED_EXAMPLES=_SUPPORTED_EXAMPLES, ENV_VAR=ENV_VAR),
    )


def _no_such_module(exc: NoSuchModuleError, parsed: URL | None, masked: str) -> Problem:
    plugin = str(exc).rsplit(":", 1)[-1].strip() if ":" in str(exc) else ""
    name = parsed.drivername if parsed is not None else plugin.replace(".", "+")
    backend, _plus, driver = name.partition("+")
    packages = [DIALECT_PACKAGES[backend]] if backend in DIALECT_PACKAGES else []
    if packages and driver in MODULE_PACKAGES and MODULE_PACKAGES[driver] not in packages:
        packages.append(MODULE_PACKAGES[driver])
    if packages:
        return Problem(
            ErrorCode.DRIVER_MISSING,
            _("The {backend} driver is not installed").format(backend=backend),
            _("SQLAlchemy cannot load the `{name}` dialect used by `{masked}`.").format(
                name=name, masked=masked
            ),
            _(
                "Install it into the app's environment: `pip install {packages}` (add it to your "
                "requirements), then restart LoopLens."
            ).format(packages=" ".join(packages)),
        )
    if driver and backend in _BUILTIN_DIALECTS:
        return Problem(
            ErrorCode.UNKNOWN_DIALECT,
            f"Unknown {backend} driver `{driver}`",
            _(
                "SQLAlchemy's {backend} dialect has no driver called `{driver}` (from `{masked}`)."
            ).format(backend=backend, driver=driver, masked=masked),
            _(
                "Check the part after `+` in the URL, e.g. `postgresql+psycopg://...`; or leave it "
                "out to use the default driver. Examples: {SUPPORTED_EXAMPLES}."
            ).format(SUPPORTED_EXAMPLES=_SUPPORTED_EXAMPLES),
        )
    return Problem(
        ErrorCode.UNKNOWN_DIALECT,
        _("Unknown database type `{name}`").format(name=name),
        _("SQLAlchemy has no dialect called `{name}` (from `{masked}`).").format(
            name=name, masked=masked
        ),
        _(
            "Check the spelling of the part before `://`. Examples: {SUPPORTED_EXAMPLES}. Other "
            "databases need their SQLAlchemy dialect package installed."
        ).format(SUPPORTED_EXAMPLES=_SUPPORTED_EXAMPLES),
    )


def _driver_missing(parsed: URL | None, module: str | None, first_line: str) -> Problem:
    package = _package_for(parsed, module)
    backend = parsed.get_backend_name() if parsed is not None else "database"
    install = (
        f"`pip install {package}`"
        if package
        else _("the package that provides `{module}`").format(module=module)
    )
    return Problem(
        ErrorCode.DRIVER_MISSING,
        _("The {backend} driver is not installed").format(backend=backend),
        _("Python could not import the driver: {first_line}.").format(first_line=first_line),
        _(
            "Install {install} into the app's environment (add it to your requirements), then "
            "restart LoopLens."
        ).format(install=install),
    )


def _problem(code: ErrorCode, parsed: URL | None, masked: str, first_line: str) -> Problem:
    where = _where(parsed)
    user = parsed.username if parsed is not None and parsed.username else "(none)"
    database = parsed.database if parsed is not None and parsed.database else "(none)"
    backend = parsed.get_backend_name() if parsed is not None else "database"
    seen = _("The driver said: {first_line}").format(first_line=first_line)
    match code:
        case ErrorCode.HOST_NOT_FOUND:
            return Problem(
                code,
                _("Host `{value}` not found").format(value=parsed.host if parsed else "?"),
                _("The name in `{masked}` does not resolve (DNS). {seen}").format(
                    masked=masked, seen=seen
                ),
                _(
                    "Check the host name for typos; if it is an "
                    "internal name, run LoopLens where that "
                    "name resolves (VPN, same network) or use the IP address."
                ),
            )
        case ErrorCode.HOST_UNREACHABLE:
            return Problem(
                code,
                f"Cannot reach {where}",
                _("Nothing accepted the connection at {where} (`{masked}`). {seen}").format(
                    where=where, masked=masked, seen=seen
                ),
                _(
                    "Check that the server is running and listening on "
                    "that host and port, that the port "
                    "in the URL is right, and that no firewall, VPN or security group blocks this "
                    "machine."
                ),
            )
        case ErrorCode.AUTH_FAILED:
            return Problem(
                code,
                _("The warehouse refused the login for user `{user}`").format(user=user),
                _("Authentication failed at {where}. {seen}").format(where=where, seen=seen),
                _(
                    "Check the user name and password in the URL "
                    "(URL-encode special characters in the "
                    "password), that the account is not locked or "
                    "expired, and that the server allows "
                    "logins from this machine (PostgreSQL: `pg_hba.conf`)."
                ),
            )
        case ErrorCode.ROLE_MISSING:
            return Problem(
                code,
                _("User `{user}` does not exist on {where}").format(user=user, where=where),
                seen,
                "Fix the user name in the URL, or ask your DBA to create a read-only login: "
                f"`CREATE ROLE {user} LOGIN PASSWORD '...'` then `GRANT SELECT` on the "
                f"LoopLens views (see {DOCS}).",
            )
        case ErrorCode.DATABASE_MISSING:
            return Problem(
                code,
                _("Database `{database}` does not exist on {where}").format(
                    database=database, where=where
                ),
                seen,
                _(
                    "Fix the database name after the last `/` in the "
                    "URL (list them with `\\l` in psql, "
                    "or `SHOW DATABASES`), or create the database."
                ),
            )
        case ErrorCode.FILE_MISSING:
            return Problem(
                code,
                _("The {backend} file does not exist").format(backend=backend),
                _(
                    "No database file at `{database}`. LoopLens opens "
                    "warehouse files read-only and "
                    "never creates them. {seen}"
                ).format(database=database, seen=seen),
                _(
                    "Check the path in the URL "
                    "(`duckdb:///relative/path` or `duckdb:////absolute/path` "
                    "— four slashes for an absolute path). For the demo, "
                    "delete `.looplens/` and restart "
                    "the app to regenerate it."
                ),
            )
        case ErrorCode.FILE_LOCKED:
            return Problem(
                code,
                _("The {backend} file is locked by another process").format(backend=backend),
                _("`{database}` is open for writing elsewhere. {seen}").format(
                    database=database, seen=seen
                ),
                _(
                    "Close the other program that has the file open read-write (a DuckDB CLI, a "
                    "notebook, a loader job), or have it open the file "
                    "read-only (`duckdb -readonly`, "
                    "`duckdb.connect(path, read_only=True)`), then re-check. Alternatively point "
                    "LoopLens at a copy of the file."
                ),
            )
        case ErrorCode.NOT_A_DATABASE:
            return Problem(
                code,
                _("`{database}` is not a {backend} database").format(
                    database=database, backend=backend
                ),
                seen,
                _(
                    "Check that the URL points at the right file and "
                    "that the URL scheme matches the "
                    "file type (`duckdb:///` for DuckDB files, "
                    "`sqlite:///` for SQLite). A file written "
                    "by a newer DuckDB version needs a matching `duckdb` package."
                ),
            )
        case ErrorCode.SCHEMA_MISMATCH:
            return Problem(
                code,
                _("A table or column the query needs is missing"),
                _("The warehouse `{masked}` does not match the LoopLens contract. {seen}").format(
                    masked=masked, seen=seen
                ),
                _(
                    "Create the missing column or table (usually by "
                    "adding it to the view that maps your "
                    "data onto the contract; see {DOCS}). The **Data "
                    "health** page lists every missing "
                    "table and column."
                ).format(DOCS=DOCS),
            )
        case ErrorCode.PERMISSION_DENIED:
            return Problem(
                code,
                _("User `{user}` lacks a privilege").format(user=user),
                seen,
                f"Grant the LoopLens user read access: `GRANT USAGE ON SCHEMA <schema> TO {user}` "
                f"and `GRANT SELECT ON ALL TABLES IN SCHEMA <schema> TO {user}` (PostgreSQL "
                "syntax; Snowflake/BigQuery have equivalent roles). For files, check the file "
                f"and folder permissions. See {DOCS}.",
            )
        case ErrorCode.TIMEOUT:
            return Problem(
                code,
                _("The warehouse at {where} did not answer in time").format(where=where),
                seen,
                _(
                    "Check that the server is up and reachable (a "
                    "firewall that silently drops packets "
                    "looks like a timeout), or that the warehouse is "
                    "not suspended or overloaded; for "
                    "slow queries, raise the statement timeout for the "
                    "LoopLens user or add indexes / "
                    "clustering on the time columns."
                ),
            )
    return Problem(
        ErrorCode.UNKNOWN,
        _("The warehouse returned an error"),
        f"`{masked}`: {first_line}",
        _(
            "Read the driver's message above; check the URL, the network and the credentials. If "
            "it persists, try the same URL from a SQL client. See {DOCS}."
        ).format(DOCS=DOCS),
    )
