"""Power analysis vs statsmodels, closed forms, the engine and simulation.

``metrics.stats.power`` plans for the engine's decision: the log ratio L = log(m_t/m_c)
with its delta-method standard error (issue 10: it replaced the delta-method se of
m_t/m_c − 1, which is not symmetric in direction). At the planned effect (means m,
sd σ) L = log(1 + mde) with variance (σ/m)²[1/n_c + 1/((1 + mde)²·n_t)]. statsmodels
``NormalIndPower`` tests a standardised effect d with variance 1/n1 + 1/(ratio·n1), so the two
coincide exactly for d = log(1 + mde)·m/σ, n1 = n_c and ratio = (1 + mde)²·n_t/n_c — the
mapping used below to keep statsmodels as an independent reference.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats as sps
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from metrics.stats import engine, power
from metrics.stats.sufficient import VariantStats


def _sm_args(n_c: float, n_t: float, mde: float) -> dict[str, float]:
    """NormalIndPower's (nobs1, ratio) with the log-ratio test's variance (see module doc)."""
    return {"nobs1": n_c, "ratio": (1 + mde) ** 2 * n_t / n_c}


@pytest.mark.parametrize("alternative", ["two-sided", "larger"])
@pytest.mark.parametrize("weights", [(1, 1), (0.4, 0.6)])
def test_mean_sample_size_matches_normal_ind_power(alternative, weights):
    mean, sd, mde = 20.0, 30.0, 0.05
    plan = power.sample_size(
        mean, mde, kind="mean", baseline_sd=sd, alternative=alternative, weights=weights
    )
    # n_t = n_c·w_t/w_c, so ratio = (1 + m)²·w_t/w_c and n_c = n1.
    ref = NormalIndPower().solve_power(
        effect_size=math.log1p(mde) * mean / sd,
        alpha=0.05,
        power=0.8,
        ratio=(1 + mde) ** 2 * weights[1] / weights[0],
        alternative=alternative,
    )
    assert plan.error_message is None
    assert abs(plan.units_per_variant[0] - ref) <= 1.0 + 1e-6 * ref


def test_mean_power_matches_statsmodels():
    got = power.power_for(3000, 3000, 0.05, 20.0, kind="mean", baseline_sd=30.0)
    args = _sm_args(3000, 3000, 0.05)
    d = math.log(1.05) * 20 / 30
    ref = NormalIndPower().power(effect_size=d, alpha=0.05, **args)
    assert_allclose(got, ref, rtol=1e-9)
    tref = TTestIndPower().power(effect_size=d, alpha=0.05, **args)
    assert_allclose(got, tref, rtol=0.01)  # z vs t: 1% at this n


def test_binomial_sample_size_closed_form():
    p, mde = 0.04, 0.1
    plan = power.sample_size(p, mde)
    pt = p * (1 + mde)
    z = sps.norm.isf(0.025) + sps.norm.isf(0.2)
    # Log ratio (Katz): se_L² = (1 − p_t)/(n p_t) + (1 − p)/(n p); z_total = log(1 + mde)/se_L.
    per_unit_var_log = (1 - pt) / pt + (1 - p) / p
    closed = z**2 * per_unit_var_log / math.log1p(mde) ** 2  # one tail (the other ~1e-10)
    assert_allclose(plan.units_per_variant[0], math.ceil(closed), rtol=1e-4)


def test_mde_for_round_trip_and_duration():
    m = power.mde_for(20000, 20000, 0.05)
    assert_allclose(power.power_for(20000, 20000, m, 0.05), 0.8, rtol=1e-8)
    plan = power.sample_size(0.05, m, daily_units=4000)
    assert abs(plan.units_per_variant[0] - 20000) <= 1
    assert plan.days == math.ceil(plan.total_units / 4000)
    assert power.duration_days(10_001, 1000) == 11


def test_multiple_variants_use_bonferroni_alpha():
    three = power.sample_size(0.05, 0.1, n_variants=3)
    two = power.sample_size(0.05, 0.1, alpha=0.025)
    assert three.alpha_per_comparison == 0.025
    assert three.units_per_variant == (two.units_per_variant[0],) * 3


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        (dict(baseline=1.2, mde=0.1), "between 0 and 1"),
        (dict(baseline=0.9, mde=0.2), "not a valid rate"),
        (dict(baseline=10.0, mde=0.1, kind="mean"), "baseline_sd"),
        (dict(baseline=0.1, mde=0.0), "non-zero"),
        (dict(baseline=0.1, mde=0.1, power=1.5), "power"),
        (dict(baseline=0.1, mde=-0.1, alternative="larger"), "cannot be detected"),
    ],
)
def test_invalid_plans_have_messages(kwargs, fragment):
    plan = power.sample_size(**kwargs)
    assert plan.error_message and fragment in plan.error_message


# --- the plan is the engine's test: exact power field, and simulation ---------------------------


def _exact_arm(name: str, kind: str, n: int, mean: float, sd: float | None) -> VariantStats:
    """Sufficient statistics whose mean (and sample sd, n − 1) equal the planned values."""
    total = mean * n
    if kind == "binomial":
        return VariantStats(name, n, total, total)
    return VariantStats(name, n, total, sd * sd * (n - 1) + total * total / n)


CONSISTENCY_CASES = [
    # (kind, baseline, sd, mde, n_c, n_t, alternative)
    ("binomial", 0.05, None, 0.10, 12_345, 12_345, "two-sided"),
    ("binomial", 0.3, None, 0.04, 5_001, 9_877, "larger"),
    ("binomial", 0.12, None, -0.07, 20_000, 7_000, "smaller"),
    ("mean", 20.0, 30.0, 0.05, 3_000, 4_500, "two-sided"),
    ("mean", 50.0, 80.0, -0.03, 40_000, 10_000, "smaller"),
    ("mean", -15.0, 40.0, 0.08, 9_000, 9_000, "larger"),  # negative control: r, not t − c
]


@pytest.mark.parametrize(("kind", "b", "sd", "mde", "n_c", "n_t", "alt"), CONSISTENCY_CASES)
def test_power_for_equals_the_engine_power_field(kind, b, sd, mde, n_c, n_t, alt):
    control = _exact_arm("control", kind, n_c, b, sd)
    treatment = _exact_arm("treatment", kind, n_t, b * (1 + mde), sd)
    result = engine.analyze_metric(control, treatment, kind, alternative=alt, mde=abs(mde))
    assert result.error_message is None
    assert_allclose(result.relative_lift, mde, atol=1e-12)
    planned = power.power_for(n_c, n_t, mde, b, kind=kind, baseline_sd=sd, alternative=alt)
    assert 0.05 < planned < 0.999  # a case where the scales matter
    assert_allclose(planned, result.power, atol=1e-6)


SIMULATIONS = 50_000  # vectorised relative tests; the engine re-decides the first SPOT_CHECKS
SPOT_CHECKS = 300


def _log_stat(m_c, m_t, v_c, v_t, n_c, n_t):
    return np.log(m_t / m_c) / np.sqrt(v_t / (n_t * m_t**2) + v_c / (n_c * m_c**2))


def _first_order_power(kind, m_c, m_t, v_c, v_t, n_c, n_t, alt, alpha=0.05, sd=None):
    """Rejection rate of the engine's statistic T = log(m̂_t/m̂_c)/√(v̂_t/(n_t m̂_t²) +
    v̂_c/(n_c m̂_c²)) to first order in (m̂_c, m̂_t) under the alternative: T ≈ N(μ, τ²), τ²
    from the gradient of T (central differences; binomial variances move with the rates,
    means' do not). Written from scratch (numpy and scipy only)."""

    def t_of(a, b):
        va, vb = (a * (1 - a), b * (1 - b)) if kind == "binomial" else (v_c, v_t)
        return float(_log_stat(a, b, va, vb, n_c, n_t))

    h_c, h_t = 1e-6 * abs(m_c), 1e-6 * abs(m_t)
    g_c = (t_of(m_c + h_c, m_t) - t_of(m_c - h_c, m_t)) / (2 * h_c)
    g_t = (t_of(m_c, m_t + h_t) - t_of(m_c, m_t - h_t)) / (2 * h_t)
    mu, tau = t_of(m_c, m_t), math.sqrt(g_t * g_t * v_t / n_t + g_c * g_c * v_c / n_c)
    if alt == "two-sided":
        z = sps.norm.isf(alpha / 2)
        return sps.norm.cdf((mu - z) / tau) + sps.norm.cdf((-mu - z) / tau)
    return sps.norm.cdf((mu - sps.norm.isf(alpha)) / tau)


def _relative_decisions(m_c, v_c, n_c, m_t, v_t, n_t, alt, df=None, alpha=0.05):
    """The engine's rule written out independently: log-ratio z (or t with ``df``)."""
    stat = _log_stat(m_c, m_t, v_c, v_t, n_c, n_t)
    dist = sps.norm if df is None else sps.t(df)
    if alt == "two-sided":
        return np.abs(stat) > dist.isf(alpha / 2)
    return stat > dist.isf(alpha) if alt == "larger" else stat < -dist.isf(alpha)


def _assert_engine_agrees(decisions, control, treatment, kind, alt) -> None:
    engine_says = [
        engine.analyze_metric(c, t, kind, alternative=alt, mde=None).significant
        for c, t in zip(control, treatment, strict=True)
    ]
    assert engine_says == list(decisions[: len(engine_says)])


def _assert_plan_holds(rate: float, target: float, first_order: float) -> None:
    """The plan reaches its power under the engine (no shortfall beyond Monte Carlo noise), and
    the rate is the one the first-order theory of the engine's statistic predicts (to 0.005
    for the theory's own error)."""
    mc_se = math.sqrt(target * (1 - target) / SIMULATIONS)
    assert rate > target - 3.5 * mc_se, (rate, target, mc_se)
    assert abs(rate - first_order) < 3.5 * mc_se + 0.005, (rate, first_order, mc_se)


def test_simulated_binomial_plan_reaches_its_power_under_the_engine():
    p, mde = 0.05, 0.10
    p_t = p * (1 + mde)
    plan = power.sample_size(p, mde)
    n_c, n_t = plan.units_per_variant
    rng = np.random.default_rng(20260630)
    x_c = rng.binomial(n_c, p, SIMULATIONS).astype(float)
    x_t = rng.binomial(n_t, p_t, SIMULATIONS).astype(float)
    q_c, q_t = x_c / n_c, x_t / n_t
    decisions = _relative_decisions(
        q_c, q_c * (1 - q_c), n_c, q_t, q_t * (1 - q_t), n_t, "two-sided"
    )
    control = [VariantStats("control", n_c, x, x) for x in x_c[:SPOT_CHECKS]]
    treatment = [VariantStats("treatment", n_t, x, x) for x in x_t[:SPOT_CHECKS]]
    _assert_engine_agrees(decisions, control, treatment, "binomial", "two-sided")
    expected = _first_order_power(
        "binomial", p, p_t, p * (1 - p), p_t * (1 - p_t), n_c, n_t, "two-sided"
    )
    _assert_plan_holds(float(decisions.mean()), 0.8, expected)


def test_simulated_mean_plan_reaches_its_power_under_the_engine():
    mean, sd, mde = 20.0, 30.0, 0.05
    plan = power.sample_size(
        mean, mde, kind="mean", baseline_sd=sd, alternative="larger", weights=(0.4, 0.6)
    )
    n_c, n_t = plan.units_per_variant
    rng = np.random.default_rng(7)
    # Normal samples' sufficient statistics: ȳ ~ N(μ, σ²/n), s² ~ σ²χ²_{n−1}/(n − 1).
    m_c = rng.normal(mean, sd / math.sqrt(n_c), SIMULATIONS)
    m_t = rng.normal(mean * (1 + mde), sd / math.sqrt(n_t), SIMULATIONS)
    v_c = sd * sd * rng.chisquare(n_c - 1, SIMULATIONS) / (n_c - 1)
    v_t = sd * sd * rng.chisquare(n_t - 1, SIMULATIONS) / (n_t - 1)
    a, b = v_c / n_c, v_t / n_t
    welch = (a + b) ** 2 / (a * a / (n_c - 1) + b * b / (n_t - 1))
    decisions = _relative_decisions(m_c, v_c, n_c, m_t, v_t, n_t, "larger", df=welch)

    def arms(name, n, means, variances):
        return [
            VariantStats(name, n, m * n, v * (n - 1) + (m * n) ** 2 / n)
            for m, v in zip(means[:SPOT_CHECKS], variances[:SPOT_CHECKS], strict=True)
        ]

    control, treatment = arms("control", n_c, m_c, v_c), arms("treatment", n_t, m_t, v_t)
    _assert_engine_agrees(decisions, control, treatment, "mean", "larger")
    expected = _first_order_power(
        "mean", mean, mean * (1 + mde), sd * sd, sd * sd, n_c, n_t, "larger"
    )
    _assert_plan_holds(float(decisions.mean()), 0.8, expected)
