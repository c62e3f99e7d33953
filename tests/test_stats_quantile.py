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
