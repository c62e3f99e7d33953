"""BG/NBD purchase-frequency model (Fader, Hardie & Lee 2005), fitted by maximum likelihood.

A customer buys at a Poisson rate ``lambda`` while alive and, after every purchase, drops out
("dies") with probability ``p``. Across customers ``lambda ~ Gamma(r, alpha)`` (shape ``r``, rate
``alpha``) and ``p ~ Beta(a, b)``. The model sees only each customer's summary over the
calibration period:

- ``x``   -- number of *repeat* purchases (purchases after the first),
- ``t_x`` -- time of the last purchase, measured from the first (0 when ``x == 0``),
- ``T``   -- time from the first purchase to the end of the calibration period,

all in one time unit (days or weeks); ``alpha`` is in that unit too. Identical ``(x, t_x, T)``
triples can be given once with a weight (their count), which keeps a 1M-customer fit fast.

Formulas (paper equation numbers): the individual likelihood (6), the unconditional expectation
``E[X(t)]`` (7), ``P(alive | x, t_x, T)`` (appendix / Fader, Hardie & Lee 2008 note) and the
conditional expectation ``E[Y(t) | x, t_x, T]`` (10).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from metrics.retention import mle

PARAM_NAMES: tuple[str, ...] = ("r", "alpha", "a", "b")


@dataclass(frozen=True)
class BGNBDParams:
    """BG/NBD parameters: ``lambda ~ Gamma(r, alpha)``, ``p ~ Beta(a, b)``; alpha in time units."""

    r: float
    alpha: float
    a: float
    b: float

    def as_array(self) -> np.ndarray:
        return np.array([self.r, self.alpha, self.a, self.b], dtype=float)


@dataclass(frozen=True)
class BGNBDFit:
    """A maximum-likelihood fit.

    ``log_cov`` is the asymptotic covariance of the *log* parameters (inverse observed
    information); ``std_errors`` are the delta-method standard errors of the parameters.
    """

    params: BGNBDParams
    log_likelihood: float
    n_customers: int
    n_groups: int
    log_cov: np.ndarray
    converged: bool
    message: str
    iterations: int

    @property
    def std_errors(self) -> dict[str, float]:
        return mle.std_errors(PARAM_NAMES, self.params.as_array(), self.log_cov)

    def draws(self, n: int, seed: int = 0) -> list[BGNBDParams]:
        """``n`` parameter sets drawn from the asymptotic normal of the log parameters."""
        rows = mle.log_normal_draws(self.params.as_array(), self.log_cov, n, seed)
        return [BGNBDParams(*(float(v) for v in row)) for row in rows]


def validate_summary(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> None:
    """Raise ``ValueError`` with a specific message when a summary is not a valid BG/NBD input."""
    if not (len(x) == len(t_x) == len(T) == len(w)):
        raise ValueError("x, t_x, T and weights must have the same length")
    if len(x) == 0:
        raise ValueError("no customers to fit")
    if np.any(~np.isfinite(x)) or np.any(~np.isfinite(t_x)) or np.any(~np.isfinite(T)):
        raise ValueError("x, t_x and T must be finite numbers")
    if np.any(x < 0) or np.any(np.abs(x - np.round(x)) > 1e-9):
        raise ValueError("x (repeat purchases) must be whole numbers >= 0")
    if np.any(t_x < 0) or np.any(t_x > T + 1e-9):
        raise ValueError("t_x (recency) must lie between 0 and T")
    if np.any((x == 0) & (t_x > 1e-12)):
        raise ValueError("t_x must be 0 for customers with no repeat purchase")
    if np.any(T < 0):
        raise ValueError("T (time since first purchase) cannot be negative")
    if np.any(w <= 0) or np.any(~np.isfinite(w)):
        raise ValueError("weights must be positive")
    if not np.any(x > 0):
        raise ValueError("nobody made a repeat purchase: the model cannot be identified")


def log_likelihood(
    params: BGNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-customer log-likelihood (FHL 2005, eq. 6)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype=float)
    t_x = np.asarray(t_x, dtype=float)
    T = np.asarray(T, dtype=float)
    ln_a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    ln_a2 = (
        special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    ln_a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    ln_a4 = np.full_like(x, -np.inf)
    xr = x[repeat]
    ln_a4[repeat] = np.log(a) - np.log(b + xr - 1.0) - (r + xr) * np.log(alpha + t_x[repeat])
    return ln_a1 + ln_a2 + np.logaddexp(ln_a3, ln_a4)


class _Data:
    """Fit inputs with the terms that depend on ``x`` only evaluated per distinct ``x``."""

    def __init__(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> None:
        self.x, self.t_x, self.T, self.w = x, t_x, T, w
        self.ux, self.inv = np.unique(x, return_inverse=True)
        self.wx = np.bincount(self.inv, weights=w)  # total weight per distinct x
        self.repeat = x > 0
        self.urepeat = self.ux > 0


def _negll_and_grad(theta: np.ndarray, d: _Data, scale: float) -> tuple[float, np.ndarray]:
    """Weighted negative log-likelihood / scale and its gradient in log parameters.

    Gamma-function terms depend on ``x`` only: they are evaluated once per distinct ``x`` and
    weighted by the total weight of that ``x``.
    """
    r, alpha, a, b = np.exp(theta)
    ux, wx = d.ux, d.wx
    # per distinct x
    ln_a12 = (
        special.gammaln(r + ux)
        - special.gammaln(r)
        + special.gammaln(a + b)
        + special.gammaln(b + ux)
        - special.gammaln(b)
        - special.gammaln(a + b + ux)
    )
    bx1_u = np.where(d.urepeat, b + ux - 1.0, 1.0)
    # per row
    x = d.x
    ln_a3 = -(r + x) * np.log(alpha + d.T)
    ln_a4 = np.where(
        d.repeat, np.log(a) - np.log(bx1_u[d.inv]) - (r + x) * np.log(alpha + d.t_x), -np.inf
    )
    ln_sum = np.logaddexp(ln_a3, ln_a4)
    total = np.dot(wx, ln_a12) + r * np.log(alpha) * wx.sum() + np.dot(d.w, ln_sum)
    value = -total / scale
    if not np.isfinite(value):
        return 1e300, np.zeros(4)
    w3 = d.w * np.exp(ln_a3 - ln_sum)
    w4 = d.w - w3
    psi_abx = special.digamma(a + b + ux)
    psi_ab = special.digamma(a + b)
    n = wx.sum()
    g_r = (
        np.dot(wx, special.digamma(r + ux) - special.digamma(r))
        + n * np.log(alpha)
        - np.dot(w3, np.log(alpha + d.T))
        - np.dot(w4, np.log(alpha + d.t_x))
    )
    g_alpha = (
        n * r / alpha - np.dot(w3, (r + x) / (alpha + d.T)) - np.dot(w4, (r + x) / (alpha + d.t_x))
    )
    w4_sum = w4.sum()
    g_a = np.dot(wx, psi_ab - psi_abx) + w4_sum / a
    w4_by_x = np.bincount(d.inv, weights=w4, minlength=len(ux))
    g_b = np.dot(wx, psi_ab + special.digamma(b + ux) - special.digamma(b) - psi_abx) - np.dot(
        w4_by_x, 1.0 / bx1_u
    )
    grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
    return float(value), -grad / scale


def hessian_from_gradient(grad, theta: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Symmetrised central-difference Jacobian of a gradient function at ``theta``."""
    k = len(theta)
    hess = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h
        hess[:, i] = (grad(theta + e) - grad(theta - e)) / (2 * h)
    return (hess + hess.T) / 2


def fit_bgnbd(
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    weights: np.ndarray | None = None,
) -> BGNBDFit:
    """Maximum-likelihood BG/NBD fit on per-customer (or grouped, weighted) summaries.

    Optimises the weighted log-likelihood over log parameters with L-BFGS-B and the analytic
    gradient; ``weights`` are the number of customers sharing each triple. The covariance is
    the inverse of the observed information (Hessian by differencing the analytic gradient).
    """
    x = np.asarray(x, dtype=float)
    t_x = np.asarray(t_x, dtype=float)
    T = np.asarray(T, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    validate_summary(x, t_x, T, w)
    n = float(w.sum())
    args = (_Data(x, t_x, T, w), n)
    mean_t = float(np.dot(w, T) / n)
    best = None
    for start in ([1.0, max(mean_t, 1e-6), 1.0, 1.0], [0.5, max(mean_t, 1e-6) / 4, 0.5, 2.0]):
        res = optimize.minimize(
            _negll_and_grad,
            np.log(start),
            args=args,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-20.0, 20.0)] * 4,
            options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 2000},
        )
        if best is None or res.fun < best.fun:
            best = res
        if res.success and np.max(np.abs(res.jac)) < 1e-6:
            break
    hess = hessian_from_gradient(lambda th: _negll_and_grad(th, *args)[1] * n, best.x)
    try:
        log_cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        log_cov = np.full((4, 4), np.nan)
    return BGNBDFit(
        params=BGNBDParams(*(float(v) for v in np.exp(best.x))),
        log_likelihood=float(-best.fun * n),
        n_customers=int(round(n)),
        n_groups=len(x),
        log_cov=log_cov,
        converged=bool(best.success),
        message=str(best.message),
        iterations=int(best.nit),
    )


def expected_purchases(params: BGNBDParams, t: float | np.ndarray) -> np.ndarray:
    """``E[X(t)]``: expected purchases in ``(0, t]`` for a customer just acquired (eq. 7)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    t = np.asarray(t, dtype=float)
    z = t / (alpha + t)
    hyp = special.hyp2f1(r, b, a + b - 1.0, z)
    return (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t)) ** r * hyp)


def prob_alive(params: BGNBDParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """``P(alive | x, t_x, T)``: probability the customer has not dropped out by ``T``."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype=float)
    t_x = np.asarray(t_x, dtype=float)
    T = np.asarray(T, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(
            x > 0,
            a / (b + x - 1.0) * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + t_x))),
            0.0,
        )
    return 1.0 / (1.0 + ratio)


def conditional_expected_purchases(
    params: BGNBDParams, t: float | np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """``E[Y(t) | x, t_x, T]``: expected purchases in ``(T, T + t]`` given the history (eq. 10)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype=float)
    T = np.asarray(T, dtype=float)
    t = np.asarray(t, dtype=float)
    z = t / (alpha + T + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1.0, z)
    head = (a + b + x - 1.0) / (a - 1.0)
    body = 1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp
    return head * body * prob_alive(params, x, t_x, T)
