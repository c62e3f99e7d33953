"""Plain-language recommendation from an experiment's results.

Decision rules, applied in order (the first that matches wins); every recommendation names
the rule it used (``Recommendation.rule``):

1. **invalid** — the SRM check is flagged (p < 0.001: the split is not what was designed),
   the primary metric could not be analysed, or an **A/A test** (``aa_test=True``) shows a
   significant difference on any metric — likely a tracking or assignment problem.
2. **dont_ship_guardrail** — a guardrail is significantly harmed (its non-inferiority result
   says ``harmed``, or, without a margin, it is significant in its bad direction).
3. **When the evidence counts** (``rule``). The sequential engine is valid at every look.
   The frequentist and Bayesian engines are fixed-horizon: their level-alpha decision holds
   only at the **planned sample** (``planned_units`` of this treatment-control pair, or
   ``plan_reached``; without either, the units the target power at the MDE needs,
   ``units_for_power``). Before it, a win counts only at a much stricter **early-stop
   threshold**: two-sided p < ``early_stop_p`` (0.001; Bayesian: chance to win above
   1 − early_stop_p/2), as in the Haybittle–Peto rule. In A/A tests looked at every day up to
   the plan this keeps false ships ≤ 5% (``metrics.stats.simulate``).
4. Primary metric significantly **better** (and the evidence counts) → **ship** if every
   guardrail with a margin is shown non-inferior (and none failed to compute); otherwise
   **keep_running** (safety not yet established). Better but not yet counting →
   **keep_running**.
5. Primary metric significantly **worse** → **dont_ship_harmful** (at any look: stopping a
   harmful change early costs nothing).
6. Not significant:
   - the interval rules out the MDE (every value inside it is smaller than the MDE in the
     tested direction(s)) → **stop_no_effect**: there is no effect as large as the MDE;
   - the plan is reached (or the power at the MDE is ≥ ``power_target``) without that →
     **inconclusive**: the data cannot tell a zero effect from one as large as the MDE;
   - otherwise **keep_running**, with ``days_to_power`` = days_running × (units needed /
     units so far − 1) at the traffic seen so far; beyond ``max_extra_days`` →
     **inconclusive** (the MDE is out of reach in a reasonable time).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from i18n import _
from metrics.stats.engine import MetricResult
from metrics.stats.srm import SRMResult


class RecommendationKind(StrEnum):
    SHIP = "ship"
    KEEP_RUNNING = "keep_running"
    STOP_NO_EFFECT = "stop_no_effect"
    INCONCLUSIVE = "inconclusive"
    DONT_SHIP_HARMFUL = "dont_ship_harmful"
    DONT_SHIP_GUARDRAIL = "dont_ship_guardrail"
    INVALID = "invalid"


EARLY_STOP_P = 0.001  # two-sided p a fixed-horizon win needs before the planned sample


@dataclass(frozen=True)
class Recommendation:
    """What to do, why (sentences with the numbers), and for keep_running how long."""

    kind: RecommendationKind
    reasons: tuple[str, ...]
    days_to_power: float | None = None  # extra days to reach the target power at the MDE
    rule: str = ""  # which decision rule applied (sequential, planned sample, early stop...)


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.1%}"


ADJUSTED_LABELS = {
    "holm": "Holm-adjusted",
    "bonferroni": "Bonferroni-adjusted",
    "fdr_bh": "BH-adjusted",
}
"""How a corrected p-value (and a widened interval) is named in the reasons."""


def _adjusted(r: MetricResult) -> str | None:
    """'Holm-adjusted' etc. when ``r`` carries a frequentist correction, else None."""
    if r.p_value_adjusted is None or not r.correction:
        return None
    return ADJUSTED_LABELS.get(r.correction, f"{r.correction}-adjusted")


def _ci(r: MetricResult) -> str:
    lo, hi = r.relative_ci
    level = f"{1 - r.alpha:.0%}"
    if _adjusted(r) and r.correction != "fdr_bh":  # Holm / Bonferroni widen the interval
        level = str(_adjusted(r))
    if not math.isfinite(lo) and not math.isfinite(hi):
        return f"{level} interval n/a"
    return f"{level} interval {_pct(lo) if math.isfinite(lo) else '−∞'} to " + (
        _pct(hi) if math.isfinite(hi) else "+∞"
    )


def _evidence(r: MetricResult) -> str:
    if r.chance_to_win is not None:
        return _("chance to beat control {chance_to_win:.1%}").format(chance_to_win=r.chance_to_win)
    p = r.p_value_adjusted if r.p_value_adjusted is not None else r.p_value
    label = "always-valid p" if r.engine == "sequential" else "p"
    if _adjusted(r):
        label = f"{_adjusted(r)} {label}"
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


def _p(r: MetricResult) -> float | None:
    return r.p_value_adjusted if r.p_value_adjusted is not None else r.p_value


def _strong(r: MetricResult, early_stop_p: float) -> bool:
    """Evidence beyond the early-stop threshold (two-sided p, or the Bayesian equivalent)."""
    if r.chance_to_win is not None:
        return max(r.chance_to_win, 1 - r.chance_to_win) > 1 - early_stop_p / 2
    p = _p(r)
    if p is None:
        return False
    if r.alternative != "two-sided":
        p = 2 * p
    return p < early_stop_p


def _rules_out_mde(r: MetricResult) -> bool:
    """The relative interval lies strictly inside (−mde, +mde) on the tested side(s)."""
    if r.mde is None or not math.isfinite(r.mde):
        return False
    lo, hi = r.relative_ci
    m = abs(r.mde)
    if r.alternative == "larger":
        return math.isfinite(hi) and hi < m
    if r.alternative == "smaller":
        return math.isfinite(lo) and lo > -m
    return math.isfinite(lo) and math.isfinite(hi) and -m < lo and hi < m


def _aa_failures(primary: MetricResult, guardrails: Sequence[MetricResult]) -> list[str]:
    return [
        _("A/A test shows a difference — {r}.").format(r=_describe(r))
        for r in (primary, *guardrails)
        if r.ok and r.significant
    ]


def recommend(
    primary: MetricResult,
    guardrails: Sequence[MetricResult] = (),
    srm: SRMResult | None = None,
    *,
    days_running: float | None = None,
    power_target: float = 0.8,
    max_extra_days: float = 60.0,
    planned_units: int | None = None,
    plan_reached: bool | None = None,
    early_stop_p: float = EARLY_STOP_P,
    aa_test: bool = False,
) -> Recommendation:
    """Recommend ship / keep_running / stop_no_effect / inconclusive / dont_ship_* / invalid.

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
    planned_units : int, optional
        Planned units of this treatment-control pair (fixed-horizon engines).
    plan_reached : bool, optional
        Overrides the planned-sample check (e.g. True for an experiment that has ended).
    early_stop_p : float
        Two-sided p a fixed-horizon win needs before the planned sample.
    aa_test : bool
        The variants are identical by design: any significant difference invalidates.
    """
    rec = _recommend(
        primary,
        guardrails,
        srm,
        days_running=days_running,
        power_target=power_target,
        max_extra_days=max_extra_days,
        planned_units=planned_units,
        plan_reached=plan_reached,
        early_stop_p=early_stop_p,
        aa_test=aa_test,
    )
    if rec.rule:
        rec = dataclasses.replace(rec, reasons=(*rec.reasons, f"Decision rule: {rec.rule}."))
    return rec


def _recommend(
    primary: MetricResult,
    guardrails: Sequence[MetricResult],
    srm: SRMResult | None,
    *,
    days_running: float | None,
    power_target: float,
    max_extra_days: float,
    planned_units: int | None,
    plan_reached: bool | None,
    early_stop_p: float,
    aa_test: bool,
) -> Recommendation:
    K = RecommendationKind
    if srm is not None and srm.flagged:
        shares = ", ".join(f"{s:.1%}" for s in srm.observed_shares)
        expected = ", ".join(f"{s:.1%}" for s in srm.expected_shares)
        return Recommendation(
            K.INVALID,
            (
                _(
                    "Sample ratio mismatch: observed split {shares} vs "
                    "expected {expected} (chi-square p "
                    "= {p_value:.2g} < {threshold:g}). Fix the "
                    "assignment before trusting any result."
                ).format(
                    shares=shares, expected=expected, p_value=srm.p_value, threshold=srm.threshold
                ),
            ),
        )
    if not primary.ok:
        return Recommendation(
            K.INVALID,
            (
                _("The primary metric could not be analysed: {error_message}").format(
                    error_message=primary.error_message
                ),
            ),
        )
    if aa_test:
        failures = _aa_failures(primary, guardrails)
        if failures:
            failures.append(
                _(
                    "The variants are identical by design, so a significant difference points to a "
                    "tracking, logging or assignment problem: fix it before trusting any test."
                )
            )
            return Recommendation(K.INVALID, tuple(failures), rule="A/A check")
    harmed = [g for g in guardrails if _harmed(g)]
    if harmed:
        return Recommendation(
            K.DONT_SHIP_GUARDRAIL,
            tuple(f"Guardrail harmed — {_describe(g)}." for g in harmed),
            rule="guardrail",
        )
    reasons = [f"Primary metric — {_describe(primary)}."]
    sequential = primary.engine == "sequential"
    if sequential:
        reached, rule = True, _("sequential: always valid at any look")
    elif plan_reached is not None:
        reached = plan_reached
        rule = _("planned end reached") if reached else _("before the planned end")
    else:
        plan = planned_units or primary.units_for_power
        reached = plan is not None and primary.units >= plan
        if planned_units:
            rule = _("planned sample reached") if reached else _("planned sample not reached")
        elif reached:
            rule = _("sample the MDE needs (no plan given) reached")
        else:
            rule = _("sample the MDE needs (no plan given) not reached")
        if plan is None:
            reached, rule = True, _("no plan given: this look is taken as the planned end")
    if primary.direction == "better" and not reached:
        if _strong(primary, early_stop_p):
            rule = _("early stop: p < {early_stop_p:g} before the planned sample").format(
                early_stop_p=early_stop_p
            )
        else:
            reasons.append(
                _(
                    "Significant at {alpha:g}, but before the planned sample: a fixed-horizon test "
                    "looked at early needs a much stricter threshold to stop (two-sided p < "
                    "{early_stop_p:g}); keep running to the plan."
                ).format(alpha=primary.alpha, early_stop_p=early_stop_p)
            )
            return Recommendation(K.KEEP_RUNNING, tuple(reasons), rule=rule)
    if primary.direction == "better":
        pending = []
        for g in guardrails:
            if not g.ok:
                pending.append(
                    _("Guardrail {value} could not be analysed: {error_message}").format(
                        value=g.metric or g.variant, error_message=g.error_message
                    )
                )
            elif g.non_inferiority is not None and not g.non_inferiority.non_inferior:
                ni = g.non_inferiority
                pending.append(
                    _(
                        "Guardrail not yet shown safe — {g}; "
                        "non-inferiority to a {margin:.1%} margin not "
                        "established (p = {p_value:.3g})."
                    ).format(g=_describe(g), margin=ni.margin, p_value=ni.p_value)
                )
        if pending:
            return Recommendation(K.KEEP_RUNNING, tuple(reasons + pending), rule=rule)
        for g in guardrails:
            reasons.append(f"Guardrail OK — {_describe(g)}.")
        return Recommendation(K.SHIP, tuple(reasons), rule=rule)
    if primary.direction == "worse":
        reasons.append(
            _("The treatment is significantly worse on the primary metric: do not ship.")
        )
        return Recommendation(K.DONT_SHIP_HARMFUL, tuple(reasons), rule=rule)
    if primary.mde is not None and _rules_out_mde(primary):
        reasons.append(
            _(
                "No significant effect, and the interval rules out a change as large as the "
                "{mde:.1%} MDE: no effect worth having."
            ).format(mde=abs(primary.mde))
        )
        return Recommendation(K.STOP_NO_EFFECT, tuple(reasons), rule=_("interval excludes the MDE"))
    if primary.power is None or primary.mde is None:
        reasons.append(_("No significant effect; power unknown (no MDE given)."))
        if not sequential and plan_reached:
            return Recommendation(K.INCONCLUSIVE, tuple(reasons), rule=rule)
        return Recommendation(K.KEEP_RUNNING, tuple(reasons), rule=rule)
    mde_text = f"{primary.mde:.1%}"
    if primary.power >= power_target or (reached and not sequential):
        reasons.append(
            _(
                "No significant effect, but the interval still includes changes as large as the "
                '{mde_text} MDE (power {power:.0%}): inconclusive, not "no effect".'
            ).format(mde_text=mde_text, power=primary.power)
        )
        return Recommendation(K.INCONCLUSIVE, tuple(reasons), rule=rule)
    reasons.append(
        _(
            "Not significant yet; power to detect a {mde_text} change is {power:.0%} (target "
            "{power_target:.0%})."
        ).format(mde_text=mde_text, power=primary.power, power_target=power_target)
    )
    days = None
    needed = primary.units_for_power
    if needed and days_running and days_running > 0 and primary.units > 0:
        days = max(days_running * (needed / primary.units - 1), 0.0)
        reasons.append(
            _(
                "At the traffic so far ({value:,.0f} units/day) about {days:,.0f} more days are "
                "needed to reach {needed:,} units."
            ).format(value=primary.units / days_running, days=days, needed=needed)
        )
        if days > max_extra_days:
            reasons.append(
                _(
                    "That is more than {max_extra_days:,.0f} days: "
                    "inconclusive; an effect as large as "
                    "{mde_text} is unlikely to become detectable in a reasonable time."
                ).format(max_extra_days=max_extra_days, mde_text=mde_text)
            )
            return Recommendation(K.INCONCLUSIVE, tuple(reasons), days, rule=rule)
    elif needed:
        reasons.append(
            _("About {needed:,} units in total are needed (now {units:,}).").format(
                needed=needed, units=primary.units
            )
        )
    return Recommendation(K.KEEP_RUNNING, tuple(reasons), days, rule=rule)
