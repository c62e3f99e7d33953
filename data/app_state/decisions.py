"""The decision log: what the team decided about each experiment, append-only and versioned.

A decision is never updated or deleted. Changing it records a new row whose ``version`` is the
previous version of that experiment + 1; the current decision is the highest version. The
unique key (experiment_id, version) plus a retried transaction keep versions 1..k without gaps
or duplicates when many people record at once (see ``AppStateStore.write``).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, text

from data.app_state.store import (
    EVIDENCE_MAX,
    EXPERIMENT_ID_MAX,
    LABEL_MAX,
    NAME_MAX,
    RATIONALE_MAX,
    AppStateStore,
    DecisionKind,
    decisions,
)
from i18n import _

__all__ = [
    "DecisionKind",
    "DecisionRecord",
    "DecisionValidationError",
    "all_decisions",
    "current_decisions",
    "decision_history",
    "record_decision",
]


class DecisionValidationError(ValueError):
    """A decision was not recorded because of bad input; ``issues`` lists every problem."""

    def __init__(self, issues: list[str]) -> None:
        super().__init__(_("Decision not recorded: ") + "; ".join(issues))
        self.issues = tuple(issues)


@dataclass(frozen=True)
class DecisionRecord:
    """One version of the decision on one experiment.

    ``evidence`` is the JSON object stored with it (the numbers shown when deciding), as
    decoded JSON: tuples come back as lists, numpy scalars as Python numbers.
    ``expected_impact`` is a relative lift, as a fraction of the KPI's current value
    (0.05 = +5 %). ``recorded_at`` is timezone-aware UTC. ``identity_verified``: True when
    ``decided_by`` is a signed-in identity (its e-mail), False when it is a typed name (local
    mode), None for decisions recorded before LoopLens knew the difference.
    """

    decision_id: str
    experiment_id: str
    version: int
    decision: DecisionKind
    rationale: str
    decided_by: str
    evidence: dict[str, Any]
    recommendation_at_decision: str | None
    followed_recommendation: bool | None
    target_kpi: str | None
    expected_impact: float | None
    rollout_date: date | None
    recorded_at: datetime
    identity_verified: bool | None = None


DECISION_LOCK_SPACE = 0x100B1E26
"""First key of PostgreSQL's two-key advisory locks taken per experiment while appending (the
second is ``hashtext(experiment_id)``); a fixed, arbitrary LoopLens id."""


def record_decision(
    store: AppStateStore,
    *,
    experiment_id: str,
    decision: DecisionKind | str,
    rationale: str,
    decided_by: str,
    evidence: Mapping[str, Any],
    recommendation_at_decision: str | None = None,
    followed_recommendation: bool | None = None,
    target_kpi: str | None = None,
    expected_impact: float | None = None,
    rollout_date: date | None = None,
    recorded_at: datetime | None = None,
    identity_verified: bool | None = None,
) -> DecisionRecord:
    """Append a decision for ``experiment_id`` as its next version (1 for the first).

    Text fields are stripped of surrounding whitespace. ``evidence`` must be a JSON-able object
    (text keys; numbers, text, booleans, None, lists, objects; no NaN). ``expected_impact`` is a
    relative lift as a fraction (0.05 = +5 %). ``recorded_at`` (default: now) is for importing
    or backfilling a decision log from another tool: a datetime in UTC (naive = UTC, or
    timezone-aware), not in the future. The version is still the next one, whatever the time.
    ``identity_verified`` says whether ``decided_by`` comes from sign-in (True) or was typed
    (False); who may record is the caller's check (``data.access``).
    Raises :class:`DecisionValidationError` listing every problem with the input, or
    ``AppStateError`` if the store cannot be written.
    """
    issues: list[str] = []
    experiment_id = _text(issues, "experiment_id", experiment_id, EXPERIMENT_ID_MAX)
    rationale = _text(issues, "rationale", rationale, RATIONALE_MAX)
    decided_by = _text(issues, _("decided_by (your name)"), decided_by, NAME_MAX)
    recommendation = _optional_text(
        issues, "recommendation_at_decision", recommendation_at_decision, LABEL_MAX
    )
    target_kpi = _optional_text(issues, "target_kpi", target_kpi, LABEL_MAX)
    kind = _kind(issues, decision)
    evidence_json = _evidence_json(issues, evidence)
    if followed_recommendation is not None and not isinstance(followed_recommendation, bool):
        issues.append(
            _(
                "followed_recommendation must be True, False or "
                "None, got {followed_recommendation!r}"
            ).format(followed_recommendation=followed_recommendation)
        )
    elif followed_recommendation is not None and recommendation is None:
        issues.append(
            _("followed_recommendation needs the recommendation_at_decision it refers to")
        )
    impact = _impact(issues, expected_impact)
    if identity_verified is not None and not isinstance(identity_verified, bool):
        issues.append(
            _("identity_verified must be True, False or None, got {identity_verified!r}").format(
                identity_verified=identity_verified
            )
        )
    if rollout_date is not None and (
        isinstance(rollout_date, datetime) or not isinstance(rollout_date, date)
    ):
        issues.append(
            _("rollout_date must be a date (no time of day), got {rollout_date!r}").format(
                rollout_date=rollout_date
            )
        )
    stamp = _recorded_at(issues, recorded_at)
    if issues:
        raise DecisionValidationError(issues)

    values: dict[str, Any] = {
        "experiment_id": experiment_id,
        "decision": kind.value,
        "rationale": rationale,
        "decided_by": decided_by,
        "evidence": evidence_json,
        "recommendation_at_decision": recommendation,
        "followed_recommendation": followed_recommendation,
        "target_kpi": target_kpi,
        "expected_impact": impact,
        "rollout_date": rollout_date,
        "identity_verified": identity_verified,
    }

    def append(conn: Connection) -> dict[str, Any]:
        if conn.dialect.name == "postgresql":
            # Writers of one experiment queue on a transaction-scoped lock instead of racing
            # for the next version number (16 writers on one experiment exhausted the retries).
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:space, hashtext(:experiment))"),
                {"space": DECISION_LOCK_SPACE, "experiment": experiment_id},
            )
        latest = conn.scalar(
            select(func.max(decisions.c.version)).where(decisions.c.experiment_id == experiment_id)
        )
        row = {
            **values,
            "decision_id": uuid.uuid4().hex,
            "version": (latest or 0) + 1,
            "recorded_at": stamp or datetime.now(UTC).replace(tzinfo=None),
        }
        conn.execute(insert(decisions).values(**row))
        return row

    return _record(store.write(append))


def current_decisions(store: AppStateStore) -> dict[str, DecisionRecord]:
    """The latest version of the decision on every experiment, keyed and ordered by experiment."""
    latest = (
        select(decisions.c.experiment_id, func.max(decisions.c.version).label("version"))
        .group_by(decisions.c.experiment_id)
        .subquery()
    )
    stmt = (
        select(decisions)
        .join(
            latest,
            (decisions.c.experiment_id == latest.c.experiment_id)
            & (decisions.c.version == latest.c.version),
        )
        .order_by(decisions.c.experiment_id)
    )
    with store.read() as conn:
        rows = conn.execute(stmt).mappings().all()
    return {row["experiment_id"]: _record(row) for row in rows}


def decision_history(store: AppStateStore, experiment_id: str) -> list[DecisionRecord]:
    """Every version of the decision on one experiment, oldest (version 1) first."""
    stmt = (
        select(decisions)
        .where(decisions.c.experiment_id == experiment_id)
        .order_by(decisions.c.version)
    )
    with store.read() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [_record(row) for row in rows]


def all_decisions(store: AppStateStore) -> list[DecisionRecord]:
    """Every version of every decision, ordered by experiment, then version."""
    stmt = select(decisions).order_by(decisions.c.experiment_id, decisions.c.version)
    with store.read() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [_record(row) for row in rows]


def _record(row: Mapping[str, Any] | Row) -> DecisionRecord:
    recorded_at: datetime = row["recorded_at"]
    impact = row["expected_impact"]
    followed = row["followed_recommendation"]
    verified = row.get("identity_verified")
    return DecisionRecord(
        decision_id=row["decision_id"],
        experiment_id=row["experiment_id"],
        version=int(row["version"]),
        decision=DecisionKind(row["decision"]),
        rationale=row["rationale"],
        decided_by=row["decided_by"],
        evidence=json.loads(row["evidence"]),
        recommendation_at_decision=row["recommendation_at_decision"],
        followed_recommendation=None if followed is None else bool(followed),
        target_kpi=row["target_kpi"],
        expected_impact=None if impact is None else float(impact),
        rollout_date=row["rollout_date"],
        recorded_at=recorded_at.replace(tzinfo=UTC),
        identity_verified=None if verified is None else bool(verified),
    )


# --- validation -------------------------------------------------------------------------------


def _text(issues: list[str], name: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        issues.append(
            _("{name} must be text, got {name__}").format(name=name, name__=type(value).__name__)
        )
        return ""
    value = value.strip()
    if not value:
        issues.append(f"{name} is empty")
    elif len(value) > limit:
        issues.append(
            _("{name} is {value:,} characters long; the limit is {limit:,}").format(
                name=name, value=len(value), limit=limit
            )
        )
    return value


def _optional_text(issues: list[str], name: str, value: object, limit: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and not value.strip():
        return None  # an empty form field means "not given"
    return _text(issues, name, value, limit)


def _kind(issues: list[str], value: object) -> DecisionKind:
    try:
        return DecisionKind(value.strip().lower() if isinstance(value, str) else value)
    except ValueError:
        issues.append(
            _("decision {value!r} is unknown; use one of {DecisionKind}").format(
                value=value, DecisionKind=", ".join(DecisionKind)
            )
        )
        return DecisionKind.SHIP  # placeholder; the issue stops the write


def _impact(issues: list[str], value: object) -> float | None:
    if value is None:
        return None
    try:  # ints, floats, numpy scalars and Decimals; not text or booleans
        if isinstance(value, bool | str | bytes):
            raise TypeError
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        issues.append(
            _("expected_impact must be a number (a fraction), got {value!r}").format(value=value)
        )
        return None
    if not math.isfinite(number):
        issues.append(
            _("expected_impact must be a finite fraction, got {value!r}").format(value=value)
        )
        return None
    return number


def _recorded_at(issues: list[str], value: object) -> datetime | None:
    """``value`` as naive UTC (naive input is taken as UTC); None means "now"."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        issues.append(
            _(
                "recorded_at must be a datetime in UTC (naive or timezone-aware), got {value!r}"
            ).format(value=value)
        )
        return None
    naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    now = datetime.now(UTC).replace(tzinfo=None)
    if naive > now:
        issues.append(
            _(
                "recorded_at {naive:%Y-%m-%d %H:%M:%S} UTC is in the future (now is {now:%Y-%m-%d "
                "%H:%M:%S} UTC); a decision can only be backdated"
            ).format(naive=naive, now=now)
        )
        return None
    return naive


def _evidence_json(issues: list[str], evidence: object) -> str:
    """The evidence as JSON text; problems are appended to ``issues`` with their location."""
    if not isinstance(evidence, Mapping):
        issues.append(
            _("evidence must be a dict of the numbers shown, got {name__}").format(
                name__=type(evidence).__name__
            )
        )
        return "{}"
    found: list[str] = []
    try:
        plain = _plain(evidence, "evidence", found)
    except RecursionError:
        found.append(_("evidence is nested too deeply (or contains itself)"))
    if found:
        issues.extend(found)
        return "{}"
    text = json.dumps(plain, ensure_ascii=False, allow_nan=False)
    if len(text) > EVIDENCE_MAX:
        issues.append(
            _(
                "evidence is {text:,} characters as JSON; the limit is {EVIDENCE_MAX:,} (store the "
                "summary numbers, not raw data)"
            ).format(text=len(text), EVIDENCE_MAX=EVIDENCE_MAX)
        )
    return text


def _plain(value: object, path: str, found: list[str]) -> Any:
    """``value`` as plain JSON types (numpy scalars unwrapped); problems go to ``found``."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            found.append(
                _("{path} is {value!r}: JSON has no NaN or infinity; use None").format(
                    path=path, value=value
                )
            )
        return float(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                found.append(
                    _("{path} has the key {key!r}; keys must be text").format(path=path, key=key)
                )
                continue
            out[key] = _plain(item, f"{path}[{key!r}]", found)
        return out
    if isinstance(value, list | tuple):
        return [_plain(item, f"{path}[{i}]", found) for i, item in enumerate(value)]
    item = getattr(value, "item", None)  # numpy scalar -> Python scalar
    if callable(item) and type(value).__module__ == "numpy":
        try:
            return _plain(item(), path, found)
        except (TypeError, ValueError):
            pass
    found.append(
        _(
            "{path} is a {name__}, which JSON cannot store (use numbers, text, True/False, None, "
            "lists or dicts)"
        ).format(path=path, name__=type(value).__name__)
    )
    return None
