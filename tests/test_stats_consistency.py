"""Decision ⇔ interval consistency of the engine, and the relative test vs closed forms.

Properties (random binomial / mean / ratio inputs, every alternative, every engine):
``significant`` ⇔ ``relative_ci`` excludes 0 ⇔ p < alpha, and ``absolute_p_value`` < alpha ⇔
``absolute_ci`` excludes 0; after Holm / Bonferroni the same with the adjusted p-values and
the widened intervals. References: scipy (norm, t, ``ttest_ind_from_stats``) with the
log-ratio variance (delta method: Var(m_t)/m_t² + Var(m_c)/m_c²) written out here,
independently of ``metrics.stats``. (Issue 10: the decision moved from the delta-method se of
r to the log ratio, which is symmetric in direction; the closed forms follow.)
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats as sps

from metrics.stats import engine
from metrics.stats.sufficient import VariantStats

ALTERNATIVES = ("two-sided", "larger", "smaller")
SCIPY_ALT = {"two-sided": "two-sided", "larger": "greater", "smaller": "less"}


def _excludes_zero(ci) -> bool:
    lo, hi = ci
    return lo > 0 or hi < 0


def _arm(rng, kind: str, name: str, lift: float) -> VariantStats:
    """Random sufficient statistics of one arm (``lift``: true relative effect)."""
    n = int(rng.integers(15, 3000))
    if kind == "binomial":
        p = float(rng.uniform(0.02, 0.4)) if name == "control" else 0.0
        p = p or 0.1 * (1 + lift)
        x = int(rng.binomial(n, min(max(p, 0.001), 0.999)))
        return VariantStats(name, n, float(x), float(x))
    if kind == "mean":
        y = rng.lognormal(0.0, float(rng.uniform(0.3, 1.5)), n) * (1 + lift)
        return VariantStats(name, n, float(y.sum()), float((y * y).sum()))
    x = rng.poisson(float(rng.uniform(2, 30)), n).astype(float)
    y = rng.binomial(x.astype(int), min(0.05 * (1 + lift), 0.99)).astype(float)
    return VariantStats(
        name, n, float(y.sum()), float((y * y).sum()),
        float(x.sum()), float((x * x).sum()), float((x * y).sum()),
    )  # fmt: skip


def _family(rng, kind: str, m: int) -> list[VariantStats]:
    """A control and ``m`` treatments, effects around the detection threshold."""
    return [_arm(rng, kind, "control", 0.0)] + [
        _arm(rng, kind, f"t{i}", float(rng.normal(0, 0.25))) for i in range(m)
    ]


@pytest.mark.parametrize("kind", ["binomial", "mean", "ratio"])
@pytest.mark.parametrize("eng", ["frequentist", "sequential", "bayesian"])
def test_significant_iff_relative_interval_excludes_zero(kind, eng):
    rng = np.random.default_rng(zlib.crc32(f"{kind}/{eng}".encode()))
    outcomes = []
    for _ in range(60):
        arms = _family(rng, kind, 1)
        alternative = ALTERNATIVES[int(rng.integers(3))]
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        r = engine.analyze_metric(
            arms[0], arms[1], kind, engine=eng, alpha=alpha, alternative=alternative,
            sequential_tuning_n=float(rng.integers(500, 20000)), mde=None,
        )  # fmt: skip
        if not r.ok:
            continue
        assert r.significant == _excludes_zero(r.relative_ci), r
        assert not -math.inf < r.relative_ci[0] < -1.0  # clipped at −100%
        if eng != "bayesian":
            assert r.significant == (r.p_value < alpha)
            assert (r.absolute_p_value < alpha) == _excludes_zero(r.absolute_ci)
        if r.significant:
            up = r.relative_ci[0] > 0
            assert r.direction == ("better" if up else "worse")
        outcomes.append(r.significant)
    assert len(outcomes) >= 50 and 0 < sum(outcomes) < len(outcomes)  # both kinds of cases


@pytest.mark.parametrize("kind", ["binomial", "mean", "ratio"])
@pytest.mark.parametrize("method", ["holm", "bonferroni"])
@pytest.mark.parametrize("eng", ["frequentist", "sequential"])
def test_adjusted_decision_iff_widened_interval_excludes_zero(kind, method, eng):
    rng = np.random.default_rng(zlib.crc32(f"{kind}/{method}/{eng}".encode()))
    outcomes = []
    for _ in range(15):
        arms = _family(rng, kind, int(rng.integers(2, 6)))
        alternative = ALTERNATIVES[int(rng.integers(3))]
        common = dict(engine=eng, alternative=alternative, alpha=0.05, mde=None)
        raw = engine.analyze_variants(arms, "control", kind, **common)
        adj = engine.analyze_variants(arms, "control", kind, correction=method, **common)
        for a, r in zip(adj, raw, strict=True):
            if not a.ok:
                continue
            assert a.significant == (a.p_value_adjusted < 0.05)
            assert a.significant == _excludes_zero(a.relative_ci), a
            assert (a.absolute_p_value_adjusted < 0.05) == _excludes_zero(a.absolute_ci)
            assert not -math.inf < a.relative_ci[0] < -1.0
            # widened, never narrowed (compare upper bounds: lower ones may be clipped)
            if alternative != "larger":
                assert a.relative_ci[1] >= r.relative_ci[1] - 1e-12
            outcomes.append(a.significant)
    assert 0 < sum(outcomes) < len(outcomes)


def test_bh_keeps_marginal_intervals_and_significance_implies_exclusion():
    rng = np.random.default_rng(8)
    for _ in range(10):
        arms = _family(rng, "binomial", 4)
        raw = engine.analyze_variants(arms, "control", "binomial")
        bh = engine.analyze_variants(arms, "control", "binomial", correction="fdr_bh")
        for a, r in zip(bh, raw, strict=True):
            if a.ok:
                assert a.relative_ci == r.relative_ci
                assert (not a.significant) or _excludes_zero(a.relative_ci)


# --- the relative test against closed forms ---------------------------------------------


def _p(stat: float, alternative: str, dist) -> float:
    return {
        "two-sided": 2 * dist.sf(abs(stat)),
        "larger": dist.sf(stat),
        "smaller": dist.cdf(stat),
    }[alternative]


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize(("xc", "nc", "xt", "nt"), [(400, 10000, 470, 10000), (31, 500, 18, 420)])
def test_relative_binomial_closed_form(alternative, xc, nc, xt, nt):
    r = engine.analyze_metric(
        VariantStats("c", nc, xc, xc), VariantStats("t", nt, xt, xt), "binomial",
        alternative=alternative,
    )  # fmt: skip
    pc, pt = xc / nc, xt / nt
    var_log = (pt * (1 - pt) / nt) / pt**2 + (pc * (1 - pc) / nc) / pc**2
    z = math.log(pt / pc) / math.sqrt(var_log)
    assert_allclose(r.statistic, z, rtol=1e-12)
    assert_allclose(r.p_value, _p(z, alternative, sps.norm), rtol=1e-10)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_relative_mean_closed_form_and_absolute_welch(alternative):
    rng = np.random.default_rng(21)
    a, b = rng.lognormal(0, 1, 300), rng.lognormal(0.15, 1.2, 260)
    r = engine.analyze_metric(
        VariantStats("c", len(a), a.sum(), (a * a).sum()),
        VariantStats("t", len(b), b.sum(), (b * b).sum()),
        "mean",
        alternative=alternative,
    )
    vc, vt = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (vc + vt) ** 2 / (vc**2 / (len(a) - 1) + vt**2 / (len(b) - 1))
    mc, mt = a.mean(), b.mean()
    # se_L of a mean: the larger of the delta method and the pooled-mean form
    se_l = max(math.sqrt(vt / mt**2 + vc / mc**2), math.sqrt(vt + vc) / ((mt + mc) / 2))
    t_rel = math.log(mt / mc) / se_l
    assert_allclose(r.statistic, t_rel, rtol=1e-9)
    assert_allclose(r.df, df, rtol=1e-9)
    assert_allclose(r.p_value, _p(t_rel, alternative, sps.t(df)), rtol=1e-8)
    ref = sps.ttest_ind_from_stats(
        mt, b.std(ddof=1), len(b), mc, a.std(ddof=1), len(a),
        equal_var=False, alternative=SCIPY_ALT[alternative],
    )  # fmt: skip
    assert_allclose(r.absolute_p_value, ref.pvalue, rtol=1e-8)
    assert_allclose(r.absolute_statistic, ref.statistic, rtol=1e-9)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_relative_and_absolute_ratio_closed_form(alternative):
    rng = np.random.default_rng(33)
    arms = {}
    for name, ctr in (("c", 0.04), ("t", 0.047)):
        x = rng.poisson(12, 2500).astype(float)
        y = rng.binomial(x.astype(int), ctr).astype(float)
        arms[name] = (x, y)

    def ratio_and_var(x, y):  # delta method for Σy/Σx, written out with numpy
        n, r = len(x), y.sum() / x.sum()
        cov = np.cov(np.vstack([y, x]), ddof=1)
        return r, (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / x.mean() ** 2 / n

    (rc, vc), (rt, vt) = ratio_and_var(*arms["c"]), ratio_and_var(*arms["t"])
    stats = [
        VariantStats(k, len(x), y.sum(), (y * y).sum(), x.sum(), (x * x).sum(), (x * y).sum())
        for k, (x, y) in arms.items()
    ]
    r = engine.analyze_metric(stats[0], stats[1], "ratio", alternative=alternative)
    z_rel = math.log(rt / rc) / math.sqrt(vt / rt**2 + vc / rc**2)
    z_abs = (rt - rc) / math.sqrt(vc + vt)
    assert_allclose(r.statistic, z_rel, rtol=1e-9)
    assert_allclose(r.p_value, _p(z_rel, alternative, sps.norm), rtol=1e-8)
    assert_allclose(r.absolute_p_value, _p(z_abs, alternative, sps.norm), rtol=1e-8)


def test_relative_interval_is_the_back_transformed_log_interval():
    # 3/40 vs 1/40: the old delta-method interval reached below −100% and was clipped; the
    # log-ratio interval exp(L ± z·se_L) − 1 stays above −100% by construction.
    r = engine.analyze_metric(VariantStats("c", 40, 3, 3), VariantStats("t", 40, 1, 1), "binomial")
    pc, pt, n = 3 / 40, 1 / 40, 40
    se = math.sqrt((1 - pt) / (n * pt) + (1 - pc) / (n * pc))
    z = sps.norm.isf(0.025)
    expected = (math.exp(math.log(pt / pc) - z * se) - 1, math.exp(math.log(pt / pc) + z * se) - 1)
    assert_allclose(r.relative_ci, expected, rtol=1e-12)
    assert r.relative_ci[0] > -1
    assert not any("clipped at −100%" in w for w in r.warnings)
    assert not r.significant


def test_bayesian_two_sided_threshold_is_half_alpha():
    # flat prior: the 95% credible interval excludes 0 ⇔ chance to win > 97.5% or < 2.5%.
    rng = np.random.default_rng(4)
    for _ in range(40):
        c, t = _family(rng, "binomial", 1)
        r = engine.analyze_metric(c, t, "binomial", engine="bayesian")
        if r.ok:
            ctw = r.chance_to_win
            assert r.significant == (ctw > 0.975 or ctw < 0.025)
