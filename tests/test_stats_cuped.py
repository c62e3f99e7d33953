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


# --- CUPED for ratio metrics (issue 10 extra) ------------------------------------------------


def _ratio_arm(rng, name, n, ctr):
    c = rng.gamma(2.0, 3.0, n)  # pre-period click propensity per user (mean 6)
    views = rng.poisson(2.0 + 0.5 * c)
    clicks = rng.binomial(views, np.clip(ctr * (0.2 + c / 7.5), 0, 0.95)).astype(float)
    views = views.astype(float)
    stats = VariantStats(
        name, n, clicks.sum(), (clicks**2).sum(), views.sum(), (views**2).sum(),
        (clicks * views).sum(), c.sum(), (c * c).sum(), (clicks * c).sum(), (views * c).sum(),
    )  # fmt: skip
    return stats, clicks, views, c


def test_ratio_cuped_matches_ols_on_the_linearised_outcome():
    rng = np.random.default_rng(12345)
    sc, yc, xc, cc = _ratio_arm(rng, "c", 3000, 0.10)
    st, yt, xt, ct = _ratio_arm(rng, "t", 3000, 0.11)
    r = engine.analyze_metric(sc, st, "ratio", cuped=True)
    assert r.cuped_applied and r.variance_reduction > 0.05
    # Reference: z_i = R_g + (y_i − R_g·x_i)/x̄_g per unit, OLS z ~ 1 + treatment + c.
    z = np.concatenate(
        [
            yc.sum() / xc.sum() + (yc - yc.sum() / xc.sum() * xc) / xc.mean(),
            yt.sum() / xt.sum() + (yt - yt.sum() / xt.sum() * xt) / xt.mean(),
        ]
    )
    t = np.repeat([0.0, 1.0], 3000)
    ols = sm.OLS(z, sm.add_constant(np.column_stack([t, np.concatenate([cc, ct])]))).fit(
        cov_type="HC2"
    )
    assert_allclose(r.absolute_lift, ols.params[1], rtol=1e-9)
    assert_allclose(r.theta, ols.params[2], rtol=1e-9)
    assert_allclose(r.absolute_se, ols.bse[1], rtol=0.02)


def test_ratio_cuped_se_matches_simulation():
    rng = np.random.default_rng(2026)
    lifts, ses = [], []
    raw = []
    for _ in range(300):
        sc = _ratio_arm(rng, "c", 2000, 0.1)[0]
        st = _ratio_arm(rng, "t", 2000, 0.1)[0]
        r = engine.analyze_metric(sc, st, "ratio", cuped=True)
        lifts.append(r.absolute_lift)
        ses.append(r.absolute_se)
        raw.append(engine.analyze_metric(sc, st, "ratio").absolute_lift)
    # sd of the adjusted difference across experiments vs its mean reported se (300 runs: the
    # sd is known to ±4%; 12% allows for that and the delta method's small-sample bias)
    assert_allclose(np.std(lifts, ddof=1), np.mean(ses), rtol=0.12)
    assert np.std(lifts, ddof=1) < np.std(raw, ddof=1)  # the adjustment does reduce variance
    assert abs(np.mean(lifts)) < 3 * np.mean(ses) / np.sqrt(300)
