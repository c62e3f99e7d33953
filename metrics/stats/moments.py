"""Per-variant metric value and its variance, from sufficient statistics.

Every estimate is a ``Moments``: the metric value (``mean``) and the **unit-level variance**
(``variance``), so the variance of the estimate itself is ``variance / units``. Kinds:

- binomial: mean p = Σy/n, variance p(1 − p) (the unpooled Wald variance);
- mean: mean ȳ = Σy/n, variance the sample variance s² (n − 1 denominator, as Welch's test);
- ratio: mean R = Σy/Σx, variance by the delta method,
  n·Var(R̂) ≈ (s_y² − 2R·s_xy + R²·s_x²) / x̄²  (s are sample (co)variances of y and x per unit).

CUPED (Deng et al. 2013) replaces y by y − θ(c − c̄) with a pre-assignment covariate c and a
single θ pooled across both variants, θ = Σ_g S_yc,g / Σ_g S_cc,g (within-variant centred
cross-products). The adjusted difference equals the treatment coefficient of the OLS regression
y ~ 1 + treatment + c.

CUPED for **ratio** metrics R = Σy/Σx (as GrowthBook's regression-adjusted ratios) works on the
linearised unit outcome u = (y − R_g·x)/x̄_g, the unit's contribution to R̂_g − R_g (delta
method): θ = Σ_g S_uc,g / Σ_g S_cc,g, adjusted ratio R_g − θ(c̄_g − c̄), variance
Var(u − θc)/n. It needs Σxc (``cov_denom_cross_sum``) as well as Σyc.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from metrics.stats.common import MetricKind
from metrics.stats.sufficient import VariantStats


@dataclass(frozen=True)
class Moments:
    """Metric value of one variant (in the metric's units) and its unit-level variance."""

    variant: str
    units: int
    mean: float
    variance: float
    error_message: str | None = None

    @property
    def var_of_mean(self) -> float:
        """Variance of ``mean`` as an estimator (``variance / units``)."""
        return self.variance / self.units if self.units > 0 else math.nan


@dataclass(frozen=True)
class CupedMoments:
    """CUPED-adjusted moments of control and treatment plus what the adjustment achieved."""

    control: Moments
    treatment: Moments
    theta: float
    variance_reduction: float  # 1 − Var(adjusted difference) / Var(unadjusted difference)
    error_message: str | None = None


def _bad(stats: VariantStats, message: str) -> Moments:
    return Moments(stats.variant, max(int(stats.units or 0), 0), math.nan, math.nan, message)


def _validate(s: VariantStats, kind: MetricKind) -> str | None:
    name = f"variant {s.variant!r}"
    values = {"units": s.units, "sum": s.sum, "sum_sq": s.sum_sq}
    if kind is MetricKind.RATIO:
        values |= {"denom_sum": s.denom_sum, "denom_sum_sq": s.denom_sum_sq}
        values["cross_sum"] = s.cross_sum
    for field, value in values.items():
        if value is None:
            return f"{name}: {field} is missing (needed for a {kind.value} metric)"
        try:
            if not math.isfinite(float(value)):
                return f"{name}: {field} is not a finite number ({value!r})"
        except (TypeError, ValueError):
            return f"{name}: {field} is not a number ({value!r})"
    if s.units < 0:
        return f"{name}: units is negative ({s.units})"
    if s.units != int(s.units):
        return f"{name}: units must be a whole number ({s.units})"
    if s.units == 0:
        return f"{name} has no units"
    if s.units == 1:
        return f"{name} has only 1 unit; at least 2 are needed to estimate a variance"
    if s.sum_sq < 0:
        return f"{name}: sum_sq is negative ({s.sum_sq})"
    if kind is MetricKind.BINOMIAL and not 0 <= s.sum <= s.units:
        return f"{name}: conversions ({s.sum:g}) must be between 0 and units ({s.units})"
    tol = 1e-9 * max(1.0, abs(s.sum_sq))
    if kind is not MetricKind.BINOMIAL and s.sum_sq + tol < s.sum * s.sum / s.units:
        return (
            f"{name}: sum_sq ({s.sum_sq:g}) is smaller than sum²/units; the sums are inconsistent"
        )
    if kind is MetricKind.RATIO:
        if s.denom_sum_sq < 0:
            return f"{name}: denom_sum_sq is negative ({s.denom_sum_sq})"
        if s.denom_sum == 0:
            return f"{name}: the ratio denominator sums to 0; the ratio is undefined"
    return None


def _cov(sum_a: float, sum_b: float, sum_ab: float, n: int) -> float:
    """Sample covariance (n − 1 denominator) from sums."""
    return (sum_ab - sum_a * sum_b / n) / (n - 1)


def moments(stats: VariantStats, kind: MetricKind) -> Moments:
    """Metric value and unit-level variance of one variant.

    Parameters
    ----------
    stats : VariantStats
        Sufficient statistics of the variant.
    kind : MetricKind
        binomial (sum = conversions), mean, or ratio (needs the denominator sums).

    Returns
    -------
    Moments
        ``mean`` in the metric's units (a rate, a per-unit mean, or Σy/Σx); ``variance`` per unit.
        Invalid input gives NaNs and an ``error_message``.
    """
    kind = MetricKind(kind)
    problem = _validate(stats, kind)
    if problem:
        return _bad(stats, problem)
    n = int(stats.units)
    if kind is MetricKind.BINOMIAL:
        p = stats.sum / n
        return Moments(stats.variant, n, p, p * (1 - p))
    if kind is MetricKind.MEAN:
        return Moments(stats.variant, n, stats.sum / n, stats.variance)
    x_mean = stats.denom_sum / n
    ratio = stats.sum / stats.denom_sum
    var_y = max(_cov(stats.sum, stats.sum, stats.sum_sq, n), 0.0)
    var_x = max(_cov(stats.denom_sum, stats.denom_sum, stats.denom_sum_sq, n), 0.0)
    cov_xy = _cov(stats.sum, stats.denom_sum, stats.cross_sum, n)
    unit_var = (var_y - 2 * ratio * cov_xy + ratio * ratio * var_x) / (x_mean * x_mean)
    return Moments(stats.variant, n, ratio, max(unit_var, 0.0))


def cuped_moments(control: VariantStats, treatment: VariantStats, kind: MetricKind) -> CupedMoments:
    """CUPED-adjusted moments with θ pooled across the two variants.

    The adjusted mean of variant g is ȳ_g − θ(c̄_g − c̄), where c̄ is the covariate mean over both
    variants; its unit-level variance is the sample variance of y − θc within g (for binomial
    metrics y is 0/1 and its sample variance is used). Ratio metrics use the linearised
    outcome u = (y − R_g·x)/x̄_g instead of y (see the module docstring).

    Returns
    -------
    CupedMoments
        With ``error_message`` (and NaNs) when covariate sums are missing (ratio metrics also
        need ``cov_denom_cross_sum``) or the covariate has no variance.
    """
    kind = MetricKind(kind)
    nan = math.nan
    base_c, base_t = moments(control, kind), moments(treatment, kind)
    for m in (base_c, base_t):
        if m.error_message:
            return CupedMoments(base_c, base_t, nan, nan, m.error_message)
    for s in (control, treatment):
        if kind is MetricKind.RATIO and (
            s.cov_denom_cross_sum is None or not math.isfinite(s.cov_denom_cross_sum)
        ):
            return CupedMoments(
                base_c,
                base_t,
                nan,
                nan,
                f"variant {s.variant!r} has no cov_denom_cross_sum (Σxc), needed for CUPED on a "
                "ratio metric",
            )
    for s in (control, treatment):
        fields = (s.cov_sum, s.cov_sum_sq, s.cov_cross_sum)
        if any(v is None or not math.isfinite(v) for v in fields):
            return CupedMoments(
                base_c,
                base_t,
                nan,
                nan,
                f"variant {s.variant!r} has no covariate sums (cov_sum, cov_sum_sq, cov_cross_sum)",
            )
    parts = []
    for s, base in zip((control, treatment), (base_c, base_t), strict=True):
        n = s.units
        s_cc = s.cov_sum_sq - s.cov_sum * s.cov_sum / n
        if kind is MetricKind.RATIO:  # linearised outcome u = (y − R·x)/x̄, Σu = 0
            r, x_bar = base.mean, s.denom_sum / n
            s_yc = s.cov_cross_sum - s.sum * s.cov_sum / n
            s_xc = s.cov_denom_cross_sum - s.denom_sum * s.cov_sum / n
            s_uc = (s_yc - r * s_xc) / x_bar
            parts.append((n, base.variance * (n - 1), s_cc, s_uc))
            continue
        s_yy = s.sum_sq - s.sum * s.sum / n
        s_yc = s.cov_cross_sum - s.sum * s.cov_sum / n
        parts.append((n, s_yy, s_cc, s_yc))
    s_cc_total = parts[0][2] + parts[1][2]
    if not s_cc_total > 0:
        return CupedMoments(base_c, base_t, nan, nan, "the CUPED covariate has no variance")
    theta = (parts[0][3] + parts[1][3]) / s_cc_total
    c_bar = (control.cov_sum + treatment.cov_sum) / (control.units + treatment.units)
    adjusted = []
    for s, base, (n, s_yy, s_cc, s_yc) in zip(
        (control, treatment), (base_c, base_t), parts, strict=True
    ):
        mean = base.mean - theta * (s.cov_sum / n - c_bar)
        var = max(s_yy - 2 * theta * s_yc + theta * theta * s_cc, 0.0) / (n - 1)
        adjusted.append(Moments(s.variant, n, mean, var))
    raw = base_c.var_of_mean + base_t.var_of_mean
    adj = adjusted[0].var_of_mean + adjusted[1].var_of_mean
    reduction = 1 - adj / raw if raw > 0 else nan
    return CupedMoments(adjusted[0], adjusted[1], theta, reduction)
