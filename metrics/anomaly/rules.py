"""Alert conditions on a KPI series and their episodes (pure).

An episode is the run of consecutive buckets, ending with the latest one, for which the
condition holds; it starts on the run's first bucket. A condition that does not hold on the
latest bucket means no open episode (nothing fires).

- ``outside_band``: the bucket is outside the detector's band (``metrics.anomaly.detector``);
- ``crosses_target``: the bucket's value is on the wrong side of the target (not reached);
- ``change_pct``: ``|value ÷ previous − 1| > threshold`` (period over period; fraction).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from metrics.targets import reached


def episode_start(flags: pd.Series) -> dt.date | None:
    """The first bucket of the run of True flags ending at the last bucket; None if it is False."""
    values = flags.fillna(False).astype(bool).to_numpy()
    if len(values) == 0 or not values[-1]:
        return None
    falses = np.flatnonzero(~values)
    first = int(falses[-1]) + 1 if len(falses) else 0
    return flags.index[first]


def target_flags(series: pd.Series, value: float, direction: str) -> pd.Series:
    """True where the series has not reached the target."""
    return series.map(lambda v: bool(pd.notna(v) and not reached(direction, float(v), value)))


def change_flags(series: pd.Series, threshold: float) -> pd.Series:
    """True where the bucket changed by more than ``threshold`` (fraction) vs the one before."""
    prev = series.shift(1)
    change = (series - prev) / prev.abs().where(prev != 0)
    return change.abs() > threshold


def change(series: pd.Series) -> float | None:
    """The last bucket's change vs the one before, as a fraction (None when undefined)."""
    if len(series) < 2 or not series.iloc[-2]:
        return None
    return float(series.iloc[-1] / series.iloc[-2] - 1)
