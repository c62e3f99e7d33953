"""Shared test helpers for the CLV models: the CDNOW sample and BG/NBD / Gamma-Gamma simulators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CDNOW_DIR = Path(__file__).parent / "data" / "cdnow"


def cdnow_transactions() -> pd.DataFrame:
    """The raw CDNOW sample: ``customer_id``, ``ts``, ``amount`` (one row per transaction)."""
    raw = pd.read_csv(
        CDNOW_DIR / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "amount"],
    )
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype("int64"),
            "ts": pd.to_datetime(raw["date"].astype(str), format="%Y%m%d").astype("datetime64[us]"),
            "amount": raw["amount"].astype(float),
        }
    )


def cdnow_published_summary() -> pd.DataFrame:
    """The published 39-week calibration summary (``ID, x, t_x, T, zbar``; weeks, dollars)."""
    return pd.read_csv(CDNOW_DIR / "cdnow_customers_summary_with_transactions.csv")


def simulate_bgnbd(
    r: float, alpha: float, a: float, b: float, T: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``(x, t_x)`` for customers observed for ``T`` after their first purchase.

    ``lambda ~ Gamma(r, rate alpha)``, ``p ~ Beta(a, b)``; purchases arrive as a Poisson process
    while alive, and after each repeat purchase the customer drops out with probability ``p``.
    """
    rng = np.random.default_rng(seed)
    n = len(T)
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    t = np.zeros(n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        t[idx] += rng.exponential(1.0 / lam[idx])
        past = t[idx] > T[idx]
        active[idx[past]] = False
        buy = idx[~past]
        x[buy] += 1
        t_x[buy] = t[buy]
        died = rng.random(len(buy)) < p[buy]
        active[buy[died]] = False
    return x, t_x


def simulate_gamma_gamma(p: float, q: float, gamma: float, x: np.ndarray, seed: int) -> np.ndarray:
    """Mean of ``x`` transaction values per customer.

    Values are ``z ~ Gamma(p, rate nu)`` with ``nu ~ Gamma(q, rate gamma)`` per customer.
    """
    rng = np.random.default_rng(seed)
    nu = rng.gamma(q, 1.0 / gamma, size=len(x))
    return np.array([rng.gamma(p, 1.0 / v, size=int(k)).mean() for v, k in zip(nu, x, strict=True)])
