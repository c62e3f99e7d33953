"""Experiment planner: sample size, MDE and duration, plus the trade-off curves behind them.

Builds on :mod:`metrics.stats.power` (normal approximation; two-sided power counts both tails).
Conventions:

- ``mde`` is the *relative* minimum detectable effect, a fraction of the control value
  (0.05 = +5 %);
- ``control_share`` is the fraction of traffic sent to control; the treatments split the rest
  equally; with more than one treatment each comparison is tested at alpha / (variants − 1)
  (Bonferroni), the same rule as ``power.sample_size``;
- ``daily_units`` is the number of units (e.g. new customers) entering the experiment per day,
  all variants together.

The warehouse helpers read a baseline for a KPI and segment (the global filters) through the KPI
catalog, or with one small aggregate query for revenue per customer; nothing per row leaves SQL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Select, and_, func, select

from data.schema import customers, orders
from i18n import _
from metrics.filters import Filters
from metrics.marketing import kpi_sql
from metrics.marketing.kpis import KPIS
from metrics.stats import power

RATE_KPIS: tuple[str, ...] = (
    "conversion_rate",
    "campaign_conversion_rate",
    "email_click_rate",
    "email_open_rate",
    "repeat_purchase_rate",
    "retention_rate",
)
"""Catalog KPIs that are a share of units (binomial baselines)."""

REVENUE_PER_CUSTOMER = "revenue_per_customer"
BASELINE_KPIS: tuple[str, ...] = (*RATE_KPIS, REVENUE_PER_CUSTOMER)
ALTERNATIVES = ("two-sided", "larger")


def baseline_label(name: str) -> str:
    """Display label of a baseline KPI."""
    if name == REVENUE_PER_CUSTOMER:
        return _("Revenue per new customer")
    return KPIS[name].label


@dataclass(frozen=True)
class PlanInputs:
    """Everything the planner needs. ``baseline_sd`` only for ``kind='mean'``."""

    baseline: float  # rate (0-1) for binomial, mean per unit for mean
    mde: float  # relative, fraction of control (> 0)
    kind: str = "binomial"  # 'binomial' | 'mean'
    baseline_sd: float | None = None
    daily_units: float | None = None  # all variants together, units per day
    n_variants: int = 2
    control_share: float = 0.5
    alpha: float = 0.05
    power: float = 0.8
    alternative: str = "two-sided"  # the analysis is two-sided; 'larger' for API use only
    engine: str = "frequentist"  # 'frequentist' | 'bayesian' (fixed horizon) | 'sequential'

    @property
    def weights(self) -> tuple[float, ...]:
        """Traffic shares, control first; treatments split the rest equally."""
        k = max(int(self.n_variants) - 1, 1)
        return (self.control_share, *([(1 - self.control_share) / k] * k))

    @property
    def alpha_per_comparison(self) -> float:
        return self.alpha / max(int(self.n_variants) - 1, 1)


def validate(inputs: PlanInputs) -> list[str]:
    """Every problem with the inputs, in plain language (empty list = valid)."""
    issues: list[str] = []
    b, m = inputs.baseline, inputs.mde
    if not _finite(b):
        issues.append(_("The baseline must be a number."))
    elif inputs.kind == "binomial":
        if b <= 0:
            issues.append(
                _(
                    "The baseline rate is 0%: nothing converts, so a "
                    "relative effect is undefined. Enter "
                    "the current conversion rate (e.g. 3%)."
                )
            )
        elif b >= 1:
            issues.append(_("The baseline rate must be below 100%."))
    elif b == 0:
        issues.append(_("The baseline mean is 0, so a relative effect is undefined."))
    if inputs.kind == "mean" and not (_finite(inputs.baseline_sd) and inputs.baseline_sd > 0):
        issues.append(_("The standard deviation must be greater than 0."))
    if not _finite(m) or m <= 0:
        issues.append(_("The minimum detectable effect must be greater than 0%."))
    elif inputs.kind == "binomial" and _finite(b) and 0 < b < 1 and b * (1 + m) >= 1:
        issues.append(
            _(
                "A +{m:.0%} effect on a {b:.1%} baseline would exceed 100%; choose a smaller MDE."
            ).format(m=m, b=b)
        )
    if inputs.daily_units is not None and not (
        _finite(inputs.daily_units) and inputs.daily_units > 0
    ):
        issues.append(_("Daily traffic is 0: no units enter the experiment, so it never ends."))
    if not 0 < inputs.alpha < 0.5:
        issues.append(_("Alpha (significance level) must be between 0 and 0.5."))
    if not 0.5 <= inputs.power < 1:
        issues.append(_("Power must be at least 50% and below 100%."))
    if int(inputs.n_variants) < 2:
        issues.append(_("An experiment needs at least 2 variants (control + 1 treatment)."))
    if not 0 < inputs.control_share < 1:
        issues.append(_("The control's share of traffic must be between 0% and 100%."))
    if inputs.alternative not in ALTERNATIVES:
        issues.append(f"Unknown alternative {inputs.alternative!r}.")
    if inputs.engine not in ("frequentist", "bayesian", "sequential"):
        issues.append(f"Unknown engine {inputs.engine!r}.")
    return issues


ANALYSIS_ALTERNATIVE = "two-sided"
"""The experiment analysis tests two-sided; the Planner page plans for exactly that (issue 10:
a one-sided plan analysed two-sided reaches about 70% power instead of 80%)."""


def _tuning_n(inputs: PlanInputs) -> float | None:
    """The sequential plan's n* (pair total), fixed with the plan; None for other engines."""
    if inputs.engine != "sequential":
        return None
    return plan(inputs).tuning_n


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def plan(inputs: PlanInputs) -> power.SampleSizePlan:
    """Units per variant, total and days (``power.sample_size``); invalid → ``error_message``."""
    issues = validate(inputs)
    if issues:
        return power.SampleSizePlan((), 0, math.nan, inputs.power, inputs.mde, None, issues[0])
    return power.sample_size(
        inputs.baseline,
        inputs.mde,
        kind=inputs.kind,
        baseline_sd=inputs.baseline_sd,
        alpha=inputs.alpha,
        power=inputs.power,
        alternative=inputs.alternative,
        n_variants=int(inputs.n_variants),
        weights=inputs.weights,
        daily_units=inputs.daily_units,
        engine=inputs.engine,
    )


def _arm_units(inputs: PlanInputs, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Units in control and in (each) treatment after ``days`` days of traffic."""
    w = inputs.weights
    total = float(inputs.daily_units or 0) * days
    return total * w[0], total * w[1]


def day_grid(plan_days: int | None, *, points: int = 60, max_days: int = 3650) -> np.ndarray:
    """Whole days from 1 to about 2× the planned duration (at least 28, at most ``max_days``)."""
    top = min(max(28, math.ceil(2 * (plan_days or 14))), max_days)
    return np.unique(np.linspace(1, top, min(points, top)).round().astype(int))


def mde_curve(inputs: PlanInputs, days: np.ndarray) -> pd.DataFrame:
    """MDE reachable after each number of days: ``days, units_per_variant, mde``.

    ``units_per_variant`` is the control's units; ``mde`` the smallest relative effect detected
    with ``inputs.power`` (NaN when none is, e.g. a rate would pass 100 %).
    """
    n_c, n_t = _arm_units(inputs, np.asarray(days, dtype=float))
    tuning = _tuning_n(inputs)
    mdes = [
        power.mde_for(
            c,
            t,
            inputs.baseline,
            kind=inputs.kind,
            baseline_sd=inputs.baseline_sd,
            alpha=inputs.alpha_per_comparison,
            power=inputs.power,
            alternative=inputs.alternative,
            sequential_tuning_n=tuning,
        )
        for c, t in zip(n_c, n_t, strict=True)
    ]
    return pd.DataFrame({"days": days, "units_per_variant": np.ceil(n_c), "mde": mdes})


def power_curve(inputs: PlanInputs, days: np.ndarray) -> pd.DataFrame:
    """Power to detect ``inputs.mde`` after each number of days.

    Columns ``days, units_per_variant, power`` (units of the control arm).
    """
    n_c, n_t = _arm_units(inputs, np.asarray(days, dtype=float))
    tuning = _tuning_n(inputs)
    powers = [
        power.power_for(
            c,
            t,
            inputs.mde,
            inputs.baseline,
            kind=inputs.kind,
            baseline_sd=inputs.baseline_sd,
            alpha=inputs.alpha_per_comparison,
            alternative=inputs.alternative,
            sequential_tuning_n=tuning,
        )
        for c, t in zip(n_c, n_t, strict=True)
    ]
    return pd.DataFrame({"days": days, "units_per_variant": np.ceil(n_c), "power": powers})


# --- baselines from the warehouse -----------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """A baseline read from the warehouse for ``filters``.

    ``value`` is a rate (binomial) or a mean in USD per unit (mean; ``sd`` is the unit-level
    standard deviation, n − 1 denominator). ``units`` is the denominator the value rests on.
    """

    name: str
    kind: str
    value: float | None
    sd: float | None
    units: int
    error_message: str | None = None


def revenue_per_customer_query(filters: Filters) -> Select:
    """``n, total, total_sq`` over new customers first seen in the period: revenue each spent
    in the period (0 for non-buyers), summed, and summed squared. Channel = acquisition channel.
    """
    c, o = customers, orders
    per_customer = (
        select(
            c.c.customer_id,
            func.coalesce(func.sum(o.c.revenue), 0.0).label("rev"),
        )
        .select_from(
            c.outerjoin(
                o, and_(o.c.customer_id == c.c.customer_id, filters.time_condition(o.c.ordered_at))
            )
        )
        .where(
            filters.time_condition(c.c.first_seen_at),
            filters.dimension_condition(
                channel=c.c.acquisition_channel, segment=c.c.segment, region=c.c.region
            ),
        )
        .group_by(c.c.customer_id)
        .subquery("per_customer")
    )
    rev = per_customer.c.rev
    return select(
        func.count().label("n"),
        func.sum(rev).label("total"),
        func.sum(rev * rev).label("total_sq"),
    ).select_from(per_customer)


def fetch_baseline(engine: Engine, name: str, filters: Filters) -> Baseline:
    """The baseline of a KPI in ``BASELINE_KPIS`` for the filters (errors as ``error_message``)."""
    if name not in BASELINE_KPIS:
        return Baseline(
            name, "", None, None, 0, _("{name!r} is not a planner baseline KPI").format(name=name)
        )
    if name == REVENUE_PER_CUSTOMER:
        with engine.connect() as conn:
            row = conn.execute(revenue_per_customer_query(filters)).one()
        n = int(row.n or 0)
        if n < 2:
            return Baseline(name, "mean", None, None, n, _no_data(filters))
        total, total_sq = float(row.total or 0), float(row.total_sq or 0)
        mean = total / n
        sd = math.sqrt(max(total_sq - total * total / n, 0.0) / (n - 1))
        return Baseline(name, "mean", mean, sd, n)
    df = kpi_sql.fetch_kpi(engine, name, filters, "total")
    value = float(df["value"].iloc[0]) if len(df) else math.nan
    units = float(df["denominator"].iloc[0]) if len(df) and "denominator" in df else 0.0
    if not math.isfinite(value) or not units or not math.isfinite(units):
        return Baseline(name, "binomial", None, None, 0, _no_data(filters))
    return Baseline(name, "binomial", value, None, int(units))


def fetch_daily_traffic(engine: Engine, filters: Filters) -> float:
    """New customers per day in the period (``new_customers`` ÷ days), 0.0 when there are none."""
    df = kpi_sql.fetch_kpi(engine, "new_customers", filters, "total")
    total = float(df["value"].iloc[0]) if len(df) else 0.0
    return total / filters.days if math.isfinite(total) else 0.0


def _no_data(filters: Filters) -> str:
    return _(
        "No data between {start} and {end} for the selected channels, segments and regions: "
        "widen the filters or type the baseline in."
    ).format(start=filters.start, end=filters.end)
