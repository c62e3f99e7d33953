"""Pure helpers behind the experiment pages: list rows, result tables, cumulative effect over
time, traffic split, segment tables with multiple-testing corrections, decision evidence.

No Streamlit and no SQL: inputs are analysis results (``analysis``), cumulative daily
sufficient statistics (``metrics.experiments.sql.fetch_daily_stats``), per-slice statistics
(``fetch_sliced_stats``) and decision records (``data.app_state.decisions``).

Conventions (as in the stats engine): absolute lift = treatment − control in metric units;
relative lift = treatment / control − 1, a fraction of control (0.05 = +5 %). Percentages in
text are formatted from fractions. Decisions (significance, direction, recommendation) are made
on the relative scale; every table shows the p-value of the scale it displays, so a p below
alpha always goes with an interval that excludes 0.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from data.app_state.decisions import DecisionRecord
from data.app_state.store import DecisionKind
from i18n import _
from metrics.experiments.analysis import CORRECTIONS, ExperimentAnalysis, to_jsonable
from metrics.experiments.data import ExperimentInfo
from metrics.stats.engine import MetricResult, analyze_metric
from metrics.stats.multiple import adjust_results
from metrics.stats.recommendation import RecommendationKind
from metrics.stats.sufficient import VariantStats

ENGINE_LABELS: dict[str, str] = {
    "frequentist": "Frequentist (fixed horizon)",
    "bayesian": "Bayesian",
    "sequential": "Sequential (always valid)",
}
CORRECTION_LABELS: dict[str | None, str] = {
    None: "None",
    "holm": "Holm (family-wise error)",
    "bh": "Benjamini–Hochberg (false discovery rate)",
}
RECOMMENDATION_LABELS: dict[str, str] = {
    RecommendationKind.SHIP: "Ship",
    RecommendationKind.KEEP_RUNNING: "Keep running",
    RecommendationKind.STOP_NO_EFFECT: "Stop — no effect",
    RecommendationKind.INCONCLUSIVE: "Inconclusive — effect not ruled out",
    RecommendationKind.DONT_SHIP_HARMFUL: "Don't ship — harmful",
    RecommendationKind.DONT_SHIP_GUARDRAIL: "Don't ship — guardrail harmed",
    RecommendationKind.INVALID: "Invalid — fix the experiment",
}
RECOMMENDATION_TONES: dict[str, str] = {
    RecommendationKind.SHIP: "good",
    RecommendationKind.KEEP_RUNNING: "warn",
    RecommendationKind.STOP_NO_EFFECT: "neutral",
    RecommendationKind.INCONCLUSIVE: "neutral",
    RecommendationKind.DONT_SHIP_HARMFUL: "bad",
    RecommendationKind.DONT_SHIP_GUARDRAIL: "bad",
    RecommendationKind.INVALID: "bad",
}
FOLLOWING_DECISIONS: dict[str, frozenset[DecisionKind]] = {
    RecommendationKind.SHIP: frozenset({DecisionKind.SHIP}),
    RecommendationKind.KEEP_RUNNING: frozenset({DecisionKind.EXTEND}),
    RecommendationKind.STOP_NO_EFFECT: frozenset({DecisionKind.KILL, DecisionKind.ITERATE}),
    RecommendationKind.INCONCLUSIVE: frozenset(
        {DecisionKind.KILL, DecisionKind.ITERATE, DecisionKind.EXTEND}
    ),
    RecommendationKind.DONT_SHIP_HARMFUL: frozenset({DecisionKind.KILL, DecisionKind.ITERATE}),
    RecommendationKind.DONT_SHIP_GUARDRAIL: frozenset({DecisionKind.KILL, DecisionKind.ITERATE}),
    RecommendationKind.INVALID: frozenset({DecisionKind.ITERATE, DecisionKind.KILL}),
}
"""Decisions that follow each recommendation (invalid: fix the set-up and rerun, or stop)."""

SUGGESTED_DECISION: dict[str, DecisionKind] = {
    RecommendationKind.SHIP: DecisionKind.SHIP,
    RecommendationKind.KEEP_RUNNING: DecisionKind.EXTEND,
    RecommendationKind.STOP_NO_EFFECT: DecisionKind.KILL,
    RecommendationKind.INCONCLUSIVE: DecisionKind.ITERATE,
    RecommendationKind.DONT_SHIP_HARMFUL: DecisionKind.KILL,
    RecommendationKind.DONT_SHIP_GUARDRAIL: DecisionKind.ITERATE,
    RecommendationKind.INVALID: DecisionKind.ITERATE,
}
"""The decision the form preselects for each recommendation."""


@dataclass(frozen=True)
class AnalysisOptions:
    """How to analyse an experiment (hashable: a cache key).

    ``correction``: None, 'holm' or 'bh' (applies to frequentist and sequential engines).
    """

    engine: str = "frequentist"
    cuped: bool = False
    correction: str | None = "holm"
    alpha: float = 0.05
    sequential_tuning_n: int | None = None  # sequential n* (the Planner's sequential plan)
    prior_mean: float = 0.0  # Bayesian normal prior on the relative lift (fraction)
    prior_sd: float | None = None  # None: flat prior

    def __post_init__(self) -> None:  # noqa: D105 - validated below
        self._validate()

    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments of ``analyze_experiment`` / ``analyze_quantile_metrics`` that
        choose and tune the engine (engine, alpha, sequential n*, Bayesian prior)."""
        return dict(
            engine_kind=self.engine,
            alpha=self.alpha,
            sequential_tuning_n=self.sequential_tuning_n,
            prior_mean=self.prior_mean,
            prior_sd=self.prior_sd,
        )

    def _validate(self) -> None:
        if self.prior_sd is not None and not (math.isfinite(self.prior_sd) and self.prior_sd > 0):
            raise ValueError(
                _("prior_sd must be a positive fraction or None; got {prior_sd}").format(
                    prior_sd=self.prior_sd
                )
            )
        if self.engine not in ENGINE_LABELS:
            raise ValueError(
                _("unknown engine {engine!r}; use {ENGINE_LABELS}").format(
                    engine=self.engine, ENGINE_LABELS=", ".join(ENGINE_LABELS)
                )
            )
        if self.correction is not None and self.correction not in CORRECTIONS:
            raise ValueError(
                _("unknown correction {correction!r}; use holm, bh or None").format(
                    correction=self.correction
                )
            )


# --- formatting -------------------------------------------------------------------------------


def _finite(x: float | None) -> bool:
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def fmt_pct(x: float | None, *, signed: bool = True, digits: int = 1) -> str:
    """A fraction as a percentage ('+21.3%'); ±∞ as '+∞'/'−∞'; None/NaN as 'n/a'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if math.isinf(x):
        return "+∞" if x > 0 else "−∞"
    return f"{x:+.{digits}%}" if signed else f"{x:.{digits}%}"


def fmt_value(x: float | None, kind: str, *, signed: bool = False) -> str:
    """A metric value (or absolute lift) in its units: rates in % (lifts in pp), else 4 s.f."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if math.isinf(x):
        return "+∞" if x > 0 else "−∞"
    sign = "+" if signed else ""
    if kind == "binomial":
        return f"{x * 100:{sign}.2f} pp" if signed else f"{x:.2%}"
    return f"{x:{sign},.4g}"


def lift_badge(result: MetricResult | None, *, relative: bool = True) -> str:
    """'+21.3% [+12.1%, +30.6%]' (relative) or '+1.20 pp [+0.50 pp, +1.90 pp]' (absolute)."""
    if result is None or not _finite(result.relative_lift if relative else result.absolute_lift):
        return "n/a"
    if relative:
        lo, hi = result.relative_ci
        return f"{fmt_pct(result.relative_lift)} [{fmt_pct(lo)}, {fmt_pct(hi)}]"
    lo, hi = result.absolute_ci
    k = result.kind
    return (
        f"{fmt_value(result.absolute_lift, k, signed=True)} "
        f"[{fmt_value(lo, k, signed=True)}, {fmt_value(hi, k, signed=True)}]"
    )


def fmt_p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


# --- headline numbers -------------------------------------------------------------------------


def _good_lift(r: MetricResult) -> float:
    lift = r.relative_lift if _finite(r.relative_lift) else -math.inf
    return lift if r.higher_is_better else -lift


def headline_result(analysis: ExperimentAnalysis) -> MetricResult | None:
    """The primary metric's result to headline: the recommended variant when there is one,
    else the treatment with the best lift in the good direction (analysable ones first)."""
    primary = analysis.primary
    if primary is None or not primary.results:
        return None
    if analysis.best_variant is not None:
        found = primary.result_for(analysis.best_variant)
        if found is not None:
            return found
    ok = [r for r in primary.results if r.ok]
    return max(ok, key=_good_lift) if ok else primary.results[0]


def units_per_variant(analysis: ExperimentAnalysis) -> dict[str, int]:
    """Units per variant: the SRM counts (first assignments) or, without them, the primary's."""
    if analysis.srm is not None and analysis.info is not None and analysis.srm.observed:
        names = [v.variant for v in analysis.info.variants]
        if len(names) == len(analysis.srm.observed):
            return dict(zip(names, (int(n) for n in analysis.srm.observed), strict=True))
    primary = analysis.primary
    if primary is None:
        return {}
    return {s.variant: int(s.units) for s in primary.stats}


def has_no_units(analysis: ExperimentAnalysis) -> bool:
    """True when no unit has been assigned to any variant yet."""
    return sum(units_per_variant(analysis).values()) == 0


def empty_variants(analysis: ExperimentAnalysis) -> list[str]:
    """Declared variants with zero units (broken assignment or a paused arm)."""
    counts = units_per_variant(analysis)
    if sum(counts.values()) == 0:
        return []
    return [v for v, n in counts.items() if n == 0]


def evidence_label(result: MetricResult) -> tuple[str, str]:
    """(label, value) of the result's main evidence: chance to win, adjusted or plain p."""
    if result.chance_to_win is not None:
        return _("Chance to win"), fmt_pct(result.chance_to_win, signed=False)
    label = "Always-valid p" if result.engine == "sequential" else "p-value"
    if result.p_value_adjusted is not None:
        name = {"holm": "Holm", "fdr_bh": "BH"}.get(str(result.correction), result.correction)
        return f"{label} ({name}-adjusted)", fmt_p(result.p_value_adjusted)
    return label, fmt_p(result.p_value)


@dataclass(frozen=True)
class Verdict:
    """What the verdict card shows; ``tone`` is good / bad / warn / neutral."""

    kind: str
    label: str
    tone: str
    reasons: tuple[str, ...]
    metric_label: str
    variant: str | None
    lift: str
    interval: str
    evidence_name: str
    evidence: str
    power: str
    days_to_go: str
    srm: str
    interval_name: str = ""  # e.g. '95% interval' or 'Holm-adjusted interval' (empty: n/a)


def verdict(analysis: ExperimentAnalysis) -> Verdict:
    """The recommendation and the headline numbers that drive it."""
    rec = analysis.recommendation
    r = headline_result(analysis)
    primary = analysis.primary
    if analysis.srm is None:
        srm = "not checked"
    elif analysis.srm.flagged:
        srm = f"mismatch (p = {analysis.srm.p_value:.2g})"
    else:
        srm = f"OK (p = {fmt_p(analysis.srm.p_value)})"
    if rec.days_to_power is not None:
        days = f"≈ {rec.days_to_power:,.0f} more days"
    elif rec.kind is RecommendationKind.KEEP_RUNNING:
        days = "unknown"
    else:
        days = "—"
    if r is None or not r.ok:
        return Verdict(
            rec.kind.value,
            RECOMMENDATION_LABELS[rec.kind],
            RECOMMENDATION_TONES[rec.kind],
            rec.reasons,
            primary.label if primary else "primary metric",
            r.variant if r else None,
            "n/a",
            "n/a",
            "p-value",
            "n/a",
            "n/a",
            days,
            srm,
        )
    lo, hi = r.relative_ci
    name, value = evidence_label(r)
    return Verdict(
        rec.kind.value,
        RECOMMENDATION_LABELS[rec.kind],
        RECOMMENDATION_TONES[rec.kind],
        rec.reasons,
        primary.label if primary else r.metric,
        r.variant,
        fmt_pct(r.relative_lift),
        f"{fmt_pct(lo)} to {fmt_pct(hi)}",
        name,
        value,
        "n/a"
        if r.power is None
        else f"{r.power:.0%} for a {fmt_pct(r.mde, signed=False, digits=0)} MDE",
        days,
        srm,
        interval_name(r),
    )


def interval_name(r: MetricResult) -> str:
    """What the relative interval of ``r`` is: '95% interval', or 'Holm-adjusted interval' /
    'Bonferroni-adjusted interval' when a correction widened it (BH leaves it at 95%)."""
    from metrics.stats.recommendation import ADJUSTED_LABELS

    if r.p_value_adjusted is not None and r.correction in ("holm", "bonferroni"):
        return f"{ADJUSTED_LABELS[r.correction]} interval"
    return f"{1 - r.alpha:.0%} interval"


# --- experiment list --------------------------------------------------------------------------

LIST_COLUMNS: tuple[str, ...] = (
    "experiment_id",
    "name",
    "status",
    "loop_stage",
    "days_running",
    "units",
    "primary_metric",
    "variant",
    "lift",
    "relative_lift",
    "ci_low",
    "ci_high",
    "recommendation",
    "recommendation_kind",
    "srm",
    "srm_p_value",
    "decision",
    "decision_version",
    "decided_by",
    "problem",
)


def list_rows(
    infos: Sequence[ExperimentInfo],
    analyses: Mapping[str, ExperimentAnalysis],
    decisions: Mapping[str, DecisionRecord],
    problems: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per experiment (``LIST_COLUMNS``): status, loop stage, days running, units per
    variant ('control 1,200 · treatment 1,180'), the primary metric's headline lift as a badge
    and its numbers (relative lift and interval, fractions), the recommendation, the SRM flag
    and the latest recorded decision. ``problems`` holds per-experiment analysis errors."""
    problems = problems or {}
    rows: list[dict[str, Any]] = []
    for info in infos:
        a = analyses.get(info.experiment_id)
        d = decisions.get(info.experiment_id)
        row: dict[str, Any] = {
            "experiment_id": info.experiment_id,
            "name": info.name,
            "status": info.status,
            "loop_stage": info.loop_stage,
            "days_running": info.days_running,
            "units": "n/a",
            "primary_metric": info.primary_metric,
            "variant": None,
            "lift": "n/a",
            "relative_lift": math.nan,
            "ci_low": math.nan,
            "ci_high": math.nan,
            "recommendation": "n/a",
            "recommendation_kind": None,
            "srm": "not checked",
            "srm_p_value": math.nan,
            "decision": d.decision.value if d else "",
            "decision_version": d.version if d else None,
            "decided_by": d.decided_by if d else "",
            "problem": problems.get(info.experiment_id, ""),
        }
        if a is not None:
            counts = units_per_variant(a)
            row["units"] = " · ".join(f"{v} {n:,}" for v, n in counts.items()) or "n/a"
            r = headline_result(a)
            if r is not None and r.ok:
                lo, hi = r.relative_ci
                many = len(a.variants) > 2
                badge = lift_badge(r)
                row |= {
                    "variant": r.variant,
                    "lift": f"{badge} (best: {r.variant})" if many else badge,
                    "relative_lift": r.relative_lift,
                    "ci_low": lo,
                    "ci_high": hi,
                }
            elif r is not None and not row["problem"]:
                row["problem"] = r.error_message or ""
            row["recommendation"] = RECOMMENDATION_LABELS[a.recommendation.kind]
            row["recommendation_kind"] = a.recommendation.kind.value
            if a.srm is not None and a.srm.error_message is None:
                row["srm"] = "⚠ mismatch" if a.srm.flagged else "ok"
                row["srm_p_value"] = a.srm.p_value
            if has_no_units(a):
                row["problem"] = problems.get(info.experiment_id) or _("no units assigned yet")
        rows.append(row)
    return pd.DataFrame(rows, columns=list(LIST_COLUMNS))


def filter_rows(
    rows: pd.DataFrame,
    *,
    statuses: Iterable[str] = (),
    loop_stages: Iterable[str] = (),
    recommendations: Iterable[str] = (),
) -> pd.DataFrame:
    """Rows matching every non-empty filter (recommendations are ``recommendation_kind``)."""
    keep = pd.Series(True, index=rows.index)
    for column, wanted in (
        ("status", statuses),
        ("loop_stage", loop_stages),
        ("recommendation_kind", recommendations),
    ):
        values = list(wanted)
        if values:
            keep &= rows[column].isin(values)
    return rows[keep]


# --- metrics table ----------------------------------------------------------------------------


def metric_rows(analysis: ExperimentAnalysis, *, relative: bool = True) -> pd.DataFrame:
    """One row per metric × treatment: role, label, variant, means, lift with its interval
    (relative: fractions of control; absolute: metric units), p / adjusted p / chance to win,
    power, CUPED variance reduction (fraction of the lift's variance removed), direction
    ('better' / 'worse' / 'inconclusive') and any error or warning as ``note``.

    ``p_value`` / ``p_adjusted`` are those of the displayed scale: the relative-lift test
    (the decision) by default, the absolute-lift test with ``relative=False``, so each row's
    p and interval agree. ``direction`` always follows the decision (relative) scale."""
    rows: list[dict[str, Any]] = []
    for m in analysis.metrics:
        results: Sequence[MetricResult | None] = m.results or [None]
        for r in results:
            note = m.error_message or ""
            if r is not None:
                note = r.error_message or "; ".join(r.warnings) or note
            if r is None or not r.ok:
                lift = lo = hi = math.nan
            elif relative:
                lift, (lo, hi) = r.relative_lift, r.relative_ci
            else:
                lift, (lo, hi) = r.absolute_lift, r.absolute_ci
            if r is None:
                p = p_adj = None
            elif relative:
                p, p_adj = r.p_value, r.p_value_adjusted
            else:
                p, p_adj = r.absolute_p_value, r.absolute_p_value_adjusted
            rows.append(
                {
                    "role": m.role,
                    "metric": m.name,
                    "label": m.label,
                    "kind": m.kind,
                    "variant": r.variant if r else "",
                    "control_mean": r.control_mean if r else math.nan,
                    "treatment_mean": r.treatment_mean if r else math.nan,
                    "lift": lift,
                    "ci_low": lo,
                    "ci_high": hi,
                    "lift_text": lift_badge(r, relative=relative)
                    if r is not None and r.ok
                    else "n/a",
                    "p_value": p if p is not None else math.nan,
                    "p_adjusted": p_adj if p_adj is not None else math.nan,
                    "chance_to_win": r.chance_to_win
                    if r and r.chance_to_win is not None
                    else math.nan,
                    "power": r.power if r and r.power is not None else math.nan,
                    "variance_reduction": r.variance_reduction
                    if r and r.variance_reduction is not None
                    else math.nan,
                    "direction": r.direction if r else "inconclusive",
                    "higher_is_better": m.higher_is_better,
                    "units": r.units if r else 0,
                    "note": note,
                }
            )
    return pd.DataFrame(rows)


# --- over time --------------------------------------------------------------------------------

_STAT_FIELDS = tuple(f.name for f in dataclasses.fields(VariantStats) if f.name != "variant")


def _stats_from_row(variant: str, row: Mapping[str, Any]) -> VariantStats:
    values: dict[str, Any] = {}
    for name in _STAT_FIELDS:
        raw = row.get(name)
        if name in ("units", "sum", "sum_sq"):
            values[name] = int(raw) if name == "units" else float(raw or 0.0)
        else:
            values[name] = None if raw is None or pd.isna(raw) else float(raw)
    return VariantStats(variant=variant, **values)


CUMULATIVE_COLUMNS = (
    "day",
    "day_number",
    "variant",
    "control_units",
    "treatment_units",
    "relative_lift",
    "ci_low",
    "ci_high",
    "p_value",
    "chance_to_win",
    "error",
)


def peeking_note(engine: str) -> str | None:
    """Warning for the day-by-day chart: fixed-horizon intervals are not valid under peeking.

    None for the sequential engine, whose confidence sequences hold at every look.
    """
    if engine == "sequential":
        return None
    return _(
        "These are {engine} fixed-horizon intervals, valid only when read once, at the "
        "planned end. Reading them daily and stopping when one excludes 0 inflates false "
        "positives (about 28% instead of 5% over 30 daily looks, by simulation). To decide "
        "before the planned end, use the sequential engine."
    ).format(engine=engine)


def cumulative_effect(
    daily: pd.DataFrame,
    control: str,
    kind: str,
    *,
    higher_is_better: bool = True,
    engine: str = "frequentist",
    alpha: float = 0.05,
    cuped: bool = False,
    sequential_tuning_n: float | None = None,
) -> pd.DataFrame:
    """Relative lift of each treatment vs ``control`` with its interval, day by day.

    ``daily``: cumulative sufficient statistics per (``day``, ``variant``) as returned by
    ``fetch_daily_stats`` (statistics of all units assigned on or before ``day``). Each day is
    analysed as if the experiment had been read then (same engine and level; ``p_value`` is
    the relative-lift test matching the interval, always-valid for the sequential engine).
    ``day_number``
    counts days since the first assignment day (1 = first day). Days where the comparison
    cannot be made yet (e.g. no conversions) have NaN lift and the reason in ``error``.
    """
    if daily.empty:
        return pd.DataFrame(columns=list(CUMULATIVE_COLUMNS))
    frame = daily.sort_values(["day", "variant"])
    first = frame["day"].min()
    rows: list[dict[str, Any]] = []
    for day, group in frame.groupby("day", sort=True):
        by_variant = {str(rec["variant"]): rec for rec in group.to_dict("records")}
        if control not in by_variant:
            continue
        ctrl = _stats_from_row(control, by_variant[control])
        for variant, rec in by_variant.items():
            if variant == control:
                continue
            r = analyze_metric(
                ctrl,
                _stats_from_row(variant, rec),
                kind,
                engine=engine,  # type: ignore[arg-type]
                alpha=alpha,
                cuped=cuped,
                higher_is_better=higher_is_better,
                mde=None,
                **({"sequential_tuning_n": sequential_tuning_n} if sequential_tuning_n else {}),
            )
            lo, hi = r.relative_ci
            rows.append(
                {
                    "day": day,
                    "day_number": int((pd.Timestamp(day) - pd.Timestamp(first)).days) + 1,
                    "variant": variant,
                    "control_units": r.control_units,
                    "treatment_units": r.treatment_units,
                    "relative_lift": r.relative_lift if r.ok else math.nan,
                    "ci_low": lo if r.ok else math.nan,
                    "ci_high": hi if r.ok else math.nan,
                    "p_value": r.p_value if r.ok and r.p_value is not None else math.nan,
                    "chance_to_win": r.chance_to_win if r.chance_to_win is not None else math.nan,
                    "error": r.error_message or "",
                }
            )
    return pd.DataFrame(rows, columns=list(CUMULATIVE_COLUMNS))


def traffic_split(assignments: pd.DataFrame, expected_shares: Mapping[str, float]) -> pd.DataFrame:
    """Daily units per variant with each variant's share of the day's units and the design.

    ``assignments``: ``fetch_daily_assignments`` output (``day``, ``variant``, ``units``,
    ``cumulative_units``). Adds ``share`` (of that day's units; NaN on a day without units),
    ``cumulative_share`` (of all units so far) and ``expected_share`` (the declared shares,
    normalised to sum to 1; NaN for an undeclared variant).
    """
    out = assignments.copy()
    if out.empty:
        return out.assign(share=[], cumulative_share=[], expected_share=[])
    total = sum(float(s) for s in expected_shares.values())
    day_total = out.groupby("day")["units"].transform("sum").astype(float)
    cum_total = out.groupby("day")["cumulative_units"].transform("sum").astype(float)
    out["share"] = out["units"] / day_total.where(day_total > 0)
    out["cumulative_share"] = out["cumulative_units"] / cum_total.where(cum_total > 0)
    out["expected_share"] = [
        float(expected_shares[v]) / total if v in expected_shares and total > 0 else math.nan
        for v in out["variant"]
    ]
    return out


# --- segments ---------------------------------------------------------------------------------

SEGMENT_COLUMNS = (
    "slice",
    "variant",
    "control_units",
    "treatment_units",
    "control_mean",
    "treatment_mean",
    "relative_lift",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "significant",
    "direction",
    "note",
)


def segment_table(
    sliced: Mapping[str, Sequence[VariantStats]],
    control: str,
    kind: str,
    *,
    higher_is_better: bool = True,
    correction: str | None = "holm",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Per slice × treatment: frequentist relative lift, interval and p, corrected across
    all slices.

    ``p_value`` tests the relative lift (delta method), the quantity the interval shows. The
    family is every (slice, treatment) comparison with a p-value: Holm (family-wise error
    rate; intervals widened so that ``significant`` ⇔ the interval excludes 0) or
    Benjamini–Hochberg ('bh': false discovery rate; p-values only — the intervals stay the
    unadjusted 1 − alpha ones, so a BH-significant slice excludes 0 but not conversely).
    Without a correction ``p_adjusted`` equals ``p_value``. ``significant`` uses the adjusted
    p-value at ``alpha``. Relative lower bounds below −100% are clipped (see ``note``).
    """
    keys: list[tuple[str, str]] = []
    results: list[MetricResult] = []
    for label, stats in sliced.items():
        by_name = {s.variant: s for s in stats}
        ctrl = by_name.get(control)
        for s in stats:
            if s.variant == control:
                continue
            keys.append((label, s.variant))
            results.append(
                analyze_metric(
                    ctrl, s, kind, alpha=alpha, higher_is_better=higher_is_better, mde=None
                )
            )
    method = CORRECTIONS.get(correction) if correction else None
    if method and len(results) > 1:
        results = adjust_results(results, method, alpha)
    rows = []
    for (label, variant), r in zip(keys, results, strict=True):
        lo, hi = r.relative_ci
        p = r.p_value if r.ok and r.p_value is not None else math.nan
        p_adj = r.p_value_adjusted if r.p_value_adjusted is not None else p
        rows.append(
            {
                "slice": label,
                "variant": variant,
                "control_units": r.control_units,
                "treatment_units": r.treatment_units,
                "control_mean": r.control_mean,
                "treatment_mean": r.treatment_mean,
                "relative_lift": r.relative_lift if r.ok else math.nan,
                "ci_low": lo if r.ok else math.nan,
                "ci_high": hi if r.ok else math.nan,
                "p_value": p,
                "p_adjusted": p_adj,
                "significant": bool(math.isfinite(p_adj) and p_adj < alpha),
                "direction": r.direction,
                "note": r.error_message or "; ".join(r.warnings),
            }
        )
    return pd.DataFrame(rows, columns=list(SEGMENT_COLUMNS))


# --- decisions --------------------------------------------------------------------------------


def follows_recommendation(decision: DecisionKind | str, recommendation: str | None) -> bool | None:
    """Whether ``decision`` follows ``recommendation`` (None when there is none)."""
    if recommendation is None or recommendation not in FOLLOWING_DECISIONS:
        return None
    return DecisionKind(decision) in FOLLOWING_DECISIONS[recommendation]


def evidence_snapshot(
    analysis: ExperimentAnalysis, options: AnalysisOptions, *, relative: bool = True
) -> dict[str, Any]:
    """The numbers shown when deciding, as a JSON-able dict (NaN → None).

    Per metric × treatment: relative and absolute lift with intervals, p and adjusted p of
    each scale (``p_value``: relative, the decision; ``absolute_p_value``), chance to win,
    power, CUPED variance reduction, direction and units; plus the SRM test, engine, options
    and recommendation with its reasons.
    """
    metrics = []
    for m in analysis.metrics:
        for r in m.results:
            metrics.append(
                {
                    "metric": m.name,
                    "role": m.role,
                    "variant": r.variant,
                    "relative_lift": r.relative_lift,
                    "relative_ci": list(r.relative_ci),
                    "absolute_lift": r.absolute_lift,
                    "absolute_ci": list(r.absolute_ci),
                    "p_value": r.p_value,
                    "p_value_adjusted": r.p_value_adjusted,
                    "absolute_p_value": r.absolute_p_value,
                    "absolute_p_value_adjusted": r.absolute_p_value_adjusted,
                    "chance_to_win": r.chance_to_win,
                    "power": r.power,
                    "variance_reduction": r.variance_reduction,
                    "direction": r.direction,
                    "control_units": r.control_units,
                    "treatment_units": r.treatment_units,
                    "error": r.error_message,
                }
            )
    srm = analysis.srm
    snapshot = {
        "experiment_id": analysis.experiment_id,
        "engine": analysis.engine,
        "options": {
            "engine": options.engine,
            "cuped": options.cuped,
            "correction": options.correction,
            "alpha": options.alpha,
            "lift_scale": "relative" if relative else "absolute",
        },
        "recommendation": analysis.recommendation.kind.value,
        "reasons": list(analysis.recommendation.reasons),
        "best_variant": analysis.best_variant,
        "days_running": analysis.days_running,
        "srm": None
        if srm is None
        else {"p_value": srm.p_value, "flagged": srm.flagged, "observed": list(srm.observed)},
        "metrics": metrics,
    }
    return to_jsonable(snapshot)


_TRACKED = (
    ("decision", "decision"),
    ("decided_by", "decided by"),
    ("rationale", "rationale"),
    ("target_kpi", "target KPI"),
    ("expected_impact", "expected impact"),
    ("rollout_date", "rollout date"),
)


def _show(field: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if field == "expected_impact":
        return fmt_pct(float(value))
    return str(getattr(value, "value", value))


def history_rows(history: Sequence[DecisionRecord]) -> pd.DataFrame:
    """Decision versions newest first, with ``changes``: what differs from the version before.

    A changed rationale is summarised as 'rationale edited'; other fields as 'old → new'.
    """
    ordered = sorted(history, key=lambda r: r.version)
    rows = []
    previous: DecisionRecord | None = None
    for rec in ordered:
        if previous is None:
            changes = "first decision"
        else:
            parts = []
            for attr, name in _TRACKED:
                old, new = getattr(previous, attr), getattr(rec, attr)
                if old == new:
                    continue
                if attr == "rationale":
                    parts.append("rationale edited")
                else:
                    parts.append(f"{name}: {_show(attr, old)} → {_show(attr, new)}")
            changes = "; ".join(parts) or _("re-recorded (no field changed)")
        rows.append(
            {
                "version": rec.version,
                "recorded_at": rec.recorded_at.strftime("%Y-%m-%d %H:%M UTC"),
                "decided_by": rec.decided_by,
                "decision": rec.decision.value,
                "followed_recommendation": rec.followed_recommendation,
                "recommendation_at_decision": rec.recommendation_at_decision or "",
                "changes": changes,
                "rationale": rec.rationale,
                "target_kpi": rec.target_kpi or "",
                "expected_impact": rec.expected_impact,
                "rollout_date": rec.rollout_date,
            }
        )
        previous = rec
    frame = pd.DataFrame(rows)
    return frame.iloc[::-1].reset_index(drop=True) if not frame.empty else frame


def quantile_rows(results: Sequence[MetricResult], labels: Mapping[str, str]) -> pd.DataFrame:
    """Rows for the order-value quantile table: ``metric`` (label), ``variant``, buyers per arm,
    control and treatment values (USD), ``lift`` (relative, with its interval), ``p`` (p-value,
    or chance to win for the Bayesian engine), ``significant`` and a ``note`` (the error or
    first warning, if any)."""
    rows = []
    for r in results:
        bayes = r.engine == "bayesian"
        rows.append(
            dict(
                metric=labels.get(r.metric, r.metric),
                variant=r.variant,
                control_units=r.control_units,
                treatment_units=r.treatment_units,
                control_value=fmt_value(r.control_mean, "quantile"),
                treatment_value=fmt_value(r.treatment_mean, "quantile"),
                lift=lift_badge(r) if r.ok else "n/a",
                p=(fmt_pct(r.chance_to_win, signed=False) if r.chance_to_win is not None else "n/a")
                if bayes
                else fmt_p(r.p_value),
                significant=bool(r.ok and r.significant),
                note=r.error_message or (r.warnings[0] if r.warnings else ""),
            )  # fmt: skip
        )
    columns = ["metric", "variant", "control_units", "treatment_units", "control_value",
               "treatment_value", "lift", "p", "significant", "note"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
