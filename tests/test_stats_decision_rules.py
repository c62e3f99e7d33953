"""Decision rules of issue 10, each against an independent reference (scipy, closed forms).

V = ``VariantStats``; every case uses the public API (``analyze_metric``, ``recommend``).
References are written out here with scipy only, never taken from an earlier run.
"""

from __future__ import annotations

import math

import pytest
from numpy.testing import assert_allclose
from scipy import stats as sps

from metrics.stats import engine
from metrics.stats.recommendation import RecommendationKind as K
from metrics.stats.recommendation import recommend
from metrics.stats.sufficient import VariantStats as V


def _bin(name: str, n: int, x: int) -> V:
    return V(name, n, x, x)


def _cs_k(n_total: float, alpha: float, tuning_n: float) -> float:
    """Confidence-sequence half-width in standard errors (Waudby-Smith et al.), from scratch."""
    la = -2 * math.log(alpha)
    rho2 = (la + math.log(la + 1)) / tuning_n
    nr2 = n_total * rho2
    return math.sqrt(2 * (nr2 + 1) / nr2 * math.log(math.sqrt(nr2 + 1) / alpha))


def _guardrail(control: int, treatment: int, eng: str, **options) -> engine.MetricResult:
    """A 10,000-unit-per-arm rate guardrail with a 2% non-inferiority margin."""
    return engine.analyze_metric(
        _bin("c", 10_000, control), _bin("t", 10_000, treatment), "binomial", engine=eng,
        noninferiority_margin=0.02, **options,
    )  # fmt: skip


FLAT_PRIMARY = engine.analyze_metric(_bin("c", 10_000, 500), _bin("t", 10_000, 500), "binomial")


# --- defect 1: a guardrail collapsing to zero (or rising from zero) is harmed ------------------


@pytest.mark.parametrize("eng", ["frequentist", "sequential", "bayesian"])
def test_guardrail_collapsing_to_zero_is_harmed(eng):
    g = _guardrail(500, 0, eng, metric="orders")
    assert g.ok, g.error_message
    # Reference: unpooled Wald z of the absolute difference (treatment arm has no variance).
    z = -0.05 / math.sqrt(0.05 * 0.95 / 10_000)
    if eng == "frequentist":
        assert_allclose(g.absolute_p_value, 2 * sps.norm.sf(abs(z)), rtol=1e-6)
    assert g.direction == "worse"
    assert g.non_inferiority is not None and g.non_inferiority.harmed
    assert not g.non_inferiority.non_inferior
    primary = engine.analyze_metric(
        _bin("c", 10_000, 500), _bin("t", 10_000, 500), "binomial", engine=eng
    )
    assert recommend(primary, [g]).kind is K.DONT_SHIP_GUARDRAIL


@pytest.mark.parametrize("eng", ["frequentist", "sequential"])
def test_error_rate_rising_from_zero_is_harmed(eng):
    g = _guardrail(0, 50, eng, higher_is_better=False, metric="errors")
    assert g.ok, g.error_message
    assert g.direction == "worse"
    assert g.non_inferiority is not None and g.non_inferiority.harmed
    assert recommend(FLAT_PRIMARY, [g]).kind is K.DONT_SHIP_GUARDRAIL


# --- defect 2: the sequential engine at low counts ---------------------------------------------


def test_sequential_low_counts_are_not_overconfident():
    r = engine.analyze_metric(_bin("c", 100, 8), _bin("t", 100, 1), "binomial", engine="sequential")
    assert r.ok, r.error_message
    # An always-valid p can never be smaller than the exact fixed-horizon one (Fisher).
    fisher = sps.fisher_exact([[8, 92], [1, 99]]).pvalue
    assert r.p_value >= fisher
    assert not r.significant


# --- defect 3: power under the sequential engine ------------------------------------------------


def test_sequential_power_uses_the_confidence_sequence():
    n, x = 34_363, 1_718
    r = engine.analyze_metric(
        _bin("c", n, x), _bin("t", n, x), "binomial", engine="sequential", mde=0.1
    )
    p = x / n
    # Reference: P(|Z| > k_N) for Z ~ N(log(1.1)/se_log, 1), k_N the sequence's multiplier.
    se_log = math.sqrt(2 * (1 - p) / (n * p))
    k = _cs_k(2 * n, 0.05, 5000)
    mu = math.log(1.1) / se_log
    ref = sps.norm.cdf(mu - k) + sps.norm.cdf(-mu - k)
    assert_allclose(r.power, ref, atol=1e-6)
    assert r.power < 0.5
    assert recommend(r, days_running=14).kind is K.KEEP_RUNNING


# --- defect 4: non-inferiority under the sequential engine --------------------------------------


def test_sequential_non_inferiority_uses_the_confidence_sequence():
    n = 20_000
    c, t = _bin("c", n, 2_000), _bin("t", n, 2_000)
    fixed = engine.analyze_metric(c, t, "binomial", noninferiority_margin=0.05)
    seq = engine.analyze_metric(c, t, "binomial", noninferiority_margin=0.05, engine="sequential")
    se_log = math.sqrt(2 * 0.9 / 2_000)
    k = _cs_k(2 * n, 0.05, 5000)
    # Lower confidence-sequence bound of the relative lift (log-ratio scale, back-transformed).
    assert_allclose(seq.non_inferiority.bound, math.exp(-k * se_log) - 1, rtol=1e-9)
    assert fixed.non_inferiority.non_inferior
    assert seq.non_inferiority.bound < fixed.non_inferiority.bound
    assert seq.non_inferiority.non_inferior == (math.exp(-k * se_log) - 1 > -0.05)


# --- defect 8: relative decisions do not depend on the direction --------------------------------


def test_relative_test_is_symmetric_in_direction():
    up = engine.analyze_metric(_bin("c", 10_000, 500), _bin("t", 10_000, 560), "binomial")
    down = engine.analyze_metric(_bin("c", 10_000, 560), _bin("t", 10_000, 500), "binomial")
    assert_allclose(up.p_value, down.p_value, rtol=1e-12)
    # Reference: Katz log-ratio z, se² = (1 − p_t)/x_t + (1 − p_c)/x_c.
    z = math.log(560 / 500) / math.sqrt(0.944 / 560 + 0.95 / 500)
    assert_allclose(up.p_value, 2 * sps.norm.sf(z), rtol=1e-9)
    # The interval is the back-transformed log interval: reciprocal between directions.
    assert_allclose(1 + up.relative_ci[0], 1 / (1 + down.relative_ci[1]), rtol=1e-12)


# --- defect 10 ---------------------------------------------------------------------------------


def test_no_conversions_in_either_arm_is_valid_and_uninformative():
    r = engine.analyze_metric(_bin("c", 300, 0), _bin("t", 300, 0), "binomial")
    assert r.ok, r.error_message
    assert not r.significant
    assert recommend(r, days_running=3).kind is not K.INVALID


def test_significantly_worse_primary_is_harmful():
    r = engine.analyze_metric(_bin("c", 10_000, 600), _bin("t", 10_000, 450), "binomial")
    assert r.direction == "worse"
    rec = recommend(r, days_running=14)
    assert rec.kind is K.DONT_SHIP_HARMFUL


def test_underpowered_finished_test_is_inconclusive_not_no_effect():
    # Wide interval (≈ −70% … +69%): no effect must not be claimed.
    r = engine.analyze_metric(_bin("c", 400, 8), _bin("t", 400, 8), "binomial", mde=0.1)
    rec = recommend(r, days_running=30)
    assert rec.kind is K.INCONCLUSIVE


def test_no_effect_only_when_the_interval_rules_out_the_mde():
    r = engine.analyze_metric(
        _bin("c", 200_000, 10_000), _bin("t", 200_000, 10_000), "binomial", mde=0.1
    )
    assert r.relative_ci[0] > -0.1
    assert r.relative_ci[1] < 0.1
    assert recommend(r, days_running=14).kind is K.STOP_NO_EFFECT


def test_failing_aa_test_is_flagged_as_tracking_problem():
    r = engine.analyze_metric(_bin("c", 10_000, 500), _bin("t", 10_000, 600), "binomial")
    rec = recommend(r, days_running=14, aa_test=True)
    assert rec.kind is K.INVALID
    assert any("tracking" in s for s in rec.reasons)


# --- defect 6: Holm intervals say what they are -------------------------------------------------


def test_holm_intervals_are_labelled_not_simultaneous():
    arms = [_bin("control", 10_000, 400)] + [
        _bin(v, 10_000, x) for v, x in (("b", 445), ("c", 470), ("d", 520))
    ]
    holm = engine.analyze_variants(arms, "control", "binomial", correction="holm")
    assert all(any("not a simultaneous" in w for w in r.warnings) for r in holm)
    bonf = engine.analyze_variants(arms, "control", "binomial", correction="bonferroni")
    assert not any("not a simultaneous" in w for r in bonf for w in r.warnings)


# --- defect 7: Bayesian engine across several treatments ----------------------------------------


def test_bayesian_several_treatments_use_bonferroni_credible_level():
    import numpy as np

    rng = np.random.default_rng(12345)
    m, n, alpha = 4, 5000, 0.05
    z_corr = sps.norm.isf(alpha / (2 * m))
    checked = 0
    for _ in range(60):
        x = rng.binomial(n, 0.05, m + 1)
        arms = [_bin("control", n, x[0])] + [_bin(f"t{i}", n, x[i + 1]) for i in range(m)]
        res = engine.analyze_variants(
            arms, "control", "binomial", engine="bayesian", correction="holm"
        )
        for r, xt in zip(res, x[1:], strict=True):
            pc, pt = x[0] / n, xt / n
            z = math.log(pt / pc) / math.sqrt((1 - pt) / (n * pt) + (1 - pc) / (n * pc))
            assert r.significant == (abs(z) > z_corr), (x[0], xt)
            assert r.alpha == pytest.approx(alpha / m)
            checked += 1
    assert checked == 60 * m
    # A/A/A/A/A false-winner rate of that rule (flat prior ⇔ |z| > z_{1−α/(2m)}), vectorised
    runs = 20_000
    xc = rng.binomial(n, 0.05, runs)[:, None]
    xt = rng.binomial(n, 0.05, (runs, m))
    pc, pt = xc / n, xt / n
    z = np.log(pt / pc) / np.sqrt((1 - pt) / (n * pt) + (1 - pc) / (n * pc))
    corrected = (z > z_corr).any(axis=1).mean()
    uncorrected = (z > sps.norm.isf(alpha / 2)).any(axis=1).mean()
    assert corrected <= 0.03 < 0.05 < uncorrected


# --- defect 9 and sequential planning -----------------------------------------------------------


def test_planner_page_plans_for_the_two_sided_analysis():
    import pathlib

    from metrics.experiments import planner

    assert planner.ANALYSIS_ALTERNATIVE == "two-sided"
    page = pathlib.Path(__file__).parents[1].joinpath("pages", "planner.py").read_text()
    assert "One-sided" not in page and "planner.ANALYSIS_ALTERNATIVE" in page


def test_sequential_plan_reaches_its_power_with_the_confidence_sequence():
    from metrics.stats import power

    plan = power.sample_size(0.05, 0.1, engine="sequential")
    fixed = power.sample_size(0.05, 0.1)
    n = plan.units_per_variant[0]
    assert plan.tuning_n == 2 * n
    # Reference: P(|Z| > k) at the plan, k the sequence's multiplier at n* = the plan itself.
    se = math.sqrt((1 - 0.055) / (n * 0.055) + 0.95 / (n * 0.05))
    k = _cs_k(2 * n, 0.05, 2 * n)
    mu = math.log(1.1) / se
    assert_allclose(sps.norm.cdf(mu - k) + sps.norm.cdf(-mu - k), 0.8, atol=2e-4)
    assert 1.7 < n / fixed.units_per_variant[0] < 2.1
    seq_power = power.power_for(n, n, 0.1, 0.05, sequential_tuning_n=plan.tuning_n)
    assert_allclose(seq_power, 0.8, atol=2e-4)


def test_cuped_means_use_welch_t_as_documented():
    import numpy as np

    rng = np.random.default_rng(12345)
    arms = []
    for name in ("c", "t"):
        c = rng.lognormal(2, 0.8, 400)
        y = c * 0.8 + rng.lognormal(1, 0.8, 400)
        arms.append(
            V(name, 400, y.sum(), (y * y).sum(), None, None, None, c.sum(), (c * c).sum(),
              (y * c).sum())
        )  # fmt: skip
    r = engine.analyze_metric(*arms, "mean", cuped=True)
    assert r.cuped_applied and r.df is not None and "t" in r.method.split(";")[0]
    doc = engine.analyze_metric.__doc__
    assert "z for rates, ratios and CUPED" not in doc
    assert "CUPED-adjusted or not" in doc


# --- extra: an informative prior through the analysis options -----------------------------------


def test_informative_prior_reaches_the_analysis_and_matches_the_conjugate_posterior():
    from metrics.experiments import views as ev
    from metrics.experiments.analysis import MetricInput, analyze_stats

    arms = (_bin("control", 2000, 100), _bin("treatment", 2000, 130))
    m = MetricInput("conv", "primary", "binomial", True, arms, "conv", False)
    opts = ev.AnalysisOptions(engine="bayesian", prior_mean=0.0, prior_sd=0.05)
    common = dict(experiment_id="e", name="e", control="control", metrics=[m], engine="bayesian")
    a = analyze_stats(**common, prior_mean=opts.prior_mean, prior_sd=opts.prior_sd)
    r = a.primary.results[0]
    # conjugate normal on L = log(p_t/p_c): precision-weighted mean, back-transformed median
    lhat = math.log(130 / 100)
    se2 = (1 - 0.065) / 130 + (1 - 0.05) / 100
    post = (lhat / se2) / (1 / se2 + 1 / 0.05**2)
    assert_allclose(r.relative_lift, math.expm1(post), rtol=1e-9)
    flat = analyze_stats(**common).primary.results[0]
    assert r.relative_lift < flat.relative_lift  # shrunk towards 0
    with pytest.raises(ValueError):
        ev.AnalysisOptions(engine="bayesian", prior_sd=-1.0)


# --- skewed revenue at low counts: the log-ratio se of a mean ------------------------------


def test_skewed_revenue_low_arm_does_not_get_an_understated_se():
    """Zero-inflated revenue, 400 units per arm, 30 buyers of $20 in each; the control also
    drew 3 big spenders ($400). The treatment's mean and variance are both low, so the plain
    delta method (V_t/m_t² + V_c/m_c²) called it significantly worse (p = 0.010); the
    engine's se_L is the larger of that and √(V_t + V_c)/m̄, and its verdict agrees with the
    absolute Welch test (scipy, p = 0.089)."""
    c = [0.0] * 367 + [20.0] * 30 + [400.0] * 3
    t = [0.0] * 370 + [20.0] * 30
    n_c, n_t = len(c), len(t)
    r = engine.analyze_metric(
        V("c", n_c, sum(c), sum(v * v for v in c)),
        V("t", n_t, sum(t), sum(v * v for v in t)),
        "mean",
    )
    mc, mt = sum(c) / n_c, sum(t) / n_t
    vc = sps.tvar(c) / n_c
    vt = sps.tvar(t) / n_t
    plain = math.log(mt / mc) / math.sqrt(vt / mt**2 + vc / mc**2)
    pooled = math.sqrt(vc + vt) / ((mc + mt) / 2)
    df = (vc + vt) ** 2 / (vc**2 / (n_c - 1) + vt**2 / (n_t - 1))
    assert 2 * sps.t.sf(abs(plain), df) < 0.05  # what the engine used to say
    assert_allclose(r.statistic, math.log(mt / mc) / pooled, rtol=1e-9)
    welch = sps.ttest_ind(t, c, equal_var=False)
    assert welch.pvalue > 0.05 and not r.significant
    assert r.p_value > 0.05


def test_reasons_name_the_correction_of_the_p_value_and_interval():
    """A Holm-corrected primary: the reason says "Holm-adjusted p" and "Holm-adjusted interval"
    (the interval is widened, so "95% interval" would be wrong); an uncorrected one says 95%."""
    from metrics.stats.multiple import adjust_results

    a = engine.analyze_metric(_bin("c", 10_000, 500), _bin("t", 10_000, 540), "binomial")
    b = engine.analyze_metric(_bin("c", 10_000, 500), _bin("t", 10_000, 505), "binomial")
    held = adjust_results([a, b], "holm")[0]
    text = " ".join(recommend(held).reasons)
    assert f"Holm-adjusted p = {held.p_value_adjusted:.3g}" in text
    assert "Holm-adjusted interval" in text and "95% interval" not in text
    plain = " ".join(recommend(a).reasons)
    assert "95% interval" in plain and f"p = {a.p_value:.3g}" in plain and "adjusted" not in plain
