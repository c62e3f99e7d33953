"""The serving layer answers every KPI exactly as the live SQL does, on every engine.

A small demo warehouse is generated on a real DuckDB file, a real SQLite file and a real
PostgreSQL database; the serving store is built from it (a DuckDB file, and a PostgreSQL store
once); then random filters (date ranges, channel / segment / region subsets) × every catalog KPI
× every grain are answered both ways. Counts must be equal exactly; money and ratios equal to a
relative 1e-9 (floating-point sums in another order). Every question the serving tables cannot
answer must say so (``attrs["source"] == "live"`` with a reason) — never a wrong number.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import threading
import zlib

import pandas as pd
import pytest
from sqlalchemy import create_engine, func, select, text

from data.demo import generate
from data.schema import Channel, Region, Segment, touchpoints
from data.serving import ServingConfig, ServingStore
from data.serving.refresh import refresh
from data.serving.rollups import all_rollups
from data.warehouse import open_engine
from metrics.filters import Filters
from metrics.marketing import kpi_sql
from metrics.marketing.kpis import KPIS

DEMO_END = dt.date(2026, 11, 30)  # a fixed history: the same data whatever today is

GRAINS = ("total", "week", "month", "day", "channel", "segment", "region", "persona",
          "campaign", "target_stage", "is_personalised")  # fmt: skip


def _latest(engine) -> dt.date:  # noqa: ANN001
    with engine.connect() as conn:
        value = conn.execute(select(func.max(touchpoints.c.occurred_at))).scalar()
    return (dt.datetime.fromisoformat(value) if isinstance(value, str) else value).date()


def _random_filters(rng: random.Random, latest: dt.date) -> Filters:
    length = rng.choice([1, 7, 30, 90, 200])
    end = latest - dt.timedelta(days=rng.randint(0, 250))
    return Filters(
        start=end - dt.timedelta(days=length - 1),
        end=end,
        channels=tuple(rng.sample([c.value for c in Channel], rng.choice([0, 0, 1, 1, 3]))),
        segments=tuple(rng.sample([s.value for s in Segment], rng.choice([0, 1, 2]))),
        regions=tuple(rng.sample([r.value for r in Region], rng.choice([0, 0, 1]))),
    )


VALUE_COLUMNS = (
    "value", "numerator", "denominator", "current", "previous", "change", "n_current", "n_previous",
)  # fmt: skip


def _same(live: pd.DataFrame, served: pd.DataFrame) -> bool:
    keys = [c for c in live.columns if c not in VALUE_COLUMNS]
    if list(live.columns) != list(served.columns) or len(live) != len(served):
        return False
    if keys:
        live = live.sort_values(keys, na_position="first").reset_index(drop=True)
        served = served.sort_values(keys, na_position="first").reset_index(drop=True)
    for col in live.columns:
        if col in keys:
            if list(live[col].astype(str)) != list(served[col].astype(str)):
                return False
            continue
        for a, b in zip(live[col].to_numpy(float), served[col].to_numpy(float), strict=True):
            if math.isnan(a) != math.isnan(b):
                return False
            if not math.isnan(a) and not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
                return False
    return True


def _compare(engine, store: ServingStore, filters: list[Filters]) -> tuple[int, list[str]]:  # noqa: ANN001
    served, wrong = 0, []
    for f in filters:
        for name in KPIS:
            for grain in GRAINS:
                if not kpi_sql.supports_grain(name, grain):
                    continue
                try:
                    live = kpi_sql.fetch_kpi(engine, name, f, grain)
                except kpi_sql.UnsupportedQuery:
                    continue
                answer = kpi_sql.fetch_kpi(engine, name, f, grain, serving=store)
                if answer.attrs["source"] == "live":
                    assert answer.attrs["source_reason"], (name, grain)
                    continue
                served += 1
                if not _same(live, answer):
                    wrong.append(f"{name} by {grain} for {f}")
        totals_live = kpi_sql.fetch_kpi_totals(engine, list(KPIS), f)
        totals = kpi_sql.fetch_kpi_totals(engine, list(KPIS), f, serving=store)
        assert totals.attrs["source"] in ("serving", "mixed")
        if not _same(totals_live, totals):
            wrong.append(f"totals for {f}")
    return served, wrong


@pytest.fixture(scope="module")
def demo_duckdb(tmp_path_factory) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('srv') / 'wh.duckdb'}"
    generate(url, customers=3_000, seed=5, end_date=DEMO_END)
    return url


def _build(warehouse_url: str, serving_url: str, **kw) -> ServingStore:  # noqa: ANN003
    engine = open_engine(warehouse_url)
    config = ServingConfig(serving_url, "env")
    refresh(engine, config, warehouse_url, **kw)
    engine.dispose()
    return ServingStore(config, warehouse_url)


@pytest.mark.parametrize("engine_name", ["duckdb", "sqlite", "postgresql"])
def test_served_kpis_equal_live(engine_name, tmp_path, request) -> None:
    if engine_name == "duckdb":
        url = request.getfixturevalue("demo_duckdb")
    elif engine_name == "sqlite":
        url = f"sqlite:///{tmp_path / 'wh.sqlite'}"
        generate(url, customers=2_000, seed=6, manifest=tmp_path / "m.json", end_date=DEMO_END)
    else:
        url = request.getfixturevalue("pg_url")
        generate(url, customers=2_000, seed=7, manifest=tmp_path / "m.json", end_date=DEMO_END)
    store = _build(url, f"duckdb:///{tmp_path / 'serving.duckdb'}")
    engine = open_engine(url)
    rng = random.Random(zlib.crc32(engine_name.encode()))
    latest = _latest(engine)
    filters = [_random_filters(rng, latest) for _ in range(3)]
    filters.append(Filters(start=latest - dt.timedelta(days=89), end=latest))  # the default
    served, wrong = _compare(engine, store, filters)
    engine.dispose()
    store.dispose()
    assert not wrong, wrong[:5]
    assert served > 300  # most questions are served, not quietly answered live


def test_postgres_serving_store_and_incremental_refresh(demo_duckdb, pg_url, tmp_path) -> None:
    """A PostgreSQL serving store; an incremental refresh after new rows equals a full build."""
    src = open_engine(demo_duckdb)
    latest = _latest(src)
    wh = f"duckdb:///{tmp_path / 'growing.duckdb'}"
    grow = create_engine(wh)
    with grow.begin() as g:
        g.exec_driver_sql(f"ATTACH '{demo_duckdb.removeprefix('duckdb:///')}' AS src (READ_ONLY)")
        cut = dt.datetime.combine(latest - dt.timedelta(days=5), dt.time.min)
        for t in ("customers", "campaigns", "daily_spend", "orders", "touchpoints",
                  "lifecycle_changes", "surveys", "experiments", "experiment_variants",
                  "experiment_assignments"):  # fmt: skip
            g.exec_driver_sql(f"CREATE TABLE {t} AS SELECT * FROM src.{t}")
        # hold back the last five days of events, then let them "arrive"
        g.exec_driver_sql("CREATE TABLE late AS SELECT * FROM touchpoints WHERE occurred_at >= ?",
                          (cut,))  # fmt: skip
        g.exec_driver_sql("DELETE FROM touchpoints WHERE occurred_at >= ?", (cut,))
        g.exec_driver_sql("CREATE TABLE late_orders AS SELECT * FROM orders WHERE ordered_at >= ?",
                          (cut,))  # fmt: skip
        g.exec_driver_sql("DELETE FROM orders WHERE ordered_at >= ?", (cut,))
        g.exec_driver_sql("DETACH src")
    grow.dispose()
    src.dispose()
    store = _build(wh, pg_url)
    assert store.covers(["srv_touchpoints_daily"], cut.date() - dt.timedelta(days=1))
    assert not store.covers(["srv_touchpoints_daily"], latest)  # those days are answered live
    reader = open_engine(wh)
    one_day = Filters(start=latest, end=latest)
    assert kpi_sql.fetch_kpi(reader, "reach", one_day, serving=store).attrs["source"] == "live"
    reader.dispose()
    writer = create_engine(wh)
    with writer.begin() as g:
        g.exec_driver_sql("INSERT INTO touchpoints SELECT * FROM late")
        g.exec_driver_sql("INSERT INTO orders SELECT * FROM late_orders")
    writer.dispose()
    engine = open_engine(wh)
    result = refresh(engine, store.config, wh)
    assert {t.mode for t in result.tables} >= {"incremental"}
    store.records(reload=True)  # a PostgreSQL store re-reads its log every 30 s, or now
    full = _build(wh, f"duckdb:///{tmp_path / 'full.duckdb'}", full=True)
    f = Filters(start=latest - dt.timedelta(days=29), end=latest)
    for name in ("reach", "revenue", "retention_rate", "churn_rate", "conversion_rate", "roas"):
        for grain in ("total", "channel", "week"):
            a = kpi_sql.fetch_kpi(engine, name, f, grain, serving=store)
            b = kpi_sql.fetch_kpi(engine, name, f, grain, serving=full)
            live = kpi_sql.fetch_kpi(engine, name, f, grain)
            assert a.attrs["source"] == b.attrs["source"] == "serving", (name, grain)
            assert _same(live, a) and _same(live, b), (name, grain)
    # idempotent: a second incremental refresh changes no table's row count
    counts = {t.rollup: t.row_count for t in result.tables}
    again = refresh(engine, store.config, wh)
    assert {t.rollup: t.row_count for t in again.tables} == counts
    # the row store has each rollup's index (kept across incremental refreshes); DuckDB none
    pg = create_engine(pg_url)
    with pg.connect() as conn:
        indexed = dict(conn.exec_driver_sql("SELECT tablename, indexdef FROM pg_indexes "
                                            "WHERE indexname LIKE 'srv_%%_ix'").all())  # fmt: skip
    pg.dispose()
    expected = {r.name for r in all_rollups() if r.index}
    assert set(indexed) == expected
    assert "(sig, part, day)" in indexed["srv_touchpoints_first"]
    with full.engine().connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM duckdb_indexes()").scalar() == 0
    engine.dispose()
    store.dispose()
    full.dispose()


def test_fallback_says_why(demo_duckdb, tmp_path) -> None:
    store = _build(demo_duckdb, f"duckdb:///{tmp_path / 's.duckdb'}")
    engine = open_engine(demo_duckdb)
    latest = _latest(engine)
    f = Filters(start=latest - dt.timedelta(days=29), end=latest)
    later = Filters(start=latest - dt.timedelta(days=29), end=latest + dt.timedelta(days=3))
    assert kpi_sql.fetch_kpi(engine, "revenue", f, serving=store).attrs["source"] == "serving"
    beyond = kpi_sql.fetch_kpi(engine, "revenue", later, serving=store)
    assert beyond.attrs["source"] == "live" and "period" in beyond.attrs["source_reason"]
    two = Filters(start=f.start, end=f.end, channels=("email", "video"))
    reach = kpi_sql.fetch_kpi(engine, "reach", two, serving=store)
    assert reach.attrs["source"] == "live" and "channels" in reach.attrs["source_reason"]
    other = ServingStore(store.config, "duckdb:////elsewhere.duckdb")  # built for another warehouse
    assert kpi_sql.fetch_kpi(engine, "revenue", f, serving=other).attrs["source"] == "live"
    engine.dispose()
    store.dispose()


def test_two_refreshes_at_once_leave_one_consistent_store(demo_duckdb, tmp_path) -> None:
    """Concurrent refreshes serialise on the lock; readers keep a working store throughout."""
    config = ServingConfig(f"duckdb:///{tmp_path / 'c.duckdb'}", "env")
    engine = open_engine(demo_duckdb)
    refresh(engine, config, demo_duckdb)
    reader = ServingStore(config, demo_duckdb)
    errors: list[BaseException] = []

    def run(full: bool) -> None:
        try:
            e = open_engine(demo_duckdb)
            refresh(e, config, demo_duckdb, full=full)
            e.dispose()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i == 0,)) for i in range(2)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):  # readers never see a half-built store
        with reader.engine().connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM srv_orders_daily")).scalar() > 0
    for t in threads:
        t.join()
    assert not errors
    f = Filters(start=_latest(engine) - dt.timedelta(days=89), end=_latest(engine))
    assert _same(kpi_sql.fetch_kpi(engine, "reach", f),
                 kpi_sql.fetch_kpi(engine, "reach", f, serving=reader))  # fmt: skip
    engine.dispose()
    reader.dispose()
