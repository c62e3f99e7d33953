"""Sample ratio mismatch (SRM): are the observed units per variant consistent with the design?

Chi-square goodness-of-fit test of observed unit counts against the expected shares.
H0: units were allocated with the expected shares; H1: they were not. Flag at p < 0.001
(the usual SRM threshold: a flagged experiment's results should not be trusted).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from metrics.stats.distributions import chisquare

SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class SRMResult:
    """Chi-square SRM check; shares are fractions of all units."""

    observed: tuple[int, ...]
    expected_shares: tuple[float, ...]
    observed_shares: tuple[float, ...]
    chi2: float
    df: int
    p_value: float
    flagged: bool  # p_value < threshold
    threshold: float = SRM_THRESHOLD
    error_message: str | None = None


def srm_test(
    observed: Sequence[int],
    expected_shares: Sequence[float] | None = None,
    *,
    threshold: float = SRM_THRESHOLD,
) -> SRMResult:
    """Chi-square goodness-of-fit of observed units per variant vs expected shares.

    Parameters
    ----------
    observed : sequence of int
        Units per variant (same order as ``expected_shares``).
    expected_shares : sequence of float, optional
        Designed allocation (weights; normalised to sum to 1). Default: equal split.
    threshold : float
        Flag the experiment when p < threshold (default 0.001).
    """
    obs = tuple(observed)
    shares = tuple(expected_shares) if expected_shares is not None else (1.0,) * len(obs)
    nan = math.nan

    def bad(message: str) -> SRMResult:
        return SRMResult(obs, shares, (), nan, 0, nan, False, threshold, message)

    if len(obs) < 2:
        return bad("the SRM check needs at least two variants")
    if len(shares) != len(obs):
        return bad(f"{len(obs)} observed counts but {len(shares)} expected shares")
    try:
        o = np.asarray(obs, dtype=float)
        w = np.asarray(shares, dtype=float)
    except (TypeError, ValueError):
        return bad("observed counts and expected shares must be numbers")
    if not (np.all(np.isfinite(o)) and np.all(o >= 0)):
        return bad("observed unit counts must be finite and ≥ 0")
    if not (np.all(np.isfinite(w)) and np.all(w > 0)):
        return bad("expected shares must be positive numbers")
    total = o.sum()
    if total == 0:
        return bad("no units observed")
    w = w / w.sum()
    res = chisquare(o, f_exp=w * total)
    p = float(res.pvalue)
    return SRMResult(
        tuple(int(x) for x in o),
        tuple(float(x) for x in w),
        tuple(float(x) for x in o / total),
        float(res.statistic),
        len(obs) - 1,
        p,
        p < threshold,
        threshold,
    )
