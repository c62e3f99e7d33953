"""The experiment metric catalog: declarative, typed definitions (no SQL here).

Every metric is measured **per unit** (``customer_id``) over a window relative to the unit's
first ``experiment_assignments.assigned_at``:

``MetricKind`` (binomial: y in {0, 1}; mean: any y, 0 without events; ratio: Σy / Σx) is the
stats engine's own enum (``metrics.stats.common``), re-exported here.

- outcome window: ``assigned_at <= t < assigned_at + window_days`` (14 days by default),
- pre-period (CUPED covariate): ``assigned_at - pre_period_days <= t < assigned_at`` (28 days).

A metric is built from ``Measure`` values: *what* to aggregate (an ``EventSource``: a table, an
optional ``event_type`` filter, an optional value column) and *how* (``Aggregation``).
``metrics.experiments.sql`` compiles these definitions to SQL; builders there ``match`` on
``MetricKind`` / ``Aggregation`` with ``assert_never`` so a new kind fails type-checking until
every builder handles it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from data.schema import EventType
from i18n import N_, TranslatedFields
from metrics.stats.common import MetricKind  # the one vocabulary shared with the stats engine

__all__ = [
    "EXPERIMENT_METRICS",
    "Aggregation",
    "EventSource",
    "ExperimentMetric",
    "Measure",
    "MetricKind",
    "QUANTILE_METRICS",
    "QuantileMetric",
    "SourceTable",
    "UnknownMetricError",
    "get_metric",
    "validate_metric",
]

DEFAULT_WINDOW_DAYS = 14
DEFAULT_PRE_PERIOD_DAYS = 28


class Aggregation(StrEnum):
    """How a unit's in-window events become one number."""

    ANY = "any"  # 1 if at least one matching event, else 0
    COUNT = "count"  # number of matching events
    SUM = "sum"  # sum of the value column over matching events (NULL values count as 0)


class SourceTable(StrEnum):
    """Contract tables an experiment metric may read (an allow-list of identifiers)."""

    ORDERS = "orders"
    TOUCHPOINTS = "touchpoints"


TIME_COLUMNS: dict[SourceTable, str] = {
    SourceTable.ORDERS: "ordered_at",
    SourceTable.TOUCHPOINTS: "occurred_at",
}
"""The event-time column of each source table."""

VALUE_COLUMNS: dict[SourceTable, frozenset[str]] = {
    SourceTable.ORDERS: frozenset({"revenue"}),
    SourceTable.TOUCHPOINTS: frozenset({"value"}),
}
"""Columns a ``SUM`` aggregation may read, per source table."""


@dataclass(frozen=True)
class EventSource:
    """Rows of one contract table, optionally restricted to one touchpoint ``event_type``."""

    table: SourceTable
    event_type: EventType | None = None
    value_column: str | None = None

    def __post_init__(self) -> None:
        if self.event_type is not None and self.table is not SourceTable.TOUCHPOINTS:
            raise ValueError("event_type filters apply to touchpoints only")
        if self.value_column is not None and self.value_column not in VALUE_COLUMNS[self.table]:
            allowed = ", ".join(sorted(VALUE_COLUMNS[self.table]))
            raise ValueError(f"{self.table}.{self.value_column} is not a value column ({allowed})")


@dataclass(frozen=True)
class Measure:
    """One per-unit number: ``aggregation`` over the matching rows of ``source``."""

    source: EventSource
    aggregation: Aggregation

    def __post_init__(self) -> None:
        if self.aggregation is Aggregation.SUM and self.source.value_column is None:
            raise ValueError("a SUM measure needs a value column")


@dataclass(frozen=True)
class ExperimentMetric(TranslatedFields):
    """A declarative experiment metric.

    ``numerator`` defines y (for binomial metrics its aggregation must be ``ANY``);
    ``denominator`` defines x and is required for (and only for) ratio metrics;
    ``covariate`` defines c, measured over the pre-period, for CUPED (None: CUPED unavailable).
    ``unit`` names what y measures ("fraction of units", "USD per unit", "clicks per
    impression") for display.
    """

    TRANSLATED = ("label", "description", "unit")  # read back in the active language (i18n)

    name: str
    label: str
    description: str
    kind: MetricKind
    higher_is_better: bool
    numerator: Measure
    denominator: Measure | None = None
    covariate: Measure | None = None
    window_days: int = DEFAULT_WINDOW_DAYS
    pre_period_days: int = DEFAULT_PRE_PERIOD_DAYS
    unit: str = ""

    def __post_init__(self) -> None:
        problems = validate_metric(self)
        if problems:
            raise ValueError(f"metric {self.name!r}: " + "; ".join(problems))

    @property
    def supports_cuped(self) -> bool:
        return self.covariate is not None

    @property
    def measures(self) -> tuple[Measure, ...]:
        """Every measure the metric reads (numerator, denominator, covariate)."""
        return tuple(m for m in (self.numerator, self.denominator, self.covariate) if m)


def validate_metric(metric: ExperimentMetric) -> list[str]:
    """All problems with a metric definition (empty list when valid)."""
    problems: list[str] = []
    if not metric.name.isidentifier():
        problems.append("name must be a snake_case identifier")
    if metric.window_days <= 0:
        problems.append("window_days must be positive")
    if metric.pre_period_days <= 0:
        problems.append("pre_period_days must be positive")
    if metric.kind is MetricKind.RATIO and metric.denominator is None:
        problems.append("a ratio metric needs a denominator")
    if metric.kind is not MetricKind.RATIO and metric.denominator is not None:
        problems.append("only ratio metrics have a denominator")
    if metric.kind is MetricKind.BINOMIAL and metric.numerator.aggregation is not Aggregation.ANY:
        problems.append("a binomial metric's numerator must use the ANY aggregation")
    return problems


def _touch(event_type: EventType, aggregation: Aggregation = Aggregation.ANY) -> Measure:
    return Measure(EventSource(SourceTable.TOUCHPOINTS, event_type), aggregation)


_ANY_ORDER = Measure(EventSource(SourceTable.ORDERS), Aggregation.ANY)
_REVENUE = Measure(EventSource(SourceTable.ORDERS, value_column="revenue"), Aggregation.SUM)

EXPERIMENT_METRICS: dict[str, ExperimentMetric] = {
    m.name: m
    for m in (
        ExperimentMetric(
            name="purchase_conversion",
            label=N_("Purchase conversion"),
            description=N_("Share of units with at least one order within 14 days of assignment."),
            kind=MetricKind.BINOMIAL,
            higher_is_better=True,
            numerator=_ANY_ORDER,
            covariate=_ANY_ORDER,
            unit=N_("fraction of units"),
        ),
        ExperimentMetric(
            name="signup_conversion",
            label=N_("Signup conversion"),
            description=N_("Share of units with a signup touchpoint within 14 days of assignment."),
            kind=MetricKind.BINOMIAL,
            higher_is_better=True,
            numerator=_touch(EventType.SIGNUP),
            covariate=_touch(EventType.SIGNUP),
            unit=N_("fraction of units"),
        ),
        ExperimentMetric(
            name="revenue_per_user",
            label=N_("Revenue per user"),
            description=(
                N_(
                    "Order revenue (USD) per unit within 14 days of "
                    "assignment, 0 without orders; CUPED "
                    "covariate: the unit's order revenue in the 28 days before assignment."
                )
            ),
            kind=MetricKind.MEAN,
            higher_is_better=True,
            numerator=_REVENUE,
            covariate=_REVENUE,
            unit=N_("USD per unit"),
        ),
        ExperimentMetric(
            name="support_contact_rate",
            label=N_("Support contact rate"),
            description=(
                N_(
                    "Share of units with a support contact within 14 "
                    "days of assignment (a guardrail: "
                    "lower is better)."
                )
            ),
            kind=MetricKind.BINOMIAL,
            higher_is_better=False,
            numerator=_touch(EventType.SUPPORT_CONTACT),
            covariate=_touch(EventType.SUPPORT_CONTACT),
            unit=N_("fraction of units"),
        ),
        ExperimentMetric(
            name="click_through_rate",
            label=N_("Click-through rate"),
            description=(
                N_(
                    "Clicks / impressions over all units' first 14 days "
                    "after assignment (units with 0 "
                    "impressions stay in both sums); CUPED covariate: "
                    "the unit's clicks in the 28 days "
                    "before assignment."
                )
            ),
            kind=MetricKind.RATIO,
            higher_is_better=True,
            numerator=_touch(EventType.CLICK, Aggregation.COUNT),
            denominator=_touch(EventType.IMPRESSION, Aggregation.COUNT),
            covariate=_touch(EventType.CLICK, Aggregation.COUNT),
            unit=N_("clicks per impression"),
        ),
    )
}
"""Every experiment metric by name (see ``/docs`` and the demo manifest for the contract)."""


@dataclass(frozen=True)
class QuantileMetric:
    """A quantile (median, p90, …) of the **order value** across buying units.

    Per unit with at least one order in ``[assigned_at, assigned_at + window_days)``: its
    order value v = Σ revenue / number of orders in the window (the mean of its orders, so
    each buyer counts once and units stay independent; NULL revenue counts as 0). The metric is
    the ``q``-quantile of v over a variant's buyers (numpy's default, linear interpolation).
    Units without an order are not in it: a change in *who* buys moves it too. Quantiles are
    not additive over groups, so these are always computed live (``metrics.experiments.sql.
    fetch_quantile_stats``), never from the serving layer.
    """

    name: str
    label: str
    description: str
    q: float  # quantile level in (0, 1)
    higher_is_better: bool = True
    window_days: int = DEFAULT_WINDOW_DAYS
    unit: str = "USD per order"

    def __post_init__(self) -> None:
        if not 0.0 < self.q < 1.0:
            raise ValueError(f"quantile metric {self.name!r}: q must be in (0, 1), got {self.q}")
        if self.window_days <= 0:
            raise ValueError(f"quantile metric {self.name!r}: window_days must be positive")

    @property
    def revenue(self) -> Measure:
        """Σ revenue per unit over the window (the numerator of v)."""
        return _REVENUE

    @property
    def orders(self) -> Measure:
        """Orders per unit over the window (the denominator of v)."""
        return Measure(EventSource(SourceTable.ORDERS), Aggregation.COUNT)


QUANTILE_METRICS: dict[str, QuantileMetric] = {
    m.name: m
    for m in (
        QuantileMetric(
            "order_value_median",
            "Median order value",
            "Median over buyers of the unit's mean order value (USD) within 14 days of assignment.",
            0.5,
        ),
        QuantileMetric(
            "order_value_p90",
            "p90 order value",
            "90th percentile over buyers of the unit's mean order value (USD) within 14 days "
            "of assignment: the big baskets.",
            0.9,
        ),
    )
}
"""Quantile metrics shown on Experiment detail (fixed list; order values only)."""


class UnknownMetricError(LookupError):
    """A metric name that is not in ``EXPERIMENT_METRICS``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown metric"


def get_metric(name: str) -> ExperimentMetric:
    """The catalog metric called ``name``; ``UnknownMetricError`` lists the known names."""
    try:
        return EXPERIMENT_METRICS[name]
    except KeyError:
        known = ", ".join(sorted(EXPERIMENT_METRICS))
        raise UnknownMetricError(
            f"unknown experiment metric {name!r}; known metrics: {known}"
        ) from None
