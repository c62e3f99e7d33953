"""The CLV fit at scale: BG/NBD + Gamma-Gamma on a simulated transaction table.

Customers are simulated from known parameters (the CDNOW estimates, weeks), their purchase
days written to a DuckDB table ``tx(customer_id, ts, amount)``, then timed: the grouped
(x, t_x, T) summary in SQL, the spend summary in SQL, the BG/NBD fit, the Gamma-Gamma fit. The
recovered parameters are printed next to the true ones.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.report import Table

TRUE_BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # weeks
TRUE_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
END = dt.date(2026, 6, 30)


def simulate_transactions(customers: int, seed: int = 0) -> pd.DataFrame:
    """Purchase rows (``customer_id``, ``ts``, ``amount``) of ``customers`` BG/NBD customers.

    First purchases are spread uniformly over the 78 weeks before ``END``; purchases on one day
    merge in the summary, as in real data.
    """
    rng = np.random.default_rng(seed)
    n = customers
    T_weeks = rng.integers(1, 78 * 7, n) / 7.0
    lam = rng.gamma(TRUE_BG["r"], 1.0 / TRUE_BG["alpha"], n)
    p = rng.beta(TRUE_BG["a"], TRUE_BG["b"], n)
    nu = rng.gamma(TRUE_GG["q"], 1.0 / TRUE_GG["gamma"], n)
    custs = [np.arange(n)]
    times = [np.zeros(n)]
    t = np.zeros(n)
    active = np.arange(n)
    while active.size:
        t[active] += rng.exponential(1.0 / lam[active])
        active = active[t[active] <= T_weeks[active]]
        custs.append(active)
        times.append(t[active].copy())
        active = active[rng.random(active.size) >= p[active]]
    cust = np.concatenate(custs)
    weeks = np.concatenate(times)
    first_day = pd.Timestamp(END) - pd.to_timedelta(np.round(T_weeks * 7), unit="D")
    ts = first_day[cust] + pd.to_timedelta(np.floor(weeks * 7), unit="D")
    amount = rng.gamma(TRUE_GG["p"], 1.0 / nu[cust])
    return pd.DataFrame({"customer_id": cust, "ts": ts.astype("datetime64[us]"), "amount": amount})


def bench_clv(path: Path, customers: int) -> Table:
    """Time the grouped summary SQL and both fits at ``customers`` simulated customers."""
    from sqlalchemy import column, create_engine, table

    from metrics.retention.bgnbd import fit_bgnbd
    from metrics.retention.gamma_gamma import fit_gamma_gamma
    from metrics.retention.summary import fetch_summaries

    t0, c0 = time.perf_counter(), time.process_time()
    frame = simulate_transactions(customers)
    simulated, c_sim = time.perf_counter() - t0, time.process_time() - c0
    path.unlink(missing_ok=True)
    engine = create_engine(f"duckdb:///{path}")
    with engine.begin() as conn:
        conn.connection.driver_connection.register("tx_frame", frame)
        conn.exec_driver_sql("CREATE TABLE tx AS SELECT * FROM tx_frame")
    tx = table("tx", column("customer_id"), column("ts"), column("amount"))
    out = Table(
        f"CLV fit at {customers:,} customers ({len(frame):,} transactions, DuckDB)",
        ["step", "seconds", "CPU s", "rows / detail"],
    )
    out.add("simulate (not part of the fit)", simulated, c_sim, f"{len(frame):,} rows")
    t0, c0 = time.perf_counter(), time.process_time()
    summary, spend = fetch_summaries(engine, tx, END, "week")
    t_sql, c_sql = time.perf_counter() - t0, time.process_time() - c0
    out.add(
        "SQL: one scan, grouped summaries",
        t_sql,
        c_sql,
        f"{len(summary.x):,} distinct triples, {len(spend):,} distinct (x, total)",
    )
    t0, c0 = time.perf_counter(), time.process_time()
    bg = fit_bgnbd(summary.x, summary.t_x, summary.T, summary.n)
    t_bg, c_bg = time.perf_counter() - t0, time.process_time() - c0
    p = bg.params
    out.add(
        "BG/NBD fit (grouped)",
        t_bg,
        c_bg,
        f"r {p.r:.3f} α {p.alpha:.3f} a {p.a:.3f} b {p.b:.3f} "
        f"(true {TRUE_BG['r']}, {TRUE_BG['alpha']}, {TRUE_BG['a']}, {TRUE_BG['b']})",
    )
    t0, c0 = time.perf_counter(), time.process_time()
    x = spend["x"].to_numpy(float)
    gg = fit_gamma_gamma(x, spend["total"].to_numpy(float) / x, spend["n"].to_numpy(float))
    t_gg, c_gg = time.perf_counter() - t0, time.process_time() - c0
    g = gg.params
    out.add(
        "Gamma-Gamma fit",
        t_gg,
        c_gg,
        f"p {g.p:.2f} q {g.q:.2f} γ {g.gamma:.2f} "
        f"(true {TRUE_GG['p']}, {TRUE_GG['q']}, {TRUE_GG['gamma']})",
    )
    out.add(
        "total (SQL + fits; target ≤ 10 s)",
        t_sql + t_bg + t_gg,
        c_sql + c_bg + c_gg,
        "CPU s: this process incl. DuckDB threads; seconds: wall clock",
    )
    engine.dispose()
    return out
