"""A demo decision log: one decision per concluded demo experiment, derived from the analysis.

On first start the app generates the demo warehouse; without decisions the Evolve page, realised
impact and the overview's Evolve block would be empty. :func:`seed_demo_decisions` fills an
*empty* decision log with what a team following LoopLens's recommendations would have decided.
Every seeded decision says plainly that it is a demo decision, is recorded by ``DEMO_DECIDED_BY``
and carries the evidence it was derived from. Nothing here is invented: the decision kind,
expected impact and numbers come from ``metrics.experiments.analysis.analyze_experiment`` with the
default options (frequentist, Holm, alpha 0.05, no CUPED: what the experiment page shows first).

Recommendation → decision: ship → ship; dont_ship_guardrail → kill; invalid → iterate (fix
the assignment and rerun); stop_no_effect → kill; dont_ship_harmful → kill; inconclusive →
iterate; keep_running → extend.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from data.app_state.decisions import record_decision
from data.app_state.store import AppStateStore, DecisionKind, decisions
from data.schema import ExperimentStatus, experiments
from metrics.experiments.analysis import ExperimentAnalysis, analyze_experiment
from metrics.experiments.evolve import resolve_kpi
from metrics.experiments.views import (
    AnalysisOptions,
    evidence_label,
    evidence_snapshot,
    fmt_p,
    headline_result,
)
from metrics.stats.recommendation import RecommendationKind

DEMO_DECIDED_BY = "LoopLens demo"
ROLLOUT_DELAY_DAYS = 7
"""A shipped change rolls out this many days after the experiment ended."""

DECISION_FOR: dict[RecommendationKind, DecisionKind] = {
    RecommendationKind.SHIP: DecisionKind.SHIP,
    RecommendationKind.DONT_SHIP_GUARDRAIL: DecisionKind.KILL,
    RecommendationKind.INVALID: DecisionKind.ITERATE,
    RecommendationKind.STOP_NO_EFFECT: DecisionKind.KILL,
    RecommendationKind.INCONCLUSIVE: DecisionKind.ITERATE,
    RecommendationKind.DONT_SHIP_HARMFUL: DecisionKind.KILL,
    RecommendationKind.KEEP_RUNNING: DecisionKind.EXTEND,
}
"""The decision the demo team takes for each recommendation (always following it)."""

TARGET_KPIS: dict[str, str] = {
    "revenue_per_user": "revenue",
}
"""Experiment metrics → catalog KPI, beyond what ``metrics.experiments.evolve.resolve_kpi`` knows
(``purchase_conversion`` → ``conversion_rate``, ``click_through_rate`` → ``ctr``). Revenue per
user on unchanged traffic moves total revenue by the same fraction."""

_ACTIONS: dict[DecisionKind, str] = {
    DecisionKind.SHIP: "ship it",
    DecisionKind.KILL: "stop it and keep control",
    DecisionKind.ITERATE: "fix the assignment and rerun",
    DecisionKind.EXTEND: "keep collecting data",
}


@dataclass(frozen=True)
class DemoDecision:
    """One decision to record (the keyword arguments of ``record_decision``)."""

    experiment_id: str
    decision: DecisionKind
    rationale: str
    evidence: dict[str, Any]
    recommendation: str
    target_kpi: str | None
    expected_impact: float | None  # relative lift, fraction of control
    rollout_date: dt.date | None
    recorded_at: dt.datetime  # naive UTC


def target_kpi_for(metric: str) -> str | None:
    """The catalog KPI name (``kpis.KPIS``) a primary experiment metric moves, or None."""
    return resolve_kpi(metric) or TARGET_KPIS.get(metric)


def decision_time(experiment_id: str, ended_at: dt.datetime, now: dt.datetime) -> dt.datetime:
    """When the demo team decided: 2–6 days after the end, in office hours (naive UTC).

    Deterministic per experiment; never after ``now``.
    """
    h = zlib.crc32(experiment_id.encode())
    start = dt.datetime.combine(ended_at.date(), dt.time())
    at = start + dt.timedelta(days=2 + h % 5, hours=9 + (h // 5) % 8, minutes=(h // 40) % 60)
    return min(at, now)


def derive_decision(
    analysis: ExperimentAnalysis, ended_at: dt.datetime, now: dt.datetime
) -> DemoDecision:
    """The demo decision for one analysed, concluded experiment (pure)."""
    rec = analysis.recommendation
    kind = DECISION_FOR[rec.kind]
    head = headline_result(analysis)
    lift = head.relative_lift if head is not None else math.nan
    lo, hi = head.relative_ci if head is not None else (math.nan, math.nan)
    srm_p = analysis.srm.p_value if analysis.srm is not None else None
    metric = analysis.primary.name if analysis.primary is not None else "the primary metric"
    if head is None:
        numbers = f"{metric} could not be analysed; SRM p {_eq(srm_p)}."
    else:
        p_name, p_text = evidence_label(head)
        numbers = (
            f"{metric} ({head.variant} vs {analysis.control}): relative lift {_pct(lift)} "
            f"(interval {_pct(lo)} to {_pct(hi)}), {p_name} {p_text}; SRM p {_eq(srm_p)}; "
            f"engine: {analysis.engine}."
        )
    rationale = (
        f"Demo decision, derived automatically from LoopLens's recommendation "
        f"'{rec.kind.value}': {_ACTIONS[kind]}. Key numbers: {numbers}"
        + (f" Reasons: {' '.join(rec.reasons)}" if rec.reasons else "")
    )
    ship = kind is DecisionKind.SHIP and math.isfinite(lift)
    target = target_kpi_for(metric) if ship else None
    evidence = evidence_snapshot(analysis, AnalysisOptions())
    evidence["demo"] = True
    return DemoDecision(
        experiment_id=analysis.experiment_id,
        decision=kind,
        rationale=rationale,
        evidence=evidence,
        recommendation=rec.kind.value,
        target_kpi=target,
        expected_impact=float(lift) if ship else None,
        rollout_date=ended_at.date() + dt.timedelta(days=ROLLOUT_DELAY_DAYS) if ship else None,
        recorded_at=decision_time(analysis.experiment_id, ended_at, now),
    )


def seed_demo_decisions(
    warehouse_engine: Engine, store: AppStateStore, *, now: dt.datetime | None = None
) -> int:
    """Record one demo decision per concluded experiment; the number recorded.

    Does nothing (returns 0) when the store already holds any decision. Every experiment is
    analysed before anything is written, so an analysis failure leaves the log empty.
    ``now`` (naive or aware UTC; default and at most the current time) caps the backdated
    decision times. Raises the
    warehouse's errors, ``AppStateError`` or ``DecisionValidationError``.
    """
    clock = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    now = min(_naive_utc(now), clock) if now is not None else clock
    with store.read() as conn:
        if conn.scalar(select(func.count()).select_from(decisions)):
            return 0
    e = experiments
    stmt = (
        select(e.c.experiment_id, e.c.ended_at)
        .where(e.c.status == str(ExperimentStatus.CONCLUDED), e.c.ended_at.is_not(None))
        .order_by(e.c.ended_at, e.c.experiment_id)
    )
    with warehouse_engine.connect() as conn:
        concluded = conn.execute(stmt).all()
    planned = [
        derive_decision(analyze_experiment(warehouse_engine, exp_id), _as_datetime(ended), now)
        for exp_id, ended in concluded
    ]
    for d in planned:
        record_decision(
            store,
            experiment_id=d.experiment_id,
            decision=d.decision,
            rationale=d.rationale,
            decided_by=DEMO_DECIDED_BY,
            evidence=d.evidence,
            recommendation_at_decision=d.recommendation,
            followed_recommendation=True,
            target_kpi=d.target_kpi,
            expected_impact=d.expected_impact,
            rollout_date=d.rollout_date,
            recorded_at=d.recorded_at,
        )
    return len(planned)


def _pct(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:+.1%}"


def _eq(p: float | None) -> str:
    text = fmt_p(p)
    return text if text.startswith("<") else f"= {text}"


def _naive_utc(ts: dt.datetime) -> dt.datetime:
    return ts.astimezone(dt.UTC).replace(tzinfo=None) if ts.tzinfo else ts


def _as_datetime(value: dt.datetime | dt.date | str) -> dt.datetime:
    """``ended_at`` as naive UTC (SQLite returns text; a date means its midnight)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    return _naive_utc(value)
