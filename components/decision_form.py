"""Record a decision on an experiment (ship / iterate / kill / extend) and show its history.

Decisions go to the app-state store (``data.app_state``), append-only and versioned: changing
a decision records the next version. The evidence shown when deciding is stored with it.
Recording needs the analyst role and approving the approver role (``components.access``); with
sign-in, ``decided_by`` / ``approved_by`` is the signed-in e-mail, in local mode a typed name.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import streamlit as st

from components.access import LOCAL_MODE_NOTE, current_access
from components.context import app_state_store, show_problem
from components.escaping import md_text
from data.access import Access, AccessDenied, Role
from data.app_state.approvals import ApprovalRecord, approvals_for, approve_decision
from data.app_state.decisions import (
    DecisionRecord,
    DecisionValidationError,
    current_decisions,
    decision_history,
    record_decision,
)
from data.app_state.store import AppStateError, DecisionKind
from i18n import _
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
    access = current_access()
    if not access.can_record:
        st.info(
            _(
                "You are signed in as {md_text} with the **{label}** role: you can see decisions, "
                "but recording one needs the analyst role."
            ).format(md_text=md_text(access.who or ""), label=access.role.label),
            icon=":material/visibility:",
        )
        return None
    rec_kind = analysis.recommendation.kind.value
    suggested = ev.SUGGESTED_DECISION[rec_kind]
    options = [k.value for k in DecisionKind]
    headline = ev.headline_result(analysis)
    lift = headline.relative_lift if headline is not None and headline.ok else math.nan
    primary = analysis.primary

    with st.form(key=f"{key}_form"):
        st.markdown(
            _(
                "The engine recommends **{lower}**; the decision below is preselected to follow it."
            ).format(lower=ev.RECOMMENDATION_LABELS[rec_kind].lower())
        )
        decision = st.radio(
            _("Decision"),
            options,
            index=options.index(suggested.value),
            format_func=lambda k: DECISION_LABELS[k],
            key=f"{key}_kind",
        )
        rationale = st.text_area(
            _("Rationale"),
            key=f"{key}_rationale",
            placeholder=_("Why this decision? What did you weigh beyond the numbers?"),
            help=_("Required. If you depart from the recommendation, say why."),
        )
        left, mid, right = st.columns(3)
        if access.signed_in:
            decided_by = access.who or ""
            left.text_input(_("Recorded as"), value=decided_by, disabled=True, key=f"{key}_by_id")
        else:
            decided_by = left.text_input(_("Your name"), key=f"{key}_by")
        target = mid.text_input(
            _("Target KPI (optional)"),
            value=primary.name if primary else "",
            key=f"{key}_target",
            help=_("The KPI this change is meant to move."),
        )
        impact_pct = right.number_input(
            _("Expected impact (relative lift, %)"),
            value=round(lift * 100, 1) if math.isfinite(lift) else None,
            step=0.5,
            format="%.1f",
            key=f"{key}_impact",
            help=_(
                "Prefilled from the primary metric's measured relative lift; leave empty for none."
            ),
        )
        rollout = st.date_input(
            _("Rollout date (optional)"), value=None, key=f"{key}_rollout", format="YYYY-MM-DD"
        )
        if access.local:
            st.caption(":material/lock_open: " + LOCAL_MODE_NOTE)
        submitted = st.form_submit_button(_("Record decision"), type="primary", key=f"{key}_submit")

    with st.expander(_("Evidence stored with the decision")):
        st.json(dict(evidence), expanded=False)

    if not submitted:
        return None
    followed = ev.follows_recommendation(decision, rec_kind)
    try:
        access.require(Role.ANALYST, _("recording a decision"))
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
            identity_verified=access.signed_in,
        )
    except AccessDenied as exc:
        st.error(str(exc), icon=":material/block:")
        return None
    except DecisionValidationError as exc:
        st.error(
            _("**The decision was not recorded:**\n\n") + "\n".join(f"- {i}" for i in exc.issues),
            icon=":material/edit_note:",
        )
        return None
    except AppStateError as exc:
        show_problem(exc.title, exc.detail, exc.fix)
        return None
    note = _("follows") if followed else _("departs from")
    st.session_state[_flash_key(key)] = _(
        "Recorded **{value}** as version {version} by {decided_by} ({note} the recommendation)."
    ).format(
        value=record.decision.value, version=record.version, decided_by=record.decided_by, note=note
    )
    st.session_state.pop(f"{key}_rationale", None)
    st.rerun()
    return record  # pragma: no cover - st.rerun() does not return


def render_decision_history(experiment_id: str, *, key: str = "decision") -> None:
    """Every version of the decision, newest first, with who, when and what changed."""
    flash = st.session_state.pop(_flash_key(f"{key}_approval"), None)
    if flash:
        st.success(flash, icon=":material/verified:")
    try:
        history = decision_history(app_state_store(), experiment_id)
        approved = approvals_for(app_state_store(), experiment_id)
    except AppStateError as exc:
        show_problem(exc.title, exc.detail, exc.fix)
        return
    if not history:
        st.caption(_("No decision recorded for this experiment yet."))
        return
    latest = history[-1]
    approval = approved.get(latest.version)
    status = (
        _("approved by {approved_by}, {approved_at:%Y-%m-%d %H:%M} UTC").format(
            approved_by=md_text(approval.approved_by), approved_at=approval.approved_at
        )
        if approval
        else _("awaiting approval")
    )
    st.markdown(
        _(
            "**Current decision: {value}** (version {version}, by {decided_by}, "
            "{recorded_at:%Y-%m-%d %H:%M} UTC) — **{status}**."
        ).format(
            value=latest.decision.value,
            version=latest.version,
            decided_by=md_text(latest.decided_by),
            recorded_at=latest.recorded_at,
            status=status,
        )
    )
    rows = ev.history_rows(history)
    rows["approved"] = [_approval_text(approved.get(int(v))) for v in rows["version"]]
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
            "approved",
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
            "approved": "Approved",
            "followed_recommendation": _("Followed rec."),
            "recommendation_at_decision": _("Recommendation then"),
            "changes": st.column_config.TextColumn(_("What changed"), width="medium"),
            "rationale": st.column_config.TextColumn("Rationale", width="large"),
            "target_kpi": _("Target KPI"),
            "expected_impact": _("Expected impact"),
            "rollout_date": "Rollout",
        },
    )
    if approval is None:
        _render_approval(current_access(), latest, key=key)


def _approval_text(approval: ApprovalRecord | None) -> str:
    if approval is None:
        return ""
    return f"{approval.approved_by}, {approval.approved_at:%Y-%m-%d %H:%M}"


def _render_approval(access: Access, latest: DecisionRecord, *, key: str) -> None:
    """The approval step for the current version, for those who may approve it."""
    if not access.can_approve:
        st.caption(_("An approver has to approve this version."))
        return
    if not access.may_approve(latest.decided_by):
        st.caption(_("You recorded this version: another approver has to approve it."))
        return
    with st.form(key=f"{key}_approve_form"):
        if access.signed_in:
            approved_by = access.who or ""
        else:
            approved_by = st.text_input(_("Your name (approver)"), key=f"{key}_approve_by")
        note = st.text_input(_("Approval note (optional)"), key=f"{key}_approve_note")
        submitted = st.form_submit_button(
            _("Approve version {version}").format(version=latest.version),
            key=f"{key}_approve_submit",
        )
    if not submitted:
        return
    try:
        access.require(Role.APPROVER, _("approving a decision"))
        record = approve_decision(
            app_state_store(),
            experiment_id=latest.experiment_id,
            version=latest.version,
            approved_by=approved_by,
            identity_verified=access.signed_in,
            note=note or None,
        )
    except AccessDenied as exc:
        st.error(str(exc), icon=":material/block:")
        return
    except DecisionValidationError as exc:
        st.error(
            _("**The approval was not recorded:**\n\n") + "\n".join(f"- {i}" for i in exc.issues),
            icon=":material/edit_note:",
        )
        return
    except AppStateError as exc:
        show_problem(exc.title, exc.detail, exc.fix)
        return
    st.session_state[_flash_key(f"{key}_approval")] = _(
        "Approved version {version} as {approved_by}."
    ).format(version=record.version, approved_by=md_text(record.approved_by))
    st.session_state.pop(f"{key}_approve_note", None)
    st.rerun()
