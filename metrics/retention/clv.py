"""Predictive customer lifetime value from a BG/NBD and a Gamma-Gamma fit, with discounting.

For a customer with history ``(x, t_x, T, m_x)`` the predictive CLV over a horizon ``H`` is

    CLV = E[M | x, m_x] * sum_k (E[Y(k s)] - E[Y((k - 1) s)]) / (1 + d)^k,   k = 1 .. H / s

where ``E[Y(t)]`` is the BG/NBD conditional expectation, ``s`` one discounting step (a month,
30.4375 days) and ``d`` the discount rate per step, derived from an annual rate. Spend and
frequency are independent (the Gamma-Gamma assumption), so the product is exact in
expectation. Uncertainty comes from the parameter estimates only (delta method on the log
parameters, BG/NBD and Gamma-Gamma fits independent); it does not include the Poisson noise of
individual customers. Money is in the input's currency (USD in the warehouse).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from metrics.retention.bgnbd import BGNBDFit, BGNBDParams, conditional_expected_purchases
from metrics.retention.bgnbd import prob_alive as _prob_alive
from metrics.retention.gamma_gamma import GammaGammaFit, GammaGammaParams
from metrics.retention.summary import UNIT_DAYS, GroupedSummary

MONTH_DAYS = 30.4375
Z90 = 1.6448536269514722  # two-sided 90% normal quantile


def step_discount(annual_rate: float, step_days: float = MONTH_DAYS) -> float:
    """Discount rate per step of ``step_days`` equivalent to ``annual_rate`` (0.1 = 10%/year)."""
    if annual_rate < 0:
        raise ValueError("the discount rate cannot be negative")
    return (1.0 + annual_rate) ** (step_days / 365.25) - 1.0


def discounted_expected_purchases(
    params: BGNBDParams,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    horizon: float,
    step: float,
    discount_per_step: float,
) -> np.ndarray:
    """Discounted expected purchases over ``(T, T + horizon]`` in steps of ``step`` (model units).

    Purchases in step ``k`` are discounted by ``(1 + discount_per_step) ** k``; a last, partial
    step counts in full at its own discount factor.
    """
    if horizon <= 0:
        return np.zeros(len(np.atleast_1d(x)))
    n_steps = max(1, math.ceil(horizon / step - 1e-9))
    ends = np.minimum(np.arange(1, n_steps + 1) * step, horizon)
    prev = np.zeros(len(np.atleast_1d(x)))
    total = np.zeros_like(prev)
    for k, end in enumerate(ends, 1):
        cum = conditional_expected_purchases(params, end, x, t_x, T)
        total += (cum - prev) / (1.0 + discount_per_step) ** k
        prev = cum
    return total


@dataclass(frozen=True)
class CLVSettings:
    """Horizon in days and an annual discount rate (0.10 = 10% a year)."""

    horizon_days: float = 365.0
    annual_discount: float = 0.10


def _group_values(
    bg: BGNBDParams,
    gg: GammaGammaParams | None,
    s: GroupedSummary,
    settings: CLVSettings,
) -> dict[str, np.ndarray]:
    """Per-row sums over the customers of each grouped row (n customers each)."""
    k = UNIT_DAYS[s.unit]
    horizon = settings.horizon_days / k
    purchases = conditional_expected_purchases(bg, horizon, s.x, s.t_x, s.T) * s.n
    alive = _prob_alive(bg, s.x, s.t_x, s.T) * s.n
    out = {"purchases": purchases, "alive": alive}
    if gg is not None:
        det = discounted_expected_purchases(
            bg, s.x, s.t_x, s.T, horizon, MONTH_DAYS / k, step_discount(settings.annual_discount)
        )
        # sum over the row's customers of E[M | x, m_x] = p (gamma + x m_x) / (p x + q - 1):
        # linear in x m_x, i.e. in the row's summed repeat spend ``total``.
        spend_sum = gg.p * (gg.gamma * s.n + s.total) / (gg.p * s.x + gg.q - 1.0)
        out["value"] = det * spend_sum
    return out


def _by_dim(values: dict[str, np.ndarray], dim: np.ndarray | None) -> pd.DataFrame:
    frame = pd.DataFrame(values)
    frame["dim"] = dim if dim is not None else "all"
    return frame.groupby("dim", sort=True).sum()


def predict_clv(
    bg_fit: BGNBDFit,
    gg_fit: GammaGammaFit | None,
    summary: GroupedSummary,
    settings: CLVSettings,
) -> pd.DataFrame:
    """Predicted purchases, customers alive and discounted CLV per ``dim`` value.

    Columns: ``customers``, ``expected_purchases`` (per customer, over the horizon, undiscounted),
    ``p_alive`` (mean), ``clv`` (per customer, discounted; NaN without a spend fit) and
    ``clv_low`` / ``clv_high`` / ``purchases_low`` / ``purchases_high`` (90% intervals from the
    parameter uncertainty, delta method on the log parameters).
    """
    bg0 = bg_fit.params
    gg0 = gg_fit.params if gg_fit is not None else None
    customers = _by_dim({"n": summary.n}, summary.dim)["n"]
    base = _by_dim(_group_values(bg0, gg0, summary, settings), summary.dim)

    def variance(column: str) -> pd.Series:
        var = pd.Series(0.0, index=base.index)
        blocks: list[tuple[np.ndarray, np.ndarray, Callable]] = [
            (bg0.as_array(), bg_fit.log_cov, lambda v: (BGNBDParams(*v), gg0)),
        ]
        if gg0 is not None and gg_fit is not None:
            blocks.append((gg0.as_array(), gg_fit.log_cov, lambda v: (bg0, GammaGammaParams(*v))))
        for theta, cov, build in blocks:
            if not np.all(np.isfinite(cov)):
                return pd.Series(np.nan, index=base.index)
            grads = []
            for i in range(len(theta)):
                h = 1e-4
                up = theta.copy()
                up[i] *= math.exp(h)
                dn = theta.copy()
                dn[i] *= math.exp(-h)
                vu = _by_dim(_group_values(*build(up), summary, settings), summary.dim)[column]
                vd = _by_dim(_group_values(*build(dn), summary, settings), summary.dim)[column]
                grads.append((vu - vd) / (2 * h))
            g = np.column_stack(grads)
            var += np.einsum("ij,jk,ik->i", g, cov, g)
        return var

    out = pd.DataFrame(index=base.index)
    out["customers"] = customers.astype(int)
    out["expected_purchases"] = base["purchases"] / customers
    sd_p = np.sqrt(variance("purchases")) / customers
    out["purchases_low"] = (out["expected_purchases"] - Z90 * sd_p).clip(lower=0)
    out["purchases_high"] = out["expected_purchases"] + Z90 * sd_p
    out["p_alive"] = base["alive"] / customers
    if "value" in base:
        out["clv"] = base["value"] / customers
        sd_v = np.sqrt(variance("value")) / customers
        out["clv_low"] = (out["clv"] - Z90 * sd_v).clip(lower=0)
        out["clv_high"] = out["clv"] + Z90 * sd_v
    else:
        out["clv"] = out["clv_low"] = out["clv_high"] = np.nan
    out.index.name = "dim"
    return out.reset_index()


def new_customer_discounted_purchases(
    params: BGNBDParams, horizon: float, step: float, discount_per_step: float
) -> float:
    """Discounted expected repeat purchases of a customer just acquired, over ``(0, horizon]``.

    Uses the unconditional ``E[X(t)]`` (FHL 2005 eq. 7) in steps of ``step`` model units.
    """
    from metrics.retention.bgnbd import expected_purchases

    n_steps = max(1, math.ceil(horizon / step - 1e-9))
    ends = np.minimum(np.arange(1, n_steps + 1) * step, horizon)
    cum = expected_purchases(params, ends)
    inc = np.diff(np.concatenate([[0.0], cum]))
    return float(np.sum(inc / (1.0 + discount_per_step) ** np.arange(1, n_steps + 1)))


def delta_sd(value_of: Callable[[np.ndarray, np.ndarray], float], bg_fit, gg_fit) -> float:  # noqa: ANN001
    """Delta-method standard deviation of ``value_of(bg_params, gg_params)`` (arrays).

    The two fits are independent; derivatives are central differences in log parameters.
    """
    blocks = [(0, bg_fit.params.as_array(), bg_fit.log_cov)]
    if gg_fit is not None:
        blocks.append((1, gg_fit.params.as_array(), gg_fit.log_cov))
    base = [bg_fit.params.as_array(), None if gg_fit is None else gg_fit.params.as_array()]
    var = 0.0
    for which, theta, cov in blocks:
        if not np.all(np.isfinite(cov)):
            return float("nan")
        grad = np.empty(len(theta))
        for i in range(len(theta)):
            vals = []
            for sign in (1.0, -1.0):
                moved = theta.copy()
                moved[i] *= math.exp(sign * 1e-4)
                args = list(base)
                args[which] = moved
                vals.append(value_of(args[0], args[1]))
            grad[i] = (vals[0] - vals[1]) / 2e-4
        var += float(grad @ cov @ grad)
    return math.sqrt(max(var, 0.0))
