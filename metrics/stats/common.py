"""Shared vocabulary of the stats engine: metric kinds, the ``alternative`` argument, quantiles.

Conventions used in every module of ``metrics.stats``:

- The effect is always **treatment − control** ("absolute lift", in the metric's units) and
  **treatment / control − 1** ("relative lift", a fraction of the control value: 0.05 = +5%).
- ``alternative`` is the alternative hypothesis on that effect, as in statsmodels:
  ``'two-sided'`` (H1: effect ≠ 0), ``'larger'`` (H1: effect > 0), ``'smaller'`` (H1: effect < 0).
  Intervals follow it: two-sided intervals are ``[lo, hi]``; ``'larger'`` gives ``[lo, +inf)``;
  ``'smaller'`` gives ``(-inf, hi]``.
- The core formulas accept numpy arrays as well as floats, so simulations run the very code the
  engine runs.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Literal

import numpy as np

from metrics.stats.distributions import NORMAL, student_t

Alternative = Literal["two-sided", "larger", "smaller"]
ALTERNATIVES: tuple[str, ...] = ("two-sided", "larger", "smaller")


class MetricKind(StrEnum):
    """How a unit-level outcome is summarised."""

    BINOMIAL = "binomial"  # y ∈ {0, 1}; the metric is the conversion rate Σy/n
    MEAN = "mean"  # any y; the metric is the mean Σy/n
    RATIO = "ratio"  # numerator y, denominator x per unit; the metric is Σy/Σx


def parse_kind(kind: MetricKind | str) -> MetricKind | None:
    """Return the ``MetricKind`` for ``kind`` (case-insensitive), or ``None`` if unknown."""
    try:
        return MetricKind(str(kind).strip().lower())
    except ValueError:
        return None


def check_alternative(alternative: str) -> str | None:
    """Return an error message if ``alternative`` is not one of ``ALTERNATIVES``."""
    if alternative not in ALTERNATIVES:
        return f"alternative must be one of {', '.join(ALTERNATIVES)}; got {alternative!r}"
    return None


def check_alpha(alpha: float) -> str | None:
    """Return an error message unless 0 < alpha < 1."""
    try:
        ok = 0.0 < float(alpha) < 1.0
    except (TypeError, ValueError):
        ok = False
    return None if ok else f"alpha must be strictly between 0 and 1; got {alpha!r}"


def critical_value(alpha: float, alternative: str, df: float | None = None) -> float:
    """Quantile used for a (1 − alpha) interval: z (``df=None`` or inf) or Student t."""
    tail = alpha / 2 if alternative == "two-sided" else alpha
    if df is None or not math.isfinite(df):
        return float(NORMAL.isf(tail))
    return float(student_t(df).isf(tail))


def p_value(statistic, alternative: str, df=None):
    """P-value of a standardised statistic under N(0, 1) (``df=None``) or Student t(df)."""
    dist = NORMAL if df is None else student_t(df)
    if alternative == "larger":
        return dist.sf(statistic)
    if alternative == "smaller":
        return dist.cdf(statistic)
    return 2 * dist.sf(np.abs(statistic))


def interval(estimate, se, crit, alternative: str):
    """``(lo, hi)`` of ``estimate ± crit·se`` shaped by ``alternative`` (open side = ±inf)."""
    lo = estimate - crit * se
    hi = estimate + crit * se
    if isinstance(lo, np.ndarray) and lo.ndim > 0:
        if alternative == "larger":
            hi = np.full_like(hi, np.inf)
        elif alternative == "smaller":
            lo = np.full_like(lo, -np.inf)
        return lo, hi
    lo, hi = float(lo), float(hi)
    if alternative == "larger":
        hi = math.inf
    elif alternative == "smaller":
        lo = -math.inf
    return lo, hi


def finite(*values: float | None) -> bool:
    """True when every value is a finite number."""
    return all(v is not None and math.isfinite(v) for v in values)
