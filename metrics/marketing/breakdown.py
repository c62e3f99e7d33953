"""Drill-down: the breakdown behind a KPI figure, by channel, campaign, segment, region, persona
or campaign stage, along a drill path kept in the URL. Pure (no Streamlit).

One number, one definition: every row is the *same* catalog KPI (:mod:`kpis`), compiled by the
same SQL (:func:`kpi_sql.fetch_kpi` at a dimension grain), under the global filters narrowed by
the drill path. A step of the path (``channel:paid_search``) narrows the global filters to that
value, so "CAC › Paid search" is exactly the CAC of the Paid-search row one level up, and the
total of a breakdown is the tile's figure under those filters.

**When do rows add up?** A row's numerator and denominator are measures (``COUNT``, ``SUM`` or
``COUNT(DISTINCT customer_id)``). Counts and sums split without overlap over any grain; a
distinct-customer count splits without overlap only over a *customer attribute* (segment,
region, persona, or the acquisition channel of a customer-level table): a customer touched by
two channels or two campaigns counts once in each row. :func:`additive` states, per KPI and
grain, whether the rows' numerators and denominators add up to the total's; derived KPIs
(CLV:CAC, a ratio of two ratios) never do. The tests check both on every engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from i18n import N_
from metrics.filters import CHANNEL_VALUES, REGION_VALUES, SEGMENT_VALUES, Filters, shown
from metrics.marketing import kpi_sql
from metrics.marketing.kpis import KPIS, Agg, Kpi, KpiKind, get_kpi, measures_of

KPI_PARAM = "bd_kpi"
PATH_PARAM = "bd_path"
BY_PARAM = "bd_by"
"""The query parameters of the drill-down (the page's KPI, drill path and breakdown)."""

DIMENSION_LABELS: dict[str, str] = {
    "channel": N_("Channel"),
    "campaign": N_("Campaign"),
    "segment": N_("Segment"),
    "region": N_("Region"),
    "persona": N_("Persona"),
    "target_stage": N_("Campaign stage"),
    "is_personalised": N_("Personalised or generic"),
}
"""Every grain a breakdown can use (``kpi_sql.DIMENSIONS``), with its label."""

DRILLABLE: dict[str, frozenset[str]] = {
    "channel": CHANNEL_VALUES,
    "segment": SEGMENT_VALUES,
    "region": REGION_VALUES,
}
"""Dimensions one can open a row of (they are global filters, so a step narrows the filters);
the others (campaign, persona, stage) are the last level."""

NOT_RECORDED = N_("(not recorded)")
"""The label of a row whose key is NULL (no channel, no campaign, ...)."""

_CUSTOMER_ATTRIBUTES = frozenset({"segment", "region", "persona"})
_OWN_CHANNEL_TABLES = frozenset({"touchpoints", "daily_spend"})  # as in kpi_sql


@dataclass(frozen=True)
class Step:
    """One drill step: the rows were split by ``dimension`` and the row ``value`` opened."""

    dimension: str
    value: str


@dataclass(frozen=True)
class DrillState:
    """What a breakdown shows: a KPI, the steps taken, and the grain of the current rows."""

    kpi: str
    path: tuple[Step, ...] = ()
    by: str | None = None

    def drilled(self) -> frozenset[str]:
        return frozenset(step.dimension for step in self.path)


def breakdown_dimensions(kpi: Kpi | str, path: Sequence[Step] = ()) -> list[str]:
    """The grains this KPI can be split by (``kpi_sql.supports_grain``), minus those opened."""
    taken = {step.dimension for step in path}
    return [d for d in DIMENSION_LABELS if d not in taken and kpi_sql.supports_grain(kpi, d)]


def _customer_attribute(table: str, grain: str) -> bool:
    if grain in _CUSTOMER_ATTRIBUTES:
        return True
    return grain == "channel" and table not in _OWN_CHANNEL_TABLES  # acquisition channel


def additive(kpi: Kpi | str, grain: str) -> bool:
    """Whether the rows' numerators and denominators (a simple KPI: values) sum to the total's.

    See the module docstring: counts and sums always; distinct customers only over a customer
    attribute; derived KPIs never.
    """
    kpi = get_kpi(kpi) if isinstance(kpi, str) else kpi
    if KpiKind(kpi.kind) is KpiKind.DERIVED:
        return False
    for m in measures_of(kpi):
        if Agg(m.agg) is Agg.COUNT_DISTINCT and not _customer_attribute(m.table, grain):
            return False
    return True


def narrowed(filters: Filters, path: Sequence[Step]) -> Filters | None:
    """The global filters narrowed by the drill path; None when a step lies outside them."""
    picks = {"channel": filters.channels, "segment": filters.segments, "region": filters.regions}
    for step in path:
        chosen = picks[step.dimension]
        if chosen and step.value not in chosen:
            return None
        picks[step.dimension] = (step.value,)
    return replace(
        filters, channels=picks["channel"], segments=picks["segment"], regions=picks["region"]
    )


def path_to_param(path: Sequence[Step]) -> str:
    """``channel:paid_search,segment:smb`` (the URL form of a path; empty for none)."""
    return ",".join(f"{s.dimension}:{s.value}" for s in path)


def parse_state(params: dict[str, str], *, default_kpi: str) -> tuple[DrillState, list[str]]:
    """The drill state from query parameters; never raises. Unknown KPIs, dimensions, values,
    repeated dimensions and steps the KPI cannot be split by are dropped with a warning each."""
    warnings: list[str] = []
    kpi = str(params.get(KPI_PARAM) or default_kpi)
    if kpi not in KPIS:
        warnings.append(f"Ignored the unknown KPI '{shown(kpi)}' in the link.")
        kpi = default_kpi
    path: list[Step] = []
    raw = str(params.get(PATH_PARAM) or "")[:400]
    for part in [p for p in raw.split(",") if p.strip()][: len(DRILLABLE)]:
        dimension, _, value = part.partition(":")
        dimension, value = dimension.strip(), value.strip()
        ok = (
            dimension in DRILLABLE
            and value in DRILLABLE[dimension]
            and dimension not in {s.dimension for s in path}
            and kpi_sql.supports_grain(kpi, dimension)
        )
        if not ok:
            warnings.append(f"Ignored the drill step '{shown(part)}' in the link.")
            continue
        path.append(Step(dimension, value))
    options = breakdown_dimensions(kpi, path)
    by = params.get(BY_PARAM)
    if by is not None and by not in options:
        by = None
    if by is None and options:
        by = options[0]
    return DrillState(kpi, tuple(path), by), warnings


def child_state(state: DrillState, value: str) -> DrillState:
    """The state after opening the row ``value`` of the current breakdown."""
    if state.by not in DRILLABLE:
        raise ValueError(f"rows by {state.by} cannot be opened (only {', '.join(DRILLABLE)})")
    path = (*state.path, Step(state.by, value))
    options = breakdown_dimensions(state.kpi, path)
    return DrillState(state.kpi, path, options[0] if options else None)


def up_to(state: DrillState, depth: int) -> DrillState:
    """The state of the breadcrumb at ``depth`` (0: the KPI's first breakdown): the step at
    ``depth`` is undone and its dimension becomes the breakdown again."""
    if depth >= len(state.path):
        return state
    return DrillState(state.kpi, state.path[:depth], state.path[depth].dimension)


DRILL_KPIS: tuple[str, ...] = tuple(n for n in KPIS if breakdown_dimensions(n))
"""The catalog KPIs that have a breakdown (every one with at least one dimension)."""


PARTS: dict[str, tuple[str, str]] = {
    "cac": (N_("Paid media spend"), N_("New customers")),
    "conversion_rate": (N_("New customers who ordered"), N_("New customers")),
    "ctr": (N_("Ad clicks"), N_("Ad impressions")),
    "cpc": (N_("Media spend"), N_("Ad clicks")),
    "cpa": (N_("Paid media spend"), N_("Paid-channel purchases")),
    "roas": (N_("Tracked paid-channel revenue"), N_("Paid media spend")),
    "aov": (N_("Revenue"), N_("Orders")),
    "repeat_purchase_rate": (N_("Returning buyers"), N_("Buyers")),
    "retention_rate": (N_("Buyers who ordered again"), N_("Buyers in the previous period")),
    "churn_rate": (N_("Buyers who did not order again"), N_("Buyers in the previous period")),
    "clv": (N_("Revenue"), N_("Buyers")),
    "email_open_rate": (N_("Email opens"), N_("Email sends")),
    "email_click_rate": (N_("Email clicks"), N_("Email sends")),
    "nps": (N_("Promoters − detractors"), N_("NPS answers")),
    "csat": (N_("Satisfied answers (4–5)"), N_("CSAT answers")),
    "referral_rate": (N_("Customers who referred"), N_("Buyers")),
    "reactivation_rate": (N_("Customers reactivated"), N_("Dormant pool")),
    "campaign_conversion_rate": (N_("Campaign buyers"), N_("Customers touched by a campaign")),
}
"""What a ratio KPI's numerator and denominator count, for the breakdown's columns."""

_MONEY_COLUMNS = frozenset({"spend", "revenue", "value"})


def part_units(kpi: Kpi | str) -> tuple[str, str]:
    """The formatting unit (``money`` or ``count``) of a ratio KPI's numerator and denominator."""
    kpi = get_kpi(kpi) if isinstance(kpi, str) else kpi

    def unit(m: object) -> str:
        column = getattr(m, "column", None)
        return (
            "money"
            if Agg(getattr(m, "agg", "count")) is Agg.SUM and (column in _MONEY_COLUMNS)
            else "count"
        )

    return unit(kpi.numerator), unit(kpi.denominator)


@dataclass(frozen=True)
class Agreement:
    """Whether the rows add up to the total (``None`` where they need not: overlapping rows)."""

    additive: bool
    numerator_sum: float | None
    denominator_sum: float | None
    numerator_total: float | None
    denominator_total: float | None

    @property
    def agrees(self) -> bool | None:
        if not self.additive:
            return None
        pairs = [
            (self.numerator_sum, self.numerator_total),
            (self.denominator_sum, self.denominator_total),
        ]
        return all(
            a is None or b is None or abs(a - b) <= 1e-6 * max(1.0, abs(b)) for a, b in pairs
        )


def agreement(kpi: Kpi | str, grain: str, rows, total) -> Agreement:  # noqa: ANN001 - frames
    """Sums of the rows' numerators and denominators (a simple KPI: values) against the
    total's, from ``fetch_kpi`` frames at ``grain`` and at ``"total"``."""
    kpi = get_kpi(kpi) if isinstance(kpi, str) else kpi
    num_col = "numerator" if "numerator" in rows else "value"
    den_col = "denominator" if "denominator" in rows else None

    def total_of(col: str | None) -> float | None:
        if col is None or col not in total or total.empty:
            return None
        return float(total[col].fillna(0).iloc[0])

    return Agreement(
        additive=additive(kpi, grain),
        numerator_sum=float(rows[num_col].fillna(0).sum()) if num_col in rows else None,
        denominator_sum=None if den_col is None else float(rows[den_col].fillna(0).sum()),
        numerator_total=total_of(num_col),
        denominator_total=total_of(den_col),
    )


def fetch_campaign_names(engine) -> dict[str, str]:  # noqa: ANN001 - a SQLAlchemy Engine
    """``{campaign_id (text): name}`` for every campaign (a small dimension table)."""
    from sqlalchemy import select

    from data.schema import campaigns

    with engine.connect() as conn:
        rows = conn.execute(select(campaigns.c.campaign_id, campaigns.c.name)).fetchall()
    return {str(cid): str(name) for cid, name in rows}
