"""KPI targets (SMART goals): append-only and versioned, like the decision log.

A target is a catalog KPI (``metrics.marketing.kpis.KPIS``), an optional scope (one channel or
one segment), a value to reach, the direction that counts as reaching it (``higher``: at least
the value; ``lower``: at most), a deadline and an owner. ``baseline`` is the KPI's value on the
day the target was set (``set_on``): pace to the deadline is measured from it
(``metrics.targets``). Changing a target records a new row with the next ``version`` for the
same (KPI, scope); retiring it records a version with ``active = False``. Nothing is updated
or deleted, so who changed what and when is always known.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    Date,
    DateTime,
    Double,
    Integer,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
)

from data.app_state import store as _store
from data.app_state.store import LABEL_MAX, NAME_MAX, AppStateStore
from data.schema import Channel, Segment
from i18n import _

SCOPE_KINDS = ("all", "channel", "segment")
NOTE_MAX = 2_000

targets = Table(
    "targets",
    _store.metadata,
    Column("target_row_id", String(32), primary_key=True, comment="uuid4 hex"),
    Column("kpi", String(LABEL_MAX), nullable=False, comment="catalog KPI id"),
    Column("scope_kind", String(16), nullable=False, comment="all | channel | segment"),
    Column("scope_value", String(LABEL_MAX), nullable=False, comment="'' for all"),
    Column("version", Integer, nullable=False, comment="1, 2, ... per (kpi, scope)"),
    Column("value", Double, nullable=False, comment="the KPI's own unit (fractions for %)"),
    Column("direction", String(8), nullable=False, comment="higher | lower"),
    Column("baseline", Double, nullable=True, comment="KPI value when set (pace start)"),
    Column("set_on", Date, nullable=False, comment="day the pace starts from"),
    Column("deadline", Date, nullable=False),
    Column("owner", String(NAME_MAX), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("note", Text, nullable=True),
    Column("changed_by", String(NAME_MAX), nullable=False),
    Column("recorded_at", DateTime, nullable=False, comment="UTC"),
    UniqueConstraint("kpi", "scope_kind", "scope_value", "version", name="uq_targets_version"),
    CheckConstraint("version >= 1", name="ck_targets_version"),
    CheckConstraint("direction IN ('higher', 'lower')", name="ck_targets_direction"),
    comment="append-only KPI targets: a change is a new row with the next version",
)


class TargetValidationError(ValueError):
    """A target was not recorded because of bad input; ``issues`` lists every problem."""

    def __init__(self, issues: list[str]) -> None:
        super().__init__(_("Target not recorded: ") + "; ".join(issues))
        self.issues = tuple(issues)


@dataclass(frozen=True)
class Target:
    """One version of one target. ``value``/``baseline`` are in the KPI's unit (fractions for
    percentages); ``recorded_at`` is timezone-aware UTC."""

    target_row_id: str
    kpi: str
    scope_kind: str
    scope_value: str
    version: int
    value: float
    direction: str
    baseline: float | None
    set_on: date
    deadline: date
    owner: str
    active: bool
    note: str | None
    changed_by: str
    recorded_at: datetime

    @property
    def key(self) -> tuple[str, str, str]:
        """(kpi, scope kind, scope value): what versions are counted per."""
        return (self.kpi, self.scope_kind, self.scope_value)


def record_target(
    store: AppStateStore,
    *,
    kpi: str,
    value: float,
    direction: str,
    deadline: date,
    owner: str,
    changed_by: str,
    scope_kind: str = "all",
    scope_value: str = "",
    baseline: float | None = None,
    set_on: date | None = None,
    active: bool = True,
    note: str | None = None,
    recorded_at: datetime | None = None,
) -> Target:
    """Append a version of the target on (``kpi``, scope); raises
    :class:`TargetValidationError` listing every problem, or ``AppStateError``."""
    from metrics.marketing.kpis import KPIS  # the catalog (pure; no warehouse access)

    issues: list[str] = []
    if kpi not in KPIS:
        issues.append(_("unknown KPI {kpi!r}").format(kpi=kpi))
    if scope_kind not in SCOPE_KINDS:
        issues.append(
            _("scope must be one of {kinds}, got {kind!r}").format(
                kinds=", ".join(SCOPE_KINDS), kind=scope_kind
            )
        )
    elif scope_kind == "all":
        scope_value = ""
    else:
        allowed = {str(c) for c in (Channel if scope_kind == "channel" else Segment)}
        if scope_value not in allowed:
            issues.append(_("unknown {kind} {value!r}").format(kind=scope_kind, value=scope_value))
    number = _finite(value)
    if number is None:
        issues.append(_("the target value must be a finite number, got {v!r}").format(v=value))
    base = None if baseline is None else _finite(baseline)
    if baseline is not None and base is None:
        issues.append(_("the baseline must be a finite number or empty"))
    if direction not in ("higher", "lower"):
        issues.append(_("direction must be 'higher' or 'lower', got {d!r}").format(d=direction))
    start = set_on or datetime.now(UTC).date()
    for name, day in (("deadline", deadline), ("set_on", start)):
        if isinstance(day, datetime) or not isinstance(day, date):
            issues.append(_("{name} must be a date, got {day!r}").format(name=name, day=day))
    if not issues and deadline <= start:
        issues.append(_("the deadline must be after the day the target is set"))
    owner = _text(issues, _("owner"), owner, NAME_MAX)
    changed_by = _text(issues, _("changed by (your name)"), changed_by, NAME_MAX)
    if note is not None:
        note = note.strip()[:NOTE_MAX] or None
    if issues:
        raise TargetValidationError(issues)

    values: dict[str, Any] = {
        "kpi": kpi,
        "scope_kind": scope_kind,
        "scope_value": scope_value,
        "value": number,
        "direction": direction,
        "baseline": base,
        "set_on": start,
        "deadline": deadline,
        "owner": owner,
        "active": bool(active),
        "note": note,
        "changed_by": changed_by,
    }
    t = targets.c

    def append(conn: Connection) -> dict[str, Any]:
        latest = conn.scalar(
            select(func.max(t.version)).where(
                t.kpi == kpi, t.scope_kind == scope_kind, t.scope_value == scope_value
            )
        )
        row = {
            **values,
            "target_row_id": uuid.uuid4().hex,
            "version": (latest or 0) + 1,
            "recorded_at": naive_utc(recorded_at or datetime.now(UTC)),
        }
        conn.execute(insert(targets).values(**row))
        return row

    return _target(store.write(append))


def current_targets(store: AppStateStore) -> list[Target]:
    """The latest version of every active target, ordered by KPI and scope."""
    t = targets.c
    latest = (
        select(t.kpi, t.scope_kind, t.scope_value, func.max(t.version).label("version"))
        .group_by(t.kpi, t.scope_kind, t.scope_value)
        .subquery()
    )
    stmt = (
        select(targets)
        .join(
            latest,
            (t.kpi == latest.c.kpi)
            & (t.scope_kind == latest.c.scope_kind)
            & (t.scope_value == latest.c.scope_value)
            & (t.version == latest.c.version),
        )
        .order_by(t.kpi, t.scope_kind, t.scope_value)
    )
    with store.read() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [tg for tg in map(_target, rows) if tg.active]


def target_history(store: AppStateStore) -> list[Target]:
    """Every version of every target (who changed what, when), newest first."""
    stmt = select(targets).order_by(targets.c.recorded_at.desc(), targets.c.version.desc())
    with store.read() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [_target(r) for r in rows]


def has_targets(store: AppStateStore) -> bool:
    """True when any target version was ever recorded (the demo seeds only an empty store)."""
    with store.read() as conn:
        return bool(conn.scalar(select(func.count()).select_from(targets)))


def _target(row: Mapping[str, Any] | Row) -> Target:
    base = row["baseline"]
    return Target(
        target_row_id=row["target_row_id"],
        kpi=row["kpi"],
        scope_kind=row["scope_kind"],
        scope_value=row["scope_value"],
        version=int(row["version"]),
        value=float(row["value"]),
        direction=row["direction"],
        baseline=None if base is None else float(base),
        set_on=_as_date(row["set_on"]),
        deadline=_as_date(row["deadline"]),
        owner=row["owner"],
        active=bool(row["active"]),
        note=row["note"],
        changed_by=row["changed_by"],
        recorded_at=row["recorded_at"].replace(tzinfo=UTC),
    )


def naive_utc(ts: datetime) -> datetime:
    """``ts`` as naive UTC (naive input is taken as UTC already), as the store keeps it."""
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


def _as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def _finite(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _text(issues: list[str], name: str, value: object, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        issues.append(_("{name} is required").format(name=name))
        return ""
    value = value.strip()
    if len(value) > limit:
        issues.append(_("{name} is longer than {limit} characters").format(name=name, limit=limit))
    return value
