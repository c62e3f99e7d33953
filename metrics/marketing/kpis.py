"""The KPI catalog: every KPI defined once, declaratively, and validated as a whole.

A KPI is data, not code (in the spirit of dbt-semantic-interfaces): a name, a label, a
plain-language definition, a formula over *measures*, a unit, a good direction, an optional
target and the lifecycle/loop stage it belongs to. :mod:`kpi_sql` compiles any KPI to
one SQLAlchemy Core statement; nothing here touches a database.

Formulas (``KpiKind``)
----------------------
- ``SIMPLE``:  value = numerator measure.
- ``RATIO``:   value = (numerator - subtract) / NULLIF(denominator, 0) * scale.
- ``DERIVED``: value = KPI ``of[0]`` / NULLIF(KPI ``of[1]``, 0) (e.g. CLV:CAC).

A measure aggregates one contract table column (``COUNT`` rows, ``COUNT_DISTINCT`` or ``SUM``
a column), with optional literal conditions (``event_type = 'click'``). By default it covers
rows whose time column falls in the selected period; ``window`` can point it at the previous
period of equal length instead, or at everything before / up to the end of the period, and a
``cohort`` keeps only customers who do (or, negated, do not) have rows in another window. Those
are what retention, churn, repeat purchase, conversion and reactivation need.

Percent KPIs are fractions (0.25 = 25 %); NPS is in points (-100..100); money is USD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import assert_never

from sqlalchemy import Date, DateTime

from data.schema import PAID_CHANNELS, TABLE_ROLES, Channel, EventType, LoopStage, Stage, metadata
from i18n import N_, TranslatedFields
from metrics import formatting as fmt


class Agg(StrEnum):
    COUNT = "count"
    COUNT_DISTINCT = "count_distinct"
    SUM = "sum"


class Op(StrEnum):
    EQ = "eq"
    IN = "in"
    GE = "ge"
    LE = "le"
    NOT_NULL = "not_null"


class Window(StrEnum):
    """Which rows of the measure's time column count, relative to the selected period."""

    CURRENT = "current"  # start <= t < end + 1 day (the default)
    PREVIOUS = "previous"  # the equal-length period just before
    BEFORE = "before"  # t < start (all history before the period)
    THROUGH_END = "through_end"  # t < end + 1 day (all history up to the period end)


class KpiKind(StrEnum):
    SIMPLE = "simple"
    RATIO = "ratio"
    DERIVED = "derived"


class Unit(StrEnum):
    COUNT = "count"
    USD = "usd"
    PERCENT = "percent"  # stored as a fraction
    RATIO = "ratio"  # "3.2x"
    DAYS = "days"
    POINTS = "points"  # NPS


class Direction(StrEnum):
    HIGHER = "higher"  # higher is better
    LOWER = "lower"  # lower is better


@dataclass(frozen=True)
class Cond:
    """A literal condition on a column of the measure's table (values become bound params)."""

    column: str
    op: Op
    value: object = None


@dataclass(frozen=True)
class Cohort:
    """Keep rows whose ``customer_id`` has (``negate``: has no) rows in ``table`` in ``window``.

    Dimension filters are not applied inside the cohort: it is a statement about the customer's
    history, the outer measure already carries the filters.
    """

    table: str
    window: Window
    where: tuple[Cond, ...] = ()
    negate: bool = False


@dataclass(frozen=True)
class Measure:
    """An aggregation over one contract table: ``agg(column)`` where ``where`` and in ``window``."""

    table: str
    agg: Agg
    column: str | None = None  # None with COUNT = count rows
    where: tuple[Cond, ...] = ()
    window: Window = Window.CURRENT
    cohort: Cohort | None = None
    time_column: str | None = None  # default: the table's time column (TABLE_ROLES)

    @property
    def time_col(self) -> str | None:
        if self.time_column is not None:
            return self.time_column
        role = TABLE_ROLES.get(self.table)
        return role.time_column if role else None

    @property
    def period_relative(self) -> bool:
        """True when the measure looks outside the bucket it is reported for."""
        return self.window is not Window.CURRENT or self.cohort is not None


@dataclass(frozen=True)
class Kpi(TranslatedFields):
    """One KPI definition. ``definition`` answers "how is this computed?" in plain language."""

    TRANSLATED = ("label", "definition")  # read back in the active language (i18n)

    name: str
    label: str
    definition: str
    kind: KpiKind
    unit: Unit
    direction: Direction
    lifecycle_stage: str
    loop_stage: str
    numerator: Measure | None = None
    denominator: Measure | None = None
    subtract: Measure | None = None
    scale: float = 1.0
    of: tuple[str, str] | None = None  # DERIVED: (numerator KPI, denominator KPI)
    target: float | None = None
    tags: tuple[str, ...] = field(default=())


# --- measures (shared between KPIs) --------------------------------------------------------

_PAID = tuple(sorted(str(c) for c in PAID_CHANNELS))


def _tp(event: EventType, *extra: Cond, agg: Agg = Agg.COUNT, column: str | None = None) -> Measure:
    return Measure(
        "touchpoints",
        agg,
        column,
        where=(Cond("event_type", Op.EQ, str(event)), *extra),
    )


NEW_CUSTOMERS = Measure("customers", Agg.COUNT)
PAID_SPEND = Measure("daily_spend", Agg.SUM, "spend", where=(Cond("channel", Op.IN, _PAID),))
SPEND = Measure("daily_spend", Agg.SUM, "spend")
IMPRESSIONS = Measure("daily_spend", Agg.SUM, "impressions")
CLICKS = Measure("daily_spend", Agg.SUM, "clicks")
REVENUE = Measure("orders", Agg.SUM, "revenue")
ORDERS = Measure("orders", Agg.COUNT)
PURCHASERS = Measure("orders", Agg.COUNT_DISTINCT, "customer_id")
_ORDERED_NOW = Cohort("orders", Window.CURRENT)
_ORDERED_PREVIOUS = Cohort("orders", Window.PREVIOUS)
PAID_CONVERSIONS = _tp(EventType.PURCHASE, Cond("channel", Op.IN, _PAID))
PAID_ATTRIBUTED_REVENUE = _tp(
    EventType.PURCHASE, Cond("channel", Op.IN, _PAID), agg=Agg.SUM, column="value"
)
_EMAIL = Cond("channel", Op.EQ, str(Channel.EMAIL))
EMAIL_SENDS = _tp(EventType.IMPRESSION, _EMAIL)
_NPS = Cond("kind", Op.EQ, "nps")
_CSAT = Cond("kind", Op.EQ, "csat")


def _k(**kw: object) -> Kpi:
    return Kpi(**kw)  # type: ignore[arg-type]


_DEFS: tuple[Kpi, ...] = (
    _k(
        name="new_customers",
        label=N_("New customers"),
        definition=N_("Customers (or leads) first seen in the period, by tracked first touch."),
        kind=KpiKind.SIMPLE,
        unit=Unit.COUNT,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.AWARENESS,
        loop_stage=LoopStage.AMPLIFY,
        numerator=NEW_CUSTOMERS,
    ),
    _k(
        name="revenue",
        label=N_("Revenue"),
        definition=N_(
            "Sum of order revenue (USD, net of discounts) for orders placed in the period."
        ),
        kind=KpiKind.SIMPLE,
        unit=Unit.USD,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.PURCHASE,
        loop_stage=LoopStage.AMPLIFY,
        numerator=REVENUE,
    ),
    _k(
        name="paid_spend",
        label=N_("Paid media spend"),
        definition=N_("Media spend (USD) on paid channels (paid search, paid social, video)."),
        kind=KpiKind.SIMPLE,
        unit=Unit.USD,
        direction=Direction.LOWER,
        lifecycle_stage=Stage.AWARENESS,
        loop_stage=LoopStage.AMPLIFY,
        numerator=PAID_SPEND,
    ),
    _k(
        name="cac",
        label=N_("CAC"),
        definition=(
            N_(
                "Customer acquisition cost (blended): paid media "
                "spend in the period ÷ new customers "
                "first seen in the period (all channels). By channel: that channel's spend ÷ "
                "customers acquired through it (0 for channels without spend)."
            )
        ),
        kind=KpiKind.RATIO,
        unit=Unit.USD,
        direction=Direction.LOWER,
        lifecycle_stage=Stage.PURCHASE,
        loop_stage=LoopStage.AMPLIFY,
        numerator=PAID_SPEND,
        denominator=NEW_CUSTOMERS,
    ),
    _k(
        name="conversion_rate",
        label=N_("Conversion rate"),
        definition=(
            N_(
                "Share of new customers (first seen in the period) "
                "who placed at least one order in "
                "the same period."
            )
        ),
        kind=KpiKind.RATIO,
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.PURCHASE,
        loop_stage=LoopStage.AMPLIFY,
        numerator=Measure("customers", Agg.COUNT, cohort=_ORDERED_NOW),
        denominator=NEW_CUSTOMERS,
    ),
    _k(
        name="ctr",
        label=N_("CTR"),
        definition=N_("Click-through rate: ad clicks ÷ ad impressions (ad-platform reporting)."),
        kind=KpiKind.RATIO,
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.ENGAGEMENT,
        loop_stage=LoopStage.AMPLIFY,
        numerator=CLICKS,
        denominator=IMPRESSIONS,
    ),
    _k(
        name="cpc",
        label=N_("CPC"),
        definition=N_("Cost per click: media spend ÷ ad clicks (ad-platform reporting, USD)."),
        kind=KpiKind.RATIO,
        unit=Unit.USD,
        direction=Direction.LOWER,
        lifecycle_stage=Stage.ENGAGEMENT,
        loop_stage=LoopStage.AMPLIFY,
        numerator=SPEND,
        denominator=CLICKS,
    ),
    _k(
        name="cpa",
        label=N_("CPA (tracked purchases)"),
        definition=(
            N_(
                "Cost per acquisition from tracking: paid media spend ÷ purchase events whose "
                "tracked channel (the channel of the purchase touchpoint) is a paid channel. No "
                "attribution model or lookback: compare with the model-attributed CPA on Channels."
            )
        ),
        kind=KpiKind.RATIO,
        unit=Unit.USD,
        direction=Direction.LOWER,
        lifecycle_stage=Stage.PURCHASE,
        loop_stage=LoopStage.AMPLIFY,
        numerator=PAID_SPEND,
        denominator=PAID_CONVERSIONS,
    ),
    _k(
        name="roas",
        label=N_("ROAS (tracked purchases)"),
        definition=(
            N_(
                "Return on ad spend from tracking: value of purchase events whose tracked channel "
                "(the channel of the purchase touchpoint) is a paid "
                "channel ÷ paid media spend. 3.0× "
                "= $3 of tracked revenue per $1 spent. No attribution model or lookback: it is not "
                "the model-attributed ROAS of Channels & attribution, which credits orders to the "
                "marketing touches before them."
            )
        ),
        kind=KpiKind.RATIO,
        unit=Unit.RATIO,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.PURCHASE,
        loop_stage=LoopStage.AMPLIFY,
        numerator=PAID_ATTRIBUTED_REVENUE,
        denominator=PAID_SPEND,
        target=3.0,
    ),
    _k(
        name="aov",
        label=N_("Average order value"),
        definition=N_("Order revenue ÷ number of orders placed in the period (USD)."),
        kind=KpiKind.RATIO,
        unit=Unit.USD,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.PURCHASE,
        loop_stage=LoopStage.TAILOR,
        numerator=REVENUE,
        denominator=ORDERS,
    ),
    _k(
        name="repeat_purchase_rate",
        label=N_("Repeat-purchase rate"),
        definition=(
            N_(
                "Share of customers who ordered in the period and had already ordered before the "
                "period started (returning buyers ÷ all buyers)."
            )
        ),
        kind=KpiKind.RATIO,
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.RETENTION,
        loop_stage=LoopStage.TAILOR,
        numerator=Measure(
            "orders", Agg.COUNT_DISTINCT, "customer_id", cohort=Cohort("orders", Window.BEFORE)
        ),
        denominator=PURCHASERS,
    ),
    _k(
        name="retention_rate",
        label=N_("Retention"),
        definition=(
            N_(
                "Of the customers who ordered in the previous "
                "period of equal length, the share who "
                "ordered again in this period."
            )
        ),
        kind=KpiKind.RATIO,
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.RETENTION,
        loop_stage=LoopStage.TAILOR,
        numerator=Measure("orders", Agg.COUNT_DISTINCT, "customer_id", cohort=_ORDERED_PREVIOUS),
        denominator=Measure("orders", Agg.COUNT_DISTINCT, "customer_id", window=Window.PREVIOUS),
    ),
    _k(
        name="churn_rate",
        label=N_("Churn"),
        definition=(
            N_(
                "Of the customers who ordered in the previous "
                "period of equal length, the share who "
                "did not order in this period (1 − retention)."
            )
        ),
        kind=KpiKind.RATIO,
        unit=Unit.PERCENT,
        direction=Direction.LOWER,
        lifecycle_stage=Stage.RETENTION,
        loop_stage=LoopStage.TAILOR,
        numerator=Measure(
            "orders",
            Agg.COUNT_DISTINCT,
            "customer_id",
            window=Window.PREVIOUS,
            cohort=Cohort("orders", Window.CURRENT, negate=True),
        ),
        denominator=Measure("orders", Agg.COUNT_DISTINCT, "customer_id", window=Window.PREVIOUS),
    ),
    _k(
        name="clv",
        label=N_("CLV (historical)"),
        definition=(
            N_(
                "Historical customer value over the period: order revenue ÷ distinct customers who "
                "ordered in the period (USD per buying customer)."
            )
        ),
        kind=KpiKind.RATIO,
        unit=Unit.USD,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.LOYALTY,
        loop_stage=LoopStage.TAILOR,
        numerator=REVENUE,
        denominator=PURCHASERS,
    ),
    _k(
        name="clv_cac",
        label=N_("CLV:CAC"),
        definition=N_(
            "CLV (historical, per buying customer) ÷ CAC (blended). Above 3× is healthy."
        ),
        kind=KpiKind.DERIVED,
        unit=Unit.RATIO,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.LOYALTY,
        loop_stage=LoopStage.AMPLIFY,
        of=("clv", "cac"),
        target=3.0,
    ),
    _k(
        name="email_open_rate",
        label=N_("Email open rate"),
        definition=(
            N_(
                "Email opens ÷ email sends, per send (not per "
                "recipient). A send is an 'impression' "
                "touchpoint on the email channel."
            )
        ),
        kind=KpiKind.RATIO,
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.ENGAGEMENT,
        loop_stage=LoopStage.TAILOR,
        numerator=_tp(EventType.EMAIL_OPEN),
        denominator=EMAIL_SENDS,
    ),
    _k(
        name="email_click_rate",
        label=N_("Email click rate"),
        definition=(
            N_(
                "Email clicks ÷ email sends, per send (not "
                "click-to-open). A send is an 'impression' "
                "touchpoint on the email channel."
            )
        ),
        kind=KpiKind.RATIO,
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.ENGAGEMENT,
        loop_stage=LoopStage.TAILOR,
        numerator=_tp(EventType.EMAIL_CLICK),
        denominator=EMAIL_SENDS,
    ),
    _k(
        name="nps",
        label=N_("NPS"),
        definition=(
            N_(
                "Net Promoter Score: % of NPS answers that are promoters (9–10) minus % that are "
                "detractors (0–6), in points from −100 to +100."
            )
        ),
        kind=KpiKind.RATIO,
        unit=Unit.POINTS,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.LOYALTY,
        loop_stage=LoopStage.EXPRESS,
        numerator=Measure("surveys", Agg.COUNT, where=(_NPS, Cond("score", Op.GE, 9))),
        subtract=Measure("surveys", Agg.COUNT, where=(_NPS, Cond("score", Op.LE, 6))),
        denominator=Measure("surveys", Agg.COUNT, where=(_NPS,)),
        scale=100.0,
        target=30.0,
    ),
    _k(
        name="csat",
        label=N_("CSAT"),
        definition=N_(
            "Customer satisfaction: share of CSAT answers scoring 4 or 5 on the 1–5 scale."
        ),
        kind=KpiKind.RATIO,
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.RETENTION,
        loop_stage=LoopStage.EXPRESS,
        numerator=Measure("surveys", Agg.COUNT, where=(_CSAT, Cond("score", Op.GE, 4))),
        denominator=Measure("surveys", Agg.COUNT, where=(_CSAT,)),
        target=0.8,
    ),
    _k(
        name="referral_rate",
        label=N_("Referral rate"),
        definition=(
            N_(
                "Distinct customers with at least one referral event in the period ÷ distinct "
                "customers who ordered in the period."
            )
        ),
        kind=KpiKind.RATIO,
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.LOYALTY,
        loop_stage=LoopStage.EXPRESS,
        numerator=_tp(EventType.REFERRAL, agg=Agg.COUNT_DISTINCT, column="customer_id"),
        denominator=PURCHASERS,
    ),
    _k(
        name="reactivation_rate",
        label=N_("Reactivation rate"),
        definition=(
            N_(
                "Distinct customers who moved out of 'dormant' in the period ÷ distinct customers "
                "who had entered 'dormant' at any time up to the end of the period (the dormant "
                "pool)."
            )
        ),
        kind=KpiKind.RATIO,
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.DORMANT,
        loop_stage=LoopStage.TAILOR,
        numerator=Measure(
            "lifecycle_changes",
            Agg.COUNT_DISTINCT,
            "customer_id",
            where=(Cond("from_stage", Op.EQ, str(Stage.DORMANT)),),
        ),
        denominator=Measure(
            "lifecycle_changes",
            Agg.COUNT_DISTINCT,
            "customer_id",
            where=(Cond("to_stage", Op.EQ, str(Stage.DORMANT)),),
            window=Window.THROUGH_END,
        ),
    ),
    _k(
        name="reach",
        label=N_("Reach"),
        definition=N_("Distinct customers with at least one touchpoint (any event) in the period."),
        kind=KpiKind.SIMPLE,
        unit=Unit.COUNT,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.AWARENESS,
        loop_stage=LoopStage.AMPLIFY,
        numerator=Measure("touchpoints", Agg.COUNT_DISTINCT, "customer_id"),
    ),
    _k(
        name="campaign_conversion_rate",
        label=N_("Campaign conversion"),
        definition=(
            N_(
                "Distinct customers with a purchase event attributed to a campaign ÷ distinct "
                "customers touched by a campaign (any event with a campaign) in the period."
            )
        ),
        kind=KpiKind.RATIO,
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        lifecycle_stage=Stage.PURCHASE,
        loop_stage=LoopStage.TAILOR,
        numerator=_tp(
            EventType.PURCHASE,
            Cond("campaign_id", Op.NOT_NULL),
            agg=Agg.COUNT_DISTINCT,
            column="customer_id",
        ),
        denominator=Measure(
            "touchpoints",
            Agg.COUNT_DISTINCT,
            "customer_id",
            where=(Cond("campaign_id", Op.NOT_NULL),),
        ),
    ),
)

KPIS: dict[str, Kpi] = {k.name: k for k in _DEFS}
"""The catalog, by name."""


def get_kpi(name: str) -> Kpi:
    """The KPI called ``name``; a clear ``KeyError`` listing the known names otherwise."""
    try:
        return KPIS[name]
    except KeyError:
        raise KeyError(f"unknown KPI {name!r}; known KPIs: {', '.join(sorted(KPIS))}") from None


def measures_of(kpi: Kpi, catalog: dict[str, Kpi] | None = None) -> tuple[Measure, ...]:
    """Every leaf measure a KPI needs (derived KPIs: those of both operands)."""
    catalog = KPIS if catalog is None else catalog
    kind = kpi.kind
    if kind is KpiKind.SIMPLE or kind is KpiKind.RATIO:
        return tuple(m for m in (kpi.numerator, kpi.subtract, kpi.denominator) if m is not None)
    if kind is KpiKind.DERIVED:
        assert kpi.of is not None
        return measures_of(catalog[kpi.of[0]], catalog) + measures_of(catalog[kpi.of[1]], catalog)
    assert_never(kind)


def is_period_relative(kpi: Kpi, catalog: dict[str, Kpi] | None = None) -> bool:
    """True when a KPI compares against another window (retention, churn, ...)."""
    return any(m.period_relative for m in measures_of(kpi, catalog))


# --- validation -----------------------------------------------------------------------------


def _enum_ok(value: object, enum: type[StrEnum]) -> bool:
    return isinstance(value, enum) or value in {e.value for e in enum}


def _check_conds(where: str, table: str, conds: tuple[Cond, ...]) -> list[str]:
    problems: list[str] = []
    cols = metadata.tables[table].c
    for cond in conds:
        if cond.column not in cols:
            problems.append(f"{where}: unknown column {table}.{cond.column} in a condition")
        if not _enum_ok(cond.op, Op):
            problems.append(f"{where}: unknown condition operator {cond.op!r}")
        elif Op(cond.op) is Op.IN and not isinstance(cond.value, tuple | list | frozenset):
            problems.append(f"{where}: 'in' condition on {cond.column} needs a tuple of values")
    return problems


def _check_measure(where: str, m: object) -> list[str]:
    if not isinstance(m, Measure):
        return [f"{where}: not a Measure ({type(m).__name__})"]
    if m.table not in metadata.tables:
        return [f"{where}: unknown table {m.table!r}"]
    problems: list[str] = []
    cols = metadata.tables[m.table].c
    if not _enum_ok(m.agg, Agg):
        problems.append(f"{where}: bad aggregation {m.agg!r}; use one of {[a.value for a in Agg]}")
    elif Agg(m.agg) is not Agg.COUNT and m.column is None:
        problems.append(f"{where}: aggregation {Agg(m.agg).value} needs a column")
    if m.column is not None and m.column not in cols:
        problems.append(f"{where}: unknown column {m.table}.{m.column}")
    time_col = m.time_col
    if time_col is None:
        problems.append(f"{where}: table {m.table} has no time column; set time_column")
    elif time_col not in cols:
        problems.append(f"{where}: unknown time column {m.table}.{time_col}")
    elif not isinstance(cols[time_col].type, Date | DateTime):
        problems.append(f"{where}: {m.table}.{time_col} is not a date/timestamp column")
    problems += _check_conds(where, m.table, m.where)
    if not _enum_ok(m.window, Window):
        problems.append(f"{where}: unknown window {m.window!r}")
    if m.cohort is not None:
        c = m.cohort
        if "customer_id" not in cols:
            problems.append(f"{where}: a cohort needs customer_id on {m.table}")
        if c.table not in metadata.tables:
            problems.append(f"{where}: unknown cohort table {c.table!r}")
        else:
            ccols = metadata.tables[c.table].c
            role = TABLE_ROLES.get(c.table)
            if "customer_id" not in ccols or role is None or role.time_column is None:
                problems.append(f"{where}: cohort table {c.table} needs customer_id and a time")
            problems += _check_conds(f"{where} cohort", c.table, c.where)
            if not _enum_ok(c.window, Window):
                problems.append(f"{where}: unknown cohort window {c.window!r}")
    return problems


def validate_catalog(catalog: dict[str, Kpi]) -> list[str]:
    """Every problem across all definitions (empty list = valid). Never raises."""
    problems: list[str] = []
    for key, kpi in catalog.items():
        where = f"KPI {key!r}"
        if not isinstance(kpi, Kpi):
            problems.append(f"{where}: not a Kpi ({type(kpi).__name__})")
            continue
        if kpi.name != key:
            problems.append(f"{where}: registered under a different name than {kpi.name!r}")
        if not kpi.label or not kpi.definition:
            problems.append(f"{where}: needs a label and a plain-language definition")
        if not _enum_ok(kpi.unit, Unit):
            problems.append(f"{where}: unknown unit {kpi.unit!r}")
        if not _enum_ok(kpi.direction, Direction):
            problems.append(f"{where}: unknown direction {kpi.direction!r}")
        if not _enum_ok(kpi.lifecycle_stage, Stage):
            problems.append(f"{where}: unknown lifecycle stage {kpi.lifecycle_stage!r}")
        if not _enum_ok(kpi.loop_stage, LoopStage):
            problems.append(f"{where}: unknown loop stage {kpi.loop_stage!r}")
        if kpi.target is not None and not math.isfinite(kpi.target):
            problems.append(f"{where}: target must be a finite number")
        if not _enum_ok(kpi.kind, KpiKind):
            problems.append(f"{where}: unknown kind {kpi.kind!r}")
            continue
        problems += _check_formula(where, kpi, catalog)
    return problems


def _check_formula(where: str, kpi: Kpi, catalog: dict[str, Kpi]) -> list[str]:
    problems: list[str] = []
    kind = KpiKind(kpi.kind)
    if kind is KpiKind.SIMPLE:
        if kpi.numerator is None:
            problems.append(f"{where}: a simple KPI needs a numerator measure")
        if kpi.denominator is not None or kpi.subtract is not None:
            problems.append(f"{where}: a simple KPI takes only a numerator")
    elif kind is KpiKind.RATIO:
        if kpi.numerator is None:
            problems.append(f"{where}: a ratio needs a numerator measure")
        if kpi.denominator is None:
            problems.append(f"{where}: denominator missing for a ratio")
    elif kind is KpiKind.DERIVED:
        if kpi.of is None or len(kpi.of) != 2:
            return problems + [f"{where}: a derived KPI needs of=(numerator KPI, denominator KPI)"]
        for ref in kpi.of:
            if ref not in catalog:
                problems.append(f"{where}: refers to unknown KPI {ref!r}")
            elif KpiKind(catalog[ref].kind) is KpiKind.DERIVED:
                problems.append(f"{where}: refers to derived KPI {ref!r} (one level only)")
        return problems
    else:
        assert_never(kind)
    for part in ("numerator", "subtract", "denominator"):
        m = getattr(kpi, part)
        if m is not None:
            problems += _check_measure(f"{where} {part}", m)
    return problems


# --- formatting -----------------------------------------------------------------------------


COMPACT_FROM = 1e9
"""Money at or above this many units is shown compact on tiles in a currency without minor
units (VND: ``362 tỷ ₫``); dollar amounts are never that large on a tile."""


def format_value(kpi: Kpi, value: float | None) -> str:
    """The value as shown on a tile: ``12,345`` / ``$1,234`` / ``12.3%`` / ``3.20×`` / ``+25``
    (:mod:`metrics.formatting`, the app's one formatter; ``–`` when missing)."""
    unit = Unit(kpi.unit)
    if unit is Unit.COUNT:
        return fmt.count(value)
    if unit is Unit.USD:
        if fmt.is_whole_currency() and value is not None and abs(value) >= COMPACT_FROM:
            return fmt.money_compact(value)  # 361.989.523.000 ₫ does not fit a tile: 362 tỷ ₫
        return fmt.money(value)
    if unit is Unit.PERCENT:
        return fmt.percent(value)
    if unit is Unit.RATIO:
        return fmt.ratio(value)
    if unit is Unit.DAYS:
        return fmt.days(value, 1)
    if unit is Unit.POINTS:
        return fmt.score(value)
    assert_never(unit)


def relative_change(current: float | None, previous: float | None) -> float | None:
    """(current − previous) / |previous|, as a fraction; None when undefined."""
    if current is None or previous is None or previous == 0:
        return None
    if not (math.isfinite(current) and math.isfinite(previous)):
        return None
    return (current - previous) / abs(previous)


def is_good_change(kpi: Kpi, change: float) -> bool:
    """Whether a change of this sign is good for the KPI."""
    direction = Direction(kpi.direction)
    if direction is Direction.HIGHER:
        return change > 0
    if direction is Direction.LOWER:
        return change < 0
    assert_never(direction)
