"""The normal, Student t and chi-square distributions the engine needs, on ``scipy.special``.

The same special functions ``scipy.stats`` evaluates (``ndtr``, ``ndtri``, ``stdtr``,
``stdtrit``, ``chdtrc``), without importing ``scipy.stats`` itself: that import costs the app
server about 24 MB of resident memory for the handful of functions used here. Every function
takes scalars or numpy arrays; ``tests/test_stats_distributions.py`` checks them against
``scipy.stats``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

_SQRT_2PI = math.sqrt(2 * math.pi)


@dataclass(frozen=True)
class Distribution:
    """A standard normal (``df=None``) or Student t with ``df`` degrees of freedom."""

    df: float | None = None

    def cdf(self, x: Any) -> Any:
        """P(X <= x)."""
        return special.ndtr(x) if self.df is None else special.stdtr(self.df, x)

    def sf(self, x: Any) -> Any:
        """P(X > x) (the upper tail, accurate far out)."""
        return self.cdf(np.negative(x))

    def isf(self, q: Any) -> Any:
        """The x with P(X > x) = q."""
        return np.negative(special.ndtri(q) if self.df is None else special.stdtrit(self.df, q))

    def ppf(self, q: Any) -> Any:
        """The x with P(X <= x) = q."""
        return special.ndtri(q) if self.df is None else special.stdtrit(self.df, q)

    def pdf(self, x: Any) -> Any:
        """Density (normal only: the engine needs no t density)."""
        if self.df is not None:
            raise NotImplementedError("the Student t density is not needed")
        return np.exp(-np.square(x) / 2) / _SQRT_2PI


NORMAL = Distribution()
"""The standard normal."""


def student_t(df: float) -> Distribution:
    """Student t with ``df`` degrees of freedom."""
    return Distribution(float(df))


@dataclass(frozen=True)
class ChiSquareResult:
    statistic: float
    pvalue: float


def chisquare(observed: Any, f_exp: Any) -> ChiSquareResult:
    """Pearson's chi-square goodness of fit: Σ (o − e)² / e on k − 1 degrees of freedom."""
    o = np.asarray(observed, dtype=float)
    e = np.asarray(f_exp, dtype=float)
    statistic = float(np.sum((o - e) ** 2 / e))
    return ChiSquareResult(statistic, float(special.chdtrc(o.size - 1, statistic)))
