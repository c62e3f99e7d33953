"""``python -m bench --only clv``: the CLV section runs and its simulation recovers the truth."""

from __future__ import annotations

import numpy as np

from bench import clv
from metrics.retention.model import fit_frame


def test_bench_clv_section_runs(tmp_path) -> None:
    table = clv.bench_clv(tmp_path / "clv.duckdb", 5_000)
    steps = [row[0] for row in table.rows]
    assert steps[1].startswith("SQL") and steps[2].startswith("BG/NBD") and "total" in steps[-1]


def test_simulated_transactions_recover_the_parameters() -> None:
    frame = clv.simulate_transactions(40_000, seed=1)
    assert frame["customer_id"].nunique() == 40_000
    models = fit_frame(frame, clv.END, "week")
    bg = models.bgnbd
    # day-rounding of purchase times biases alpha slightly: compare at 4 SE + 5%
    for name, true in clv.TRUE_BG.items():
        got, se = getattr(bg.params, name), bg.std_errors[name]
        assert abs(got - true) < 4 * se + 0.05 * true, (name, got, true, se)
    gg = models.gamma_gamma.params
    assert gg.p * gg.gamma / (gg.q - 1) == np.float64(gg.population_mean)
    for name, true in clv.TRUE_GG.items():
        got, se = getattr(gg, name), models.gamma_gamma.std_errors[name]
        assert abs(got - true) < 4 * se + 0.05 * true, (name, got, true, se)
