"""Evolve: the test → measure → learn → adjust loop. Velocity, win rate, time to decision,
followed recommendations, cumulative estimated impact, realised impact and the learnings library.
Thin: definitions and queries live in metrics.experiments.evolve, widgets in
components.evolve_view."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from components import evolve_view as ev
from components.bootstrap import latest_data_date
from components.context import (
    app_state_store,
    current_filters,
    show_problem,
    warehouse,
    warehouse_errors,
)
from components.downloads import csv_download
from components.kpi_tiles import warehouse_key
from components.tables import dataframe
from components.url_state import IN_URL
from data.app_state.store import AppStateError
from data.schema import LoopStage
from i18n import N_, _
from metrics import formatting as fmt
from metrics.experiments import evolve

filters = current_filters()
engine = warehouse()
url = warehouse_key(engine)


def _pct(x: float | None, signed: bool = False) -> str:
    return fmt.percent(x, 1, signed=True) if signed else fmt.percent(x, 0)


st.title(_("Evolve"))
st.caption(
    _(
        "The loop: test, measure, learn, adjust. Experiments come from the warehouse; "
        "decisions from the decision log (recorded on an experiment's page)."
    )
)

with warehouse_errors(_("reading the experiments")):
    experiments = ev.cached_experiments(engine, url)

current: dict = {}
history: list = []
store_ok = True
try:
    store = app_state_store()
    current, history = evolve.load_history(store)
except AppStateError as err:
    store_ok = False
    show_problem(err.title, err.detail, err.fix)

concluded_ids = experiments.loc[experiments["status"] == "concluded", "experiment_id"]
ttd = evolve.time_to_decision(history, experiments)
impact = evolve.cumulative_impact(current)

# --- headline -------------------------------------------------------------------------------
c = st.columns(4)
c[0].metric(
    evolve.STATUS_LABELS["running_now"][0],
    int((experiments["status"] == "running").sum()),
    help=evolve.STATUS_LABELS["running_now"][1],
)
c[1].metric(
    evolve.STATUS_LABELS["concluded_all"][0],
    len(concluded_ids),
    help=evolve.STATUS_LABELS["concluded_all"][1],
)
c[2].metric(
    _("Win rate"),
    _pct(evolve.win_rate(current)),
    help=_("Decided experiments (ship, iterate or kill) whose current decision is ship."),
)
c[3].metric(
    _("Decided"),
    _pct(evolve.decided_share(current, concluded_ids)),
    help=_("Concluded experiments (all history) with a ship, iterate or kill decision."),
)
c = st.columns(4)
c[0].metric(
    _("Median time to decision"),
    fmt.days(None if ttd.empty else ttd["days"].median()),
    help=_("Days from the experiment's end (its start while running) to its first decision."),
)
c[1].metric(
    _("Followed the recommendation"),
    _pct(evolve.followed_share(current)),
    help=_("Share of current decisions that followed the engine's recommendation."),
)
c[2].metric(
    _("Shipped"),
    int(sum(d.decision == "ship" for d in current.values())),
)
c[3].metric(
    _("Cumulative estimated impact"),
    _pct(impact["expected_impact"].sum() if len(impact) else None, signed=True),
    help=_(
        "Sum of the shipped experiments' own estimated relative lifts (different KPIs); an "
        "estimate, not a measured gain."
    ),
)
if store_ok and not current:
    st.info(
        _(
            "**No decisions recorded yet.** Decide on a concluded experiment on its page (ship, "
            "iterate, kill or extend) and win rate, time to decision, impact and the library "
            "fill in."
        ),
        icon=":material/rule:",
    )

# --- velocity -------------------------------------------------------------------------------
st.subheader(_("Velocity"))
SCOPES = {"all": N_("All history"), "sidebar": N_("Sidebar dates")}
scope = st.segmented_control(
    _("Period"),
    list(SCOPES),
    default="all",
    format_func=lambda code: _(SCOPES[code]),
    key="evolve_scope",
    **IN_URL,
)
velocity = ev.cached_velocity(engine, url, filters if scope == "sidebar" else None)
if velocity.empty:
    st.info(_("No experiment started or concluded in this period."))
else:
    st.plotly_chart(ev.velocity_figure(velocity), key="evolve_velocity_chart")
    csv_download(velocity, "experiment_velocity", key="dl_evolve_velocity")

# --- decisions ------------------------------------------------------------------------------
if current:
    st.subheader(_("Decisions"))
    left, right = st.columns([3, 2])
    with left:
        if impact.empty:
            st.info(_("No ship decision carries an expected impact yet."))
        else:
            st.plotly_chart(ev.impact_figure(impact), key="evolve_impact_chart")
            st.caption(
                _(
                    "Each step is one shipped change's **estimated** "
                    "relative lift on its target KPI, as "
                    "the experiment estimated it. Summing lifts on different KPIs gives a tally of "
                    "expectations, not a measured gain: see realised impact below."
                )
            )
            csv_download(impact, "cumulative_estimated_impact", key="dl_evolve_impact")
    with right:
        st.markdown(_("**Time to decision**"))
        if ttd.empty:
            st.caption(_("No decided experiment is in the warehouse."))
        else:
            dataframe(
                ttd[["experiment_id", "reference", "days"]],
                hide_index=True,
                width="stretch",
                column_config={"days": st.column_config.NumberColumn(format="%.1f")},
                key="evolve_ttd_table",
            )
            csv_download(ttd, "time_to_decision", key="dl_evolve_ttd")

# --- realised impact ------------------------------------------------------------------------
if current:
    st.subheader(_("Realised impact"))
    shipped = evolve.shipped_with_rollout(current)
    missing = sum(d.decision == "ship" for d in current.values()) - len(shipped)
    window = st.slider(_("Days each side of rollout"), 7, 90, 28, key="evolve_window", **IN_URL)
    data_end = latest_data_date(engine, url) or dt.date.today()
    if not shipped:
        st.info(_("No shipped decision has both a target KPI and a rollout date yet."))
    else:
        results = []
        with warehouse_errors(_("computing the realised impact"), stop=False):
            results = evolve.realised_impact(
                engine, shipped, data_end=data_end, window_days=window, base=filters
            )
        names = dict(zip(experiments["experiment_id"], experiments["name"], strict=True))
        table = evolve.realised_frame(results, names)
        st.warning(
            _(
                "**Observational, not causal.** The before/after change compares two {window}-day "
                "windows around each rollout: seasonality, other launches, marketing pushes and "
                "regression to the mean all move it. The experiment's randomised estimate is the "
                "causal number; this is a sanity check that the gain did not vanish."
            ).format(window=window),
            icon=":material/info:",
        )
        ok = table[table["status"] == "ok"]
        if not ok.empty:
            st.plotly_chart(ev.realised_figure(ok), key="evolve_realised_chart")
        dataframe(
            ev.realised_display(table),
            hide_index=True,
            width="stretch",
            column_config={
                "observed_change": st.column_config.NumberColumn(format="percent"),
                "estimated_impact": st.column_config.NumberColumn(format="percent"),
            },
            key="evolve_realised_table",
        )
        for r in results:
            if r.status != "ok":
                st.caption(f"{names.get(r.experiment_id, r.experiment_id)}: {r.message}")
        csv_download(table, "realised_impact", key="dl_evolve_realised")
        st.caption(
            _(
                "Data up to {data_end:%d %b %Y}. Sidebar "
                "channel/segment/region filters apply to the "
                "KPI; the dates are the windows."
            ).format(data_end=data_end)
        )
    if missing:
        st.caption(
            _("{missing} shipped decision(s) have no target KPI or rollout date.").format(
                missing=missing
            )
        )

# --- learnings library ----------------------------------------------------------------------
st.subheader(_("Learnings library"))
f1, f2, f3 = st.columns([2, 1, 1])
text = f1.text_input(
    _("Search name, hypothesis and rationale"),
    key="evolve_search",
    **IN_URL,
    placeholder=_("e.g. checkout"),
)
stages = f2.multiselect(
    _("Loop stage"), [s.value for s in LoopStage], key="evolve_stages", **IN_URL
)
kinds = f3.multiselect(
    _("Decision"),
    ["ship", "iterate", "kill", "extend", evolve.UNDECIDED],
    key="evolve_decisions",
    **IN_URL,
)
library = evolve.learnings(experiments, current, text=text, loop_stages=stages, decisions=kinds)
if library.empty:
    st.info(_("No experiment matches this search."))
else:
    dataframe(
        library,
        hide_index=True,
        width="stretch",
        column_config={
            "expected_impact": st.column_config.NumberColumn(format="percent"),
            "decided_at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        },
        key="evolve_library_table",
    )
known = len(set(experiments["experiment_id"]) | set(current))
st.caption(_("{library} of {known} experiments.").format(library=len(library), known=known))
csv_download(pd.DataFrame(library), "learnings_library", key="dl_evolve_library")
