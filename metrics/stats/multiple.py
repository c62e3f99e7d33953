"""Multiple-testing corrections across variants × metrics.

- ``holm`` (Holm–Bonferroni) and ``bonferroni`` control the family-wise error rate; they come
  with adjusted intervals (Bonferroni's are **simultaneous**, 1 − alpha/m each; Holm's are
  *not*: they match Holm's decisions but their joint coverage can be below 1 − alpha — 88%
  instead of 95% in the check of issue 10 — so every Holm-widened result carries ``HOLM_NOTE``):
  test i's interval is recomputed at level 1 − a_i with a_i = alpha·p_i/p̃_i (p̃ the adjusted
  p-value). Because each interval is the inversion of the very test that gave p_i (same
  statistic, same distribution, same standard error), it excludes 0 exactly when p_i < a_i, i.e.
  when p̃_i < alpha (for Bonferroni a_i = alpha/m, the familiar level 1 − alpha/m). Frequentist
  intervals use the z / Welch-t quantile; sequential ones the confidence-sequence multiplier at
  the same mixing parameter ρ.
- ``fdr_bh`` (Benjamini–Hochberg) controls the false discovery rate; it adjusts p-values
  only. The intervals stay **unadjusted** (1 − alpha, marginal): a BH-significant result always
  has an interval excluding 0, but a marginal interval excluding 0 may be BH-non-significant.
  (Benjamini–Yekutieli FCR intervals were not adopted: they would not match the BH decision.)

``adjust_results`` adjusts two families separately and never mixes them: the relative-lift
p-values (the decision scale: ``p_value_adjusted``, ``significant``, ``relative_ci``) and the
absolute-lift p-values (``absolute_p_value_adjusted``, ``absolute_ci``).
Adjusted p-values are computed here with numpy (the same step-down / step-up formulas as
statsmodels ``multipletests``, which the tests use as a reference; statsmodels' Holm branch
runs a full ``gc.collect()`` per call, too slow for per-day and per-slice tables).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from metrics.stats.common import critical_value, interval
from metrics.stats.frequentist import CLIP_PREFIX, clip_relative, clip_warning
from metrics.stats.sequential import cs_multiplier

METHODS = ("holm", "bonferroni", "fdr_bh")


@dataclass(frozen=True)
class Adjustment:
    """Adjusted p-values (same order as the input) and the decision at ``alpha``."""

    method: str
    alpha: float
    p_values: tuple[float, ...]
    adjusted_p_values: tuple[float, ...]
    reject: tuple[bool, ...]
    ci_alphas: tuple[float, ...] | None  # per-test interval alpha (holm/bonferroni only)
    error_message: str | None = None


def _adjusted(p: np.ndarray, method: str) -> np.ndarray:
    """Adjusted p-values of finite ``p`` (Holm step-down, Bonferroni, BH step-up)."""
    m = len(p)
    if method == "bonferroni":
        return np.minimum(1.0, m * p)
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        steps = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:  # fdr_bh
        steps = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(1.0, steps)
    return out


def adjust_p_values(
    p_values: Sequence[float], method: str = "holm", alpha: float = 0.05
) -> Adjustment:
    """Adjust p-values for multiplicity.

    Parameters
    ----------
    p_values : sequence of float
        Unadjusted p-values; NaNs (failed analyses) are left out of the family and stay NaN.
    method : {'holm', 'bonferroni', 'fdr_bh'}
    alpha : float
        Family-wise error rate (holm, bonferroni) or false discovery rate (fdr_bh).
    """
    ps = tuple(float(p) for p in p_values)
    if method not in METHODS:
        return Adjustment(
            method,
            alpha,
            ps,
            ps,
            (False,) * len(ps),
            None,
            f"method must be one of {', '.join(METHODS)}; got {method!r}",
        )
    arr = np.asarray(ps, dtype=float)
    ok = np.isfinite(arr)
    adjusted = np.full(arr.shape, np.nan)
    reject = np.zeros(arr.shape, dtype=bool)
    if ok.any():
        adjusted[ok] = _adjusted(arr[ok], method)
        reject[ok] = adjusted[ok] < alpha
    ci_alphas = None
    m = max(int(ok.sum()), 1)
    if method == "bonferroni":  # p̃ < alpha ⇔ p < alpha/m, also where p̃ is capped at 1
        ci_alphas = tuple(alpha / m if x else math.nan for x in ok)
    elif method == "holm":
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(adjusted > 0, alpha * arr / adjusted, alpha / m)
        ci_alphas = tuple(float(x) for x in a)
    return Adjustment(
        method,
        alpha,
        ps,
        tuple(float(x) for x in adjusted),
        tuple(bool(x) for x in reject),
        ci_alphas,
    )


def _multiplier(ci_alpha: float, r) -> float:
    if r.engine == "sequential":
        return float(cs_multiplier(r.units, ci_alpha, r.sequential_rho))
    return critical_value(ci_alpha, r.alternative, r.df)


def _widened(estimate: float, se: float, ci_alpha: float, r) -> tuple[float, float]:
    """Interval of ``estimate`` at level 1 − ``ci_alpha``, by the test ``r`` used."""
    return interval(estimate, se, _multiplier(ci_alpha, r), r.alternative)


def _widened_relative(ci_alpha: float, r) -> tuple[float, float]:
    """Relative interval at level 1 − ``ci_alpha`` on the result's decision scale."""
    if getattr(r, "decision_scale", "log-ratio") == "log-ratio":
        log_ratio = math.log1p(r.relative_lift)
        log_se = r.relative_se / (1 + r.relative_lift)
        lo, hi = interval(log_ratio, log_se, _multiplier(ci_alpha, r), r.alternative)
        return (math.expm1(lo) if math.isfinite(lo) else -1.0), (
            math.expm1(hi) if math.isfinite(hi) else math.inf
        )
    return _widened(r.relative_lift, r.relative_se, ci_alpha, r)


HOLM_NOTE = (
    "Holm-adjusted interval: it excludes 0 exactly when Holm rejects, but it is not a "
    "simultaneous interval (joint coverage can fall below 1 − alpha); choose Bonferroni for "
    "intervals that hold jointly"
)


def _family(results: Sequence, field: str, method: str, alpha: float) -> Adjustment:
    values = [getattr(r, field) for r in results]
    return adjust_p_values(
        [
            math.nan if v is None or r.error_message else v
            for v, r in zip(values, results, strict=True)
        ],
        method,
        alpha,
    )


def adjust_results(results: Sequence, method: str = "holm", alpha: float = 0.05) -> list:
    """Return copies of frequentist / sequential ``MetricResult``s with adjusted p-values.

    Relative family (the decision): sets ``p_value_adjusted``, ``correction`` and
    ``significant`` (adjusted p < alpha); for holm and bonferroni widens ``relative_ci`` so
    that it excludes 0 exactly when the adjusted p-value is below alpha (lower bound clipped
    at −100%, with a warning). Absolute family: ``absolute_p_value_adjusted`` and, for holm
    and bonferroni, ``absolute_ci`` widened by the same rule on the absolute p-values.
    With ``fdr_bh`` the intervals are unchanged (marginal 1 − alpha). Results with an error
    or without a p-value are returned unchanged.
    """
    adj = _family(results, "p_value", method, alpha)
    if adj.error_message:
        return [dataclasses.replace(r, warnings=(*r.warnings, adj.error_message)) for r in results]
    adj_abs = _family(results, "absolute_p_value", method, alpha)
    out = []
    for i, r in enumerate(results):
        p_adj = adj.adjusted_p_values[i]
        if not math.isfinite(p_adj) or r.error_message:
            out.append(r)
            continue
        changes = {"p_value_adjusted": p_adj, "correction": method, "significant": p_adj < alpha}
        p_abs = adj_abs.adjusted_p_values[i]
        if math.isfinite(p_abs):
            changes["absolute_p_value_adjusted"] = p_abs
        widen = adj.ci_alphas is not None and r.engine in ("frequentist", "sequential")
        if getattr(r, "no_decision", None):  # intervals already unbounded, no decision yet
            widen = False
            changes["significant"] = False
        if widen and r.engine == "sequential" and r.sequential_rho is None:
            widen = False
        if widen:
            raw = _widened_relative(adj.ci_alphas[i], r)
            changes["relative_ci"], clipped = clip_relative(raw)
            notes = tuple(w for w in r.warnings if not w.startswith(CLIP_PREFIX))
            notes = (*notes, clip_warning(raw[0])) if clipped else notes
            if method == "holm" and HOLM_NOTE not in notes:
                notes = (*notes, HOLM_NOTE)
            changes["warnings"] = notes
            if adj_abs.ci_alphas is not None and math.isfinite(p_abs):
                changes["absolute_ci"] = _widened(
                    r.absolute_lift, r.absolute_se, adj_abs.ci_alphas[i], r
                )
        out.append(dataclasses.replace(r, **changes))
    return out
