"""Analyse an experiment end to end: warehouse sufficient statistics → stats engine → decision.

``analyze_experiment`` (warehouse) and ``analyze_summary`` (per-variant numbers, e.g. a CSV)
both end in ``analyze_stats``, a pure function:

1. **SRM**: chi-square of units per variant (first assignments) vs the declared expected shares
   (``metrics.stats.srm``; flagged at p < 0.001).
2. **Per metric × treatment**: ``metrics.stats.engine.analyze_variants`` against the control,
   with the chosen engine (frequentist / bayesian / sequential), optional CUPED (metrics with a
   pre-period covariate only) and the power to detect ``mde`` (relative, fraction of control).
3. **Multiple testing** (frequentist and sequential engines): one family made of every primary
   and secondary metric × treatment comparison, adjusted with Holm (FWER) or Benjamini–Hochberg
   (FDR). Guardrails are *not* adjusted: for safety checks a false alarm is cheaper than a miss.
   The adjustment is made on the decision scale (relative lift: ``p_value_adjusted``,
   ``significant``; Holm also widens ``relative_ci`` so it excludes 0 exactly when the adjusted
   p < alpha) and, separately, on the absolute-lift p-values (``absolute_p_value_adjusted``,
   ``absolute_ci``) for displays in metric units. BH leaves the intervals unadjusted.
4. **Recommendation** per treatment (``metrics.stats.recommendation.recommend``: SRM, guardrail
   harm, primary significance, power). The experiment's recommendation is *ship* with the best
   shippable treatment (largest relative lift in the good direction) when any treatment ships,
   otherwise the most severe of the treatments' recommendations
   (invalid > dont_ship_guardrail > dont_ship_harmful > keep_running > inconclusive >
   stop_no_effect).

Nothing here raises for statistical problems: they are carried in ``error_message`` fields.
Warehouse errors (unreachable, missing tables) and unknown experiment ids do raise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine

from data.serving.store import ServingStore
from i18n import _
from metrics.experiments.data import ExperimentInfo, get_experiment
from metrics.experiments.definitions import (
    EXPERIMENT_METRICS,
    QUANTILE_METRICS,
    ExperimentMetric,
    QuantileMetric,
)
from metrics.experiments.served import route
from metrics.experiments.sql import (
    fetch_assignment_counts,
    fetch_experiment_stats,
    fetch_quantile_stats,
)
from metrics.stats.engine import (
    DEFAULT_MDE,
    ENGINES,
    MetricResult,
    analyze_quantile,
    analyze_variants,
)
from metrics.stats.multiple import adjust_results
from metrics.stats.recommendation import Recommendation, RecommendationKind, recommend
from metrics.stats.srm import SRMResult, srm_test
from metrics.stats.sufficient import VariantStats

Role = Literal["primary", "secondary", "guardrail"]
EngineKind = Literal["frequentist", "bayesian", "sequential"]
CORRECTIONS: dict[str, str] = {"holm": "holm", "bh": "fdr_bh", "fdr_bh": "fdr_bh"}
"""Accepted ``correction`` names → ``metrics.stats.multiple`` method."""

_SEVERITY = (
    RecommendationKind.INVALID,
    RecommendationKind.DONT_SHIP_GUARDRAIL,
    RecommendationKind.DONT_SHIP_HARMFUL,
    RecommendationKind.KEEP_RUNNING,
    RecommendationKind.INCONCLUSIVE,
    RecommendationKind.STOP_NO_EFFECT,
    RecommendationKind.SHIP,
)


@dataclass(frozen=True)
class MetricInput:
    """What ``analyze_stats`` needs for one metric: its definition, role and statistics."""

    name: str
    role: Role
    kind: str  # 'binomial' | 'mean' | 'ratio'
    higher_is_better: bool
    stats: tuple[VariantStats, ...]
    label: str = ""
    cuped: bool = False  # covariate sums are present and CUPED is wanted
    error_message: str | None = None  # e.g. a metric name missing from the catalog


@dataclass(frozen=True)
class MetricAnalysis:
    """One metric: its per-variant statistics and one ``MetricResult`` per treatment."""

    name: str
    label: str
    role: Role
    kind: str
    higher_is_better: bool
    stats: tuple[VariantStats, ...]
    results: tuple[MetricResult, ...]
    error_message: str | None = None

    def result_for(self, variant: str) -> MetricResult | None:
        return next((r for r in self.results if r.variant == variant), None)


@dataclass(frozen=True)
class ExperimentAnalysis:
    """The analysis of one experiment (typed; ``to_dict()`` gives a JSON-able dict)."""

    experiment_id: str
    name: str
    control: str
    variants: tuple[str, ...]
    engine: str
    cuped: bool
    correction: str | None
    alpha: float
    srm: SRMResult | None
    metrics: tuple[MetricAnalysis, ...]
    recommendation: Recommendation
    best_variant: str | None  # the treatment to ship (None unless the recommendation is ship)
    variant_recommendations: tuple[tuple[str, Recommendation], ...]
    days_running: float | None = None
    info: ExperimentInfo | None = None
    warnings: tuple[str, ...] = ()
    source: str | None = None  # 'serving' | 'live' (warehouse front end); None for a summary
    source_reason: str = ""  # why live (empty when served)
    refreshed_at: dt.datetime | None = None  # the serving store's last refresh (UTC), if served

    @property
    def primary(self) -> MetricAnalysis | None:
        return next((m for m in self.metrics if m.role == "primary"), None)

    def metric(self, name: str) -> MetricAnalysis | None:
        return next((m for m in self.metrics if m.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict: NaN/inf → None, enums → values, datetimes → ISO text."""
        return to_jsonable(self)


def to_jsonable(value: Any) -> Any:
    """Plain JSON-able value: dataclasses → dicts, NaN/inf → None, enums → values."""
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


# --- the pure part ------------------------------------------------------------------------


def _error_analysis(m: MetricInput, message: str) -> MetricAnalysis:
    return MetricAnalysis(
        m.name, m.label or m.name, m.role, m.kind, m.higher_is_better, m.stats, (), message
    )


def _good_lift(r: MetricResult) -> float:
    lift = r.relative_lift if math.isfinite(r.relative_lift) else -math.inf
    return lift if r.higher_is_better else -lift


def _merged_reasons(per_variant: Sequence[tuple[str, Recommendation]]) -> tuple[str, ...]:
    """Reasons of all treatments: shared ones once, the others prefixed with the variant."""
    merged: list[str] = []
    for variant, rec in per_variant:
        for reason in rec.reasons:
            shared = all(reason in other.reasons for _, other in per_variant)
            text = reason if shared else f"{variant}: {reason}"
            if text not in merged:
                merged.append(text)
    return tuple(merged)


def analyze_stats(
    *,
    experiment_id: str,
    name: str,
    control: str,
    metrics: Sequence[MetricInput],
    assignment_counts: dict[str, int] | None = None,
    expected_shares: dict[str, float] | None = None,
    engine: EngineKind = "frequentist",
    correction: str | None = "holm",
    alpha: float = 0.05,
    mde: float = DEFAULT_MDE,
    guardrail_margin: float | None = None,
    days_running: float | None = None,
    info: ExperimentInfo | None = None,
    warnings: Sequence[str] = (),
    sequential_tuning_n: float | None = None,
    planned_units: int | None = None,
    plan_reached: bool | None = None,
    aa_test: bool = False,
    prior_mean: float = 0.0,
    prior_sd: float | None = None,
) -> ExperimentAnalysis:
    """Analyse pre-computed statistics (see the module docstring for the steps).

    The plan (``metrics.stats.recommendation``): ``planned_units`` per treatment-control pair,
    or ``plan_reached`` (e.g. the experiment has ended); ``sequential_tuning_n`` is the
    sequential engine's n*, fixed before the data (take it from the Planner's sequential plan;
    default ``sequential.DEFAULT_TUNING_N``). ``aa_test``: any significant difference makes the
    recommendation *invalid* (a likely tracking problem).

    ``assignment_counts`` and ``expected_shares`` (by variant) drive the SRM check; without
    ``expected_shares`` the SRM check is skipped (``srm=None``). ``guardrail_margin`` (relative,
    fraction of control) adds a non-inferiority test to guardrails; without it a guardrail is
    harmed when significantly worse at ``alpha``.
    """
    if engine not in ENGINES:
        raise ValueError(
            _("unknown engine {engine!r}; use one of {ENGINES}").format(
                engine=engine, ENGINES=", ".join(ENGINES)
            )
        )
    if correction is not None and correction not in CORRECTIONS:
        raise ValueError(
            _("unknown correction {correction!r}; use holm, bh or none").format(
                correction=correction
            )
        )
    notes = list(warnings)

    srm = None
    counts = dict(assignment_counts or {})
    if expected_shares is not None and counts:
        undeclared = sorted(set(counts) - set(expected_shares))
        if undeclared:
            notes.append(
                _("SRM not checked: undeclared variants in assignments: {undeclared}").format(
                    undeclared=undeclared
                )
            )
        else:
            order = list(expected_shares)
            srm = srm_test([counts.get(v, 0) for v in order], [expected_shares[v] for v in order])
            if srm.error_message:
                notes.append(
                    _("SRM not checked: {error_message}").format(error_message=srm.error_message)
                )

    analyses: list[MetricAnalysis] = []
    for m in metrics:
        if m.error_message:
            analyses.append(_error_analysis(m, m.error_message))
            continue
        results = analyze_variants(
            list(m.stats),
            control,
            m.kind,
            metric=m.name,
            engine=engine,
            alpha=alpha,
            cuped=m.cuped,
            higher_is_better=m.higher_is_better,
            mde=mde,
            noninferiority_margin=guardrail_margin if m.role == "guardrail" else None,
            **({"sequential_tuning_n": sequential_tuning_n} if sequential_tuning_n else {}),
            # Bayesian A/B/n: Bonferroni-level credible intervals across the treatments
            correction=correction if engine == "bayesian" and m.role != "guardrail" else None,
            prior_mean=prior_mean,
            prior_sd=prior_sd,
        )
        analyses.append(
            MetricAnalysis(
                m.name,
                m.label or m.name,
                m.role,
                m.kind,
                m.higher_is_better,
                m.stats,
                tuple(results),
            )
        )

    method = CORRECTIONS.get(correction) if correction else None
    if method and engine != "bayesian":
        family = [
            (i, r) for i, a in enumerate(analyses) if a.role != "guardrail" for r in a.results
        ]
        if len(family) > 1:
            adjusted = iter(adjust_results([r for _, r in family], method, alpha))
            by_metric: dict[int, list[MetricResult]] = {}
            for i, _member in family:
                by_metric.setdefault(i, []).append(next(adjusted))
            for i, res in by_metric.items():
                analyses[i] = dataclasses.replace(analyses[i], results=tuple(res))

    primary = next((a for a in analyses if a.role == "primary"), None)
    guardrails = [a for a in analyses if a.role == "guardrail"]
    per_variant: list[tuple[str, Recommendation]] = []
    if primary is None or primary.error_message or not primary.results:
        why = (primary.error_message if primary else None) or _("no primary metric")
        reasons = [_("The primary metric could not be analysed: {why}").format(why=why)]
        if srm is not None and srm.flagged:
            reasons.insert(
                0,
                _("Sample ratio mismatch (chi-square p = {p_value:.2g}).").format(
                    p_value=srm.p_value
                ),
            )
        overall = Recommendation(RecommendationKind.INVALID, tuple(reasons))
        best = None
    else:
        for r in primary.results:
            g_results = [g.result_for(r.variant) for g in guardrails]
            rec = recommend(
                r,
                [g for g in g_results if g is not None],
                srm,
                days_running=days_running,
                planned_units=planned_units,
                plan_reached=plan_reached,
                aa_test=aa_test,
            )
            per_variant.append((r.variant, rec))
        shipping = [
            r
            for r, (_, rec) in zip(primary.results, per_variant, strict=True)
            if rec.kind is RecommendationKind.SHIP
        ]
        if shipping:
            best = max(shipping, key=_good_lift).variant
            overall = dict(per_variant)[best]
            if len(per_variant) > 1:
                overall = dataclasses.replace(
                    overall, reasons=(f"Best variant: {best}.", *overall.reasons)
                )
        else:
            best = None
            overall = min((rec for _, rec in per_variant), key=lambda x: _SEVERITY.index(x.kind))
        if len(per_variant) > 1 and not shipping:
            overall = dataclasses.replace(overall, reasons=_merged_reasons(per_variant))

    variants = tuple(
        dict.fromkeys([control, *counts, *(s.variant for m in metrics for s in m.stats)])
    )
    return ExperimentAnalysis(
        experiment_id=experiment_id,
        name=name,
        control=control,
        variants=variants,
        engine=engine,
        cuped=any(m.cuped for m in metrics),
        correction=method if engine != "bayesian" else None,
        alpha=alpha,
        srm=srm,
        metrics=tuple(analyses),
        recommendation=overall,
        best_variant=best,
        variant_recommendations=tuple(per_variant),
        days_running=days_running,
        info=info,
        warnings=tuple(notes),
    )


# --- warehouse and summary front ends -----------------------------------------------------


def metric_roles(info: ExperimentInfo, metric: str | None = None) -> list[tuple[str, Role]]:
    """``(metric name, role)`` for the experiment: primary, secondary, guardrails (deduped).

    With ``metric``, only that one (its declared role, or 'primary' if the experiment does
    not declare it).
    """
    roles: dict[str, Role] = {info.primary_metric: "primary"}
    for n in info.secondary_metrics:
        roles.setdefault(n, "secondary")
    for n in info.guardrail_metrics:
        roles.setdefault(n, "guardrail")
    if metric is not None:
        return [(metric, roles.get(metric, "primary"))]
    return list(roles.items())


def analyze_experiment(
    engine: Engine,
    experiment_id: str,
    *,
    metric: str | None = None,
    engine_kind: EngineKind = "frequentist",
    cuped: bool = False,
    correction: str | None = "holm",
    alpha: float = 0.05,
    mde: float = DEFAULT_MDE,
    winsorize_pct: float | None = None,
    guardrail_margin: float | None = None,
    as_of: dt.datetime | None = None,
    serving: ServingStore | None = None,
    sequential_tuning_n: float | None = None,
    prior_mean: float = 0.0,
    prior_sd: float | None = None,
) -> ExperimentAnalysis:
    """Analyse a warehouse experiment (all its metrics, or only ``metric``).

    ``sequential_tuning_n``: the sequential engine's n* (total units of a treatment-control
    pair the test was planned for: the Planner's sequential plan); default 5,000.
    ``prior_mean`` / ``prior_sd``: the Bayesian engine's normal prior on the relative lift
    (fractions; ``prior_sd=None`` is flat).

    Raises ``UnknownExperimentError`` for an unknown id and ``ValueError`` for a ``metric=``
    missing from the catalog. A metric *declared by the experiment* but missing from the
    catalog becomes a ``MetricAnalysis`` with an ``error_message`` instead.
    ``winsorize_pct`` caps mean metrics at that quantile (e.g. 0.99). ``as_of`` analyses the
    data as it was at that time. With ``serving``, the statistics come from the serving store
    when it covers the question (``metrics.experiments.served.route``), else live; ``source``,
    ``source_reason`` and ``refreshed_at`` of the result say which.
    """
    if metric is not None and metric not in EXPERIMENT_METRICS:
        known = ", ".join(sorted(EXPERIMENT_METRICS))
        raise ValueError(
            _("unknown experiment metric {metric!r}; known metrics: {known}").format(
                metric=metric, known=known
            )
        )
    info = get_experiment(engine, experiment_id, as_of=as_of)
    notes: list[str] = []
    control = info.control.variant if info.control else None
    if control is None:
        control = info.variants[0].variant if info.variants else "control"
        notes.append(
            _("no variant is flagged as control; using {control!r}").format(control=control)
        )
    roles = metric_roles(info, metric)
    definitions = [EXPERIMENT_METRICS[n] for n, _ in roles if n in EXPERIMENT_METRICS]
    src = route(serving, experiment_id, definitions, winsorize_pct=winsorize_pct, as_of=as_of)
    store = serving if src.served else None
    # One statement for every metric (shared units and outcome scans), or the serving store.
    all_stats = fetch_experiment_stats(
        engine,
        experiment_id,
        definitions,
        covariate=cuped,
        winsorize_pct=winsorize_pct,
        as_of=as_of,
        serving=store,
    )
    inputs: list[MetricInput] = []
    for name, role in roles:
        definition: ExperimentMetric | None = EXPERIMENT_METRICS.get(name)
        if definition is None:
            known = ", ".join(sorted(EXPERIMENT_METRICS))
            inputs.append(
                MetricInput(
                    name,
                    role,
                    "",
                    True,
                    (),
                    name,
                    error_message=_("unknown metric {name!r} (known: {known})").format(
                        name=name, known=known
                    ),
                )
            )
            continue
        use_cuped = cuped and definition.supports_cuped
        if cuped and not use_cuped:
            notes.append(
                _("CUPED not applied to {name}: the metric has no pre-period covariate").format(
                    name=name
                )
            )
        inputs.append(
            MetricInput(
                name,
                role,
                str(definition.kind),
                definition.higher_is_better,
                tuple(all_stats[name]),
                definition.label,
                use_cuped,
            )
        )
    if definitions:  # units per variant come with every metric's statistics
        counts = {s.variant: s.units for s in all_stats[definitions[0].name]}
    else:
        counts = fetch_assignment_counts(engine, experiment_id, as_of=as_of, serving=store)
    shares = info.expected_shares or None
    result = analyze_stats(
        experiment_id=experiment_id,
        name=info.name,
        control=control,
        metrics=inputs,
        assignment_counts=counts,
        expected_shares=shares,
        engine=engine_kind,
        correction=correction,
        alpha=alpha,
        mde=mde,
        guardrail_margin=guardrail_margin,
        days_running=float(info.days_running) if info.days_running else None,
        info=info,
        warnings=notes,
        plan_reached=True if info.ended_at is not None else None,
        sequential_tuning_n=sequential_tuning_n,
        prior_mean=prior_mean,
        prior_sd=prior_sd,
    )
    result = dataclasses.replace(
        result, source=src.kind, source_reason=src.reason, refreshed_at=src.refreshed_at
    )
    return _note_if_ended(result, info)


def _note_if_ended(result: ExperimentAnalysis, info: ExperimentInfo) -> ExperimentAnalysis:
    """ "Keep running" on an experiment that has already ended: say what that means."""
    rec = result.recommendation
    if rec.kind is not RecommendationKind.KEEP_RUNNING or info.ended_at is None:
        return result
    note = _(
        "This experiment ended on {ended_at:%Y-%m-%d} before reaching the target power: "
        "extend it (restart assignment) or rerun it with more traffic before deciding."
    ).format(ended_at=info.ended_at)
    return dataclasses.replace(
        result, recommendation=dataclasses.replace(rec, reasons=(*rec.reasons, note))
    )


def analyze_summary(
    stats: Sequence[VariantStats],
    kind: str,
    control: str,
    *,
    metric: str = "metric",
    higher_is_better: bool = True,
    engine_kind: EngineKind = "frequentist",
    cuped: bool = False,
    correction: str | None = "holm",
    alpha: float = 0.05,
    mde: float = DEFAULT_MDE,
    expected_shares: dict[str, float] | None = None,
    experiment_id: str = "summary",
    plan_reached: bool | None = True,
) -> ExperimentAnalysis:
    """Analyse one metric's per-variant numbers (as parsed by ``summary_csv``).

    The SRM check runs only with ``expected_shares``; CUPED only when every variant carries
    covariate sums. A summary is read as the experiment's final numbers (``plan_reached``
    True: the fixed-horizon test at alpha decides); pass None for an interim look, where a
    win before the sample the MDE needs must pass the early-stop threshold.
    """
    has_cov = all(s.has_covariate for s in stats)
    notes = [] if not cuped or has_cov else [_("CUPED not applied: the covariate sums are missing")]
    m = MetricInput(
        metric, "primary", str(kind), higher_is_better, tuple(stats), metric, cuped and has_cov
    )
    return analyze_stats(
        experiment_id=experiment_id,
        name=metric,
        control=control,
        metrics=[m],
        assignment_counts={s.variant: s.units for s in stats},
        expected_shares=expected_shares,
        engine=engine_kind,
        correction=correction,
        alpha=alpha,
        mde=mde,
        warnings=notes,
        plan_reached=plan_reached,
    )


def analyze_quantile_metrics(
    engine: Engine,
    experiment_id: str,
    control: str,
    *,
    metrics: Sequence[QuantileMetric] | None = None,
    engine_kind: EngineKind = "frequentist",
    alpha: float = 0.05,
    mde: float = DEFAULT_MDE,
    sequential_tuning_n: float | None = None,
    prior_mean: float = 0.0,
    prior_sd: float | None = None,
    as_of: dt.datetime | None = None,
) -> list[MetricResult]:
    """Quantile metrics (default: every ``QUANTILE_METRICS`` entry: median and p90 of order
    value) of each treatment against ``control``, one ``MetricResult`` per metric × treatment
    (``kind='quantile'``, units = buyers). Always live SQL (quantiles are not additive, so the
    serving layer cannot answer them). Not in the experiment's multiple-testing family or its
    recommendation: they describe the order-value distribution beside the declared metrics.
    An empty list when ``control`` has no row."""
    chosen = list(QUANTILE_METRICS.values()) if metrics is None else list(metrics)
    stats = fetch_quantile_stats(engine, experiment_id, chosen, as_of=as_of)
    options: dict[str, Any] = dict(
        engine=engine_kind, alpha=alpha, mde=mde, prior_mean=prior_mean, prior_sd=prior_sd
    )
    if sequential_tuning_n is not None:
        options["sequential_tuning_n"] = sequential_tuning_n
    out: list[MetricResult] = []
    for m in chosen:
        arms = {s.variant: s for s in stats[m.name]}
        if control not in arms:
            return []
        for s in stats[m.name]:
            if s.variant != control:
                out.append(
                    analyze_quantile(
                        arms[control],
                        s,
                        metric=m.name,
                        higher_is_better=m.higher_is_better,
                        **options,
                    )  # fmt: skip
                )
    return out
