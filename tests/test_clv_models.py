"""BG/NBD and Gamma-Gamma: CDNOW benchmark, closed forms vs integration, simulation recovery."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import integrate, optimize
from sqlalchemy import column, create_engine, table

from metrics.retention import bgnbd, gamma_gamma
from metrics.retention.bgnbd import BGNBDParams
from metrics.retention.clv import (
    CLVSettings,
    discounted_expected_purchases,
    predict_clv,
    step_discount,
)
from metrics.retention.gamma_gamma import GammaGammaParams
from metrics.retention.model import fit_frame
from metrics.retention.summary import customer_summary, to_grouped
from tests.clv_helpers import (
    cdnow_published_summary,
    cdnow_transactions,
    simulate_bgnbd,
    simulate_gamma_gamma,
)

# Fader, Hardie & Lee (2005), section 4 (CDNOW, 39-week calibration, weeks).
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LL = -9582.4
# Fader & Hardie (2013), "The Gamma-Gamma model of monetary value", CDNOW repeat customers.
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
CALIBRATION_END = dt.date(1997, 9, 30)


@pytest.fixture(scope="module")
def cdnow_models():
    return fit_frame(cdnow_transactions(), CALIBRATION_END, "week")


@pytest.fixture(scope="module")
def cdnow_sql_summary() -> pd.DataFrame:
    engine = create_engine("duckdb:///:memory:")
    with engine.connect() as conn:
        conn.connection.driver_connection.register("cd", cdnow_transactions())
        tx = table("cd", column("customer_id"), column("ts"), column("amount"))
        frame = pd.DataFrame(conn.execute(customer_summary(tx, CALIBRATION_END)).mappings().all())
    engine.dispose()
    return frame


def test_sql_summary_matches_the_published_cdnow_summary(cdnow_sql_summary):
    ref = cdnow_published_summary()
    m = cdnow_sql_summary.merge(ref, left_on="customer_id", right_on="ID", validate="1:1")
    assert len(m) == len(ref) == 2357
    assert (m["x_x"] == m["x_y"]).all()
    # the published file rounds weeks and dollars to two decimals
    assert_allclose(m["t_x_days"] / 7, m["t_x"], atol=0.0051)
    assert_allclose(m["T_days"] / 7, m["T"], atol=0.0051)
    zbar = np.where(m["x_x"] > 0, m["total"] / m["x_x"].clip(lower=1), 0.0)
    assert_allclose(zbar, m["zbar"], atol=0.0051)


def test_cdnow_bgnbd_matches_the_published_parameters(cdnow_models):
    fit = cdnow_models.bgnbd
    assert fit.n_customers == 2357
    assert fit.n_groups < fit.n_customers  # grouped into identical triples
    got = {"r": fit.params.r, "alpha": fit.params.alpha, "a": fit.params.a, "b": fit.params.b}
    for name, value in PUBLISHED_BGNBD.items():
        assert got[name] == pytest.approx(value, rel=0.01), name
    assert fit.log_likelihood == pytest.approx(PUBLISHED_LL, abs=0.1)
    assert fit.converged


def test_cdnow_gamma_gamma_matches_the_published_parameters(cdnow_models):
    gg = cdnow_models.gamma_gamma
    assert gg is not None and gg.n_customers == 946
    got = {"p": gg.params.p, "q": gg.params.q, "gamma": gg.params.gamma}
    for name, value in PUBLISHED_GG.items():
        assert got[name] == pytest.approx(value, rel=0.01), name


def test_grouped_fit_equals_per_customer_fit():
    ref = cdnow_published_summary()
    per = bgnbd.fit_bgnbd(ref["x"], ref["t_x"], ref["T"])
    g = ref.groupby(["x", "t_x", "T"]).size().reset_index(name="n")
    grouped = bgnbd.fit_bgnbd(g["x"], g["t_x"], g["T"], g["n"])
    assert_allclose(grouped.params.as_array(), per.params.as_array(), rtol=1e-5)
    assert grouped.log_likelihood == pytest.approx(per.log_likelihood, abs=1e-6)


def test_published_conditional_expectation_example():
    # FHL 2005, section 4: customer with x = 2, t_x = 30.43, T = 38.86 -> 1.226 purchases
    # expected in the next 39 weeks.
    params = BGNBDParams(**PUBLISHED_BGNBD)
    value = bgnbd.conditional_expected_purchases(params, 39.0, 2, 30.43, 38.86)
    assert float(value) == pytest.approx(1.226, abs=0.002)


def test_analytic_gradients_match_finite_differences():
    ref = cdnow_published_summary()
    x, t_x, T = (ref[c].to_numpy(float) for c in ("x", "t_x", "T"))
    w = np.random.default_rng(0).integers(1, 4, size=len(x)).astype(float)
    data = bgnbd._Data(x, t_x, T, w)
    theta = np.log([0.3, 4.0, 0.9, 2.0])
    value, analytic = bgnbd._negll_and_grad(theta, data, 1.0)
    params = BGNBDParams(*np.exp(theta))
    assert value == pytest.approx(-np.dot(w, bgnbd.log_likelihood(params, x, t_x, T)))
    numeric = optimize.approx_fprime(theta, lambda th: bgnbd._negll_and_grad(th, data, 1.0)[0])
    assert_allclose(analytic, numeric, rtol=1e-5)
    rep = ref[ref["x"] > 0]
    gx, gm = rep["x"].to_numpy(float), rep["zbar"].to_numpy(float)
    gw = np.random.default_rng(1).integers(1, 4, size=len(gx)).astype(float)
    data = gamma_gamma._Data(gx, gm, gw)
    theta = np.log([5.0, 3.0, 12.0])
    value, analytic = gamma_gamma._negll_and_grad(theta, data, 1.0)
    params = GammaGammaParams(*np.exp(theta))
    assert value == pytest.approx(-np.dot(gw, gamma_gamma.log_likelihood(params, gx, gm)))
    numeric = optimize.approx_fprime(
        theta, lambda th: gamma_gamma._negll_and_grad(th, data, 1.0)[0]
    )
    assert_allclose(analytic, numeric, rtol=1e-5)


# --- closed forms against numerical integration over the mixing distributions ---------------

P = BGNBDParams(r=1.3, alpha=5.0, a=1.6, b=3.1)


def _integrate(f, n: int = 120) -> float:
    """E[f(lambda, p)] under Gamma(r, alpha) x Beta(a, b), by Gauss quadrature.

    Generalised Gauss-Laguerre nodes for lambda (weight lambda^(r-1) e^(-alpha lambda)) and
    Gauss-Jacobi nodes for p (weight p^(a-1) (1-p)^(b-1)): numerical integration that shares
    nothing with the closed forms under test.
    """
    from scipy.special import betaln, gammaln, roots_genlaguerre, roots_jacobi

    u, wu = roots_genlaguerre(n, P.r - 1.0)
    lam = u / P.alpha
    w_lam = wu / np.exp(gammaln(P.r))  # the Gamma density's normaliser, alpha^r cancels
    v, wv = roots_jacobi(n, P.b - 1.0, P.a - 1.0)
    p = (1.0 + v) / 2.0
    w_p = wv / 2.0 ** (P.a + P.b - 1.0) / np.exp(betaln(P.a, P.b))
    L, PP = np.meshgrid(lam, p, indexing="ij")
    return float(w_lam @ f(L, PP) @ w_p)


def test_unconditional_expectation_matches_integration():
    for t in (1.0, 10.0, 52.0):
        ref = _integrate(lambda lam, p, t=t: (1 - np.exp(-lam * p * t)) / p)
        assert float(bgnbd.expected_purchases(P, t)) == pytest.approx(ref, rel=1e-8)


@pytest.mark.parametrize(("x", "t_x", "T"), [(0, 0.0, 30.0), (1, 4.0, 30.0), (4, 25.0, 30.0)])
def test_likelihood_p_alive_and_conditional_expectation_match_integration(x, t_x, T):
    def alive(lam, p):
        return (1 - p) ** x * lam**x * np.exp(-lam * T)

    def dead(lam, p):
        return p * (1 - p) ** (x - 1) * lam**x * np.exp(-lam * t_x) if x > 0 else 0.0 * lam

    total = _integrate(lambda lam, p: alive(lam, p) + dead(lam, p))
    ll = float(bgnbd.log_likelihood(P, np.array([x]), np.array([t_x]), np.array([T]))[0])
    assert ll == pytest.approx(np.log(total), abs=1e-6)
    p_alive = _integrate(alive) / total
    assert float(bgnbd.prob_alive(P, x, t_x, T)) == pytest.approx(p_alive, rel=1e-6)
    t = 20.0
    ey = _integrate(lambda lam, p: alive(lam, p) * (1 - np.exp(-lam * p * t)) / p) / total
    got = float(bgnbd.conditional_expected_purchases(P, t, x, t_x, T))
    assert got == pytest.approx(ey, rel=1e-6)


def test_gamma_gamma_density_and_expectation_match_integration():
    g = GammaGammaParams(p=6.0, q=3.5, gamma=15.0)
    from scipy.special import gammaln

    def mx_density_given_nu(m, nu, x):
        shape, rate = g.p * x, nu * x
        return np.exp(shape * np.log(rate) + (shape - 1) * np.log(m) - rate * m - gammaln(shape))

    def nu_prior(nu):
        return np.exp(g.q * np.log(g.gamma) + (g.q - 1) * np.log(nu) - g.gamma * nu - gammaln(g.q))

    for x, m in ((1, 20.0), (3, 35.0), (8, 12.5)):
        joint = lambda nu, x=x, m=m: mx_density_given_nu(m, nu, x) * nu_prior(nu)  # noqa: E731
        dens, _ = integrate.quad(joint, 0, np.inf, epsabs=1e-14, limit=200)
        ll = gamma_gamma.log_likelihood(g, np.array([x]), np.array([m]))[0]
        assert ll == pytest.approx(np.log(dens), abs=1e-7)
        post_mean, _ = integrate.quad(
            lambda nu, j=joint: g.p / nu * j(nu), 0, np.inf, epsabs=1e-14, limit=200
        )
        got = float(gamma_gamma.conditional_expected_spend(g, x, m))
        assert got == pytest.approx(post_mean / dens, rel=1e-7)
    assert g.population_mean == pytest.approx(g.p * g.gamma / (g.q - 1))


# --- simulation: fits recover known parameters --------------------------------------------


def test_bgnbd_recovers_simulated_parameters():
    truth = BGNBDParams(r=0.5, alpha=6.0, a=0.8, b=2.5)
    T = np.random.default_rng(1).uniform(20.0, 80.0, size=10_000).round(1)
    x, t_x = simulate_bgnbd(truth.r, truth.alpha, truth.a, truth.b, T, seed=2)
    fit = bgnbd.fit_bgnbd(x, t_x, T)
    se = fit.std_errors
    for name, true_value in zip(bgnbd.PARAM_NAMES, truth.as_array(), strict=True):
        got = getattr(fit.params, name)
        assert abs(got - true_value) < 4 * se[name], (name, got, true_value, se[name])
        assert got == pytest.approx(true_value, rel=0.25), name
    # the asymptotic standard errors are honest: the spread over replications matches them
    reps = []
    for seed in range(3, 8):
        xs, txs = simulate_bgnbd(truth.r, truth.alpha, truth.a, truth.b, T, seed=seed)
        reps.append(bgnbd.fit_bgnbd(xs, txs, T).params.r)
    assert 0.4 < np.std(reps, ddof=1) / se["r"] < 2.5


def test_gamma_gamma_recovers_simulated_parameters():
    truth = GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
    x = np.random.default_rng(3).integers(1, 10, size=5_000)
    m = simulate_gamma_gamma(truth.p, truth.q, truth.gamma, x, seed=4)
    fit = gamma_gamma.fit_gamma_gamma(x, m)
    se = fit.std_errors
    for name, true_value in zip(gamma_gamma.PARAM_NAMES, truth.as_array(), strict=True):
        got = getattr(fit.params, name)
        assert abs(got - true_value) < 4 * se[name], (name, got, true_value, se[name])


def test_bad_summaries_get_specific_messages():
    with pytest.raises(ValueError, match="between 0 and T"):
        bgnbd.fit_bgnbd([1, 0], [5.0, 0.0], [4.0, 3.0])
    with pytest.raises(ValueError, match="made a repeat purchase"):
        bgnbd.fit_bgnbd([0, 0], [0.0, 0.0], [4.0, 3.0])
    with pytest.raises(ValueError, match="whole numbers"):
        bgnbd.fit_bgnbd([1.5, 0], [1.0, 0.0], [4.0, 3.0])
    with pytest.raises(ValueError, match="repeat customers only"):
        gamma_gamma.fit_gamma_gamma([0, 2], [1.0, 3.0])


# --- discounting and per-group CLV ---------------------------------------------------------


def test_discounting():
    params = BGNBDParams(**PUBLISHED_BGNBD)
    x, t_x, T = np.array([0, 2, 7]), np.array([0.0, 30.43, 35.0]), np.array([38.86] * 3)
    step = 30.4375 / 7
    undiscounted = discounted_expected_purchases(params, x, t_x, T, 52.0, step, 0.0)
    assert_allclose(undiscounted, bgnbd.conditional_expected_purchases(params, 52.0, x, t_x, T))
    d = step_discount(0.10)
    assert (1 + d) ** (365.25 / 30.4375) == pytest.approx(1.10)
    # by hand: the first two steps
    two = discounted_expected_purchases(params, x, t_x, T, 2 * step, step, d)
    e1 = bgnbd.conditional_expected_purchases(params, step, x, t_x, T)
    e2 = bgnbd.conditional_expected_purchases(params, 2 * step, x, t_x, T)
    assert_allclose(two, e1 / (1 + d) + (e2 - e1) / (1 + d) ** 2)
    discounted = discounted_expected_purchases(params, x, t_x, T, 52.0, step, d)
    assert np.all(discounted < undiscounted) and np.all(discounted > undiscounted / 1.10)


def test_grouped_clv_equals_per_customer_clv_and_delta_interval_matches_draws(cdnow_models):
    m = cdnow_models
    settings = CLVSettings(horizon_days=364.0, annual_discount=0.12)
    # per-customer reference from the published summary (weeks) and the same fits
    ref = cdnow_published_summary()
    bg, gg = m.bgnbd.params, m.gamma_gamma.params
    det = discounted_expected_purchases(
        bg, ref["x"], ref["t_x"], ref["T"], 52.0, 30.4375 / 7, step_discount(0.12)
    )
    spend = gamma_gamma.conditional_expected_spend(gg, ref["x"], ref["zbar"])
    per_customer = float(np.mean(det * spend))
    out = predict_clv(m.bgnbd, m.gamma_gamma, m.summary, settings)
    assert out["customers"].sum() == 2357
    assert float(out["clv"].iloc[0]) == pytest.approx(per_customer, rel=2e-3)
    assert float(out["p_alive"].iloc[0]) == pytest.approx(
        float(np.mean(bgnbd.prob_alive(bg, ref["x"], ref["t_x"], ref["T"]))), rel=2e-3
    )
    # delta-method interval vs the spread of CLV over parameter draws
    values = []
    for b, g in zip(m.bgnbd.draws(150, seed=1), m.gamma_gamma.draws(150, seed=2), strict=True):
        fake_bg = type(m.bgnbd)(**{**m.bgnbd.__dict__, "params": b})
        fake_gg = type(m.gamma_gamma)(**{**m.gamma_gamma.__dict__, "params": g})
        values.append(float(predict_clv_point(fake_bg, fake_gg, m.summary, settings)))
    sd_draws = np.std(values, ddof=1)
    sd_delta = (float(out["clv_high"].iloc[0]) - float(out["clv"].iloc[0])) / 1.6448536269514722
    assert sd_delta == pytest.approx(sd_draws, rel=0.3)


def predict_clv_point(bg_fit, gg_fit, summary, settings) -> float:
    from metrics.retention.clv import _by_dim, _group_values

    v = _by_dim(_group_values(bg_fit.params, gg_fit.params, summary, settings), summary.dim)
    return float(v["value"].iloc[0] / summary.n.sum())


def test_to_grouped_converts_units():
    frame = pd.DataFrame({"x": [1], "t_x_days": [14], "T_days": [28], "n": [3], "total": [9.0]})
    g = to_grouped(frame, "week")
    assert g.t_x[0] == 2.0 and g.T[0] == 4.0 and g.n_customers == 3
