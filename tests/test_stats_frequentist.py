"""Frequentist tests and intervals vs scipy / statsmodels / simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats as sps
from statsmodels.stats import proportion as smp

from metrics.stats import engine, frequentist, moments
from metrics.stats.sufficient import VariantStats

ALTERNATIVES = ["two-sided", "larger", "smaller"]
SCIPY_ALT = {"two-sided": "two-sided", "larger": "greater", "smaller": "less"}


def _stats_from(name: str, y: np.ndarray, x: np.ndarray | None = None) -> VariantStats:
    extra = {}
    if x is not None:
        extra = dict(denom_sum=x.sum(), denom_sum_sq=(x * x).sum(), cross_sum=(x * y).sum())
    return VariantStats(name, len(y), float(y.sum()), float((y * y).sum()), **extra)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize("seed", [1, 2])
def test_welch_matches_scipy(alternative, seed):
    rng = np.random.default_rng(seed)
    a = rng.lognormal(0, 1, 400)  # control
    b = rng.lognormal(0.1, 1.3, 250)  # treatment, unequal n and variance
    r = engine.analyze_metric(
        _stats_from("c", a), _stats_from("t", b), "mean", alternative=alternative
    )
    # The absolute-scale test is Welch's t (the decision p-value is the relative test).
    ref = sps.ttest_ind(b, a, equal_var=False, alternative=SCIPY_ALT[alternative])
    assert "welch t" in r.method
    assert_allclose(r.absolute_statistic, ref.statistic, rtol=1e-9)
    assert_allclose(r.absolute_p_value, ref.pvalue, rtol=1e-9)
    assert_allclose(r.df, ref.df, rtol=1e-9)
    ci = ref.confidence_interval(0.95)
    assert_allclose(r.absolute_ci, (ci.low, ci.high), rtol=1e-9)
    frm = sps.ttest_ind_from_stats(
        b.mean(),
        b.std(ddof=1),
        len(b),
        a.mean(),
        a.std(ddof=1),
        len(a),
        equal_var=False,
        alternative=SCIPY_ALT[alternative],
    )
    assert_allclose(r.absolute_p_value, frm.pvalue, rtol=1e-9)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize(("xc", "nc", "xt", "nt"), [(400, 10000, 520, 10000), (31, 500, 18, 420)])
def test_pooled_z_helper_matches_statsmodels(alternative, xc, nc, xt, nt):
    # The pooled statistic stays available as a helper (no longer used for decisions).
    z, p = smp.proportions_ztest([xt, xc], [nt, nc], alternative=alternative)
    assert_allclose(frequentist.pooled_z(xc, nc, xt, nt), z, rtol=1e-9)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize(("xc", "nc", "xt", "nt"), [(400, 10000, 520, 10000), (31, 500, 18, 420)])
def test_absolute_binomial_is_unpooled_wald(alternative, xc, nc, xt, nt):
    r = engine.analyze_metric(
        VariantStats("c", nc, xc, xc),
        VariantStats("t", nt, xt, xt),
        "binomial",
        alternative=alternative,
    )
    pc, pt = xc / nc, xt / nt
    z = (pt - pc) / np.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)
    p_ref = {
        "two-sided": 2 * sps.norm.sf(abs(z)),
        "larger": sps.norm.sf(z),
        "smaller": sps.norm.cdf(z),
    }[alternative]
    assert_allclose(r.absolute_statistic, z, rtol=1e-12)
    assert_allclose(r.absolute_p_value, p_ref, rtol=1e-9)
    # statsmodels' Wald test of the difference (unpooled) as a second reference
    sm = smp.test_proportions_2indep(
        xt, nt, xc, nc, method="wald", compare="diff", alternative=alternative
    )
    assert_allclose(r.absolute_p_value, sm.pvalue, rtol=1e-9)
    if alternative == "two-sided":
        lo, hi = smp.confint_proportions_2indep(xt, nt, xc, nc, method="wald", compare="diff")
        assert_allclose(r.absolute_ci, (lo, hi), rtol=1e-9)


@pytest.mark.parametrize(
    ("xc", "nc", "xt", "nt"), [(4, 50, 9, 60), (0, 40, 3, 40), (380, 10000, 455, 9800)]
)
def test_newcombe_matches_statsmodels(xc, nc, xt, nt):
    ours = frequentist.newcombe_interval(xc, nc, xt, nt, alpha=0.05)
    ref = smp.confint_proportions_2indep(xt, nt, xc, nc, method="newcomb", compare="diff")
    assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)


def test_relative_lift_delta_method_vs_simulation():
    # sd of the simulated relative lift estimate vs the delta-method se (tolerance 3%).
    rng = np.random.default_rng(3)
    n, pc, pt = 5000, 0.05, 0.06
    c = rng.binomial(n, pc, 40_000) / n
    t = rng.binomial(n, pt, 40_000) / n
    se_delta = frequentist.relative_se(pc, pc * (1 - pc) / n, pt, pt * (1 - pt) / n)
    assert_allclose(np.std(t / c - 1), se_delta, rtol=0.03)


def test_relative_lift_ci_closed_form():
    r = engine.analyze_metric(
        VariantStats("c", 8000, 400, 400), VariantStats("t", 8000, 480, 480), "binomial"
    )
    pc, pt, n = 0.05, 0.06, 8000
    # issue 10: the interval is the Katz log-ratio one, exp(log 1.2 ± z·se_L) − 1
    se = np.sqrt((1 - pt) / (n * pt) + (1 - pc) / (n * pc))
    z = sps.norm.ppf(0.975)
    assert_allclose(r.relative_lift, 0.2, rtol=1e-12)
    assert_allclose(r.relative_ci, np.exp(np.log(1.2) + np.array([-z, z]) * se) - 1, rtol=1e-10)


def test_ratio_delta_method_variance_vs_simulation():
    # Var(Σy/Σx) across simulated experiments vs the delta-method variance (tolerance 5%).
    rng = np.random.default_rng(4)
    n, reps = 2000, 3000
    x = rng.poisson(20, (reps, n)).astype(float)
    y = rng.binomial(x.astype(int), 0.02 + 0.01 * (x > 25))  # CTR depends on impressions
    ratios = y.sum(axis=1) / x.sum(axis=1)
    est = [moments.moments(_stats_from("v", y[i], x[i]), "ratio").var_of_mean for i in range(50)]
    assert_allclose(np.mean(est), ratios.var(ddof=1), rtol=0.05)


def test_ratio_metric_equals_mean_when_denominator_is_one():
    rng = np.random.default_rng(5)
    y = rng.normal(3, 2, 500)
    m_ratio = moments.moments(_stats_from("v", y, np.ones_like(y)), "ratio")
    m_mean = moments.moments(_stats_from("v", y), "mean")
    assert_allclose(m_ratio.mean, m_mean.mean, rtol=1e-12)
    assert_allclose(m_ratio.variance, m_mean.variance, rtol=1e-9)


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_non_inferiority_closed_form_and_duality(higher_is_better):
    # Rates 10.0% vs 9.9% at 20,000 per arm, margin 2%, on the log-ratio scale (scipy here).
    n, p_c, p_t, margin = 20_000, 0.100, 0.099, 0.02
    m_c = moments.Moments("c", n, p_c, p_c * (1 - p_c))
    m_t = moments.Moments("t", n, p_t, p_t * (1 - p_t))
    test = frequentist.compare(m_c, m_t, method="wald z")
    ni = frequentist.non_inferiority_test(test, margin, higher_is_better=higher_is_better)
    lr = math.log(p_t / p_c)
    se = math.sqrt((1 - p_t) / (n * p_t) + (1 - p_c) / (n * p_c))
    z = sps.norm.isf(0.05)
    if higher_is_better:
        assert_allclose(ni.p_value, sps.norm.sf((lr - math.log(1 - margin)) / se), rtol=1e-9)
        assert_allclose(ni.bound, math.expm1(lr - z * se), rtol=1e-9)
        assert ni.non_inferior == (ni.bound > -margin)
    else:
        assert_allclose(ni.p_value, sps.norm.cdf((lr - math.log(1 + margin)) / se), rtol=1e-9)
        assert_allclose(ni.bound, math.expm1(lr + z * se), rtol=1e-9)
        assert ni.non_inferior == (ni.bound < margin)


def test_guardrail_harm_detected_for_lower_is_better():
    # support contact rate 3% → 4.5% with 20k per arm: harmed, not non-inferior at 2% margin.
    r = engine.analyze_metric(
        VariantStats("c", 20000, 600, 600),
        VariantStats("t", 20000, 900, 900),
        "binomial",
        higher_is_better=False,
        noninferiority_margin=0.02,
    )
    assert r.non_inferiority.harmed and not r.non_inferiority.non_inferior
    assert r.direction == "worse"
