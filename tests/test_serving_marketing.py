"""Served Lifecycle / Channels / attribution figures equal the live ones, on three engines.

For a small demo warehouse on a real DuckDB file, a real SQLite file and a real PostgreSQL
database, the serving store is built (in the same engine) and every figure the two pages show
is computed twice — live (``serving=None``) and served — over random filters (date ranges,
channel / segment / region subsets) and grains drawn with ``random.Random(seed)``. Counts must
be equal exactly; float sums (spend, attributed conversions and revenue, median days, shares)
to a relative tolerance of 1e-9 (summation order differs). Also: an incremental refresh after
appending days equals a full build, and questions the store does not cover (non-default
attribution options, a period past the last refresh) are answered live.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, inspect, select

from data.demo import generate
from data.demo.write import RECOMMENDED_INDEXES, index_name
from data.schema import metadata as contract
from data.serving import ServingConfig, ServingStore
from data.serving.refresh import refresh
from data.serving.rollups import Rollup, all_rollups
from data.warehouse import open_engine
from metrics.filters import Filters
from metrics.marketing import attribution as attr
from metrics.marketing import channels as cm
from metrics.marketing import lifecycle as lm

DEMO_END = dt.date(2026, 11, 30)  # a fixed history: the same data whatever today is

CUSTOMERS = 1000
CHANNELS = ["paid_search", "organic_search", "paid_social", "email", "referral", "direct"]
SEGMENTS = ["smb", "mid_market", "enterprise"]
REGIONS = ["north_america", "europe", "apac", "latam"]
MINE = ("data.serving.lifecycle", "data.serving.channels", "data.serving.campaigns")


def my_rollups() -> list[Rollup]:
    """The rollups these pages read (ours, plus spend and the campaigns copy from facts)."""
    return [
        r
        for r in all_rollups()
        if r.source.__module__ in MINE or r.name in ("srv_spend_daily", "srv_campaigns")
    ]


def build(warehouse_url: str, serving_url: str, **kw) -> tuple[Engine, ServingStore]:  # noqa: ANN003
    engine = open_engine(warehouse_url)
    config = ServingConfig(serving_url, "env")
    refresh(engine, config, warehouse_url, rollups=my_rollups(), **kw)
    return engine, ServingStore(config, warehouse_url)


def random_filters(rng: random.Random, first: dt.date, last: dt.date) -> Filters:
    span = (last - first).days
    start = first + dt.timedelta(days=rng.randint(0, span))
    end = min(last, start + dt.timedelta(days=rng.choice([0, 6, 30, 90, 200])))

    def subset(values: list[str]) -> tuple[str, ...]:
        return () if rng.random() < 0.5 else tuple(rng.sample(values, rng.randint(1, 2)))

    return Filters(start, end, subset(CHANNELS), subset(SEGMENTS), subset(REGIONS))


def assert_same(live: pd.DataFrame, served: pd.DataFrame, keys: list[str], what: str) -> None:
    """Same rows (by ``keys``); integer columns equal, float columns to rtol 1e-9."""
    assert served.attrs.get("source") == "serving", (what, served.attrs)
    assert live.attrs.get("source", "live") == "live", what
    assert sorted(live.columns) == sorted(served.columns), what
    a = live.sort_values(keys).reset_index(drop=True)
    b = served.sort_values(keys).reset_index(drop=True)[list(a.columns)]
    assert len(a) == len(b), (what, len(a), len(b))
    for col in a.columns:
        x, y = a[col], b[col]
        if col in keys or x.dtype == object or str(x.dtype) in ("str", "string"):
            assert x.astype(str).tolist() == y.astype(str).tolist(), (what, col)
        elif pd.api.types.is_integer_dtype(x):
            assert x.tolist() == y.astype("int64").tolist(), (what, col)
        elif pd.api.types.is_datetime64_any_dtype(x):
            assert (pd.to_datetime(x) == pd.to_datetime(y)).all(), (what, col)
        else:
            np.testing.assert_allclose(
                y.astype(float), x.astype(float), rtol=1e-9, atol=1e-9, equal_nan=True,
                err_msg=f"{what}: {col}",
            )  # fmt: skip


def compare_all(engine: Engine, store: ServingStore, f: Filters, rng: random.Random) -> None:
    """Every served figure of the two pages against live, for one filter."""
    grain = rng.choice(["day", "week", "month"])
    cases = [
        ("volumes", lambda **k: lm.stage_volumes(engine, f, grain, **k), ["period", "stage"]),
        ("distribution", lambda **k: lm.stage_distribution(engine, f, **k), ["stage"]),
        ("conversion", lambda **k: lm.stage_conversion(engine, f, **k), ["stage"]),
        ("time in stage", lambda **k: lm.median_time_in_stage(engine, f, **k), ["stage"]),
        ("transitions", lambda **k: lm.transitions(engine, f, **k), ["from_stage", "to_stage"]),
        ("dark funnel", lambda **k: cm.dark_funnel(engine, f, **k), ["tracked", "self_reported"]),
        ("attribution", lambda **k: attr.attribute(engine, f, **k), ["key", "model"]),
        (
            "attribution by campaign",
            lambda **k: attr.attribute(engine, f, by="campaign", **k),
            ["key", "model"],
        ),
        ("credit over time", lambda **k: attr.attribute_over_time(engine, f, grain=grain, **k),
         ["period", "key", "model"]),
    ]  # fmt: skip
    model = rng.choice(attr.MODELS)
    for by in ("channel", "campaign"):
        cases.append(
            (
                f"performance by {by}",
                lambda by=by, **k: cm.performance(engine, f, model=model, by=by, **k),
                ["key"],
            )
        )
    cases.append(
        (
            "timeseries",
            lambda **k: cm.timeseries(engine, f, model=model, grain=grain, **k),
            ["period", "key"],
        )
    )
    for what, fn, keys in cases:
        assert_same(fn(), fn(serving=store), keys, f"{what} {f} {grain}")
    compare_campaigns(engine, store, f)
    # The page's path: one daily credit shared by every attribution figure.
    credit = attr.daily_credit(engine, f, serving=store)
    shared = cm.performance(engine, f, model=model, serving=store, credit=credit)
    assert_same(cm.performance(engine, f, model=model), shared, ["key"], f"shared credit {f}")


def campaign_channels(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        ca = contract.tables["campaigns"]
        return sorted({r[0] for r in conn.execute(select(ca.c.channel).distinct())})


def compare_campaigns(engine: Engine, store: ServingStore, f: Filters) -> None:
    """The campaign comparison: served == live when its channel filter selects every campaign
    channel or at most one; live (saying why) when several but not all."""
    keys = ["target_stage", "approach"]
    live = lm.campaign_stage_comparison(engine, f)
    served = lm.campaign_stage_comparison(engine, f, serving=store)
    if lm.reach_part(f, set(campaign_channels(engine))) is None:
        assert served.attrs["source"] == "live", f
        assert "several but not all" in served.attrs["source_reason"], f
        pd.testing.assert_frame_equal(served, live, obj=f"campaigns {f}")
    else:
        assert_same(live, served, keys, f"campaign comparison {f}")


def data_range(engine: Engine) -> tuple[dt.date, dt.date]:
    lc = contract.tables["lifecycle_changes"]
    from sqlalchemy import func

    with engine.connect() as conn:
        lo, hi = conn.execute(select(func.min(lc.c.changed_at), func.max(lc.c.changed_at))).one()
    as_date = (lambda v: dt.datetime.fromisoformat(v).date()) if isinstance(lo, str) else None
    return (as_date(lo), as_date(hi)) if as_date else (lo.date(), hi.date())


def run_property(warehouse_url: str, serving_url: str, seed: int, cases: int) -> None:
    engine, store = build(warehouse_url, serving_url, full=True)
    try:
        first, last = data_range(engine)
        # the store is complete through its tables' own newest days (a small demo can have no
        # order on the warehouse's last day): test the periods it covers
        covered = [r.covered_through for r in store.records().values() if r.covered_through]
        last = min([last, *covered])
        rng = random.Random(seed)
        compare_all(engine, store, Filters(last - dt.timedelta(days=89), last), rng)  # default
        for _ in range(cases):
            compare_all(engine, store, random_filters(rng, first, last), rng)
        # The campaign comparison's channel filters: every campaign channel (plus one without
        # campaigns), exactly one, one plus channels without campaigns, several but not all.
        chans = campaign_channels(engine)
        others = [c for c in CHANNELS if c not in chans]
        assert len(chans) >= 3, chans  # the demo has campaigns in several channels
        for picked in ([*chans, *others[:1]], chans[:1], [chans[1], *others], chans[:2]):
            f = random_filters(rng, first, last)
            compare_campaigns(engine, store, Filters(f.start, f.end, tuple(picked)))
            compare_campaigns(engine, store, Filters(first, last, tuple(picked), f.segments))
    finally:
        store.dispose()
        engine.dispose()


@pytest.fixture(scope="module")
def demo_duckdb(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("srvmkt") / "demo.duckdb"
    generate(str(path), customers=CUSTOMERS, seed=11, end_date=DEMO_END)
    return f"duckdb:///{path}"


def test_served_equals_live_duckdb(demo_duckdb: str, tmp_path: Path) -> None:
    run_property(demo_duckdb, f"duckdb:///{tmp_path / 'serving.duckdb'}", seed=1, cases=8)


def test_served_equals_live_sqlite(sqlite_url: str, tmp_path: Path) -> None:
    generate(
        sqlite_url, customers=CUSTOMERS, seed=12, manifest=tmp_path / "m.json", end_date=DEMO_END
    )
    run_property(sqlite_url, f"sqlite:///{tmp_path / 'serving.sqlite'}", seed=2, cases=6)


@pytest.mark.postgres
def test_served_equals_live_postgres(pg_url: str, tmp_path: Path) -> None:
    generate(pg_url, customers=CUSTOMERS, seed=13, manifest=tmp_path / "m.json", end_date=DEMO_END)
    engine = open_engine(pg_url)
    try:  # the demo loader created the recommended indexes (and ANALYZEd after them)
        inspector = inspect(engine)
        for table, columns in RECOMMENDED_INDEXES:
            found = {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)}
            assert columns in found, (table, columns, found)
    finally:
        engine.dispose()
    run_property(pg_url, pg_url, seed=3, cases=6)  # serving tables beside the warehouse's


def test_non_default_options_and_uncovered_periods_are_live(
    demo_duckdb: str, tmp_path: Path
) -> None:
    engine, store = build(demo_duckdb, f"duckdb:///{tmp_path / 's.duckdb'}", full=True)
    _, last = data_range(engine)
    f = Filters(last - dt.timedelta(days=60), last)
    other = attr.AttributionOptions(lookback_days=14, half_life_days=3.0)
    credit = attr.daily_credit(engine, f, other, serving=store)
    assert credit.attrs["source"] == "live"
    assert "options" in credit.attrs["source_reason"]
    perf = cm.performance(engine, f, other, serving=store)
    assert perf.attrs["source"] == "live"
    live = cm.performance(engine, f, other)
    np.testing.assert_allclose(
        perf.sort_values("key")["revenue"], live.sort_values("key")["revenue"], rtol=1e-9
    )
    default = cm.performance(engine, f, serving=store)
    assert default.attrs["source"] == "serving"
    later = Filters(f.start, last + dt.timedelta(days=1))
    for df in (lm.stage_distribution(engine, later, serving=store),
               lm.transitions(engine, later, serving=store),
               lm.campaign_stage_comparison(engine, later, serving=store),
               lm.median_time_in_stage(engine, later, serving=store),
               cm.dark_funnel(engine, later, serving=store)):  # fmt: skip
        assert df.attrs["source"] == "live"
        assert "does not cover" in df.attrs["source_reason"]
    assert lm.stage_distribution(engine, f).attrs["source"] == "live"  # serving=None
    store.dispose()
    engine.dispose()


TIME_COLUMNS = {
    "touchpoints": "occurred_at",
    "orders": "ordered_at",
    "lifecycle_changes": "changed_at",
    "surveys": "responded_at",
    "daily_spend": "spend_date",
    "customers": "first_seen_at",
}


@pytest.fixture
def truncated(tmp_path: Path) -> tuple[str, dt.date]:
    """A DuckDB demo whose last 5 days are moved to ``held_<table>`` tables; (url, cut day)."""
    path = tmp_path / "w.duckdb"
    generate(str(path), customers=CUSTOMERS, seed=21, end_date=DEMO_END)
    url = f"duckdb:///{path}"
    engine = open_engine(url, read_only=False)
    _, last = data_range(engine)
    cut = last - dt.timedelta(days=4)
    with engine.begin() as conn:
        for name, col in TIME_COLUMNS.items():
            where = f"{col} >= DATE '{cut.isoformat()}'"
            conn.exec_driver_sql(f"CREATE TABLE held_{name} AS SELECT * FROM {name} WHERE {where}")
            conn.exec_driver_sql(f"DELETE FROM {name} WHERE {where}")
    engine.dispose()
    return url, cut


def test_incremental_after_new_days_equals_full_build(truncated, tmp_path: Path) -> None:  # noqa: ANN001
    url, cut = truncated
    inc_url = f"duckdb:///{tmp_path / 'inc.duckdb'}"
    engine, _ = build(url, inc_url, full=True)
    engine.dispose()
    engine = open_engine(url, read_only=False)
    with engine.begin() as conn:  # the new days arrive
        for name in TIME_COLUMNS:
            conn.exec_driver_sql(f"INSERT INTO {name} SELECT * FROM held_{name}")
    engine.dispose()
    _, inc_store = build(url, inc_url, late_days=1)
    engine, full_store = build(url, f"duckdb:///{tmp_path / 'full.duckdb'}", full=True)
    assert {r.mode for r in inc_store.records().values()} >= {"incremental"}
    for rollup in my_rollups():
        t = rollup.table
        with inc_store.engine().connect() as a, full_store.engine().connect() as b:
            inc = pd.read_sql(select(t), a)
            full = pd.read_sql(select(t), b)
        assert len(inc) == len(full), t.name
        keys = list(full.columns)
        inc = inc.sort_values(keys, na_position="first").reset_index(drop=True)
        full = full.sort_values(keys, na_position="first").reset_index(drop=True)
        pd.testing.assert_frame_equal(inc, full, check_exact=False, rtol=1e-9, obj=t.name)
    assert max(r.covered_through for r in inc_store.records().values()) > cut
    rng = random.Random(5)
    _, last = data_range(engine)
    compare_all(engine, inc_store, Filters(cut - dt.timedelta(days=20), last), rng)
    inc_store.dispose()
    full_store.dispose()
    engine.dispose()


def test_docs_list_every_recommended_index() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "warehouse.md").read_text()
    for table, columns in RECOMMENDED_INDEXES:
        assert f"`{table}` | `({', '.join(columns)})`" in doc, (table, columns)
        assert f"CREATE INDEX {index_name(table, columns)}" in doc, (table, columns)
