"""Small samples: the documented minimum sizes, in one place.

Below these sizes a figure is noise, not information, and the app shows it greyed as
**"n too small"** instead of a number (and no delta):

- :data:`MIN_UNITS` — the units behind a rate, NPS or CSAT (the KPI's denominator: customers,
  survey responses, email sends). With n = 5, NPS moves 20 points per answer.
- :data:`MIN_REACH` — customers touched by each kind of campaign for the Tailor lift.
- :data:`MIN_SLICE_UNITS` — units per variant in an experiment's segment slice; below it, or
  when the interval spans more than :data:`MAX_INFORMATIVE_WIDTH` (relative lift), the slice's
  interval is marked uninformative.
"""

from __future__ import annotations

import math

from metrics.marketing.kpis import Kpi, KpiKind, Unit

MIN_UNITS = 30
MIN_REACH = 30
MIN_SLICE_UNITS = 100
MAX_INFORMATIVE_WIDTH = 1.0  # an interval wider than 100 percentage points of relative lift

TOO_SMALL = "n too small"
UNINFORMATIVE = "uninformative (n too small)"


def is_sample_sized(kpi: Kpi) -> bool:
    """Whether the KPI is a rate or score whose sample size matters (percent or points ratio)."""
    return KpiKind(kpi.kind) is KpiKind.RATIO and Unit(kpi.unit) in (Unit.PERCENT, Unit.POINTS)


def too_small(kpi: Kpi, n: float | None) -> bool:
    """True when the KPI rests on fewer than :data:`MIN_UNITS` units (but more than none)."""
    if not is_sample_sized(kpi) or n is None:
        return False
    try:
        n = float(n)
    except (TypeError, ValueError):
        return False
    return math.isfinite(n) and 0 < n < MIN_UNITS


def interval_uninformative(low: float | None, high: float | None, units: float | None) -> bool:
    """A slice's interval says nothing useful: too few units, or wider than the maximum."""
    if units is not None and math.isfinite(float(units)) and float(units) < MIN_SLICE_UNITS:
        return True
    if low is None or high is None:
        return True
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return True
    return high - low > MAX_INFORMATIVE_WIDTH
