"""Alert rules and their fired episodes, in the app-state store.

A rule watches one catalog KPI (optionally scoped to a channel or segment) at a grain (``day``
or ``week``) for one condition:

- ``outside_band``: the latest complete bucket lies outside the detector's prediction interval
  (``metrics.anomaly``);
- ``crosses_target``: the KPI is on the wrong side of its active target (``data.app_state.
  targets``) while it was on the right side one bucket earlier;
- ``change_pct``: the KPI changed by more than ``threshold`` (a fraction, 0.2 = 20 %) vs the
  previous bucket.

Recipients are e-mail addresses and/or ``http(s)://`` webhook URLs, validated on save.

An **episode** is one run of consecutive buckets for which the condition holds; it fires once.
``alert_episodes`` keeps one row per (rule, episode start): ``delivered_at`` is set only once
every recipient got it, so a failed delivery is retried on the next run and a delivered one is
never sent again (``python -m reports alerts run`` is idempotent).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Double,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)

from data.app_state import store as _store
from data.app_state.store import LABEL_MAX, NAME_MAX, AppStateStore
from data.app_state.targets import SCOPE_KINDS, naive_utc
from data.schema import Channel, Segment
from i18n import _

CONDITIONS = ("outside_band", "crosses_target", "change_pct")
GRAINS = ("day", "week")
MAX_RECIPIENTS = 20
_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")

alert_rules = Table(
    "alert_rules",
    _store.metadata,
    Column("rule_id", String(32), primary_key=True, comment="uuid4 hex"),
    Column("name", String(NAME_MAX), nullable=False),
    Column("kpi", String(LABEL_MAX), nullable=False),
    Column("grain", String(8), nullable=False, comment="day | week"),
    Column("condition", String(16), nullable=False),
    Column("threshold", Double, nullable=True, comment="change_pct: fraction"),
    Column("scope_kind", String(16), nullable=False),
    Column("scope_value", String(LABEL_MAX), nullable=False),
    Column("recipients", Text, nullable=False, comment="JSON list of e-mails / URLs"),
    Column("active", Boolean, nullable=False),
    Column("created_by", String(NAME_MAX), nullable=False),
    Column("created_at", DateTime, nullable=False, comment="UTC"),
    comment="alert rules; retiring one sets active = False",
)

alert_episodes = Table(
    "alert_episodes",
    _store.metadata,
    Column("episode_id", String(32), primary_key=True, comment="uuid4 hex"),
    Column("rule_id", String(32), nullable=False),
    Column("started_on", Date, nullable=False, comment="first bucket of the episode"),
    Column("message", Text, nullable=False),
    Column("fired_at", DateTime, nullable=False, comment="UTC"),
    Column("delivered_at", DateTime, nullable=True, comment="UTC; NULL: not (yet) delivered"),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("rule_id", "started_on", name="uq_alert_episodes"),
    comment="one row per (rule, episode): an alert fires once per episode",
)


class AlertRuleError(ValueError):
    """A rule was not saved because of bad input; ``issues`` lists every problem."""

    def __init__(self, issues: list[str]) -> None:
        super().__init__(_("Alert rule not saved: ") + "; ".join(issues))
        self.issues = tuple(issues)


@dataclass(frozen=True)
class AlertRule:
    rule_id: str
    name: str
    kpi: str
    grain: str
    condition: str
    threshold: float | None
    scope_kind: str
    scope_value: str
    recipients: tuple[str, ...]
    active: bool
    created_by: str
    created_at: datetime

    @property
    def emails(self) -> tuple[str, ...]:
        return tuple(r for r in self.recipients if "@" in r and "://" not in r)

    @property
    def webhooks(self) -> tuple[str, ...]:
        return tuple(r for r in self.recipients if "://" in r)


@dataclass(frozen=True)
class Episode:
    episode_id: str
    rule_id: str
    started_on: date
    message: str
    fired_at: datetime
    delivered_at: datetime | None
    last_error: str | None


def validate_recipient(value: str) -> str | None:
    """None when ``value`` is an e-mail address or an http(s) URL with a host, else why not."""
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return _("{v!r} is not an http(s) webhook URL").format(v=value)
        return None
    if not _EMAIL.match(value):
        return _("{v!r} is not an e-mail address").format(v=value)
    return None


def save_rule(
    store: AppStateStore,
    *,
    name: str,
    kpi: str,
    condition: str,
    recipients: list[str] | tuple[str, ...],
    created_by: str,
    grain: str = "day",
    threshold: float | None = None,
    scope_kind: str = "all",
    scope_value: str = "",
    now: datetime | None = None,
) -> AlertRule:
    """Validate and store a new rule; raises :class:`AlertRuleError` with every problem."""
    from metrics.marketing.kpis import KPIS

    issues: list[str] = []
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        issues.append(_("a name (1–{n} characters) is required").format(n=NAME_MAX))
    if kpi not in KPIS:
        issues.append(_("unknown KPI {kpi!r}").format(kpi=kpi))
    if grain not in GRAINS:
        issues.append(_("grain must be day or week, got {g!r}").format(g=grain))
    if condition not in CONDITIONS:
        issues.append(
            _("condition must be one of {c}, got {v!r}").format(
                c=", ".join(CONDITIONS), v=condition
            )
        )
    if condition == "change_pct":
        if threshold is None or not (0 < float(threshold) < 100):
            issues.append(_("a change threshold above 0 (a fraction: 0.2 = 20%) is required"))
    else:
        threshold = None
    if scope_kind not in SCOPE_KINDS:
        issues.append(_("scope must be one of {k}").format(k=", ".join(SCOPE_KINDS)))
    elif scope_kind == "all":
        scope_value = ""
    elif scope_value not in {str(c) for c in (Channel if scope_kind == "channel" else Segment)}:
        issues.append(_("unknown {kind} {value!r}").format(kind=scope_kind, value=scope_value))
    cleaned = [r.strip() for r in recipients if r and r.strip()]
    if not cleaned:
        issues.append(_("at least one recipient (e-mail address or webhook URL) is required"))
    if len(cleaned) > MAX_RECIPIENTS:
        issues.append(_("at most {n} recipients").format(n=MAX_RECIPIENTS))
    issues.extend(p for p in map(validate_recipient, cleaned) if p)
    created_by = (created_by or "").strip()
    if not created_by:
        issues.append(_("created by (your name) is required"))
    if issues:
        raise AlertRuleError(issues)
    row = {
        "rule_id": uuid.uuid4().hex,
        "name": name,
        "kpi": kpi,
        "grain": grain,
        "condition": condition,
        "threshold": None if threshold is None else float(threshold),
        "scope_kind": scope_kind,
        "scope_value": scope_value,
        "recipients": json.dumps(list(dict.fromkeys(cleaned))),
        "active": True,
        "created_by": created_by[:NAME_MAX],
        "created_at": naive_utc(now or datetime.now(UTC)),
    }
    store.write(lambda conn: conn.execute(insert(alert_rules).values(**row)))
    return _rule(row)


def retire_rule(store: AppStateStore, rule_id: str) -> None:
    """Switch a rule off (its episodes stay)."""
    store.write(
        lambda conn: conn.execute(
            update(alert_rules).where(alert_rules.c.rule_id == rule_id).values(active=False)
        )
    )


def active_rules(store: AppStateStore) -> list[AlertRule]:
    stmt = (
        select(alert_rules)
        .where(alert_rules.c.active.is_(True))
        .order_by(alert_rules.c.created_at, alert_rules.c.rule_id)
    )
    with store.read() as conn:
        return [_rule(r) for r in conn.execute(stmt).mappings().all()]


def episode(store: AppStateStore, rule_id: str, started_on: date) -> Episode | None:
    """The stored episode of ``rule_id`` starting on ``started_on``, if any."""
    e = alert_episodes.c
    with store.read() as conn:
        row = (
            conn.execute(
                select(alert_episodes).where(e.rule_id == rule_id, e.started_on == started_on)
            )
            .mappings()
            .first()
        )
    return None if row is None else _episode(row)


def fire_episode(
    store: AppStateStore, rule_id: str, started_on: date, message: str, now: datetime
) -> Episode:
    """The episode row for (rule, start), created (fired) if it is new."""

    def work(conn: Connection) -> dict[str, Any]:
        e = alert_episodes.c
        found = (
            conn.execute(
                select(alert_episodes).where(e.rule_id == rule_id, e.started_on == started_on)
            )
            .mappings()
            .first()
        )
        if found is not None:
            return dict(found)
        row = {
            "episode_id": uuid.uuid4().hex,
            "rule_id": rule_id,
            "started_on": started_on,
            "message": message,
            "fired_at": naive_utc(now),
            "delivered_at": None,
            "last_error": None,
        }
        conn.execute(insert(alert_episodes).values(**row))
        return row

    return _episode(store.write(work))


def mark_delivery(
    store: AppStateStore, episode_id: str, *, now: datetime, error: str | None
) -> None:
    """Record a delivery attempt: delivered (``error`` None) or the first line of what failed."""
    values: dict[str, Any] = (
        {"delivered_at": naive_utc(now), "last_error": None}
        if error is None
        else {"last_error": error[:2_000]}
    )
    store.write(
        lambda conn: conn.execute(
            update(alert_episodes).where(alert_episodes.c.episode_id == episode_id).values(**values)
        )
    )


def open_episodes(store: AppStateStore) -> list[Episode]:
    """Every stored episode, newest first."""
    stmt = select(alert_episodes).order_by(alert_episodes.c.fired_at.desc())
    with store.read() as conn:
        return [_episode(r) for r in conn.execute(stmt).mappings().all()]


def _rule(row: Any) -> AlertRule:
    th = row["threshold"]
    return AlertRule(
        rule_id=row["rule_id"],
        name=row["name"],
        kpi=row["kpi"],
        grain=row["grain"],
        condition=row["condition"],
        threshold=None if th is None else float(th),
        scope_kind=row["scope_kind"],
        scope_value=row["scope_value"],
        recipients=tuple(json.loads(row["recipients"])),
        active=bool(row["active"]),
        created_by=row["created_by"],
        created_at=row["created_at"].replace(tzinfo=UTC),
    )


def _episode(row: Any) -> Episode:
    started = row["started_on"]
    delivered = row["delivered_at"]
    return Episode(
        episode_id=row["episode_id"],
        rule_id=row["rule_id"],
        started_on=started.date() if isinstance(started, datetime) else started,
        message=row["message"],
        fired_at=row["fired_at"].replace(tzinfo=UTC),
        delivered_at=None if delivered is None else delivered.replace(tzinfo=UTC),
        last_error=row["last_error"],
    )
