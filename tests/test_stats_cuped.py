"""CUPED vs OLS regression y ~ 1 + treatment + covariate (statsmodels)."""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from numpy.testing import assert_allclose

from metrics.stats import engine
from metrics.stats.sufficient import VariantStats


def _stats(name, y, c):
    return VariantStats(
        name,
        len(y),
        y.sum(),
        (y * y).sum(),
        cov_sum=c.sum(),
        cov_sum_sq=(c * c).sum(),
        cov_cross_sum=(y * c).sum(),
    )


def _simulate(seed=0, n=4000, lift=0.3):
    rng = np.random.default_rng(seed)
    c_pre = rng.gamma(2.0, 5.0, 2 * n)
    treat = np.repeat([0, 1], n)
    y = 2.0 + 0.8 * c_pre + lift * treat + rng.normal(0, 4.0, 2 * n)
    return y, c_pre, treat


def test_cuped_matches_ols_effect_and_se():
    y, c, t = _simulate()
    r = engine.analyze_metric(
        _stats("c", y[t == 0], c[t == 0]), _stats("t", y[t == 1], c[t == 1]), "mean", cuped=True
    )
    ols = sm.OLS(y, sm.add_constant(np.column_stack([t, c]))).fit()
    assert r.cuped_applied
    assert_allclose(r.absolute_lift, ols.params[1], rtol=1e-9)
    assert_allclose(r.theta, ols.params[2], rtol=1e-9)
    # Per-arm residual variances vs OLS' pooled variance: equal in expectation here (2%).
    assert_allclose(r.absolute_se, ols.bse[1], rtol=0.02)
    hc = sm.OLS(y, sm.add_constant(np.column_stack([t, c]))).fit(cov_type="HC2")
    assert_allclose(r.absolute_se, hc.bse[1], rtol=0.02)


def test_cuped_variance_reduction_matches_correlation():
    y, c, t = _simulate(seed=1, n=20000)
    r = engine.analyze_metric(
        _stats("c", y[t == 0], c[t == 0]), _stats("t", y[t == 1], c[t == 1]), "mean", cuped=True
    )
    rho = np.corrcoef(y, c)[0, 1]  # reduction ≈ ρ² when the lift is small (tolerance 0.02)
    assert abs(r.variance_reduction - rho**2) < 0.02
    plain = engine.analyze_metric(
        _stats("c", y[t == 0], c[t == 0]), _stats("t", y[t == 1], c[t == 1]), "mean"
    )
    assert_allclose(r.absolute_se**2, plain.absolute_se**2 * (1 - r.variance_reduction), rtol=1e-9)


def test_cuped_without_covariate_falls_back_with_warning():
    a, b = VariantStats("c", 100, 50.0, 80.0), VariantStats("t", 100, 60.0, 90.0)
    r = engine.analyze_metric(a, b, "mean", cuped=True)
    assert r.ok and not r.cuped_applied
    assert any("CUPED not applied" in w for w in r.warnings)
