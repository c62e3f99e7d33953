"""Confidence sequences: boundary vs the mixture martingale; type-I error under peeking."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import integrate
from scipy import stats as sps

from metrics.stats import engine, sequential, simulate
from metrics.stats.sufficient import VariantStats


def _mixture(z: float, n: float, rho: float) -> float:
    """∫ exp(λS − λ²V/2) N(λ; 0, ρ²) dλ with S = √n·z, V = n (numerical integration)."""
    s = np.sqrt(n) * z

    def f(lam):
        return np.exp(lam * s - lam * lam * n / 2) * sps.norm.pdf(lam, 0, rho)

    peak = s / n
    val, _ = integrate.quad(f, -np.inf, np.inf, points=None, epsabs=0, epsrel=1e-10)
    if not np.isfinite(val) or val == 0:
        val, _ = integrate.quad(f, peak - 50 / np.sqrt(n), peak + 50 / np.sqrt(n), epsrel=1e-10)
    return val


@pytest.mark.parametrize("n", [200, 5000, 100_000])
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_boundary_solves_mixture_martingale(n, alpha):
    rho = sequential.rho_for(alpha, 5000)
    k = float(sequential.cs_multiplier(n, alpha, rho))
    assert_allclose(_mixture(k, n, rho), 1 / alpha, rtol=1e-6)
    assert_allclose(sequential.always_valid_p(k, n, rho), alpha, rtol=1e-9)
    # always wider than the fixed-horizon interval
    assert k > sps.norm.isf(alpha / 2)


def test_tuning_makes_sequence_narrowest_at_tuning_n():
    alpha, n_star = 0.05, 20_000
    rho = sequential.rho_for(alpha, n_star)
    grid = np.linspace(0.2, 5, 400) * rho
    widths = [sequential.cs_multiplier(n_star, alpha, r) for r in grid]
    assert_allclose(grid[int(np.argmin(widths))], rho, rtol=0.02)


def test_running_p_values_monotone():
    p = sequential.running_p_values([0.5, 0.2, 0.3, 0.05, 0.4])
    assert list(p) == [0.5, 0.2, 0.2, 0.05, 0.05]


def test_aa_peeking_type_one_error():
    sim = simulate.simulate_aa_peeking(n_sims=4000, looks=30, units_per_look=300, seed=11)
    alpha = sim.alpha
    # fixed horizon: within 3.5 MC standard errors of alpha
    assert abs(sim.fixed_horizon_rate - alpha) < 3.5 * sim.mc_se(alpha)
    # naive daily peeking inflates well above alpha (theory: ~0.2-0.3 for 30 looks)
    assert sim.naive_peeking_rate > alpha + 10 * sim.mc_se(alpha)
    # sequential stays at or below alpha (+ 2 MC standard errors)
    assert sim.sequential_rate <= alpha + 2 * sim.mc_se(alpha)


def test_sequential_coverage_at_every_look():
    cover = simulate.simulate_sequential_coverage(n_sims=3000, seed=5)
    assert cover >= 0.95 - 2 * np.sqrt(0.05 * 0.95 / 3000)


def test_fixed_horizon_ci_coverage():
    sim = simulate.simulate_ci_coverage(n_sims=6000, seed=2)
    mc = 3.5 * np.sqrt(0.05 * 0.95 / sim.n_sims)
    assert abs(sim.absolute_coverage - 0.95) < mc
    assert abs(sim.relative_coverage - 0.95) < mc


def test_engine_sequential_matches_building_blocks():
    c, t = VariantStats("c", 6000, 480, 480), VariantStats("t", 6000, 560, 560)
    fixed = engine.analyze_metric(c, t, "binomial")
    seq = engine.analyze_metric(c, t, "binomial", engine="sequential", sequential_tuning_n=12000)
    rho = sequential.rho_for(0.05, 12000)
    k = float(sequential.cs_multiplier(12000, 0.05, rho))
    lo, hi = seq.absolute_ci
    assert_allclose((hi - lo) / 2, k * fixed.absolute_se, rtol=1e-12)
    assert seq.p_value >= fixed.p_value * 0.999  # the price of always-valid inference
