"""Experiment metadata from the warehouse (``experiments`` and ``experiment_variants``).

Metric names are parsed from the comma-separated ``secondary_metrics`` / ``guardrail_metrics``
columns (blanks and duplicates dropped, order kept). Names are *not* checked against the
catalog here: ``ExperimentInfo.unknown_metrics`` lists the ones it does not know, so a page
can warn instead of failing.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import Engine, bindparam, select

from data.schema import experiment_variants, experiments
from metrics.experiments.definitions import EXPERIMENT_METRICS


class UnknownExperimentError(LookupError):
    """An experiment id that is not in the warehouse's ``experiments`` table."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown experiment"


@dataclass(frozen=True)
class VariantInfo:
    """One arm: its name, whether it is the control, and its planned traffic share (0-1)."""

    variant: str
    is_control: bool
    expected_share: float


@dataclass(frozen=True)
class ExperimentInfo:
    """An experiment's definition.

    ``days_running`` is whole days from ``started_at`` to ``ended_at`` (or, while running, to
    the ``as_of`` time the metadata was loaded with; default now, UTC). ``variants`` lists the
    control first.
    """

    experiment_id: str
    name: str
    hypothesis: str
    loop_stage: str
    primary_metric: str
    secondary_metrics: tuple[str, ...]
    guardrail_metrics: tuple[str, ...]
    started_at: dt.datetime
    ended_at: dt.datetime | None
    status: str
    variants: tuple[VariantInfo, ...]
    days_running: int

    @property
    def control(self) -> VariantInfo | None:
        """The control arm (the first ``is_control`` variant), or None if none is flagged."""
        return next((v for v in self.variants if v.is_control), None)

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Primary, secondary, then guardrail metric names, without duplicates."""
        names = (self.primary_metric, *self.secondary_metrics, *self.guardrail_metrics)
        return tuple(dict.fromkeys(names))

    @property
    def unknown_metrics(self) -> tuple[str, ...]:
        """Metric names not in the catalog (``EXPERIMENT_METRICS``)."""
        return tuple(n for n in self.metric_names if n not in EXPERIMENT_METRICS)

    @property
    def expected_shares(self) -> dict[str, float]:
        """Designed share per variant; empty when any share is missing or invalid (NULL,
        negative, not finite) or they sum to 0, so the SRM check is skipped, not misread."""
        shares = {v.variant: v.expected_share for v in self.variants}
        valid = all(math.isfinite(s) and s >= 0 for s in shares.values())
        return shares if valid and sum(shares.values()) > 0 else {}


def parse_metric_list(text: str | None) -> tuple[str, ...]:
    """``"a, b,,a"`` -> ``("a", "b")``; None or blank -> ``()``."""
    if not text:
        return ()
    return tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))


def _to_datetime(value: object) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time.min)
    return dt.datetime.fromisoformat(str(value))


def _share(value: object) -> float:
    """A designed traffic share as a float; NaN when missing or not a number."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _load(
    engine: Engine, experiment_id: str | None, as_of: dt.datetime | None
) -> list[ExperimentInfo]:
    e, v = experiments, experiment_variants
    stmt = select(e).order_by(e.c.started_at.desc(), e.c.experiment_id)
    var_stmt = select(v).order_by(v.c.experiment_id, v.c.is_control.desc(), v.c.variant)
    if experiment_id is not None:
        stmt = stmt.where(e.c.experiment_id == bindparam("experiment_id", experiment_id))
        var_stmt = var_stmt.where(v.c.experiment_id == bindparam("experiment_id", experiment_id))
    with engine.connect() as conn:
        exp_rows = list(conn.execute(stmt))
        var_rows = list(conn.execute(var_stmt))
    # Bad rows must not take the pages down: a variant row without an experiment or a name is
    # skipped, a repeated variant or experiment row is read once (the first), a NULL share is
    # NaN (no SRM check), an experiment without a start date is skipped.
    variants: dict[str, list[VariantInfo]] = {}
    for row in var_rows:
        if row.experiment_id is None or row.variant is None:
            continue
        arms = variants.setdefault(row.experiment_id, [])
        if any(a.variant == row.variant for a in arms):
            continue
        arms.append(VariantInfo(str(row.variant), bool(row.is_control), _share(row.expected_share)))
    now = as_of or _now()
    infos = []
    seen: set[str] = set()
    for row in exp_rows:
        started = _to_datetime(row.started_at)
        ended = _to_datetime(row.ended_at)
        if row.experiment_id is None or started is None or row.experiment_id in seen:
            continue
        seen.add(row.experiment_id)
        infos.append(
            ExperimentInfo(
                experiment_id=str(row.experiment_id),
                name=str(row.name if row.name is not None else row.experiment_id),
                hypothesis=str(row.hypothesis or ""),
                loop_stage=str(row.loop_stage or ""),
                primary_metric=str(row.primary_metric or "").strip(),
                secondary_metrics=parse_metric_list(row.secondary_metrics),
                guardrail_metrics=parse_metric_list(row.guardrail_metrics),
                started_at=started,
                ended_at=ended,
                status=str(row.status or "unknown"),
                variants=tuple(variants.get(row.experiment_id, ())),
                days_running=max(((ended or now) - started).days, 0),
            )
        )
    return infos


def list_experiments(engine: Engine, *, as_of: dt.datetime | None = None) -> list[ExperimentInfo]:
    """Every experiment, most recently started first."""
    return _load(engine, None, as_of)


def get_experiment(
    engine: Engine, experiment_id: str, *, as_of: dt.datetime | None = None
) -> ExperimentInfo:
    """One experiment; ``UnknownExperimentError`` (naming the known ids) if it does not exist."""
    found = _load(engine, experiment_id, as_of)
    if not found:
        e = experiments
        with engine.connect() as conn:
            known = list(
                conn.execute(select(e.c.experiment_id).order_by(e.c.experiment_id)).scalars()
            )
        hint = f"known experiments: {', '.join(known)}" if known else "no experiments exist"
        raise UnknownExperimentError(f"unknown experiment {experiment_id!r}; {hint}")
    return found[0]
