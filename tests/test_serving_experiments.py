"""The experiment serving tables answer exactly what the live warehouse SQL answers.

For small generated demos on a real DuckDB file, a real SQLite file and the real PostgreSQL
server, the serving store is built (a DuckDB serving file; once also a PostgreSQL serving
database) and, for every demo experiment, every catalog metric, with and without the CUPED
covariate, the served sufficient statistics (whole experiment, cumulative per day, per slice of
each customer attribute, units per day and per variant) and the resulting analyses (every
engine, CUPED on/off) are compared with the live SQL of ``metrics.experiments.sql`` — itself
checked against an independent pandas recomputation in ``tests/test_experiment_sql.py``.

Tolerance: integer statistics (units, event counts and their squares, cross-products of counts)
must be equal exactly; float sums (revenue) to a relative 1e-9: served sums add the same
per-unit values in another order. Analyses are compared field by field at the same tolerance.
Also: an incremental refresh after new assignments and orders equals a full rebuild; an
experiment created after the last refresh, winsorised and as-of questions are answered live.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, func, insert, select, text

from data.demo import generator as demo
from data.schema import experiment_assignments, experiment_variants, experiments, orders
from data.serving import experiments as sx
from data.serving.config import ServingConfig
from data.serving.refresh import refresh
from data.serving.rollups import rollup
from data.serving.store import ServingStore
from metrics.experiments import served
from metrics.experiments import sql as es
from metrics.experiments.analysis import analyze_experiment
from metrics.experiments.data import list_experiments
from metrics.experiments.definitions import EXPERIMENT_METRICS, MetricKind
from metrics.stats.sufficient import VariantStats

DEMO_END = dt.date(2026, 11, 30)  # a fixed history: the same data whatever today is

RTOL = 1e-9
ROLLUPS = [rollup(name) for name in sx.ROLLUP_NAMES]
RUNNING = "exp_homepage_aa"  # a running demo experiment
ENGINES = ("frequentist", "bayesian", "sequential")


# --- helpers ---------------------------------------------------------------------------------


def build_store(warehouse: Engine, warehouse_url: str, serving_url: str, *, full: bool = True):
    """Refresh the experiment serving tables of ``serving_url`` from ``warehouse``."""
    config = ServingConfig(serving_url, "env")
    result = refresh(warehouse, config, warehouse_url, full=full, rollups=ROLLUPS)
    return ServingStore(config, warehouse_url), result


def close(a: Any, b: Any, where: str = "") -> None:
    """Recursive equality: ints, text, None exactly; floats to RTOL (NaN equals NaN)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool):
        assert isinstance(b, float | int), where
        if math.isnan(a):
            assert math.isnan(b), where
        else:
            assert a == pytest.approx(b, rel=RTOL, abs=1e-12), where
    else:
        assert a == b, where


def stats_equal(served_stats: list[VariantStats], live: list[VariantStats], kind: str) -> None:
    """Same variants in the same order; counts exactly, revenue sums to RTOL."""
    assert [s.variant for s in served_stats] == [s.variant for s in live]
    for s, r in zip(served_stats, live, strict=True):
        assert s.units == r.units
        for f in dataclasses.fields(VariantStats):
            a, b = getattr(s, f.name), getattr(r, f.name)
            if kind == "mean" or isinstance(a, str) or a is None:
                close(a, b, f"{s.variant}.{f.name}")
            else:
                assert a == b, f"{s.variant}.{f.name}: {a} != {b}"  # integer-valued: exact


def analysis_dict(a) -> dict:  # noqa: ANN001 - ExperimentAnalysis
    d = a.to_dict()
    for k in ("source", "source_reason", "refreshed_at"):
        d.pop(k)
    return d


def check_experiment(engine: Engine, store: ServingStore, experiment_id: str, *, slices=True):
    """Every served figure of one experiment equals the live one."""
    assert served.route(store, experiment_id, list(EXPERIMENT_METRICS.values())).served
    for metric in EXPERIMENT_METRICS.values():
        kind = str(metric.kind)
        for cov in (False, True) if metric.supports_cuped else (False,):
            got = es.fetch_variant_stats(engine, experiment_id, metric, covariate=cov,
                                         serving=store)  # fmt: skip
            stats_equal(got, es.fetch_variant_stats(engine, experiment_id, metric, covariate=cov),
                        kind)  # fmt: skip
            daily = es.fetch_daily_stats(engine, experiment_id, metric, covariate=cov,
                                         serving=store)  # fmt: skip
            live_daily = es.fetch_daily_stats(engine, experiment_id, metric, covariate=cov)
            assert daily.attrs["source"] == "serving"
            pd.testing.assert_frame_equal(
                daily, live_daily, check_exact=kind != "mean", rtol=RTOL, check_flags=False
            )
        if slices:
            for slice_by in es.SLICE_COLUMNS:
                got_s = es.fetch_sliced_stats(engine, experiment_id, metric, slice_by,
                                              serving=store)  # fmt: skip
                live_s = es.fetch_sliced_stats(engine, experiment_id, metric, slice_by)
                assert list(got_s) == list(live_s)
                for label in live_s:
                    stats_equal(got_s[label], live_s[label], kind)
    metrics = list(EXPERIMENT_METRICS.values())
    for cov in (False, True):
        got_all = es.fetch_experiment_stats(engine, experiment_id, metrics, covariate=cov,
                                            serving=store)  # fmt: skip
        live_all = es.fetch_experiment_stats(engine, experiment_id, metrics, covariate=cov)
        assert list(got_all) == list(live_all)
        for m in metrics:
            stats_equal(got_all[m.name], live_all[m.name], str(m.kind))
    split = es.fetch_daily_assignments(engine, experiment_id, serving=store)
    assert split.attrs["source"] == "serving"
    pd.testing.assert_frame_equal(
        split, es.fetch_daily_assignments(engine, experiment_id), check_flags=False
    )
    assert es.fetch_assignment_counts(engine, experiment_id, serving=store) == (
        es.fetch_assignment_counts(engine, experiment_id)
    )
    for engine_kind in ENGINES:
        for cuped in (False, True):
            a = analyze_experiment(engine, experiment_id, engine_kind=engine_kind, cuped=cuped,
                                   serving=store)  # fmt: skip
            b = analyze_experiment(engine, experiment_id, engine_kind=engine_kind, cuped=cuped)
            assert a.source == "serving" and b.source == "live"
            close(analysis_dict(a), analysis_dict(b), f"{experiment_id}/{engine_kind}/{cuped}")


def generate(url: str, folder: Path, seed: int) -> None:
    demo.generate(
        url,
        customers=2_500,
        seed=seed,
        overwrite=True,
        manifest=folder / "m.json",
        end_date=DEMO_END,
    )


# --- warehouses ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def duck(tmp_path_factory) -> Iterator[tuple[str, Engine]]:
    folder = tmp_path_factory.mktemp("srv_exp_duck")
    url = f"duckdb:///{folder / 'warehouse.duckdb'}"
    generate(url, folder, seed=11)
    engine = create_engine(url, connect_args={"read_only": True})
    yield url, engine
    engine.dispose()


@pytest.fixture(scope="module")
def lite(tmp_path_factory) -> Iterator[tuple[str, Engine]]:
    folder = tmp_path_factory.mktemp("srv_exp_lite")
    url = f"sqlite:///{folder / 'warehouse.sqlite'}"
    generate(url, folder, seed=12)
    engine = create_engine(url)
    yield url, engine
    engine.dispose()


@pytest.fixture(scope="module")
def pg(pg_module_url: str, tmp_path_factory) -> Iterator[tuple[str, Engine]]:
    folder = tmp_path_factory.mktemp("srv_exp_pg")
    generate(pg_module_url, folder, seed=13)
    engine = create_engine(pg_module_url)
    with engine.connect() as conn:  # planner statistics (see docs/PLATFORM: nested loops)
        conn.execute(text("ANALYZE"))
    yield pg_module_url, engine
    engine.dispose()


@pytest.mark.parametrize("which", ["duck", "lite", "pg"])
def test_served_equals_live_for_every_experiment(which: str, request, tmp_path: Path) -> None:
    """Every experiment, metric, CUPED option, day, slice and analysis engine (DuckDB store)."""
    url, engine = request.getfixturevalue(which)
    store, result = build_store(engine, url, f"duckdb:///{tmp_path / 'serving.duckdb'}")
    assert {t.mode for t in result.tables} == {"full"}
    infos = list_experiments(engine)
    assert len(infos) >= 8
    for info in infos:
        check_experiment(engine, store, info.experiment_id)
    store.dispose()


def test_postgres_serving_store(duck, pg_url: str) -> None:
    """The same answers from a serving store in a PostgreSQL database (COPY-loaded)."""
    url, engine = duck
    store, _ = build_store(engine, url, pg_url)
    for info in list_experiments(engine):
        check_experiment(engine, store, info.experiment_id, slices=info.experiment_id == RUNNING)
    store.dispose()


# --- incremental refresh and routing ---------------------------------------------------------


def _latest(conn) -> dt.datetime:  # noqa: ANN001
    return max(
        conn.execute(select(func.max(orders.c.ordered_at))).scalar_one(),
        conn.execute(select(func.max(experiment_assignments.c.assigned_at))).scalar_one(),
    )


def _append_new_day(engine: Engine, experiment_id: str) -> int:
    """New first assignments the day after the warehouse's latest event, orders for them and
    for already-assigned units; returns the number of new assignments."""
    a = experiment_assignments
    with engine.begin() as conn:
        day = _latest(conn).replace(hour=0, minute=0, second=0, microsecond=0)
        day += dt.timedelta(days=1)
        assigned = select(a.c.customer_id).where(a.c.experiment_id == experiment_id)
        fresh = (
            conn.execute(text("SELECT customer_id FROM customers ORDER BY customer_id LIMIT 4000"))
            .scalars()
            .all()
        )
        taken = set(conn.execute(assigned).scalars())
        new_units = [c for c in fresh if c not in taken][:60]
        assert new_units and taken
        old_units = sorted(taken)[:40]
        conn.execute(insert(a), [
            dict(experiment_id=experiment_id, customer_id=c,
                 variant="control" if i % 2 else "treatment",
                 assigned_at=day + dt.timedelta(minutes=7 * i))
            for i, c in enumerate(new_units)
        ])  # fmt: skip
        next_id = conn.execute(select(func.max(orders.c.order_id))).scalar_one() + 1
        buyers = new_units[::3] + old_units[::2]
        conn.execute(insert(orders), [
            dict(order_id=next_id + i, customer_id=c,
                 ordered_at=day + dt.timedelta(hours=5, minutes=i), revenue=12.5 + 3.25 * i)
            for i, c in enumerate(buyers)
        ])  # fmt: skip
    return len(new_units)


def _table_rows(store: ServingStore, table) -> list[tuple]:  # noqa: ANN001
    with store.engine().connect() as conn:
        rows = conn.execute(select(table)).all()
    return sorted((tuple(r) for r in rows), key=lambda r: tuple(str(v) for v in r))


@pytest.mark.parametrize("backend", ["duckdb", "sqlite"])
def test_incremental_refresh_equals_full_rebuild(backend: str, tmp_path: Path) -> None:
    url = f"{backend}:///{tmp_path / f'warehouse.{backend}'}"
    generate(url, tmp_path, seed=21)
    engine = create_engine(url)
    incremental, _ = build_store(engine, url, f"duckdb:///{tmp_path / 'inc.duckdb'}")
    before = served.assignment_counts(incremental, RUNNING)
    added = _append_new_day(engine, RUNNING)
    assert added > 0
    _, result = build_store(engine, url, f"duckdb:///{tmp_path / 'inc.duckdb'}", full=False)
    by_table = {t.rollup: t for t in result.tables}
    stats_result = by_table[sx.experiment_stats.name]
    assert stats_result.mode == "incremental"
    # Only the experiments whose figures can have changed were re-read (ended ones were not).
    assert 0 < stats_result.rows_written < stats_result.row_count
    fresh, _ = build_store(engine, url, f"duckdb:///{tmp_path / 'full.duckdb'}")
    for table in (sx.experiment_index, sx.experiment_stats):
        got, want = _table_rows(incremental, table), _table_rows(fresh, table)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            close(list(g), list(w), table.name)
    assert sum(served.assignment_counts(incremental, RUNNING).values()) == (
        sum(before.values()) + added
    )
    check_experiment(engine, incremental, RUNNING, slices=False)
    incremental.dispose()
    fresh.dispose()
    engine.dispose()


def test_new_experiment_and_unadditive_questions_are_answered_live(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    generate(url, tmp_path, seed=22)
    engine = create_engine(url)
    store, _ = build_store(engine, url, f"duckdb:///{tmp_path / 'serving.duckdb'}")
    newer = "exp_started_after_refresh"
    a = experiment_assignments
    with engine.begin() as conn:  # a running experiment created after the refresh
        conn.execute(insert(experiments).values(
            experiment_id=newer, name="Newer", hypothesis="h", loop_stage="evolve",
            primary_metric="purchase_conversion", secondary_metrics="revenue_per_user",
            guardrail_metrics=None, started_at=_latest(conn), ended_at=None, status="running",
        ))  # fmt: skip
        conn.execute(insert(experiment_variants), [
            dict(experiment_id=newer, variant="control", is_control=True, expected_share=0.5),
            dict(experiment_id=newer, variant="treatment", is_control=False, expected_share=0.5),
        ])  # fmt: skip
        rows = conn.execute(
            select(a.c.customer_id, a.c.variant, a.c.assigned_at).where(
                a.c.experiment_id == RUNNING
            )
        ).all()
        conn.execute(insert(a), [dict(experiment_id=newer, customer_id=r.customer_id,
                                      variant=r.variant, assigned_at=r.assigned_at)
                                 for r in rows])  # fmt: skip
    metric = EXPERIMENT_METRICS["purchase_conversion"]
    src = served.route(store, newer, [metric])
    assert src.kind == "live" and "newer than the last refresh" in src.reason
    got = analyze_experiment(engine, newer, cuped=True, serving=store)
    want = analyze_experiment(engine, newer, cuped=True)
    assert got.source == "live" and "newer" in got.source_reason
    assert got.metrics[0].stats == want.metrics[0].stats and got.metrics[0].stats[0].units > 0
    daily = es.fetch_daily_stats(engine, newer, metric, serving=store)
    assert daily.attrs["source"] == "live"
    pd.testing.assert_frame_equal(daily, es.fetch_daily_stats(engine, newer, metric),
                                  check_flags=False)  # fmt: skip
    # Winsorised and as-of questions are not additive over the stored groups: live.
    rpu = EXPERIMENT_METRICS["revenue_per_user"]
    assert "winsor" in served.route(store, RUNNING, [rpu], winsorize_pct=0.99).reason
    as_of = dt.datetime(2026, 11, 10)
    assert "as-of" in served.route(store, RUNNING, [rpu], as_of=as_of).reason
    w = analyze_experiment(engine, RUNNING, winsorize_pct=0.95, serving=store)
    assert w.source == "live"
    close(analysis_dict(w), analysis_dict(analyze_experiment(engine, RUNNING, winsorize_pct=0.95)))
    assert served.route(store, RUNNING, [rpu]).served  # the plain question is served
    # No store: the live path, saying so.
    assert analyze_experiment(engine, RUNNING).source_reason == "no serving store"
    store.dispose()
    engine.dispose()


def test_changed_metric_definition_is_answered_live(duck, tmp_path: Path, monkeypatch) -> None:
    url, engine = duck
    store, _ = build_store(engine, url, f"duckdb:///{tmp_path / 'serving.duckdb'}")
    changed = dataclasses.replace(EXPERIMENT_METRICS["purchase_conversion"], window_days=7)
    assert changed.kind is MetricKind.BINOMIAL
    src = served.route(store, RUNNING, [changed])
    assert src.kind == "live" and "purchase_conversion" in src.reason
    got = es.fetch_variant_stats(engine, RUNNING, changed, serving=store)
    assert got == es.fetch_variant_stats(engine, RUNNING, changed)
    monkeypatch.setitem(EXPERIMENT_METRICS, "purchase_conversion", changed)
    assert analyze_experiment(engine, RUNNING, serving=store).source == "live"
    store.dispose()


# --- the pages say where the figures come from ------------------------------------------------


def test_detail_page_caption_names_the_source(duck, tmp_path: Path, monkeypatch) -> None:
    from tests.apptest_helpers import run_page

    url, engine = duck
    serving_url = f"duckdb:///{tmp_path / 'serving.duckdb'}"
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", url)
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    monkeypatch.setenv("LOOPLENS_SERVING_URL", serving_url)
    query = {"experiment": RUNNING}
    at = run_page("experiment_detail", query=query)
    assert not at.exception, [e.value for e in at.exception]
    captions = "\n".join(str(c.value) for c in at.caption)
    assert "Live from the warehouse" in captions
    build_store(engine, url, serving_url)[0].dispose()
    at = run_page("experiment_detail", query=query)
    assert not at.exception, [e.value for e in at.exception]
    captions = "\n".join(str(c.value) for c in at.caption)
    assert "From the serving layer, refreshed" in captions
    at = run_page("experiments")
    assert not at.exception, [e.value for e in at.exception]
    assert "from the serving layer" in "\n".join(str(c.value) for c in at.caption)
