"""Channel page widgets: cached loaders and pure figure builders (one colour per channel)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from sqlalchemy import Engine

from components.lifecycle_charts import legend_below
from components.sources import store_and_key
from components.theme import CHANNEL_COLORS, NEUTRAL_COLOR, apply_theme
from data.serving import ServingStore
from i18n import _
from metrics.filters import Filters
from metrics.formatting import tick_format, tick_suffix
from metrics.marketing import attribution as attr
from metrics.marketing import channels as cm

TTL = 600
MODEL_COLORS: dict[str, str] = {
    "first_touch": "#0072B2",
    "last_touch": "#D55E00",
    "linear": "#009E73",
    "time_decay": "#CC79A7",
    "position_based": "#E69F00",
    "markov": "#56B4E9",
}
Store = ServingStore | None
COLOR_MAP = {**CHANNEL_COLORS, attr.NO_TOUCH: "#BBBBBB", attr.NO_CAMPAIGN: "#DDDDDD"}


def _label(value: str) -> str:
    return str(value).replace("_", " ")


# --- cached loaders -------------------------------------------------------------------------------


# Attribution runs once per page: every loader below sums the same cached daily credit.


def load_credit(
    engine: Engine, url: str, filters: Filters, options: attr.AttributionOptions
) -> pd.DataFrame:
    """Daily attribution credit (:func:`metrics.marketing.attribution.daily_credit`), cached."""
    store, key = store_and_key()
    return _credit(engine, url, filters, options, store, key)


@st.cache_data(ttl=TTL, show_spinner=False)
def _credit(
    _engine: Engine,
    url: str,
    filters: Filters,
    options: attr.AttributionOptions,
    _store: Store,
    store_key: str,
) -> pd.DataFrame:
    return attr.daily_credit(_engine, filters, options, serving=_store)


def load_performance(
    engine: Engine,
    url: str,
    filters: Filters,
    options: attr.AttributionOptions,
    model: str,
    by: str,
) -> pd.DataFrame:
    store, key = store_and_key()
    credit = _credit(engine, url, filters, options, store, key)
    return _performance(engine, url, filters, options, model, by, store, key, credit)


@st.cache_data(ttl=TTL, show_spinner=False)
def _performance(
    _engine: Engine,
    url: str,
    filters: Filters,
    options: attr.AttributionOptions,
    model: str,
    by: str,
    _store: Store,
    store_key: str,
    _credit: pd.DataFrame,
) -> pd.DataFrame:
    return cm.performance(
        _engine,
        filters,
        options,
        model=model,
        by=by,
        serving=_store,
        credit=_credit,  # type: ignore[arg-type]
    )


def load_timeseries(
    engine: Engine,
    url: str,
    filters: Filters,
    options: attr.AttributionOptions,
    model: str,
    grain: str,
) -> pd.DataFrame:
    store, key = store_and_key()
    credit = _credit(engine, url, filters, options, store, key)
    return _timeseries(engine, url, filters, options, model, grain, store, key, credit)


@st.cache_data(ttl=TTL, show_spinner=False)
def _timeseries(
    _engine: Engine,
    url: str,
    filters: Filters,
    options: attr.AttributionOptions,
    model: str,
    grain: str,
    _store: Store,
    store_key: str,
    _credit: pd.DataFrame,
) -> pd.DataFrame:
    return cm.timeseries(
        _engine, filters, options, model=model, grain=grain, serving=_store, credit=_credit
    )


def load_attribution(
    engine: Engine, url: str, filters: Filters, options: attr.AttributionOptions
) -> pd.DataFrame:
    store, key = store_and_key()
    credit = _credit(engine, url, filters, options, store, key)
    return _attribution(engine, url, filters, options, store, key, credit)


@st.cache_data(ttl=TTL, show_spinner=False)
def _attribution(
    _engine: Engine,
    url: str,
    filters: Filters,
    options: attr.AttributionOptions,
    _store: Store,
    store_key: str,
    _credit: pd.DataFrame,
) -> pd.DataFrame:
    return attr.attribute(_engine, filters, options, serving=_store, credit=_credit)


def load_dark_funnel(engine: Engine, url: str, filters: Filters) -> pd.DataFrame:
    store, key = store_and_key()
    return _dark_funnel(engine, url, filters, store, key)


@st.cache_data(ttl=TTL, show_spinner=False)
def _dark_funnel(
    _engine: Engine, url: str, filters: Filters, _store: Store, store_key: str
) -> pd.DataFrame:
    return cm.dark_funnel(_engine, filters, serving=_store)


# --- figures --------------------------------------------------------------------------------------


def timeseries_figure(ts: pd.DataFrame, metric: str, grain: str) -> go.Figure:
    """One line per channel for the picked metric of :data:`metrics.marketing.channels.METRICS`."""
    info = cm.METRICS[metric]
    fig = px.line(
        ts,
        x="period",
        y=metric,
        color="key",
        markers=True,
        color_discrete_map=COLOR_MAP,
        labels={"period": grain.capitalize(), metric: info.label, "key": "Channel"},
    )
    _axis_format(fig, info.unit)
    return legend_below(apply_theme(fig, title=f"{info.label} per {grain}", height=420))


def _axis_format(fig: go.Figure, unit: str) -> None:
    fig.update_yaxes(tickformat=tick_format(unit), ticksuffix=tick_suffix(unit))


def spend_roas_figure(campaigns: pd.DataFrame) -> go.Figure:
    """Campaigns: spend (x) vs ROAS (y); bubble area = attributed revenue; colour = channel.

    Plotly rejects a marker size that is missing, negative or zero everywhere (a period without
    orders): the bubble area uses revenue clipped at 0, and constant bubbles when no campaign
    has revenue (the title says so).
    """
    data = campaigns[campaigns["spend"] > 0].copy()
    data["bubble"] = pd.to_numeric(data["revenue"], errors="coerce").fillna(0.0).clip(lower=0.0)
    data = data[pd.to_numeric(data["roas"], errors="coerce").notna()]
    sized = bool(len(data)) and float(data["bubble"].max()) > 0
    title = _("Spend vs ROAS (attributed) by campaign") + (
        "" if sized else _(" (no attributed revenue)")
    )
    fig = px.scatter(
        data,
        x="spend",
        y="roas",
        size="bubble" if sized else None,
        size_max=40,
        color="channel",
        color_discrete_map=COLOR_MAP,
        hover_name="campaign",
        hover_data={
            "spend": ":$,.0f",
            "revenue": ":$,.0f",
            "roas": ":.2f",
            "channel": False,
            **({"bubble": False} if sized else {}),
        },
        labels={
            "spend": _("Spend (USD)"),
            "roas": cm.METRICS["roas"].label,
            "revenue": cm.METRICS["revenue"].label,
            "channel": "Channel",
        },
    )
    fig.add_hline(y=1.0, line_dash="dot", line_color=NEUTRAL_COLOR, annotation_text="break-even")
    fig.update_xaxes(tickformat=tick_format("usd"))
    return legend_below(apply_theme(fig, title=title, height=480))


def attribution_figure(table: pd.DataFrame, value: str) -> go.Figure:
    """Credit per channel under each model, side by side (grouped bars)."""
    fig = go.Figure()
    labels = {**attr.MODEL_LABELS, "markov": _("Markov (data-driven)")}
    for m in [m for m in (*attr.MODELS, "markov") if m in table]:  # Markov when given
        fig.add_trace(
            go.Bar(
                name=labels[m],
                x=[_label(k) for k in table["key"]],
                y=table[m],
                marker_color=MODEL_COLORS[m],
                hovertemplate="%{x}: %{y:,.1f}<extra>" + labels[m] + "</extra>",
            )
        )
    fig.update_layout(barmode="group")
    if value == "revenue":
        fig.update_yaxes(tickformat=tick_format("usd"), title_text=cm.METRICS["revenue"].label)
    else:
        fig.update_yaxes(title_text=_("Attributed orders"))
    title = (
        _("Attributed revenue by model")
        if value == "revenue"
        else _("Attributed conversions by model")
    )
    return legend_below(apply_theme(fig, title=title, height=420))


def dark_funnel_figure(xt: cm.CrossTab) -> go.Figure:
    """Heatmap of row shares (tracked rows × self-reported columns), counts in the cells."""
    share = xt.row_share
    counts = xt.counts.reindex(index=share.index, columns=share.columns).fillna(0).astype(int)
    text = [
        [f"{s:.0%}<br>({c:,})" if pd.notna(s) else "" for s, c in zip(rs, rc, strict=True)]
        for rs, rc in zip(share.to_numpy(), counts.to_numpy(), strict=True)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=share.to_numpy(),
            x=[_label(c) for c in share.columns],
            y=[_label(r) for r in share.index],
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar=dict(title=_("Row %"), tickformat=".0%"),
            hovertemplate="Tracked %{y}, say %{x}: %{z:.1%}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text=_("Self-reported source"), side="bottom")
    fig.update_yaxes(title_text=_("Tracked acquisition channel"), autorange="reversed")
    return apply_theme(
        fig, title=_("Self-reported vs tracked source (row % of answers)"), height=460
    )
