"""Foundation pieces: URL resolution and masking, Filters, portable date SQL."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Date, DateTime, create_engine, literal, select
from sqlalchemy.engine import make_url
from trino.sqlalchemy.dialect import TrinoDialect

from data import sqlfuncs, warehouse
from metrics.filters import Filters, default_filters

# --- URL resolution and masking ------------------------------------------------------------


def test_resolution_order(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(warehouse.ENV_VAR, "postgresql+psycopg://u:pw@h/db")
    assert warehouse.resolve_config("duckdb:///from_secrets.duckdb").source == "secrets"
    monkeypatch.setattr(warehouse, "SECRETS_PATH", tmp_path / "absent.toml")
    config = warehouse.resolve_config()
    assert (config.source, config.dialect) == ("env", "postgresql")
    monkeypatch.delenv(warehouse.ENV_VAR)
    config = warehouse.resolve_config()
    assert config.is_demo and config.url.endswith("demo.duckdb")


def test_secrets_file_is_read(monkeypatch, tmp_path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[connections.warehouse]\nurl = "sqlite:///x.sqlite"\n')
    monkeypatch.setattr(warehouse, "SECRETS_PATH", secrets)
    monkeypatch.delenv(warehouse.ENV_VAR, raising=False)
    assert warehouse.resolve_config() == warehouse.WarehouseConfig("sqlite:///x.sqlite", "secrets")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://analyst:s3cr%40t@db.example:5432/marketing",
        "snowflake://analyst:hunter2@acct/db/schema?warehouse=wh",
        "not a url but user:hunter2@host",
    ],
)
def test_mask_url_hides_passwords(url: str) -> None:
    masked = warehouse.mask_url(url)
    for secret in ("s3cr", "hunter2"):
        assert secret not in masked
    assert "***" in masked


def test_duckdb_opened_read_only() -> None:
    assert warehouse.engine_kwargs("duckdb:///x.duckdb")["connect_args"]["read_only"] is True
    # PostgreSQL sessions are read-only too (issue 12); a user's own libpq options are kept
    pg = warehouse.engine_kwargs("postgresql+psycopg://h/db")["connect_args"]["options"]
    assert pg == "-c default_transaction_read_only=on"
    own = "postgresql+psycopg://h/db?options=-c%20search_path%3Dmkt"
    assert warehouse.engine_kwargs(own)["connect_args"]["options"] == (
        "-c search_path=mkt -c default_transaction_read_only=on"
    )
    assert "connect_args" not in warehouse.engine_kwargs("duckdb:///x.duckdb", read_only=False)
    assert "connect_args" not in warehouse.engine_kwargs("postgresql://h/db", read_only=False)


@pytest.mark.parametrize(
    ("env", "want_memory", "want_threads"),
    [({"LOOPLENS_DUCKDB_MEMORY_LIMIT": "256MB", "LOOPLENS_DUCKDB_THREADS": "2"}, 256 * 10**6, 2),
     ({"LOOPLENS_DUCKDB_MEMORY_LIMIT": "1GB", "LOOPLENS_DUCKDB_THREADS": "1"}, 10**9, 1)],
)  # fmt: skip
def test_read_only_duckdb_gets_the_opt_in_memory_and_thread_limits(
    monkeypatch, tmp_path, env: dict[str, str], want_memory: int, want_threads: int
) -> None:
    """The limits reach DuckDB itself (read back with current_setting), not only the kwargs."""
    import duckdb
    from sqlalchemy import text

    for name in ("LOOPLENS_DUCKDB_MEMORY_LIMIT", "LOOPLENS_DUCKDB_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / f"limits_{want_memory}_{want_threads}.duckdb"
    duckdb.connect(str(path)).close()  # an existing file, so read-only can open it
    engine = warehouse.open_engine(f"duckdb:///{path}")
    try:
        with engine.connect() as conn:
            memory, threads = conn.execute(
                text(
                    "SELECT (SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'),"
                    " current_setting('threads')"
                )
            ).one()
    finally:
        engine.dispose()
    # duckdb_settings() shows the limit in MiB/GiB with one decimal ("MB" in SET is 10**6)
    number, unit = memory.split()
    bytes_ = float(number) * {"MiB": 2**20, "GiB": 2**30}[unit]
    assert bytes_ == pytest.approx(want_memory, rel=0.01)
    assert int(threads) == want_threads


@pytest.mark.parametrize(
    ("target", "backend"),
    [
        ("w.duckdb", "duckdb"),
        ("no_suffix", "duckdb"),
        ("w.sqlite", "sqlite"),
        ("w.SQLITE3", "sqlite"),
        ("w.db", "sqlite"),
    ],
)
def test_to_url_turns_a_bare_path_into_an_absolute_file_url(
    target: str, backend: str, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = warehouse.to_url(target)
    parsed = make_url(url)
    assert parsed.get_backend_name() == backend
    assert Path(parsed.database) == tmp_path / target  # relative paths are resolved
    assert warehouse.to_url(tmp_path / target) == url  # a Path works too
    assert warehouse.to_url(f"  {target} ") == url


def test_to_url_keeps_urls_and_expands_home(monkeypatch, tmp_path) -> None:
    for url in ("duckdb:///x.db", "sqlite:///x.duckdb", "postgresql+psycopg://u@h:5432/db"):
        assert warehouse.to_url(url) == url  # a URL's own dialect wins over the suffix
    monkeypatch.setenv("HOME", str(tmp_path))
    assert warehouse.to_url("~/w.duckdb") == f"duckdb:///{tmp_path / 'w.duckdb'}"
    with pytest.raises(ValueError, match="empty"):
        warehouse.to_url("  ")


# --- Filters --------------------------------------------------------------------------------


def test_previous_period_has_equal_length() -> None:
    f = Filters(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    prev = f.previous_period()
    assert prev.days == f.days == 31
    assert prev.end == dt.date(2026, 2, 28)
    assert f.end_ts == dt.datetime(2026, 4, 1)


def test_query_params_round_trip() -> None:
    f = Filters(dt.date(2026, 1, 5), dt.date(2026, 2, 1), ("email", "paid_search"), ("smb",), ())
    parsed, warnings = Filters.from_query_params(
        f.to_query_params(), default=default_filters(f.end)
    )
    assert parsed == f and warnings == []


def test_hostile_query_params_are_dropped_with_warnings() -> None:
    default = default_filters(dt.date(2026, 6, 30))
    params = {
        "start": "2026-13-45",
        "end": "'; DROP TABLE customers; --",
        "channel": "email,' OR 1=1 --",
        "region": "mars",
    }
    parsed, warnings = Filters.from_query_params(params, default=default)
    assert (parsed.start, parsed.end) == (default.start, default.end)
    assert parsed.channels == ("email",) and parsed.regions == ()
    assert len(warnings) == 4


def test_end_before_start_is_rejected() -> None:
    with pytest.raises(ValueError, match="before start"):
        Filters(dt.date(2026, 2, 1), dt.date(2026, 1, 1))


# --- portable date SQL -----------------------------------------------------------------------

STAMPS = [
    dt.datetime(2026, 3, 12, 15, 30),
    dt.datetime(2024, 2, 29, 0, 0),
    dt.datetime(2025, 12, 31, 23, 59),
]


def _expected(ts: dt.datetime) -> dict[str, object]:
    """Independent reference: pandas' own calendar arithmetic."""
    t = pd.Timestamp(ts)
    return {
        "plus3": (t + pd.Timedelta(days=3)).to_pydatetime(),
        "minus40": (t - pd.Timedelta(days=40)).to_pydatetime(),
        "day": t.normalize().to_pydatetime(),
        "week": (t.normalize() - pd.Timedelta(days=t.weekday())).to_pydatetime(),
        "month": t.to_period("M").start_time.to_pydatetime(),
        "quarter": t.to_period("Q").start_time.to_pydatetime(),
        "year": t.to_period("Y").start_time.to_pydatetime(),
        "days": 3.0,
    }


def _query(ts: dt.datetime):
    x = literal(ts, DateTime)
    return select(
        sqlfuncs.add_days(x, 3).label("plus3"),
        sqlfuncs.add_days(x, -40).label("minus40"),
        *[sqlfuncs.trunc_to(g, x).label(g) for g in ("day", "week", "month", "quarter", "year")],
        sqlfuncs.days_between(x, sqlfuncs.add_days(x, 3)).label("days"),
    )


def _run_everywhere(url: str) -> None:
    engine = create_engine(url)
    with engine.connect() as conn:
        for ts in STAMPS:
            row = conn.execute(_query(ts)).mappings().one()
            got = {k: row[k] for k in _expected(ts)}
            if isinstance(got["day"], str):  # SQLite returns text for untyped expressions
                got = {
                    k: dt.datetime.fromisoformat(v) if isinstance(v, str) else v
                    for k, v in got.items()
                }
            assert got == _expected(ts), (url, ts)
    engine.dispose()


def test_date_functions_duckdb(duckdb_url: str) -> None:
    _run_everywhere(duckdb_url)


def test_date_functions_sqlite(sqlite_url: str) -> None:
    _run_everywhere(sqlite_url)


@pytest.mark.postgres
def test_date_functions_postgres(pg_url: str) -> None:
    _run_everywhere(pg_url)


def test_date_functions_compile_for_trino() -> None:
    sql = str(_query(STAMPS[0]).compile(dialect=TrinoDialect()))
    assert "date_add('day', 3" in sql and "date_trunc('week'" in sql and "date_diff('second'" in sql


def test_unknown_grain_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown grain"):
        sqlfuncs.trunc_to("fortnight", literal(STAMPS[0], DateTime))


@pytest.mark.parametrize("engine_fixture", ["duckdb_url", "sqlite_url", "pg_url"])
def test_trunc_of_a_date_is_a_naive_timestamp(engine_fixture: str, request) -> None:
    """Truncating a DATE column (e.g. daily_spend.spend_date) gives a time-zone-naive value."""
    engine = create_engine(request.getfixturevalue(engine_fixture))
    day = literal(dt.date(2026, 3, 12), Date)
    with engine.connect() as conn:
        got = conn.execute(select(sqlfuncs.trunc_to("week", day))).scalar()
    engine.dispose()
    got = dt.datetime.fromisoformat(got) if isinstance(got, str) else got
    assert got == dt.datetime(2026, 3, 9) and got.tzinfo is None


@pytest.mark.parametrize("engine_fixture", ["sqlite_url", "pg_url", "duckdb_url"])
def test_rendered_arguments_are_part_of_the_statement_cache_key(
    engine_fixture: str, request
) -> None:
    """Statements differing only in ``days`` or ``grain`` must not share compiled SQL."""
    engine = create_engine(request.getfixturevalue(engine_fixture))
    ts = literal(dt.datetime(2026, 3, 12, 15, 30), DateTime)
    with engine.connect() as conn:
        got_days = [conn.execute(select(sqlfuncs.add_days(ts, n))).scalar() for n in (7, 14)]
        got_grain = [
            conn.execute(select(sqlfuncs.trunc_to(g, ts))).scalar() for g in ("day", "month")
        ]
    engine.dispose()
    parse = lambda v: dt.datetime.fromisoformat(v) if isinstance(v, str) else v  # noqa: E731
    assert [parse(v) for v in got_days] == [
        dt.datetime(2026, 3, 19, 15, 30),
        dt.datetime(2026, 3, 26, 15, 30),
    ]
    assert [parse(v) for v in got_grain] == [dt.datetime(2026, 3, 12), dt.datetime(2026, 3, 1)]


@pytest.mark.parametrize(
    ("start", "end", "grain", "want"),
    [
        # 2026-08-30 is a Sunday, 2026-11-27 a Friday: whole weeks run Mon 31 Aug – Sun 22 Nov.
        (
            dt.date(2026, 8, 30),
            dt.date(2026, 11, 27),
            "week",
            (dt.date(2026, 8, 31), dt.date(2026, 11, 22)),
        ),
        (
            dt.date(2026, 8, 31),
            dt.date(2026, 11, 29),
            "week",
            (dt.date(2026, 8, 31), dt.date(2026, 11, 29)),
        ),
        (
            dt.date(2026, 8, 30),
            dt.date(2026, 11, 27),
            "month",
            (dt.date(2026, 9, 1), dt.date(2026, 10, 31)),
        ),
        (
            dt.date(2026, 1, 1),
            dt.date(2026, 3, 31),
            "month",
            (dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
        ),
        (
            dt.date(2026, 3, 3),
            dt.date(2026, 3, 6),
            "week",
            (dt.date(2026, 3, 3), dt.date(2026, 3, 6)),
        ),
        (
            dt.date(2026, 3, 3),
            dt.date(2026, 3, 6),
            "day",
            (dt.date(2026, 3, 3), dt.date(2026, 3, 6)),
        ),
    ],
)
def test_whole_periods(start, end, grain, want) -> None:
    got = Filters(start, end, channels=("email",)).whole_periods(grain)
    assert (got.start, got.end) == want and got.channels == ("email",)
    if grain == "week" and got.start != start:
        assert got.start.weekday() == 0 and got.end.weekday() == 6


# --- the test suite itself -----------------------------------------------------------------------


def test_ci_turns_skips_into_failures(tmp_path) -> None:
    """README: under CI=true missing PostgreSQL/chromium fail instead of skipping."""
    import subprocess
    import sys

    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\n"
        "def test_needs_something():\n    pytest.skip('no server here')\n\n"
        "@pytest.mark.ci_may_skip(reason='documented')\n"
        "def test_may_skip():\n    pytest.skip('allowed')\n\n"
        "def test_passes():\n    pass\n"
    )
    root = Path(__file__).resolve().parent.parent

    def run(ci: str) -> str:
        env = {k: v for k, v in os.environ.items() if k != "CI"} | {"CI": ci}
        res = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
             str(tmp_path / "test_skips.py")],
            cwd=root, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        return res.stdout.strip().splitlines()[-1]

    assert run("true").startswith("1 failed, 1 passed, 1 skipped")
    assert run("false").startswith("1 passed, 2 skipped")
