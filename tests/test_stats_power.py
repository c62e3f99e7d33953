"""Power analysis vs statsmodels and closed forms."""

from __future__ import annotations

import math

import pytest
from numpy.testing import assert_allclose
from scipy import stats as sps
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from metrics.stats import power


@pytest.mark.parametrize("alternative", ["two-sided", "larger"])
@pytest.mark.parametrize("weights", [(1, 1), (0.4, 0.6)])
def test_mean_sample_size_matches_normal_ind_power(alternative, weights):
    mean, sd, mde = 20.0, 30.0, 0.05
    plan = power.sample_size(
        mean, mde, kind="mean", baseline_sd=sd, alternative=alternative, weights=weights
    )
    ref = NormalIndPower().solve_power(
        effect_size=mde * mean / sd,
        alpha=0.05,
        power=0.8,
        ratio=weights[1] / weights[0],
        alternative=alternative,
    )
    assert plan.error_message is None
    assert abs(plan.units_per_variant[0] - ref) <= 1.0 + 1e-6 * ref


def test_mean_power_matches_statsmodels():
    got = power.power_for(3000, 3000, 0.05, 20.0, kind="mean", baseline_sd=30.0)
    ref = NormalIndPower().power(effect_size=1 / 30, nobs1=3000, alpha=0.05, ratio=1.0)
    assert_allclose(got, ref, rtol=1e-9)
    tref = TTestIndPower().power(effect_size=1 / 30, nobs1=3000, alpha=0.05, ratio=1.0)
    assert_allclose(got, tref, rtol=0.01)  # z vs t: 1% at this n


def test_binomial_sample_size_closed_form_and_arcsine():
    p, mde = 0.04, 0.1
    plan = power.sample_size(p, mde)
    pt = p * (1 + mde)
    z = sps.norm.isf(0.025) + sps.norm.isf(0.2)
    closed = z**2 * (p * (1 - p) + pt * (1 - pt)) / (p * mde) ** 2
    assert_allclose(plan.units_per_variant[0], math.ceil(closed), rtol=1e-3)
    h = abs(proportion_effectsize(pt, p))
    arcsine = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8, ratio=1.0)
    assert_allclose(plan.units_per_variant[0], arcsine, rtol=0.03)  # different approximations


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
