"""Experiment metadata from the warehouse (``experiments`` and ``experiment_variants``).

Metric names are parsed from the comma-separated ``secondary_metrics`` / ``guardrail_metrics``
columns (blanks and duplicates dropped, order kept). Names are *not* checked against the
catalog here: ``ExperimentInfo.unknown_metrics`` lists the ones it does not know, so a page
can warn instead of failing.
"""

from __future__ import annotations

import datetime as dt
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
        return {v.variant: v.expected_share for v in self.variants}


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
    variants: dict[str, list[VariantInfo]] = {}
    for row in var_rows:
        variants.setdefault(row.experiment_id, []).append(
            VariantInfo(row.variant, bool(row.is_control), float(row.expected_share))
        )
    now = as_of or _now()
    infos = []
    for row in exp_rows:
        started = _to_datetime(row.started_at)
        ended = _to_datetime(row.ended_at)
        assert started is not None
        infos.append(
            ExperimentInfo(
                experiment_id=row.experiment_id,
                name=row.name,
                hypothesis=row.hypothesis,
                loop_stage=row.loop_stage,
                primary_metric=row.primary_metric.strip(),
                secondary_metrics=parse_metric_list(row.secondary_metrics),
                guardrail_metrics=parse_metric_list(row.guardrail_metrics),
                started_at=started,
                ended_at=ended,
                status=row.status,
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
