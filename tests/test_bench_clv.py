"""``python -m bench --only clv``: the CLV section runs and its simulation recovers the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

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


def test_holdout_check_is_accurate_when_the_model_is_right() -> None:
    import datetime as dt

    from sqlalchemy import column, create_engine, table

    from metrics.retention.model import holdout_check

    frame = clv.simulate_transactions(30_000, seed=2)
    engine = create_engine("duckdb:///:memory:")
    with engine.connect() as conn:
        conn.connection.driver_connection.register("sim", frame)
        tx = table("sim", column("customer_id"), column("ts"), column("amount"))
        check = holdout_check(conn, tx, clv.END, 182)
        # an independent count of the hold-out purchase days in pandas
        days = frame.assign(day=frame["ts"].dt.normalize()).drop_duplicates(["customer_id", "day"])
        cal_end = clv.END - dt.timedelta(days=182)
        first = days.groupby("customer_id")["day"].transform("min")
        old = first <= pd.Timestamp(cal_end)
        hold = days["day"] > pd.Timestamp(cal_end)
        assert check.actual == float((old & hold).sum())
    engine.dispose()
    assert check.customers == int(old.groupby(days["customer_id"]).any().sum())
    assert abs(check.relative_error) < 0.08, check
