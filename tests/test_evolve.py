"""Evolve metrics vs independent pandas computations on crafted decisions and generated demo
warehouses (DuckDB and SQLite); realised impact windows vs pandas; the page through app.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sqlalchemy import create_engine
from sqlalchemy.dialects import postgresql
from trino.sqlalchemy.dialect import TrinoDialect

from data.app_state.decisions import record_decision
from data.app_state.store import open_store
from data.demo import generator as demo
from metrics.experiments import evolve
from metrics.filters import Filters
from tests import apptest_helpers

END = dt.date(2026, 6, 30)
AS_OF = dt.datetime(2026, 7, 1)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("evolve")
    duck = folder / "demo.duckdb"
    demo.generate(duck, customers=1000, seed=5, end_date=END)
    lite = f"sqlite:///{folder / 'demo.sqlite'}"
    demo.generate(lite, customers=1000, seed=5, end_date=END, manifest=folder / "lite.json")
    return {"duckdb": f"duckdb:///{duck}", "sqlite": lite}


@pytest.fixture(scope="module")
def raw(warehouses) -> dict[str, pd.DataFrame]:
    """Raw tables read by pandas (tests only): the independent reference."""
    engine = create_engine(warehouses["sqlite"])
    with engine.connect() as conn:
        out = {
            t: pd.read_sql(f"select * from {t}", conn)  # noqa: S608 - fixed table names
            for t in ("experiments", "orders", "customers")
        }
    engine.dispose()
    for col in ("started_at", "ended_at"):
        out["experiments"][col] = pd.to_datetime(out["experiments"][col])
    out["orders"]["ordered_at"] = pd.to_datetime(out["orders"]["ordered_at"])
    out["customers"]["first_seen_at"] = pd.to_datetime(out["customers"]["first_seen_at"])
    return out


@pytest.fixture(scope="module")
def pg_warehouse(pg_module_url: str, tmp_path_factory) -> str:
    """The same demo data (same seed, size and end date) in a fresh PostgreSQL database."""
    manifest = tmp_path_factory.mktemp("evolve_pg") / "pg.json"
    demo.generate(pg_module_url, customers=1000, seed=5, end_date=END, manifest=manifest)
    return pg_module_url


@pytest.fixture(params=["duckdb", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, warehouses):
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_warehouse")
    else:
        url = warehouses[request.param]
    eng = create_engine(url)
    yield eng
    eng.dispose()


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    yield s
    s.close()


def crafted(raw: dict[str, pd.DataFrame]) -> list[dict]:
    """Decisions over the warehouse's experiments (plus one it does not know)."""
    exps = raw["experiments"].sort_values("experiment_id")
    concluded = list(exps.loc[exps.status == "concluded", "experiment_id"])
    running = list(exps.loc[exps.status == "running", "experiment_id"])
    assert len(concluded) >= 5 and running
    a, b, c, d, e = concluded[:5]

    def dec(exp, decision, rec=None, followed=None, kpi=None, impact=None, rollout=None):
        return dict(
            experiment_id=exp,
            decision=decision,
            rationale=f"{decision} because of the {exp} evidence",
            decided_by="Test",
            evidence={"n": 1},
            recommendation_at_decision=rec,
            followed_recommendation=followed,
            target_kpi=kpi,
            expected_impact=impact,
            rollout_date=rollout,
        )

    return [
        dec(a, "extend", "keep_running", True),
        dec(b, "kill", "stop_no_effect", True),
        dec(a, "ship", "ship", True, "revenue", 0.05, END - dt.timedelta(days=100)),
        dec(c, "ship", "keep_running", False, "Conversion rate", 0.03, END - dt.timedelta(60)),
        dec(d, "iterate"),
        dec(e, "ship", "ship", True, "made_up_kpi", 0.02, END - dt.timedelta(days=50)),
        dec(running[0], "extend", "keep_running", True),
        dec(running[0], "ship", "ship", True, "revenue", 0.04, END - dt.timedelta(days=10)),
        dec("exp_outside_warehouse", "ship", None, None, "revenue", 0.01, dt.date(2001, 1, 1)),
    ]


@pytest.fixture
def recorded(store, raw) -> pd.DataFrame:
    """Record the crafted decisions; return them as a frame (the pandas reference input)."""
    rows = []
    for kwargs in crafted(raw):
        rec = record_decision(store, **kwargs)
        rows.append({**kwargs, "version": rec.version, "recorded_at": rec.recorded_at})
    df = pd.DataFrame(rows)
    df["recorded_at"] = pd.to_datetime(df["recorded_at"]).dt.tz_convert(None)
    return df


def current_frame(recorded: pd.DataFrame) -> pd.DataFrame:
    return recorded.sort_values("version").groupby("experiment_id").tail(1)


# --- decision-log metrics vs pandas --------------------------------------------------------------


def test_rates_match_pandas(store, recorded, raw) -> None:
    current, history = evolve.load_history(store)
    cur = current_frame(recorded)
    decided = cur[cur.decision.isin(["ship", "iterate", "kill"])]
    assert evolve.win_rate(current) == pytest.approx((decided.decision == "ship").mean())
    known = cur.followed_recommendation.dropna().astype(bool)
    assert evolve.followed_share(current) == pytest.approx(known.mean())
    concluded = raw["experiments"].query("status == 'concluded'").experiment_id
    expected_decided = concluded.isin(decided.experiment_id).mean()
    assert evolve.decided_share(current, concluded) == pytest.approx(expected_decided)
    assert len(history) == len(recorded)


def test_time_to_decision_matches_pandas(store, recorded, raw) -> None:
    _, history = evolve.load_history(store)
    got = evolve.time_to_decision(history, raw["experiments"]).set_index("experiment_id")
    first = recorded[recorded.version == 1].set_index("experiment_id")["recorded_at"]
    exps = raw["experiments"].set_index("experiment_id")
    ref = exps.ended_at.fillna(exps.started_at)
    expected = ((first - ref.reindex(first.index)).dt.total_seconds() / 86400).dropna()
    assert sorted(got.index) == sorted(expected.index)  # the outside id is left out
    assert_allclose(got.loc[expected.index, "days"], expected, rtol=1e-9)
    running = exps.index[exps.status == "running"]
    assert set(got.loc[got.index.isin(running), "reference"]) == {"start"}


def test_cumulative_impact_matches_pandas(store, recorded) -> None:
    current, _ = evolve.load_history(store)
    got = evolve.cumulative_impact(current)
    cur = current_frame(recorded)
    ship = cur[(cur.decision == "ship") & cur.expected_impact.notna()].copy()
    ship["date"] = pd.to_datetime(ship.rollout_date.fillna(ship.recorded_at.dt.date))
    ship = ship.sort_values(["date", "experiment_id"])
    assert list(got.experiment_id) == list(ship.experiment_id)
    assert_allclose(got.cumulative, ship.expected_impact.cumsum())
    assert_allclose(got.cumulative.iloc[-1], ship.expected_impact.sum())
    per_kpi = ship.groupby("target_kpi").expected_impact.cumsum()
    assert_allclose(got.cumulative_kpi, per_kpi)


def test_velocity_matches_pandas(engine, raw) -> None:
    got = evolve.fetch_velocity(engine).set_index("month")
    e = raw["experiments"]
    started = e.started_at.dt.to_period("M").value_counts()
    concluded = e[e.status == "concluded"].ended_at.dt.to_period("M").value_counts()
    months = pd.period_range(
        min(started.index.min(), concluded.index.min()),
        max(started.index.max(), concluded.index.max()),
        freq="M",
    )
    assert list(got.index.to_period("M")) == list(months)
    assert list(got.started) == [int(started.get(m, 0)) for m in months]
    assert list(got.concluded) == [int(concluded.get(m, 0)) for m in months]
    window = Filters(END - dt.timedelta(days=119), END)
    inside = evolve.fetch_velocity(engine, window)
    in_window = (e.started_at >= pd.Timestamp(window.start_ts)) & (
        e.started_at < pd.Timestamp(window.end_ts)
    )
    assert inside.started.sum() == in_window.sum()


def test_summary_matches_pandas(engine, store, recorded, raw) -> None:
    got = evolve.evolve_summary(engine, store, as_of=AS_OF)
    e = raw["experiments"]
    since = pd.Timestamp(AS_OF - dt.timedelta(days=90))
    assert got.running == (e.status == "running").sum()
    assert got.concluded == (e.status == "concluded").sum()
    assert got.started_last_90d == (e.started_at >= since).sum()
    assert got.concluded_last_90d == ((e.status == "concluded") & (e.ended_at >= since)).sum()
    cur = current_frame(recorded)
    ship = cur[cur.decision == "ship"]
    assert got.shipped == len(ship) and got.decisions == len(cur)
    assert got.cumulative_estimated_impact == pytest.approx(ship.expected_impact.sum())
    current, _ = evolve.load_history(store)
    assert got.win_rate == evolve.win_rate(current)


def test_summary_without_decisions(engine, store) -> None:
    got = evolve.evolve_summary(engine, store, as_of=AS_OF)
    assert got.win_rate is None and got.followed_share is None
    assert got.decided_share == 0.0 and got.cumulative_estimated_impact == 0.0


def test_learnings_search_and_filters(store, recorded, raw) -> None:
    current, _ = evolve.load_history(store)
    e = raw["experiments"]
    everything = evolve.learnings(e, current)
    assert len(everything) == len(e) + 1  # the decided id outside the warehouse is kept
    assert everything.set_index("experiment_id").at["exp_outside_warehouse", "status"] == (
        "not in warehouse"
    )
    word = max(e.hypothesis.iloc[0].lower().split(), key=len).strip(".,;:()")
    got = evolve.learnings(e, current, text=word.upper())
    cur = current_frame(recorded).set_index("experiment_id")
    ref = pd.concat(
        [
            e[["experiment_id", "name", "hypothesis"]],
            pd.DataFrame(
                {"experiment_id": ["exp_outside_warehouse"], "name": ["exp_outside_warehouse"]}
            ),
        ]
    ).fillna("")
    ref["rationale"] = ref.experiment_id.map(cur.rationale).fillna("")
    text = (ref.name + " " + ref.hypothesis + " " + ref.rationale).str.lower()
    expected = ref.experiment_id[text.str.contains(word, regex=False)]
    assert len(expected) >= 1
    assert sorted(got.experiment_id) == sorted(expected)
    by_rationale = evolve.learnings(e, current, text="kill because")
    assert list(by_rationale.decision) == ["kill"]
    stage = e.loop_stage.iloc[0]
    staged = evolve.learnings(e, current, loop_stages=[stage], decisions=["undecided"])
    expected = e[(e.loop_stage == stage) & ~e.experiment_id.isin(cur.index)].experiment_id
    assert sorted(staged.experiment_id) == sorted(expected)


# --- realised impact ----------------------------------------------------------------------------


def _window_revenue(orders: pd.DataFrame, start: dt.date, end: dt.date) -> float:
    t = orders.ordered_at
    lo, hi = pd.Timestamp(start), pd.Timestamp(end + dt.timedelta(days=1))
    return float(orders.loc[(t >= lo) & (t < hi), "revenue"].sum())


def _window_conversion(raw, start: dt.date, end: dt.date) -> float:
    lo, hi = pd.Timestamp(start), pd.Timestamp(end + dt.timedelta(days=1))
    c, o = raw["customers"], raw["orders"]
    new = c[(c.first_seen_at >= lo) & (c.first_seen_at < hi)]
    buyers = o[(o.ordered_at >= lo) & (o.ordered_at < hi)].customer_id
    return float(new.customer_id.isin(buyers).mean())


def test_realised_impact_matches_pandas(engine, store, recorded, raw) -> None:
    current, _ = evolve.load_history(store)
    shipped = evolve.shipped_with_rollout(current)
    results = {r.experiment_id: r for r in evolve.realised_impact(engine, shipped, data_end=END)}
    assert set(results) == {d.experiment_id for d in shipped}
    by_status: dict[str, list] = {}
    for r in results.values():
        by_status.setdefault(r.status, []).append(r)
    assert sorted(by_status) == ["no_data", "ok", "too_recent", "unknown_kpi"]
    for r in by_status["ok"]:
        assert (r.before_end - r.before_start).days == (r.after_end - r.after_start).days == 27
        assert r.before_end + dt.timedelta(days=1) == r.rollout_date == r.after_start
        if r.kpi == "revenue":
            before = _window_revenue(raw["orders"], r.before_start, r.before_end)
            after = _window_revenue(raw["orders"], r.after_start, r.after_end)
        else:
            assert r.kpi == "conversion_rate" and r.target_kpi == "Conversion rate"
            before = _window_conversion(raw, r.before_start, r.before_end)
            after = _window_conversion(raw, r.after_start, r.after_end)
        assert_allclose([r.before, r.after], [before, after], rtol=1e-9)
        assert_allclose(r.change, after / before - 1, rtol=1e-9)
    (late,) = by_status["too_recent"]
    assert late.after is None and "too recent" in late.message
    assert late.after_end > END
    (empty,) = by_status["no_data"]
    assert empty.rollout_date.year == 2001
    (unknown,) = by_status["unknown_kpi"]
    assert "made_up_kpi" in unknown.message
    table = evolve.realised_frame(list(results.values()))
    assert len(table) == len(results) and table["estimated_impact"].notna().all()


def test_realised_impact_respects_dimension_filters(engine, store, recorded, raw) -> None:
    current, _ = evolve.load_history(store)
    shipped = [d for d in evolve.shipped_with_rollout(current) if d.target_kpi == "revenue"]
    base = Filters(END, END, segments=("smb",))
    results = evolve.realised_impact(engine, shipped, data_end=END, window_days=14, base=base)
    ok = [r for r in results if r.status == "ok"]
    assert ok
    smb = raw["customers"].loc[raw["customers"].segment == "smb", "customer_id"]
    orders = raw["orders"][raw["orders"].customer_id.isin(smb)]
    for r in ok:
        assert (r.after_end - r.after_start).days == 13
        expected = [
            _window_revenue(orders, r.before_start, r.before_end),
            _window_revenue(orders, r.after_start, r.after_end),
        ]
        assert_allclose([r.before, r.after], expected, rtol=1e-9)


def test_resolve_kpi_and_windows() -> None:
    assert evolve.resolve_kpi("revenue") == "revenue"
    assert evolve.resolve_kpi("conversion rate") == "conversion_rate"
    assert evolve.resolve_kpi("purchase_conversion") == "conversion_rate"
    assert evolve.resolve_kpi("nope") is None and evolve.resolve_kpi(None) is None
    b0, b1, a0, a1 = evolve.windows(dt.date(2026, 3, 1), 28)
    assert (b0, b1, a0, a1) == (
        dt.date(2026, 2, 1),
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 28),
    )


@pytest.mark.parametrize("dialect", [postgresql.dialect(), TrinoDialect()])
def test_queries_compile_with_bound_parameters(dialect) -> None:
    for stmt in (
        evolve.velocity_query(Filters(dt.date(2026, 1, 1), END)),
        evolve.activity_query(AS_OF),
        evolve.realised_impact_query("conversion_rate", END, 28, Filters(END, END)),
    ):
        sql = str(stmt.compile(dialect=dialect))
        assert "2026" not in sql and "'concluded'" not in sql


# --- the page through app.py --------------------------------------------------------------------


@pytest.fixture
def app_env(warehouses, tmp_path: Path, monkeypatch) -> str:
    state = f"sqlite:///{tmp_path / 'app_state.sqlite'}"
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", warehouses["duckdb"])
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", state)
    return state


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_page_without_decisions(app_env, raw) -> None:
    at = apptest_helpers.run_page("evolve")
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    shown = _metrics(at)
    assert shown["Win rate"] == "–" and shown["Cumulative estimated impact"] == "–"
    running_now = evolve.STATUS_LABELS["running_now"][0]
    assert shown[running_now] == str((raw["experiments"].status == "running").sum())
    assert any("No decisions recorded yet" in i.value for i in at.info)
    library = at.dataframe[-1].value
    assert len(library) == len(raw["experiments"])
    assert set(library.decision) == {"undecided"}
    assert len(at.get("plotly_chart")) == 1  # velocity only


def test_page_with_decisions(app_env, raw) -> None:
    store = open_store(app_env)
    for kwargs in crafted(raw):
        record_decision(store, **kwargs)
    current, _ = evolve.load_history(store)
    store.close()
    at = apptest_helpers.run_page("evolve")
    assert not at.exception, [e.value for e in at.exception]
    shown = _metrics(at)
    assert shown["Win rate"] == f"{evolve.win_rate(current):.0%}"
    assert shown["Followed the recommendation"] == f"{evolve.followed_share(current):.0%}"
    assert shown["Shipped"] == "5"
    assert any("Observational, not causal" in w.value for w in at.warning)
    captions = " ".join(c.value for c in at.caption)
    assert "Rollout too recent" in captions and "is not a KPI" in captions
    assert "No data in one or both windows" in captions
    assert len(at.get("plotly_chart")) == 3  # velocity, cumulative impact, realised vs estimate
    at.text_input(key="evolve_search").set_value("kill because").run()
    assert list(at.dataframe[-1].value.decision) == ["kill"]
    at.multiselect(key="evolve_decisions").set_value(["ship"]).run()
    assert not at.exception
    assert any("No experiment matches" in i.value for i in at.info)
