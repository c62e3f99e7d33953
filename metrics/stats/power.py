"""Power analysis for a two-arm comparison, planned for the test the engine runs.

``engine.analyze_metric`` decides on the relative lift r = m_t/m_c − 1 through the log ratio
L = log(m_t/m_c) with se_L² = v_t/(n_t·m_t²) + v_c/(n_c·m_c²) (normal approximation). At the
planned effect m_t = m_c·(1 + mde) (``mde`` is the relative minimum detectable effect, a
fraction of control) the effect is δ = log(1 + mde) and

    se = √(v_c/(n_c·m_c²) + v_t/(n_t·m_t²)).

Unit-level variances: v = p(1 − p) for rates (unpooled, at the control rate and at
p·(1 + mde)) or sd² for means. This is exactly the engine's ``power`` field when the observed
means equal the planned ones. Power of the level-alpha z test (two-sided power counts both
tails, as statsmodels ``NormalIndPower``):

- two-sided: Φ(δ/se − z_{1−α/2}) + Φ(−δ/se − z_{1−α/2});
- larger:    Φ(δ/se − z_{1−α});   smaller: Φ(−δ/se − z_{1−α})   (δ takes the sign of mde).

The sequential engine replaces z by its confidence-sequence multiplier k_N (``crit``).
With more than one treatment (``n_variants`` > 2) each treatment-vs-control comparison uses
alpha/(n_variants − 1) (Bonferroni) unless ``correct_for_variants=False``; allocation
``weights`` (e.g. (0.5, 0.25, 0.25)) default to an equal split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.special import ndtr, ndtri

from metrics.stats.common import check_alpha, check_alternative


@dataclass(frozen=True)
class SampleSizePlan:
    """Units needed so each treatment reaches ``power`` for a relative effect ``mde``."""

    units_per_variant: tuple[int, ...]  # control first, rounded up
    total_units: int
    alpha_per_comparison: float
    power: float
    mde: float  # relative, fraction of control
    days: int | None  # with daily_units: days of traffic needed
    error_message: str | None = None
    tuning_n: int | None = None  # sequential plans: n* to give the engine (pair total)


def power_at_se(delta, se, alpha: float, alternative: str = "two-sided", crit=None):
    """Power of a level-alpha z test for a true effect ``delta`` with standard error ``se``.

    ``crit`` overrides the critical value (in standard errors): the sequential engine passes
    its confidence-sequence multiplier k_N, which is used on each side as it is (arrays ok).
    """
    if alternative == "two-sided":
        z = ndtri(1 - alpha / 2) if crit is None else crit
        return ndtr(delta / se - z) + ndtr(-delta / se - z)
    z = ndtri(1 - alpha) if crit is None else crit
    sign = 1 if alternative == "larger" else -1
    return ndtr(sign * delta / se - z)


def _variances(kind: str, baseline: float, mde: float, sd: float | None) -> tuple[float, float]:
    """Unit-level variances (v_c, v_t) in metric units at the planned effect."""
    if kind == "binomial":
        p_t = baseline * (1 + mde)
        return baseline * (1 - baseline), p_t * (1 - p_t)
    return sd * sd, sd * sd


def _relative_test(
    kind: str, baseline: float, mde: float, sd: float | None
) -> tuple[float, float, float]:
    """(δ, a_c, a_t): effect and se² = a_c/n_c + a_t/n_t of the engine's log-ratio test.

    δ = log(1 + mde); a_c = v_c/m_c², a_t = v_t/m_t² with m_t = m_c·(1 + mde).
    """
    v_c, v_t = _variances(kind, baseline, mde, sd)
    m_t = baseline * (1 + mde)
    return math.log1p(mde), v_c / baseline**2, v_t / m_t**2


def _check(
    kind: str, baseline: float, mde: float, sd: float | None, alpha: float, alternative: str
) -> str | None:
    problem = check_alpha(alpha) or check_alternative(alternative)
    if problem:
        return problem
    if kind not in ("binomial", "mean", "ratio"):
        return f"kind must be binomial, mean or ratio; got {kind!r}"
    if not (isinstance(baseline, int | float) and math.isfinite(baseline)):
        return f"baseline must be a number; got {baseline!r}"
    if kind == "binomial":
        if not 0 < baseline < 1:
            return f"the baseline rate must be strictly between 0 and 1; got {baseline!r}"
        if not 0 < baseline * (1 + mde) < 1:
            return f"baseline × (1 + mde) = {baseline * (1 + mde):g} is not a valid rate"
    else:
        if baseline == 0:
            return "the baseline mean is 0, so a relative effect is undefined"
        if sd is None or not (math.isfinite(sd) and sd > 0):
            return f"baseline_sd must be a positive number for a {kind} metric; got {sd!r}"
    if not (math.isfinite(mde) and mde != 0):
        return f"mde must be a non-zero fraction; got {mde!r}"
    if alternative == "larger" and mde < 0 or alternative == "smaller" and mde > 0:
        return f"an effect of {mde:+g} cannot be detected with alternative={alternative!r}"
    return None


def power_for(
    n_control: float,
    n_treatment: float,
    mde: float,
    baseline: float,
    *,
    kind: str = "binomial",
    baseline_sd: float | None = None,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    sequential_tuning_n: float | None = None,
) -> float:
    """Power reached with the given units per arm for a relative effect ``mde``; NaN if invalid.

    With ``sequential_tuning_n`` (n*): the power of the sequential engine's confidence
    sequence at this sample, P(it excludes 0 at this look), with its multiplier k_N.
    """
    if (
        _check(kind, baseline, mde, baseline_sd, alpha, alternative)
        or min(n_control, n_treatment) <= 0
    ):
        return math.nan
    delta, a_c, a_t = _relative_test(kind, baseline, mde, baseline_sd)
    se = math.sqrt(a_c / n_control + a_t / n_treatment)
    crit = None
    if sequential_tuning_n:
        from metrics.stats.sequential import cs_multiplier, rho_for

        rho = rho_for(alpha, sequential_tuning_n)
        crit = float(cs_multiplier(n_control + n_treatment, alpha, rho))
    return float(power_at_se(delta, se, alpha, alternative, crit))


def mde_for(
    n_control: float,
    n_treatment: float,
    baseline: float,
    *,
    kind: str = "binomial",
    baseline_sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
    sequential_tuning_n: float | None = None,
) -> float:
    """Smallest relative effect (fraction of control, > 0; < 0 for 'smaller') reaching ``power``.

    NaN when no valid effect reaches it (e.g. a rate would pass 100%) or inputs are invalid.
    """
    if not (0 < power < 1) or min(n_control, n_treatment) <= 0:
        return math.nan
    sign = -1.0 if alternative == "smaller" else 1.0
    upper = (1 / baseline - 1) * 0.999999 if kind == "binomial" and sign > 0 else 0.999999
    if kind != "binomial":
        # Log-ratio test: a decrease cannot pass −100 %; power may peak before it (the
        # treatment's relative variance grows as its mean shrinks): NaN if not bracketed.
        upper = 1e6 if sign > 0 else 0.999999

    def gap(m: float) -> float:
        return (
            power_for(
                n_control,
                n_treatment,
                sign * m,
                baseline,
                kind=kind,
                baseline_sd=baseline_sd,
                alpha=alpha,
                alternative=alternative,
                sequential_tuning_n=sequential_tuning_n,
            )
            - power
        )

    lo = 1e-12
    try:
        if not (gap(lo) < 0 < gap(upper)):
            return math.nan
        return sign * float(optimize.brentq(gap, lo, upper, xtol=1e-12, rtol=1e-10))
    except (ValueError, ZeroDivisionError):
        return math.nan


def duration_days(total_units: float, daily_units: float) -> int | None:
    """Whole days of traffic to collect ``total_units`` at ``daily_units`` per day."""
    if not (daily_units and daily_units > 0 and math.isfinite(total_units)):
        return None
    return max(1, math.ceil(total_units / daily_units - 1e-9))


def sample_size(
    baseline: float,
    mde: float,
    *,
    kind: str = "binomial",
    baseline_sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
    n_variants: int = 2,
    weights: Sequence[float] | None = None,
    correct_for_variants: bool = True,
    daily_units: float | None = None,
    engine: str = "frequentist",
) -> SampleSizePlan:
    """Units per variant needed to detect a relative effect ``mde`` with the given power.

    ``engine='sequential'`` plans for the confidence sequence tuned at the plan itself
    (``tuning_n`` = the planned units of one treatment-control pair): there the sequence's
    half-width is k* standard errors (``sequential_multiplier_at_tuning``; 3.03 at
    alpha = 0.05 against 1.96 fixed-horizon), so the plan needs about 1.9× the units of a
    fixed-horizon plan for 80% power at the final look — the price of looking every day.

    Parameters
    ----------
    baseline : float
        Control conversion rate (binomial) or control mean (mean / ratio).
    mde : float
        Relative minimum detectable effect, fraction of control (0.05 = +5%).
    baseline_sd : float, optional
        Unit-level standard deviation (mean / ratio metrics).
    n_variants : int
        Variants including control. ``weights``: allocation shares, control first.
    daily_units : float, optional
        Units entering the experiment per day (all variants) → ``days``.
    """
    nan = math.nan
    w = tuple(weights) if weights is not None else (1.0,) * int(n_variants)

    def bad(message: str) -> SampleSizePlan:
        return SampleSizePlan((), 0, nan, power, mde, None, message)

    problem = _check(kind, baseline, mde, baseline_sd, alpha, alternative)
    if problem:
        return bad(problem)
    if not 0 < power < 1:
        return bad(f"power must be strictly between 0 and 1; got {power!r}")
    if n_variants < 2 or len(w) != n_variants:
        return bad(f"need n_variants ≥ 2 and one weight per variant; got {n_variants}, {w}")
    if not all(math.isfinite(x) and x > 0 for x in w):
        return bad("allocation weights must be positive")
    shares = np.asarray(w, dtype=float) / sum(w)
    a = alpha / (n_variants - 1) if correct_for_variants else alpha
    if engine not in ("frequentist", "bayesian", "sequential"):
        return bad(f"unknown engine {engine!r}")
    crit = sequential_multiplier_at_tuning(a) if engine == "sequential" else None
    delta, a_c, a_t = _relative_test(kind, baseline, mde, baseline_sd)
    total = 0.0
    for share_t in shares[1:]:
        # se(N) = √(c/N) with c = a_c/w_c + a_t/w_t: solve power(δ, √(c/N)) = power for N.
        c = a_c / shares[0] + a_t / share_t

        def gap(n: float, c: float = c) -> float:
            return float(power_at_se(delta, math.sqrt(c / n), a, alternative, crit)) - power

        total = max(total, optimize.brentq(gap, 1e-9, 1e15, xtol=1e-9, rtol=1e-12))
    per_variant = tuple(math.ceil(total * s - 1e-9) for s in shares)
    n_total = sum(per_variant)
    days = duration_days(n_total, daily_units) if daily_units else None
    tuning = per_variant[0] + max(per_variant[1:]) if engine == "sequential" else None
    return SampleSizePlan(per_variant, n_total, a, power, mde, days, tuning_n=tuning)


def sequential_multiplier_at_tuning(alpha: float) -> float:
    """k*: the confidence sequence's half-width (in standard errors) at its tuning size n*.

    With ρ² = c/n*, c = −2 log α + log(1 − 2 log α) (``sequential.rho_for``), Nρ² = c at
    N = n*, so k* = √(2(c + 1)/c · log(√(c + 1)/α)) does not depend on n*.
    """
    la = -2 * math.log(alpha)
    c = la + math.log(la + 1)
    return math.sqrt(2 * (c + 1) / c * math.log(math.sqrt(c + 1) / alpha))
