"""Data-health checks on real databases (DuckDB file, SQLite file, PostgreSQL server).

Every failure mode is produced for real (dropped tables, views with missing or re-typed
columns, NULL-heavy keys, old data, a closed port) and the test asserts the specific problem
code and that the fix text says what to do. Expected counts, time ranges and null rates come
from the rows the test itself inserted (recomputed with pandas), not from the code under test.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Column, MetaData, String, Table, create_engine, text

from data import health, schema
from data.errors import ErrorCode
from data.health import CheckCode, Family, Freshness, Status
from data.warehouse import open_engine

T0 = dt.datetime(2026, 3, 1, 9, 30)
SPAN = dt.timedelta(days=9, hours=3)
LAST = T0 + SPAN  # newest timestamp in every timed table


def contract_rows(t0: dt.datetime = T0) -> dict[str, list[dict]]:
    """A few valid rows for every contract table, from ``t0``; the newest is ``t0 + SPAN``."""
    T0, LAST = t0, t0 + SPAN  # noqa: N806 - same names as the module defaults
    day = dt.timedelta(days=1)
    customers = [
        {
            "customer_id": i,
            "first_seen_at": T0 + i * day,
            "acquisition_channel": "email" if i % 2 else "paid_search",
            "self_reported_source": None,
            "segment": "smb",
            "persona": "founder",
            "region": "europe",
        }
        for i in range(1, 5)
    ]
    customers[-1]["first_seen_at"] = LAST
    touchpoints = [
        {
            "touchpoint_id": i,
            "customer_id": 1 + i % 4,
            "occurred_at": T0 + i * dt.timedelta(hours=7),
            "channel": "email" if i % 3 else "paid_search",
            "campaign_id": 1 if i % 2 else None,
            "event_type": "click",
            "value": None,
        }
        for i in range(1, 21)
    ]
    touchpoints[-1]["occurred_at"] = LAST
    return {
        "customers": customers,
        "campaigns": [
            {
                "campaign_id": 1,
                "name": "Spring",
                "channel": "email",
                "target_stage": "engagement",
                "loop_stage": "tailor",
                "is_personalised": True,
                "start_date": T0.date(),
                "end_date": None,
            }
        ],
        "touchpoints": touchpoints,
        "daily_spend": [
            {
                "spend_date": (T0 + i * day).date(),
                "campaign_id": 1,
                "channel": "email",
                "spend": 10.5 * i,
                "impressions": 100 * i,
                "clicks": 3 * i,
            }
            for i in range(10)
        ],
        "orders": [
            {"order_id": 1, "customer_id": 1, "ordered_at": T0 + day, "revenue": 99.0},
            {"order_id": 2, "customer_id": 2, "ordered_at": LAST, "revenue": 49.5},
        ],
        "lifecycle_changes": [
            {"customer_id": 1, "changed_at": T0, "from_stage": None, "to_stage": "awareness"},
            {
                "customer_id": 1,
                "changed_at": LAST,
                "from_stage": "awareness",
                "to_stage": "purchase",
            },
        ],
        "surveys": [
            {
                "survey_id": 1,
                "customer_id": 1,
                "responded_at": LAST,
                "kind": "nps",
                "score": 9,
                "channel": "email",
            }
        ],
        "experiments": [
            {
                "experiment_id": "exp-1",
                "name": "Subject lines",
                "hypothesis": "Shorter subjects lift opens",
                "loop_stage": "tailor",
                "primary_metric": "conversion",
                "secondary_metrics": None,
                "guardrail_metrics": None,
                "started_at": T0,
                "ended_at": None,
                "status": "running",
            }
        ],
        "experiment_variants": [
            {"experiment_id": "exp-1", "variant": v, "is_control": v == "a", "expected_share": 0.5}
            for v in ("a", "b")
        ],
        "experiment_assignments": [
            {"experiment_id": "exp-1", "customer_id": i, "variant": "ab"[i % 2], "assigned_at": t}
            for i, t in ((1, T0), (2, T0 + day), (3, LAST))
        ],
    }


def build_warehouse(
    url: str, *, skip: tuple[str, ...] = (), empty: tuple[str, ...] = (), t0: dt.datetime = T0
) -> None:
    """Create the contract at ``url`` and insert :func:`contract_rows` (minus skip/empty)."""
    engine = create_engine(url)
    rows = contract_rows(t0)
    with engine.begin() as conn:
        for table in schema.CONTRACT_TABLES:
            if table.name in skip:
                continue
            table.create(conn, checkfirst=True)
            if table.name not in empty:
                conn.execute(table.insert(), rows[table.name])
    engine.dispose()


def run(url: str, **kwargs) -> health.HealthReport:
    engine = open_engine(url)
    try:
        return health.check_warehouse(engine, now=LAST + dt.timedelta(hours=5), **kwargs)
    finally:
        engine.dispose()


@pytest.fixture(params=["duckdb", "sqlite", "postgresql"])
def any_url(request) -> str:
    return request.getfixturevalue(
        {"duckdb": "duckdb_url", "sqlite": "sqlite_url"}.get(request.param, "pg_url")
    )


def codes(table: health.TableHealth) -> list[str]:
    return [p.code for p in table.problems]


# -- all good ----------------------------------------------------------------------------------


def test_valid_contract_is_ok_with_counts_coverage_and_null_rates(any_url: str) -> None:
    build_warehouse(any_url)
    report = run(any_url)
    assert report.connected and report.status == Status.OK, [
        (t.name, codes(t)) for t in report.tables
    ]
    assert {t.name for t in report.tables} == {t.name for t in schema.CONTRACT_TABLES}
    for name, rows in contract_rows().items():
        frame = pd.DataFrame(rows)
        table = report.table(name)
        assert table.row_count == len(frame), name
        assert table.columns_ok == len(schema.metadata.tables[name].columns)
        role = schema.TABLE_ROLES[name]
        if role.time_column:
            expected = pd.to_datetime(frame[role.time_column])
            assert table.min_time == expected.min().to_pydatetime(), name
            assert table.max_time == expected.max().to_pydatetime(), name
        for col, rate in table.null_rates:
            assert rate == pytest.approx(frame[col].isna().mean(), abs=1e-12)
    touch = report.table("touchpoints")
    assert touch.freshness == Freshness.FRESH
    assert touch.age_days == pytest.approx(5 / 24)
    assert report.dialect == make_dialect(any_url)


def make_dialect(url: str) -> str:
    return url.split(":", 1)[0].split("+")[0]


def test_password_is_masked_in_the_report(pg_url: str) -> None:
    build_warehouse(pg_url)
    secret_url = pg_url.replace("postgres@", "postgres:hunter2@")  # trust auth ignores it
    report = run(secret_url)
    assert report.connected
    assert "hunter2" not in report.masked_url and "***" in report.masked_url


# -- failure modes ---------------------------------------------------------------------------


def test_missing_table_names_the_view_to_create(any_url: str) -> None:
    build_warehouse(any_url, skip=("surveys",))
    report = run(any_url)
    surveys = report.table("surveys")
    assert not surveys.present and surveys.status == Status.ERROR
    assert codes(surveys) == [CheckCode.TABLE_MISSING]
    fix = surveys.problems[0].fix
    assert "Create a view named `surveys`" in fix and "docs/warehouse.md#surveys" in fix
    for column in schema.surveys.columns:
        assert column.name in fix
    # the other tables are still checked
    assert all(t.status == Status.OK for t in report.tables if t.name != "surveys")
    assert report.status == Status.ERROR


def _create_view(url: str, name: str, body: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE VIEW {name} AS {body}"))
    engine.dispose()


def _rename(url: str, table: str, new: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {table} RENAME TO {new}"))
    engine.dispose()


def test_missing_column_in_a_view(any_url: str) -> None:
    build_warehouse(any_url)
    _rename(any_url, "touchpoints", "raw_events")
    _create_view(
        any_url,
        "touchpoints",
        "SELECT touchpoint_id, customer_id, occurred_at, campaign_id, event_type, value "
        "FROM raw_events",
    )
    touch = run(any_url).table("touchpoints")
    assert codes(touch) == [CheckCode.COLUMN_MISSING]
    problem = touch.problems[0]
    assert "`touchpoints.channel`" in problem.title
    assert "AS channel" in problem.fix and "docs/warehouse.md#touchpoints" in problem.fix
    assert touch.columns_ok == len(schema.touchpoints.columns) - 1
    # the aggregate still ran on the remaining columns
    assert touch.row_count == len(contract_rows()["touchpoints"])
    assert [c for c, _ in touch.null_rates] == ["customer_id", "event_type"]


def test_text_timestamp_is_incompatible(any_url: str) -> None:
    build_warehouse(any_url, skip=("orders",))
    meta = MetaData()
    orders = Table(
        "orders",
        meta,
        *[
            Column(c.name, String(40)) if c.name == "ordered_at" else Column(c.name, c.type)
            for c in schema.orders.columns
        ],
    )
    engine = create_engine(any_url)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            orders.insert(),
            [{**r, "ordered_at": r["ordered_at"].isoformat()} for r in contract_rows()["orders"]],
        )
    engine.dispose()
    table = run(any_url).table("orders")
    assert codes(table) == [CheckCode.TYPE_INCOMPATIBLE]
    problem = table.problems[0]
    assert problem.severity == "error"
    assert "stored as text" in problem.detail and "not compatible" in problem.detail
    assert "CAST(ordered_at AS" in problem.fix
    check = next(c for c in table.columns if c.name == "ordered_at")
    assert check.family == Family.TEXT and not check.compatible
    # no coverage computed from strings
    assert table.max_time is None and table.row_count == 2


def test_integer_where_float_expected_is_compatible(duckdb_url: str) -> None:
    build_warehouse(duckdb_url)
    _rename(duckdb_url, "orders", "raw_orders")
    _create_view(
        duckdb_url,
        "orders",
        "SELECT order_id, customer_id, ordered_at, CAST(revenue AS INTEGER) AS revenue "
        "FROM raw_orders",
    )
    table = run(duckdb_url).table("orders")
    assert table.status == Status.OK
    revenue = next(c for c in table.columns if c.name == "revenue")
    assert revenue.family == Family.INTEGER and revenue.compatible


def test_empty_table_is_a_warning(any_url: str) -> None:
    build_warehouse(any_url, empty=("daily_spend",))
    report = run(any_url)
    spend = report.table("daily_spend")
    assert codes(spend) == [CheckCode.TABLE_EMPTY]
    assert spend.status == Status.WARNING and spend.row_count == 0
    assert "Load data" in spend.problems[0].fix
    assert spend.null_rates == () and spend.max_time is None
    assert report.status == Status.WARNING


@pytest.mark.parametrize("every", [2, 8], ids=["half", "an-eighth"])
def test_null_heavy_key_column(any_url: str, every: int) -> None:
    build_warehouse(any_url)
    _rename(any_url, "touchpoints", "raw_events")
    _create_view(
        any_url,
        "touchpoints",
        "SELECT touchpoint_id, customer_id, occurred_at, "
        f"CASE WHEN touchpoint_id % {every} = 0 THEN NULL ELSE channel END AS channel, "
        "campaign_id, event_type, value FROM raw_events",
    )
    touch = run(any_url).table("touchpoints")
    frame = pd.DataFrame(contract_rows()["touchpoints"])
    expected_rate = (frame["touchpoint_id"] % every == 0).mean()
    assert dict(touch.null_rates)["channel"] == pytest.approx(expected_rate)
    assert touch.worst_null_rate == ("channel", pytest.approx(expected_rate))
    assert codes(touch) == [CheckCode.HIGH_NULL_RATE]
    problem = touch.problems[0]
    assert problem.severity == ("error" if expected_rate >= 0.5 else "warning")
    assert "COALESCE(channel" in problem.fix and "IS NOT NULL" in problem.fix


@pytest.mark.parametrize(
    ("days", "freshness"),
    [(1.5, Freshness.FRESH), (4, Freshness.STALE), (30, Freshness.VERY_STALE)],
)
def test_staleness(duckdb_url: str, days: float, freshness: Freshness) -> None:
    build_warehouse(duckdb_url)
    engine = open_engine(duckdb_url)
    report = health.check_warehouse(engine, now=LAST + dt.timedelta(days=days))
    engine.dispose()
    touch = report.table("touchpoints")
    assert touch.freshness == freshness and touch.age_days == pytest.approx(days)
    stale = [p for p in touch.problems if p.code == CheckCode.STALE_DATA]
    if freshness == Freshness.FRESH:
        assert not stale
    else:
        assert len(stale) == 1 and stale[0].severity == "warning"
        assert "loader" in stale[0].fix
        assert ("very stale" in stale[0].title) == (freshness == Freshness.VERY_STALE)
    # experiments may legitimately be old: age shown, never a problem
    experiments = report.table("experiments")
    assert experiments.age_days is not None and experiments.status == Status.OK


def test_future_timestamps_are_flagged(sqlite_url: str) -> None:
    build_warehouse(sqlite_url)
    engine = open_engine(sqlite_url)
    report = health.check_warehouse(engine, now=T0 - dt.timedelta(days=3))
    engine.dispose()
    assert CheckCode.FUTURE_DATA in codes(report.table("orders"))
    assert "UTC" in report.table("orders").problems[0].fix


def test_unreachable_server() -> None:
    engine = open_engine("postgresql+psycopg://postgres:pw@127.0.0.1:1/warehouse")
    report = health.check_warehouse(engine)
    assert not report.connected and report.tables == ()
    assert report.status == Status.ERROR
    problem = report.connection_problem
    assert problem.code == ErrorCode.HOST_UNREACHABLE
    assert "127.0.0.1:1" in problem.title and "firewall" in problem.fix
    assert "pw" not in report.masked_url.split("@")[0].split(":")[-1]


def test_missing_duckdb_file(tmp_path: Path) -> None:
    report = health.check_warehouse(open_engine(f"duckdb:///{tmp_path / 'nope.duckdb'}"))
    assert report.connection_problem.code == ErrorCode.FILE_MISSING
    assert not (tmp_path / "nope.duckdb").exists()  # read-only: never created


def test_one_failing_table_does_not_stop_the_others(pg_url: str) -> None:
    build_warehouse(pg_url)
    _rename(pg_url, "orders", "raw_orders")
    _create_view(
        pg_url,
        "orders",
        "SELECT order_id, customer_id, ordered_at, revenue / 0 AS revenue FROM raw_orders",
    )
    report = run(pg_url)
    orders = report.table("orders")
    assert orders.status == Status.ERROR and codes(orders) == [CheckCode.QUERY_FAILED]
    assert "division by zero" in orders.problems[0].detail
    after = [t for t in report.tables if t.name != "orders"]
    assert after and all(t.status == Status.OK for t in after)


def test_schema_is_selectable(pg_url: str) -> None:
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE SCHEMA marketing"))
    engine.dispose()
    build_warehouse(pg_url)
    # move every contract table into the marketing schema
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        for table in schema.CONTRACT_TABLES:
            conn.execute(text(f"ALTER TABLE public.{table.name} SET SCHEMA marketing"))
    engine.dispose()
    assert run(pg_url, schema="marketing").status == Status.OK
    default = run(pg_url)
    assert all(codes(t) == [CheckCode.TABLE_MISSING] for t in default.tables)


def test_summary_rows_match_the_report(duckdb_url: str) -> None:
    build_warehouse(duckdb_url, skip=("surveys",), empty=("orders",))
    report = run(duckdb_url)
    rows = {r["table"]: r for r in health.summary_rows(report)}
    assert rows["surveys"]["status"] == "error" and rows["surveys"]["rows"] is None
    assert rows["orders"]["status"] == "warning" and rows["orders"]["rows"] == 0
    assert rows["touchpoints"]["columns_ok"] == f"{len(schema.touchpoints.columns)}/7"
    assert rows["touchpoints"]["freshness"] == "fresh"


# -- type families ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("native", "scale", "family"),
    [
        ("BIGINT", None, Family.INTEGER),
        ("integer", 0, Family.INTEGER),
        ("HUGEINT", None, Family.INTEGER),
        ("INT64", None, Family.INTEGER),
        ("int8", None, Family.INTEGER),
        ("NUMBER", 0, Family.INTEGER),
        ("decimal(38,0)", None, Family.INTEGER),
        ("NUMERIC(12, 2)", None, Family.FLOAT),
        ("numeric", None, Family.FLOAT),
        ("double precision", None, Family.FLOAT),
        ("FLOAT", 0, Family.FLOAT),  # DuckDB reports scale 0 for FLOAT: still a float
        ("FLOAT64", None, Family.FLOAT),
        ("character varying", None, Family.TEXT),
        ("VARCHAR(32)", None, Family.TEXT),
        ("STRING", None, Family.TEXT),
        ("boolean", None, Family.BOOLEAN),
        ("DATE", None, Family.DATE),
        ("timestamp without time zone", None, Family.TIMESTAMP),
        ("TIMESTAMP WITH TIME ZONE", None, Family.TIMESTAMP),
        ("TIMESTAMP_NTZ", None, Family.TIMESTAMP),
        ("timestamp(3)", None, Family.TIMESTAMP),
        ("DATETIME", None, Family.TIMESTAMP),
        ("STRUCT(a INTEGER)", None, Family.OTHER),
        ("jsonb", None, Family.OTHER),
    ],
)
def test_type_family(native: str, scale: int | None, family: Family) -> None:
    assert health.type_family(native, scale) == family


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        (Family.FLOAT, Family.INTEGER, True),
        (Family.INTEGER, Family.FLOAT, False),
        (Family.TIMESTAMP, Family.TEXT, False),
        (Family.TIMESTAMP, Family.DATE, True),
        (Family.BOOLEAN, Family.INTEGER, True),
        (Family.TEXT, Family.INTEGER, False),
    ],
)
def test_compatibility(expected: Family, actual: Family, ok: bool) -> None:
    assert health.is_compatible(expected, actual) is ok


def test_docs_describe_every_contract_table_and_column() -> None:
    """docs/warehouse.md stays in sync with data/schema.py (the fixes link to its sections)."""
    docs = (Path(__file__).resolve().parent.parent / "docs" / "warehouse.md").read_text()
    sections = docs.split("\n### ")
    for table in schema.CONTRACT_TABLES:
        section = next((s for s in sections if s.startswith(f"{table.name}\n")), None)
        assert section is not None, f"no '### {table.name}' section"
        for column in table.columns:
            assert f"| `{column.name}`" in section, f"{table.name}.{column.name} not documented"
