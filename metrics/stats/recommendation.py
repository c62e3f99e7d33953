"""Plain-language recommendation from an experiment's results.

Decision rules, applied in order (the first that matches wins):

1. **invalid** — the SRM check is flagged (p < 0.001: the split is not what was designed, so
   no result can be trusted), or the primary metric could not be analysed. An SRM-flagged
   test never gets *ship*.
2. **dont_ship_guardrail** — a guardrail is significantly harmed (its non-inferiority result
   says ``harmed``, or, without a margin, it is significant in its bad direction).
3. Primary metric significantly **better** on the relative-lift scale — ``direction`` of the
   ``MetricResult``: its (adjusted) relative interval excludes 0 on the good side, which is the
   same as p < alpha (frequentist: fixed-horizon, after any correction; sequential:
   always-valid) or, for the Bayesian engine, the credible interval excluding 0 (two-sided:
   chance to win > 1 − alpha/2). Every *ship* shows an interval on the good side of 0:
   **ship** if every guardrail with a margin is shown non-inferior (and none failed to compute);
   otherwise **keep_running** (safety not yet established).
4. Primary metric significantly **worse** → **stop_no_effect** (do not ship; reason says so).
5. Not significant:
   - power (of the relative test) to detect the target MDE ≥ ``power_target`` →
     **stop_no_effect** (enough data; the effect, if any, is smaller than the MDE);
   - otherwise **keep_running**, with ``days_to_power`` = days_running × (units needed / units
     so far − 1), assuming traffic continues at the average daily rate so far; if that exceeds
     ``max_extra_days`` → **stop_no_effect** (the MDE is out of reach in a reasonable time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from metrics.stats.engine import MetricResult
from metrics.stats.srm import SRMResult


class RecommendationKind(StrEnum):
    SHIP = "ship"
    KEEP_RUNNING = "keep_running"
    STOP_NO_EFFECT = "stop_no_effect"
    DONT_SHIP_GUARDRAIL = "dont_ship_guardrail"
    INVALID = "invalid"


@dataclass(frozen=True)
class Recommendation:
    """What to do, why (sentences with the numbers), and for keep_running how long."""

    kind: RecommendationKind
    reasons: tuple[str, ...]
    days_to_power: float | None = None  # extra days to reach the target power at the MDE


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.1%}"


def _ci(r: MetricResult) -> str:
    lo, hi = r.relative_ci
    level = f"{1 - r.alpha:.0%}"
    if not math.isfinite(lo) and not math.isfinite(hi):
        return f"{level} interval n/a"
    return f"{level} interval {_pct(lo) if math.isfinite(lo) else '−∞'} to " + (
        _pct(hi) if math.isfinite(hi) else "+∞"
    )


def _evidence(r: MetricResult) -> str:
    if r.chance_to_win is not None:
        return f"chance to beat control {r.chance_to_win:.1%}"
    p = r.p_value_adjusted if r.p_value_adjusted is not None else r.p_value
    label = "always-valid p" if r.engine == "sequential" else "p"
    return f"{label} = {p:.3g}" if p is not None else "no p-value"


def _describe(r: MetricResult) -> str:
    name = r.metric or "the metric"
    return (
        f"{name}: {r.variant} vs {r.control_variant} {_pct(r.relative_lift)} "
        f"({_ci(r)}; {_evidence(r)})"
    )


def _harmed(g: MetricResult) -> bool:
    if g.non_inferiority is not None and g.non_inferiority.error_message is None:
        return g.non_inferiority.harmed
    return g.ok and g.direction == "worse"


def recommend(
    primary: MetricResult,
    guardrails: Sequence[MetricResult] = (),
    srm: SRMResult | None = None,
    *,
    days_running: float | None = None,
    power_target: float = 0.8,
    max_extra_days: float = 60.0,
) -> Recommendation:
    """Recommend ship / keep_running / stop_no_effect / dont_ship_guardrail / invalid.

    Parameters
    ----------
    primary : MetricResult
        Result of the primary metric for one treatment (from ``analyze_metric``).
    guardrails : sequence of MetricResult
        Guardrail results for the same treatment (ideally with ``noninferiority_margin``).
    srm : SRMResult, optional
        Sample-ratio-mismatch check of the experiment.
    days_running : float, optional
        Days since the experiment started (for the days-to-power estimate).
    power_target : float
        Power at the primary's ``mde`` considered "enough data".
    max_extra_days : float
        Beyond this many extra days, waiting for power is not recommended.
    """
    K = RecommendationKind
    if srm is not None and srm.flagged:
        shares = ", ".join(f"{s:.1%}" for s in srm.observed_shares)
        expected = ", ".join(f"{s:.1%}" for s in srm.expected_shares)
        return Recommendation(
            K.INVALID,
            (
                f"Sample ratio mismatch: observed split {shares} vs expected {expected} "
                f"(chi-square p = {srm.p_value:.2g} < {srm.threshold:g}). Fix the assignment "
                "before trusting any result.",
            ),
        )
    if not primary.ok:
        return Recommendation(
            K.INVALID, (f"The primary metric could not be analysed: {primary.error_message}",)
        )
    harmed = [g for g in guardrails if _harmed(g)]
    if harmed:
        return Recommendation(
            K.DONT_SHIP_GUARDRAIL,
            tuple(f"Guardrail harmed — {_describe(g)}." for g in harmed),
        )
    reasons = [f"Primary metric — {_describe(primary)}."]
    if primary.direction == "better":
        pending = []
        for g in guardrails:
            if not g.ok:
                pending.append(
                    f"Guardrail {g.metric or g.variant} could not be analysed: {g.error_message}"
                )
            elif g.non_inferiority is not None and not g.non_inferiority.non_inferior:
                ni = g.non_inferiority
                pending.append(
                    f"Guardrail not yet shown safe — {_describe(g)}; non-inferiority to a "
                    f"{ni.margin:.1%} margin not established (p = {ni.p_value:.3g})."
                )
        if pending:
            return Recommendation(K.KEEP_RUNNING, tuple(reasons + pending))
        for g in guardrails:
            reasons.append(f"Guardrail OK — {_describe(g)}.")
        return Recommendation(K.SHIP, tuple(reasons))
    if primary.direction == "worse":
        reasons.append("The treatment is significantly worse on the primary metric: do not ship.")
        return Recommendation(K.STOP_NO_EFFECT, tuple(reasons))
    if primary.power is None or primary.mde is None:
        reasons.append("No significant effect; power unknown (no MDE given).")
        return Recommendation(K.KEEP_RUNNING, tuple(reasons))
    mde_text = f"{primary.mde:.1%}"
    if primary.power >= power_target:
        reasons.append(
            f"No significant effect with {primary.power:.0%} power to detect a {mde_text} "
            f"change: the effect, if any, is smaller than the MDE."
        )
        return Recommendation(K.STOP_NO_EFFECT, tuple(reasons))
    reasons.append(
        f"Not significant yet; power to detect a {mde_text} change is {primary.power:.0%} "
        f"(target {power_target:.0%})."
    )
    days = None
    needed = primary.units_for_power
    if needed and days_running and days_running > 0 and primary.units > 0:
        days = max(days_running * (needed / primary.units - 1), 0.0)
        reasons.append(
            f"At the traffic so far ({primary.units / days_running:,.0f} units/day) about "
            f"{days:,.0f} more days are needed to reach {needed:,} units."
        )
        if days > max_extra_days:
            reasons.append(
                f"That is more than {max_extra_days:,.0f} days: stop; an effect as large as "
                f"{mde_text} is unlikely to become detectable in a reasonable time."
            )
            return Recommendation(K.STOP_NO_EFFECT, tuple(reasons), days)
    elif needed:
        reasons.append(f"About {needed:,} units in total are needed (now {primary.units:,}).")
    return Recommendation(K.KEEP_RUNNING, tuple(reasons), days)
