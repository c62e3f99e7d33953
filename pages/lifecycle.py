"""Lifecycle: stage volumes, where customers are now, conversion, time in stage, non-linear flow,
stage KPIs and campaigns by target stage. Thin: queries live in metrics.marketing.lifecycle."""

from __future__ import annotations

import streamlit as st

from components import figure_cache as figures
from components import lifecycle_charts as lcc
from components.context import (
    current_filters,
    warehouse,
    warehouse_errors,
)
from components.downloads import csv_download
from components.kpi_tiles import kpi_tile, warehouse_key
from components.sources import source_caption
from components.tables import dataframe
from components.url_state import IN_URL
from i18n import _
from metrics import formatting as fmt
from metrics.marketing import lifecycle as lm
from metrics.marketing.kpis import KPIS

filters = current_filters()
engine = warehouse()
url = warehouse_key(engine)

st.title(_("Lifecycle"))
st.caption(
    _(
        "{start:%d %b %Y} – {end:%d %b %Y}. Segment and region filter the customer; the "
        "channel filter keeps customers by their tracked acquisition channel."
    ).format(start=filters.start, end=filters.end)
)
grain = (
    st.segmented_control(
        _("Time grain"), ["week", "month"], default="week", key="lifecycle_grain", **IN_URL
    )
    or "week"
)

# Whole weeks/months only: a partial first or last bucket would look like a collapse.
volume_period = filters.whole_periods(grain)
with warehouse_errors(_("loading lifecycle stages")):
    volumes = lcc.load_volumes(engine, url, volume_period, grain)
    dist = lcc.load_distribution(engine, url, filters)
    trans = lcc.load_transitions(engine, url, filters)
if volumes.empty and dist.empty:
    st.info(
        _(
            "No lifecycle changes match these filters. Widen the date range or clear the "
            "channel, segment or region selection in the sidebar."
        ),
        icon=":material/filter_alt_off:",
    )
    st.stop()

# --- volumes and where customers are now -------------------------------------------------------
left, right = st.columns([3, 2])
with left:
    if volumes.empty:
        st.info(_("No stage entries in the period."))
    else:
        st.plotly_chart(figures.volume_figure(volumes, grain), key="lc_volume_chart")
        st.caption(
            _("Whole {grain} only: {start:%d %b %Y} – {end:%d %b %Y}.").format(
                grain=fmt.grain_plural(grain), start=volume_period.start, end=volume_period.end
            )
        )
        csv_download(volumes, "stage_entries", "dl_lc_volumes")
with right:
    if dist.empty:
        st.info(_("No customer has a stage yet at the end of the period."))
    else:
        st.plotly_chart(
            figures.distribution_figure(dist, f"{filters.end:%d %b %Y}"), key="lc_dist_chart"
        )
        csv_download(dist, "current_stage_distribution", "dl_lc_dist")

# --- stage KPIs --------------------------------------------------------------------------------
st.subheader(_("Stage KPIs"))
kpis = lcc.load_stage_kpis(engine, url, filters)
if kpis.empty:
    st.info(_("No stage KPIs are available."))
else:
    stages = list(lm.STAGE_KPI_NAMES)
    per_row = 4  # seven stages side by side truncate every label and value at 1440 px
    stage_cols = [c for i in range(0, len(stages), per_row) for c in st.columns(per_row)]
    for col, stage in zip(stage_cols, stages, strict=False):
        with col:
            st.markdown(f"**{stage.capitalize()}**")
            rows = kpis[kpis["stage"] == stage]
            if rows.empty:
                st.caption(_("Stage conversion below."))
            for row in rows.itertuples():
                kpi_tile(
                    KPIS[row.kpi],
                    row.current,
                    row.previous,
                    n_current=row.n_current,
                    n_previous=row.n_previous,
                    border=False,
                )
    st.caption(_("Changes are against the previous period of equal length."))
    csv_download(kpis.drop(columns="display"), "stage_kpis", "dl_lc_kpis")

# --- conversion and time in stage --------------------------------------------------------------
st.subheader(_("Conversion and time in stage"))
conv = lcc.load_conversion(engine, url, filters)
tis = lcc.load_time_in_stage(engine, url, filters)
left, right = st.columns(2)
with left:
    if conv.empty:
        st.info(_("No customer entered a funnel stage in the period."))
    else:
        st.plotly_chart(figures.conversion_figure(conv), key="lc_conv_chart")
        st.caption(
            _(
                "Share of customers entering a stage in the period "
                "who later reach the next stage by "
                "the end of the period."
            )
        )
        csv_download(conv, "stage_conversion", "dl_lc_conv")
with right:
    if tis.empty:
        st.info(_("No completed stays in the period."))
    else:
        st.plotly_chart(figures.time_in_stage_figure(tis), key="lc_tis_chart")
        st.caption(
            _(
                "Median days from entering a stage (in the period) to the next stage change, over "
                "stays that ended by the end of the period; open stays are left out. Exact median "
                "(percentile_cont, or an equivalent window-function median on SQLite)."
            )
        )
        csv_download(tis, "median_time_in_stage", "dl_lc_tis")

# --- non-linear flow ---------------------------------------------------------------------------
st.subheader(_("Non-linear flow"))
if trans.empty:
    st.info(_("No stage transitions in the period (first entries are not transitions)."))
else:
    summary = lm.flow_summary(trans)
    for col, row in zip(st.columns(len(summary)), summary.itertuples(), strict=True):
        col.metric(
            row.kind.capitalize(),
            fmt.count(row.moves),
            help=_("{share} of all moves").format(share=fmt.percent(row.share, 0)),
        )
    st.plotly_chart(figures.sankey_figure(trans), key="lc_sankey")
    csv_download(trans, "stage_transitions", "dl_lc_trans")
    st.markdown(_("**Biggest backward flows**"))
    back = lm.biggest_backward_flows(trans)
    if back.empty:
        st.info(_("No backward moves in the period."))
    else:
        dataframe(
            back,
            hide_index=True,
            key="lc_back_table",
            column_config={
                "from_stage": "From",
                "to_stage": "To",
                "moves": st.column_config.NumberColumn("Moves", format="%d"),
                "customers": st.column_config.NumberColumn("Customers", format="%d"),
                "share_out": st.column_config.NumberColumn(
                    _("Share of moves out"), format="percent", help=_("of all moves out of 'From'")
                ),
            },
        )
        csv_download(back, "backward_flows", "dl_lc_back")

# --- campaigns by target stage -----------------------------------------------------------------
st.subheader(_("Campaigns by target stage"))
comp = lcc.load_campaign_comparison(engine, url, filters)
if comp.empty:
    st.info(_("No campaign touchpoints or spend in the period for these filters."))
else:
    st.plotly_chart(figures.campaign_comparison_figure(comp), key="lc_campaign_chart")
    dataframe(
        comp,
        hide_index=True,
        height=(len(comp) + 1) * 35 + 3,
        key="lc_campaign_table",
        column_config={
            "target_stage": _("Target stage"),
            "approach": "Approach",
            "campaigns": st.column_config.NumberColumn("Campaigns", format="%d"),
            "touches": st.column_config.NumberColumn("Touches", format="localized"),
            "reached": st.column_config.NumberColumn(_("Customers reached"), format="localized"),
            "clicks": st.column_config.NumberColumn("Clicks", format="localized"),
            "conversions": st.column_config.NumberColumn("Conversions", format="localized"),
            "converters": st.column_config.NumberColumn(
                _("Converted customers"), format="localized"
            ),
            "spend": st.column_config.NumberColumn(_("Spend"), format=fmt.column_money_format()),
            "ctr": st.column_config.NumberColumn(_("Click rate"), format="percent"),
            "conversion_rate": st.column_config.NumberColumn(
                _("Conversion rate"), format="percent"
            ),
            "cost_per_conversion": st.column_config.NumberColumn(
                _("Cost / conversion"), format=fmt.column_money_format()
            ),
        },
    )
    st.caption(
        _(
            "Conversions = purchase events carrying the campaign; conversion rate = customers "
            "with one ÷ customers reached; click rate = click events ÷ touches. Spend is not "
            "split by segment or region; cost per conversion is blank without media spend."
        )
    )
    csv_download(comp, "campaigns_by_target_stage", "dl_lc_campaigns")

source_caption(volumes, dist, trans, kpis, conv, tis, comp)
