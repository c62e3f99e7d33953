"""Experiments: every experiment with its status, lift, recommendation, SRM flag and decision.

Thin: metadata and analyses come from cached ``metrics`` calls (components.experiment_view),
rows from ``metrics.experiments.views``, decisions from the app-state store.
"""

from __future__ import annotations

import streamlit as st

from components.context import QUERY_ERRORS, show_problem, warehouse, warehouse_errors
from components.decision_form import load_current_decisions
from components.downloads import csv_download
from components.experiment_view import HELP, cached_analysis, cached_experiments, render_sources
from components.kpi_tiles import warehouse_key
from components.tables import dataframe
from components.url_state import IN_URL, page_href, switch_page
from data.schema import ExperimentStatus, LoopStage
from i18n import _
from metrics.experiments import views as ev
from metrics.experiments.data import UnknownExperimentError
from metrics.experiments.evolve import STATUS_LABELS

DETAIL_PAGE = "pages/experiment_detail.py"
OPTIONS = ev.AnalysisOptions()  # the list uses the default analysis (frequentist, Holm)

engine = warehouse()
url = warehouse_key(engine)

st.title(_("Experiments"))
st.caption(
    _(
        "The Evolve loop: every test with its primary metric's lift and interval, the "
        "engine's recommendation and the decision recorded. Analysed with the frequentist "
        "engine, Holm correction across primary and secondary metrics, no CUPED — open an "
        "experiment to change that. The sidebar's date and audience filters do not apply: "
        "each experiment is analysed over its own units."
    )
)

with warehouse_errors(_("reading the experiments")):
    infos = cached_experiments(engine, url)

if not infos:
    st.info(
        _(
            "**No experiments yet.** The `experiments` table is empty: add experiments (with "
            "their variants and assignments) to the warehouse to see them here."
        ),
        icon=":material/science:",
    )
    st.stop()

analyses = {}
problems: dict[str, str] = {}
for info in infos:
    try:
        analyses[info.experiment_id] = cached_analysis(engine, url, info.experiment_id, OPTIONS)
    except (*QUERY_ERRORS, UnknownExperimentError, ValueError) as exc:
        problems[info.experiment_id] = _("not analysed: {splitlines}").format(
            splitlines=str(exc).splitlines()[0][:200]
        )

render_sources(analyses.values())

decisions, store_error = load_current_decisions()
if store_error is not None:
    show_problem(store_error.title, store_error.detail, store_error.fix)

rows = ev.list_rows(infos, analyses, decisions, problems)

f1, f2, f3 = st.columns(3)
statuses = f1.multiselect(
    _("Status"),
    [s.value for s in ExperimentStatus],
    key="exp_list_status",
    **IN_URL,
    placeholder=_("All statuses"),
)
stages = f2.multiselect(
    _("Loop stage"),
    [s.value for s in LoopStage],
    key="exp_list_stage",
    **IN_URL,
    format_func=str.title,
    placeholder=_("All loop stages"),
)
recs = f3.multiselect(
    _("Recommendation"),
    list(ev.RECOMMENDATION_LABELS),
    key="exp_list_recommendation",
    **IN_URL,
    format_func=lambda k: ev.RECOMMENDATION_LABELS[k],
    placeholder=_("All recommendations"),
)
shown = ev.filter_rows(rows, statuses=statuses, loop_stages=stages, recommendations=recs)

srm_flagged = int((shown["srm"] == "⚠ mismatch").sum())
m1, m2, m3, m4 = st.columns(4)
m1.metric(_("Experiments shown"), f"{len(shown)} of {len(rows)}")
m2.metric(
    STATUS_LABELS["running_now"][0],
    int((rows["status"] == ExperimentStatus.RUNNING).sum()),
    help=STATUS_LABELS["running_now"][1] + _(" All experiments, whatever the list filters."),
)
m3.metric(_("Ready to ship"), int((shown["recommendation_kind"] == "ship").sum()))
m4.metric(_("Sample ratio mismatch"), srm_flagged, help=HELP["srm"])

if shown.empty:
    st.info(_("No experiment matches these filters."), icon=":material/filter_alt_off:")
    st.stop()

dataframe(
    shown.assign(
        link=[page_href("experiment_detail", experiment=i) for i in shown["experiment_id"]]
    ),
    hide_index=True,
    width="stretch",
    key="exp_list_table",
    # What a reader needs first fits at 1440 px (name → decision); details scroll after it.
    column_order=(
        "name",
        "link",
        "status",
        "lift",
        "recommendation",
        "decision",
        "srm",
        "days_running",
        "loop_stage",
        "decision_version",
        "units",
        "primary_metric",
        "problem",
    ),
    column_config={
        "name": st.column_config.TextColumn("Experiment", width=244),
        "link": st.column_config.LinkColumn(
            "Details", display_text="open ↗", help=_("Open the experiment (shareable link)")
        ),
        "status": st.column_config.TextColumn("Status", width=78),
        "loop_stage": st.column_config.TextColumn("Loop", width="small"),
        "days_running": st.column_config.NumberColumn(
            "Days", help=_("Days since start (or run)"), width="small"
        ),
        "units": st.column_config.TextColumn(_("Units per variant"), width="medium"),
        "primary_metric": _("Primary metric"),
        "lift": st.column_config.TextColumn(
            _("Lift [95% interval]"),
            help=_(
                "Relative lift of the primary metric (treatment ÷ control − 1) with its "
                "Holm-adjusted 95% confidence interval; with several "
                "treatments, the best one (named "
                "after it)."
            ),
            width=216,
        ),
        "recommendation": st.column_config.TextColumn("Recommendation", width=220),
        "srm": st.column_config.TextColumn("SRM", help=HELP["srm"], width=90),  # "⚠ mismatch"
        "decision": st.column_config.TextColumn("Decision", width=66),
        "decision_version": st.column_config.NumberColumn(
            "Version", help=_("Version of the recorded decision"), width="small"
        ),
        "problem": "Problem",
    },
)
if srm_flagged:
    st.warning(
        _(
            "{srm_flagged} experiment(s) show a sample ratio mismatch: their results cannot be "
            "trusted until the assignment is fixed."
        ).format(srm_flagged=srm_flagged),
        icon=":material/warning:",
    )
csv_download(shown, "experiments", key="dl_experiments")

st.subheader(_("Open an experiment"))
pick_col, go_col = st.columns([3, 1], vertical_alignment="bottom")
names = dict(zip(shown["experiment_id"], shown["name"], strict=True))
picked = pick_col.selectbox(
    _("Experiment"),
    list(names),
    format_func=lambda i: f"{names[i]} ({i})",
    key="exp_list_open",
)
if go_col.button(
    _("Open details"), type="primary", key="exp_list_go", icon=":material/open_in_new:"
):
    switch_page(DETAIL_PAGE, experiment=picked)
