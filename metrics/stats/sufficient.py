"""Per-variant sufficient statistics: everything the tests need, nothing per unit.

The warehouse returns one ``VariantStats`` per variant (and per day or per segment when sliced).
For a unit-level outcome ``y`` (1/0 for binomial metrics, a value for mean metrics, the
numerator for ratio metrics), optional denominator ``x`` (ratio metrics) and optional
pre-assignment covariate ``c`` (CUPED):

- ``units`` = n, ``sum`` = Σy, ``sum_sq`` = Σy²
- ``denom_sum`` = Σx, ``denom_sum_sq`` = Σx², ``cross_sum`` = Σxy           (ratio metrics)
- ``cov_sum`` = Σc, ``cov_sum_sq`` = Σc², ``cov_cross_sum`` = Σyc           (CUPED)
- ``cov_denom_cross_sum`` = Σxc                                    (CUPED for ratio metrics)
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class VariantStats:
    """Sufficient statistics of one variant (optionally within one slice)."""

    variant: str
    units: int
    sum: float
    sum_sq: float
    denom_sum: float | None = None
    denom_sum_sq: float | None = None
    cross_sum: float | None = None
    cov_sum: float | None = None
    cov_sum_sq: float | None = None
    cov_cross_sum: float | None = None
    cov_denom_cross_sum: float | None = None

    @property
    def mean(self) -> float:
        """Mean of y per unit (NaN for an empty variant)."""
        return self.sum / self.units if self.units > 0 else math.nan

    @property
    def variance(self) -> float:
        """Sample variance of y (n-1 denominator; NaN when n < 2)."""
        n = self.units
        if n < 2:
            return math.nan
        return max(self.sum_sq - self.sum * self.sum / n, 0.0) / (n - 1)

    @property
    def is_ratio(self) -> bool:
        return self.denom_sum is not None

    @property
    def has_covariate(self) -> bool:
        return self.cov_sum is not None
