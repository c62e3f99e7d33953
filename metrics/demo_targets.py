"""A few demo KPI targets, so the tiles show progress and pace on first start.

Each target is set 60 days before the demo's last day, with the KPI's 90-day value then as
its baseline and a deadline 120 days after it (``metrics.targets`` paces it linearly):

- CAC 10 % below its baseline (lower is better);
- conversion rate 10 % above its baseline;
- ROAS 15 % above its baseline;
- NPS +2 points.

Values come from the same catalog KPI totals the tiles use (``kpi_sql.fetch_kpi_totals``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from data.app_state.store import AppStateStore
from data.app_state.targets import has_targets, record_target
from metrics.filters import default_filters
from metrics.marketing import kpi_sql

DEMO_OWNER = "Demo growth lead"
DEMO_CHANGED_BY = "LoopLens demo"
SET_DAYS_BEFORE_END = 60
DEADLINE_DAYS = 120
PLAN = {  # kpi: (direction, how the target is derived from the baseline)
    "cac": ("lower", lambda b: b * 0.90),
    "conversion_rate": ("higher", lambda b: b * 1.10),
    "roas": ("higher", lambda b: b * 1.15),
    "nps": ("higher", lambda b: b + 2.0),
}


def seed_demo_targets(warehouse_engine: Engine, store: AppStateStore, latest: dt.date) -> int:
    """Record the demo targets when the store has none yet; the number recorded.

    ``latest``: the demo's last data day. Raises the warehouse's errors or ``AppStateError``.
    """
    if has_targets(store):
        return 0
    set_on = latest - dt.timedelta(days=SET_DAYS_BEFORE_END)
    totals = kpi_sql.fetch_kpi_totals(warehouse_engine, tuple(PLAN), default_filters(set_on))
    baselines = dict(zip(totals["kpi"], totals["current"], strict=True))
    done = 0
    for kpi, (direction, derive) in PLAN.items():
        base = baselines.get(kpi)
        if base is None or base != base:  # missing or NaN: skip that target
            continue
        record_target(
            store,
            kpi=kpi,
            value=float(derive(float(base))),
            direction=direction,
            baseline=float(base),
            set_on=set_on,
            deadline=set_on + dt.timedelta(days=DEADLINE_DAYS),
            owner=DEMO_OWNER,
            changed_by=DEMO_CHANGED_BY,
            note="demo target",
        )
        done += 1
    return done
