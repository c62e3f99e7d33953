"""Persona × lifecycle-stage grid, pushed down to SQL.

Definitions (shown on the Tailor page):

- A customer's **stage** is their latest ``lifecycle_changes.to_stage`` before the end of the
  period (ties at one instant: the later stage name wins, as on the Lifecycle page). Customers
  with no stage change by then are not in the grid.
- **Customers** per cell: customers of that persona whose stage at the period end is that stage.
- **Revenue** per cell: order revenue (USD) in the period of the cell's customers;
  **revenue per customer** = revenue ÷ customers.
- **NPS** per cell: NPS answers in the period by the cell's customers; promoters (9–10) minus
  detractors (0–6), as a share of answers, in points (−100..100).
- **Conversion to the next stage**: of the persona's customers who *entered* the stage in the
  period, the share who entered the next funnel stage after that first entry and before the
  end of the period (the Lifecycle page's stage conversion, per persona). Loyalty and dormant
  have no next stage.
- A figure rests on too few units (:data:`metrics.small_samples.MIN_UNITS`: customers, NPS
  answers or entrants) is flagged ``*_small`` and shown greyed as "n too small".

Filters: segment and region filter customers, the channel filter their acquisition channel.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, Select, String, and_, case, func, literal, select
from sqlalchemy.sql.expression import ColumnElement

from data.schema import (
    FUNNEL_STAGES,
    Stage,
    SurveyKind,
    customers,
    lifecycle_changes,
    orders,
    surveys,
)
from i18n import _
from metrics.filters import Filters
from metrics.small_samples import MIN_UNITS

lc = lifecycle_changes
STAGE_ORDER: tuple[str, ...] = (*(s.value for s in FUNNEL_STAGES), Stage.DORMANT.value)
NEXT_STAGE: dict[str, str] = {
    a.value: b.value for a, b in zip(FUNNEL_STAGES[:-1], FUNNEL_STAGES[1:], strict=True)
}
UNRECORDED = "(not recorded)"
MAX_CELL_ROWS = 100_000
"""Customer rows a cell detail reads at most (the page says when a cell has more)."""

GRID_COLUMNS = [
    "persona",
    "stage",
    "customers",
    "revenue",
    "revenue_per_customer",
    "buyers",
    "nps",
    "nps_answers",
    "entered",
    "converted",
    "conversion",
    "next_stage",
    "customers_small",
    "nps_small",
    "conversion_small",
]


def _customer_condition(filters: Filters) -> ColumnElement[bool]:
    return filters.dimension_condition(
        channel=customers.c.acquisition_channel,
        segment=customers.c.segment,
        region=customers.c.region,
    )


def persona_col():  # noqa: ANN201 - a SQL column
    """The customer's persona, NULL shown as :data:`UNRECORDED`."""
    return func.coalesce(customers.c.persona, literal(UNRECORDED, String))


def current_stage(filters: Filters):  # noqa: ANN201 - a subquery
    """``customer_id, persona, segment, region, acquisition_channel, stage, stage_since``: each
    (filtered) customer's latest stage before the end of the period and when they entered it."""
    ranked = (
        select(
            lc.c.customer_id,
            persona_col().label("persona"),
            customers.c.segment,
            customers.c.region,
            customers.c.acquisition_channel,
            lc.c.to_stage.label("stage"),
            lc.c.changed_at.label("stage_since"),
            func.row_number()
            .over(
                partition_by=lc.c.customer_id,
                order_by=(lc.c.changed_at.desc(), lc.c.to_stage.desc()),
            )
            .label("rn"),
        )
        .select_from(lc.join(customers, customers.c.customer_id == lc.c.customer_id))
        .where(lc.c.changed_at < filters.end_ts, _customer_condition(filters))
        .subquery("ranked")
    )
    return (
        select(*(c for c in ranked.c if c.name != "rn"))
        .where(ranked.c.rn == 1)
        .subquery("current_stage")
    )


def period_revenue(filters: Filters):  # noqa: ANN201 - a subquery
    """``customer_id, revenue, orders``: order revenue (USD) and count in the period."""
    return (
        select(
            orders.c.customer_id,
            func.sum(orders.c.revenue).label("revenue"),
            func.count().label("orders"),
        )
        .where(filters.time_condition(orders.c.ordered_at))
        .group_by(orders.c.customer_id)
        .subquery("period_revenue")
    )


def period_nps(filters: Filters):  # noqa: ANN201 - a subquery
    """``customer_id, answers, promoters, detractors``: NPS answers in the period."""
    return (
        select(
            surveys.c.customer_id,
            func.count().label("answers"),
            func.sum(case((surveys.c.score >= 9, 1), else_=0)).label("promoters"),
            func.sum(case((surveys.c.score <= 6, 1), else_=0)).label("detractors"),
        )
        .where(
            surveys.c.kind == SurveyKind.NPS.value, filters.time_condition(surveys.c.responded_at)
        )
        .group_by(surveys.c.customer_id)
        .subquery("period_nps")
    )


def grid_stmt(filters: Filters) -> Select:
    """``persona, stage, customers, revenue, buyers, nps_answers, promoters, detractors``."""
    cur = current_stage(filters)
    rev = period_revenue(filters)
    nps = period_nps(filters)
    joined = cur.outerjoin(rev, rev.c.customer_id == cur.c.customer_id).outerjoin(
        nps, nps.c.customer_id == cur.c.customer_id
    )
    return (
        select(
            cur.c.persona,
            cur.c.stage,
            func.count().label("customers"),
            func.coalesce(func.sum(rev.c.revenue), 0.0).label("revenue"),
            func.count(rev.c.customer_id).label("buyers"),
            func.coalesce(func.sum(nps.c.answers), 0).label("nps_answers"),
            func.coalesce(func.sum(nps.c.promoters), 0).label("promoters"),
            func.coalesce(func.sum(nps.c.detractors), 0).label("detractors"),
        )
        .select_from(joined)
        .group_by(cur.c.persona, cur.c.stage)
    )


def _next_stage_of(stage: ColumnElement) -> ColumnElement[str]:
    return case(*((stage == a, b) for a, b in NEXT_STAGE.items()), else_=None)


def conversion_stmt(filters: Filters) -> Select:
    """``persona, stage, entered, converted`` per persona and funnel stage with a next stage."""
    entries = (
        select(
            lc.c.customer_id,
            customers.c.persona,
            lc.c.to_stage.label("stage"),
            func.min(lc.c.changed_at).label("first_at"),
        )
        .select_from(lc.join(customers, customers.c.customer_id == lc.c.customer_id))
        .where(
            filters.time_condition(lc.c.changed_at),
            lc.c.to_stage.in_(list(NEXT_STAGE)),
            _customer_condition(filters),
        )
        .group_by(lc.c.customer_id, customers.c.persona, lc.c.to_stage)
        .cte("entries")
    )
    later = lc.alias("later")
    joined = entries.outerjoin(
        later,
        and_(
            later.c.customer_id == entries.c.customer_id,
            later.c.to_stage == _next_stage_of(entries.c.stage),
            later.c.changed_at > entries.c.first_at,
            later.c.changed_at < filters.end_ts,
        ),
    )
    persona = func.coalesce(entries.c.persona, literal(UNRECORDED, String))
    return (
        select(
            persona.label("persona"),
            entries.c.stage,
            func.count(entries.c.customer_id.distinct()).label("entered"),
            func.count(later.c.customer_id.distinct()).label("converted"),
        )
        .select_from(joined)
        .group_by(entries.c.persona, entries.c.stage)
    )


def _read(engine: Engine, stmt: Select) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(stmt)
        return pd.DataFrame(result.mappings().all(), columns=list(result.keys()))


def stage_sort_key(stage: pd.Series) -> pd.Series:
    """Funnel order for a stage column (unknown stages after dormant)."""
    order = {s: i for i, s in enumerate(STAGE_ORDER)}
    return stage.map(lambda s: order.get(s, len(order)))


def assemble_grid(cells: pd.DataFrame, conv: pd.DataFrame) -> pd.DataFrame:
    """The grid from the two query results (see :data:`GRID_COLUMNS` and the module doc)."""
    if cells.empty:
        return pd.DataFrame(columns=GRID_COLUMNS)
    df = cells.copy()
    for col in ("customers", "buyers", "nps_answers", "promoters", "detractors"):
        df[col] = pd.to_numeric(df[col]).fillna(0).astype(int)
    df["revenue"] = pd.to_numeric(df["revenue"]).astype(float)
    conv = conv.copy() if not conv.empty else pd.DataFrame(columns=["persona", "stage"])
    df = df.merge(conv, on=["persona", "stage"], how="left")
    df["entered"] = pd.to_numeric(df.get("entered")).fillna(0).astype(int)
    df["converted"] = pd.to_numeric(df.get("converted")).fillna(0).astype(int)
    df["next_stage"] = df["stage"].map(NEXT_STAGE)
    df["revenue_per_customer"] = df["revenue"] / df["customers"].where(df["customers"] > 0)
    answers = df["nps_answers"].where(df["nps_answers"] > 0)
    df["nps"] = 100.0 * (df["promoters"] - df["detractors"]) / answers
    entered = df["entered"].where((df["entered"] > 0) & df["next_stage"].notna())
    df["conversion"] = df["converted"] / entered
    df["customers_small"] = df["customers"] < MIN_UNITS
    df["nps_small"] = (df["nps_answers"] > 0) & (df["nps_answers"] < MIN_UNITS)
    df["conversion_small"] = entered.notna() & (df["entered"] < MIN_UNITS)
    df = df.sort_values(
        ["persona", "stage"], key=lambda s: stage_sort_key(s) if s.name == "stage" else s
    )
    return df[GRID_COLUMNS].reset_index(drop=True)


def persona_stage_grid(engine: Engine, filters: Filters) -> pd.DataFrame:
    """One row per persona × stage with customers: :data:`GRID_COLUMNS` (module doc)."""
    return assemble_grid(_read(engine, grid_stmt(filters)), _read(engine, conversion_stmt(filters)))


CELL_COLUMNS = [
    "customer_id",
    "segment",
    "region",
    "acquisition_channel",
    "stage_since",
    "revenue",
    "orders",
    "nps_answers",
]


def cell_customers_stmt(
    filters: Filters, persona: str, stage: str, limit: int = MAX_CELL_ROWS
) -> Select:
    """The customers of one grid cell: :data:`CELL_COLUMNS`, highest period revenue first."""
    cur = current_stage(filters)
    rev = period_revenue(filters)
    nps = period_nps(filters)
    revenue = func.coalesce(rev.c.revenue, 0.0)
    return (
        select(
            cur.c.customer_id,
            cur.c.segment,
            cur.c.region,
            cur.c.acquisition_channel,
            cur.c.stage_since,
            revenue.label("revenue"),
            func.coalesce(rev.c.orders, 0).label("orders"),
            func.coalesce(nps.c.answers, 0).label("nps_answers"),
        )
        .select_from(
            cur.outerjoin(rev, rev.c.customer_id == cur.c.customer_id).outerjoin(
                nps, nps.c.customer_id == cur.c.customer_id
            )
        )
        .where(cur.c.persona == persona, cur.c.stage == stage)
        .order_by(revenue.desc(), cur.c.customer_id)
        .limit(limit)
    )


def cell_customers(
    engine: Engine, filters: Filters, persona: str, stage: str, limit: int = MAX_CELL_ROWS
) -> pd.DataFrame:
    """The customers of one cell (at most ``limit``), highest period revenue first."""
    if stage not in STAGE_ORDER:
        raise ValueError(
            _("unknown stage {stage!r}; use one of {stages}").format(
                stage=stage, stages=", ".join(STAGE_ORDER)
            )
        )
    df = _read(engine, cell_customers_stmt(filters, persona, stage, limit))
    if df.empty:
        return pd.DataFrame(columns=CELL_COLUMNS)
    df["customer_id"] = df["customer_id"].astype("int64")
    df["revenue"] = pd.to_numeric(df["revenue"]).astype(float)
    for col in ("orders", "nps_answers"):
        df[col] = pd.to_numeric(df[col]).astype(int)
    df["stage_since"] = pd.to_datetime(df["stage_since"].astype(str).str.slice(0, 19))
    return df[CELL_COLUMNS]
