"""Bayesian summary of a lift with a Gaussian approximation (as GrowthBook's default engine).

Model: the estimated lift L̂ (relative, fraction of control, by default; or absolute, in metric
units) is N(L, se²), with se from the delta method (``metrics.stats.frequentist``).

Prior on the true lift L:
- flat (default, ``prior_sd=None``): the posterior is N(L̂, se²);
- proper normal N(prior_mean, prior_sd²): the posterior is normal with precision
  1/prior_sd² + 1/se² and mean (prior_mean/prior_sd² + L̂/se²) / precision. A prior such as
  N(0, 0.3²) on the relative lift shrinks noisy early estimates towards 0.

Outputs (``good`` = L if higher is better, −L otherwise):
- chance to win = P(good > 0 | data);
- expected loss of shipping = E[max(−good, 0)], of not shipping = E[max(good, 0)] — in the
  lift's units (e.g. 0.004 = 0.4% of control);
- credible interval: equal-tailed (1 − alpha); one-sided per ``alternative`` as everywhere.

``beta_binomial_mc`` gives the exact Beta-Binomial answer for conversion rates by Monte Carlo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypedDict, Unpack

import numpy as np

from metrics.stats.common import check_alpha, check_alternative, critical_value, interval
from metrics.stats.distributions import NORMAL

Interval = tuple[float, float]


@dataclass(frozen=True)
class BayesResult:
    """Posterior summary of a lift (``scale`` says relative or absolute)."""

    scale: str  # 'relative' (fraction of control) or 'absolute' (metric units)
    posterior_mean: float
    posterior_sd: float
    credible_interval: Interval
    chance_to_win: float  # P(treatment better than control), probability in [0, 1]
    expected_loss_ship: float  # lift units
    expected_loss_no_ship: float  # lift units
    error_message: str | None = None


def positive_part_mean(mu, sigma):
    """E[max(X, 0)] for X ~ N(mu, sigma²) (closed form; arrays allowed)."""
    z = mu / sigma
    return mu * NORMAL.cdf(z) + sigma * NORMAL.pdf(z)


def _nan(scale: str, message: str) -> BayesResult:
    nan = math.nan
    return BayesResult(scale, nan, nan, (nan, nan), nan, nan, nan, message)


def gaussian_lift(
    estimate: float,
    se: float,
    *,
    scale: str = "relative",
    higher_is_better: bool = True,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    prior_mean: float = 0.0,
    prior_sd: float | None = None,
) -> BayesResult:
    """Posterior of the lift under a Gaussian likelihood and a flat or normal prior.

    Parameters
    ----------
    estimate, se : float
        Observed lift and its standard error (same units: relative or absolute).
    higher_is_better : bool
        Direction in which the treatment "wins".
    alpha, alternative :
        Credible interval level (1 − alpha) and shape.
    prior_mean, prior_sd : float
        Normal prior on the lift; ``prior_sd=None`` means a flat prior.
    """
    problem = check_alpha(alpha) or check_alternative(alternative)
    if not problem and not (math.isfinite(estimate) and math.isfinite(se) and se > 0):
        problem = "the lift or its standard error is undefined (zero or missing variance)"
    if not problem and prior_sd is not None and not (math.isfinite(prior_sd) and prior_sd > 0):
        problem = f"prior_sd must be a positive number or None; got {prior_sd!r}"
    if problem:
        return _nan(scale, problem)
    if prior_sd is None:
        mean, sd = estimate, se
    else:
        precision = 1 / prior_sd**2 + 1 / se**2
        mean = (prior_mean / prior_sd**2 + estimate / se**2) / precision
        sd = math.sqrt(1 / precision)
    good = mean if higher_is_better else -mean
    chance = float(NORMAL.sf(-good / sd))
    loss_ship = float(positive_part_mean(-good, sd))
    loss_no_ship = float(positive_part_mean(good, sd))
    ci = interval(mean, sd, critical_value(alpha, alternative), alternative)
    return BayesResult(scale, mean, sd, ci, chance, loss_ship, loss_no_ship)


def beta_binomial_mc(
    count_c: int,
    n_c: int,
    count_t: int,
    n_t: int,
    *,
    prior_a: float = 1.0,
    prior_b: float = 1.0,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    draws: int = 200_000,
    seed: int = 0,
) -> BayesResult:
    """Beta-Binomial posterior of the relative lift p_t / p_c − 1 by Monte Carlo.

    Each rate gets a Beta(prior_a + conversions, prior_b + non-conversions) posterior
    (Beta(1, 1) = uniform by default); ``draws`` joint draws give chance to win, expected losses
    (fraction of control) and an equal-tailed (1 − alpha) interval. Monte Carlo error of the
    chance to win is at most 0.5/√draws (0.0011 at the default).
    """
    problem = check_alpha(alpha)
    for count, n in ((count_c, n_c), (count_t, n_t)):
        if not (n >= 1 and 0 <= count <= n):
            problem = problem or f"need 0 ≤ conversions ≤ units and units ≥ 1; got {count}/{n}"
    if problem:
        return _nan("relative", problem)
    rng = np.random.default_rng(seed)
    p_c = rng.beta(prior_a + count_c, prior_b + n_c - count_c, draws)
    p_t = rng.beta(prior_a + count_t, prior_b + n_t - count_t, draws)
    lift = p_t / p_c - 1
    good = lift if higher_is_better else -lift
    if alternative == "larger":
        lo, hi = float(np.quantile(lift, alpha)), math.inf
    elif alternative == "smaller":
        lo, hi = -math.inf, float(np.quantile(lift, 1 - alpha))
    else:
        lo, hi = np.quantile(lift, [alpha / 2, 1 - alpha / 2])
    return BayesResult(
        "relative",
        float(lift.mean()),
        float(lift.std(ddof=1)),
        (float(lo), float(hi)),
        float((good > 0).mean()),
        float(np.maximum(-good, 0).mean()),
        float(np.maximum(good, 0).mean()),
    )


class PosteriorOptions(TypedDict, total=False):
    """Keyword options of ``log_ratio_lift``, passed on to ``gaussian_lift`` (same meaning,
    same defaults: higher is better, alpha 0.05, two-sided, flat prior)."""

    higher_is_better: bool
    alpha: float
    alternative: str
    prior_mean: float  # on the relative lift (fraction), > −1
    prior_sd: float | None


def log_ratio_lift(
    log_ratio: float, log_se: float, **options: Unpack[PosteriorOptions]
) -> BayesResult:
    """Posterior of the relative lift r = e^L − 1 from a Gaussian posterior of L = log ratio.

    ``options`` as ``gaussian_lift``'s (``PosteriorOptions``). The prior is given on the
    relative lift: N(log(1 + prior_mean), prior_sd²) on L (for
    small lifts the two scales agree). Reports the posterior median of r (e^μ − 1), the
    equal-tailed credible interval back-transformed, the chance to win P(good > 0), and the
    expected losses in relative-lift units from the lognormal closed forms
    E[(e^L − 1)⁺] = e^(μ + σ²/2)·Φ(μ/σ + σ) − Φ(μ/σ) and E[(1 − e^L)⁺] = Φ(−μ/σ) −
    e^(μ + σ²/2)·Φ(−μ/σ − σ).
    """
    prior_mean = options.pop("prior_mean", 0.0)
    prior_sd = options.get("prior_sd")
    higher_is_better = options.get("higher_is_better", True)
    if prior_sd is not None and not prior_mean > -1:
        return _nan("relative", f"prior_mean must be above −100%; got {prior_mean!r}")
    shifted = math.log1p(prior_mean) if prior_sd is not None else 0.0
    post = gaussian_lift(log_ratio, log_se, prior_mean=shifted, **options)
    if post.error_message:
        return post
    mu, sd = post.posterior_mean, post.posterior_sd
    z = mu / sd
    growth = math.exp(mu + sd * sd / 2)
    up = growth * float(NORMAL.cdf(z + sd)) - float(NORMAL.cdf(z))  # E[(e^L − 1)⁺]
    down = float(NORMAL.cdf(-z)) - growth * float(NORMAL.cdf(-z - sd))  # E[(1 − e^L)⁺]
    loss_ship, loss_no_ship = (down, up) if higher_is_better else (up, down)
    lo, hi = post.credible_interval
    ci = (
        math.expm1(lo) if math.isfinite(lo) else -1.0,
        math.expm1(hi) if math.isfinite(hi) else math.inf,
    )
    return BayesResult(
        "relative",
        math.expm1(mu),
        (1 + math.expm1(mu)) * sd,
        ci,
        post.chance_to_win,
        max(loss_ship, 0.0),
        max(loss_no_ship, 0.0),
    )
