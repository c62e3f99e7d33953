"""Connection-error diagnosis from REAL failures: each case opens a real connection (or URL)
that fails the way a user's would, and checks the specific code, that the message says what to
do, and that no password ever appears in the title, detail or fix."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import create_engine, text

from data import errors
from data.errors import ErrorCode, Problem
from data.warehouse import open_engine

SECRET = "S3cr3t-pw"


def fail(url: str, sql: str = "SELECT 1", **engine_kwargs) -> Problem:
    """Open ``url`` read-only, run ``sql``, and diagnose the (required) failure."""
    try:
        engine = create_engine(url, **engine_kwargs) if engine_kwargs else open_engine(url)
        with engine.connect() as conn:
            conn.execute(text(sql))
    except Exception as exc:  # noqa: BLE001
        problem = errors.diagnose(exc, url)
    else:
        pytest.fail(f"{url} unexpectedly worked")
    for part in (problem.title, problem.detail, problem.fix):
        assert SECRET not in part
        assert part.strip()
    return problem


# -- URLs and drivers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["not a url", "", f"postgresql+psycopg://me:{SECRET}@db.example.com:port/x"],
    ids=["garbage", "empty", "bad-port"],
)
def test_bad_url(url: str) -> None:
    problem = fail(url)
    assert problem.code == ErrorCode.BAD_URL
    assert "dialect+driver://user:password@host:port/database" in problem.fix
    assert "URL-encode" in problem.fix


@pytest.mark.parametrize(
    ("url", "package"),
    [
        (f"snowflake://me:{SECRET}@acct/db/schema", "snowflake-sqlalchemy"),
        ("bigquery://project/dataset", "sqlalchemy-bigquery"),
        (
            f"redshift+redshift_connector://me:{SECRET}@host:5439/db",
            "sqlalchemy-redshift redshift-connector",
        ),
        (f"redshift://me:{SECRET}@host:5439/db", "sqlalchemy-redshift"),
        (f"mysql://me:{SECRET}@host/db", "mysqlclient"),
    ],
)
def test_driver_not_installed_names_the_pip_package(url: str, package: str) -> None:
    problem = fail(url)
    assert problem.code == ErrorCode.DRIVER_MISSING
    assert f"pip install {package}" in problem.fix


def test_unknown_dialect() -> None:
    problem = fail(f"postgress://me:{SECRET}@host/db")
    assert problem.code == ErrorCode.UNKNOWN_DIALECT
    assert "postgress" in problem.title and "duckdb:///" in problem.fix


# -- network --------------------------------------------------------------------------------------


def test_connection_refused_on_closed_port() -> None:
    problem = fail(f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/test")
    assert problem.code == ErrorCode.HOST_UNREACHABLE
    assert "127.0.0.1:1" in problem.title
    assert "running" in problem.fix and "port" in problem.fix


def test_unknown_host() -> None:
    problem = fail(f"postgresql+psycopg://postgres:{SECRET}@no-such-host.invalid:5432/test")
    assert problem.code == ErrorCode.HOST_NOT_FOUND
    assert "no-such-host.invalid" in problem.title and "DNS" in problem.detail


def test_connect_timeout_on_a_silent_server() -> None:
    """A socket that accepts TCP but never speaks PostgreSQL: the client gives up."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        url = f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:{port}/test"
        problem = fail(url, connect_args={"connect_timeout": 1})
    assert problem.code == ErrorCode.TIMEOUT
    assert "did not answer in time" in problem.title and "firewall" in problem.fix


# -- PostgreSQL server ----------------------------------------------------------------------------


def test_role_does_not_exist(pg_server: str) -> None:
    url = pg_server.replace("postgres@", f"nobody_{uuid.uuid4().hex[:6]}:{SECRET}@")
    problem = fail(url)
    assert problem.code == ErrorCode.ROLE_MISSING
    assert "does not exist" in problem.title and "CREATE ROLE" in problem.fix


def test_database_does_not_exist(pg_server: str) -> None:
    url = pg_server.rsplit("/", 1)[0] + "/no_such_database_xyz"
    problem = fail(url)
    assert problem.code == ErrorCode.DATABASE_MISSING
    assert "`no_such_database_xyz`" in problem.title and "database name" in problem.fix


def test_statement_timeout(pg_url: str) -> None:
    problem = fail(
        pg_url, "SELECT pg_sleep(2)", connect_args={"options": "-c statement_timeout=50"}
    )
    assert problem.code == ErrorCode.TIMEOUT
    assert "statement timeout" in problem.detail


def test_permission_denied_on_a_table(pg_url: str) -> None:
    role = f"looplens_ro_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE TABLE secret_orders (id int)"))
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
    try:
        problem = fail(
            pg_url.replace("postgres@", f"{role}:{SECRET}@"), "SELECT * FROM secret_orders"
        )
        assert problem.code == ErrorCode.PERMISSION_DENIED
        assert "GRANT SELECT" in problem.fix and role in problem.fix
    finally:
        with admin.connect() as conn:
            conn.execute(text("DROP TABLE secret_orders"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


@pytest.fixture(scope="module")
def password_pg() -> Iterator[int]:
    """A private PostgreSQL cluster that requires a password (the shared server uses trust
    auth, so it cannot refuse a wrong password, and its pg_hba.conf is not ours to edit).
    Yields its port. Skipped without initdb/root locally; under CI=true that is a failure
    (``.ci/run`` runs as root on a machine with the PostgreSQL server package)."""
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bins or shutil.which("runuser") is None or os.geteuid() != 0:
        reason = "needs PostgreSQL's initdb and root (to run it as the postgres user)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true does not skip")
        pytest.skip(reason)
    bindir = bins[-1].parent
    base = Path(f"/tmp/looplens_pgpw_{uuid.uuid4().hex[:8]}")
    base.mkdir()
    pwfile = base / "pw"
    pwfile.write_text(SECRET + "\n")
    shutil.chown(base, "postgres")
    shutil.chown(pwfile, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_pg, str(bindir / "initdb"), "-D", str(base / "data"), "-U", "postgres", "-N",
         "--auth=scram-sha-256", f"--pwfile={pwfile}"],
        check=True, capture_output=True,
    )  # fmt: skip
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_pg, str(bindir / "pg_ctl"), "-D", str(base / "data"), "-o", opts, "-w",
         "-l", str(base / "log"), "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield port
    finally:
        subprocess.run(
            [*as_pg, str(bindir / "pg_ctl"), "-D", str(base / "data"), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


def test_wrong_password(password_pg: int) -> None:
    ok = create_engine(f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:{password_pg}/postgres")
    with ok.connect() as conn:  # the right password works: the failure below is the password
        assert conn.execute(text("SELECT 1")).scalar() == 1
    ok.dispose()
    wrong = f"postgresql+psycopg://postgres:{SECRET}x@127.0.0.1:{password_pg}/postgres"
    problem = fail(wrong)
    assert problem.code == ErrorCode.AUTH_FAILED
    assert "refused the login for user `postgres`" in problem.title
    assert "password" in problem.fix and "password authentication failed" in problem.detail
    assert f"{SECRET}x" not in problem.detail


# -- files ----------------------------------------------------------------------------------------


def test_missing_duckdb_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.duckdb"
    problem = fail(f"duckdb:///{path}")
    assert problem.code == ErrorCode.FILE_MISSING
    assert str(path) in problem.detail and "four slashes" in problem.fix
    assert not path.exists()


def test_missing_sqlite_folder(tmp_path: Path) -> None:
    problem = fail(f"sqlite:///{tmp_path / 'no' / 'such.sqlite'}")
    assert problem.code == ErrorCode.FILE_MISSING


def test_not_a_duckdb_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("these are my notes, not a database\n" * 200)
    problem = fail(f"duckdb:///{path}")
    assert problem.code == ErrorCode.NOT_A_DATABASE
    assert "sqlite:///" in problem.fix


def test_duckdb_file_locked_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    duckdb.connect(str(path)).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
            "sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        problem = fail(f"duckdb:///{path}")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert problem.code == ErrorCode.FILE_LOCKED
    assert "read-only" in problem.fix and "another process" in problem.title


# -- fallback -------------------------------------------------------------------------------------


def test_unknown_error_shows_the_driver_first_line_masked(pg_url: str) -> None:
    url = pg_url.replace("postgres@", f"postgres:{SECRET}@")  # trust auth ignores it
    problem = fail(url, f"SELECT '{SECRET}'::int")  # the password even appears in the error
    assert problem.code == ErrorCode.UNKNOWN
    assert "invalid input syntax for type integer" in problem.detail
    assert "***" in problem.detail
    assert "\n" not in problem.detail


def test_diagnose_accepts_any_exception() -> None:
    url = f"trino://me@host:8080/hive?access_token={SECRET}"
    problem = errors.diagnose(RuntimeError(f"boom with {SECRET}"), url)
    assert problem.code == ErrorCode.UNKNOWN
    assert SECRET not in problem.detail and "boom with ***" in problem.detail


def test_unknown_driver_of_a_known_dialect() -> None:
    problem = fail(f"postgresql+psycopg9://me:{SECRET}@127.0.0.1:5432/db")
    assert problem.code == ErrorCode.UNKNOWN_DIALECT
    assert "psycopg9" in problem.title and "postgresql+psycopg://" in problem.fix


@pytest.mark.parametrize("url_fixture", ["duckdb_url", "sqlite_url", "pg_url"])
@pytest.mark.parametrize("through_pandas", [False, True])
def test_missing_column_or_table_is_a_schema_mismatch(
    url_fixture: str, through_pandas: bool, request
) -> None:
    """Real failures on three engines, raw and wrapped by pandas (which echoes the SQL)."""
    import pandas as pd
    from sqlalchemy import create_engine, text

    url = request.getfixturevalue(url_fixture)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE orders (order_id INTEGER)"))
    for sql in ("SELECT revenue FROM orders", "SELECT * FROM no_such_table"):
        with engine.connect() as conn:
            try:
                if through_pandas:
                    pd.read_sql(text(sql), conn)
                else:
                    conn.execute(text(sql))
            except Exception as exc:  # noqa: BLE001 - the failure is what we diagnose
                problem = errors.diagnose(exc, url)
            else:
                pytest.fail(f"{sql!r} should fail")
        assert problem.code == errors.ErrorCode.SCHEMA_MISMATCH, (sql, problem)
        assert "Data health" in problem.fix and "Execution failed on sql" not in problem.detail
    engine.dispose()
