"""Experiment detail: verdict, metrics and forest plot, effect over time, traffic split and SRM,
segments with corrections, and the decision log. The experiment id lives in
``st.query_params["experiment"]`` so links are shareable.

Thin: data through cached ``metrics`` calls, tables from ``metrics.experiments.views``, drawing in
``components``.
"""

from __future__ import annotations

import streamlit as st

from components.context import (
    QUERY_ERRORS,
    show_problem,
    show_query_problem,
    warehouse,
    warehouse_errors,
)
from components.decision_form import render_decision_form, render_decision_history
from components.downloads import csv_download
from components.escaping import md_text
from components.experiment_charts import cumulative_effect_chart, traffic_split_chart
from components.experiment_view import (
    HELP,
    cached_analysis,
    cached_daily_assignments,
    cached_daily_stats,
    cached_experiments,
    cached_sliced_stats,
    fmt_share_table,
    glossary,
    render_analysis,
    render_quantiles,
)
from components.kpi_tiles import warehouse_key
from components.url_state import IN_URL
from i18n import _
from metrics import formatting as fmt
from metrics import small_samples as small
from metrics.experiments import views as ev
from metrics.experiments.data import UnknownExperimentError
from metrics.experiments.definitions import EXPERIMENT_METRICS
from metrics.experiments.sql import SLICE_COLUMNS
from metrics.filters import shown

PICK_KEY = "exp_detail_experiment"
SYNCED_KEY = "exp_detail_synced_param"
SLICE_LABELS = {
    "acquisition_channel": "Acquisition channel",
    "segment": "Segment",
    "region": "Region",
    "persona": "Persona",
}


def _none(choice: str) -> str | None:
    """The widgets' 'none' choice as None (None itself would mean 'nothing selected')."""
    return None if choice == "none" else choice


engine = warehouse()
url = warehouse_key(engine)

with warehouse_errors(_("reading the experiments")):
    infos = cached_experiments(engine, url)

st.title(_("Experiment detail"))
if not infos:
    st.info(
        _("**No experiments yet.** The `experiments` table is empty."), icon=":material/science:"
    )
    st.stop()

by_id = {i.experiment_id: i for i in infos}
requested = st.query_params.get("experiment")
if requested != st.session_state.get(SYNCED_KEY):  # a new link: it wins over the picker
    st.session_state[SYNCED_KEY] = requested
    if requested in by_id:
        st.session_state[PICK_KEY] = requested
    elif requested:
        st.session_state[PICK_KEY] = None
if PICK_KEY not in st.session_state:
    st.session_state[PICK_KEY] = infos[0].experiment_id
if requested and requested not in by_id and st.session_state.get(PICK_KEY) is None:
    known = ", ".join(md_text(i) for i in sorted(by_id))
    show_problem(
        _("Unknown experiment in the link"),
        _(
            "The link asks for experiment “{md_text}”, which is not in the warehouse (known: "
            "{known})."
        ).format(md_text=md_text(shown(requested, 64)), known=known),
        _("Pick an experiment below, or check the link you followed."),
    )

picked = st.selectbox(
    _("Experiment"),
    list(by_id),
    format_func=lambda i: f"{by_id[i].name} ({i})",
    key=PICK_KEY,
    persist_state="session",  # in the URL as ?experiment= (below), kept across page switches
    placeholder=_("Choose an experiment"),
)
if picked is None:
    st.stop()
st.query_params["experiment"] = picked
st.session_state[SYNCED_KEY] = picked
info = by_id[picked]

# --- options ---------------------------------------------------------------------------------
o1, o2, o3, o4 = st.columns([3, 1.3, 2.2, 1.6])
engine_kind = o1.radio(
    _("Engine"),
    list(ev.ENGINE_LABELS),
    format_func=lambda k: ev.ENGINE_LABELS[k],
    horizontal=True,
    key="exp_engine",
    **IN_URL,
    help=HELP["engine"] + "\n\n" + HELP["sequential"],
)
cuped = o2.toggle(_("CUPED"), key="exp_cuped", **IN_URL, help=HELP["cuped"])
correction_choice = o3.selectbox(
    _("Multiple-testing correction"),
    ["none", "holm", "bh"],
    index=1,
    format_func=lambda c: ev.CORRECTION_LABELS[_none(c)],
    key="exp_correction",
    **IN_URL,
    help=HELP["correction"],
)
scale = o4.radio(
    _("Lift"),
    ["relative", "absolute"],
    horizontal=True,
    key="exp_lift_scale",
    **IN_URL,
    help=HELP["lift"],
)
relative = scale == "relative"
tuning_n = None
if engine_kind == "sequential":
    tuning_n = int(
        st.number_input(
            _("Planned units per treatment-control pair (n*, from the Planner's sequential plan)"),
            min_value=100,
            value=5000,
            step=1000,
            key="exp_tuning_n",
            **IN_URL,
            help=_("The confidence sequence is narrowest at n*. Fix it before looking at data."),
        )
    )
prior_mean, prior_sd = 0.0, None
if engine_kind == "bayesian":
    p1, p2 = st.columns(2)
    prior_mean = (
        p1.number_input(
            _("Prior mean of the lift (%)"),
            value=0.0,
            step=0.5,
            key="exp_prior_mean",
            **IN_URL,
            help=_("Centre of a normal prior on the relative lift; 0 = no expected change."),
        )
        / 100
    )
    sd_pct = p2.number_input(
        _("Prior sd of the lift (%; 0 = flat prior)"),
        min_value=0.0,
        value=0.0,
        step=1.0,
        key="exp_prior_sd",
        **IN_URL,
        help=_(
            "How large lifts usually are: e.g. 5% if past tests rarely moved the metric by more "
            "than ±10%. Shrinks noisy early results towards the prior mean."
        ),
    )
    prior_sd = sd_pct / 100 if sd_pct > 0 else None
options = ev.AnalysisOptions(
    engine=engine_kind,
    cuped=cuped,
    correction=_none(correction_choice),
    sequential_tuning_n=tuning_n,
    prior_mean=prior_mean,
    prior_sd=prior_sd,
)

try:
    analysis = cached_analysis(engine, url, picked, options)
except UnknownExperimentError as exc:
    show_problem(_("Unknown experiment"), str(exc), _("Pick another experiment above."))
    st.stop()
except QUERY_ERRORS as exc:
    show_query_problem(exc, _("analysing the experiment"))
    st.stop()

st.caption(
    _(
        "`{experiment_id}` · **{status}** · loop stage **{loop_stage}** · started "
        "{started_at:%Y-%m-%d}"
    ).format(
        experiment_id=info.experiment_id,
        status=info.status,
        loop_stage=info.loop_stage,
        started_at=info.started_at,
    )
    + (_(", ended {ended_at:%Y-%m-%d}").format(ended_at=info.ended_at) if info.ended_at else "")
    + _(" · {days_running} days · variants: ").format(days_running=info.days_running)
    + ", ".join(f"{v.variant} ({v.expected_share:.0%})" for v in info.variants)
)
st.markdown(
    _("**Hypothesis.** {hypothesis}").format(hypothesis=md_text(info.hypothesis))
)  # warehouse text: literal
glossary(key="exp_glossary")
if engine_kind == "bayesian":
    st.caption(
        _("The Bayesian engine reports chance to win; no multiple-testing correction applies.")
    )

if ev.has_no_units(analysis):
    st.info(
        _(
            "**No units assigned yet.** This experiment has no rows in `experiment_assignments`, "
            "so there is nothing to analyse. Results appear once units are assigned."
        ),
        icon=":material/hourglass_empty:",
    )
    st.stop()
for variant in ev.empty_variants(analysis):
    st.warning(
        _(
            "Variant **{variant}** has no units: it cannot be compared, and the traffic split is "
            "broken (see the SRM check below)."
        ).format(variant=variant),
        icon=":material/warning:",
    )

# --- verdict, metrics, forest plot --------------------------------------------------------------
metric_table = render_analysis(analysis, relative=relative, key="exp")
if not metric_table.empty:
    csv_download(metric_table, f"{picked}_metrics", key="dl_exp_metrics")
if any(m.name == "revenue_per_user" for m in analysis.metrics):  # an experiment about revenue
    with warehouse_errors(_("computing the order-value quantiles")):
        render_quantiles(engine, url, analysis, options, key="exp")

# --- over time ---------------------------------------------------------------------------------
primary = analysis.primary
st.subheader(_("Over time"))
left, right = st.columns([3, 2])
with left:
    if primary is not None and primary.name in EXPERIMENT_METRICS and primary.results:
        with warehouse_errors(_("reading the daily statistics")):
            daily = cached_daily_stats(engine, url, picked, primary.name, cuped)
        series = ev.cumulative_effect(
            daily,
            analysis.control,
            primary.kind,
            higher_is_better=primary.higher_is_better,
            engine=engine_kind,
            alpha=analysis.alpha,
            cuped=cuped and EXPERIMENT_METRICS[primary.name].supports_cuped,
            sequential_tuning_n=tuning_n,
        )
        treatments = [v for v in analysis.variants if v != analysis.control]
        if series["relative_lift"].notna().any():
            st.plotly_chart(
                cumulative_effect_chart(
                    series,
                    control=analysis.control,
                    variants=treatments,
                    title=_("Cumulative effect on {label} (uncorrected intervals)").format(
                        label=primary.label
                    ),
                ),
                key="exp_cumulative_chart",
            )
            peeking = ev.peeking_note(engine_kind)
            if peeking:
                st.warning(peeking)
            st.caption(
                _(
                    "Each day shows the result as it would have been read that day, with all units "
                    "assigned so far. A lift that shrinks over time "
                    "hints at a novelty effect; early "
                    "swings are noise."
                )
            )
            csv_download(series, f"{picked}_cumulative_effect", key="dl_exp_cumulative")
        else:
            st.info(_("Not enough data yet to estimate the effect day by day."))
    else:
        st.info(_("The primary metric could not be analysed, so there is no effect over time."))
with right:
    with warehouse_errors(_("reading the daily traffic split")):
        assignments = cached_daily_assignments(engine, url, picked)
    split = ev.traffic_split(assignments, info.expected_shares)
    st.plotly_chart(
        traffic_split_chart(split, control=analysis.control, title=_("Daily traffic split")),
        key="exp_traffic_chart",
    )
    srm = analysis.srm
    with st.container(border=True):
        st.markdown(_("**Sample ratio check**"), help=HELP["srm"])
        if srm is None or srm.error_message:
            st.caption(
                _("Not checked: ")
                + (srm.error_message if srm else _("the design declares no expected shares."))
            )
        elif srm.flagged:
            st.warning(
                _(
                    "Sample ratio mismatch: χ² = {chi2:.1f}, p = "
                    "{p_value:.2g} (< {threshold:g}). Fix "
                    "the assignment before trusting any result."
                ).format(chi2=srm.chi2, p_value=srm.p_value, threshold=srm.threshold),
                icon=":material/warning:",
            )
        else:
            st.success(
                _("Split as designed: χ² = {chi2}, p = {p_value}.").format(
                    chi2=fmt.count(srm.chi2, 2), p_value=ev.fmt_p(srm.p_value)
                ),
                icon=":material/check_circle:",
            )
        st.dataframe(fmt_share_table(split), hide_index=True, key="exp_srm_table")

# --- segments ------------------------------------------------------------------------------------
st.subheader(_("Segments"))
s1, s2, s3 = st.columns([2, 2, 3])
slice_by = s1.selectbox(
    _("Break down by"), list(SLICE_COLUMNS), format_func=SLICE_LABELS.get, key="exp_slice", **IN_URL
)
analysable = [m for m in analysis.metrics if m.name in EXPERIMENT_METRICS and m.results]
seg_metric = None
if analysable:
    seg_metric = s2.selectbox(
        _("Metric"),
        [m.name for m in analysable],
        format_func=lambda n: EXPERIMENT_METRICS[n].label,
        key="exp_segment_metric",
        **IN_URL,
    )
seg_correction = s3.selectbox(
    _("Correction across slices"),
    ["holm", "bh", "none"],
    format_func=lambda c: ev.CORRECTION_LABELS[_none(c)],
    key="exp_segment_correction",
    **IN_URL,
    help=HELP["correction"],
)
if seg_metric is None:
    st.info(_("No metric of this experiment can be broken down."))
else:
    definition = EXPERIMENT_METRICS[seg_metric]
    with warehouse_errors(_("reading the segment statistics")):
        sliced = cached_sliced_stats(engine, url, picked, seg_metric, slice_by)
    seg = ev.segment_table(
        sliced,
        analysis.control,
        str(definition.kind),
        higher_is_better=definition.higher_is_better,
        correction=_none(seg_correction),
        alpha=analysis.alpha,
    )
    n_tests = int(seg["p_value"].notna().sum())
    applied = ev.CORRECTION_LABELS[_none(seg_correction)]
    st.warning(
        _(
            "**Slices multiply comparisons.** {n_tests} slice × variant tests: at α = {alpha:g} "
            "about {value:.1f} would look 'significant' by chance alone if nothing differed. "
            "Correction applied across slices: **{applied}**. Treat a slice result as a "
            "hypothesis for the next test, not a finding."
        ).format(
            n_tests=n_tests, alpha=analysis.alpha, value=n_tests * analysis.alpha, applied=applied
        ),
        icon=":material/call_split:",
    )
    shown = seg.assign(
        lift=[
            (f"{ev.fmt_pct(x)} [{ev.fmt_pct(lo)}, {ev.fmt_pct(hi)}]" if x == x else "n/a")
            + (f" · {small.UNINFORMATIVE}" if small.interval_uninformative(lo, hi, n) else "")
            for x, lo, hi, n in zip(
                seg["relative_lift"],
                seg["ci_low"],
                seg["ci_high"],
                seg[["control_units", "treatment_units"]].min(axis=1),
                strict=True,
            )
        ],
        control_rate=[ev.fmt_value(x, str(definition.kind)) for x in seg["control_mean"]],
        treatment_rate=[ev.fmt_value(x, str(definition.kind)) for x in seg["treatment_mean"]],
        p=[ev.fmt_p(x) for x in seg["p_value"]],
        p_adj=[ev.fmt_p(x) for x in seg["p_adjusted"]],
    )
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        key="exp_segment_table",
        column_order=(
            "slice",
            "variant",
            "control_units",
            "treatment_units",
            "control_rate",
            "treatment_rate",
            "lift",
            "p",
            "p_adj",
            "significant",
            "note",
        ),
        column_config={
            "slice": SLICE_LABELS.get(slice_by, slice_by),
            "variant": "Variant",
            "control_units": st.column_config.NumberColumn(_("Control units"), format="%d"),
            "treatment_units": st.column_config.NumberColumn(_("Treatment units"), format="%d"),
            "control_rate": "Control",
            "treatment_rate": "Treatment",
            "lift": st.column_config.TextColumn(
                _("Relative lift [95% interval")
                + (_(", Holm-adjusted]") if seg_correction == "holm" else "]"),
                help=HELP["interval"],
            ),
            "p": st.column_config.TextColumn("p-value", help=HELP["p_value"]),
            "p_adj": st.column_config.TextColumn("Adjusted p", help=HELP["correction"]),
            "significant": st.column_config.CheckboxColumn(
                "Significant", help=_("Adjusted p below alpha (after the correction)")
            ),
            "note": "Note",
        },
    )
    st.caption(_("Segments use the frequentist engine without CUPED, whatever the options above."))
    csv_download(seg, f"{picked}_segments_{slice_by}", key="dl_exp_segments")

# --- decision ------------------------------------------------------------------------------------
st.subheader(_("Decision"))
evidence = ev.evidence_snapshot(analysis, options, relative=relative)
st.markdown(_("**Decision history**"))
render_decision_history(picked, key="decision")
form_col, _spare = st.columns([2, 1])
with form_col:
    st.markdown(_("**Record a decision**"))
    render_decision_form(analysis, evidence, key="decision")
