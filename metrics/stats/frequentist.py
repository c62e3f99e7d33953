"""Fixed-horizon (frequentist) comparison of a treatment with the control.

Two effects are estimated, each with its own test and interval so that a test and the interval
shown next to it always agree (p < alpha ⇔ the (1 − alpha) interval excludes 0):

- **relative lift** r = m_t / m_c − 1 (a fraction of control; 0.05 = +5%) — the *decision*
  scale (``statistic``, ``p_value``). Tested and bounded on the **log-ratio** scale
  L = log(m_t / m_c) (Katz et al. 1978 for rates; the delta method for means and ratios):
  se_L² = Var(m_t)/m_t² + Var(m_c)/m_c², statistic L/se_L, interval exp(L ± crit·se_L) − 1.
  For means, se_L is the larger of that and the pooled-mean form √(Var(m_t) + Var(m_c))/m̄
  (``mean_log_ratio_se``: skewed revenue made the plain form fire 7.6% in A/A tests).
  Why log-ratio rather than the delta-method se of r itself: swapping the arms turns L into
  −L with the same se_L, so 500 → 560 and 560 → 500 conversions get the same p-value (the
  delta-method se of r grows with m_t, so increases were under-detected and decreases
  over-detected, badly so at small counts); the interval never reaches below −100%.
  Student t with the Welch–Satterthwaite df for means ('welch t'), N(0, 1) otherwise.
  ``relative_se`` is the delta-method se of r, (1 + r)·se_L, for display.
  **Fallback** (``scale == 'absolute'``): when the log ratio is undefined — a mean is 0 (a
  guardrail that collapsed to zero, an error rate rising from zero), the means have opposite
  signs, or se_L = 0 — the decision uses the absolute test below, expressed relative to
  control (r = d/m_c with se = se_d/|m_c|, the control value taken as known); when the control
  value is 0 the relative lift is undefined (NaN) and the absolute test alone decides.
- **absolute lift** d = m_t − m_c (metric units) — ``absolute_statistic`` / ``absolute_p_value``
  with ``absolute_ci``: unpooled Wald z for rates ('wald z' / legacy name 'pooled z') and CUPED-
  adjusted rates, Welch's t for means (CUPED-adjusted means too: the adjusted unit-level
  variances enter the same Welch–Satterthwaite df), Wald z with the delta-method variance for
  ratios. (``pooled_z`` — the statsmodels ``proportions_ztest`` statistic — is kept as a
  helper.) When both arms have no variance and equal values (0/300 vs 0/300) the result is valid
  and uninformative: p = 1, unbounded intervals.

Non-inferiority (guardrails), relative margin δ > 0 as a fraction of control:
higher is better: H0: r ≤ −δ vs H1: r > −δ; lower is better: H0: r ≥ δ vs H1: r < δ.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from metrics.stats.common import check_alpha, check_alternative, critical_value, interval, p_value
from metrics.stats.distributions import NORMAL, student_t
from metrics.stats.moments import Moments

Interval = tuple[float, float]
RELATIVE_FLOOR = -1.0  # −100%: the lowest relative lift of a non-negative metric


@dataclass(frozen=True)
class LiftTest:
    """Absolute and relative lift of treatment over control, each with its test and interval.

    ``statistic`` / ``p_value`` test the relative lift (the decision scale) and match
    ``relative_ci``; ``absolute_statistic`` / ``absolute_p_value`` match ``absolute_ci``.
    ``scale`` says how the decision was made: 'log-ratio' (``log_ratio`` ± crit·``log_se``)
    or 'absolute' (the fallback when the log ratio is undefined; see the module docstring).
    """

    absolute_lift: float  # treatment − control, metric units
    absolute_se: float
    absolute_ci: Interval
    relative_lift: float  # treatment / control − 1, fraction of control (NaN if control is 0)
    relative_se: float  # delta method, unpooled: (1 + r)·se_L (display)
    relative_ci: Interval  # unclipped (see ``clip_relative``)
    statistic: float  # decision statistic: L/se_L, or the absolute one (sign per r)
    p_value: float  # of H0: relative lift = 0 (absolute lift = 0 when control is 0)
    df: float | None  # Welch–Satterthwaite df for means (both scales), None for z tests
    method: str  # 'wald z' (rates, ratios) or 'welch t' (means, CUPED-adjusted or not)
    error_message: str | None = None
    absolute_statistic: float = math.nan  # absolute_lift / absolute_se (z or t)
    absolute_p_value: float = math.nan  # of H0: absolute lift = 0
    scale: str = "log-ratio"  # 'log-ratio' | 'absolute': the scale of the decision
    log_ratio: float = math.nan  # log(m_t / m_c)
    log_se: float = math.nan  # se of log_ratio (delta method)
    note: str | None = None  # why the fallback scale was used (a warning, not an error)

    @property
    def estimate_se(self) -> tuple[float, float]:
        """(estimate, se) of the decision statistic on its own scale."""
        if self.scale == "log-ratio":
            return self.log_ratio, self.log_se
        if math.isfinite(self.relative_lift):
            return self.relative_lift, self.relative_se
        return self.absolute_lift, self.absolute_se

    def relative_interval(self, crit: float, alternative: str) -> Interval:
        """Relative-lift interval at multiplier ``crit`` on the decision scale."""
        if self.scale == "log-ratio":
            lo, hi = interval(self.log_ratio, self.log_se, crit, alternative)
            return math.expm1(lo) if math.isfinite(lo) else -1.0, (
                math.expm1(hi) if math.isfinite(hi) else math.inf
            )
        if not math.isfinite(self.relative_lift):
            return math.nan, math.nan
        if not self.relative_se > 0:
            if self.statistic == 0:
                return -math.inf, math.inf
            return self.relative_lift, self.relative_lift
        return interval(self.relative_lift, self.relative_se, crit, alternative)

    def absolute_interval(self, crit: float, alternative: str) -> Interval:
        """Absolute-lift interval at multiplier ``crit``."""
        if not self.absolute_se > 0:
            return self.absolute_ci
        return interval(self.absolute_lift, self.absolute_se, crit, alternative)


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


def log_ratio_se(mean_c, var_mean_c, mean_t, var_mean_t):
    """Delta-method standard error of log(mean_t / mean_c) (independent means; arrays ok)."""
    return np.sqrt(var_mean_t / mean_t**2 + var_mean_c / mean_c**2)


def mean_log_ratio_se(mean_c, var_mean_c, mean_t, var_mean_t):
    """se_L of a **mean** metric: the larger of the delta-method se and the pooled-mean one.

    The plain delta method, √(V_t/m_t² + V_c/m_c²), divides each arm's variance by its own
    mean. For skewed values (revenue: many zeros, a long tail) an arm's sample mean and sample
    variance rise and fall together — an arm that drew no big spender has a small mean *and* a
    small variance — so the arm that came out low gets an understated se and the test fires too
    often (A/A at 5%: 7.6% with 40 buyers per arm, 12% for a heavier tail). The pooled-mean
    form √(V_t + V_c)/m̄, m̄ = (m_t + m_c)/2, is the delta method around the common mean; since
    log(m_t/m_c) ≈ (m_t − m_c)/m̄, its z is the absolute Welch t, which skew does not inflate
    (arrays ok).
    The larger of the two is used: never below the delta method (coverage under any
    alternative is at least the delta method's), and the pooled form where skew bites. With
    equal unit variances (the planner's assumption) the delta-method form is always the larger.
    """
    delta = log_ratio_se(mean_c, var_mean_c, mean_t, var_mean_t)
    pooled = np.sqrt(var_mean_c + var_mean_t) / ((mean_c + mean_t) / 2)
    return np.maximum(delta, np.abs(pooled))


def log_ratio_z(mean_c, var_mean_c, mean_t, var_mean_t, means: bool = False):
    """Decision statistic log(m_t/m_c) / se_L (arrays ok; NaN where undefined).

    ``means=True``: se_L of a mean metric (``mean_log_ratio_se``).
    """
    se_of = mean_log_ratio_se if means else log_ratio_se
    return np.log(mean_t / mean_c) / se_of(mean_c, var_mean_c, mean_t, var_mean_t)


def decision_z(mean_c, var_mean_c, mean_t, var_mean_t, means: bool = False):
    """The engine's decision statistic, vectorised: log-ratio z, else the absolute fallback.

    Fallback (a mean 0, opposite signs or se_L = 0): (m_t − m_c)/se_d × sign(m_c), 0 when
    se_d = 0 and the means are equal. ``means=True`` for mean metrics (the engine's
    'welch t' method, see ``mean_log_ratio_se``). For simulations; ``compare`` is the scalar
    reference.
    """
    mean_c, mean_t = np.asarray(mean_c, float), np.asarray(mean_t, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_log = log_ratio_z(mean_c, var_mean_c, mean_t, var_mean_t, means)
        se_d = np.sqrt(var_mean_c + var_mean_t)
        d = mean_t - mean_c
        z_abs = np.where(se_d > 0, d / se_d, np.where(d == 0, 0.0, np.sign(d) * np.inf))
        z_abs = z_abs * np.where(mean_c < 0, -1.0, 1.0)
        ok = (mean_c * mean_t > 0) & np.isfinite(z_log)
    return np.where(ok, z_log, z_abs)


def compare(
    control: Moments,
    treatment: Moments,
    *,
    method: str = "welch t",
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> LiftTest:
    """Test the relative and the absolute lift of treatment over control, with intervals.

    H0: relative lift m_t/m_c − 1 = 0 (``statistic``, ``p_value``, ``relative_ci``; on the
    log-ratio scale, or the absolute fallback) and, separately, H0: m_t − m_c = 0
    (``absolute_statistic``, ``absolute_p_value``, ``absolute_ci``); H1 per ``alternative``.
    Both use unpooled variances.

    Parameters
    ----------
    control, treatment : Moments
        Metric value and unit-level variance of each arm (see ``metrics.stats.moments``).
    method : {'welch t', 'wald z', 'pooled z'}
        'welch t' for means: Student t with Welch–Satterthwaite df on both scales;
        'wald z' for rates (CUPED-adjusted or not) and ratios: N(0, 1) on both scales.
        'pooled z' is accepted as a legacy name of 'wald z'.
    alpha : float
        1 − confidence level of the intervals and level of the tests.
    alternative : {'two-sided', 'larger', 'smaller'}
        H1 on the lift: ≠ 0, > 0, < 0. One-sided intervals are open on one side.

    Returns
    -------
    LiftTest
        ``error_message`` only for invalid arms or arguments. Zero values and zero variances
        give a valid result (``scale='absolute'``, ``note`` says why).
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
    nan, inf = math.nan, math.inf
    vm_c, vm_t = control.var_of_mean, treatment.var_of_mean
    m_c, m_t = control.mean, treatment.mean
    diff = m_t - m_c
    se = math.sqrt(vm_c + vm_t)
    df = None
    if method == "welch t" and se > 0:
        df = float(welch_df(vm_c, control.units, vm_t, treatment.units))
    crit = critical_value(alpha, alternative, df)
    if se > 0:
        abs_stat = diff / se
        abs_p = float(p_value(abs_stat, alternative, df))
        abs_ci = interval(diff, se, crit, alternative)
    elif diff == 0:  # both arms constant and equal (0/300 vs 0/300): valid, uninformative
        abs_stat, abs_p, abs_ci = 0.0, 1.0, (-inf, inf)
    else:  # both constant, different: the difference is certain
        abs_stat = math.copysign(inf, diff)
        abs_p = float(p_value(abs_stat, alternative))
        abs_ci = (diff, diff)
    if m_c != 0 and m_t / m_c > 0:
        se_of = mean_log_ratio_se if method == "welch t" else log_ratio_se
        lse = float(se_of(m_c, vm_c, m_t, vm_t))
        if lse > 0:
            lr = math.log(m_t / m_c)
            stat = lr / lse
            rel = m_t / m_c - 1
            test = LiftTest(
                diff,
                se,
                abs_ci,
                rel,
                (1 + rel) * lse,
                (nan, nan),
                stat,
                float(p_value(stat, alternative, df)),
                df,
                method,
                None,
                abs_stat,
                abs_p,
                "log-ratio",
                lr,
                lse,
            )
            return _with_relative_ci(test, crit, alternative)
    # Fallback: the absolute test decides (see the module docstring).
    if m_c == 0:
        rel = rel_se = nan
        stat, p = abs_stat, abs_p
        note = (
            "the control value is 0, so the relative lift (a fraction of control) is "
            "undefined; the decision uses the absolute difference"
        )
    else:
        rel, rel_se = m_t / m_c - 1, se / abs(m_c)
        stat = abs_stat * (1.0 if m_c > 0 else -1.0)
        p = float(p_value(stat, alternative, None if not se > 0 else df))
        note = (
            "the log ratio is undefined (a value of 0, values of opposite signs, or no "
            "variance); the decision uses the absolute difference, relative to the control value"
        )
    test = LiftTest(diff, se, abs_ci, rel, rel_se, (nan, nan), stat, p, df, method, None,
                    abs_stat, abs_p, "absolute", nan, nan, note)  # fmt: skip
    return _with_relative_ci(test, crit, alternative)


def _with_relative_ci(test: LiftTest, crit: float, alternative: str) -> LiftTest:
    return replace(test, relative_ci=test.relative_interval(crit, alternative))


def newcombe_interval(
    count_c: int, n_c: int, count_t: int, n_t: int, alpha: float = 0.05
) -> Interval:
    """Newcombe's hybrid score interval (Wilson, no continuity correction) for p_t − p_c.

    Two-sided, level 1 − alpha; better than the Wald interval near 0% / 100% and for small n.
    """
    z = float(NORMAL.isf(alpha / 2))

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


def non_inferiority_test(
    test: LiftTest,
    margin: float,
    *,
    alpha: float = 0.05,
    higher_is_better: bool = True,
    crit: float | None = None,
    p_of: Callable[[float], float] | None = None,
) -> NonInferiorityResult:
    """Non-inferiority of a ``LiftTest`` on its decision scale (log ratio, or the fallback).

    H0 (higher is better): r ≤ −margin, i.e. L ≤ log(1 − margin) on the log-ratio scale;
    (lower is better): r ≥ margin, L ≥ log(1 + margin). In the fallback the relative lift
    d/m_c is compared with ∓margin; with a control value of 0 a relative margin is 0, so
    non-inferiority needs the difference to be significantly in the good direction.
    ``harmed``: the lift is significantly in the bad direction (one-sided, level alpha).

    Fixed horizon by default (normal, or Student t with the test's df). The sequential engine
    passes ``crit`` (the confidence-sequence multiplier k_N) and ``p_of`` (always-valid
    p-value of a standardised statistic), so the decision stays valid under peeking.
    """
    nan = math.nan
    problem = check_alpha(alpha) or test.error_message
    if not (isinstance(margin, int | float) and math.isfinite(margin) and margin > 0):
        problem = f"the non-inferiority margin must be a positive fraction; got {margin!r}"
    if test.scale == "log-ratio":
        est, se = test.log_ratio, test.log_se
        limit = math.log1p(-margin) if higher_is_better and margin < 1 else -math.inf
        if not higher_is_better:
            limit = math.log1p(margin)
        back = math.expm1
    elif math.isfinite(test.relative_lift):
        est, se = test.relative_lift, test.relative_se
        limit = -margin if higher_is_better else margin

        def back(x: float) -> float:
            return x

    else:  # control value 0: the relative margin is 0 in metric units
        est, se, limit = test.absolute_lift, test.absolute_se, 0.0

        def back(x: float) -> float:
            return nan

    if not problem and not (math.isfinite(est) and se >= 0 and math.isfinite(se)):
        problem = "the lift or its standard error is undefined"
    if problem:
        return NonInferiorityResult(
            margin, higher_is_better, test.relative_lift, nan, nan, False, False, problem
        )
    g = 1.0 if higher_is_better else -1.0
    dist = NORMAL if test.df is None else student_t(test.df)
    if crit is None:
        crit = float(dist.isf(alpha))
    one_sided = p_of is not None  # an always-valid two-sided p, used on one side only
    if p_of is None:

        def p_of(z: float) -> float:
            return float(dist.sf(z))

    def standardised(x: float) -> float:
        if se > 0:
            return x / se
        return 0.0 if x == 0 else math.copysign(math.inf, x)

    z_ni = standardised(g * (est - limit))
    z_harm = standardised(-g * est)
    p_ni = float(p_of(z_ni)) if z_ni > 0 or not one_sided else 1.0
    p_harm = float(p_of(z_harm)) if z_harm > 0 or not one_sided else 1.0
    bound = back(est - g * crit * se) if se > 0 else back(est)
    if math.isfinite(bound) and bound < RELATIVE_FLOOR:  # fallback scale: show at most −100%
        bound = RELATIVE_FLOOR
    return NonInferiorityResult(
        margin, higher_is_better, test.relative_lift, bound, p_ni, p_ni < alpha, p_harm < alpha
    )
