"""Lifecycle queries against independent pandas computations on small random journeys."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sqlalchemy import create_engine
from trino.sqlalchemy.dialect import TrinoDialect

from data import schema
from metrics.filters import Filters
from metrics.marketing import lifecycle as lc

PERIOD = Filters(start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31))
ORDER = ["awareness", "engagement", "evaluation", "purchase", "retention", "loyalty"]
ALL = [*ORDER, "dormant"]
SEGMENTS = ["smb", "mid_market", "enterprise"]
CHANNELS = ["email", "direct", "community", "paid_search"]


def random_world(seed: int = 1, n: int = 80) -> dict[str, list[dict]]:
    rng = np.random.default_rng(seed)
    customers, changes = [], []
    for cid in range(1, n + 1):
        customers.append(
            dict(
                customer_id=cid,
                first_seen_at=dt.datetime(2026, 2, 1),
                acquisition_channel=str(rng.choice(CHANNELS)),
                self_reported_source=None,
                segment=str(rng.choice(SEGMENTS)),
                persona="marketer",
                region="europe",
            )
        )
        t = dt.datetime(2026, 2, 1) + dt.timedelta(minutes=int(rng.integers(0, 60 * 24 * 45)))
        stage = None
        for _ in range(int(rng.integers(1, 9))):
            if stage is None:
                new = "awareness"
            elif rng.random() < 0.6 and stage in ORDER[:-1]:
                new = ORDER[ORDER.index(stage) + 1]
            else:
                new = str(rng.choice([s for s in ALL if s != stage]))
            changes.append(dict(customer_id=cid, changed_at=t, from_stage=stage, to_stage=new))
            stage = new
            t += dt.timedelta(minutes=int(rng.integers(60, 60 * 24 * 15)))
    return dict(customers=customers, lifecycle_changes=changes)


def load(url: str, tables: dict[str, list[dict]]):  # noqa: ANN201
    engine = create_engine(url)
    schema.create_contract(engine)
    with engine.begin() as conn:
        for name, rows in tables.items():
            if rows:
                conn.execute(schema.metadata.tables[name].insert(), rows)
    return engine


@pytest.fixture(scope="module")
def world() -> dict[str, list[dict]]:
    return random_world()


@pytest.fixture
def duck(duckdb_url: str, world):  # noqa: ANN001, ANN201
    return load(duckdb_url, world)


def frame(world: dict, filters: Filters = PERIOD) -> pd.DataFrame:
    ch = pd.DataFrame(world["lifecycle_changes"]).merge(
        pd.DataFrame(world["customers"]), on="customer_id"
    )
    if filters.segments:
        ch = ch[ch["segment"].isin(filters.segments)]
    if filters.channels:
        ch = ch[ch["acquisition_channel"].isin(filters.channels)]
    return ch


def in_period(ts: pd.Series, f: Filters = PERIOD) -> pd.Series:
    return (ts >= f.start_ts) & (ts < f.end_ts)


def py_kind(a: str, b: str) -> str:
    if b == "dormant":
        return "to dormant"
    if a == "dormant":
        return "reactivation"
    return "forward" if ORDER.index(b) > ORDER.index(a) else "backward"


FILTER_CASES = [PERIOD, Filters(PERIOD.start, PERIOD.end, segments=("smb", "enterprise"))]


@pytest.mark.parametrize("filters", FILTER_CASES)
def test_transitions_vs_pandas(duck, world, filters: Filters) -> None:  # noqa: ANN001
    ch = frame(world, filters)
    ch = ch[in_period(ch["changed_at"], filters) & ch["from_stage"].notna()]
    ref = ch.groupby(["from_stage", "to_stage"]).size().rename("moves").reset_index()
    ref["kind"] = [py_kind(a, b) for a, b in zip(ref["from_stage"], ref["to_stage"], strict=True)]
    got = lc.transitions(duck, filters)
    merged = ref.merge(got, on=["from_stage", "to_stage"], how="outer", suffixes=("_ref", ""))
    assert merged["moves"].notna().all() and merged["moves_ref"].notna().all()
    assert (merged["moves"] == merged["moves_ref"]).all()
    assert (merged["kind"] == merged["kind_ref"]).all()
    assert set(got["kind"]) <= set(lc.KINDS)
    assert lc.flow_summary(got)["moves"].sum() == len(ch)


def test_classification_hand_cases(sqlite_url: str) -> None:
    t = dt.datetime(2026, 3, 5)
    steps = [
        "awareness",
        "engagement",
        "evaluation",
        "engagement",
        "dormant",
        "purchase",
        "loyalty",
    ]
    rows = [
        dict(
            customer_id=1,
            changed_at=t + dt.timedelta(days=i),
            from_stage=None if i == 0 else steps[i - 1],
            to_stage=s,
        )
        for i, s in enumerate(steps)
    ]
    cust = random_world(n=1)["customers"]
    engine = load(sqlite_url, dict(customers=cust, lifecycle_changes=rows))
    got = lc.transitions(engine, PERIOD).set_index(["from_stage", "to_stage"])["kind"].to_dict()
    assert got == {
        ("awareness", "engagement"): "forward",
        ("engagement", "evaluation"): "forward",
        ("evaluation", "engagement"): "backward",
        ("engagement", "dormant"): "to dormant",
        ("dormant", "purchase"): "reactivation",
        ("purchase", "loyalty"): "forward",
    }
    back = lc.biggest_backward_flows(lc.transitions(engine, PERIOD))
    assert back[["from_stage", "to_stage", "moves"]].values.tolist() == [
        ["evaluation", "engagement", 1]
    ]
    assert back["share_out"].iloc[0] == 1.0


def reference_conversion(world: dict, f: Filters) -> pd.DataFrame:
    ch = frame(world, f)
    allch = ch
    ch = ch[in_period(ch["changed_at"], f)]
    rows = []
    for k, nxt in zip(ORDER[:-1], ORDER[1:], strict=True):
        first = ch[ch["to_stage"] == k].groupby("customer_id")["changed_at"].min()
        later = allch[(allch["to_stage"] == nxt) & (allch["changed_at"] < f.end_ts)]
        conv = sum(
            bool((later[later["customer_id"] == c]["changed_at"] > t0).any())
            for c, t0 in first.items()
        )
        rows.append((k, nxt, len(first), conv))
    return pd.DataFrame(rows, columns=["stage", "next_stage", "entered", "converted"])


@pytest.mark.parametrize("filters", FILTER_CASES)
def test_stage_conversion_vs_pandas(duck, world, filters: Filters) -> None:  # noqa: ANN001
    ref = reference_conversion(world, filters)
    ref = ref[ref["entered"] > 0]
    got = lc.stage_conversion(duck, filters)
    assert got["stage"].tolist() == ref["stage"].tolist()  # stage order kept
    assert got["converted"].tolist() == ref["converted"].tolist()
    assert got["entered"].tolist() == ref["entered"].tolist()
    assert_allclose(got["rate"], ref["converted"] / ref["entered"])


def reference_median(world: dict, f: Filters) -> pd.Series:
    ch = frame(world, f).sort_values(["customer_id", "changed_at"])
    ch = ch[ch["changed_at"] < f.end_ts].copy()
    ch["left_at"] = ch.groupby("customer_id")["changed_at"].shift(-1)
    done = ch[in_period(ch["changed_at"], f) & ch["left_at"].notna() & (ch["left_at"] < f.end_ts)]
    days = (done["left_at"] - done["changed_at"]).dt.total_seconds() / 86400
    return days.groupby(done["to_stage"]).median()


def check_median(engine, world, f: Filters) -> None:  # noqa: ANN001
    ref = reference_median(world, f)
    got = lc.median_time_in_stage(engine, f).set_index("stage")["median_days"]
    assert sorted(got.index) == sorted(ref.index)
    assert_allclose(got.reindex(ref.index), ref, rtol=1e-6)


@pytest.mark.parametrize("filters", FILTER_CASES)
def test_median_time_duckdb_percentile_cont(duck, world, filters: Filters) -> None:  # noqa: ANN001
    check_median(duck, world, filters)


def test_median_time_sqlite_window_fallback(sqlite_url: str, world) -> None:  # noqa: ANN001
    check_median(load(sqlite_url, world), world, PERIOD)


@pytest.mark.postgres
def test_lifecycle_on_postgres(pg_url: str, world) -> None:  # noqa: ANN001
    engine = load(pg_url, world)
    check_median(engine, world, PERIOD)
    ref = reference_conversion(world, PERIOD)
    got = lc.stage_conversion(engine, PERIOD)
    assert got["converted"].tolist() == ref.loc[ref["entered"] > 0, "converted"].tolist()
    engine.dispose()


def test_window_median_matches_percentile_cont(duck) -> None:  # noqa: ANN001
    """The portable median (window functions) equals percentile_cont on the same data."""
    with duck.connect() as conn:
        a = pd.read_sql(lc.time_in_stage_stmt(PERIOD, "duckdb"), conn).set_index("stage")
        b = pd.read_sql(lc.time_in_stage_stmt(PERIOD, "sqlite"), conn).set_index("stage")
    assert_allclose(a["median_days"], b["median_days"].reindex(a.index), rtol=1e-9)


@pytest.mark.parametrize(
    "filters", [*FILTER_CASES, Filters(PERIOD.start, PERIOD.end, channels=("email",))]
)
def test_distribution_vs_pandas(duck, world, filters: Filters) -> None:  # noqa: ANN001
    ch = frame(world, filters)
    ch = ch[ch["changed_at"] < filters.end_ts].sort_values(["customer_id", "changed_at"])
    ref = ch.groupby("customer_id")["to_stage"].last().value_counts()
    got = lc.stage_distribution(duck, filters).set_index("stage")
    assert got["customers"].to_dict() == ref.to_dict()
    assert got["share"].sum() == pytest.approx(1.0)
    assert list(got.index) == [s for s in ALL if s in got.index]


def test_volumes_vs_pandas(duck, world) -> None:  # noqa: ANN001
    ch = frame(world)
    ch = ch[in_period(ch["changed_at"])]
    week = ch["changed_at"].dt.normalize() - pd.to_timedelta(
        ch["changed_at"].dt.day_of_week, unit="D"
    )
    ref = ch.groupby([week.rename("period"), ch["to_stage"].rename("stage")]).size()
    got = lc.stage_volumes(duck, PERIOD, "week").set_index(["period", "stage"])["entries"]
    assert got.sort_index().to_dict() == ref.sort_index().to_dict()


def test_empty_selection_is_empty_not_error(duck) -> None:  # noqa: ANN001
    far = Filters(dt.date(2030, 1, 1), dt.date(2030, 1, 31))
    assert lc.transitions(duck, far).empty
    assert lc.stage_conversion(duck, far).empty
    assert lc.median_time_in_stage(duck, far).empty
    assert lc.stage_volumes(duck, far).empty
    assert lc.biggest_backward_flows(lc.transitions(duck, far)).empty
    assert lc.flow_summary(lc.transitions(duck, far))["moves"].sum() == 0
    assert lc.campaign_stage_comparison(duck, far).empty


def test_campaign_stage_comparison_vs_pandas(duckdb_url: str) -> None:
    rng = np.random.default_rng(5)
    world = random_world(seed=5, n=30)
    camps = [
        dict(
            campaign_id=i,
            name=f"c{i}",
            channel=["email", "paid_search"][i % 2],
            target_stage=ORDER[i % 3],
            loop_stage="tailor",
            is_personalised=bool(i % 4 < 2),
            start_date=dt.date(2026, 1, 1),
            end_date=None,
        )
        for i in range(1, 9)
    ]
    events = ["impression", "click", "email_click", "visit", "purchase"]
    tps = [
        dict(
            touchpoint_id=i,
            customer_id=int(rng.integers(1, 31)),
            occurred_at=dt.datetime(2026, 2, 20) + dt.timedelta(hours=int(rng.integers(0, 900))),
            channel="email",
            campaign_id=int(rng.integers(1, 9)),
            event_type=str(rng.choice(events)),
            value=None,
        )
        for i in range(1, 400)
    ]
    spend = [
        dict(
            spend_date=dt.date(2026, 2, 25) + dt.timedelta(days=d),
            campaign_id=c["campaign_id"],
            channel=c["channel"],
            spend=float(rng.integers(1, 100)),
            impressions=100,
            clicks=3,
        )
        for c in camps
        for d in range(10)
    ]
    world.update(campaigns=camps, touchpoints=tps, daily_spend=spend)
    engine = load(duckdb_url, world)
    got = lc.campaign_stage_comparison(engine, PERIOD).set_index(["target_stage", "approach"])

    tp = pd.DataFrame(tps).merge(pd.DataFrame(camps), on=["campaign_id"], suffixes=("", "_c"))
    tp = tp[in_period(tp["occurred_at"])]
    tp["approach"] = np.where(tp["is_personalised"], "personalised", "generic")
    g = tp.groupby(["target_stage", "approach"])
    sp = pd.DataFrame(spend).merge(
        pd.DataFrame(camps)[["campaign_id", "target_stage", "is_personalised"]], on="campaign_id"
    )
    sp = sp[(sp["spend_date"] >= PERIOD.start) & (sp["spend_date"] <= PERIOD.end)]
    sp["approach"] = np.where(sp["is_personalised"], "personalised", "generic")
    ref_spend = sp.groupby(["target_stage", "approach"])["spend"].sum()
    purchases = tp[tp["event_type"] == "purchase"].groupby(["target_stage", "approach"])
    ref = pd.DataFrame(
        {
            "touches": g.size(),
            "reached": g["customer_id"].nunique(),
            "conversions": purchases.size(),
            "converters": purchases["customer_id"].nunique(),
        }
    ).fillna(0)
    ref = ref.reindex(got.index)
    for col in ref.columns:
        assert got[col].tolist() == ref[col].astype(int).tolist(), col
    assert_allclose(got["spend"], ref_spend.reindex(got.index))
    assert_allclose(got["conversion_rate"], ref["converters"] / ref["reached"])
    assert_allclose(got["cost_per_conversion"], ref_spend.reindex(got.index) / ref["conversions"])


def test_statements_compile_under_trino() -> None:
    for stmt in (
        lc.stage_volume_stmt(PERIOD, "month"),
        lc.stage_distribution_stmt(PERIOD),
        lc.stage_conversion_stmt(PERIOD),
        lc.time_in_stage_stmt(PERIOD, "trino"),
        lc.transitions_stmt(PERIOD),
        lc.campaign_touch_stmt(PERIOD),
    ):
        assert "SELECT" in str(stmt.compile(dialect=TrinoDialect()))


def test_bad_grain_message() -> None:
    with pytest.raises(ValueError, match="unknown grain 'fortnight'"):
        lc.stage_volume_stmt(PERIOD, "fortnight")


# --- AppTest through app.py (fixture warehouse shared with the channel tests) ---------------------


@pytest.fixture
def app_env(tmp_path, monkeypatch) -> str:  # noqa: ANN001
    from tests import test_channels as tc

    path = tmp_path / "fixture.duckdb"
    load(f"duckdb:///{path}", tc.app_tables()).dispose()
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{path}")
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    return str(path)


def test_lifecycle_page_with_filters(app_env: str) -> None:
    from tests.apptest_helpers import run_page

    at = run_page(
        "lifecycle",
        query={
            "start": "2026-03-01",
            "end": "2026-03-31",
            "region": "europe",
            "channel": "email,direct",
        },
        timeout=90,
    )
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["looplens_filters"].channels == ("direct", "email")
    assert len(at.dataframe) >= 1  # biggest backward flows
    at.segmented_control(key="lifecycle_grain").set_value("month").run()
    assert not at.exception, [e.value for e in at.exception]


def test_lifecycle_page_empty_selection(app_env: str) -> None:
    from tests.apptest_helpers import run_page

    at = run_page("lifecycle", query={"start": "2024-01-01", "end": "2024-01-31"}, timeout=90)
    assert not at.exception, [e.value for e in at.exception]
    assert any("No lifecycle changes match" in i.value for i in at.info)
