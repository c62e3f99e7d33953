"""The demo decision log: one decision per concluded experiment, following the engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from data.app_state import decisions as app_state_decisions
from data.app_state.store import AppStateStore, DecisionKind, open_store
from data.warehouse import open_engine
from metrics.experiments import analysis, demo_decisions, evolve
from metrics.marketing.kpis import KPIS

# The mapping of the brief, written out independently of the module's table.
EXPECTED_KIND = {
    "ship": DecisionKind.SHIP,
    "dont_ship_guardrail": DecisionKind.KILL,
    "invalid": DecisionKind.ITERATE,
    "stop_no_effect": DecisionKind.KILL,
    "keep_running": DecisionKind.EXTEND,
    # issue 10: an ended test that cannot rule out the MDE, and a significantly worse primary
    "inconclusive": DecisionKind.ITERATE,
    "dont_ship_harmful": DecisionKind.KILL,
}


DEMO_END = dt.date(2026, 11, 30)  # a fixed history: the same verdicts whatever today is


def _generate(tmp_path_factory: pytest.TempPathFactory, **kwargs: int) -> Iterator[Engine]:
    from data.demo import generator as demo

    path = tmp_path_factory.mktemp("demo_decisions") / "demo.duckdb"
    demo.generate(str(path), seed=3, end_date=DEMO_END, **kwargs)
    engine = open_engine(f"duckdb:///{path}", read_only=True)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    yield from _generate(tmp_path_factory, customers=6_000)


@pytest.fixture(scope="module")
def default_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The size the app generates: large enough for the planted winners to ship."""
    yield from _generate(tmp_path_factory)


@pytest.fixture
def store(sqlite_url: str) -> Iterator[AppStateStore]:
    opened = open_store(sqlite_url)
    yield opened
    opened.close()


def _concluded(engine: Engine) -> dict[str, dt.datetime]:
    """Concluded experiment id → end, read with plain SQL outside the module under test."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT experiment_id, ended_at FROM experiments WHERE status = 'concluded'")
        ).all()
    return {exp_id: ended for exp_id, ended in rows}


def _check_log(engine: Engine, store: AppStateStore) -> dict[str, analysis.ExperimentAnalysis]:
    concluded = _concluded(engine)
    before = dt.datetime.now(dt.UTC)
    assert demo_decisions.seed_demo_decisions(engine, store) == len(concluded) > 0
    log = app_state_decisions.all_decisions(store)
    assert sorted(d.experiment_id for d in log) == sorted(concluded)  # one each, version 1
    assert all(d.version == 1 for d in log)
    analyses = {}
    for d in log:
        a = analysis.analyze_experiment(engine, d.experiment_id)  # independent call
        analyses[d.experiment_id] = a
        rec = a.recommendation.kind.value
        assert d.decision is EXPECTED_KIND[rec], d.experiment_id
        assert d.recommendation_at_decision == rec
        assert d.followed_recommendation is True
        assert d.decided_by == "LoopLens demo"
        assert d.rationale.startswith("Demo decision") and rec in d.rationale
        assert d.evidence["recommendation"] == rec and d.evidence["demo"] is True
        ended = concluded[d.experiment_id].replace(tzinfo=dt.UTC)
        assert ended < d.recorded_at <= before
        assert d.recorded_at - ended <= dt.timedelta(days=7)  # "a few days after"
        if d.decision is not DecisionKind.SHIP:
            assert (d.target_kpi, d.expected_impact, d.rollout_date) == (None, None, None)
    return analyses


def test_small_demo_gets_one_decision_per_concluded_experiment(
    small_demo: Engine, store: AppStateStore
) -> None:
    _check_log(small_demo, store)


def test_ship_decisions_carry_target_kpi_impact_and_rollout(
    default_demo: Engine, store: AppStateStore
) -> None:
    analyses = _check_log(default_demo, store)
    ships = [d for d in app_state_decisions.all_decisions(store) if d.decision is DecisionKind.SHIP]
    assert ships, "the default-size demo plants winners that the engine ships"
    concluded = _concluded(default_demo)
    for d in ships:
        a = analyses[d.experiment_id]
        assert a.primary is not None and a.best_variant is not None
        lift = a.primary.result_for(a.best_variant).relative_lift
        assert d.expected_impact == pytest.approx(lift, rel=1e-12)
        assert evolve.resolve_kpi(d.target_kpi) in KPIS
        assert d.target_kpi in KPIS or d.target_kpi in evolve.KPI_ALIASES
        assert d.rollout_date == concluded[d.experiment_id].date() + dt.timedelta(days=7)
    # Realised impact understands every target KPI (none is reported as unknown).
    current = app_state_decisions.current_decisions(store)
    shipped = evolve.shipped_with_rollout(current)
    assert len(shipped) == len(ships)
    data_end = max(concluded.values()).date() + dt.timedelta(days=30)
    results = evolve.realised_impact(default_demo, shipped, data_end=data_end)
    assert all(r.status != "unknown_kpi" for r in results)


def test_seeding_is_idempotent_and_evolve_reports_everything_decided(
    small_demo: Engine, store: AppStateStore
) -> None:
    analyses = _check_log(small_demo, store)
    first = app_state_decisions.all_decisions(store)
    assert demo_decisions.seed_demo_decisions(small_demo, store) == 0
    assert app_state_decisions.all_decisions(store) == first
    summary = evolve.evolve_summary(small_demo, store)
    undecided = sum(a.recommendation.kind.value == "keep_running" for a in analyses.values())
    assert undecided == 0  # no concluded demo experiment still needs data at this size
    assert summary.decided_share == 1.0
    assert summary.followed_share == 1.0
    assert summary.decisions == summary.concluded == len(analyses)


def test_a_store_with_any_decision_is_left_alone(small_demo: Engine, store: AppStateStore) -> None:
    app_state_decisions.record_decision(
        store,
        experiment_id="exp_from_the_team",
        decision="iterate",
        rationale="Our own call.",
        decided_by="Ada",
        evidence={},
    )
    assert demo_decisions.seed_demo_decisions(small_demo, store) == 0
    assert [d.experiment_id for d in app_state_decisions.all_decisions(store)] == [
        "exp_from_the_team"
    ]


def test_decision_times_never_pass_now() -> None:
    ended = dt.datetime(2026, 5, 1)
    now = dt.datetime(2026, 5, 2, 8)
    assert demo_decisions.decision_time("exp_x", ended, now) == now
    later = demo_decisions.decision_time("exp_x", ended, dt.datetime(2027, 1, 1))
    assert ended + dt.timedelta(days=2) <= later < ended + dt.timedelta(days=7)


def _seed_in_app() -> None:
    import os

    from components.bootstrap import _seed_demo_decisions

    _seed_demo_decisions(os.environ["LOOPLENS_WAREHOUSE_URL"])


def test_bootstrap_seeds_the_resolved_store(
    small_demo: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    state_url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", str(small_demo.url))
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", state_url)
    at = AppTest.from_function(_seed_in_app).run(timeout=60)
    assert not at.exception and not at.warning
    seeded = open_store(state_url)
    try:
        assert len(app_state_decisions.all_decisions(seeded)) == len(_concluded(small_demo))
    finally:
        seeded.close()


def test_bootstrap_warns_when_the_store_cannot_be_written(
    small_demo: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the store's folder should be")
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", str(small_demo.url))
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{blocker}/state.sqlite")
    at = AppTest.from_function(_seed_in_app).run(timeout=60)
    assert not at.exception
    assert len(at.warning) == 1
    assert "demo decision log was not recorded" in at.warning[0].value
