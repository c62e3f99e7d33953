"""Loop health (the default page): headline KPI tiles, a status per loop with the figures
behind it, and plain-language highlights. Thin: queries live in metrics.marketing.kpi_sql, rules in
metrics.marketing.loop_health, widgets in components."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.context import current_filters, warehouse, warehouse_errors
from components.downloads import csv_download
from components.drilldown import breakdown_link, open_from_chart
from components.evolve_view import evolve_summary_or_none
from components.figure_cache import bar_chart
from components.freshness import live_note
from components.kpi_tiles import (
    cached_experiment_activity,
    cached_kpi,
    cached_totals,
    kpi_tiles,
    warehouse_key,
)
from components.summary_download import summary_pdf_button
from components.targets_view import tile_target_lines
from components.theme import CHANNEL_COLORS, LOOP_COLORS, VARIANT_COLORS
from components.url_state import TABS_IN_URL, filter_params
from data.schema import PAID_CHANNELS, LoopStage
from i18n import _
from metrics import formatting as fmt
from metrics.marketing import kpi_sql
from metrics.marketing import loop_health as lh
from metrics.marketing.kpis import KPIS, Unit

TILE_KPIS = (
    "new_customers",
    "revenue",
    "cac",
    "roas",
    "conversion_rate",
    "clv_cac",
    "nps",
    "churn_rate",
)
EXTRA_KPIS = ("csat", "reach", "paid_spend")
BADGE_COLORS = {
    lh.Status.HEALTHY: "green",
    lh.Status.WATCH: "orange",
    lh.Status.AT_RISK: "red",
    lh.Status.NO_DATA: "gray",
    lh.Status.NOT_APPLICABLE: "gray",
}
LOOP_TITLES = {
    LoopStage.EXPRESS: "Express · brand",
    LoopStage.TAILOR: "Tailor · 1:1 personalisation",
    LoopStage.AMPLIFY: "Amplify · channels",
    LoopStage.EVOLVE: "Evolve · experiments",
}

filters = current_filters()
engine = warehouse()
url = warehouse_key(engine)
prev = filters.previous_period()


def _value(totals: pd.DataFrame, name: str, column: str = "current") -> float | None:
    row = totals[totals.kpi == name]
    if row.empty or pd.isna(row[column].iloc[0]):
        return None
    return float(row[column].iloc[0])


def _signals_table(health: lh.LoopHealth) -> None:
    table = pd.DataFrame(
        [
            (s.name, s.display, _(s.status.value) if s.graded else _("(context)"), s.reason)
            for s in health.signals
        ],
        columns=["Signal", "Value", "Status", "Why"],
    )
    # A static table wraps long values ("not applicable under this filter") instead of
    # clipping them in a half-width column.
    st.table(table[["Signal", "Value", "Status"]], hide_index=True, border="horizontal")
    csv_download(table, f"{health.loop.value}_health", key=f"dl_{health.loop.value}_signals")


def _loop_header(health: lh.LoopHealth) -> None:
    left, right = st.columns([3, 1])
    left.markdown(
        f"<span style='color:{LOOP_COLORS[health.loop]}; font-weight:700; font-size:1.1rem'>"
        f"{LOOP_TITLES[health.loop]}</span>",
        unsafe_allow_html=True,
    )
    with right:
        st.badge(_(health.status.value), color=BADGE_COLORS[health.status])


st.title(_("Loop health"))
st.caption(
    _(
        "{start:%d %b %Y} – {end:%d %b %Y} ({days} days), compared with the previous {days} "
        "days ({start2:%d %b} – {end2:%d %b %Y}). Hover a tile's (?) for how it is computed."
    ).format(
        start=filters.start, end=filters.end, days=filters.days, start2=prev.start, end2=prev.end
    )
)

with warehouse_errors(_("loading the KPI totals")):
    totals = cached_totals(engine, url, TILE_KPIS + EXTRA_KPIS, filters)

activity_counts = ("new_customers", "revenue", "reach", "paid_spend")
if all((_value(totals, n) or 0) == 0 for n in activity_counts):
    st.info(
        _(
            "**No data for these filters.** There are no new customers, orders, touchpoints or "
            "spend between {start} and {end} for the selected channels, segments and regions. "
            "Widen the date range or clear some filters in the sidebar."
        ).format(start=filters.start, end=filters.end),
        icon=":material/filter_alt_off:",
    )
    st.stop()

# Summary first (a phone shows it before eight tall tiles): filled once the loops are graded.
summary = st.container(border=True)

# --- tiles ----------------------------------------------------------------------------------
weeks = filters.whole_periods("week")  # a partial first/last week would look like a dip
sparks = {n: cached_kpi(engine, url, n, weeks, "week")["value"].tolist() for n in TILE_KPIS}
tiles = totals[totals.kpi.isin(TILE_KPIS)]
kpi_tiles(
    tiles,
    sparks,
    days=filters.days,
    after_tile=breakdown_link,
    target_lines=tile_target_lines(tiles, filters),
)
live_note(totals)
notes = sorted({note for n in TILE_KPIS for note in kpi_sql.ignored_filters(n, filters)})
tiles_csv = tiles.assign(definition=[KPIS[n].definition for n in tiles.kpi])
foot_left, foot_right = st.columns([4, 1])
with foot_left:
    st.caption(
        _("Sparklines: weekly values, whole weeks {start:%d %b} – {end:%d %b}. ").format(
            start=weeks.start, end=weeks.end
        )
        + (" ".join(notes) if notes else "")
    )
with foot_right:
    csv_download(tiles_csv, "kpi_totals", key="dl_kpi_totals")
    summary_pdf_button(engine, url, filters)

# --- loop data ------------------------------------------------------------------------------
new_by_channel = cached_kpi(engine, url, "new_customers", filters, "channel")
new_by_channel_prev = cached_kpi(engine, url, "new_customers", prev, "channel")
by_personalised = cached_kpi(engine, url, "campaign_conversion_rate", filters, "is_personalised")
reach_by_channel = cached_kpi(engine, url, "reach", filters, "channel")
cac_by_channel = cached_kpi(engine, url, "cac", filters, "channel")
roas_by_channel = cached_kpi(engine, url, "roas", filters, "channel")
activity = cached_experiment_activity(engine, url, filters)
evolve = evolve_summary_or_none(engine)

lift = lh.tailor_lift(by_personalised)
loops = [
    lh.express_health(
        _value(totals, "nps"), _value(totals, "csat"), new_by_channel, filters=filters
    ),
    lh.tailor_health(lift),
    lh.amplify_health(
        _value(totals, "roas"),
        _value(totals, "clv_cac"),
        _value(totals, "cac"),
        _value(totals, "cac", "previous"),
        filters=filters,
    ),
    lh.evolve_health(activity, evolve),
]
mix_now = lh.channel_shares(new_by_channel)
mix_before = lh.channel_shares(new_by_channel_prev)

# --- highlights -----------------------------------------------------------------------------
with summary:
    st.markdown(
        _("**Loops:** ")
        + " · ".join(
            f"{h.loop.value.title()} :{BADGE_COLORS[h.status]}-badge[{_(h.status.value)}]"
            for h in loops
        )
    )
    st.markdown(_("**What changed**"))
    items = lh.highlights(
        totals[totals.kpi.isin(TILE_KPIS)], mix_now, mix_before, loops, filters.days
    )
    st.markdown("\n".join(f"- {s}" for s in items))

# --- loops ----------------------------------------------------------------------------------
health = {h.loop: h for h in loops}
row1 = st.columns(2)
row2 = st.columns(2)

with row1[0].container(border=True):
    h = health[LoopStage.EXPRESS]
    _loop_header(h)
    _signals_table(h)
    share = mix_now.rename("share").rename_axis("channel").reset_index()
    if share.empty:
        st.info(_("No new customers in this period."))
    else:
        share = share.sort_values("share", ascending=False)
        st.plotly_chart(
            bar_chart(
                share,
                "channel",
                "share",
                title=_("Share of new customers by channel (brand pull in colour)"),
                color_map=CHANNEL_COLORS,
                highlight=sorted(lh.BRAND_CHANNELS),
                unit=Unit.PERCENT,
                y_title=_("share of new customers"),
                horizontal=True,
                height=300,
            ),
            key="ch_express_mix",
            on_select="rerun",
            selection_mode="points",
        )
        open_from_chart("ch_express_mix", share, "channel", "new_customers")
        csv_download(share, "new_customer_share_by_channel", key="dl_express_mix")

with row1[1].container(border=True):
    h = health[LoopStage.TAILOR]
    _loop_header(h)
    _signals_table(h)
    conv = by_personalised.dropna(subset=["is_personalised"]).copy()
    if conv.empty:
        st.info(_("No campaign touches in this period: nothing to compare."))
    else:
        conv["campaigns"] = conv["is_personalised"].map({True: "Personalised", False: "Generic"})
        conv = conv.sort_values("campaigns", ascending=False)
        st.plotly_chart(
            bar_chart(
                conv,
                "campaigns",
                "value",
                title=_("Campaign conversion: personalised vs generic"),
                color_map={"Personalised": VARIANT_COLORS[2], "Generic": "#7F7F7F"},
                unit=Unit.PERCENT,
                y_title=_("converters ÷ customers touched"),
                height=300,
            ),
            key="ch_tailor_conv",
            on_select="rerun",
            selection_mode="points",
        )
        open_from_chart("ch_tailor_conv", conv, "is_personalised", "campaign_conversion_rate")
        shown = conv.rename(columns={"numerator": "converters", "denominator": "touched"})
        csv_download(
            shown[["campaigns", "converters", "touched", "value"]],
            "personalised_vs_generic_conversion",
            key="dl_tailor_conv",
        )

with row2[0].container(border=True):
    h = health[LoopStage.AMPLIFY]
    _loop_header(h)
    _signals_table(h)
    paid = lh.share_of(mix_now, PAID_CHANNELS)
    owned = None if paid is None else 1.0 - paid
    st.caption(
        _("Owned/earned channels brought ")
        + ("–" if owned is None else f"{owned * 100:.0f}%")
        + _(" of new customers; paid channels ")
        + ("–" if owned is None else f"{(1 - owned) * 100:.0f}%")
        + "."
    )
    tab_reach, tab_cac, tab_roas = st.tabs(
        [_("Reach by channel"), _("CAC by channel"), _("ROAS (tracked) by channel")],
        key="ov_amplify_tab",
        **TABS_IN_URL,
    )
    for tab, frame, name, title in (
        (tab_reach, reach_by_channel, "reach", _("Customers reached by channel")),
        (tab_cac, cac_by_channel, "cac", _("CAC by channel (channel spend ÷ its new customers)")),
        (
            tab_roas,
            roas_by_channel,
            "roas",
            _("{label} by paid channel").format(label=KPIS["roas"].label),
        ),
    ):
        with tab:
            data = frame.dropna(subset=["value"])
            if name != "reach":
                data = data[data["channel"].isin(PAID_CHANNELS)]
            if data.empty:
                st.info(
                    _("No {label} by channel for these filters.").format(label=KPIS[name].label)
                )
                continue
            data = data.sort_values("value", ascending=False)
            st.plotly_chart(
                bar_chart(
                    data,
                    "channel",
                    "value",
                    title=title,
                    color_map=CHANNEL_COLORS,
                    unit=KPIS[name].unit,
                    y_title=KPIS[name].label,
                    horizontal=True,
                    height=280,
                ),
                key=f"ch_amplify_{name}",
                on_select="rerun",
                selection_mode="points",
            )
            open_from_chart(f"ch_amplify_{name}", data, "channel", name)
            csv_download(
                data.rename(columns={"value": KPIS[name].label}),
                f"{name}_by_channel",
                key=f"dl_amplify_{name}",
            )

with row2[1].container(border=True):
    h = health[LoopStage.EVOLVE]
    _loop_header(h)
    _signals_table(h)
    st.caption(
        " · ".join(
            f"**{fmt.count(activity[name])}** {label.lower()}"
            for name, (label, _help) in kpi_sql.ACTIVITY_LABELS.items()
        )
        + _(" (win rate, decisions and impact: in the table above).")
    )
    if evolve is None:
        st.caption(
            _("The decision log (app-state store) is unavailable: decisions are not graded.")
        )
    else:
        st.page_link(
            "pages/evolve.py",
            label=_("Open Evolve"),
            icon=":material/cycle:",
            query_params=filter_params(),
        )
    csv_download(
        pd.DataFrame([activity]).rename(
            columns={k: label for k, (label, _help) in kpi_sql.ACTIVITY_LABELS.items()}
            | {"total": _("All experiments")}
        ),
        "experiment_activity",
        key="dl_evolve_activity",
    )

with st.expander(_("How is each loop's status decided?"), icon=":material/help:"):
    st.markdown(lh.STATUS_RULES)
