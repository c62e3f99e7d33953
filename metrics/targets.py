"""Progress and pace of a KPI target (pure; the target rows live in data.app_state.targets).

Definitions (``value`` = the target, ``baseline`` = the KPI's value on ``set_on``, ``current``
= the KPI's value now, from the same catalog KPI function the tiles use):

- **progress** = (current − baseline) ÷ (value − baseline), clipped to 0–1: the share of the
  planned move already made. Without a baseline: current ÷ value (higher is better) or
  value ÷ current (lower is better), as the tiles' catalog targets.
- **expected now** (linear pace) = baseline + (value − baseline) × elapsed ÷ duration, with
  elapsed = today − set_on and duration = deadline − set_on, in days (clipped to 0–1).
- **on track** when current is at least as far as the expected-now value in the target's
  direction; **behind** otherwise; **reached** when current is at or beyond the target;
  **missed** when the deadline has passed and it is not reached.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from enum import StrEnum


class PaceStatus(StrEnum):
    REACHED = "reached"
    ON_TRACK = "on track"
    BEHIND = "behind"
    MISSED = "missed"
    UNKNOWN = "unknown"  # no current value, or no baseline to pace from


@dataclass(frozen=True)
class Pace:
    """Where a KPI stands against its target on ``today`` (fractions 0–1; values in the KPI's
    unit)."""

    progress: float | None
    expected_now: float | None
    elapsed: float  # share of the set_on → deadline time used, 0–1
    days_left: int
    status: PaceStatus


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def reached(direction: str, current: float, value: float) -> bool:
    """True when ``current`` is at or beyond ``value`` in ``direction`` (higher | lower)."""
    return current >= value if direction == "higher" else current <= value


def pace(
    *,
    value: float,
    direction: str,
    baseline: float | None,
    set_on: dt.date,
    deadline: dt.date,
    current: float | None,
    today: dt.date,
) -> Pace:
    """Progress and linear pace of one target on ``today`` (see the module docstring)."""
    duration = max((deadline - set_on).days, 1)
    elapsed = min(max((today - set_on).days / duration, 0.0), 1.0)
    days_left = max((deadline - today).days, 0)
    cur, base = _finite(current), _finite(baseline)
    if cur is None:
        return Pace(None, None, elapsed, days_left, PaceStatus.UNKNOWN)
    if base is None or base == value:
        if value == 0:
            progress = None
        elif direction == "lower":
            progress = 1.0 if cur <= 0 else min(max(value / cur, 0.0), 1.0)
        else:
            progress = min(max(cur / value, 0.0), 1.0)
        expected = None
    else:
        progress = min(max((cur - base) / (value - base), 0.0), 1.0)
        expected = base + (value - base) * elapsed
    if reached(direction, cur, value):
        status = PaceStatus.REACHED
    elif today > deadline:
        status = PaceStatus.MISSED
    elif expected is None:
        status = PaceStatus.UNKNOWN
    else:
        status = PaceStatus.ON_TRACK if reached(direction, cur, expected) else PaceStatus.BEHIND
    return Pace(progress, expected, elapsed, days_left, status)
