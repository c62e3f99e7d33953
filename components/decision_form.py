"""Record a decision on an experiment (ship / iterate / kill / extend) and show its history.

Decisions go to the app-state store (``data.app_state``), append-only and versioned: changing
a decision records the next version. The evidence shown when deciding is stored with it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import streamlit as st

from components.context import app_state_store, show_problem
from components.escaping import md_text
from data.app_state.decisions import (
    DecisionRecord,
    DecisionValidationError,
    current_decisions,
    decision_history,
    record_decision,
)
from data.app_state.store import AppStateError, DecisionKind
from metrics.experiments import views as ev
from metrics.experiments.analysis import ExperimentAnalysis

DECISION_LABELS: dict[str, str] = {
    DecisionKind.SHIP: "Ship — roll the winner out",
    DecisionKind.ITERATE: "Iterate — change the idea and test again",
    DecisionKind.KILL: "Kill — stop and keep control",
    DecisionKind.EXTEND: "Extend — keep collecting data",
}


def load_current_decisions() -> tuple[dict[str, DecisionRecord], AppStateError | None]:
    """Latest decision per experiment, or ``({}, error)`` when the store is unusable."""
    try:
        return current_decisions(app_state_store()), None
    except AppStateError as exc:
        return {}, exc


def _flash_key(key: str) -> str:
    return f"{key}_flash"


def render_decision_form(
    analysis: ExperimentAnalysis, evidence: Mapping[str, Any], *, key: str = "decision"
) -> DecisionRecord | None:
    """A form recording the next version of the decision on ``analysis.experiment_id``.

    Prefills the decision from the recommendation and the expected impact from the primary
    metric's headline relative lift. Stores ``evidence`` with it, the recommendation at the
    time and whether the decision follows it. Validation problems are listed; store problems
    are shown with ``show_problem``. On success: a message and a rerun (history refreshes).
    """
    flash = st.session_state.pop(_flash_key(key), None)
    if flash:
        st.success(flash, icon=":material/task_alt:")
    rec_kind = analysis.recommendation.kind.value
    suggested = ev.SUGGESTED_DECISION[rec_kind]
    options = [k.value for k in DecisionKind]
    headline = ev.headline_result(analysis)
    lift = headline.relative_lift if headline is not None and headline.ok else math.nan
    primary = analysis.primary

    with st.form(key=f"{key}_form"):
        st.markdown(
            f"The engine recommends **{ev.RECOMMENDATION_LABELS[rec_kind].lower()}**; the "
            "decision below is preselected to follow it."
        )
        decision = st.radio(
            "Decision",
            options,
            index=options.index(suggested.value),
            format_func=lambda k: DECISION_LABELS[k],
            key=f"{key}_kind",
        )
        rationale = st.text_area(
            "Rationale",
            key=f"{key}_rationale",
            placeholder="Why this decision? What did you weigh beyond the numbers?",
            help="Required. If you depart from the recommendation, say why.",
        )
        left, mid, right = st.columns(3)
        decided_by = left.text_input("Your name", key=f"{key}_by")
        target = mid.text_input(
            "Target KPI (optional)",
            value=primary.name if primary else "",
            key=f"{key}_target",
            help="The KPI this change is meant to move.",
        )
        impact_pct = right.number_input(
            "Expected impact (relative lift, %)",
            value=round(lift * 100, 1) if math.isfinite(lift) else None,
            step=0.5,
            format="%.1f",
            key=f"{key}_impact",
            help="Prefilled from the primary metric's measured relative lift; leave empty "
            "for none.",
        )
        rollout = st.date_input(
            "Rollout date (optional)", value=None, key=f"{key}_rollout", format="YYYY-MM-DD"
        )
        submitted = st.form_submit_button("Record decision", type="primary", key=f"{key}_submit")

    with st.expander("Evidence stored with the decision"):
        st.json(dict(evidence), expanded=False)

    if not submitted:
        return None
    followed = ev.follows_recommendation(decision, rec_kind)
    try:
        record = record_decision(
            app_state_store(),
            experiment_id=analysis.experiment_id,
            decision=decision,
            rationale=rationale,
            decided_by=decided_by,
            evidence=evidence,
            recommendation_at_decision=rec_kind,
            followed_recommendation=followed,
            target_kpi=target or None,
            expected_impact=None if impact_pct is None else float(impact_pct) / 100.0,
            rollout_date=rollout if isinstance(rollout, dt.date) else None,
        )
    except DecisionValidationError as exc:
        st.error(
            "**The decision was not recorded:**\n\n" + "\n".join(f"- {i}" for i in exc.issues),
            icon=":material/edit_note:",
        )
        return None
    except AppStateError as exc:
        show_problem(exc.title, exc.detail, exc.fix)
        return None
    note = "follows" if followed else "departs from"
    st.session_state[_flash_key(key)] = (
        f"Recorded **{record.decision.value}** as version {record.version} by "
        f"{record.decided_by} ({note} the recommendation)."
    )
    st.session_state.pop(f"{key}_rationale", None)
    st.rerun()
    return record  # pragma: no cover - st.rerun() does not return


def render_decision_history(experiment_id: str, *, key: str = "decision") -> None:
    """Every version of the decision, newest first, with who, when and what changed."""
    try:
        history = decision_history(app_state_store(), experiment_id)
    except AppStateError as exc:
        show_problem(exc.title, exc.detail, exc.fix)
        return
    if not history:
        st.caption("No decision recorded for this experiment yet.")
        return
    latest = history[-1]
    st.markdown(
        f"**Current decision: {latest.decision.value}** (version {latest.version}, by "
        f"{md_text(latest.decided_by)}, {latest.recorded_at:%Y-%m-%d %H:%M} UTC)."
    )
    rows = ev.history_rows(history)
    rows["expected_impact"] = rows["expected_impact"].map(
        lambda x: ev.fmt_pct(x) if x is not None and not math.isnan(x) else ""
    )
    rows["followed_recommendation"] = rows["followed_recommendation"].map(
        {True: "yes", False: "no", None: "—"}
    )
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        key=f"{key}_history",
        column_order=(
            "version",
            "recorded_at",
            "decided_by",
            "decision",
            "changes",
            "rationale",
            "followed_recommendation",
            "recommendation_at_decision",
            "target_kpi",
            "expected_impact",
            "rollout_date",
        ),
        column_config={
            "version": st.column_config.NumberColumn("Version", width="small"),
            "recorded_at": "Recorded",
            "decided_by": "By",
            "decision": "Decision",
            "followed_recommendation": "Followed rec.",
            "recommendation_at_decision": "Recommendation then",
            "changes": st.column_config.TextColumn("What changed", width="medium"),
            "rationale": st.column_config.TextColumn("Rationale", width="large"),
            "target_kpi": "Target KPI",
            "expected_impact": "Expected impact",
            "rollout_date": "Rollout",
        },
    )
