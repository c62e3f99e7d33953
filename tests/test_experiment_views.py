"""Pure helpers behind the experiment pages vs independent computations.

References: the relative-lift z / t on the log-ratio scale with its delta-method variance
written out here (scipy norm / t; issue 10 moved the decision to the log ratio), statsmodels
``multipletests`` (Holm, Benjamini–Hochberg), scipy's Welch t-test from summary statistics and
chi-square test, and pandas recomputations from simulated per-unit data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats as sps
from statsmodels.stats import multitest

from components import experiment_charts as charts
from components.theme import BAD_COLOR, GOOD_COLOR, NEUTRAL_COLOR
from data.app_state.decisions import DecisionRecord, decision_history, record_decision
from data.app_state.store import DecisionKind, open_store
from metrics.experiments import views as ev
from metrics.experiments.analysis import MetricInput, analyze_stats
from metrics.experiments.data import ExperimentInfo, VariantInfo
from metrics.stats.engine import analyze_metric
from metrics.stats.sufficient import VariantStats

RTOL = 1e-9


def relative_p_binomial(xc: float, nc: int, xt: float, nt: int) -> float:
    """Two-sided p of the relative lift p_t/p_c − 1: Katz log-ratio z (unpooled; scipy norm)."""
    pc, pt = xc / nc, xt / nt
    var = (1 - pt) / (nt * pt) + (1 - pc) / (nc * pc)
    return float(2 * sps.norm.sf(abs(math.log(pt / pc)) / math.sqrt(var)))


def relative_p_welch(c: np.ndarray, t: np.ndarray) -> float:
    """Two-sided p of the relative lift of means: log ratio, Welch df, and se_L the larger of
    the delta method and the pooled-mean form (docs/statistics.md)."""
    vc, vt = c.var(ddof=1) / len(c), t.var(ddof=1) / len(t)
    mc, mt = c.mean(), t.mean()
    se_l = max(math.sqrt(vt / mt**2 + vc / mc**2), math.sqrt(vc + vt) / ((mc + mt) / 2))
    stat = math.log(mt / mc) / se_l
    df = (vc + vt) ** 2 / (vc**2 / (len(c) - 1) + vt**2 / (len(t) - 1))
    return float(2 * sps.t.sf(abs(stat), df))


def binomial(variant: str, units: int, conversions: int) -> VariantStats:
    return VariantStats(variant, units, float(conversions), float(conversions))


def info(exp_id: str, variants: tuple[str, ...] = ("control", "treatment"), **kw) -> ExperimentInfo:
    defaults = dict(
        name=f"Experiment {exp_id}",
        hypothesis="h",
        loop_stage="evolve",
        primary_metric="purchase_conversion",
        secondary_metrics=(),
        guardrail_metrics=(),
        started_at=dt.datetime(2026, 1, 1),
        ended_at=None,
        status="running",
        variants=tuple(VariantInfo(v, i == 0, 1 / len(variants)) for i, v in enumerate(variants)),
        days_running=20,
    )
    return ExperimentInfo(experiment_id=exp_id, **(defaults | kw))


def analysis_of(exp: ExperimentInfo, stats: list[VariantStats], **kw):
    """analyze_stats on one binomial primary metric, with the SRM check on ``stats`` units."""
    return analyze_stats(
        experiment_id=exp.experiment_id,
        name=exp.name,
        control=stats[0].variant,
        metrics=[MetricInput("purchase_conversion", "primary", "binomial", True, tuple(stats))],
        assignment_counts={s.variant: s.units for s in stats},
        expected_shares=exp.expected_shares,
        info=exp,
        days_running=float(exp.days_running),
        **kw,
    )


# --- formatting ------------------------------------------------------------------


def test_lift_badge_format() -> None:
    r = analyze_metric(binomial("c", 1000, 100), binomial("t", 1000, 120), "binomial")
    r = dataclasses.replace(r, relative_lift=0.213, relative_ci=(0.121, 0.306))
    assert ev.lift_badge(r) == "+21.3% [+12.1%, +30.6%]"
    one_sided = dataclasses.replace(r, relative_ci=(0.05, math.inf))
    assert ev.lift_badge(one_sided) == "+21.3% [+5.0%, +∞]"
    absolute = dataclasses.replace(r, absolute_lift=0.012, absolute_ci=(-0.003, 0.027))
    assert ev.lift_badge(absolute, relative=False) == "+1.20 pp [-0.30 pp, +2.70 pp]"
    assert ev.lift_badge(dataclasses.replace(r, relative_lift=math.nan)) == "n/a"
    assert ev.lift_badge(None) == "n/a"


# --- cumulative effect ------------------------------------------------------------------


def simulated_daily(seed: int = 11, days: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-unit binomial data (day, variant, y) and its cumulative daily sums (pandas)."""
    rng = np.random.default_rng(seed)
    n = 4000
    units = pd.DataFrame(
        {
            "day": pd.Timestamp("2026-03-01") + pd.to_timedelta(rng.integers(0, days, n), "D"),
            "variant": rng.choice(["control", "b", "c"], n),
        }
    )
    p = units["variant"].map({"control": 0.10, "b": 0.12, "c": 0.15})
    units["y"] = (rng.random(n) < p).astype(float)
    per_day = units.groupby(["day", "variant"]).agg(units=("y", "size"), sum=("y", "sum"))
    per_day["sum_sq"] = per_day["sum"]
    cumulative = per_day.groupby(level="variant").cumsum().reset_index()
    return units, cumulative


def test_cumulative_effect_matches_direct_daily_tests() -> None:
    units, daily = simulated_daily()
    out = ev.cumulative_effect(daily, "control", "binomial")
    assert set(out["variant"]) == {"b", "c"}
    assert len(out) == 2 * daily["day"].nunique()
    first = daily["day"].min()
    for row in out.itertuples():
        seen = units[units["day"] <= row.day]
        ctrl, trt = seen[seen.variant == "control"]["y"], seen[seen.variant == row.variant]["y"]
        assert row.control_units == len(ctrl) and row.treatment_units == len(trt)
        assert row.day_number == (row.day - first).days + 1
        assert_allclose(row.relative_lift, trt.mean() / ctrl.mean() - 1, rtol=RTOL)
        p_ref = relative_p_binomial(ctrl.sum(), len(ctrl), trt.sum(), len(trt))
        assert_allclose(row.p_value, p_ref, rtol=1e-7)
        assert (row.p_value < 0.05) == (row.ci_low > 0 or row.ci_high < 0)
        assert row.ci_low < row.relative_lift < row.ci_high


def test_peeking_note_only_for_fixed_horizon_engines() -> None:
    # issue 10: the cumulative chart showed fixed-horizon intervals without a warning
    assert ev.peeking_note("sequential") is None
    for engine in ("frequentist", "bayesian"):
        note = ev.peeking_note(engine)
        assert note and "sequential" in note and "planned end" in note


def test_cumulative_effect_engines_and_degenerate_days() -> None:
    _, daily = simulated_daily()
    bayes = ev.cumulative_effect(daily, "control", "binomial", engine="bayesian")
    assert bayes["chance_to_win"].between(0, 1).all() and bayes["p_value"].isna().all()
    seq = ev.cumulative_effect(daily, "control", "binomial", engine="sequential")
    freq = ev.cumulative_effect(daily, "control", "binomial")
    # a confidence sequence is wider than the fixed-horizon interval on every day
    assert ((seq["ci_high"] - seq["ci_low"]) > (freq["ci_high"] - freq["ci_low"])).all()
    # a day where the control has no conversions yet: no relative lift (issue 10: a valid
    # result decided on the absolute difference, not an error)
    early = daily.copy()
    early.loc[(early["day"] == early["day"].min()) & (early["variant"] == "control"), "sum"] = 0
    early.loc[:, "sum_sq"] = early["sum"]
    bad = ev.cumulative_effect(early, "control", "binomial")
    first = bad[bad["day"] == bad["day"].min()]
    assert first["relative_lift"].isna().all() and first["p_value"].notna().all()
    empty = ev.cumulative_effect(daily.iloc[0:0], "control", "binomial")
    assert empty.empty and list(empty.columns) == list(ev.CUMULATIVE_COLUMNS)


# --- traffic split ------------------------------------------------------------------


def test_traffic_split_shares() -> None:
    frame = pd.DataFrame(
        {
            "day": pd.to_datetime(["2026-03-01"] * 3 + ["2026-03-02"] * 3),
            "variant": ["control", "b", "ghost"] * 2,
            "units": [30, 10, 0, 0, 0, 0],
        }
    )
    frame["cumulative_units"] = frame.groupby("variant")["units"].cumsum()
    out = ev.traffic_split(frame, {"control": 2.0, "b": 2.0})
    day1 = out[out["day"] == "2026-03-01"]
    assert_allclose(day1["share"], [0.75, 0.25, 0.0])
    assert out[out["day"] == "2026-03-02"]["share"].isna().all()  # no units that day
    assert_allclose(out[out["day"] == "2026-03-02"]["cumulative_share"], [0.75, 0.25, 0.0])
    assert_allclose(out["expected_share"].iloc[:2], [0.5, 0.5])
    assert math.isnan(out["expected_share"].iloc[2])  # undeclared variant


# --- segments ------------------------------------------------------------------


def sliced_binomial(seed: int = 5) -> dict[str, list[VariantStats]]:
    rng = np.random.default_rng(seed)
    out = {}
    for label in ("apac", "europe", "latam", "north_america", "tiny"):
        arms = []
        for variant, p in (("control", 0.08), ("b", 0.10), ("c", 0.12)):
            n = 40 if label == "tiny" else int(rng.integers(800, 2000))
            arms.append(binomial(variant, n, int(rng.binomial(n, p))))
        out[label] = arms
    out["empty_arm"] = [binomial("control", 500, 40), binomial("b", 0, 0), binomial("c", 300, 30)]
    return out


@pytest.mark.parametrize(("correction", "method"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_segment_table_matches_statsmodels(correction: str, method: str) -> None:
    sliced = sliced_binomial()
    table = ev.segment_table(sliced, "control", "binomial", correction=correction)
    assert len(table) == 2 * len(sliced)
    refs = []
    for row in table.itertuples():
        arms = {s.variant: s for s in sliced[row.slice]}
        c, t = arms["control"], arms[row.variant]
        if t.units == 0:  # empty arm
            assert math.isnan(row.p_value) and row.note and not row.significant
            continue
        if t.sum == 0:  # no conversions (issue 10): the absolute Wald z decides, not an error
            pc = c.sum / c.units
            p = float(2 * sps.norm.sf(pc / math.sqrt(pc * (1 - pc) / c.units)))
        else:
            p = relative_p_binomial(c.sum, c.units, t.sum, t.units)
        assert_allclose(row.p_value, p, rtol=1e-7)
        if correction == "holm":  # widened intervals match the adjusted decision
            assert row.significant == (row.ci_low > 0 or row.ci_high < 0)
        assert_allclose(row.relative_lift, (t.sum / t.units) / (c.sum / c.units) - 1, rtol=RTOL)
        refs.append((row.Index, p))
    reject, adjusted, _, _ = multitest.multipletests([p for _, p in refs], 0.05, method=method)
    assert_allclose(table.loc[[i for i, _ in refs], "p_adjusted"], adjusted, rtol=1e-9)
    assert list(table.loc[[i for i, _ in refs], "significant"]) == list(reject)


def test_metric_rows_show_the_p_of_the_displayed_scale() -> None:
    exp = info("exp_scale", variants=("control", "b", "c", "d"))
    arms = [(4000, 160), (4000, 190), (4000, 235), (4000, 150)]
    stats = [binomial(v, n, x) for v, (n, x) in zip(exp.expected_shares, arms, strict=True)]
    a = analysis_of(exp, stats, correction="holm")
    (nc, xc), rest = arms[0], arms[1:]
    rel, abs_ = ev.metric_rows(a), ev.metric_rows(a, relative=False)
    p_rel = [relative_p_binomial(xc, nc, x, n) for n, x in rest]
    pc = xc / nc
    z_abs = [
        (x / n - pc) / math.sqrt(pc * (1 - pc) / nc + (x / n) * (1 - x / n) / n) for n, x in rest
    ]
    p_abs = [2 * sps.norm.sf(abs(z)) for z in z_abs]  # unpooled Wald z
    assert_allclose(rel["p_value"], p_rel, rtol=1e-9)
    assert_allclose(abs_["p_value"], p_abs, rtol=1e-9)
    for table, ps in ((rel, p_rel), (abs_, p_abs)):
        _, adjusted, _, _ = multitest.multipletests(ps, 0.05, method="holm")
        assert_allclose(table["p_adjusted"], adjusted, rtol=1e-9)
        excludes = (table["ci_low"] > 0) | (table["ci_high"] < 0)
        assert list(excludes) == list(table["p_adjusted"] < 0.05)
    assert list(rel["direction"] != "inconclusive") == list(rel["p_adjusted"] < 0.05)


def test_segment_table_without_correction_and_for_means() -> None:
    rng = np.random.default_rng(3)
    sliced = {}
    raw = {}
    for label in ("a", "b"):
        arms = []
        for variant, mu in (("control", 10.0), ("treatment", 11.0)):
            y = rng.exponential(mu, 700)
            raw[(label, variant)] = y
            arms.append(VariantStats(variant, len(y), float(y.sum()), float((y * y).sum())))
        sliced[label] = arms
    table = ev.segment_table(sliced, "control", "mean", correction=None)
    for row in table.itertuples():
        c, t = raw[(row.slice, "control")], raw[(row.slice, "treatment")]
        p_ref = relative_p_welch(c, t)
        assert_allclose(row.p_value, p_ref, rtol=1e-6)
        assert row.p_adjusted == row.p_value
        assert row.significant == (p_ref < 0.05) == (row.ci_low > 0 or row.ci_high < 0)


# --- list rows ------------------------------------------------------------------


def decision(exp_id: str, version: int, kind: str, **kw) -> DecisionRecord:
    defaults = dict(
        decision_id=f"{exp_id}{version}",
        rationale="because",
        decided_by="Ada",
        evidence={},
        recommendation_at_decision="ship",
        followed_recommendation=True,
        target_kpi=None,
        expected_impact=None,
        rollout_date=None,
        recorded_at=dt.datetime(2026, 3, version, 12, tzinfo=dt.UTC),
    )
    return DecisionRecord(
        experiment_id=exp_id, version=version, decision=DecisionKind(kind), **(defaults | kw)
    )


def test_list_rows_against_direct_computations() -> None:
    win = info("exp_win", status="concluded")
    srm = info("exp_srm")
    abc = info("exp_abc", variants=("control", "b", "c"))
    empty = info("exp_empty")
    analyses = {
        "exp_win": analysis_of(
            win, [binomial("control", 5000, 200), binomial("treatment", 5000, 270)]
        ),
        "exp_srm": analysis_of(
            srm, [binomial("control", 5400, 220), binomial("treatment", 4600, 190)]
        ),
        "exp_abc": analysis_of(
            abc,
            [binomial("control", 3000, 120), binomial("b", 3000, 126), binomial("c", 3000, 170)],
        ),
        "exp_empty": analysis_of(empty, [binomial("control", 0, 0), binomial("treatment", 0, 0)]),
    }
    decisions = {"exp_win": decision("exp_win", 2, "ship")}
    infos = [win, srm, abc, empty, info("exp_broken")]
    rows = ev.list_rows(infos, analyses, decisions, {"exp_broken": "not analysed: boom"})
    assert list(rows.columns) == list(ev.LIST_COLUMNS)
    assert list(rows["experiment_id"]) == [i.experiment_id for i in infos]
    r = rows.set_index("experiment_id")

    lift = (270 / 5000) / (200 / 5000) - 1
    assert r.loc["exp_win", "lift"].startswith(f"{lift:+.1%} [")
    assert re.fullmatch(r"[+-]\d+\.\d% \[[+-]\d+\.\d%, [+-]\d+\.\d%\]", r.loc["exp_win", "lift"])
    assert_allclose(r.loc["exp_win", "relative_lift"], lift, rtol=RTOL)
    assert r.loc["exp_win", "ci_low"] < lift < r.loc["exp_win", "ci_high"]
    assert r.loc["exp_win", "units"] == "control 5,000 · treatment 5,000"
    assert r.loc["exp_win", "recommendation_kind"] == "ship"
    assert (r.loc["exp_win", "decision"], r.loc["exp_win", "decision_version"]) == ("ship", 2)

    chi = sps.chisquare([5400, 4600], [5000, 5000])
    assert_allclose(r.loc["exp_srm", "srm_p_value"], chi.pvalue, rtol=1e-9)
    assert r.loc["exp_srm", "srm"] == "⚠ mismatch" and chi.pvalue < 0.001
    assert r.loc["exp_srm", "recommendation_kind"] == "invalid"
    assert r.loc["exp_win", "srm"] == "ok"

    best = (170 / 3000) / (120 / 3000) - 1  # c is the best treatment
    assert r.loc["exp_abc", "variant"] == "c"
    lift = r.loc["exp_abc", "lift"]
    assert lift.startswith(f"{best:+.1%} [") and lift.endswith(" (best: c)")

    assert r.loc["exp_empty", "problem"] and r.loc["exp_empty", "lift"] == "n/a"
    assert r.loc["exp_broken", "problem"] == "not analysed: boom"
    assert r.loc["exp_broken", "recommendation"] == "n/a"

    shipping = ev.filter_rows(rows, recommendations=["ship"])
    assert set(shipping["experiment_id"]) == set(
        rows.loc[rows["recommendation_kind"] == "ship", "experiment_id"]
    )
    assert len(ev.filter_rows(rows, statuses=["concluded"])) == 1
    assert len(ev.filter_rows(rows)) == len(rows)
    assert ev.filter_rows(rows, statuses=["running"], loop_stages=["tailor"]).empty


def test_verdict_and_units() -> None:
    exp = info("exp_x")
    a = analysis_of(exp, [binomial("control", 200, 8), binomial("treatment", 200, 9)])
    v = ev.verdict(a)
    r = ev.headline_result(a)
    assert v.lift == ev.fmt_pct(r.relative_lift)
    assert v.kind == a.recommendation.kind.value
    assert v.evidence_name == "p-value" and v.evidence == ev.fmt_p(r.p_value)
    assert ev.units_per_variant(a) == {"control": 200, "treatment": 200}
    ghost = info("exp_g", variants=("control", "treatment", "ghost"))
    g = analysis_of(
        ghost,
        [binomial("control", 300, 9), binomial("treatment", 300, 12), binomial("ghost", 0, 0)],
    )
    assert ev.empty_variants(g) == ["ghost"] and not ev.has_no_units(g)
    bayes = analysis_of(
        exp, [binomial("control", 200, 8), binomial("treatment", 200, 9)], engine="bayesian"
    )
    assert ev.verdict(bayes).evidence_name == "Chance to win"
    assert v.interval_name == "95% interval"  # a single comparison: nothing to correct
    abc = info("exp_abc3", variants=("control", "b", "c"))
    three = analysis_of(
        abc, [binomial("control", 3000, 120), binomial("b", 3000, 150), binomial("c", 3000, 170)]
    )
    top = ev.headline_result(three)
    assert top.correction == "holm" and top.p_value_adjusted is not None
    assert ev.verdict(three).interval_name == "Holm-adjusted interval"  # Holm widened it


# --- decisions ------------------------------------------------------------------


def test_follows_recommendation() -> None:
    assert ev.follows_recommendation("ship", "ship") is True
    assert ev.follows_recommendation("kill", "ship") is False
    assert ev.follows_recommendation("extend", "keep_running") is True
    assert ev.follows_recommendation("ship", "invalid") is False
    assert ev.follows_recommendation("ship", None) is None
    for kind, suggested in ev.SUGGESTED_DECISION.items():
        assert ev.follows_recommendation(suggested, kind) is True


def test_history_rows_newest_first_with_changes() -> None:
    history = [
        decision("e", 1, "ship", target_kpi="purchase_conversion", expected_impact=0.2),
        decision("e", 2, "kill", decided_by="Bo", rationale="guardrail", expected_impact=0.2),
        decision("e", 3, "kill", decided_by="Bo", rationale="guardrail", expected_impact=0.2),
    ]
    rows = ev.history_rows(history)
    assert list(rows["version"]) == [3, 2, 1]
    assert rows.loc[2, "changes"] == "first decision"
    changes = rows.loc[1, "changes"]
    assert "decision: ship → kill" in changes and "decided by: Ada → Bo" in changes
    assert "rationale edited" in changes and "target KPI: purchase_conversion → —" in changes
    assert "expected impact" not in changes
    assert rows.loc[0, "changes"] == "re-recorded (no field changed)"
    assert ev.history_rows([]).empty


def test_evidence_snapshot_is_json_and_storable(tmp_path) -> None:
    exp = info("exp_e", variants=("control", "b", "c"))
    a = analysis_of(exp, [binomial("control", 900, 30), binomial("b", 900, 0), binomial("c", 0, 0)])
    opts = ev.AnalysisOptions(engine="frequentist", cuped=True, correction="bh")
    snap = ev.evidence_snapshot(a, opts, relative=False)
    json.dumps(snap, allow_nan=False)  # NaN of the failed comparison became None
    assert snap["options"] == {
        "engine": "frequentist",
        "cuped": True,
        "correction": "bh",
        "alpha": 0.05,
        "lift_scale": "absolute",
    }
    assert [m["variant"] for m in snap["metrics"]] == ["b", "c"]
    assert snap["metrics"][1]["relative_lift"] is None and snap["metrics"][1]["error"]
    assert snap["srm"]["observed"] == [900, 900, 0]
    store = open_store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    record_decision(
        store,
        experiment_id="exp_e",
        decision="iterate",
        rationale="r",
        decided_by="Ada",
        evidence=snap,
    )
    assert decision_history(store, "exp_e")[0].evidence == snap


def test_analysis_options_validate() -> None:
    with pytest.raises(ValueError, match="unknown engine"):
        ev.AnalysisOptions(engine="magic")
    with pytest.raises(ValueError, match="unknown correction"):
        ev.AnalysisOptions(correction="sidak")
    assert hash(ev.AnalysisOptions()) == hash(ev.AnalysisOptions())


# --- figure builders (the data they draw) ------------------------------------------------------


def test_forest_plot_rows_and_colours() -> None:
    exp = info("exp_f", variants=("control", "b", "c"))
    a = analysis_of(
        exp, [binomial("control", 5000, 200), binomial("b", 5000, 205), binomial("c", 5000, 300)]
    )
    rows = ev.metric_rows(a)
    fig = charts.forest_plot(rows)
    markers = [t for t in fig.data if t.mode == "markers"]
    colours = {t.marker.color: list(t.y) for t in markers}
    assert colours[GOOD_COLOR] == ["Primary · purchase_conversion · c"]
    assert colours[NEUTRAL_COLOR] == ["Primary · purchase_conversion · b"]
    assert BAD_COLOR not in colours
    good = next(t for t in markers if t.marker.color == GOOD_COLOR)
    c = rows[rows.variant == "c"].iloc[0]
    assert_allclose(good.x[0], c.lift)
    assert_allclose(good.x[0] + good.error_x.array[0], c.ci_high)
    assert_allclose(good.x[0] - good.error_x.arrayminus[0], c.ci_low)


def test_cumulative_chart_range_ignores_first_days() -> None:
    _, daily = simulated_daily()
    series = ev.cumulative_effect(daily, "control", "binomial")
    series.loc[series["day_number"] == 1, ["ci_low", "ci_high"]] = (-50.0, 50.0)
    lo, hi = charts.settled_range(series)
    assert -50 < lo < 0 < hi < 50
    fig = charts.cumulative_effect_chart(series, control="control", variants=["b", "c"])
    assert list(fig.layout.yaxis.range) == [lo, hi]
    lines = [t for t in fig.data if t.mode == "lines"]
    assert [t.name for t in lines] == ["b vs control", "c vs control"]
