"""Experiment benchmarks: one experiment with many assignments, and stats-only cost.

``build_big_experiment`` writes a synthetic warehouse with one two-arm experiment of
``assignments`` units straight from DuckDB SQL (``range``), with purchases (~5% of units, more in
treatment), revenue with a pre-period covariate and support contacts. It exists only to time the
analysis at 10M assignments; the planted-truth demo lives in ``data.demo``.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import numpy as np
from sqlalchemy import create_engine

from bench.report import Table
from data.schema import create_contract

EXPERIMENT_ID = "bench_big"
START = "2026-01-01"


def build_big_experiment(path: Path, assignments: int, seed: int = 1) -> float:
    """Create the synthetic warehouse at ``path``; returns seconds taken."""
    t0 = time.perf_counter()
    path.unlink(missing_ok=True)
    engine = create_engine(f"duckdb:///{path}")
    create_contract(engine)
    engine.dispose()
    con = duckdb.connect(str(path))
    con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    con.execute(
        """
        INSERT INTO experiments VALUES (?, 'Benchmark experiment', 'Bigger is slower', 'evolve',
            'purchase_conversion', 'revenue_per_user', 'support_contact_rate',
            TIMESTAMP '2026-01-01', NULL, 'running')
        """,
        [EXPERIMENT_ID],
    )
    con.execute(
        "INSERT INTO experiment_variants VALUES (?, 'control', TRUE, 0.5), "
        "(?, 'treatment', FALSE, 0.5)",
        [EXPERIMENT_ID, EXPERIMENT_ID],
    )
    con.execute(
        f"""
        CREATE TEMP TABLE units AS
        SELECT i AS customer_id,
               CASE WHEN random() < 0.5 THEN 'control' ELSE 'treatment' END AS variant,
               TIMESTAMP '{START}'
                 + to_seconds(CAST(random() * 28 * 86400 AS BIGINT)) AS assigned_at
        FROM range({assignments}) t(i)
        """
    )
    con.execute(
        "INSERT INTO experiment_assignments SELECT ?, customer_id, variant, assigned_at FROM units",
        [EXPERIMENT_ID],
    )
    con.execute(
        """
        INSERT INTO customers
        SELECT customer_id, assigned_at - INTERVAL 30 DAY,
               (['paid_search', 'paid_social', 'email', 'referral', 'direct'])[1 + customer_id % 5],
               NULL, (['smb', 'mid_market', 'enterprise'])[1 + customer_id % 3],
               'marketer', (['north_america', 'europe', 'apac', 'latam'])[1 + customer_id % 4]
        FROM units
        """
    )
    con.execute(
        """
        INSERT INTO orders
        SELECT row_number() OVER () AS order_id, customer_id,
               assigned_at + to_seconds(CAST(random() * 13 * 86400 AS BIGINT)),
               exp(3.5 + 1.2 * sqrt(-2 * ln(random())) * cos(2 * pi() * random()))
        FROM units
        WHERE random() < CASE WHEN variant = 'treatment' THEN 0.055 ELSE 0.05 END
        """
    )
    con.execute(
        """
        INSERT INTO touchpoints
        SELECT row_number() OVER (), customer_id,
               assigned_at + to_seconds(CAST(random() * 13 * 86400 AS BIGINT)),
               'email', NULL, 'support_contact', NULL
        FROM units WHERE random() < 0.03
        """
    )
    con.close()
    return time.perf_counter() - t0


def bench_big_experiment(path: Path, assignments: int, repeat: int = 2) -> Table:
    """SQL + stats time of ``analyze_experiment`` on ``assignments`` units."""
    from metrics.experiments.analysis import analyze_experiment
    from metrics.experiments.definitions import get_metric
    from metrics.experiments.sql import (
        fetch_daily_assignments,
        fetch_daily_stats,
        fetch_sliced_stats,
        fetch_variant_stats,
    )

    build_s = build_big_experiment(path, assignments)
    engine = create_engine(f"duckdb:///{path}", connect_args={"read_only": True})
    table = Table(
        f"Experiment analysis at {assignments:,} assignments (warehouse built in {build_s:.1f} s)",
        ["what", "run", "s"],
    )
    for i in range(repeat):
        run = "cold" if i == 0 else f"warm {i}"
        t0 = time.perf_counter()
        analysis = analyze_experiment(engine, EXPERIMENT_ID, cuped=True)
        table.add(
            "analyze_experiment (3 metrics, CUPED, SQL + stats)", run, time.perf_counter() - t0
        )
    for name in ("purchase_conversion", "revenue_per_user"):
        t0 = time.perf_counter()
        fetch_variant_stats(engine, EXPERIMENT_ID, get_metric(name), covariate=True)
        table.add(f"sufficient-statistics SQL only: {name}", "warm", time.perf_counter() - t0)
    # The experiment detail page: analysis + cumulative daily stats + traffic split + a segment.
    metric = get_metric("purchase_conversion")
    t0 = time.perf_counter()
    analyze_experiment(engine, EXPERIMENT_ID)
    fetch_daily_stats(engine, EXPERIMENT_ID, metric)
    fetch_daily_assignments(engine, EXPERIMENT_ID)
    fetch_sliced_stats(engine, EXPERIMENT_ID, metric, "acquisition_channel")
    table.add("experiment detail page data (4 fetches)", "warm", time.perf_counter() - t0)
    table.add(f"recommendation: {analysis.recommendation.kind}", "-", 0.0)
    _bench_served(path, engine, table)
    engine.dispose()
    return table


def _list_page(engine, serving=None) -> None:  # noqa: ANN001 - Engine, ServingStore
    """The Experiments list page's data: metadata plus the default analysis of each one."""
    from metrics.experiments.analysis import analyze_experiment
    from metrics.experiments.data import list_experiments

    for info in list_experiments(engine):
        analyze_experiment(engine, info.experiment_id, serving=serving)


def _detail_page(engine, serving=None) -> str:  # noqa: ANN001 - Engine, ServingStore
    """The Experiment detail page's data (analysis, cumulative daily stats of the primary
    metric, traffic split, one segment breakdown); returns the analysis' source."""
    from metrics.experiments.analysis import analyze_experiment
    from metrics.experiments.definitions import get_metric
    from metrics.experiments.sql import (
        fetch_daily_assignments,
        fetch_daily_stats,
        fetch_sliced_stats,
    )

    metric = get_metric("purchase_conversion")
    analysis = analyze_experiment(engine, EXPERIMENT_ID, serving=serving)
    fetch_daily_stats(engine, EXPERIMENT_ID, metric, serving=serving)
    fetch_daily_assignments(engine, EXPERIMENT_ID, serving=serving)
    fetch_sliced_stats(engine, EXPERIMENT_ID, metric, "acquisition_channel", serving=serving)
    return analysis.source or "live"


def _bench_served(path: Path, engine, table: Table) -> None:  # noqa: ANN001 - Engine
    """Serving-store build (full, then incremental) and list/detail page data served vs live."""
    from data.serving.config import ServingConfig
    from data.serving.experiments import ROLLUP_NAMES
    from data.serving.refresh import refresh
    from data.serving.rollups import rollup
    from data.serving.store import ServingStore

    warehouse_url = f"duckdb:///{path}"
    serving_path = path.with_name(path.stem + "_serving.duckdb")
    serving_path.unlink(missing_ok=True)
    config = ServingConfig(f"duckdb:///{serving_path}", "env")
    rollups = [rollup(n) for n in ROLLUP_NAMES]
    for mode, full in (("full", True), ("incremental (running: rebuilt)", False)):
        t0 = time.perf_counter()
        refresh(engine, config, warehouse_url, full=full, rollups=rollups)
        table.add(f"serving refresh of the experiment tables, {mode}", "-",
                  time.perf_counter() - t0)  # fmt: skip
    for label, page in (("list", _list_page), ("detail", _detail_page)):
        for source in ("live", "served"):
            fresh = create_engine(warehouse_url, connect_args={"read_only": True})
            store = ServingStore(config, warehouse_url) if source == "served" else None
            for run in ("cold", "warm"):
                t0 = time.perf_counter()
                page(fresh, store)
                table.add(f"{label} page data, {source}", run, time.perf_counter() - t0)
            if store is not None:
                store.dispose()
            fresh.dispose()


def bench_stats_only(repeat: int = 2000) -> Table:
    """Pure statistics cost per metric × variant comparison (no SQL)."""
    from metrics.stats.engine import analyze_metric
    from metrics.stats.sufficient import VariantStats

    control = VariantStats("control", 500_000, 25_000, 25_000)
    treatment = VariantStats("treatment", 500_000, 27_500, 27_500)
    rng = np.random.default_rng(0)
    y = rng.lognormal(3, 1, 1000)
    mean_c = VariantStats("control", 1000, y.sum(), (y * y).sum(), cov_sum=y.sum(),
                          cov_sum_sq=(y * y).sum(), cov_cross_sum=(y * y).sum())  # fmt: skip
    mean_t = VariantStats("treatment", 1000, y.sum() * 1.05, (y * y).sum() * 1.1, cov_sum=y.sum(),
                          cov_sum_sq=(y * y).sum(), cov_cross_sum=(y * y).sum() * 1.05)  # fmt: skip
    table = Table("Statistics only (per metric × variant comparison)", ["engine", "kind", "µs"])
    cases = [("binomial", control, treatment, False), ("mean", mean_c, mean_t, True)]
    for engine in ("frequentist", "bayesian", "sequential"):
        for kind, c, t, cuped in cases:
            t0 = time.perf_counter()
            for _ in range(repeat):
                analyze_metric(c, t, kind, engine=engine, cuped=cuped)
            table.add(
                engine,
                kind + (" + CUPED" if cuped else ""),
                (time.perf_counter() - t0) / repeat * 1e6,
            )
    return table


def bench_simulations(n_sims: int = 20_000) -> Table:
    """A/A peeking and coverage simulations at a larger size than the CI tests use."""
    from metrics.stats.simulate import (
        simulate_aa_peeking,
        simulate_ci_coverage,
        simulate_sequential_coverage,
    )

    table = Table(
        f"Error rates by simulation ({n_sims:,} runs, α = 0.05)", ["quantity", "rate", "MC s.e."]
    )
    peek = simulate_aa_peeking(n_sims=n_sims, looks=30, seed=1)
    for label, rate in (
        ("A/A false positives, fixed horizon", peek.fixed_horizon_rate),
        ("A/A false positives, naive test peeked daily (30 looks)", peek.naive_peeking_rate),
        ("A/A false positives, sequential peeked daily (30 looks)", peek.sequential_rate),
    ):
        table.add(label, rate, peek.mc_se(rate))
    cov = simulate_ci_coverage(n_sims=n_sims, seed=2)
    se = (0.95 * 0.05 / n_sims) ** 0.5
    table.add("coverage of the 95% absolute-lift interval", cov.absolute_coverage, se)
    table.add("coverage of the 95% relative-lift interval", cov.relative_coverage, se)
    table.add(
        "coverage of the 95% confidence sequence at every look",
        simulate_sequential_coverage(n_sims=n_sims // 4, seed=3),
        se,
    )
    _issue10_simulations(table, n_sims)
    return table


def _issue10_simulations(table: Table, n_sims: int) -> None:
    """Full-size versions of tests/test_stats_simulated_rules.py (issue 10's decision rules)."""
    from metrics.stats import simulate as sim

    mc = sim.mc_se
    for kind, n in (
        ("binomial", 400),
        ("binomial_low", 1000),
        ("lognormal", 30),
        ("lognormal", 400),
        ("zero_inflated", 200),  # 20 buyers per arm
        ("zero_inflated", 400),  # 40
        ("zero_inflated", 1000),  # 100
        ("zero_inflated", 2000),  # 200
        ("ratio", 30),
        ("ratio", 400),
    ):
        runs = n_sims if kind.startswith("binomial") else max(n_sims // 4, 1000)
        for engine in ("frequentist", "bayesian", "sequential"):
            r = sim.simulate_aa(kind, engine, n_sims=runs, units_per_arm=n, seed=11)
            table.add(
                f"A/A false positives, {engine}, {kind}, {n}/arm, 1 look", r.rate, mc(r.rate, runs)
            )
    runs = max(n_sims // 2, 1000)
    for rate in (0.02, 0.1):
        got = sim.simulate_sequential_aa(n_sims=runs, rate=rate, seed=12)
        table.add(f"A/A sequential, {rate:.0%}, 100 looks × 100 units/arm", got, mc(got, runs))
    for sequential in (True, False):
        got = sim.simulate_sequential_noninferiority(n_sims=runs, sequential=sequential, seed=13)
        label = "sequential" if sequential else "fixed-horizon (old)"
        table.add(f"false non-inferiority, harm = margin, 30 looks, {label}", got, mc(got, runs))
    for method in ("bonferroni", "holm"):
        got = sim.simulate_joint_coverage(method, n_sims=runs, seed=15)
        table.add(f"joint coverage of {method} intervals, 4 treatments", got, mc(got, runs))
    plan_rule, naive = sim.simulate_daily_recommendation(n_sims=runs, seed=14)
    table.add(
        "A/A false ship, 100 daily looks, plan + early-stop rule", plan_rule, mc(plan_rule, runs)
    )
    table.add(
        "A/A false ship, 100 daily looks, first significant look (old)", naive, mc(naive, runs)
    )
