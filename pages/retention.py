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
from i18n import _
from metrics import formatting as fmt
from metrics.retention import cohorts
from metrics.retention.clv import CLVSettings

filters = current_filters()
engine = warehouse()
url = warehouse_key(engine)

st.title(_("Retention & CLV"))

c1, c2, c3, c4 = st.columns(4)
window_months = c1.selectbox(
    _("Cohorts acquired in the last"),
    [3, 6, 12],
    index=2,
    format_func=lambda m: _("{n} months").format(n=m),
    key="ret_window",
)
grain = c2.segmented_control(
    _("Cohort"), ["week", "month"], default="month", format_func=fmt.grain_name, key="ret_grain"
)
grain = grain or "month"
activity = c3.segmented_control(
    _("Active means"),
    ["purchase", "engagement"],
    default="purchase",
    format_func=lambda a: _("a purchase") if a == "purchase" else _("any engagement"),
    key="ret_activity",
)
activity = activity or "purchase"
dimension = c4.selectbox(
    _("Break down by"),
    list(rc.LABEL_NAMES),
    format_func=rc.dimension_name,
    key="ret_dimension",
)
start = filters.end - dt.timedelta(days=round(window_months * 30.4375))
st.caption(
    _(
        "Customers whose **first order** fell between {start:%d %b %Y} and {end:%d %b %Y} "
        "(this window replaces the sidebar's dates); segment, region and channel filters "
        "apply to the customer (channel = acquisition channel). A customer is *active* in a "
        "period when they "
    ).format(start=start, end=filters.end)
    + (
        _("ordered in it.")
        if activity == "purchase"
        else _(
            "ordered or had any engaged touchpoint (every event except an ad or email "
            "impression) in it."
        )
    )
    + _(" Only periods that have fully ended are shown.")
)

with warehouse_errors(_("loading cohorts")):
    cells = rc.load_cells(engine, url, filters, start, grain, activity, dimension)
if cells.empty:
    st.info(
        _(
            "No customer made a first order in this window with these filters. Widen the window "
            "or clear the channel, segment or region selection in the sidebar."
        ),
        icon=":material/filter_alt_off:",
    )
    st.stop()

# --- cohort heatmap -------------------------------------------------------------------------------
st.subheader(_("Cohort retention"))
values = sorted(cells["dim"].unique())
pick = st.selectbox(
    rc.dimension_name(dimension),
    ["All", *values],
    format_func=lambda v: _("All") if v == "All" else rc.label(v),
    key="ret_heatmap_value",
)
shown = rc.pooled_cells(cells, None if pick == "All" else pick)
ships = rc.shipped_decisions()
st.plotly_chart(rc.heatmap_figure(shown, grain, ships=ships), key="ret_heatmap")
st.caption(
    _(
        "Rows: acquisition {grain} · customers acquired. Cells: share of the cohort active "
        "in that {grain} since acquisition (period 0 is the acquisition {grain} itself, 100% "
        "for purchases). Cohorts of fewer than {MIN_CELL_CUSTOMERS} customers are grey."
    ).format(grain=fmt.grain_name(grain), MIN_CELL_CUSTOMERS=rc.MIN_CELL_CUSTOMERS)
    + (_(" Diamonds: the cell in which a shipped experiment's rollout fell.") if ships else "")
)
csv_download(cells, "cohort_retention", "dl_ret_cells")

# --- curves ---------------------------------------------------------------------------------------
st.subheader(_("Retention and churn by {lower}").format(lower=rc.dimension_name(dimension).lower()))
curves = cohorts.retention_curves(cells)
left, right = st.columns(2)
with left:
    st.plotly_chart(
        rc.curves_figure(curves, dimension, "retention", grain), key="ret_retention_curve"
    )
with right:
    st.plotly_chart(rc.curves_figure(curves, dimension, "churn", grain), key="ret_churn_curve")
st.caption(
    _(
        "**Retention** in period k = customers active in {grain} k after acquisition ÷ "
        "customers acquired, pooled over every cohort whose {grain} k has ended. **Churn** = "
        "1 − retention (not active in that period; a customer can come back later)."
    ).format(grain=fmt.grain_name(grain))
)
csv_download(curves, "retention_curves", "dl_ret_curves")

# --- repeat purchase ------------------------------------------------------------------------------
st.subheader(_("Repeat purchase"))
with warehouse_errors(_("loading repeat purchases")):
    repeat = rc.load_repeat(engine, url, filters, start, dimension)
if repeat.empty:
    st.info(_("No acquired customers in the window."))
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
                "dim": rc.dimension_name(dimension),
                "customers": st.column_config.NumberColumn("Acquired", format="localized"),
                "repeat_rate": st.column_config.NumberColumn(_("Repeat rate"), format="percent"),
                "median_days_to_second": st.column_config.NumberColumn(
                    _("Days to 2nd (median)"), format="%.0f"
                ),
            },
        )
    st.caption(
        _(
            "**Repeat-purchase rate**: acquired customers with a second purchase day by {end:%d "
            "%b %Y} ÷ acquired customers (orders on one day count once). **Time to second "
            "purchase**: whole days from the first to the second purchase day, among repeaters."
        ).format(end=filters.end)
    )
    csv_download(repeat, "repeat_purchase", "dl_ret_repeat")

# --- predictive CLV -------------------------------------------------------------------------------
st.subheader(_("Predictive CLV by acquisition channel or campaign"))
h0, h1, h2 = st.columns(3)
by = h0.radio(
    _("Per"),
    ["channel", "campaign"],
    format_func={
        "channel": _("Acquisition channel"),
        "campaign": _("Acquisition campaign"),
    }.get,
    horizontal=True,
    key="ret_clv_by",
    help=_(
        "Acquisition campaign: the campaign of a customer's first tracked touch on their "
        "acquisition channel. A campaign with fewer than 200 buyers borrows its channel's "
        "purchase model (the note says so)."
    ),
)
horizon = h1.selectbox(
    _("Horizon"), [6, 12, 24], index=1, format_func=lambda m: f"{m} months", key="ret_horizon"
)
discount = h2.selectbox(
    _("Discount rate (a year)"),
    [0.0, 0.05, 0.10, 0.15],
    index=2,
    format_func=lambda r: f"{r:.0%}",
    key="ret_discount",
)
settings = CLVSettings(horizon_days=horizon * 30.4375, annual_discount=discount)
with (
    warehouse_errors(_("fitting the CLV models")),
    st.spinner(_("Fitting BG/NBD and Gamma-Gamma…")),
):
    clv = rc.load_channel_clv(engine, url, filters, start, settings, by)
if clv.empty or clv["predicted_clv"].isna().all():
    st.info(_("Too few buyers to fit the CLV models with these filters."))
else:
    st.plotly_chart(rc.clv_figure(clv, by), key="ret_clv_chart")
    payback = ["payback_predicted", "payback_historical"]
    shown = clv.sort_values("predicted_clv", ascending=False, na_position="last").assign(
        **{c: clv[c].map(rc.payback_text) for c in payback}
    )
    tables.dataframe(
        shown[
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
            "dim": st.column_config.TextColumn(
                _("Campaign") if by == "campaign" else _("Channel"), width="large", pinned=True
            ),
            "predicted_clv": st.column_config.NumberColumn(
                _("Predicted CLV, {horizon} mo").format(horizon=horizon),
                format=fmt.column_money_format(),
            ),
            "historical_value": st.column_config.NumberColumn(
                _("Historical value, {horizon} mo").format(horizon=horizon),
                format=fmt.column_money_format(),
            ),
            "cac": st.column_config.NumberColumn(
                _("CAC (paying)"), format=fmt.column_money_format()
            ),
            "clv_cac_predicted": st.column_config.NumberColumn(
                _("CLV:CAC (predicted)"), format="%.2f"
            ),
            "clv_cac_historical": st.column_config.NumberColumn(
                _("CLV:CAC (historical)"), format="%.2f"
            ),
            "payback_predicted": _("Payback, predicted (mo)"),
            "payback_historical": _("Payback, historical (mo)"),
            "current_value": st.column_config.NumberColumn(
                _("Current buyers: value next {horizon} mo").format(horizon=horizon),
                format=fmt.column_money_format(),
            ),
            "p_alive": st.column_config.NumberColumn(_("P(alive), mean"), format="percent"),
            "buyers": st.column_config.NumberColumn("Buyers", format="localized"),
            "fit_note": "Note",
        },
    )
    st.caption(
        _(
            "**Predicted CLV** (new customer): average first order + expected spend per purchase "
            "× expected repeat purchases over {horizon} months (BG/NBD, Fader, Hardie & Lee "
            "2005, fitted per {by} on all its buyers to {end:%d %b %Y}; spend by Gamma-Gamma "
            "per segment), discounted at {discount:.0%} a year; bars show the 90% interval from "
            "parameter uncertainty. **Historical value**: revenue per acquired customer over the "
            "first {horizon} calendar months, from monthly cohorts of the last two years old "
            "enough. **CAC (paying)**: channel (campaign) media spend in the window ÷ customers "
            "whose first order in the window came through it (owned channels and customers "
            "acquired without a campaign have none). **Payback**: months since acquisition until "
            "cumulative value reaches CAC (predicted: undiscounted model curve; historical: "
            "cohort revenue). **Current buyers**: discounted expected revenue per existing buyer "
            "over the horizon, and their mean probability of still being active."
        ).format(horizon=horizon, by=by, end=filters.end, discount=discount)
    )
    csv_download(clv, f"{by}_clv", "dl_ret_clv")
    with warehouse_errors(_("checking the CLV model")):
        try:
            check = rc.load_holdout(engine, url, filters)
        except ValueError:
            check = None
    if check is not None and check.actual > 0:
        st.markdown(
            _(
                "**Model check (hold-out).** Fitted on orders up to "
                "{calibration_end:%d %b %Y}, the "
                "purchase model forecast **{predicted:,.0f}** repeat purchases by those "
                "{customers:,} customers up to {end:%d %b %Y}; they made **{actual:,.0f}** "
                "({relative_error:+.0%}). Read the predicted figures with that error in mind."
            ).format(
                calibration_end=check.calibration_end,
                predicted=check.predicted,
                customers=check.customers,
                end=check.end,
                actual=check.actual,
                relative_error=check.relative_error,
            )
        )
