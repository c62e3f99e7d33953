"""Seeded Monte Carlo checks of the engine's error rates (vectorised numpy, no per-run loops).

The tests call these with small sizes; ``python -m bench`` can call them with large ones.
They use the engine's own array formulas (``frequentist.decision_z``: the log-ratio z with the
absolute fallback — the engine's decision statistic — Wald and log-ratio intervals,
confidence-sequence multiplier, always-valid p-value, the minimum-count rule, the
recommendation's early-stop threshold); the tests check them against the engine run by run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metrics.stats.common import critical_value, p_value
from metrics.stats.frequentist import decision_z, log_ratio_se
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
        return mc_se(rate, self.n_sims)


def mc_se(rate: float, runs: int) -> float:
    """Monte Carlo standard error √(rate·(1 − rate)/runs) of a rate estimated from ``runs``."""
    return float(np.sqrt(max(rate * (1 - rate), 1e-12) / runs))


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


def _cumulative_rates(rng, n_sims: int, looks: int, units: int, rates: tuple[float, float]):
    """(control rate, treatment rate, units per arm): rates (n_sims, looks), units (looks,)."""
    conv = _arms(rng, n_sims, looks, units, rates)
    n = units * np.arange(1, looks + 1)
    return conv[0] / n, conv[1] / n, n


def _rate_z(p_c, p_t, n):
    """The engine's decision statistic for rates p_c, p_t over n units per arm (arrays)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return decision_z(p_c, p_c * (1 - p_c) / n, p_t, p_t * (1 - p_t) / n)


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
    p_c, p_t, n = _cumulative_rates(rng, n_sims, looks, units_per_look, (rate, rate))
    z_rel = _rate_z(p_c, p_t, n)
    with np.errstate(divide="ignore", invalid="ignore"):
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
        lse = log_ratio_se(p_c, vm_c, p_t, vm_t)  # the engine's log-ratio interval
        rel_cov = np.abs(np.log(p_t / p_c) - np.log(rate_treatment / rate_control)) <= crit * lse
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
    rates = (rate_control, rate_treatment)
    p_c, p_t, n = _cumulative_rates(rng, n_sims, looks, units_per_look, rates)
    se = np.sqrt(p_c * (1 - p_c) / n + p_t * (1 - p_t) / n)
    k = cs_multiplier(2 * n, alpha, rho_for(alpha, 2 * n[-1]))
    inside = np.abs(p_t - p_c - (rate_treatment - rate_control)) <= k * se
    return float(inside.all(axis=1).mean())


# --- issue 10: the engine's current decision rules, vectorised -------------------------------


def _arm_moments(rng, kind: str, n_sims: int, n: int, scale: float = 1.0):
    """(mean, variance of the mean) of one arm per simulated experiment, from unit-level draws.

    kinds: 'binomial' (rate 0.05 × scale), 'binomial_low' (rate 0.02, for low counts),
    'lognormal' (revenue per user), 'zero_inflated' (90% zeros, lognormal spend otherwise),
    'ratio' (clicks / views per user; delta-method variance of Σy/Σx).
    """
    if kind in ("binomial", "binomial_low"):
        rate = (0.05 if kind == "binomial" else 0.02) * scale
        x = rng.binomial(n, rate, n_sims)
        m = x / n
        return m, m * (1 - m) / n
    if kind == "ratio":
        views = rng.poisson(5.0, (n_sims, n)).astype(float)
        clicks = rng.binomial(views.astype(int), min(0.1 * scale, 0.99)).astype(float)
        ratio = clicks.sum(1) / views.sum(1)
        resid = clicks - ratio[:, None] * views
        var = resid.var(axis=1, ddof=1) / views.mean(1) ** 2
        return ratio, var / n
    if kind == "lognormal":
        y = rng.lognormal(3.0, 1.0, (n_sims, n)) * scale
    elif kind == "zero_inflated":
        y = rng.lognormal(3.5, 1.2, (n_sims, n)) * (rng.random((n_sims, n)) < 0.1) * scale
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return y.mean(1), y.var(axis=1, ddof=1) / n


@dataclass(frozen=True)
class AASimulation:
    """A/A false-positive rate of one engine and metric kind at one look."""

    kind: str
    engine: str
    n_sims: int
    units_per_arm: int
    rate: float  # share of runs declared significant


def simulate_aa(
    kind: str = "binomial",
    engine: str = "frequentist",
    n_sims: int = 20_000,
    units_per_arm: int = 1000,
    alpha: float = 0.05,
    seed: int = 12345,
) -> AASimulation:
    """One look at an A/A test: how often the engine's decision says "significant".

    frequentist: the decision statistic (log-ratio z, Welch t for means); bayesian (flat
    prior): the credible interval excludes 0 ⇔ |z| > z_{1−α/2}; sequential: always-valid p
    (tuned at the engine's default n*) < alpha, with the minimum-count rule for rates.
    """
    from scipy import stats as sps

    from metrics.stats.frequentist import welch_df
    from metrics.stats.sequential import DEFAULT_TUNING_N

    rng = np.random.default_rng(seed)
    n = units_per_arm
    m_c, v_c = _arm_moments(rng, kind, n_sims, n)
    m_t, v_t = _arm_moments(rng, kind, n_sims, n)
    means = kind in ("lognormal", "zero_inflated")
    z = decision_z(m_c, v_c, m_t, v_t, means=means)
    if engine == "frequentist" and means:
        with np.errstate(divide="ignore", invalid="ignore"):
            df = welch_df(v_c, n, v_t, n)
        sig = 2 * sps.t.sf(np.abs(z), df) < alpha
    elif engine in ("frequentist", "bayesian"):
        sig = np.abs(z) > critical_value(alpha, "two-sided")
    else:
        p = always_valid_p(z, 2 * n, rho_for(alpha, DEFAULT_TUNING_N))
        sig = (p < alpha) & _enough_events(kind, m_c, m_t, n)
    return AASimulation(kind, engine, n_sims, n, float(np.nan_to_num(sig).mean()))


def _enough_events(kind: str, m_c, m_t, n):
    """The sequential engine's minimum-count rule (``engine.MIN_EXPECTED_EVENTS``), arrays."""
    from metrics.stats.engine import MIN_EXPECTED_EVENTS

    if kind not in ("binomial", "binomial_low"):
        return np.ones(np.shape(m_c), dtype=bool)
    pooled = (m_c + m_t) / 2
    return n * np.minimum(pooled, 1 - pooled) >= MIN_EXPECTED_EVENTS


def simulate_sequential_aa(
    n_sims: int = 4000,
    looks: int = 100,
    units_per_look: int = 100,
    rate: float = 0.02,
    alpha: float = 0.05,
    tuning_n: float | None = None,
    seed: int = 12345,
) -> float:
    """Share of A/A runs the sequential engine ever flags over ``looks`` looks (rates).

    The engine's rule: log-ratio (or fallback) z, always-valid p < alpha, and the
    minimum-count rule. ``tuning_n`` defaults to the engine's default n*.
    """
    from metrics.stats.sequential import DEFAULT_TUNING_N

    rng = np.random.default_rng(seed)
    p_c, p_t, n = _cumulative_rates(rng, n_sims, looks, units_per_look, (rate, rate))
    z = _rate_z(p_c, p_t, n)
    p = always_valid_p(z, 2 * n, rho_for(alpha, tuning_n or DEFAULT_TUNING_N))
    flagged = (np.nan_to_num(p, nan=1.0) < alpha) & _enough_events("binomial", p_c, p_t, n)
    return float(flagged.any(axis=1).mean())


def simulate_sequential_noninferiority(
    n_sims: int = 4000,
    looks: int = 30,
    units_per_look: int = 2000,
    rate: float = 0.1,
    margin: float = 0.05,
    alpha: float = 0.05,
    sequential: bool = True,
    seed: int = 12345,
) -> float:
    """Share of runs ever declared non-inferior when the true harm equals the margin.

    Higher is better; the treatment converts at rate·(1 − margin), exactly on H0's boundary.
    sequential: the engine's always-valid rule on z_NI = (L − log(1 − margin))/se_L;
    otherwise the fixed-horizon one-sided z test at every look (the old behaviour).
    """
    rng = np.random.default_rng(seed)
    rates = (rate, rate * (1 - margin))
    p_c, p_t, n = _cumulative_rates(rng, n_sims, looks, units_per_look, rates)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt((1 - p_t) / (n * p_t) + (1 - p_c) / (n * p_c))
        z_ni = (np.log(p_t / p_c) - np.log1p(-margin)) / se
    if sequential:
        p = always_valid_p(z_ni, 2 * n, rho_for(alpha, 5000), "larger")
    else:
        p = p_value(z_ni, "larger")
    return float((np.nan_to_num(p, nan=1.0) < alpha).any(axis=1).mean())


def simulate_daily_recommendation(
    n_sims: int = 4000,
    looks: int = 100,
    units_per_look: int = 500,
    rate: float = 0.05,
    alpha: float = 0.05,
    early_stop_p: float | None = None,
    seed: int = 12345,
) -> tuple[float, float]:
    """(false-ship rate with the plan rule, with the old first-significant-look rule).

    A/A test looked at daily, frequentist engine, planned sample = the last look. Plan rule
    (``recommendation.recommend``): before the plan a win ships only at two-sided
    p < early_stop_p, at the plan at p < alpha; a run counts as shipped if any look ships
    (an upper bound: stops for other reasons are ignored).
    """
    from metrics.stats.recommendation import EARLY_STOP_P

    rng = np.random.default_rng(seed)
    p_c, p_t, n = _cumulative_rates(rng, n_sims, looks, units_per_look, (rate, rate))
    z = np.nan_to_num(_rate_z(p_c, p_t, n))
    p = p_value(z, "two-sided")
    good = z > 0
    strict = early_stop_p if early_stop_p is not None else EARLY_STOP_P
    ship = good & (p < strict)
    ship[:, -1] |= good[:, -1] & (p[:, -1] < alpha)
    naive = good & (p < alpha)
    return float(ship.any(axis=1).mean()), float(naive.any(axis=1).mean())


def simulate_joint_coverage(
    method: str = "bonferroni",
    n_sims: int = 4000,
    n_per_arm: int = 5000,
    rate: float = 0.05,
    lifts: tuple[float, ...] = (0.0, 0.2, 0.2, 0.2),
    alpha: float = 0.05,
    seed: int = 12345,
) -> float:
    """Share of runs in which every treatment's adjusted relative interval covers its true lift.

    The engine's intervals (log ratio; ``multiple.adjust_results``): Bonferroni at level
    1 − alpha/m; Holm at 1 − a_i with a_i = alpha·p_i/p̃_i. Bonferroni's are simultaneous
    (≥ 1 − alpha jointly); Holm's match Holm's decisions but are not.
    """
    rng = np.random.default_rng(seed)
    m = len(lifts)
    n = n_per_arm
    x_c = rng.binomial(n, rate, (n_sims, 1))
    x_t = rng.binomial(n, rate * (1 + np.asarray(lifts)), (n_sims, m))
    p_c, p_t = x_c / n, x_t / n
    se = log_ratio_se(p_c, p_c * (1 - p_c) / n, p_t, p_t * (1 - p_t) / n)
    est = np.log(p_t / p_c)
    if method == "bonferroni":
        a = np.full((n_sims, m), alpha / m)
    else:  # holm: a_i = alpha·p_i/p̃_i with the step-down adjusted p-values per run
        p = p_value(est / se, "two-sided")
        order = np.argsort(p, axis=1)
        ranked = np.take_along_axis(p, order, axis=1)
        steps = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * ranked, axis=1))
        adjusted = np.empty_like(p)
        np.put_along_axis(adjusted, order, steps, axis=1)
        a = np.where(adjusted > 0, alpha * p / adjusted, alpha / m)
    from scipy.special import ndtri

    k = ndtri(1 - a / 2)
    truth = np.log1p(np.asarray(lifts))
    covered = np.abs(est - truth) <= k * se
    return float(covered.all(axis=1).mean())
