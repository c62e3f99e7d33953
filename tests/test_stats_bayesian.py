"""Bayesian summaries vs Monte Carlo and numerical integration."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import integrate
from scipy import stats as sps

from metrics.stats import bayesian, engine
from metrics.stats.sufficient import VariantStats


@pytest.mark.parametrize(("est", "se"), [(0.03, 0.02), (-0.01, 0.015), (0.0, 0.05)])
@pytest.mark.parametrize("higher_is_better", [True, False])
def test_gaussian_lift_vs_monte_carlo(est, se, higher_is_better):
    r = bayesian.gaussian_lift(est, se, higher_is_better=higher_is_better)
    draws = np.random.default_rng(0).normal(est, se, 400_000)
    good = draws if higher_is_better else -draws
    # chance: 4 MC standard errors (≤ 0.0032); losses: 2% relative + 1e-5 absolute
    assert abs(r.chance_to_win - (good > 0).mean()) < 4 * 0.5 / np.sqrt(draws.size)
    assert_allclose(r.expected_loss_ship, np.maximum(-good, 0).mean(), rtol=0.02, atol=1e-5)
    assert_allclose(r.expected_loss_no_ship, np.maximum(good, 0).mean(), rtol=0.02, atol=1e-5)
    lo, hi = np.quantile(draws, [0.025, 0.975])
    assert_allclose(r.credible_interval, (lo, hi), atol=se * 0.02)


def test_normal_prior_vs_grid_posterior():
    est, se, mu0, tau = 0.08, 0.04, 0.0, 0.05
    r = bayesian.gaussian_lift(est, se, prior_mean=mu0, prior_sd=tau)
    grid = np.linspace(-0.5, 0.5, 200_001)
    post = sps.norm.pdf(est, grid, se) * sps.norm.pdf(grid, mu0, tau)
    post /= post.sum()
    mean = (grid * post).sum()
    sd = np.sqrt(((grid - mean) ** 2 * post).sum())
    assert_allclose(r.posterior_mean, mean, rtol=1e-6)
    assert_allclose(r.posterior_sd, sd, rtol=1e-6)
    assert_allclose(r.chance_to_win, post[grid > 0].sum(), atol=1e-4)
    # the prior shrinks towards 0
    assert abs(r.posterior_mean) < est


def test_beta_binomial_chance_vs_numerical_integration():
    xc, nc, xt, nt = 40, 1000, 55, 1000
    r = bayesian.beta_binomial_mc(xc, nc, xt, nt, draws=200_000, seed=1)
    pc, pt = sps.beta(1 + xc, 1 + nc - xc), sps.beta(1 + xt, 1 + nt - xt)
    exact, _ = integrate.quad(lambda x: pc.pdf(x) * pt.sf(x), 0, 1, points=[0.04, 0.055])
    assert abs(r.chance_to_win - exact) < 4 * 0.5 / np.sqrt(200_000)


def test_gaussian_engine_agrees_with_beta_binomial_at_large_n():
    c, t = VariantStats("c", 20000, 800, 800), VariantStats("t", 20000, 880, 880)
    g = engine.analyze_metric(c, t, "binomial", engine="bayesian")
    b = engine.analyze_metric(c, t, "binomial", engine="bayesian", beta_binomial=True)
    assert abs(g.chance_to_win - b.chance_to_win) < 0.01  # approximation error, stated 1 pp
    assert_allclose(g.expected_loss_ship, b.expected_loss_ship, rtol=0.15, atol=2e-4)
    assert_allclose(g.relative_ci, b.relative_ci, atol=0.01)


def test_bayesian_direction_flips_with_good_direction():
    c, t = VariantStats("c", 5000, 150, 150), VariantStats("t", 5000, 180, 180)
    up = engine.analyze_metric(c, t, "binomial", engine="bayesian")
    down = engine.analyze_metric(c, t, "binomial", engine="bayesian", higher_is_better=False)
    assert_allclose(up.chance_to_win + down.chance_to_win, 1.0, rtol=1e-12)
    assert_allclose(up.expected_loss_ship, down.expected_loss_no_ship, rtol=1e-12)
