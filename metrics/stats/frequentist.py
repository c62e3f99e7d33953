"""Fixed-horizon (frequentist) comparison of a treatment with the control.

Effect = treatment − control. Tests (H0: effect = 0; H1 set by ``alternative``):

- binomial: two-proportion z test with the **pooled** rate under H0 (as statsmodels
  ``proportions_ztest``); the interval uses the **unpooled** Wald standard error;
- mean: Welch's t test, Welch–Satterthwaite degrees of freedom, t interval;
- ratio and CUPED-adjusted estimates: Wald z test with the (delta-method / adjusted) variances.

The relative lift r = m_t / m_c − 1 gets a delta-method standard error
se_r² = Var(m_t)/m_c² + m_t²·Var(m_c)/m_c⁴ (the two means are independent), and an interval
r ± crit·se_r with the same critical value as the absolute interval.

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


@dataclass(frozen=True)
class LiftTest:
    """Absolute and relative lift of treatment over control with a test and intervals."""

    absolute_lift: float  # treatment − control, metric units
    absolute_se: float
    absolute_ci: Interval
    relative_lift: float  # treatment / control − 1, fraction of control
    relative_se: float
    relative_ci: Interval
    statistic: float  # z or t
    p_value: float
    df: float | None  # Welch–Satterthwaite df for the t test, None for z tests
    method: str  # 'pooled z', 'welch t' or 'wald z'
    error_message: str | None = None


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
    """Delta-method standard error of mean_t / mean_c − 1 (independent means)."""
    return np.sqrt(var_mean_t / mean_c**2 + mean_t**2 * var_mean_c / mean_c**4)


def pooled_z(count_c, n_c, count_t, n_t):
    """Two-proportion z statistic (treatment − control) with the pooled rate under H0."""
    pool = (count_c + count_t) / (n_c + n_t)
    se0 = np.sqrt(pool * (1 - pool) * (1 / n_c + 1 / n_t))
    return (count_t / n_t - count_c / n_c) / se0


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
    """Test treatment − control and give absolute and relative lift intervals.

    Parameters
    ----------
    control, treatment : Moments
        Metric value and unit-level variance of each arm (see ``metrics.stats.moments``).
    method : {'pooled z', 'welch t', 'wald z'}
        'pooled z' is for binomial rates (the pooled variance is rebuilt from the rates);
        'welch t' for means; 'wald z' for ratio or adjusted estimates.
    alpha : float
        1 − confidence level of the intervals and level of the test.
    alternative : {'two-sided', 'larger', 'smaller'}
        H1 on treatment − control: ≠ 0, > 0, < 0. One-sided intervals are open on one side.

    Returns
    -------
    LiftTest
        ``error_message`` is set (values NaN where undefined) for invalid arms, zero variance in
        both arms, or a control value of 0 (relative lift undefined; the absolute part is kept).
    """
    problem = check_alternative(alternative) or check_alpha(alpha)
    if problem:
        return _nan_test(method, problem)
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
    df = None
    if method == "pooled z":
        n_c, n_t = control.units, treatment.units
        stat = float(pooled_z(control.mean * n_c, n_c, treatment.mean * n_t, n_t))
    elif method == "welch t":
        df = float(welch_df(vm_c, control.units, vm_t, treatment.units))
        stat = diff / se
    elif method == "wald z":
        stat = diff / se
    else:
        return _nan_test(method, f"unknown method {method!r}")
    p = float(p_value(stat, alternative, df))
    crit = critical_value(alpha, alternative, df)
    abs_ci = interval(diff, se, crit, alternative)
    if control.mean == 0:
        nan = math.nan
        msg = "the control value is 0, so the relative lift (a fraction of control) is undefined"
        return LiftTest(diff, se, abs_ci, nan, nan, (nan, nan), stat, p, df, method, msg)
    rel = treatment.mean / control.mean - 1
    rse = float(relative_se(control.mean, vm_c, treatment.mean, vm_t))
    rel_ci = interval(rel, rse, crit, alternative)
    return LiftTest(diff, se, abs_ci, rel, rse, rel_ci, stat, p, df, method)


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
) -> NonInferiorityResult:
    """Non-inferiority z test on the relative lift (fraction of control).

    Parameters
    ----------
    relative_lift, relative_se : float
        Estimate and delta-method standard error of treatment / control − 1.
    margin : float
        Largest acceptable harm, as a positive fraction of control (0.02 = 2% worse).
    higher_is_better : bool
        The good direction of the metric. H0: r ≤ −margin (higher is better) or r ≥ margin
        (lower is better); H1 the opposite. ``harmed`` is a one-sided test of r = 0 against
        the bad direction at ``alpha``.
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
    z_crit = float(stats.norm.isf(alpha))
    if higher_is_better:
        p = float(stats.norm.sf((relative_lift + margin) / relative_se))
        bound = relative_lift - z_crit * relative_se
        harmed = float(stats.norm.cdf(relative_lift / relative_se)) < alpha
    else:
        p = float(stats.norm.cdf((relative_lift - margin) / relative_se))
        bound = relative_lift + z_crit * relative_se
        harmed = float(stats.norm.sf(relative_lift / relative_se)) < alpha
    return NonInferiorityResult(
        margin, higher_is_better, relative_lift, bound, p, p < alpha, harmed
    )
