"""Channels & attribution: channel/campaign performance, multi-touch attribution side by side,
and the dark funnel. Thin: queries live in metrics.marketing.channels / .attribution."""

from __future__ import annotations

import streamlit as st

from components import channel_charts as cc
from components import figure_cache as figures
from components.context import (
    current_filters,
    show_problem,
    warehouse,
    warehouse_errors,
)
from components.downloads import csv_download
from components.escaping import md_text
from components.kpi_tiles import warehouse_key
from components.sources import source_caption
from metrics.marketing import attribution as attr
from metrics.marketing import channels as cm

filters = current_filters()
engine = warehouse()
url = warehouse_key(engine)

st.title("Channels & attribution")

with st.expander("Attribution settings", expanded=False, icon=":material/tune:"):
    c1, c2, c3 = st.columns(3)
    model = c1.selectbox(
        "Model for the performance tables",
        attr.MODELS,
        index=attr.MODELS.index("last_touch"),
        format_func=attr.MODEL_LABELS.get,
        key="ch_model",
    )
    lookback = c2.number_input(
        "Lookback window (days before each order)", 0, 365, 30, step=1, key="ch_lookback"
    )
    half_life = c3.number_input(
        "Time-decay half-life (days)", 0.5, 180.0, 7.0, step=0.5, key="ch_half_life"
    )
    st.caption(
        "Conversions are orders (revenue = order revenue). Touches are touchpoints of the "
        "customer with event type " + ", ".join(attr.TOUCH_EVENT_TYPES) + " within the lookback "
        f"window; orders without one are credited to **{attr.NO_TOUCH}**. The channel filter "
        "selects which rows are shown; credits come from the full model."
    )
try:
    options = attr.AttributionOptions(int(lookback), float(half_life))
except ValueError as exc:
    show_problem("Invalid attribution settings", str(exc), "Adjust the settings above.")
    st.stop()

with warehouse_errors("loading channel performance"):
    by_channel = cc.load_performance(engine, url, filters, options, model, "channel")
    by_campaign = cc.load_performance(engine, url, filters, options, model, "campaign")

if by_channel.empty:
    st.info(
        "No spend and no orders match these filters. Widen the date range or clear the channel, "
        "segment or region selection in the sidebar.",
        icon=":material/filter_alt_off:",
    )
    st.stop()

COLUMNS = {
    "key": "Channel",
    "spend": st.column_config.NumberColumn("Spend", format="dollar"),
    "impressions": st.column_config.NumberColumn("Impressions", format="localized"),
    "clicks": st.column_config.NumberColumn("Clicks", format="localized"),
    "ctr": st.column_config.NumberColumn("CTR", format="percent"),
    "cpc": st.column_config.NumberColumn("CPC", format="dollar"),
    "conversions": st.column_config.NumberColumn("Conversions", format="%.1f"),
    "cvr": st.column_config.NumberColumn("CVR", format="percent"),
    "cpa": st.column_config.NumberColumn("CPA", format="dollar"),
    "revenue": st.column_config.NumberColumn("Revenue", format="dollar"),
    "roas": st.column_config.NumberColumn("ROAS", format="%.2f×"),
}

source_caption(by_channel, by_campaign)

perf_tab, attr_tab, dark_tab = st.tabs(["Performance", "Attribution", "Dark funnel"])

with perf_tab:
    st.caption(
        f"Spend, impressions and clicks as reported by the ad platforms (not split by segment or "
        f"region). Conversions and revenue: orders attributed with **{attr.MODEL_LABELS[model]}**"
        f" over a {options.lookback_days}-day lookback. "
        "None marks a ratio with a zero denominator."
    )
    st.markdown("**By channel**")
    st.dataframe(by_channel, hide_index=True, column_config=COLUMNS, key="ch_channel_table")
    csv_download(by_channel, "channel_performance", "dl_ch_channels")

    st.markdown("**By campaign**")
    st.dataframe(
        by_campaign,
        hide_index=True,
        column_config={
            **COLUMNS,
            "key": "Campaign id",
            "campaign": "Campaign",
            "channel": "Channel",
        },
        key="ch_campaign_table",
    )
    csv_download(by_campaign, "campaign_performance", "dl_ch_campaigns")

    left, right = st.columns([3, 2])
    with left:
        c1, c2 = st.columns(2)
        metric = c1.selectbox(
            "Metric",
            list(cm.METRICS),
            index=list(cm.METRICS).index("revenue"),
            format_func=lambda m: cm.METRICS[m].label,
            key="ch_ts_metric",
        )
        grain = (
            c2.segmented_control(
                "Grain", ["day", "week", "month"], default="week", key="ch_ts_grain"
            )
            or "week"
        )
        ts = cc.load_timeseries(engine, url, filters, options, model, grain)
        if ts.empty:
            st.info("No data over time for these filters.")
        else:
            st.plotly_chart(figures.timeseries_figure(ts, metric, grain), key="ch_ts_chart")
            csv_download(ts, "channel_timeseries", "dl_ch_ts")
    with right:
        if not (by_campaign["spend"] > 0).any():
            st.info("No campaign has spend in the period, so there is no ROAS to plot.")
        else:
            st.plotly_chart(figures.spend_roas_figure(by_campaign), key="ch_scatter")
            csv_download(
                by_campaign[["key", "campaign", "channel", "spend", "roas", "revenue"]],
                "spend_vs_roas",
                "dl_ch_scatter",
            )

with attr_tab:
    credit = cc.load_attribution(engine, url, filters, options)
    if credit.empty:
        st.info("No orders in the period for these filters, so there is nothing to attribute.")
    else:
        totals = credit[credit["model"] == "last_touch"][["conversions", "revenue"]].sum()
        st.caption(
            f"Each model attributes the same **{totals['conversions']:,.0f} orders** and "
            f"**${totals['revenue']:,.0f}** (shown channels). Time decay: half-life "
            f"{options.half_life_days:g} days; position based: 40% first, 40% last, 20% spread "
            "over the middle (one touch 100%, two touches 50/50)."
        )
        for value in ("conversions", "revenue"):
            table = attr.attribution_table(credit, value)
            left, right = st.columns([3, 2])
            left.plotly_chart(figures.attribution_figure(table, value), key=f"ch_attr_{value}")
            with right:
                fmt = "dollar" if value == "revenue" else "%.1f"
                st.dataframe(
                    table,
                    hide_index=True,
                    key=f"ch_attr_table_{value}",
                    column_config={
                        "key": "Channel",
                        **{
                            m: st.column_config.NumberColumn(attr.MODEL_LABELS[m], format=fmt)
                            for m in attr.MODELS
                        },
                    },
                )
                csv_download(table, f"attribution_{value}", f"dl_ch_attr_{value}")

with dark_tab:
    st.caption(
        "Customers first seen in the period: their tracked acquisition channel against their "
        "answer to “how did you hear about us?”. Row % are among customers who answered."
    )
    long = cc.load_dark_funnel(engine, url, filters)
    if long.empty:
        st.info("No customers were first seen in the period for these filters.")
    else:
        xt = cm.crosstab(long)
        answered = int(xt.counts.drop(columns=[cm.NO_ANSWER], errors="ignore").to_numpy().sum())
        c1, c2 = st.columns(2)
        c1.metric("Customers who answered", f"{answered:,}")
        rate = cm.agreement_rate(long)
        c2.metric("Answer agrees with tracking", "–" if rate != rate else f"{rate:.0%}")
        if answered == 0:
            st.info("Nobody answered the self-reported source question in the period.")
        else:
            st.plotly_chart(figures.dark_funnel_figure(xt), key="ch_dark_heatmap")
            csv_download(xt.counts.reset_index(), "dark_funnel_counts", "dl_ch_dark_counts")
            st.markdown("**Where they disagree most**")
            worst = cm.disagreements(long)
            if worst.empty:
                st.info("No tracked channel has enough answers (10+) to rank disagreements.")
            else:
                for line in worst["summary"].head(3):
                    st.markdown(f"- {md_text(line)}.")  # names channels: literal
                st.dataframe(
                    worst,
                    hide_index=True,
                    key="ch_dark_table",
                    column_config={
                        "tracked": "Tracked as",
                        "self_reported": "Say they heard via",
                        "customers": st.column_config.NumberColumn("Customers", format="%d"),
                        "answered": st.column_config.NumberColumn(
                            "Answers for that channel", format="%d"
                        ),
                        "share": st.column_config.NumberColumn("Share", format="percent"),
                        "summary": None,
                    },
                )
                csv_download(worst, "dark_funnel_disagreements", "dl_ch_dark_worst")
