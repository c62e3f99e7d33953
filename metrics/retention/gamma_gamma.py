"""Gamma-Gamma spend model (Fader & Hardie 2013), fitted by maximum likelihood.

Each transaction value of a customer is ``Gamma(p, nu)`` (shape ``p``, rate ``nu``), and
across customers ``nu ~ Gamma(q, gamma)``. The model sees, for customers with ``x >= 1``
repeat transactions, their mean repeat transaction value ``m_x`` (the first purchase is left
out, as in the BG/NBD summary). Spend is assumed independent of purchase frequency.

The marginal density of ``m_x`` (the likelihood maximised here) is

    f(m_x | p, q, gamma, x) = Gamma(px + q) / (Gamma(px) Gamma(q))
                              * gamma^q x^(px) m_x^(px - 1) / (gamma + x m_x)^(px + q)

and the expected transaction value given the history is
``E[M | x, m_x] = p (gamma + x m_x) / (px + q - 1)``; for a new customer ``p gamma / (q - 1)``.
Money is in the unit of the input (USD in the warehouse).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from metrics.retention import mle
from metrics.retention.bgnbd import hessian_from_gradient

PARAM_NAMES: tuple[str, ...] = ("p", "q", "gamma")


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters (``p`` shape per transaction, ``nu ~ Gamma(q, gamma)``)."""

    p: float
    q: float
    gamma: float

    def as_array(self) -> np.ndarray:
        return np.array([self.p, self.q, self.gamma], dtype=float)

    @property
    def population_mean(self) -> float:
        """Expected transaction value of a new customer, ``p gamma / (q - 1)`` (inf if q <= 1)."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else float("inf")


@dataclass(frozen=True)
class GammaGammaFit:
    """A maximum-likelihood fit; ``log_cov`` is the covariance of the log parameters."""

    params: GammaGammaParams
    log_likelihood: float
    n_customers: int
    n_groups: int
    log_cov: np.ndarray
    converged: bool
    message: str

    @property
    def std_errors(self) -> dict[str, float]:
        return mle.std_errors(PARAM_NAMES, self.params.as_array(), self.log_cov)

    def draws(self, n: int, seed: int = 0) -> list[GammaGammaParams]:
        """``n`` parameter sets drawn from the asymptotic normal of the log parameters."""
        rows = mle.log_normal_draws(self.params.as_array(), self.log_cov, n, seed)
        return [GammaGammaParams(*(float(v) for v in row)) for row in rows]


def log_likelihood(params: GammaGammaParams, x: np.ndarray, m_x: np.ndarray) -> np.ndarray:
    """Per-customer log density of the mean repeat transaction value ``m_x``."""
    p, q, g = params.p, params.q, params.gamma
    x = np.asarray(x, dtype=float)
    m_x = np.asarray(m_x, dtype=float)
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(g)
        + px * np.log(x)
        + (px - 1.0) * np.log(m_x)
        - (px + q) * np.log(g + x * m_x)
    )


class _Data:
    """Fit inputs; terms depending on ``x`` only are evaluated per distinct ``x``."""

    def __init__(self, x: np.ndarray, m_x: np.ndarray, w: np.ndarray) -> None:
        self.x, self.m_x, self.w = x, m_x, w
        self.ux, self.inv = np.unique(x, return_inverse=True)
        self.wx = np.bincount(self.inv, weights=w)
        self.wx_lnx_lnm = float(np.dot(w, x * (np.log(x) + np.log(m_x))))
        self.w_lnm = float(np.dot(w, np.log(m_x)))


def _negll_and_grad(theta: np.ndarray, d: _Data, scale: float) -> tuple[float, np.ndarray]:
    """Weighted negative log-likelihood / scale and its gradient in log parameters."""
    p, q, g = np.exp(theta)
    pux = p * d.ux
    n = d.wx.sum()
    ln_gxm = np.log(g + d.x * d.m_x)
    pxq = p * d.x + q
    total = (
        np.dot(d.wx, special.gammaln(pux + q) - special.gammaln(pux))
        - n * special.gammaln(q)
        + n * q * np.log(g)
        + p * d.wx_lnx_lnm
        - d.w_lnm
        - np.dot(d.w, pxq * ln_gxm)
    )
    value = -total / scale
    if not np.isfinite(value):
        return 1e300, np.zeros(3)
    psi_u = special.digamma(pux + q)
    g_p = (
        np.dot(d.wx * d.ux, psi_u - special.digamma(pux)) + d.wx_lnx_lnm - np.dot(d.w * d.x, ln_gxm)
    )
    g_q = np.dot(d.wx, psi_u) - n * special.digamma(q) + n * np.log(g) - np.dot(d.w, ln_gxm)
    g_g = n * q / g - np.dot(d.w, pxq / (g + d.x * d.m_x))
    grad = np.array([g_p * p, g_q * q, g_g * g])
    return float(value), -grad / scale


def fit_gamma_gamma(
    x: np.ndarray, m_x: np.ndarray, weights: np.ndarray | None = None
) -> GammaGammaFit:
    """Fit on repeat customers only (``x >= 1``, ``m_x > 0``); ``weights`` count duplicates."""
    x = np.asarray(x, dtype=float)
    m_x = np.asarray(m_x, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if not (len(x) == len(m_x) == len(w)):
        raise ValueError("x, m_x and weights must have the same length")
    if len(x) < 2:
        raise ValueError("the spend model needs at least two customers with a repeat purchase")
    if np.any(x < 1):
        raise ValueError("the spend model takes repeat customers only (x >= 1)")
    if np.any(~np.isfinite(m_x)) or np.any(m_x <= 0):
        raise ValueError("mean repeat transaction values must be positive amounts")
    if np.any(w <= 0):
        raise ValueError("weights must be positive")
    n = float(w.sum())
    args = (_Data(x, m_x, w), n)
    mean_m = float(np.dot(w, m_x) / n)
    theta0 = np.log([1.0, 2.0, max(mean_m, 1e-6)])
    res = optimize.minimize(
        _negll_and_grad,
        theta0,
        args=args,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-20.0, 20.0)] * 3,
        options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 2000},
    )
    hess = hessian_from_gradient(lambda th: _negll_and_grad(th, *args)[1] * n, res.x)
    try:
        log_cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        log_cov = np.full((3, 3), np.nan)
    return GammaGammaFit(
        params=GammaGammaParams(*(float(v) for v in np.exp(res.x))),
        log_likelihood=float(-res.fun * n),
        n_customers=int(round(n)),
        n_groups=len(x),
        log_cov=log_cov,
        converged=bool(res.success),
        message=str(res.message),
    )


def conditional_expected_spend(
    params: GammaGammaParams, x: np.ndarray, m_x: np.ndarray
) -> np.ndarray:
    """``E[M | x, m_x]``: expected value of a future transaction (population mean when x = 0)."""
    p, q, g = params.p, params.q, params.gamma
    x = np.asarray(x, dtype=float)
    m_x = np.where(np.asarray(x) > 0, np.asarray(m_x, dtype=float), 0.0)
    return p * (g + x * m_x) / (p * x + q - 1.0)
