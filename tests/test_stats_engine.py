"""Engine entry points: degenerate inputs, A/B/n, and the recommendation rules."""

from __future__ import annotations

import math

import pytest
from numpy.testing import assert_allclose

from metrics.stats import engine, power
from metrics.stats.recommendation import RecommendationKind as K
from metrics.stats.recommendation import recommend
from metrics.stats.sufficient import VariantStats as V

NAN = float("nan")
OK_C = V("control", 1000, 50, 50)
OK_T = V("treatment", 1000, 60, 60)


@pytest.mark.parametrize(
    ("control", "treatment", "kind", "options", "fragment"),
    [
        (V("control", 0, 0, 0), OK_T, "binomial", {}, "no units"),
        (OK_C, V("treatment", 1, 1, 1), "binomial", {}, "only 1 unit"),
        (OK_C, V("treatment", 100, 120, 120), "binomial", {}, "between 0 and units"),
        (V("control", -5, 0, 0), OK_T, "binomial", {}, "negative"),
        (V("control", 100, NAN, 1.0), OK_T, "mean", {}, "not a finite number"),
        (V("control", 100, 50.0, 1.0), OK_T, "mean", {}, "inconsistent"),
        (None, OK_T, "binomial", {}, "control variant is missing"),
        (OK_C, None, "binomial", {}, "treatment variant is missing"),
        (OK_C, OK_T, "ratio", {}, "denom_sum is missing"),
        (V("c", 100, 5, 5, 0.0, 0.0, 0.0), V("t", 100, 5, 5, 10, 10, 5), "ratio", {}, "sums to 0"),
        (OK_C, OK_T, "median", {}, "unknown metric kind"),
        (OK_C, OK_T, "binomial", {"engine": "magic"}, "unknown engine"),
        (OK_C, OK_T, "binomial", {"alternative": "bigger"}, "alternative must be"),
        (OK_C, OK_T, "binomial", {"alpha": 1.5}, "alpha must be"),
        (OK_C, OK_T, "binomial", {"engine": "bayesian", "prior_sd": -1.0}, "prior_sd"),
        (OK_C, OK_T, "binomial", {"engine": "sequential", "sequential_tuning_n": 0}, "tuning_n"),
    ],
)
@pytest.mark.parametrize("eng", ["frequentist", "bayesian", "sequential"])
def test_degenerate_inputs_give_messages(control, treatment, kind, options, fragment, eng):
    options = {"engine": eng, **options}
    r = engine.analyze_metric(control, treatment, kind, **options)
    if fragment in ("prior_sd",) and options["engine"] != "bayesian":
        assert r.ok
        return
    if fragment == "tuning_n" and options["engine"] != "sequential":
        assert r.ok
        return
    assert not r.ok, r
    assert fragment in r.error_message
    assert not r.significant and r.direction == "inconclusive"
    assert recommend(r).kind is K.INVALID


# Issue 10: zero values and zero variances used to be errors ("zero variance", "control value
# is 0"); they are valid results decided on the absolute scale (tests below).
@pytest.mark.parametrize("eng", ["frequentist", "bayesian", "sequential"])
@pytest.mark.parametrize("x", [0, 500])
def test_constant_equal_arms_are_valid_and_uninformative(eng, x):
    r = engine.analyze_metric(V("c", 500, x, x), V("t", 500, x, x), "binomial", engine=eng)
    assert r.ok, r.error_message
    assert not r.significant and r.direction == "inconclusive"
    assert recommend(r).kind is not K.INVALID


def test_control_zero_keeps_absolute_lift():
    r = engine.analyze_metric(V("c", 500, 0, 0), V("t", 500, 7, 7), "binomial")
    assert r.ok and r.decision_scale == "absolute"
    assert_allclose(r.absolute_lift, 7 / 500)
    assert math.isnan(r.relative_lift)
    assert any("control value is 0" in w for w in r.warnings)


def test_one_arm_zero_variance_is_fine_for_welch():
    r = engine.analyze_metric(V("c", 50, 100.0, 200.0), V("t", 50, 130.0, 400.0), "mean")
    assert r.ok and r.df is not None


def test_analyze_variants_errors_and_order():
    arms = [V("control", 1000, 40, 40), V("b", 1000, 44, 44), V("c", 1000, 54, 54)]
    res = engine.analyze_variants(arms, "control", "binomial", metric="purchase_conversion")
    assert [r.variant for r in res] == ["b", "c"]
    assert all(r.control_variant == "control" and r.metric == "purchase_conversion" for r in res)
    missing = engine.analyze_variants(arms, "ctrl", "binomial")
    assert len(missing) == 3 and all("not found" in r.error_message for r in missing)
    dup = engine.analyze_variants([*arms, V("b", 10, 1, 1)], "control", "binomial")
    assert all("duplicate" in r.error_message for r in dup)
    assert (
        "at least one treatment"
        in engine.analyze_variants(arms[:1], "control", "binomial")[0].error_message
    )
    assert engine.analyze_variants([], "control", "binomial")[0].error_message


def test_power_fields_match_power_module():
    # Power refers to the decision test: the log ratio with its delta-method se (issue 10).
    r = engine.analyze_metric(V("c", 8000, 400, 400), V("t", 8000, 420, 420), "binomial", mde=0.1)
    from scipy import stats as sps

    pc, pt, n = 400 / 8000, 420 / 8000, 8000
    se_rel = math.sqrt((1 - pt) / (n * pt) + (1 - pc) / (n * pc))
    z = sps.norm.isf(0.025)
    d = math.log(1.1)  # the relative effect 10% on the log-ratio scale
    expected = sps.norm.cdf(d / se_rel - z) + sps.norm.cdf(-d / se_rel - z)
    assert_allclose(r.power, expected, rtol=1e-10)
    factor = r.units_for_power / r.units
    assert_allclose(float(power.power_at_se(d, se_rel / math.sqrt(factor), 0.05)), 0.8, atol=1e-3)


# --- recommendation rules -------------------------------------------------------------------


def _primary(xc, xt, n=20000, **kw):
    return engine.analyze_metric(
        V("control", n, xc, xc), V("treatment", n, xt, xt), "binomial", metric="conv", **kw
    )


def _guard(xc, xt, n=20000):
    return engine.analyze_metric(
        V("control", n, xc, xc),
        V("treatment", n, xt, xt),
        "binomial",
        metric="support",
        higher_is_better=False,
        noninferiority_margin=0.2,
    )


def test_ship_when_primary_wins_and_guardrail_safe():
    rec = recommend(_primary(800, 1040), [_guard(600, 590)], engine.check_srm([OK_C, OK_C]))
    assert rec.kind is K.SHIP
    assert any("+30.0%" in s for s in rec.reasons)


def test_srm_never_ships():
    srm = engine.check_srm([V("control", 10600, 0, 0), V("treatment", 9400, 0, 0)])
    rec = recommend(_primary(800, 1040), [_guard(600, 590)], srm)
    assert srm.flagged and rec.kind is K.INVALID
    assert "53.0%" in rec.reasons[0]


def test_guardrail_harm_blocks_ship():
    rec = recommend(_primary(2000, 2400), [_guard(600, 900)])
    assert rec.kind is K.DONT_SHIP_GUARDRAIL and "support" in rec.reasons[0]


def test_guardrail_not_yet_safe_keeps_running():
    small = _guard(30, 33, n=1000)  # noisy: neither harmed nor non-inferior at 20%
    assert not small.non_inferiority.harmed and not small.non_inferiority.non_inferior
    rec = recommend(_primary(800, 1040), [small])
    assert rec.kind is K.KEEP_RUNNING


def test_underpowered_keeps_running_with_days():
    p = _primary(12, 14, n=300, mde=0.15)
    rec = recommend(p, days_running=7, max_extra_days=10_000)
    assert rec.kind is K.KEEP_RUNNING
    assert_allclose(rec.days_to_power, 7 * (p.units_for_power / p.units - 1), rtol=1e-12)
    # issue 10: out of reach is "inconclusive", not "no effect" (the interval is wide)
    assert recommend(p, days_running=7, max_extra_days=30).kind is K.INCONCLUSIVE


def test_well_powered_null_stops():
    p = _primary(4000, 4010, n=100_000)
    assert p.power > 0.8 and not p.significant
    assert recommend(p).kind is K.STOP_NO_EFFECT


def test_significantly_worse_is_harmful():
    # issue 10: was "stop — no effect"; a significantly worse primary is harmful
    assert recommend(_primary(1040, 800)).kind is K.DONT_SHIP_HARMFUL
