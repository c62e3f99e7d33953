"""Approvals: someone with the approver role signs off the current decision on an experiment.

A decision version is *awaiting approval* until an approval row names it; a newer version of the
decision needs its own approval (an approval is never carried over). Approvals are append-only,
at most one per decision version (a unique key; a second approver is told it is already
approved). Only the current version can be approved, and a signed-in approver cannot approve a
decision their own signed-in identity recorded (four eyes). Who holds the approver role is the
caller's check (``data.access``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select

from data.app_state.decisions import DecisionValidationError, _optional_text, _text
from data.app_state.store import (
    EXPERIMENT_ID_MAX,
    NAME_MAX,
    RATIONALE_MAX,
    AppStateStore,
    approvals,
    decisions,
)

__all__ = ["ApprovalRecord", "approvals_for", "approve_decision"]


@dataclass(frozen=True)
class ApprovalRecord:
    """The approval of one decision version. ``approved_at`` is timezone-aware UTC;
    ``identity_verified`` is True when ``approved_by`` is a signed-in identity (its e-mail)."""

    approval_id: str
    decision_id: str
    experiment_id: str
    version: int
    approved_by: str
    identity_verified: bool
    note: str | None
    approved_at: datetime


def approve_decision(
    store: AppStateStore,
    *,
    experiment_id: str,
    version: int,
    approved_by: str,
    identity_verified: bool,
    note: str | None = None,
) -> ApprovalRecord:
    """Approve version ``version`` of the decision on ``experiment_id`` (now, in UTC).

    Raises :class:`DecisionValidationError` (with every problem) when the input is bad, the
    version does not exist or is no longer the current one, it is already approved, or a
    signed-in approver approves their own signed-in decision; ``AppStateError`` if the store
    cannot be written.
    """
    issues: list[str] = []
    experiment_id = _text(issues, "experiment_id", experiment_id, EXPERIMENT_ID_MAX)
    approved_by = _text(issues, "approved_by (your name)", approved_by, NAME_MAX)
    note = _optional_text(issues, "note", note, RATIONALE_MAX)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        issues.append(f"version must be a decision version (1, 2, ...), got {version!r}")
    if not isinstance(identity_verified, bool):
        issues.append(f"identity_verified must be True or False, got {identity_verified!r}")
    if issues:
        raise DecisionValidationError(issues)

    def append(conn: Connection) -> dict[str, Any]:
        current = conn.scalar(
            select(func.max(decisions.c.version)).where(decisions.c.experiment_id == experiment_id)
        )
        target = conn.execute(
            select(decisions.c.decision_id, decisions.c.decided_by, decisions.c.identity_verified)
            .where(decisions.c.experiment_id == experiment_id)
            .where(decisions.c.version == version)
        ).first()
        if target is None:
            raise DecisionValidationError(
                [f"{experiment_id} has no decision version {version} to approve"]
            )
        if version != current:
            raise DecisionValidationError(
                [
                    f"version {version} of the decision on {experiment_id} has been superseded "
                    f"by version {current}; approve the current version instead"
                ]
            )
        done = conn.execute(
            select(approvals.c.approved_by).where(approvals.c.decision_id == target.decision_id)
        ).first()
        if done is not None:
            raise DecisionValidationError(
                [
                    f"version {version} of the decision on {experiment_id} is already approved "
                    f"by {done.approved_by}"
                ]  # fmt: skip
            )
        if (
            identity_verified
            and target.identity_verified
            and target.decided_by.strip().lower() == approved_by.lower()
        ):
            raise DecisionValidationError(
                [
                    f"{approved_by} recorded this decision and cannot also approve it; "
                    "another approver must"
                ]  # fmt: skip
            )
        row = {
            "approval_id": uuid.uuid4().hex,
            "decision_id": target.decision_id,
            "experiment_id": experiment_id,
            "version": version,
            "approved_by": approved_by,
            "identity_verified": identity_verified,
            "note": note,
            "approved_at": datetime.now(UTC).replace(tzinfo=None),
        }
        conn.execute(insert(approvals).values(**row))
        return row

    return _record(store.write(append))


def approvals_for(store: AppStateStore, experiment_id: str) -> dict[int, ApprovalRecord]:
    """The approvals of one experiment's decision versions, keyed by version."""
    stmt = (
        select(approvals)
        .where(approvals.c.experiment_id == experiment_id)
        .order_by(approvals.c.version)
    )
    with store.read() as conn:
        rows = conn.execute(stmt).mappings().all()
    return {int(row["version"]): _record(row) for row in rows}


def _record(row: Mapping[str, Any] | Row) -> ApprovalRecord:
    return ApprovalRecord(
        approval_id=row["approval_id"],
        decision_id=row["decision_id"],
        experiment_id=row["experiment_id"],
        version=int(row["version"]),
        approved_by=row["approved_by"],
        identity_verified=bool(row["identity_verified"]),
        note=row["note"],
        approved_at=row["approved_at"].replace(tzinfo=UTC),
    )
