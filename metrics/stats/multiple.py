"""Multiple-testing corrections across variants × metrics.

- ``holm`` (Holm–Bonferroni) and ``bonferroni`` control the family-wise error rate; they come
  with adjusted confidence intervals: test i's interval is recomputed at level
  1 − alpha·p_i/p̃_i (p̃ the adjusted p-value), so it excludes 0 exactly when p̃_i < alpha
  (for Bonferroni that is the familiar level 1 − alpha/m).
- ``fdr_bh`` (Benjamini–Hochberg) controls the false discovery rate; it adjusts p-values only
  (no simultaneous intervals: they would not match the FDR decision).
P-values come from statsmodels ``multipletests``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.multitest import multipletests

from metrics.stats.common import critical_value, interval

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
        rej, padj, _, _ = multipletests(arr[ok], alpha=alpha, method=method)
        adjusted[ok], reject[ok] = padj, rej
    ci_alphas = None
    if method != "fdr_bh":
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(adjusted > 0, alpha * arr / adjusted, alpha / max(int(ok.sum()), 1))
        ci_alphas = tuple(float(x) for x in a)
    return Adjustment(
        method,
        alpha,
        ps,
        tuple(float(x) for x in adjusted),
        tuple(bool(x) for x in reject),
        ci_alphas,
    )


def adjust_results(results: Sequence, method: str = "holm", alpha: float = 0.05) -> list:
    """Return copies of frequentist ``MetricResult``s with adjusted p-values (and intervals).

    Sets ``p_value_adjusted``, ``significant`` (from the adjusted p-value) and, for holm and
    bonferroni, widens ``absolute_ci`` / ``relative_ci`` to the per-test adjusted level. Results
    with an error or without a p-value are returned unchanged.
    """
    adj = adjust_p_values(
        [r.p_value if r.p_value is not None else math.nan for r in results], method, alpha
    )
    if adj.error_message:
        return [dataclasses.replace(r, warnings=(*r.warnings, adj.error_message)) for r in results]
    out = []
    for i, r in enumerate(results):
        p_adj = adj.adjusted_p_values[i]
        if not math.isfinite(p_adj) or r.error_message:
            out.append(r)
            continue
        changes = {"p_value_adjusted": p_adj, "correction": method, "significant": p_adj < alpha}
        if adj.ci_alphas is not None and r.engine == "frequentist":
            crit = critical_value(adj.ci_alphas[i], r.alternative, r.df)
            changes["absolute_ci"] = interval(r.absolute_lift, r.absolute_se, crit, r.alternative)
            changes["relative_ci"] = interval(r.relative_lift, r.relative_se, crit, r.alternative)
        out.append(dataclasses.replace(r, **changes))
    return out
