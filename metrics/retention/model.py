"""Fit both CLV models on a transaction source: the Python API behind the CLI and the page.

``fit_models`` runs the grouped summary SQL on any SQLAlchemy engine or connection, fits
BG/NBD (always) and Gamma-Gamma (when amounts are given), and reports diagnostics: how many
customers and distinct triples, whether the optimiser converged, and the calibration check
(repeat purchases the fit expects over each customer's own ``T`` vs those observed).
``fit_frame`` does the same for a pandas DataFrame by loading it into an in-memory DuckDB.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, FromClause, column, create_engine, func, select, table

from metrics.retention.bgnbd import BGNBDFit, expected_purchases, fit_bgnbd
from metrics.retention.gamma_gamma import GammaGammaFit, fit_gamma_gamma
from metrics.retention.summary import GroupedSummary, Unit, fetch_summaries


@dataclass(frozen=True)
class CLVModels:
    """Both fits plus the data they were fitted on and diagnostics."""

    until: dt.date
    unit: str
    bgnbd: BGNBDFit
    gamma_gamma: GammaGammaFit | None
    summary: GroupedSummary
    repeat_observed: float
    repeat_expected: float
    spend_excluded: int
    seconds: float

    def to_jsonable(self) -> dict:
        """Parameters, standard errors and diagnostics as plain JSON types."""
        bg = self.bgnbd
        out: dict = {
            "until": self.until.isoformat(),
            "unit": self.unit,
            "customers": bg.n_customers,
            "distinct_triples": bg.n_groups,
            "repeat_customers": int(self.summary.n[self.summary.x > 0].sum()),
            "bgnbd": {
                "r": bg.params.r,
                "alpha": bg.params.alpha,
                "a": bg.params.a,
                "b": bg.params.b,
                "std_errors": bg.std_errors,
                "log_likelihood": bg.log_likelihood,
                "converged": bg.converged,
                "iterations": bg.iterations,
            },
            "calibration_check": {
                "repeat_purchases_observed": self.repeat_observed,
                "repeat_purchases_expected": self.repeat_expected,
            },
            "seconds": self.seconds,
        }
        if self.gamma_gamma is not None:
            gg = self.gamma_gamma
            out["gamma_gamma"] = {
                "p": gg.params.p,
                "q": gg.params.q,
                "gamma": gg.params.gamma,
                "std_errors": gg.std_errors,
                "log_likelihood": gg.log_likelihood,
                "converged": gg.converged,
                "customers": gg.n_customers,
                "excluded_zero_spend": self.spend_excluded,
                "expected_transaction_value": gg.params.population_mean,
            }
        return out


def latest_date(bind: Engine | Connection, tx: FromClause) -> dt.date | None:
    """The last transaction date in ``tx`` (None when it is empty)."""
    stmt = select(func.max(tx.c.ts))
    if isinstance(bind, Connection):
        value = bind.execute(stmt).scalar()
    else:
        with bind.connect() as conn:
            value = conn.execute(stmt).scalar()
    if value is None:
        return None
    return pd.Timestamp(value).date()


def fit_models(
    bind: Engine | Connection,
    tx: FromClause,
    until: dt.date,
    unit: Unit = "week",
    with_spend: bool = True,
) -> CLVModels:
    """Fit BG/NBD (and Gamma-Gamma when ``with_spend``) on ``tx`` up to ``until`` inclusive.

    Raises ``ValueError`` with a plain message when the data cannot support a fit.
    """
    start = time.perf_counter()
    summary, spend = fetch_summaries(bind, tx, until, unit)
    if summary.n_customers == 0:
        raise ValueError(f"no customer has a purchase on or before {until.isoformat()}")
    bg = fit_bgnbd(summary.x, summary.t_x, summary.T, summary.n)
    gg = None
    excluded = 0
    if with_spend and not spend.empty:
        x = spend["x"].to_numpy(dtype=float)
        total = spend["total"].to_numpy(dtype=float)
        n = spend["n"].to_numpy(dtype=float)
        positive = total > 0
        excluded = int(n[~positive].sum())
        gg = fit_gamma_gamma(x[positive], total[positive] / x[positive], n[positive])
    observed = float(np.dot(summary.x, summary.n))
    expected = float(np.dot(expected_purchases(bg.params, summary.T), summary.n))
    return CLVModels(
        until=until,
        unit=unit,
        bgnbd=bg,
        gamma_gamma=gg,
        summary=summary,
        repeat_observed=observed,
        repeat_expected=expected,
        spend_excluded=excluded,
        seconds=time.perf_counter() - start,
    )


def fit_frame(frame: pd.DataFrame, until: dt.date | None = None, unit: Unit = "week") -> CLVModels:
    """Fit on a DataFrame with columns ``customer_id``, ``ts`` and optionally ``amount``.

    ``until`` defaults to the last transaction date. The frame is queried in an in-memory
    DuckDB, with the same SQL as the warehouse.
    """
    engine = create_engine("duckdb:///:memory:")
    try:
        with engine.connect() as conn:
            conn.connection.driver_connection.register("clv_input", frame)
            cols = [column("customer_id"), column("ts")]
            if "amount" in frame:
                cols.append(column("amount"))
            tx = table("clv_input", *cols)
            end = until or latest_date(conn, tx)
            if end is None:
                raise ValueError("no transactions")
            return fit_models(conn, tx, end, unit, with_spend="amount" in frame)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class HoldoutCheck:
    """Repeat purchases in ``(calibration_end, end]`` by customers acquired by the calibration end:
    predicted by a BG/NBD fit on the calibration period vs observed (purchase days)."""

    calibration_end: dt.date
    end: dt.date
    customers: int
    predicted: float
    actual: float

    @property
    def relative_error(self) -> float:
        """(predicted − actual) ÷ actual (NaN without actual purchases)."""
        return (self.predicted - self.actual) / self.actual if self.actual else float("nan")


def holdout_check(
    bind: Engine | Connection, tx: FromClause, end: dt.date, holdout_days: int, unit: Unit = "week"
) -> HoldoutCheck:
    """Fit on data up to ``end − holdout_days`` and compare its forecast with what happened."""
    from metrics.retention.bgnbd import conditional_expected_purchases

    cal_end = end - dt.timedelta(days=holdout_days)
    cal, _ = fetch_summaries(bind, tx, cal_end, unit)
    if cal.n_customers == 0:
        raise ValueError(f"no customer has a purchase on or before {cal_end.isoformat()}")
    full, _ = fetch_summaries(bind, tx, end, unit)
    fit = fit_bgnbd(cal.x, cal.t_x, cal.T, cal.n)
    horizon = holdout_days / (7.0 if unit == "week" else 1.0)
    predicted = float(
        np.dot(conditional_expected_purchases(fit.params, horizon, cal.x, cal.t_x, cal.T), cal.n)
    )
    # customers acquired by the calibration end are those with T >= the holdout at ``end``
    old = full.T * (7.0 if unit == "week" else 1.0) >= holdout_days - 1e-9
    actual = float(np.dot(full.x[old], full.n[old]) - np.dot(cal.x, cal.n))
    return HoldoutCheck(cal_end, end, cal.n_customers, predicted, actual)
