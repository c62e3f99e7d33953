"""Fixed-horizon (frequentist) comparison of a treatment with the control.

Two effects are estimated, each with its own test and interval so that a test and the interval
shown next to it always agree (p < alpha ⇔ the (1 − alpha) interval excludes 0):

- **relative lift** r = m_t / m_c − 1 (a fraction of control; 0.05 = +5%) — the *decision*
  scale (``statistic``, ``p_value``; as GrowthBook and Eppo). Its standard error is the
  delta-method one with unpooled variances of the two independent means,
  se_r² = Var(m_t)/m_c² + m_t²·Var(m_c)/m_c⁴. H0: r = 0; H1 per ``alternative`` (r ≠ 0, r > 0,
  r < 0). Statistic r/se_r, referred to Student t with the Welch–Satterthwaite df for means
  ('welch t') and to N(0, 1) otherwise. The interval is r ± crit·se_r with the same quantile.
- **absolute lift** d = m_t − m_c (metric units) — ``absolute_statistic`` /
  ``absolute_p_value`` with ``absolute_ci``: unpooled Wald z for rates ('wald z' / legacy name
  'pooled z'), Welch's t for means, Wald z with the delta-method variance for ratios and
  CUPED-adjusted estimates. (``pooled_z`` — the statsmodels ``proportions_ztest`` statistic —
  is kept as a helper; the engine no longer uses it, so no result mixes a pooled test with an
  unpooled interval.)

The symmetric relative interval can reach below −100% for small samples; ``clip_relative``
clips the *displayed* lower bound at −100% (a non-negative metric cannot fall by more than
100%) — clipping never changes whether the interval excludes 0. Callers add a warning.

Non-inferiority (guardrails), relative margin δ > 0 as a fraction of control:
higher is better: H0: r ≤ −δ vs H1: r > −δ; lower is better: H0: r ≥ δ vs H1: r < δ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from metrics.stats.common import check_alpha, check_alternative, critical_value, interval, p_value
from metrics.stats.moments import Moments

Interval = tuple[float, float]
RELATIVE_FLOOR = -1.0  # −100%: the lowest relative lift of a non-negative metric


@dataclass(frozen=True)
class LiftTest:
    """Absolute and relative lift of treatment over control, each with its test and interval.

    ``statistic`` / ``p_value`` test the relative lift (the decision scale) and match
    ``relative_ci``; ``absolute_statistic`` / ``absolute_p_value`` match ``absolute_ci``.
    """

    absolute_lift: float  # treatment − control, metric units
    absolute_se: float
    absolute_ci: Interval
    relative_lift: float  # treatment / control − 1, fraction of control
    relative_se: float  # delta method, unpooled
    relative_ci: Interval  # unclipped (see ``clip_relative``)
    statistic: float  # relative_lift / relative_se (z or t)
    p_value: float  # of H0: relative lift = 0
    df: float | None  # Welch–Satterthwaite df for means (both scales), None for z tests
    method: str  # absolute-scale test: 'wald z' (rates, ratios, CUPED) or 'welch t' (means)
    error_message: str | None = None
    absolute_statistic: float = math.nan  # absolute_lift / absolute_se (z or t)
    absolute_p_value: float = math.nan  # of H0: absolute lift = 0


@dataclass(frozen=True)
class NonInferiorityResult:
    """One-sided test that the treatment is no worse than ``margin`` (fraction of control)."""

    margin: float
    higher_is_better: bool
    relative_lift: float
    bound: float  # one-sided (1 − alpha) confidence bound of the relative lift, bad side
    p_value: float  # of H0 "worse by at least the margin"
    non_inferior: bool  # H0 rejected at alpha
    harmed: bool  # one-sided test at alpha: the lift is significantly in the bad direction
    error_message: str | None = None


def welch_df(var_mean_c, n_c, var_mean_t, n_t):
    """Welch–Satterthwaite degrees of freedom from the variances of the two means."""
    num = (var_mean_c + var_mean_t) ** 2
    den = var_mean_c**2 / (n_c - 1) + var_mean_t**2 / (n_t - 1)
    return num / den


def relative_se(mean_c, var_mean_c, mean_t, var_mean_t):
    """Delta-method standard error of mean_t / mean_c − 1 (independent means, unpooled)."""
    return np.sqrt(var_mean_t / mean_c**2 + mean_t**2 * var_mean_c / mean_c**4)


def relative_z(mean_c, var_mean_c, mean_t, var_mean_t):
    """Relative-lift statistic (m_t/m_c − 1) / se_r with the delta-method se (arrays ok)."""
    return (mean_t / mean_c - 1) / relative_se(mean_c, var_mean_c, mean_t, var_mean_t)


def pooled_z(count_c, n_c, count_t, n_t):
    """Two-proportion z statistic (treatment − control) with the pooled rate under H0.

    Reference helper (equals statsmodels ``proportions_ztest``); the engine's decisions use
    the relative-scale statistic instead.
    """
    pool = (count_c + count_t) / (n_c + n_t)
    se0 = np.sqrt(pool * (1 - pool) * (1 / n_c + 1 / n_t))
    return (count_t / n_t - count_c / n_c) / se0


def clip_relative(ci: Interval) -> tuple[Interval, bool]:
    """``ci`` with its lower bound raised to −100% if below; and whether it was clipped.

    Clipping a lower bound below −100% (to −100%) cannot change whether 0 is inside.
    """
    lo, hi = ci
    if math.isfinite(lo) and lo < RELATIVE_FLOOR:
        return (RELATIVE_FLOOR, hi), True
    return ci, False


CLIP_PREFIX = "the relative interval's lower bound"


def clip_warning(lower: float) -> str:
    """Warning text for a relative lower bound ``lower`` (fraction) clipped at −100%."""
    return (
        f"{CLIP_PREFIX} ({lower:+.1%}) was clipped at −100%: the "
        "delta-method interval is symmetric and overshoots for small samples"
    )


def _nan_test(method: str, message: str) -> LiftTest:
    nan = math.nan
    return LiftTest(nan, nan, (nan, nan), nan, nan, (nan, nan), nan, nan, None, method, message)


def compare(
    control: Moments,
    treatment: Moments,
    *,
    method: str = "welch t",
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> LiftTest:
    """Test the relative and the absolute lift of treatment over control, with intervals.

    H0: relative lift m_t/m_c − 1 = 0 (``statistic``, ``p_value``, ``relative_ci``) and,
    separately, H0: m_t − m_c = 0 (``absolute_statistic``, ``absolute_p_value``,
    ``absolute_ci``); H1 per ``alternative``. Both use unpooled variances.

    Parameters
    ----------
    control, treatment : Moments
        Metric value and unit-level variance of each arm (see ``metrics.stats.moments``).
    method : {'welch t', 'wald z', 'pooled z'}
        'welch t' for means: Student t with Welch–Satterthwaite df on both scales;
        'wald z' for rates, ratios or adjusted estimates: N(0, 1) on both scales.
        'pooled z' is accepted as a legacy name of 'wald z' for rates (the unpooled variance
        is used so the test matches the interval).
    alpha : float
        1 − confidence level of the intervals and level of the tests.
    alternative : {'two-sided', 'larger', 'smaller'}
        H1 on the lift: ≠ 0, > 0, < 0. One-sided intervals are open on one side.

    Returns
    -------
    LiftTest
        ``error_message`` is set (values NaN where undefined) for invalid arms, zero variance in
        both arms, or a control value of 0 (relative lift and its test undefined; the absolute
        part is kept).
    """
    problem = check_alternative(alternative) or check_alpha(alpha)
    if problem:
        return _nan_test(method, problem)
    if method == "pooled z":
        method = "wald z"
    if method not in ("welch t", "wald z"):
        return _nan_test(method, f"unknown method {method!r}")
    for arm in (control, treatment):
        if arm.error_message:
            return _nan_test(method, arm.error_message)
    vm_c, vm_t = control.var_of_mean, treatment.var_of_mean
    diff = treatment.mean - control.mean
    se = math.sqrt(vm_c + vm_t)
    if not se > 0:
        return _nan_test(
            method,
            "both variants have zero variance (e.g. 0% or 100% conversion in both); "
            "the test is undefined",
        )
    df = (
        float(welch_df(vm_c, control.units, vm_t, treatment.units)) if method == "welch t" else None
    )
    crit = critical_value(alpha, alternative, df)
    abs_stat = diff / se
    abs_p = float(p_value(abs_stat, alternative, df))
    abs_ci = interval(diff, se, crit, alternative)
    nan = math.nan
    if control.mean == 0:
        msg = "the control value is 0, so the relative lift (a fraction of control) is undefined"
        return LiftTest(
            diff, se, abs_ci, nan, nan, (nan, nan), nan, nan, df, method, msg, abs_stat, abs_p
        )
    rel = treatment.mean / control.mean - 1
    rse = float(relative_se(control.mean, vm_c, treatment.mean, vm_t))
    if not rse > 0:  # treatment value 0 with no variance (e.g. no conversions yet)
        msg = (
            "the treatment value is 0 with no variance (e.g. no conversions): the relative "
            "lift's delta-method standard error is 0, so its test is undefined"
        )
        return LiftTest(
            diff, se, abs_ci, rel, rse, (nan, nan), nan, nan, df, method, msg, abs_stat, abs_p
        )
    stat = rel / rse
    p = float(p_value(stat, alternative, df))
    rel_ci = interval(rel, rse, crit, alternative)
    return LiftTest(diff, se, abs_ci, rel, rse, rel_ci, stat, p, df, method, None, abs_stat, abs_p)


def newcombe_interval(
    count_c: int, n_c: int, count_t: int, n_t: int, alpha: float = 0.05
) -> Interval:
    """Newcombe's hybrid score interval (Wilson, no continuity correction) for p_t − p_c.

    Two-sided, level 1 − alpha; better than the Wald interval near 0% / 100% and for small n.
    """
    z = float(stats.norm.isf(alpha / 2))

    def wilson(count: int, n: int) -> tuple[float, float, float]:
        p = count / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return p, centre - half, centre + half

    p_c, l_c, u_c = wilson(count_c, n_c)
    p_t, l_t, u_t = wilson(count_t, n_t)
    d = p_t - p_c
    lower = d - math.sqrt((p_t - l_t) ** 2 + (u_c - p_c) ** 2)
    upper = d + math.sqrt((u_t - p_t) ** 2 + (p_c - l_c) ** 2)
    return lower, upper


def non_inferiority(
    relative_lift: float,
    relative_se: float,
    margin: float,
    *,
    alpha: float = 0.05,
    higher_is_better: bool = True,
    df: float | None = None,
) -> NonInferiorityResult:
    """Non-inferiority test on the relative lift (fraction of control).

    Parameters
    ----------
    relative_lift, relative_se : float
        Estimate and delta-method standard error of treatment / control − 1.
    margin : float
        Largest acceptable harm, as a positive fraction of control (0.02 = 2% worse).
    higher_is_better : bool
        The good direction of the metric. H0: r ≤ −margin (higher is better) or r ≥ margin
        (lower is better); H1 the opposite. ``harmed`` is a one-sided test of r = 0 against
        the bad direction at ``alpha`` (the same statistic as the engine's relative test).
    df : float, optional
        Student t degrees of freedom (Welch, for means); ``None``: normal (z tests).
    """
    nan = math.nan
    problem = check_alpha(alpha)
    if not (isinstance(margin, int | float) and math.isfinite(margin) and margin > 0):
        problem = f"the non-inferiority margin must be a positive fraction; got {margin!r}"
    elif not (math.isfinite(relative_lift) and math.isfinite(relative_se) and relative_se > 0):
        problem = problem or "the relative lift or its standard error is undefined"
    if problem:
        return NonInferiorityResult(
            margin, higher_is_better, relative_lift, nan, nan, False, False, problem
        )
    dist = stats.norm if df is None else stats.t(df)
    crit = float(dist.isf(alpha))
    if higher_is_better:
        p = float(dist.sf((relative_lift + margin) / relative_se))
        bound = relative_lift - crit * relative_se
        harmed = float(dist.cdf(relative_lift / relative_se)) < alpha
    else:
        p = float(dist.cdf((relative_lift - margin) / relative_se))
        bound = relative_lift + crit * relative_se
        harmed = float(dist.sf(relative_lift / relative_se)) < alpha
    return NonInferiorityResult(
        margin, higher_is_better, relative_lift, bound, p, p < alpha, harmed
    )
