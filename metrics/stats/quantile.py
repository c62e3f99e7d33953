"""Quantile metrics (median, p90 of order value, …) from per-variant order statistics.

A quantile is not a mean, so Σy and Σy² do not determine it. What the warehouse returns per
variant instead (as GrowthBook's quantile metrics): the number of units n, the sample quantile
Q̂ at level q, and the two order statistics that bracket it, at ranks
n·q ∓ z·√(n·q·(1 − q)) with z = z_{1−α/2} (``order_statistic_ranks``). The distribution-free
interval [lower, upper] covers the true quantile with probability ≈ 1 − α (the number of
values below it is Binomial(n, q)), so the quantile's standard error is taken as
(upper − lower) / (2z) — no density estimate needed.

The comparison is then the engine's usual one (``frequentist.compare`` on the log ratio,
normal reference): relative lift Q_t/Q_c − 1, absolute lift Q_t − Q_c, their p-values and
intervals. Valid for continuous outcomes and n large enough that both ranks exist (n·q and
n·(1 − q) above ~20); a quantile that falls on a spike of ties (e.g. a median of 0 in
zero-inflated revenue) has zero width and is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from metrics.stats.distributions import NORMAL
from metrics.stats.frequentist import LiftTest, compare
from metrics.stats.moments import Moments


@dataclass(frozen=True)
class QuantileStats:
    """Sufficient summary of one variant for a quantile metric (values in metric units)."""

    variant: str
    units: int
    q: float  # quantile level, e.g. 0.5 for the median, 0.9 for p90
    value: float  # sample quantile Q̂
    lower: float  # order statistic at rank n·q − z·√(n·q·(1 − q))
    upper: float  # order statistic at rank n·q + z·√(n·q·(1 − q))
    alpha: float = 0.05  # level the two order statistics were chosen for


def order_statistic_ranks(n: int, q: float, alpha: float = 0.05) -> tuple[int, int]:
    """1-based ranks (clipped to [1, n]) of the order statistics bracketing the q-quantile."""
    z = float(NORMAL.isf(alpha / 2))
    half = z * math.sqrt(n * q * (1 - q))
    lo = max(1, math.floor(n * q - half))
    hi = min(n, math.ceil(n * q + half))
    return lo, hi


def quantile_stats(
    variant: str, values: np.ndarray, q: float, alpha: float = 0.05
) -> QuantileStats:
    """``QuantileStats`` from unit values (the reference for the warehouse SQL; tests, demo)."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    lo, hi = order_statistic_ranks(n, q, alpha)
    return QuantileStats(variant, n, q, float(np.quantile(x, q)), x[lo - 1], x[hi - 1], alpha)


def needed_ranks(n: int, q: float, alpha: float = 0.05) -> tuple[int, ...]:
    """1-based ranks of the order statistics ``QuantileStats`` needs from n sorted values:
    the two that bracket the interval and the (one or two) that the sample quantile
    interpolates between (numpy's default: position (n − 1)·q, 0-based). Empty when n < 1."""
    if n < 1:
        return ()
    h = (n - 1) * q
    below = math.floor(h)
    return tuple(sorted({*order_statistic_ranks(n, q, alpha), below + 1, min(below + 2, n)}))


def stats_from_ranks(
    variant: str, n: int, q: float, values: dict[int, float], alpha: float = 0.05
) -> QuantileStats:
    """``QuantileStats`` from the values at ``needed_ranks(n, q, alpha)`` (rank → value), as
    the warehouse returns them; equals ``quantile_stats`` on the full sorted values."""
    if n < 1:
        return QuantileStats(variant, 0, q, math.nan, math.nan, math.nan, alpha)
    h = (n - 1) * q
    below = math.floor(h)
    a, b = values[below + 1], values[min(below + 2, n)]
    value = a + (h - below) * (b - a)
    lo, hi = order_statistic_ranks(n, q, alpha)
    return QuantileStats(variant, n, q, float(value), values[lo], values[hi], alpha)


def quantile_moments(s: QuantileStats) -> Moments:
    """Value and unit-level variance (n·se²) of a quantile, se = (upper − lower)/(2z)."""
    n = max(s.units, 0)
    if not 0 < s.q < 1:
        return Moments(s.variant, n, math.nan, math.nan, f"q must be in (0, 1), got {s.q}")
    if n < 2:
        need = f"variant {s.variant!r} has {n} unit(s); a quantile test needs at least 2"
        return Moments(s.variant, n, math.nan, math.nan, need)
    z = float(NORMAL.isf(s.alpha / 2))
    se = (s.upper - s.lower) / (2 * z)
    if not (math.isfinite(se) and se > 0):
        return Moments(
            s.variant,
            s.units,
            math.nan,
            math.nan,
            f"variant {s.variant!r}: the q = {s.q:g} quantile sits on tied values (zero-width "
            "order-statistic interval); a quantile test is not meaningful here",
        )
    return Moments(s.variant, s.units, s.value, se * se * s.units)


def compare_quantiles(
    control: QuantileStats,
    treatment: QuantileStats,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> LiftTest:
    """Test the relative (log-ratio) and absolute difference of two quantiles (normal z)."""
    return compare(
        quantile_moments(control),
        quantile_moments(treatment),
        method="wald z",
        alpha=alpha,
        alternative=alternative,
    )
