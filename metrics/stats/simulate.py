"""Seeded Monte Carlo checks of the engine's error rates (vectorised numpy, no per-run loops).

The tests call these with small sizes; ``python -m bench`` can call them with large ones.
They use the engine's own array formulas (the relative-lift z with the delta-method standard
error — the engine's decision statistic — Wald intervals, confidence-sequence multiplier,
always-valid p-value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metrics.stats.common import critical_value, p_value
from metrics.stats.frequentist import relative_se, relative_z
from metrics.stats.sequential import always_valid_p, cs_multiplier, rho_for


@dataclass(frozen=True)
class PeekingSimulation:
    """Share of A/A experiments that ever declared a significant difference."""

    n_sims: int
    looks: int
    alpha: float
    fixed_horizon_rate: float  # relative-lift z test once, at the last look
    naive_peeking_rate: float  # relative-lift z test at every look, stop at first p < alpha
    sequential_rate: float  # always-valid p (relative z) < alpha at any look

    def mc_se(self, rate: float) -> float:
        """Monte Carlo standard error of a rejection rate."""
        return float(np.sqrt(max(rate * (1 - rate), 1e-12) / self.n_sims))


@dataclass(frozen=True)
class CoverageSimulation:
    """Share of experiments whose interval contains the true lift."""

    n_sims: int
    alpha: float
    absolute_coverage: float
    relative_coverage: float


def _arms(rng, n_sims: int, looks: int, units: int, rates: tuple[float, float]):
    """Cumulative conversions per look for control and treatment, shape (n_sims, looks)."""
    return tuple(np.cumsum(rng.binomial(units, r, size=(n_sims, looks)), axis=1) for r in rates)


def simulate_aa_peeking(
    n_sims: int = 2000,
    looks: int = 30,
    units_per_look: int = 300,
    rate: float = 0.1,
    alpha: float = 0.05,
    tuning_n: float | None = None,
    seed: int = 0,
) -> PeekingSimulation:
    """A/A test with daily looks: fixed-horizon, naive peeking and sequential false-positive rates.

    Each arm gets ``units_per_look`` new units per look converting at ``rate``. The sequential
    method is tuned for the final total sample unless ``tuning_n`` is given.
    """
    rng = np.random.default_rng(seed)
    conv_c, conv_t = _arms(rng, n_sims, looks, units_per_look, (rate, rate))
    n = units_per_look * np.arange(1, looks + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_c, p_t = conv_c / n, conv_t / n
        z_rel = relative_z(p_c, p_c * (1 - p_c) / n, p_t, p_t * (1 - p_t) / n)
        p_naive = np.nan_to_num(p_value(z_rel, "two-sided"), nan=1.0)
        rho = rho_for(alpha, tuning_n or 2 * n[-1])
        p_seq = np.nan_to_num(always_valid_p(z_rel, 2 * n, rho), nan=1.0)
    return PeekingSimulation(
        n_sims,
        looks,
        alpha,
        float((p_naive[:, -1] < alpha).mean()),
        float((p_naive < alpha).any(axis=1).mean()),
        float((p_seq < alpha).any(axis=1).mean()),
    )


def simulate_ci_coverage(
    n_sims: int = 4000,
    n_per_arm: int = 3000,
    rate_control: float = 0.05,
    rate_treatment: float = 0.06,
    alpha: float = 0.05,
    seed: int = 0,
) -> CoverageSimulation:
    """Coverage of the unpooled Wald interval (absolute lift) and delta-method relative interval."""
    rng = np.random.default_rng(seed)
    p_c = rng.binomial(n_per_arm, rate_control, n_sims) / n_per_arm
    p_t = rng.binomial(n_per_arm, rate_treatment, n_sims) / n_per_arm
    vm_c, vm_t = p_c * (1 - p_c) / n_per_arm, p_t * (1 - p_t) / n_per_arm
    crit = critical_value(alpha, "two-sided")
    se = np.sqrt(vm_c + vm_t)
    abs_true = rate_treatment - rate_control
    abs_cov = np.abs(p_t - p_c - abs_true) <= crit * se
    with np.errstate(divide="ignore", invalid="ignore"):
        rse = relative_se(p_c, vm_c, p_t, vm_t)
        rel_cov = np.abs(p_t / p_c - rate_treatment / rate_control) <= crit * rse
    return CoverageSimulation(n_sims, alpha, float(abs_cov.mean()), float(rel_cov.mean()))


def simulate_sequential_coverage(
    n_sims: int = 2000,
    looks: int = 30,
    units_per_look: int = 300,
    rate_control: float = 0.1,
    rate_treatment: float = 0.11,
    alpha: float = 0.05,
    seed: int = 0,
) -> float:
    """Share of runs whose confidence sequence contains the true lift at every look."""
    rng = np.random.default_rng(seed)
    conv_c, conv_t = _arms(rng, n_sims, looks, units_per_look, (rate_control, rate_treatment))
    n = units_per_look * np.arange(1, looks + 1)
    p_c, p_t = conv_c / n, conv_t / n
    se = np.sqrt(p_c * (1 - p_c) / n + p_t * (1 - p_t) / n)
    k = cs_multiplier(2 * n, alpha, rho_for(alpha, 2 * n[-1]))
    inside = np.abs(p_t - p_c - (rate_treatment - rate_control)) <= k * se
    return float(inside.all(axis=1).mean())
