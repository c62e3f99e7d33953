"""Which channel or segment explains a KPI's deviation from its expected value.

The same mix logic as the Loop-health highlights (``loop_health.channel_shares``): each
member's expected share comes from the history before the anomalous bucket.

- **Additive KPIs** (counts, sums: spend, new customers, revenue): member m's contribution is
  ``actual_m − share_m × expected_total`` (what it did minus what its usual share of the
  expected total would have been). Over members that partition the total, contributions add
  up to ``actual_total − expected_total``.
- **Ratio KPIs** (CAC, conversion rate, ...): m's contribution is its rate change weighted by
  its weight in today's denominator, ``(d_m ÷ D) × (value_m − value_m,history)``.

The driver is the member whose contribution has the deviation's sign and the largest size;
``share_of_deviation`` = its contribution ÷ (actual − expected).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from metrics.marketing.kpis import Kpi, KpiKind
from metrics.marketing.loop_health import channel_shares


@dataclass(frozen=True)
class Contribution:
    dimension: str  # "channel" | "segment"
    member: str
    contribution: float  # in the KPI's unit
    share_of_deviation: float | None


def contributions(
    kpi: Kpi,
    dimension: str,
    now: pd.DataFrame,
    history: pd.DataFrame,
    expected_total: float,
) -> list[Contribution]:
    """Every member's contribution (see the module docstring), biggest first.

    ``now`` / ``history``: ``fetch_kpi`` frames at grain ``dimension`` for the anomalous bucket
    and for the history window before it (``value`` and, for ratios, ``denominator``).
    """
    if now.empty or history.empty or dimension not in now:
        return []
    now = now.dropna(subset=[dimension])
    history = history.dropna(subset=[dimension])
    out: list[tuple[str, float]] = []
    if KpiKind(kpi.kind) is KpiKind.SIMPLE:
        shares = channel_shares(history, key=dimension)
        actual = now.set_index(dimension)["value"].fillna(0.0).astype(float)
        for m in actual.index.union(shares.index):
            exp_m = float(shares.get(m, 0.0)) * expected_total
            out.append((str(m), float(actual.get(m, 0.0)) - exp_m))
    elif KpiKind(kpi.kind) is KpiKind.RATIO and "denominator" in now:
        cur = now.set_index(dimension)
        hist = history.set_index(dimension)["value"].astype(float)
        weights = cur["denominator"].fillna(0.0).astype(float)
        total_w = float(weights.sum())
        if total_w <= 0:
            return []
        for m, row in cur.iterrows():
            v, h = row["value"], hist.get(m)
            if v is None or h is None or not (math.isfinite(v) and math.isfinite(h)):
                continue
            out.append((str(m), float(weights[m]) / total_w * (float(v) - float(h))))
    else:
        return []
    result = [Contribution(dimension, m, c, None) for m, c in out]
    return sorted(result, key=lambda c: abs(c.contribution), reverse=True)


def driver(candidates: list[Contribution], actual: float, expected: float) -> Contribution | None:
    """The member with the deviation's sign and the largest contribution, with its share."""
    deviation = actual - expected
    if not math.isfinite(deviation) or deviation == 0:
        return None
    same_sign = [c for c in candidates if c.contribution * deviation > 0]
    if not same_sign:
        return None
    top = max(same_sign, key=lambda c: abs(c.contribution))
    return Contribution(top.dimension, top.member, top.contribution, top.contribution / deviation)
