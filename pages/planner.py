"""Planner: sample size, minimum detectable effect and duration of an experiment, with the
trade-off between them. Thin: the computation lives in metrics.experiments.planner (on
metrics.stats.power), the figures in components.planner_charts."""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from components import planner_charts as pc
from components.context import current_filters, warehouse, warehouse_errors
from components.downloads import csv_download
from components.kpi_tiles import warehouse_key
from i18n import _
from metrics import formatting as fmt
from metrics.experiments import planner

TYPED, WAREHOUSE = _("Type it in"), _("From the warehouse")
RATE, MEAN = _("Conversion rate"), _("Mean (e.g. revenue per user)")
# The experiment analysis is two-sided, so the plan is too (planner.ANALYSIS_ALTERNATIVE);
# what varies is the engine: fixed horizon (one look at the end) or sequential (any day).
ENGINES = {"Fixed horizon (frequentist / Bayesian)": "frequentist", "Sequential": "sequential"}

filters = current_filters()

st.title(_("Planner"))
st.caption(
    _(
        "How many units, and how many days, an experiment needs to detect the effect you "
        "care about. Effects are relative (+5% = the treatment is 5% above control). Normal "
        "approximation; with more than one treatment each comparison is tested at α ÷ "
        "(variants − 1)."
    )
)


left, right = st.columns(2)
baseline = baseline_sd = None
kind = "binomial"
with left.container(border=True):
    st.markdown(_("**Baseline**"))
    source = st.radio(_("Baseline from"), [TYPED, WAREHOUSE], horizontal=True, key="planner_source")
    if source == TYPED:
        metric_type = st.radio(_("Metric"), [RATE, MEAN], horizontal=True, key="planner_kind")
        if metric_type == RATE:
            rate = st.number_input(
                _("Baseline conversion rate (%)"), value=5.0, step=0.5, key="planner_rate"
            )
            baseline = rate / 100
        else:
            kind = "mean"
            baseline = st.number_input(_("Baseline mean per unit"), value=50.0, key="planner_mean")
            baseline_sd = st.number_input(
                _("Standard deviation per unit"), value=80.0, key="planner_sd"
            )
    else:
        name = st.selectbox(
            _("KPI"),
            planner.BASELINE_KPIS,
            format_func=planner.baseline_label,
            key="planner_kpi",
        )
        with warehouse_errors(_("reading the baseline (or type the numbers in instead)")):
            found = pc.cached_baseline(warehouse(), warehouse_key(warehouse()), name, filters)
        st.caption(
            _(
                "{start:%d %b %Y} – {end:%d %b %Y}, with the sidebar's channel, segment and region "
                "filters (the segment you plan to test)."
            ).format(start=filters.start, end=filters.end)
        )
        if found.error_message:
            st.warning(found.error_message, icon=":material/warning:")
        else:
            kind, baseline, baseline_sd = found.kind, found.value, found.sd
            if kind == "binomial":
                st.metric(planner.baseline_label(name), fmt.percent(baseline, 2))
                st.caption(_("Over {units} units.").format(units=fmt.count(found.units)))
            else:
                st.metric(planner.baseline_label(name), fmt.money(baseline, cents=True))
                st.caption(
                    _("Standard deviation {baseline_sd} over {units} customers.").format(
                        baseline_sd=fmt.money(baseline_sd, cents=True), units=fmt.count(found.units)
                    )
                )

with left.container(border=True):
    st.markdown(_("**Traffic**"))
    traffic_source = st.radio(
        _("Daily traffic from"), [TYPED, WAREHOUSE], horizontal=True, key="planner_traffic_source"
    )
    if traffic_source == TYPED:
        daily = st.number_input(
            _("Units entering the experiment per day (all variants)"),
            value=2000.0,
            step=100.0,
            format="%.0f",  # whole units, not "2000.00"
            key="planner_daily",
        )
    else:
        with warehouse_errors(_("reading the daily traffic (or type it in instead)")):
            daily = pc.cached_daily_traffic(warehouse(), warehouse_key(warehouse()), filters)
        st.metric(_("New customers per day"), f"{daily:,.1f}")
        st.caption(
            _("Average over {days} days, with the sidebar's filters.").format(days=filters.days)
        )

with right.container(border=True):
    st.markdown(_("**Design**"))
    mde_pct = st.number_input(
        _("Minimum detectable effect (relative, %)"), value=10.0, step=1.0, key="planner_mde"
    )
    c1, c2 = st.columns(2)
    n_variants = c1.number_input(
        _("Variants (incl. control)"), min_value=2, max_value=10, value=2, key="planner_variants"
    )
    equal = c2.checkbox(_("Equal split"), value=True, key="planner_equal")
    control_pct = (
        100.0 / int(n_variants)
        if equal
        else c2.number_input(_("Control's share of traffic (%)"), value=50.0, key="planner_split")
    )
    c3, c4 = st.columns(2)
    alpha = c3.number_input(
        _("α (significance level)"), value=0.05, step=0.01, format="%.3f", key="planner_alpha"
    )
    power_target = (
        c4.number_input(_("Power (%)"), value=80.0, step=5.0, format="%.0f", key="planner_power")
        / 100
    )
    engine_label = st.radio(
        _("Engine"),
        list(ENGINES),
        horizontal=True,
        key="planner_engine",
        help=_("Sequential plans allow a look every day; they need about 1.9× the units."),
    )

if baseline is None:
    st.info(_("Choose a baseline with data (or type it in) to see the plan."))
    st.stop()

inputs = planner.PlanInputs(
    baseline=float(baseline),
    mde=mde_pct / 100,
    kind=kind,
    baseline_sd=baseline_sd,
    daily_units=float(daily),
    n_variants=int(n_variants),
    control_share=control_pct / 100,
    alpha=float(alpha),
    power=float(power_target),
    alternative=planner.ANALYSIS_ALTERNATIVE,
    engine=ENGINES[engine_label],
)
issues = planner.validate(inputs)
if issues:
    st.error(
        _("**The plan cannot be computed:**\n\n") + "\n".join(f"- {i}" for i in issues),
        icon=":material/error:",
    )
    st.stop()

result = planner.plan(inputs)
if result.error_message:
    st.error(result.error_message, icon=":material/error:")
    st.stop()

st.subheader(_("Plan"))
m1, m2, m3 = st.columns(3)
per_treatment = result.units_per_variant[1]
m1.metric(
    _("Units per variant"),
    fmt.count(per_treatment),
    help=_("Per treatment arm (control below if the split is unequal)."),
)
m2.metric(_("Total units"), fmt.count(result.total_units))
m3.metric(
    _("Days"), fmt.count(result.days) if result.days else "–", help=_("At the daily traffic above.")
)
plan_table = pd.DataFrame(
    {
        "variant": ["control"] + [f"treatment {i}" for i in range(1, int(n_variants))],
        "share_of_traffic": inputs.weights,
        "units": result.units_per_variant,
    }
)
if len(set(result.units_per_variant)) > 1:
    st.caption(
        _("Control needs {units_per_variant} units.").format(
            units_per_variant=fmt.count(result.units_per_variant[0])
        )
    )
st.caption(
    _(
        "Each comparison at α = {alpha_per_comparison:.4g} (two-sided, as the analysis), "
        "power {power} for a {mde} relative effect on a baseline of {baseline}."
    ).format(
        alpha_per_comparison=result.alpha_per_comparison,
        power=fmt.percent(inputs.power, 0),
        mde=fmt.percent(inputs.mde, signed=True),
        baseline=(
            fmt.percent(inputs.baseline, 2)
            if kind == "binomial"
            else fmt.money(inputs.baseline, cents=True)
        ),
    )
)
if result.tuning_n:
    fixed = planner.plan(dataclasses.replace(inputs, engine="frequentist"))
    versus = (
        _(" A fixed-horizon plan needs {total_units} units").format(
            total_units=fmt.count(fixed.total_units)
        )
        + (f" ({fmt.days(fixed.days)})" if fixed.days else "")
        + _(" but allows one look only, at its end.")
        if not fixed.error_message
        else ""
    )
    st.info(
        _(
            "Sequential plan: enter n* = {tuning_n} (units of one treatment-control pair) as "
            "the planned units on the experiment page, before looking at any data. You may then "
            "look every day and stop as soon as the result is decisive; a real effect is often "
            'found before the end, but "no effect" needs the full plan.'
        ).format(tuning_n=fmt.count(result.tuning_n))
        + versus,
        icon=":material/timeline:",
    )
if result.days and result.days > 90:
    st.warning(
        _(
            "This takes {days}: consider a larger MDE, fewer variants or more traffic (long "
            "tests suffer from seasonality and cookie churn)."
        ).format(days=fmt.days(result.days)),
        icon=":material/schedule:",
    )
csv_download(
    plan_table.assign(days=result.days, mde=inputs.mde, alpha=inputs.alpha, power=inputs.power),
    "experiment_plan",
    key="dl_planner_plan",
)

st.subheader(_("Trade-off"))
days = planner.day_grid(result.days)
mde_curve = planner.mde_curve(inputs, days)
power_curve = planner.power_curve(inputs, days)
chart_left, chart_right = st.columns(2)
with chart_left:
    st.plotly_chart(pc.mde_figure(mde_curve, result.days, inputs.mde), key="planner_mde_chart")
    csv_download(mde_curve, "mde_vs_days", key="dl_planner_mde")
with chart_right:
    st.plotly_chart(
        pc.power_figure(power_curve, result.days, inputs.power), key="planner_power_chart"
    )
    csv_download(power_curve, "power_vs_days", key="dl_planner_power")
st.caption(
    _(
        "Left: the smallest effect you could detect if you stopped after that many days. "
        "Right: the chance of detecting your MDE if it is real. Your plan is the red diamond."
    )
)
