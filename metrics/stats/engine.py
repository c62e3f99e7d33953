"""Experiment analysis entry points: ``analyze_metric`` (A/B), ``analyze_variants`` (A/B/n).

Pipeline: sufficient statistics → per-variant moments (optionally CUPED-adjusted) → fixed-
horizon lift test → engine-specific summary (frequentist p-value and CI; Bayesian chance to
win, expected loss, credible interval; sequential confidence sequence and always-valid p-value)
→ power for the target ``mde`` and, for guardrails, a non-inferiority test. Nothing raises:
problems end up in ``MetricResult.error_message`` (fatal) or ``warnings`` (informative).

**One decision scale.** Every decision — ``significant``, ``p_value``, ``direction``,
``power``, non-inferiority and hence the recommendation — is made on the *relative lift*
r = treatment/control − 1 with its delta-method (unpooled) standard error, the same quantity
and standard error as ``relative_ci``. So, for every engine and ``alternative``:
``significant`` ⇔ ``relative_ci`` excludes 0 (frequentist and sequential: ⇔ p < alpha;
Bayesian: the credible interval excludes 0, i.e. two-sided a chance of either sign above
1 − alpha/2). After a Holm or Bonferroni adjustment the intervals are widened by the same
rule (``metrics.stats.multiple``). ``absolute_statistic`` / ``absolute_p_value`` test the
absolute lift and match ``absolute_ci``, for displays in metric units; they never drive a
decision. A relative lower bound below −100% is clipped at −100% with a warning.

Units: ``*_mean`` and ``absolute_*`` are in the metric's units (a rate for binomial metrics,
per-unit value for means, Σy/Σx for ratios); ``relative_*`` and ``mde`` are fractions of the
control value (0.05 = +5%); ``expected_loss_*`` are in relative-lift units.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scipy import optimize

from metrics.stats import bayesian, frequentist, moments, power, sequential
from metrics.stats.common import MetricKind, check_alpha, check_alternative, parse_kind
from metrics.stats.frequentist import NonInferiorityResult
from metrics.stats.multiple import adjust_results
from metrics.stats.quantile import QuantileStats, quantile_moments
from metrics.stats.srm import SRMResult, srm_test
from metrics.stats.sufficient import VariantStats

Engine = Literal["frequentist", "bayesian", "sequential"]
ENGINES = ("frequentist", "bayesian", "sequential")
Interval = tuple[float, float]
NAN_CI: Interval = (math.nan, math.nan)
DEFAULT_MDE = 0.10


@dataclass(frozen=True)
class MetricResult:
    """Comparison of one treatment variant with the control on one metric."""

    metric: str
    variant: str
    control_variant: str
    kind: str
    engine: str
    alternative: str
    alpha: float
    higher_is_better: bool
    control_units: int
    treatment_units: int
    control_mean: float  # metric units (CUPED-adjusted when cuped_applied)
    treatment_mean: float
    absolute_lift: float  # treatment − control, metric units
    absolute_se: float
    absolute_ci: Interval  # confidence / credible interval / confidence sequence
    relative_lift: float  # treatment / control − 1 (Bayesian: posterior mean)
    relative_se: float  # delta method, unpooled (the decision scale's standard error)
    relative_ci: Interval  # lower bound clipped at −1 (−100%), with a warning, if below
    p_value: float | None  # H0: relative lift = 0; frequentist fixed horizon / always-valid
    statistic: float | None  # relative_lift / relative_se (z, or t with Welch df for means)
    df: float | None  # Welch df when the t distribution is used (means)
    method: str  # the tests used (+ the engine's summary)
    significant: bool  # relative_ci excludes 0 (⇔ p_value < alpha; adjusted when corrected)
    chance_to_win: float | None = None  # Bayesian: P(treatment better)
    expected_loss_ship: float | None = None  # Bayesian, relative-lift units
    expected_loss_no_ship: float | None = None
    cuped_applied: bool = False
    theta: float | None = None
    variance_reduction: float | None = None  # fraction of the lift's variance removed by CUPED
    mde: float | None = None  # relative effect the power refers to
    power: float | None = None  # fixed-horizon power to detect mde with the current data
    units_for_power: int | None = None  # total units (both arms) for power_target at mde
    non_inferiority: NonInferiorityResult | None = None
    p_value_adjusted: float | None = None  # after a multiple-testing correction
    correction: str | None = None
    warnings: tuple[str, ...] = ()
    error_message: str | None = None
    absolute_statistic: float | None = None  # absolute_lift / absolute_se (z or Welch t)
    absolute_p_value: float | None = None  # H0: absolute lift = 0; matches absolute_ci
    absolute_p_value_adjusted: float | None = None  # absolute family, same correction
    sequential_rho: float | None = None  # mixing parameter of the confidence sequences
    decision_scale: str = "log-ratio"  # 'log-ratio' | 'absolute' (fallback: a zero mean etc.)
    no_decision: str | None = None  # why no decision can be made yet (sequential: too few events)

    @property
    def ok(self) -> bool:
        return self.error_message is None

    @property
    def units(self) -> int:
        return self.control_units + self.treatment_units

    @property
    def direction(self) -> str:
        """'better', 'worse' (significant in the good / bad direction) or 'inconclusive'.

        The sign is read from ``relative_ci`` (the decision interval; it excludes 0 when
        significant) and flipped for a negative control value, where t/c − 1 > 0 means t < c.
        """
        if not (self.ok and self.significant):
            return "inconclusive"
        if math.isfinite(self.relative_lift):
            lo, hi = self.relative_ci
            up = lo > 0 if (lo > 0 or hi < 0) else self.relative_lift > 0
            if self.control_mean < 0:
                up = not up
        elif math.isfinite(self.absolute_lift):  # control value 0: the absolute scale decides
            lo, hi = self.absolute_ci
            up = lo > 0 if (lo > 0 or hi < 0) else self.absolute_lift > 0
        else:
            return "inconclusive"
        good = up if self.higher_is_better else not up
        return "better" if good else "worse"


def _error(
    metric: str,
    variant: str,
    control: str,
    kind: str,
    engine: str,
    alternative: str,
    alpha: float,
    higher_is_better: bool,
    message: str,
    n_c: int = 0,
    n_t: int = 0,
    mean_c: float = math.nan,
    mean_t: float = math.nan,
) -> MetricResult:
    nan = math.nan
    return MetricResult(
        metric,
        variant,
        control,
        str(kind),
        engine,
        alternative,
        alpha,
        higher_is_better,
        n_c,
        n_t,
        mean_c,
        mean_t,
        nan,
        nan,
        NAN_CI,
        nan,
        nan,
        NAN_CI,
        None,
        None,
        None,
        "",
        False,
        error_message=message,
    )


def excludes_zero(ci: Interval) -> bool:
    """True when the interval ``(lo, hi)`` lies entirely above or below 0."""
    lo, hi = ci
    return bool(lo > 0 or hi < 0)


def _units_for_power(
    delta: float,
    se: float,
    n_total: int,
    alpha: float,
    alternative: str,
    target: float,
    sequential_at: tuple[float, float] | None = None,
) -> int | None:
    """Total units for ``target`` power, scaling se ∝ 1/√N from the current look.

    ``sequential_at`` = (alpha, ρ): use the confidence sequence's multiplier k_N at the
    larger N instead of the fixed-horizon z (the sequential engine's power).
    """
    if not (math.isfinite(delta) and se > 0 and delta != 0 and n_total > 0):
        return None

    def gap(f: float) -> float:
        crit = None
        if sequential_at is not None:
            crit = float(sequential.cs_multiplier(n_total * f, *sequential_at))
        got = power.power_at_se(delta, se / math.sqrt(f), alpha, alternative, crit)
        return float(got) - target

    try:
        if gap(1.0) >= 0:
            return n_total
        return math.ceil(n_total * optimize.brentq(gap, 1.0, 1e12, rtol=1e-10))
    except ValueError:
        return None


def analyze_metric(
    control: VariantStats | None,
    treatment: VariantStats | None,
    kind: MetricKind | str,
    *,
    metric: str = "",
    engine: Engine = "frequentist",
    alpha: float = 0.05,
    alternative: str = "two-sided",
    cuped: bool = False,
    higher_is_better: bool = True,
    mde: float | None = DEFAULT_MDE,
    power_target: float = 0.8,
    noninferiority_margin: float | None = None,
    prior_mean: float = 0.0,
    prior_sd: float | None = None,
    beta_binomial: bool = False,
    sequential_tuning_n: float = sequential.DEFAULT_TUNING_N,
) -> MetricResult:
    """Compare ``treatment`` with ``control`` on one metric.

    H0: relative lift r = treatment/control − 1 = 0; H1 per ``alternative`` on r
    ('two-sided': ≠ 0, 'larger': > 0, 'smaller': < 0). The statistic is r/se_r with the
    delta-method standard error (unpooled variances). ``absolute_p_value`` tests
    treatment − control = 0 against the same alternative.

    Parameters
    ----------
    control, treatment : VariantStats
        Sufficient statistics (ratio metrics need the denominator sums; CUPED the covariate sums).
    kind : {'binomial', 'mean', 'ratio'}
    metric : str
        Name carried into the result.
    engine : {'frequentist', 'bayesian', 'sequential'}
        frequentist: fixed-horizon test of the relative lift on the log-ratio scale (z for
        rates and ratios; Student t with Welch df for means, CUPED-adjusted or not);
        absolute: unpooled Wald z for rates, Welch t for means, delta-method Wald z for
        ratios; bayesian: Gaussian posterior of the log ratio
        (flat prior unless ``prior_sd``; Beta-Binomial Monte Carlo when ``beta_binomial`` and
        kind is binomial), significant when the credible interval excludes 0;
        sequential: asymptotic confidence sequence tuned for ``sequential_tuning_n`` total
        units, always-valid p-value.
    alpha : float
        Level of tests and intervals (Bayesian: interval level and decision threshold).
    cuped : bool
        Adjust with the pre-period covariate (falls back to unadjusted with a warning when the
        covariate sums are missing).
    higher_is_better : bool
        Good direction of the metric (chance to win, expected loss, non-inferiority).
    mde : float or None
        Relative effect (fraction of control) for ``power`` and ``units_for_power``:
        fixed-horizon power of the relative test, at the current relative standard error.
    noninferiority_margin : float or None
        For guardrails: largest acceptable harm as a fraction of control (e.g. 0.02).
    prior_mean, prior_sd : float
        Normal prior on the relative lift for the Bayesian engine (``prior_sd=None``: flat).

    Returns
    -------
    MetricResult
    """
    kind_str = str(getattr(kind, "value", kind))
    c_name = getattr(control, "variant", "") or ""
    t_name = getattr(treatment, "variant", "") or ""

    def fail(message: str, **extra) -> MetricResult:
        return _error(
            metric,
            t_name,
            c_name,
            kind_str,
            str(engine),
            alternative,
            alpha,
            higher_is_better,
            message,
            **extra,
        )

    try:
        parsed = parse_kind(kind)
        problem = check_alternative(alternative) or check_alpha(alpha)
        if parsed is None:
            problem = f"unknown metric kind {kind!r}; expected binomial, mean or ratio"
        elif engine not in ENGINES:
            problem = f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}"
        elif control is None:
            problem = "the control variant is missing"
        elif treatment is None:
            problem = "the treatment variant is missing"
        if problem:
            return fail(problem)
        return _analyze(
            control,
            treatment,
            parsed,
            metric,
            engine,
            alpha,
            alternative,
            cuped,
            higher_is_better,
            mde,
            power_target,
            noninferiority_margin,
            prior_mean,
            prior_sd,
            beta_binomial,
            sequential_tuning_n,
        )
    except Exception as exc:  # noqa: BLE001 - the caller must get a result, never a traceback
        return fail(f"internal error while analysing: {type(exc).__name__}: {exc}")


def analyze_quantile(
    control: QuantileStats,
    treatment: QuantileStats,
    *,
    metric: str = "",
    engine: Engine = "frequentist",
    alpha: float = 0.05,
    alternative: str = "two-sided",
    higher_is_better: bool = True,
    mde: float | None = DEFAULT_MDE,
    power_target: float = 0.8,
    prior_mean: float = 0.0,
    prior_sd: float | None = None,
    sequential_tuning_n: float = sequential.DEFAULT_TUNING_N,
) -> MetricResult:
    """Compare a quantile (median, p90, …) of treatment with control's, with any engine.

    Each arm's quantile and its standard error come from its order statistics
    (``metrics.stats.quantile.quantile_moments``); from there the pipeline is
    ``analyze_metric``'s with z on the log ratio: frequentist p-value and interval, Bayesian
    posterior of the log ratio, or the sequential engine's confidence sequence. ``kind`` of the
    result is ``'quantile'``; ``units`` are the units the quantile is over (e.g. buyers).
    A quantile on tied values, or an arm with fewer than 2 units, gives an ``error_message``.
    """
    bad = check_alternative(alternative) or check_alpha(alpha)
    if not bad and engine not in ENGINES:
        bad = f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}"
    m_c, m_t = quantile_moments(control), quantile_moments(treatment)
    if not bad:
        try:
            result = _analyze(
                VariantStats(control.variant, control.units, math.nan, math.nan),
                VariantStats(treatment.variant, treatment.units, math.nan, math.nan),
                MetricKind.MEAN, metric, engine, alpha, alternative, False, higher_is_better,
                mde, power_target, None, prior_mean, prior_sd, False, sequential_tuning_n,
                given=(m_c, m_t),
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a result, never a traceback
            bad = f"internal error while analysing: {type(exc).__name__}: {exc}"
        else:
            method = f"q = {control.q:g} quantile, order-statistic se; {result.method}"
            return dataclasses.replace(result, kind="quantile", method=method)
    return _error(metric, treatment.variant, control.variant, "quantile", str(engine),
                  alternative, alpha, higher_is_better, bad, control.units, treatment.units,
                  m_c.mean, m_t.mean)  # fmt: skip


def _analyze(
    control,
    treatment,
    kind,
    metric,
    engine,
    alpha,
    alternative,
    cuped,
    higher_is_better,
    mde,
    power_target,
    margin,
    prior_mean,
    prior_sd,
    beta_binomial,
    tuning_n,
    given: tuple[moments.Moments, moments.Moments] | None = None,
) -> MetricResult:
    """The pipeline after validation; ``given``: per-arm moments computed elsewhere
    (quantiles), decided with z on the log ratio (no CUPED, no minimum-count rule)."""
    warnings: list[str] = []
    if given is not None:
        m_c, m_t = given
    else:
        m_c, m_t = moments.moments(control, kind), moments.moments(treatment, kind)
    n_c, n_t = max(int(control.units or 0), 0), max(int(treatment.units or 0), 0)
    common = dict(n_c=n_c, n_t=n_t, mean_c=m_c.mean, mean_t=m_t.mean)
    for m in (m_c, m_t):
        if m.error_message:
            return _error(
                metric,
                treatment.variant,
                control.variant,
                kind.value,
                engine,
                alternative,
                alpha,
                higher_is_better,
                m.error_message,
                **common,
            )
    theta = reduction = None
    cuped_applied = False
    if cuped:
        adj = moments.cuped_moments(control, treatment, kind)
        if adj.error_message:
            warnings.append(f"CUPED not applied: {adj.error_message}")
        else:
            m_c, m_t, theta, reduction = (
                adj.control,
                adj.treatment,
                adj.theta,
                adj.variance_reduction,
            )
            cuped_applied = True
    method = "welch t" if kind is MetricKind.MEAN and given is None else "wald z"
    test = frequentist.compare(m_c, m_t, method=method, alpha=alpha, alternative=alternative)
    dist = "t" if test.df is not None else "z"
    scale = "log-ratio" if test.scale == "log-ratio" else "absolute fallback"
    method = f"relative: {scale} {dist}; absolute: {test.method}"
    if test.note:
        warnings.append(test.note)
    if m_c.mean < 0:
        warnings.append(
            "the control value is negative: the relative lift t/c − 1 has the opposite sign "
            "of t − c; read the absolute lift"
        )
    base = dict(
        metric=metric,
        variant=treatment.variant,
        control_variant=control.variant,
        kind=kind.value,
        engine=engine,
        alternative=alternative,
        alpha=alpha,
        higher_is_better=higher_is_better,
        control_units=n_c,
        treatment_units=n_t,
        control_mean=m_c.mean,
        treatment_mean=m_t.mean,
        absolute_lift=test.absolute_lift,
        absolute_se=test.absolute_se,
        absolute_ci=test.absolute_ci,
        relative_lift=test.relative_lift,
        relative_se=test.relative_se,
        relative_ci=test.relative_ci,
        p_value=test.p_value,
        statistic=test.statistic,
        df=test.df,
        method=method,
        significant=bool(test.p_value < alpha),
        absolute_statistic=test.absolute_statistic,
        absolute_p_value=test.absolute_p_value,
        cuped_applied=cuped_applied,
        theta=theta,
        variance_reduction=reduction,
        error_message=test.error_message,
        decision_scale=test.scale,
    )
    if test.error_message:
        base["significant"] = False
        return _finish(base, warnings)

    n_total = n_c + n_t
    seq_k = None
    if engine == "sequential":
        seq = sequential.sequential_test(
            test, n_total, alpha=alpha, alternative=alternative, tuning_n=tuning_n
        )
        if seq.error_message:
            base |= dict(error_message=seq.error_message)
            return _finish(base, warnings)
        seq_k = seq.multiplier
        base |= dict(
            absolute_ci=seq.absolute_ci,
            relative_ci=seq.relative_ci,
            p_value=seq.p_value,
            absolute_p_value=seq.absolute_p_value,
            method=f"{method}; asymptotic confidence sequence",
            significant=bool(seq.p_value < alpha),
            sequential_rho=seq.rho,
        )
        few = _too_few_events(control, treatment, kind, cuped_applied)
        if few:
            warnings.append(few)
            base |= dict(
                absolute_ci=(-math.inf, math.inf),
                relative_ci=(-1.0, math.inf) if math.isfinite(test.relative_lift) else NAN_CI,
                p_value=1.0,
                absolute_p_value=1.0,
                significant=False,
                no_decision=few,
            )

    # Power of the decision test for the target relative effect, at the current standard
    # error; under the sequential engine with the sequence's multiplier k_N instead of z.
    est, se = test.estimate_se
    if mde is not None and math.isfinite(se) and se > 0 and math.isfinite(test.relative_lift):
        signed = -abs(mde) if alternative == "smaller" else abs(mde)
        delta = math.log1p(signed) if test.scale == "log-ratio" else signed
        base["mde"] = mde
        crit = seq_k
        base["power"] = float(power.power_at_se(delta, se, alpha, alternative, crit))
        base["units_for_power"] = _units_for_power(
            delta,
            se,
            n_total,
            alpha,
            alternative,
            power_target,
            None if seq_k is None else (alpha, sequential.rho_for(alpha, tuning_n)),
        )
    if margin is not None:
        if engine == "sequential":
            ni = sequential.non_inferiority(
                test,
                n_total,
                margin,
                alpha=alpha,
                higher_is_better=higher_is_better,
                tuning_n=tuning_n,
            )
            if _too_few_events(control, treatment, kind, cuped_applied):
                ni = dataclasses.replace(ni, non_inferior=False, harmed=False)
        else:
            ni = frequentist.non_inferiority_test(
                test, margin, alpha=alpha, higher_is_better=higher_is_better
            )
        base["non_inferiority"] = ni

    if engine == "bayesian" and not test.absolute_se > 0:
        warnings.append(
            "neither arm varies (e.g. no conversions in either): the posterior is not defined; "
            "the result is uninformative"
        )
        base |= dict(p_value=None, absolute_p_value=None, method=f"{method}; no posterior")
    elif engine == "bayesian":
        scale_c = abs(m_c.mean)
        ab = bayesian.gaussian_lift(
            test.absolute_lift,
            test.absolute_se,
            scale="absolute",
            higher_is_better=higher_is_better,
            alpha=alpha,
            alternative=alternative,
            prior_mean=prior_mean * scale_c,
            prior_sd=None if prior_sd is None or scale_c == 0 else prior_sd * scale_c,
        )
        if beta_binomial and kind is MetricKind.BINOMIAL and not cuped_applied:
            rel = bayesian.beta_binomial_mc(
                int(control.sum),
                n_c,
                int(treatment.sum),
                n_t,
                higher_is_better=higher_is_better,
                alpha=alpha,
                alternative=alternative,
            )
            label = "beta-binomial Monte Carlo"
            if prior_sd is not None:
                warnings.append("the normal prior is ignored by the Beta-Binomial route")
        elif test.scale == "log-ratio":
            rel = bayesian.log_ratio_lift(
                test.log_ratio,
                test.log_se,
                higher_is_better=higher_is_better,
                alpha=alpha,
                alternative=alternative,
                prior_mean=prior_mean,
                prior_sd=prior_sd,
            )
            label = "gaussian posterior of the log ratio"
        elif math.isfinite(test.relative_lift):
            rel = bayesian.gaussian_lift(
                test.relative_lift,
                test.relative_se,
                higher_is_better=higher_is_better if m_c.mean > 0 else not higher_is_better,
                alpha=alpha,
                alternative=alternative,
                prior_mean=prior_mean,
                prior_sd=prior_sd,
            )
            label = "gaussian posterior (absolute fallback, relative to control)"
        else:
            rel = dataclasses.replace(ab, posterior_mean=math.nan, credible_interval=NAN_CI)
            label = "gaussian posterior of the absolute difference (control value 0)"
        label += " (normal prior)" if prior_sd else " (flat prior)"
        decide_on = (
            rel.credible_interval if math.isfinite(test.relative_lift) else ab.credible_interval
        )
        base |= dict(
            absolute_lift=ab.posterior_mean,
            absolute_ci=ab.credible_interval,
            relative_lift=rel.posterior_mean,
            relative_ci=rel.credible_interval,
            p_value=None,
            absolute_p_value=None,
            method=f"{method}; {label}",
            chance_to_win=rel.chance_to_win,
            expected_loss_ship=rel.expected_loss_ship,
            expected_loss_no_ship=rel.expected_loss_no_ship,
            significant=excludes_zero(decide_on),
            error_message=rel.error_message or ab.error_message,
        )
    return _finish(base, warnings)


MIN_EXPECTED_EVENTS = 5  # sequential engine, binomial metrics: per arm, under H0


def _too_few_events(control, treatment, kind, cuped_applied: bool) -> str | None:
    """The sequential engine's minimum-count rule for rates (a warning text, or None).

    The confidence sequence rests on a normal approximation, which fails with a handful of
    conversions (the always-valid p of 8/100 vs 1/100 was 0.0055 against Fisher's exact
    0.035). No decision is made until each arm would expect at least
    ``MIN_EXPECTED_EVENTS`` conversions and as many non-conversions at the pooled rate
    (the classic rule for chi-square tests). A guardrail that collapses to 0 at volume still
    passes it: the pooled rate, not the treatment's own, is what counts.
    """
    if kind is not MetricKind.BINOMIAL or cuped_applied:
        return None
    n = control.units + treatment.units
    pooled = (control.sum + treatment.sum) / n
    expected = min(control.units, treatment.units) * min(pooled, 1 - pooled)
    if expected >= MIN_EXPECTED_EVENTS:
        return None
    return (
        f"too few events for the sequential test: {expected:.1f} expected per arm at the "
        f"pooled rate (at least {MIN_EXPECTED_EVENTS} conversions and non-conversions needed); "
        "no decision yet"
    )


def _finish(base: dict, warnings: list[str]) -> MetricResult:
    """Build the result, clipping a relative lower bound below −100% (with a warning)."""
    ci, clipped = frequentist.clip_relative(base["relative_ci"])
    if clipped:
        warnings.append(frequentist.clip_warning(base["relative_ci"][0]))
        base["relative_ci"] = ci
    if base.get("error_message"):
        base["significant"] = False
    return MetricResult(**base, warnings=tuple(warnings))


def analyze_variants(
    stats: Sequence[VariantStats],
    control: str,
    kind: MetricKind | str,
    *,
    correction: str | None = None,
    **options,
) -> list[MetricResult]:
    """Compare every non-control variant with ``control`` (A/B/n); one result per treatment.

    ``options`` are those of ``analyze_metric``. ``correction`` ('holm', 'bonferroni',
    'fdr_bh') adjusts p-values across the treatments (frequentist and sequential engines);
    to correct across variants × metrics, call ``metrics.stats.multiple.adjust_results`` on
    all results at once instead. CUPED's θ is pooled per treatment-control pair.
    """
    stats = list(stats or [])
    names = [getattr(s, "variant", None) for s in stats]
    others = [s for s in stats if s.variant != control]
    kind_str = str(getattr(kind, "value", kind))
    engine = options.get("engine", "frequentist")

    def fail_all(message: str) -> list[MetricResult]:
        targets = others or [VariantStats("", 0, 0.0, 0.0)]
        return [
            _error(
                options.get("metric", ""),
                t.variant,
                control,
                kind_str,
                engine,
                options.get("alternative", "two-sided"),
                options.get("alpha", 0.05),
                options.get("higher_is_better", True),
                message,
            )
            for t in targets
        ]

    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        return fail_all(f"duplicate variant names: {', '.join(map(str, duplicates))}")
    if control not in names:
        shown = ", ".join(map(str, names)) or "none"
        return fail_all(f"control variant {control!r} not found among: {shown}")
    if not others:
        return fail_all("need at least one treatment variant besides the control")
    ctrl = stats[names.index(control)]
    if correction and engine == "bayesian" and len(others) > 1:
        return _bayesian_bonferroni(ctrl, others, kind, options)
    results = [analyze_metric(ctrl, t, kind, **options) for t in others]
    if correction and engine != "bayesian" and len(results) > 1:
        results = adjust_results(results, correction, options.get("alpha", 0.05))
    return results


def _bayesian_bonferroni(ctrl, others, kind, options) -> list[MetricResult]:
    """Bayesian A/B/n with control over m treatments: credible intervals at 1 − alpha/m.

    Without it, five identical arms shipped a false winner 6.5% of the time (issue 10). Each
    treatment's interval (and so ``significant``: two-sided, a chance to win above
    1 − alpha/(2m) or below alpha/(2m)) uses the Bonferroni level; the result's ``alpha``
    is that level, so the interval is labelled with what it is.
    """
    m = len(others)
    alpha = options.get("alpha", 0.05)
    opts = {**options, "alpha": alpha / m}
    out = []
    for t in others:
        r = analyze_metric(ctrl, t, kind, **opts)
        note = (
            f"{m} treatments: the credible interval is at {1 - alpha / m:.2%} "
            f"(Bonferroni, alpha {alpha:g} / {m}) so that the chance of any false winner "
            f"stays near {alpha:g}"
        )
        out.append(dataclasses.replace(r, correction="bonferroni", warnings=(*r.warnings, note)))
    return out


def check_srm(
    stats: Sequence[VariantStats],
    expected_shares: Sequence[float] | None = None,
) -> SRMResult:
    """SRM chi-square test on the units of ``stats`` (equal split unless ``expected_shares``)."""
    return srm_test([s.units for s in stats], expected_shares)
