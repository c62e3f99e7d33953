"""Always-valid inference: asymptotic confidence sequences (Waudby-Smith et al., 2023).

Method (the one GrowthBook uses): after N units in total (both arms), with the usual estimate
Δ̂ of the lift and its standard error se, the two-sided asymptotic (1 − alpha) confidence
sequence is Δ̂ ± k_N·se with

    k_N² = 2(Nρ² + 1)/(Nρ²) · log(√(Nρ² + 1) / alpha).

It comes from a normal-mixture martingale M_N = (1 + Nρ²)^(−1/2)·exp(Nρ²z²/(2(1 + Nρ²))),
z = Δ̂/se, and Ville's inequality: P(∃N: M_N ≥ 1/alpha) ≤ alpha under H0, so the test
"reject when M_N ≥ 1/alpha" keeps the type-I error ≤ alpha however often one peeks, and
p_N = min(1, 1/M_N) is an always-valid p-value (its running minimum is too).

Tuning parameter: the mixing precision ρ² is chosen so the sequence is narrowest at N = n*
(``tuning_n``, the expected total sample size; GrowthBook's default is 5,000):
ρ² = (−2 log alpha + log(−2 log alpha + 1)) / n*. Away from n* the sequence is a little wider;
it is always wider than the fixed-horizon interval (the price of peeking).

One-sided alternatives use the two-sided boundary on the relevant side (conservative: the
two-sided sequence already bounds the crossing probability of each side by alpha).

Scales: the decision (``p_value``) tests H0: relative lift = 0 with z = r̂/se_r (delta method,
the statistic of ``metrics.stats.frequentist``), so p < alpha ⇔ the relative sequence
r̂ ± k_N·se_r excludes 0; ``absolute_p_value`` does the same for the absolute lift and its
sequence. The duality holds for any level: at a fixed ρ, k_N(a) solves M_N(k) = 1/a, so a
sequence at level a (``cs_multiplier(N, a, ρ)``) excludes 0 ⇔ the always-valid p < a — which
is how multiple-testing adjustments widen the sequences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from metrics.stats.common import check_alpha, check_alternative
from metrics.stats.frequentist import LiftTest, NonInferiorityResult, non_inferiority_test

Interval = tuple[float, float]
DEFAULT_TUNING_N = 5000


@dataclass(frozen=True)
class SequentialResult:
    """Confidence-sequence intervals and always-valid p-value at the current look."""

    absolute_ci: Interval  # metric units
    relative_ci: Interval  # fraction of control (unclipped)
    p_value: float  # always-valid, H0: relative lift = 0
    multiplier: float  # k_N: half-width in standard errors
    rho: float
    error_message: str | None = None
    absolute_p_value: float = math.nan  # always-valid, H0: absolute lift = 0


def rho_for(alpha: float, tuning_n: float = DEFAULT_TUNING_N) -> float:
    """Mixing parameter ρ that makes the sequence narrowest at ``tuning_n`` total units."""
    la = -2 * math.log(alpha)
    return math.sqrt((la + math.log(la + 1)) / tuning_n)


def cs_multiplier(n_total, alpha: float, rho: float):
    """k_N: half-width of the two-sided confidence sequence in standard errors (arrays ok)."""
    nr2 = np.asarray(n_total, dtype=float) * rho * rho
    return np.sqrt(2 * (nr2 + 1) / nr2 * np.log(np.sqrt(nr2 + 1) / alpha))


def always_valid_p(z, n_total, rho: float, alternative: str = "two-sided"):
    """Always-valid p-value min(1, 1/M_N) of H0: lift = 0 from z = Δ̂/se (arrays ok)."""
    z = np.asarray(z, dtype=float)
    nr2 = np.asarray(n_total, dtype=float) * rho * rho
    log_m = -0.5 * np.log1p(nr2) + nr2 * z * z / (2 * (1 + nr2))
    p = np.minimum(1.0, np.exp(-log_m))
    if alternative == "larger":
        p = np.where(z > 0, p, 1.0)
    elif alternative == "smaller":
        p = np.where(z < 0, p, 1.0)
    return p


def running_p_values(p_values) -> np.ndarray:
    """Running minimum of a series of always-valid p-values (still always-valid)."""
    return np.minimum.accumulate(np.asarray(p_values, dtype=float))


def sequential_test(
    test: LiftTest,
    n_total: int,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    tuning_n: float = DEFAULT_TUNING_N,
) -> SequentialResult:
    """Turn a fixed-horizon ``LiftTest`` into confidence sequences and an always-valid p-value.

    Parameters
    ----------
    test : LiftTest
        Estimates and standard errors at the current look (cumulative data). The decision
        uses the test's own scale (log ratio, or the absolute fallback): the relative
        sequence is exp(L ± k_N·se_L) − 1.
    n_total : int
        Units in both arms so far.
    alpha, alternative :
        Level and H1 on the lift (≠ 0, > 0, < 0); ``p_value`` tests the relative lift,
        ``absolute_p_value`` the absolute one.
    tuning_n : float
        Expected total sample size n* at which the sequence is tuned to be narrowest.
    """
    nan = math.nan
    problem = check_alpha(alpha) or check_alternative(alternative) or test.error_message
    if not problem and not (tuning_n and tuning_n > 0):
        problem = f"tuning_n must be a positive number of units; got {tuning_n!r}"
    if not problem and not (n_total >= 2 and math.isfinite(test.absolute_se)):
        problem = "not enough data for a confidence sequence"
    if problem:
        return SequentialResult((nan, nan), (nan, nan), nan, nan, nan, problem)
    rho = rho_for(alpha, tuning_n)
    k = float(cs_multiplier(n_total, alpha, rho))
    p = float(always_valid_p(test.statistic, n_total, rho, alternative))
    p_abs = float(always_valid_p(test.absolute_statistic, n_total, rho, alternative))
    abs_ci = test.absolute_interval(k, alternative)
    rel_ci = test.relative_interval(k, alternative)
    return SequentialResult(abs_ci, rel_ci, p, k, rho, None, p_abs)


def non_inferiority(
    test: LiftTest,
    n_total: int,
    margin: float,
    *,
    alpha: float = 0.05,
    higher_is_better: bool = True,
    tuning_n: float = DEFAULT_TUNING_N,
) -> NonInferiorityResult:
    """Always-valid non-inferiority: the one-sided confidence-sequence bound against the margin.

    The same hypotheses as ``frequentist.non_inferiority_test``, decided with the two-sided
    sequence's boundary k_N on the relevant side (conservative, as for one-sided tests), so
    that looking at every day keeps P(ever declaring a harmful change non-inferior) ≤ alpha.
    """
    rho = rho_for(alpha, tuning_n)
    k = float(cs_multiplier(n_total, alpha, rho))
    return non_inferiority_test(
        test,
        margin,
        alpha=alpha,
        higher_is_better=higher_is_better,
        crit=k,
        p_of=lambda z: float(always_valid_p(z, n_total, rho)),
    )
