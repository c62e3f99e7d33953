"""The Evolve loop in numbers: how fast the team experiments, how often it wins, how quickly it
decides, whether it follows the evidence, what it expects to have gained and what it learned.

Sources: the warehouse ``experiments`` table (read-only) and the app-state decision log
(``data.app_state.decisions``). Definitions:

- **Velocity**: experiments started per calendar month (``started_at``) and concluded per month
  (``ended_at`` of experiments whose status is 'concluded').
- **Decided**: an experiment whose *current* (latest) decision is ship, iterate or kill;
  'extend' means "keep running", so it is not a decision yet.
- **Win rate**: decided experiments whose current decision is ship ÷ decided experiments.
- **Decided share**: concluded experiments that are decided ÷ concluded experiments.
- **Time to decision**: days from the experiment's end (its start while it has no end) to the
  *first* decision recorded for it (version 1, any kind). Negative when decided before the
  recorded end.
- **Followed-recommendation share**: among current decisions recorded against a
  recommendation (``followed_recommendation`` not None), the share that followed it.
- **Cumulative estimated impact**: ``expected_impact`` (relative lift, a fraction, as estimated
  by each experiment) of current ship decisions, summed in rollout order (recording date when
  no rollout date). Sums of estimates on different KPIs: a tally, not a measured gain.
- **Realised impact**: a shipped change's target KPI in the ``window_days`` before the rollout
  date vs the ``window_days`` from the rollout date on (equal windows, KPI catalog SQL).
  Observational: seasonality, other launches and regression to the mean all move it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import pandas as pd
from sqlalchemy import Engine, Integer, Select, String, case, func, literal, select, union_all

from data.app_state.decisions import DecisionRecord, all_decisions, current_decisions
from data.app_state.store import AppStateStore, DecisionKind
from data.schema import ExperimentStatus, experiments
from data.sqlfuncs import trunc_to
from i18n import _
from metrics import formatting as fmt
from metrics.filters import Filters
from metrics.marketing import kpi_sql
from metrics.marketing.kpis import KPIS

FINAL_DECISIONS = frozenset({DecisionKind.SHIP, DecisionKind.ITERATE, DecisionKind.KILL})
UNDECIDED = "undecided"
DEFAULT_WINDOW_DAYS = 28
VELOCITY_DAYS = 90
KPI_ALIASES: dict[str, str] = {
    "purchase_conversion": "conversion_rate",
    "click_through_rate": "ctr",
}
"""Experiment metric names that map onto a catalog KPI for the realised-impact check."""

EXPERIMENT_COLUMNS = (
    "experiment_id",
    "name",
    "hypothesis",
    "loop_stage",
    "primary_metric",
    "started_at",
    "ended_at",
    "status",
)


# --- warehouse --------------------------------------------------------------------------------


def experiments_query() -> Select:
    """The experiments' descriptive columns (one row per experiment; a small table)."""
    e = experiments
    return select(*(e.c[c] for c in EXPERIMENT_COLUMNS)).order_by(e.c.started_at, e.c.experiment_id)


def fetch_experiments(engine: Engine) -> pd.DataFrame:
    """:func:`experiments_query` as a frame; timestamps as ``datetime64``."""
    with engine.connect() as conn:
        result = conn.execute(experiments_query())
        df = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for col in ("started_at", "ended_at"):
        df[col] = pd.to_datetime(df[col])
    return df


def velocity_query(filters: Filters | None = None) -> Select:
    """``month, started, concluded``: experiments started / concluded per calendar month.

    With ``filters``, only starts and ends inside its dates count (dimensions do not apply).
    """
    e = experiments
    started = select(
        trunc_to("month", e.c.started_at).label("month"),
        literal(1, Integer).label("started"),
        literal(0, Integer).label("concluded"),
    )
    concluded = select(
        trunc_to("month", e.c.ended_at).label("month"),
        literal(0, Integer).label("started"),
        literal(1, Integer).label("concluded"),
    ).where(e.c.status == str(ExperimentStatus.CONCLUDED), e.c.ended_at.is_not(None))
    if filters is not None:
        started = started.where(filters.time_condition(e.c.started_at))
        concluded = concluded.where(filters.time_condition(e.c.ended_at))
    u = union_all(started, concluded).subquery("events")
    return (
        select(
            u.c.month,
            func.sum(u.c.started).label("started"),
            func.sum(u.c.concluded).label("concluded"),
        )
        .group_by(u.c.month)
        .order_by(u.c.month)
    )


def fetch_velocity(engine: Engine, filters: Filters | None = None) -> pd.DataFrame:
    """Monthly ``month, started, concluded``, months without activity filled with 0."""
    with engine.connect() as conn:
        rows = conn.execute(velocity_query(filters)).fetchall()
    df = pd.DataFrame(rows, columns=["month", "started", "concluded"])
    if df.empty:
        return df.astype({"started": "int64", "concluded": "int64"})
    df["month"] = pd.to_datetime(df["month"]).dt.to_period("M").dt.to_timestamp()
    df = df.groupby("month", as_index=True)[["started", "concluded"]].sum().astype("int64")
    full = pd.date_range(df.index.min(), df.index.max(), freq="MS")
    return df.reindex(full, fill_value=0).rename_axis("month").reset_index()


def activity_query(since: dt.datetime) -> Select:
    """``running, concluded`` (by status) and ``started_recent, concluded_recent`` (≥ since)."""
    e = experiments
    is_concluded = e.c.status == str(ExperimentStatus.CONCLUDED)

    def n(cond) -> object:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    return select(
        n(e.c.status == str(ExperimentStatus.RUNNING)).label("running"),
        n(is_concluded).label("concluded"),
        n(e.c.started_at >= since).label("started_recent"),
        n(is_concluded & (e.c.ended_at >= since)).label("concluded_recent"),
    ).select_from(e)


STATUS_LABELS: dict[str, tuple[str, str]] = {
    "running_now": (
        "Running now",
        "Experiments whose status is 'running' today (the sidebar dates do not apply).",
    ),
    "concluded_all": (
        "Concluded (all history)",
        "Experiments whose status is 'concluded', whenever they ended (the sidebar dates do "
        "not apply; Loop health counts those concluded in the period).",
    ),
}
"""Label and definition of the status counts of the Evolve and Experiments pages. They differ
from Loop health's period counts (``metrics.marketing.kpi_sql.ACTIVITY_LABELS``) and so carry
other names."""


# --- decision-log metrics (pure) -------------------------------------------------------------


def _decided(current: Mapping[str, DecisionRecord]) -> list[DecisionRecord]:
    return [d for d in current.values() if d.decision in FINAL_DECISIONS]


def win_rate(current: Mapping[str, DecisionRecord]) -> float | None:
    """Ship ÷ decided (ship, iterate, kill) over current decisions; None when none decided."""
    decided = _decided(current)
    if not decided:
        return None
    return sum(d.decision is DecisionKind.SHIP for d in decided) / len(decided)


def decided_share(
    current: Mapping[str, DecisionRecord], concluded_ids: Iterable[str]
) -> float | None:
    """Concluded experiments with a final current decision ÷ concluded experiments."""
    ids = set(concluded_ids)
    if not ids:
        return None
    decided = {d.experiment_id for d in _decided(current)}
    return len(ids & decided) / len(ids)


def followed_share(current: Mapping[str, DecisionRecord]) -> float | None:
    """Share of current decisions (with a known ``followed_recommendation``) that followed it."""
    known = [
        d.followed_recommendation for d in current.values() if d.followed_recommendation is not None
    ]
    return sum(known) / len(known) if known else None


def _naive_utc(ts: dt.datetime) -> dt.datetime:
    return ts.astimezone(dt.UTC).replace(tzinfo=None) if ts.tzinfo else ts


def time_to_decision(
    history: Sequence[DecisionRecord], experiments_df: pd.DataFrame
) -> pd.DataFrame:
    """Per decided experiment: ``experiment_id, reference, reference_at, first_decision_at, days``.

    ``reference`` is 'end' (``ended_at``) or 'start' (``started_at`` while not ended); ``days``
    is fractional days to the first recorded decision. Experiments missing from the warehouse
    are left out.
    """
    first: dict[str, DecisionRecord] = {}
    for d in history:
        if d.experiment_id not in first or d.version < first[d.experiment_id].version:
            first[d.experiment_id] = d
    cols = ["experiment_id", "reference", "reference_at", "first_decision_at", "days"]
    rows = []
    info = experiments_df.set_index("experiment_id") if len(experiments_df) else None
    for exp_id, d in first.items():
        if info is None or exp_id not in info.index:
            continue
        ended, started = info.at[exp_id, "ended_at"], info.at[exp_id, "started_at"]
        ref, label = (started, "start") if pd.isna(ended) else (ended, "end")
        decided_at = _naive_utc(d.recorded_at)
        days = (decided_at - pd.Timestamp(ref).to_pydatetime()).total_seconds() / 86400
        rows.append((exp_id, label, pd.Timestamp(ref), pd.Timestamp(decided_at), days))
    return pd.DataFrame(rows, columns=cols).sort_values("experiment_id", ignore_index=True)


def cumulative_impact(current: Mapping[str, DecisionRecord]) -> pd.DataFrame:
    """Current ship decisions with an ``expected_impact``, in rollout order.

    Columns: ``date`` (rollout date, else the recording date), ``experiment_id``,
    ``target_kpi``, ``expected_impact`` (fraction), ``cumulative`` (running sum over all),
    ``cumulative_kpi`` (running sum within the target KPI).
    """
    rows = [
        (
            d.rollout_date or _naive_utc(d.recorded_at).date(),
            d.experiment_id,
            d.target_kpi or _("(no target KPI)"),
            d.expected_impact,
        )
        for d in current.values()
        if d.decision is DecisionKind.SHIP and d.expected_impact is not None
    ]
    df = pd.DataFrame(rows, columns=["date", "experiment_id", "target_kpi", "expected_impact"])
    df["date"] = pd.to_datetime(df["date"])
    df = df.sort_values(["date", "experiment_id"], ignore_index=True)
    df["expected_impact"] = df["expected_impact"].astype("float64")
    df["cumulative"] = df["expected_impact"].cumsum()
    df["cumulative_kpi"] = df.groupby("target_kpi")["expected_impact"].cumsum()
    return df


LIBRARY_COLUMNS = (
    "experiment_id",
    "name",
    "loop_stage",
    "status",
    "hypothesis",
    "decision",
    "rationale",
    "decided_by",
    "decided_at",
    "recommendation",
    "followed_recommendation",
    "target_kpi",
    "expected_impact",
)


def learnings(
    experiments_df: pd.DataFrame,
    current: Mapping[str, DecisionRecord],
    *,
    text: str = "",
    loop_stages: Sequence[str] = (),
    decisions: Sequence[str] = (),
) -> pd.DataFrame:
    """The learnings library: one row per experiment (and per decided id not in the warehouse).

    ``text``: every whitespace-separated term must occur (case-insensitive) in the name,
    hypothesis or rationale. ``loop_stages`` / ``decisions`` (``'undecided'`` for none): empty =
    all. Most recent decision first, then undecided experiments by start, newest first.
    """
    base = experiments_df.reindex(columns=list(EXPERIMENT_COLUMNS))
    # One row per experiment: a repeated (or NULL) id in the warehouse must not break lookups.
    base = base[base["experiment_id"].notna()].drop_duplicates("experiment_id")
    base = base.set_index("experiment_id")
    rows = []
    for exp_id in list(base.index) + [i for i in current if i not in base.index]:
        d = current.get(exp_id)
        e = base.loc[exp_id] if exp_id in base.index else None
        rows.append(
            {
                "experiment_id": exp_id,
                "name": e["name"] if e is not None else exp_id,
                "loop_stage": e["loop_stage"] if e is not None else "",
                "status": e["status"] if e is not None else _("not in warehouse"),
                "hypothesis": e["hypothesis"] if e is not None else "",
                "decision": d.decision.value if d else UNDECIDED,
                "rationale": d.rationale if d else "",
                "decided_by": d.decided_by if d else "",
                "decided_at": pd.Timestamp(_naive_utc(d.recorded_at)) if d else pd.NaT,
                "recommendation": (d.recommendation_at_decision or "") if d else "",
                "followed_recommendation": d.followed_recommendation if d else None,
                "target_kpi": (d.target_kpi or "") if d else "",
                "expected_impact": d.expected_impact
                if d and d.expected_impact is not None
                else math.nan,
                "_started": e["started_at"] if e is not None else pd.NaT,
            }
        )
    df = pd.DataFrame(rows, columns=[*LIBRARY_COLUMNS, "_started"])
    if len(df):
        haystack = (
            df["name"].astype(str)
            + " "
            + df["hypothesis"].astype(str)
            + " "
            + df["rationale"].astype(str)
        ).str.lower()
        keep = pd.Series(True, index=df.index)
        for term in text.lower().split():
            keep &= haystack.str.contains(term, regex=False)
        if loop_stages:
            keep &= df["loop_stage"].isin(list(loop_stages))
        if decisions:
            keep &= df["decision"].isin(list(decisions))
        df = df[keep].sort_values(["decided_at", "_started"], ascending=False, na_position="last")
    return df.drop(columns="_started").reset_index(drop=True)


# --- the overview's Evolve block --------------------------------------------------------------


@dataclass(frozen=True)
class EvolveSummary:
    """Headline Evolve numbers; shares are fractions, None when undefined (nothing to divide)."""

    running: int
    concluded: int
    started_last_90d: int  # velocity: experiments started in the 90 days up to ``as_of``
    concluded_last_90d: int
    win_rate: float | None
    decided_share: float | None
    followed_share: float | None
    cumulative_estimated_impact: float  # Σ expected_impact of shipped changes (estimates)
    shipped: int
    decisions: int  # experiments with a current decision (any kind)


def evolve_summary(
    warehouse_engine: Engine, store: AppStateStore, *, as_of: dt.datetime | None = None
) -> EvolveSummary:
    """The Evolve block's numbers (see the module docstring for the definitions).

    ``as_of`` (naive UTC; default now) ends the 90-day velocity window. Raises the warehouse's
    ``SQLAlchemyError`` or the store's ``AppStateError``.
    """
    as_of = as_of or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    since = as_of - dt.timedelta(days=VELOCITY_DAYS)
    e = experiments
    with warehouse_engine.connect() as conn:
        counts = conn.execute(activity_query(since)).one()
        concluded_ids = list(
            conn.execute(
                select(e.c.experiment_id).where(e.c.status == str(ExperimentStatus.CONCLUDED))
            ).scalars()
        )
    current = current_decisions(store)
    shipped = [d for d in current.values() if d.decision is DecisionKind.SHIP]
    return EvolveSummary(
        running=int(counts.running),
        concluded=int(counts.concluded),
        started_last_90d=int(counts.started_recent),
        concluded_last_90d=int(counts.concluded_recent),
        win_rate=win_rate(current),
        decided_share=decided_share(current, concluded_ids),
        followed_share=followed_share(current),
        cumulative_estimated_impact=float(
            sum(d.expected_impact for d in shipped if d.expected_impact is not None)
        ),
        shipped=len(shipped),
        decisions=len(current),
    )


def load_history(store: AppStateStore) -> tuple[dict[str, DecisionRecord], list[DecisionRecord]]:
    """(current decisions by experiment, every version): the two reads the Evolve page needs."""
    return current_decisions(store), all_decisions(store)


# --- realised impact --------------------------------------------------------------------------


@dataclass(frozen=True)
class RealisedImpact:
    """Target KPI before vs after a rollout (observational, not causal).

    ``status``: 'ok'; 'too_recent' (the after window ends after ``data_end``); 'no_data' (a
    window has no value); 'unknown_kpi' (the target KPI is not in the catalog). ``change`` is
    after ÷ before − 1 (relative, fraction); ``estimate`` the decision's ``expected_impact``.
    """

    experiment_id: str
    target_kpi: str
    kpi: str | None  # catalog name
    rollout_date: dt.date
    window_days: int
    before_start: dt.date
    before_end: dt.date
    after_start: dt.date
    after_end: dt.date
    before: float | None
    after: float | None
    change: float | None
    estimate: float | None
    status: str
    message: str


def resolve_kpi(target: str | None) -> str | None:
    """A decision's ``target_kpi`` as a catalog name: name, label or known alias; else None."""
    if not target:
        return None
    key = target.strip()
    if key in KPIS:
        return key
    if key in KPI_ALIASES:
        return KPI_ALIASES[key]
    by_label = {k.label.lower(): k.name for k in KPIS.values()}
    return by_label.get(key.lower()) or by_label.get(re.sub(r"[_\s]+", " ", key.lower()))


def windows(rollout: dt.date, window_days: int) -> tuple[dt.date, dt.date, dt.date, dt.date]:
    """(before start, before end, after start, after end), inclusive days.

    Before: the ``window_days`` days up to the day before rollout; after: the rollout day and
    the ``window_days − 1`` days after it.
    """
    w = dt.timedelta(days=window_days)
    return rollout - w, rollout - dt.timedelta(days=1), rollout, rollout + w - dt.timedelta(days=1)


def realised_impact_query(kpi: str, rollout: dt.date, window_days: int, base: Filters) -> Select:
    """``window ('before'|'after'), value`` for the KPI over the two windows (base's dimensions)."""
    b0, b1, a0, a1 = windows(rollout, window_days)
    parts = []
    for label, start, end in (("before", b0, b1), ("after", a0, a1)):
        total = kpi_sql.kpi_query(kpi, replace(base, start=start, end=end), "total").subquery()
        parts.append(select(literal(label, String).label("window"), total.c.value))
    return union_all(*parts)


def shipped_with_rollout(current: Mapping[str, DecisionRecord]) -> list[DecisionRecord]:
    """Current ship decisions that have both a target KPI and a rollout date."""
    return [
        d
        for d in current.values()
        if d.decision is DecisionKind.SHIP and d.target_kpi and d.rollout_date is not None
    ]


def realised_impact(
    engine: Engine,
    decisions: Iterable[DecisionRecord],
    *,
    data_end: dt.date,
    window_days: int = DEFAULT_WINDOW_DAYS,
    base: Filters | None = None,
) -> list[RealisedImpact]:
    """Before/after values for each decision (callers pass :func:`shipped_with_rollout`).

    ``data_end`` is the last day with data in the warehouse; ``base`` carries dimension filters
    (its dates are replaced by the windows). One small query per decision.
    """
    if window_days < 1:
        raise ValueError(
            _("window_days must be at least 1; got {window_days}").format(window_days=window_days)
        )
    base = base or Filters(data_end, data_end)
    out: list[RealisedImpact] = []
    for d in decisions:
        assert d.rollout_date is not None
        name = resolve_kpi(d.target_kpi)
        a1 = windows(d.rollout_date, window_days)[3]
        if name is None:
            out.append(
                _impact(
                    d,
                    None,
                    window_days,
                    "unknown_kpi",
                    _("{target_kpi!r} is not a KPI.").format(target_kpi=d.target_kpi),
                )
            )
            continue
        if a1 > data_end:
            wait = (a1 - data_end).days
            message = _(
                "Rollout too recent: the after window ends {a1:%d %b "
                "%Y}, the data ends {data_end:%d "
                "%b %Y} (check back in {wait})."
            ).format(a1=a1, data_end=data_end, wait=fmt.days(wait))
            out.append(_impact(d, name, window_days, "too_recent", message))
            continue
        stmt = realised_impact_query(name, d.rollout_date, window_days, base)
        with engine.connect() as conn:
            rows = {row[0]: row[1] for row in conn.execute(stmt)}
        before, after = _finite(rows.get("before")), _finite(rows.get("after"))
        if before is None or after is None or (before == 0 and after == 0):
            message = _("No data in one or both windows for these filters.")
            out.append(_impact(d, name, window_days, "no_data", message, before, after))
            continue
        change = after / before - 1 if before != 0 else None
        out.append(_impact(d, name, window_days, "ok", "", before, after, change))
    return out


def _impact(
    d: DecisionRecord,
    kpi: str | None,
    window_days: int,
    status: str,
    message: str,
    before: float | None = None,
    after: float | None = None,
    change: float | None = None,
) -> RealisedImpact:
    assert d.rollout_date is not None
    b0, b1, a0, a1 = windows(d.rollout_date, window_days)
    return RealisedImpact(
        experiment_id=d.experiment_id,
        target_kpi=d.target_kpi or "",
        kpi=kpi,
        rollout_date=d.rollout_date,
        window_days=window_days,
        before_start=b0,
        before_end=b1,
        after_start=a0,
        after_end=a1,
        before=before,
        after=after,
        change=change,
        estimate=d.expected_impact,
        status=status,
        message=message,
    )


def _finite(value: object) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def realised_frame(
    results: Sequence[RealisedImpact], names: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """The realised-impact table (one row per decision) for display and download."""
    names = names or {}
    rows = [
        {
            "experiment_id": r.experiment_id,
            "experiment": names.get(r.experiment_id, r.experiment_id),
            "kpi": r.kpi or "",
            "target_kpi": KPIS[r.kpi].label if r.kpi else r.target_kpi,
            "rollout_date": r.rollout_date,
            "before_window": f"{r.before_start} – {r.before_end}",
            "after_window": f"{r.after_start} – {r.after_end}",
            "before": r.before,
            "after": r.after,
            "observed_change": r.change,
            "estimated_impact": r.estimate,
            "status": r.status,
            "note": r.message,
        }
        for r in results
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "experiment_id",
            "experiment",
            "kpi",
            "target_kpi",
            "rollout_date",
            "before_window",
            "after_window",
            "before",
            "after",
            "observed_change",
            "estimated_impact",
            "status",
            "note",
        ],
    )
