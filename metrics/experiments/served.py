"""Answering experiment questions from the serving store, and the rule that decides when to.

``route`` is the routing rule: an experiment question is answered from the serving store
(``data.serving.experiments``) when

1. a store is given, exists and its experiment tables were built for this warehouse by this
   version of LoopLens (``ServingStore.covers``);
2. the question is additive over the stored groups: no ``winsorize_pct`` (caps are percentiles
   over all units) and no ``as_of`` (it truncates the units' outcome windows);
3. the experiment was present at the last refresh (a row in ``srv_experiments``; an experiment
   created since is newer than the store) and
4. every metric asked for was built with its current definition (``metric_hash``).

Otherwise it is answered live from the warehouse, and ``Source.reason`` says why. The readers
below return the same shapes as the live statements of ``metrics.experiments.sql`` (column
names ``units`` and ``m<i>_<stat>`` or the bare ``VariantStats`` field names), summed over the
stored groups.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from data.serving.experiments import (
    ROLLUP_NAMES,
    STATS,
    experiment_index,
    experiment_stats,
    metric_hash,
)
from data.serving.store import ServingStore
from i18n import _
from metrics.experiments.definitions import ExperimentMetric, MetricKind

SourceKind = Literal["serving", "live"]


@dataclass(frozen=True)
class Source:
    """Which source answered: ``serving`` (with the store's last refresh time, UTC) or
    ``live`` (with the reason the store could not answer)."""

    kind: SourceKind
    reason: str = ""
    refreshed_at: dt.datetime | None = None

    @property
    def served(self) -> bool:
        return self.kind == "serving"

    def attrs(self) -> dict[str, Any]:
        """For ``DataFrame.attrs``: ``source``, ``source_reason``, ``refreshed_at``."""
        return {
            "source": self.kind,
            "source_reason": self.reason,
            "refreshed_at": self.refreshed_at,
        }


LIVE_NO_STORE = Source("live", "no serving store")


def _live(reason: str) -> Source:
    return Source("live", reason)


def route(
    serving: ServingStore | None,
    experiment_id: str,
    metrics: Sequence[ExperimentMetric],
    *,
    winsorize_pct: float | None = None,
    as_of: dt.datetime | None = None,
) -> Source:
    """Where to answer a question about ``experiment_id``'s ``metrics`` (see the module doc)."""
    if serving is None:
        return LIVE_NO_STORE
    if winsorize_pct is not None:
        return _live(
            _("winsorised metrics are computed live (their caps are percentiles over all units)")
        )
    if as_of is not None:
        return _live(_("an as-of analysis is computed live"))
    if not serving.exists() or not serving.covers(ROLLUP_NAMES, dt.date.min):
        return _live(_("the serving store has no usable experiment tables yet"))
    try:
        with serving.engine().connect() as conn:
            index = conn.execute(
                select(experiment_index.c.assignment_rows, experiment_index.c.started_at).where(
                    experiment_index.c.experiment_id == experiment_id
                )
            ).first()
            if index is None:
                return _live(_("the experiment is newer than the last refresh"))
            wanted = {m.name: metric_hash(m) for m in metrics}
            built: dict[str, str] = {}
            if wanted and int(index.assignment_rows) > 0:
                t = experiment_stats
                built = dict(
                    conn.execute(
                        select(t.c.metric, t.c.metric_hash)
                        .where(t.c.experiment_id == experiment_id, t.c.metric.in_(sorted(wanted)))
                        .distinct()
                    ).all()
                )
    except SQLAlchemyError as exc:
        return _live(
            _("the serving store could not be read ({name__})").format(name__=type(exc).__name__)
        )
    if int(index.assignment_rows) > 0:
        changed = sorted(n for n, h in wanted.items() if built.get(n) != h)
        if changed:
            return _live(
                _("metric definition changed since the last refresh: {changed}").format(
                    changed=", ".join(changed)
                )
            )
    refreshed, _through = serving.freshness()
    return Source("serving", "", refreshed)


def _stat_names(metric: ExperimentMetric, covariate: bool) -> list[str]:
    """The statistics the live statement returns for ``metric`` (besides ``units``)."""
    names = ["sum", "sum_sq"]
    if metric.kind is MetricKind.RATIO:
        names += ["denom_sum", "denom_sum_sq", "cross_sum"]
    if covariate and metric.covariate is not None:
        names += ["cov_sum", "cov_sum_sq", "cov_cross_sum"]
        if metric.kind is MetricKind.RATIO:
            names.append("cov_denom_cross_sum")
    return names


def _day_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)[:10]


def stats_rows(
    serving: ServingStore,
    experiment_id: str,
    metrics: Sequence[ExperimentMetric],
    *,
    covariate: bool = False,
    slice_by: str | None = None,
    by_day: bool = False,
    prefixed: bool = True,
) -> list[dict[str, Any]]:
    """Rows like ``experiment_stats_query``'s (``prefixed``: ``m<i>_<stat>``) or, for one
    metric, ``variant_stats_query``'s: ``variant`` [, ``slice``] [, ``day`` as ISO date text],
    ``units`` and the metric's statistics, summed over the stored groups."""
    t = experiment_stats
    keys: list[Any] = [t.c.variant]
    if slice_by is not None:
        keys.append(t.c[slice_by].label("slice"))
    if by_day:
        keys.append(t.c.day)
    sums = [func.sum(t.c.units).label("units"), *(func.sum(t.c[s]).label(s) for s in STATS)]
    stmt = (
        select(t.c.metric, *keys, *sums)
        .where(t.c.experiment_id == experiment_id, t.c.metric.in_([m.name for m in metrics]))
        .group_by(t.c.metric, *keys)
    )
    with serving.engine().connect() as conn:
        fetched = [dict(r) for r in conn.execute(stmt).mappings()]
    index = {m.name: i for i, m in enumerate(metrics)}
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in fetched:
        key_vals: dict[str, Any] = {"variant": r["variant"]}
        if slice_by is not None:
            key_vals["slice"] = r["slice"]
        if by_day:
            key_vals["day"] = _day_text(r["day"])
        row = rows.setdefault(tuple(key_vals.values()), {**key_vals, "units": int(r["units"])})
        i = index[r["metric"]]
        for name in _stat_names(metrics[i], covariate):
            row[f"m{i}_{name}" if prefixed else name] = r[name]
    return [rows[k] for k in sorted(rows, key=lambda k: tuple("" if v is None else v for v in k))]


def daily_units(serving: ServingStore, experiment_id: str) -> list[dict[str, Any]]:
    """``day`` (ISO text), ``variant``, ``units``: first assignments per day and variant."""
    t = experiment_stats
    any_metric = (
        select(func.min(t.c.metric)).where(t.c.experiment_id == experiment_id).scalar_subquery()
    )
    stmt = (
        select(t.c.day, t.c.variant, func.sum(t.c.units).label("units"))
        .where(t.c.experiment_id == experiment_id, t.c.metric == any_metric)
        .group_by(t.c.day, t.c.variant)
        .order_by(t.c.day, t.c.variant)
    )
    with serving.engine().connect() as conn:
        return [
            {"day": _day_text(r.day), "variant": r.variant, "units": int(r.units)}
            for r in conn.execute(stmt)
        ]


def assignment_counts(serving: ServingStore, experiment_id: str) -> dict[str, int]:
    """Units per variant (first assignments), as stored."""
    counts: dict[str, int] = {}
    for row in daily_units(serving, experiment_id):
        counts[row["variant"]] = counts.get(row["variant"], 0) + row["units"]
    return counts
