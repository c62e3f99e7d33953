"""Quantile metrics (median, p90) vs independent references: the binomial order-statistic
interval (scipy), and seeded simulation of A/A false positives and interval coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from metrics.stats import quantile


def test_order_statistic_interval_covers_like_the_binomial_says():
    # P(X_(lo) ≤ Q ≤ X_(hi)) = P(lo ≤ B ≤ hi − 1), B ~ Binomial(n, q): the exact coverage.
    n, q = 2000, 0.9
    lo, hi = quantile.order_statistic_ranks(n, q)
    exact = sps.binom.cdf(hi - 1, n, q) - sps.binom.cdf(lo - 1, n, q)
    assert 0.94 <= exact <= 0.96


@pytest.mark.parametrize("q", [0.5, 0.9])
def test_quantile_aa_false_positives_and_coverage(q):
    rng = np.random.default_rng(12345)
    n, runs = 1000, 1000
    true_lift = 0.1
    reject = cover = 0
    for _ in range(runs):
        c = rng.lognormal(3.0, 1.0, n)
        t = rng.lognormal(3.0, 1.0, n)
        t2 = t * (1 + true_lift)
        aa = quantile.compare_quantiles(
            quantile.quantile_stats("c", c, q), quantile.quantile_stats("t", t, q)
        )
        reject += aa.p_value < 0.05
        ab = quantile.compare_quantiles(
            quantile.quantile_stats("c", c, q), quantile.quantile_stats("t", t2, q)
        )
        lo, hi = ab.relative_ci
        cover += lo <= true_lift <= hi
    assert 0.03 <= reject / runs <= 0.07  # ±3.5 s.e. at 1,000 runs
    assert 0.925 <= cover / runs <= 0.975


def test_tied_quantile_is_refused():
    values = np.r_[np.zeros(900), np.ones(100)]  # median sits on the spike at 0
    r = quantile.compare_quantiles(
        quantile.quantile_stats("c", values, 0.5), quantile.quantile_stats("t", values, 0.5)
    )
    assert r.error_message and "tied" in r.error_message


def test_analyze_quantile_is_the_engine_pipeline_on_order_statistics():
    """``engine.analyze_quantile`` = ``compare_quantiles`` (frequentist), its confidence
    sequence (sequential, scratch formula) and its log-ratio posterior (Bayesian)."""
    import math

    from metrics.stats.engine import analyze_quantile

    rng = np.random.default_rng(11)
    c = quantile.quantile_stats("c", rng.lognormal(3.0, 1.0, 900), 0.9)
    t = quantile.quantile_stats("t", rng.lognormal(3.15, 1.0, 900), 0.9)
    ref = quantile.compare_quantiles(c, t)
    f = analyze_quantile(c, t, metric="p90")
    assert f.kind == "quantile" and f.ok and f.control_units == 900
    assert f.p_value == pytest.approx(ref.p_value, rel=1e-12)
    assert f.relative_ci == pytest.approx(ref.relative_ci, rel=1e-12)
    s = analyze_quantile(c, t, engine="sequential", sequential_tuning_n=1800)
    la = -2 * math.log(0.05)
    nr2 = 1800 * (la + math.log(la + 1)) / 1800
    k = math.sqrt(2 * (nr2 + 1) / nr2 * math.log(math.sqrt(nr2 + 1) / 0.05))
    lo = math.expm1(ref.log_ratio - k * ref.log_se)
    assert s.relative_ci[0] == pytest.approx(lo, rel=1e-9)
    b = analyze_quantile(c, t, engine="bayesian")
    assert b.chance_to_win == pytest.approx(sps.norm.cdf(ref.log_ratio / ref.log_se), rel=1e-9)
    empty = quantile.QuantileStats("t", 0, 0.9, math.nan, math.nan, math.nan)
    assert "has 0 unit(s)" in analyze_quantile(c, empty).error_message
    assert "unknown engine" in analyze_quantile(c, t, engine="nope").error_message


@pytest.mark.parametrize("n", [1, 2, 3, 10, 57, 1000])
@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
def test_the_few_order_statistics_the_warehouse_returns_rebuild_the_summary(n, q):
    x = np.sort(np.random.default_rng(n).lognormal(3, 1, n))
    ranks = quantile.needed_ranks(n, q)
    assert len(ranks) <= 4 and all(1 <= r <= n for r in ranks)
    got = quantile.stats_from_ranks("v", n, q, {r: x[r - 1] for r in ranks})
    ref = quantile.quantile_stats("v", x, q)
    assert got.value == pytest.approx(float(np.quantile(x, q)), rel=1e-12)
    assert (got.units, got.lower, got.upper) == (ref.units, ref.lower, ref.upper)
