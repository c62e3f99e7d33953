"""One-step-ahead prediction bands for a KPI series (statsmodels exponential smoothing).

Model: statsmodels' state-space ``ExponentialSmoothing`` (simple exponential smoothing, i.e.
a local level; for daily series with a 7-day seasonal component) on ``log(value)`` when every
value is positive (multiplicative noise: a spend or count series), else on the values.

Honesty: the parameters are estimated on the history **before** the evaluated window only;
each point of the window is then predicted from the points before it (the Kalman filter's
one-step-ahead prediction, ``append(..., refit=False)``), never from itself or later points.
A point found outside its band is then treated as missing for the points after it (an
outlier is not the new level), repeated until the set of anomalies is stable.
The band is the prediction interval at ``level`` (default 99 %): under the model a point falls
outside it with probability ``1 - level``, which is the nominal false-alarm rate per point
(measured on simulated series in tests/test_anomaly.py; docs/alerts.md).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_LEVEL = 0.99
SEASON = {"day": 7, "week": None}
WINDOW = {"day": 56, "week": 12}
"""How many of the latest buckets get a band (the rest is training history)."""
MIN_TRAIN = {"day": 35, "week": 16}
"""Fewest training buckets before a window point is predicted (buckets)."""


@dataclass(frozen=True)
class BandError:
    """Why no band could be computed (too short, constant, non-finite); safe to show."""

    message: str


def band(
    values: pd.Series,
    grain: str = "day",
    *,
    level: float = DEFAULT_LEVEL,
    window: int | None = None,
) -> pd.DataFrame | BandError:
    """Expected value and prediction interval for the last ``window`` points of ``values``.

    ``values``: a KPI series indexed by bucket start, oldest first, in the KPI's unit. Returns
    a frame indexed like the window with ``actual, expected, lower, upper, anomaly`` (bool:
    actual outside [lower, upper]) and ``z`` (the standardised one-step error), or a
    :class:`BandError`.
    """
    if grain not in SEASON:
        return BandError(f"unknown grain {grain!r}")
    if not 0.5 < level < 1:
        return BandError("level must be between 0.5 and 1")
    y = pd.to_numeric(values, errors="coerce").astype("float64")
    y = y[np.isfinite(y.to_numpy())]
    n_window = min(window or WINDOW[grain], max(len(y) - MIN_TRAIN[grain], 0))
    if n_window < 1:
        return BandError(f"needs at least {MIN_TRAIN[grain] + 1} {grain}s of history, has {len(y)}")
    train, test = y.iloc[:-n_window], y.iloc[-n_window:]
    if np.ptp(train.to_numpy()) == 0:
        return BandError("the history is constant: no variation to learn a band from")
    use_log = bool((y > 0).all())
    ty = np.log(y.to_numpy()) if use_log else y.to_numpy()
    season = SEASON[grain]
    from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short / flat series
        try:
            model = ExponentialSmoothing(
                ty[: len(train)],
                trend=False,
                seasonal=season if season and len(train) >= 3 * season else None,
                initialization_method="estimated",
            )
            fitted = model.fit(disp=False)
            t_actual = ty[len(train) :]
            outside = np.zeros(len(t_actual), dtype=bool)
            for _pass in range(len(t_actual) + 1):
                # An anomaly is not evidence of the new normal: later points are predicted
                # as if it were missing (else the point after a spike looks like a dip).
                masked = np.where(outside, np.nan, t_actual)
                pred = fitted.append(masked, refit=False).get_prediction(start=len(train))
                mean = np.asarray(pred.predicted_mean, dtype=float)
                ci = np.asarray(pred.conf_int(alpha=1 - level), dtype=float)
                now_outside = (t_actual < ci[:, 0]) | (t_actual > ci[:, 1])
                if (now_outside == outside).all():
                    break
                outside = now_outside
            se = np.asarray(pred.se_mean, dtype=float)
        except (ValueError, np.linalg.LinAlgError) as exc:
            return BandError(f"the forecast model could not be fitted ({exc})")
    lo, hi = ci[:, 0], ci[:, 1]
    if use_log:
        mean, lo, hi = np.exp(mean), np.exp(lo), np.exp(hi)
    actual = test.to_numpy()
    t_mean = np.log(mean) if use_log else mean
    z = np.where(se > 0, (t_actual - t_mean) / np.where(se > 0, se, 1.0), 0.0)
    return pd.DataFrame(
        {
            "actual": actual,
            "expected": mean,
            "lower": lo,
            "upper": hi,
            "anomaly": (actual < lo) | (actual > hi),
            "z": z,
        },
        index=test.index,
    )


def nominal_false_alarm_rate(level: float = DEFAULT_LEVEL) -> float:
    """The chance that a point of a series the model describes falls outside the band."""
    return 1.0 - level


def binomial_upper(p: float, n: int, sigmas: float = 4.0) -> float:
    """A tolerance for an observed rate of ``n`` Bernoulli(p) trials: p + sigmas·√(p(1−p)/n)."""
    return p + sigmas * math.sqrt(p * (1 - p) / max(n, 1))
