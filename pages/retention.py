"""Retention & CLV: cohort retention heatmap, retention/churn curves, repeat purchase, and
predictive CLV with CLV:CAC and payback per acquisition channel. Thin: queries live in
metrics.retention (cohorts, channel_clv); figures in components.retention_charts."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from components import retention_charts as rc
from components import tables
from components.context import current_filters, warehouse, warehouse_errors
from components.downloads import csv_download
from components.kpi_tiles import warehouse_key
from metrics.retention import cohorts
from metrics.retention.clv import CLVSettings

filters = current_filters()
engine = warehouse()
url = warehouse_key(engine)

st.title("Retention & CLV")

c1, c2, c3, c4 = st.columns(4)
window_months = c1.selectbox(
    "Cohorts acquired in the last",
    [3, 6, 12],
    index=2,
    format_func=lambda m: f"{m} months",
    key="ret_window",
)
grain = c2.segmented_control("Cohort", ["week", "month"], default="month", key="ret_grain")
grain = grain or "month"
activity = c3.segmented_control(
    "Active means",
    ["purchase", "engagement"],
    default="purchase",
    format_func=lambda a: "a purchase" if a == "purchase" else "any engagement",
    key="ret_activity",
)
activity = activity or "purchase"
dimension = c4.selectbox(
    "Break down by",
    list(cohorts.DIMENSIONS),
    format_func=lambda d: rc.LABEL_NAMES[d],
    key="ret_dimension",
)
start = filters.end - dt.timedelta(days=round(window_months * 30.4375))
st.caption(
    f"Customers whose **first order** fell between {start:%d %b %Y} and {filters.end:%d %b %Y} "
    "(this window replaces the sidebar's dates); segment, region and channel filters apply to "
    "the customer (channel = acquisition channel). A customer is *active* in a period when they "
    + (
        "ordered in it."
        if activity == "purchase"
        else "ordered or had any engaged touchpoint (every event except an ad or email "
        "impression) in it."
    )
    + " Only periods that have fully ended are shown."
)

with warehouse_errors("loading cohorts"):
    cells = rc.load_cells(engine, url, filters, start, grain, activity, dimension)
if cells.empty:
    st.info(
        "No customer made a first order in this window with these filters. Widen the window or "
        "clear the channel, segment or region selection in the sidebar.",
        icon=":material/filter_alt_off:",
    )
    st.stop()

# --- cohort heatmap -------------------------------------------------------------------------------
st.subheader("Cohort retention")
values = sorted(cells["dim"].unique())
pick = st.selectbox(
    f"{rc.LABEL_NAMES[dimension]}",
    ["All", *values],
    format_func=lambda v: "All" if v == "All" else rc.label(v),
    key="ret_heatmap_value",
)
shown = rc.pooled_cells(cells, None if pick == "All" else pick)
ships = rc.shipped_decisions()
st.plotly_chart(rc.heatmap_figure(shown, grain, ships=ships), key="ret_heatmap")
st.caption(
    f"Rows: acquisition {grain} · customers acquired. Cells: share of the cohort active in that "
    f"{grain} since acquisition (period 0 is the acquisition {grain} itself, 100% for purchases). "
    f"Cohorts of fewer than {rc.MIN_CELL_CUSTOMERS} customers are grey."
    + (" Diamonds: the cell in which a shipped experiment's rollout fell." if ships else "")
)
csv_download(cells, "cohort_retention", "dl_ret_cells")

# --- curves ---------------------------------------------------------------------------------------
st.subheader(f"Retention and churn by {rc.LABEL_NAMES[dimension].lower()}")
curves = cohorts.retention_curves(cells)
left, right = st.columns(2)
with left:
    st.plotly_chart(
        rc.curves_figure(curves, dimension, "retention", grain), key="ret_retention_curve"
    )
with right:
    st.plotly_chart(rc.curves_figure(curves, dimension, "churn", grain), key="ret_churn_curve")
st.caption(
    f"**Retention** in period k = customers active in {grain} k after acquisition ÷ customers "
    f"acquired, pooled over every cohort whose {grain} k has ended. **Churn** = 1 − retention "
    "(not active in that period; a customer can come back later)."
)
csv_download(curves, "retention_curves", "dl_ret_curves")

# --- repeat purchase ------------------------------------------------------------------------------
st.subheader("Repeat purchase")
with warehouse_errors("loading repeat purchases"):
    repeat = rc.load_repeat(engine, url, filters, start, dimension)
if repeat.empty:
    st.info("No acquired customers in the window.")
else:
    left, right = st.columns([4, 3])
    with left:
        st.plotly_chart(rc.repeat_figure(repeat, dimension), key="ret_repeat_chart")
    with right:
        tables.dataframe(
            repeat[["dim", "customers", "repeat_rate", "median_days_to_second"]].assign(
                dim=repeat["dim"].map(rc.label)
            ),
            hide_index=True,
            key="ret_repeat_table",
            column_config={
                "dim": rc.LABEL_NAMES[dimension],
                "customers": st.column_config.NumberColumn("Acquired", format="localized"),
                "repeat_rate": st.column_config.NumberColumn("Repeat rate", format="percent"),
                "median_days_to_second": st.column_config.NumberColumn(
                    "Days to 2nd (median)", format="%.0f"
                ),
            },
        )
    st.caption(
        "**Repeat-purchase rate**: acquired customers with a second purchase day by "
        f"{filters.end:%d %b %Y} ÷ acquired customers (orders on one day count once). **Time to "
        "second purchase**: whole days from the first to the second purchase day, among repeaters."
    )
    csv_download(repeat, "repeat_purchase", "dl_ret_repeat")

# --- predictive CLV -------------------------------------------------------------------------------
st.subheader("Predictive CLV by acquisition channel")
h1, h2 = st.columns(2)
horizon = h1.selectbox(
    "Horizon", [6, 12, 24], index=1, format_func=lambda m: f"{m} months", key="ret_horizon"
)
discount = h2.selectbox(
    "Discount rate (a year)",
    [0.0, 0.05, 0.10, 0.15],
    index=2,
    format_func=lambda r: f"{r:.0%}",
    key="ret_discount",
)
settings = CLVSettings(horizon_days=horizon * 30.4375, annual_discount=discount)
with warehouse_errors("fitting the CLV models"), st.spinner("Fitting BG/NBD and Gamma-Gamma…"):
    clv = rc.load_channel_clv(engine, url, filters, start, settings)
if clv.empty or clv["predicted_clv"].isna().all():
    st.info("Too few buyers to fit the CLV models with these filters.")
else:
    st.plotly_chart(rc.clv_figure(clv), key="ret_clv_chart")
    tables.dataframe(
        clv.assign(dim=clv["dim"].map(rc.label))[
            [
                "dim",
                "predicted_clv",
                "historical_value",
                "cac",
                "clv_cac_predicted",
                "clv_cac_historical",
                "payback_predicted",
                "payback_historical",
                "current_value",
                "p_alive",
                "buyers",
                "fit_note",
            ]
        ],
        hide_index=True,
        key="ret_clv_table",
        column_config={
            "dim": "Channel",
            "predicted_clv": st.column_config.NumberColumn(
                f"Predicted CLV, {horizon} mo", format="dollar"
            ),
            "historical_value": st.column_config.NumberColumn(
                f"Historical value, {horizon} mo", format="dollar"
            ),
            "cac": st.column_config.NumberColumn("CAC (paying)", format="dollar"),
            "clv_cac_predicted": st.column_config.NumberColumn(
                "CLV:CAC (predicted)", format="%.2f"
            ),
            "clv_cac_historical": st.column_config.NumberColumn(
                "CLV:CAC (historical)", format="%.2f"
            ),
            "payback_predicted": st.column_config.NumberColumn(
                "Payback, predicted (mo)", format="%.0f"
            ),
            "payback_historical": st.column_config.NumberColumn(
                "Payback, historical (mo)", format="%.0f"
            ),
            "current_value": st.column_config.NumberColumn(
                f"Current buyers: value next {horizon} mo", format="dollar"
            ),
            "p_alive": st.column_config.NumberColumn("P(alive), mean", format="percent"),
            "buyers": st.column_config.NumberColumn("Buyers", format="localized"),
            "fit_note": "Note",
        },
    )
    st.caption(
        f"**Predicted CLV** (new customer): average first order + expected spend per purchase × "
        f"expected repeat purchases over {horizon} months (BG/NBD, Fader, Hardie & Lee 2005, "
        f"fitted per channel on all its buyers to {filters.end:%d %b %Y}; spend by Gamma-Gamma "
        f"per segment), discounted at {discount:.0%} a year; bars show the 90% interval from "
        "parameter uncertainty. **Historical value**: revenue per acquired customer over the "
        f"first {horizon} calendar months, from monthly cohorts of the last two years old "
        "enough. **CAC (paying)**: channel media spend in the window ÷ customers whose first "
        "order in the window came through it (owned channels have none). **Payback**: months "
        "since acquisition until cumulative value reaches CAC (predicted: undiscounted model "
        "curve; historical: cohort revenue). **Current buyers**: discounted expected revenue "
        "per existing buyer over the horizon, and their mean probability of still being active."
    )
    csv_download(clv, "channel_clv", "dl_ret_clv")
    with warehouse_errors("checking the CLV model"):
        try:
            check = rc.load_holdout(engine, url, filters)
        except ValueError:
            check = None
    if check is not None and check.actual > 0:
        st.markdown(
            f"**Model check (hold-out).** Fitted on orders up to {check.calibration_end:%d %b %Y}, "
            f"the purchase model forecast **{check.predicted:,.0f}** repeat purchases by those "
            f"{check.customers:,} customers up to {check.end:%d %b %Y}; they made "
            f"**{check.actual:,.0f}** ({check.relative_error:+.0%}). Read the predicted figures "
            "with that error in mind."
        )
