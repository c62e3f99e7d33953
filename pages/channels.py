"""Channels & attribution: channel/campaign performance, multi-touch attribution side by side,
and the dark funnel. Thin: queries live in metrics.marketing.channels / .attribution."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import channel_charts as cc
from components import figure_cache as figures
from components import markov_view as mv
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
from components.tables import dataframe
from components.url_state import IN_URL, TABS_IN_URL
from i18n import _
from metrics import formatting as fmt
from metrics.marketing import attribution as attr
from metrics.marketing import channels as cm
from metrics.marketing import markov as mk

filters = current_filters()
engine = warehouse()
url = warehouse_key(engine)

st.title(_("Channels & attribution"))

with st.expander(_("Attribution settings"), expanded=False, icon=":material/tune:"):
    c1, c2, c3 = st.columns(3)
    model = c1.selectbox(
        _("Model for the performance tables"),
        attr.MODELS,
        index=attr.MODELS.index("last_touch"),
        format_func=attr.MODEL_LABELS.get,
        key="ch_model",
        **IN_URL,
    )
    lookback = c2.number_input(
        _("Lookback window (days before each order)"),
        0,
        365,
        30,
        step=1,
        key="ch_lookback",
        **IN_URL,
    )
    half_life = c3.number_input(
        _("Time-decay half-life (days)"), 0.5, 180.0, 7.0, step=0.5, key="ch_half_life", **IN_URL
    )
    st.caption(
        _(
            "Conversions are orders (revenue = order revenue). Touches are touchpoints of the "
            "customer with event type "
        )
        + ", ".join(attr.TOUCH_EVENT_TYPES)
        + _(
            " within the lookback window; orders without one are credited to **{NO_TOUCH}**. The "
            "channel filter selects which rows are shown; credits come from the full model."
        ).format(NO_TOUCH=attr.NO_TOUCH)
    )
try:
    options = attr.AttributionOptions(int(lookback), float(half_life))
except ValueError as exc:
    show_problem(_("Invalid attribution settings"), str(exc), _("Adjust the settings above."))
    st.stop()

with warehouse_errors(_("loading channel performance")):
    by_channel = cc.load_performance(engine, url, filters, options, model, "channel")
    by_campaign = cc.load_performance(engine, url, filters, options, model, "campaign")

if by_channel.empty:
    st.info(
        _(
            "No spend and no orders match these filters. Widen the date range or clear the "
            "channel, segment or region selection in the sidebar."
        ),
        icon=":material/filter_alt_off:",
    )
    st.stop()

_FORMATS = {
    "usd": "dollar" if fmt.warehouse_currency() == "USD" else "localized",
    "count": "localized",
    "percent": "percent",
    "ratio": "%.2f×",
}
_WHOLE = {"spend", "revenue"}  # large amounts: no cents (rounded in _shown)
COLUMNS = {
    "key": _("Channel"),
    **{
        name: st.column_config.NumberColumn(
            info.label,
            format="localized" if name == "conversions" else _FORMATS[info.unit],
            help=info.definition,
        )
        for name, info in cm.METRICS.items()
    },
}
for _name in _WHOLE:
    COLUMNS[_name] = st.column_config.NumberColumn(
        f"{cm.METRICS[_name].label} ({fmt.currency_symbol()})",
        format="localized",
        help=cm.METRICS[_name].definition,
    )

CSV_HEADERS = {"key": "Name", **{name: info.label for name, info in cm.METRICS.items()}}
# (The CSV headers are the on-screen names: attributed, not the catalog's tracked figures.)
# Fits 1024 px with the sidebar open: the decision columns on screen; impressions, clicks, CTR,
# CPC and CVR (the ad funnel) in the CSV and the chart below.
ON_SCREEN = ("key", "campaign", "channel", "spend", "conversions", "cpa", "revenue", "roas")
SHORT = {"conversions": _("Orders (attr.)"), "roas": _("ROAS (attr.)")}
SHORT |= {"revenue": _("Revenue (attr., {symbol})").format(symbol=fmt.currency_symbol())}
SHORT |= {
    "cpa": _("CPA (attr.)")
    if fmt.warehouse_currency() == "USD"
    else _("CPA (attr., {symbol})").format(symbol=fmt.currency_symbol())
}
for _name, _short in SHORT.items():  # shorter headers; the full name and definition in (?)
    COLUMNS[_name] = st.column_config.NumberColumn(
        _short,
        format=COLUMNS[_name]["type_config"].get("format") or "localized",
        help=f"{cm.METRICS[_name].label}: {cm.METRICS[_name].definition}",
    )


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as displayed: readable channel names, whole currency units for large money."""
    out = frame.copy()
    for col in ("key", "channel"):
        if col in out:
            out[col] = out[col].map(fmt.label)
    for col in ("spend", "revenue"):
        out[col] = out[col].round(0)
    return out


source_caption(by_channel, by_campaign)

perf_tab, attr_tab, dark_tab = st.tabs(
    [_("Performance"), _("Attribution"), _("Dark funnel")], key="ch_tab", **TABS_IN_URL
)

with perf_tab:
    st.caption(
        _(
            "Spend, impressions and clicks as reported by the ad platforms (not split by segment "
            "or region). Conversions and revenue: orders attributed with **{MODEL_LABELS}** over "
            "a {lookback_days}-day lookback. – marks a ratio with a zero denominator. "
            'Impressions, clicks, CTR, CPC and CVR are in the CSV and the chart below; "attr." = '
            "attributed."
        ).format(MODEL_LABELS=attr.MODEL_LABELS[model], lookback_days=options.lookback_days)
    )
    st.markdown(_("**By channel**"))
    dataframe(
        _shown(by_channel),
        hide_index=True,
        column_config=COLUMNS,
        column_order=[c for c in ON_SCREEN if c in by_channel],
        key="ch_channel_table",
    )
    csv_download(by_channel.rename(columns=CSV_HEADERS), "channel_performance", "dl_ch_channels")

    st.markdown(_("**By campaign**"))
    dataframe(
        _shown(by_campaign),
        hide_index=True,
        column_order=[c for c in ON_SCREEN if c in by_campaign and c != "key"],
        column_config={
            **COLUMNS,
            "key": _("Campaign id"),
            "campaign": _("Campaign"),
            "channel": _("Channel"),
        },
        key="ch_campaign_table",
    )
    csv_download(by_campaign.rename(columns=CSV_HEADERS), "campaign_performance", "dl_ch_campaigns")

    left, right = st.columns([3, 2])
    with left:
        c1, c2 = st.columns(2)
        metric = c1.selectbox(
            _("Metric"),
            list(cm.METRICS),
            index=list(cm.METRICS).index("revenue"),
            format_func=lambda m: cm.METRICS[m].label,
            key="ch_ts_metric",
            **IN_URL,
        )
        grain = (
            c2.segmented_control(
                _("Grain"), ["day", "week", "month"], default="week", key="ch_ts_grain", **IN_URL
            )
            or "week"
        )
        # Whole weeks/months only: a partial last bucket would draw a fake drop.
        ts_period = filters.whole_periods(grain)
        ts = cc.load_timeseries(engine, url, ts_period, options, model, grain)
        if ts.empty:
            st.info(_("No data over time for these filters."))
        else:
            st.plotly_chart(figures.timeseries_figure(ts, metric, grain), key="ch_ts_chart")
            if ts_period != filters:
                st.caption(
                    _(
                        "Whole {grain} only: {start:%d %b} – {end:%d %b %Y} "
                        "(a partial first or last bucket "
                        "would look like a drop)."
                    ).format(
                        grain=fmt.grain_plural(grain), start=ts_period.start, end=ts_period.end
                    )
                )
            csv_download(ts.rename(columns=CSV_HEADERS), "channel_timeseries", "dl_ch_ts")
    with right:
        if not (by_campaign["spend"] > 0).any():
            st.info(_("No campaign has spend in the period, so there is no ROAS to plot."))
        else:
            st.plotly_chart(figures.spend_roas_figure(by_campaign), key="ch_scatter")
            csv_download(
                by_campaign[["key", "campaign", "channel", "spend", "roas", "revenue"]].rename(
                    columns=CSV_HEADERS
                ),
                "spend_vs_roas",
                "dl_ch_scatter",
            )

with attr_tab:
    credit = cc.load_attribution(engine, url, filters, options)
    if credit.empty:
        st.info(_("No orders in the period for these filters, so there is nothing to attribute."))
    else:
        totals = credit[credit["model"] == "last_touch"][["conversions", "revenue"]].sum()
        st.caption(
            _(
                "Each model attributes the same **{conversions} orders** and "
                "**{revenue}** (shown channels). Time decay: half-life {half_life_days:g} "
                "days; position based: 40% first, 40% last, 20% spread over the middle (one touch "
                "100%, two touches 50/50)."
            ).format(
                conversions=fmt.count(totals["conversions"]),
                revenue=fmt.money(totals["revenue"]),
                half_life_days=options.half_life_days,
            )
        )
        with warehouse_errors(_("computing the Markov attribution")):
            markov = mv.load_markov(engine, url, filters, options)
        for value in ("conversions", "revenue"):
            table = mk.with_markov(attr.attribution_table(credit, value), markov, value, filters)
            left, right = st.columns([3, 2])
            left.plotly_chart(figures.attribution_figure(table, value), key=f"ch_attr_{value}")
            with right:
                num_format = fmt.column_money_format() if value == "revenue" else "%.1f"
                dataframe(
                    table,
                    hide_index=True,
                    key=f"ch_attr_table_{value}",
                    column_config={
                        "key": _("Channel"),
                        **{
                            m: st.column_config.NumberColumn(
                                attr.MODEL_LABELS[m], format=num_format
                            )
                            for m in attr.MODELS
                        },
                        mk.MODEL: st.column_config.NumberColumn(
                            _(mk.MODEL_LABEL), format=num_format
                        ),
                    },
                )
                csv_download(table, f"attribution_{value}", f"dl_ch_attr_{value}")
        mv.render_transition_graph(markov)

with dark_tab:
    st.caption(
        _(
            "Customers first seen in the period: their tracked acquisition channel against their "
            "answer to “how did you hear about us?”. Row % are among customers who answered."
        )
    )
    long = cc.load_dark_funnel(engine, url, filters)
    if long.empty:
        st.info(_("No customers were first seen in the period for these filters."))
    else:
        xt = cm.crosstab(long)
        answered = int(xt.counts.drop(columns=[cm.NO_ANSWER], errors="ignore").to_numpy().sum())
        c1, c2 = st.columns(2)
        c1.metric(_("Customers who answered"), fmt.count(answered))
        rate = cm.agreement_rate(long)
        c2.metric(_("Answer agrees with tracking"), "–" if rate != rate else fmt.percent(rate, 0))
        if answered == 0:
            st.info(_("Nobody answered the self-reported source question in the period."))
        else:
            st.plotly_chart(figures.dark_funnel_figure(xt), key="ch_dark_heatmap")
            csv_download(xt.counts.reset_index(), "dark_funnel_counts", "dl_ch_dark_counts")
            st.markdown(_("**Where they disagree most**"))
            worst = cm.disagreements(long)
            if worst.empty:
                st.info(_("No tracked channel has enough answers (10+) to rank disagreements."))
            else:
                for line in worst["summary"].head(3):
                    st.markdown(f"- {md_text(line)}.")  # names channels: literal
                dataframe(
                    worst,
                    hide_index=True,
                    key="ch_dark_table",
                    column_config={
                        "tracked": _("Tracked as"),
                        "self_reported": _("Say they heard via"),
                        "customers": st.column_config.NumberColumn("Customers", format="%d"),
                        "answered": st.column_config.NumberColumn(
                            _("Answers for that channel"), format="%d"
                        ),
                        "share": st.column_config.NumberColumn("Share", format="percent"),
                        "summary": None,
                    },
                )
                csv_download(worst, "dark_funnel_disagreements", "dl_ch_dark_worst")
