"""Lifecycle page widgets: cached loaders, pure figure builders and a CSV download button.

Figure builders take the small frames from :mod:`metrics.marketing.lifecycle` and return themed
Plotly figures (one colour per stage from :mod:`components.theme`).
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from sqlalchemy import Engine

from components.sources import store_and_key
from components.theme import (
    BAD_COLOR,
    GOOD_COLOR,
    NEUTRAL_COLOR,
    STAGE_COLORS,
    apply_theme,
    stage_color,
)
from data.serving import ServingStore
from i18n import _
from metrics import formatting as fmt
from metrics.filters import Filters
from metrics.marketing import lifecycle as lm

Store = ServingStore | None

TTL = 600
KIND_COLORS: dict[str, str] = {
    "forward": GOOD_COLOR,
    "backward": BAD_COLOR,
    "to dormant": NEUTRAL_COLOR,
    "reactivation": "#0072B2",
    "same": "#DDDDDD",
}


def _label(stage: str) -> str:
    return str(stage).replace("_", " ").capitalize()


def legend_below(fig: go.Figure) -> go.Figure:
    """Horizontal legend under the plot, so it never overlaps the title."""
    fig.update_layout(
        legend=dict(orientation="h", yanchor="top", y=-0.25, xanchor="left", x=0.0, title_text="")
    )
    fig.update_layout(margin=dict(b=110))  # room for the axis title and the legend under it
    return fig


# --- cached loaders -------------------------------------------------------------------------------


# Each public loader picks up the serving store (None before the first build) and its version
# key; the cached function below it keys on (warehouse, filters, ..., store version).


def load_volumes(engine: Engine, url: str, filters: Filters, grain: str) -> pd.DataFrame:
    """Stage entries per period (:func:`metrics.marketing.lifecycle.stage_volumes`), cached."""
    store, key = store_and_key()
    return _volumes(engine, url, filters, grain, store, key)


@st.cache_data(ttl=TTL, show_spinner=False)
def _volumes(
    _engine: Engine, url: str, filters: Filters, grain: str, _store: Store, store_key: str
) -> pd.DataFrame:
    return lm.stage_volumes(_engine, filters, grain, serving=_store)


def load_distribution(engine: Engine, url: str, filters: Filters) -> pd.DataFrame:
    store, key = store_and_key()
    return _distribution(engine, url, filters, store, key)


@st.cache_data(ttl=TTL, show_spinner=False)
def _distribution(
    _engine: Engine, url: str, filters: Filters, _store: Store, store_key: str
) -> pd.DataFrame:
    return lm.stage_distribution(_engine, filters, serving=_store)


def load_conversion(engine: Engine, url: str, filters: Filters) -> pd.DataFrame:
    store, key = store_and_key()
    return _conversion(engine, url, filters, store, key)


@st.cache_data(ttl=TTL, show_spinner=False)
def _conversion(
    _engine: Engine, url: str, filters: Filters, _store: Store, store_key: str
) -> pd.DataFrame:
    return lm.stage_conversion(_engine, filters, serving=_store)


def load_time_in_stage(engine: Engine, url: str, filters: Filters) -> pd.DataFrame:
    store, key = store_and_key()
    return _time_in_stage(engine, url, filters, store, key)


@st.cache_data(ttl=TTL, show_spinner=False)
def _time_in_stage(
    _engine: Engine, url: str, filters: Filters, _store: Store, store_key: str
) -> pd.DataFrame:
    return lm.median_time_in_stage(_engine, filters, serving=_store)


def load_transitions(engine: Engine, url: str, filters: Filters) -> pd.DataFrame:
    store, key = store_and_key()
    return _transitions(engine, url, filters, store, key)


@st.cache_data(ttl=TTL, show_spinner=False)
def _transitions(
    _engine: Engine, url: str, filters: Filters, _store: Store, store_key: str
) -> pd.DataFrame:
    return lm.transitions(_engine, filters, serving=_store)


def load_stage_kpis(engine: Engine, url: str, filters: Filters) -> pd.DataFrame:
    store, key = store_and_key()
    return _stage_kpis(engine, url, filters, store, key)


@st.cache_data(ttl=TTL, show_spinner=False)
def _stage_kpis(
    _engine: Engine, url: str, filters: Filters, _store: Store, store_key: str
) -> pd.DataFrame:
    return lm.stage_kpis(_engine, filters, serving=_store)


def load_campaign_comparison(engine: Engine, url: str, filters: Filters) -> pd.DataFrame:
    store, key = store_and_key()
    return _campaign_comparison(engine, url, filters, store, key)


@st.cache_data(ttl=TTL, show_spinner=False)
def _campaign_comparison(
    _engine: Engine, url: str, filters: Filters, _store: Store, store_key: str
) -> pd.DataFrame:
    return lm.campaign_stage_comparison(_engine, filters, serving=_store)


# --- figures --------------------------------------------------------------------------------------


def volume_figure(volumes: pd.DataFrame, grain: str) -> go.Figure:
    """Stage entries per period, one line per stage."""
    fig = px.line(
        volumes,
        x="period",
        y="entries",
        color="stage",
        markers=True,
        color_discrete_map=STAGE_COLORS,
        category_orders={"stage": list(lm.STAGE_ORDER)},
        labels={"period": grain.capitalize(), "entries": _("Stage entries"), "stage": "Stage"},
    )
    # Dates, not times, on the axis (a single bucket otherwise autoscales to milliseconds).
    periods = sorted(pd.to_datetime(volumes["period"]).unique()) if len(volumes) else []
    fig.update_xaxes(
        tickformat="%d %b %Y" if grain == "week" else "%b %Y",
        tickvals=periods if len(periods) <= 12 else None,
        title_text=None,  # the title says "per week"; an axis title would sit under the legend
    )
    return legend_below(
        apply_theme(fig, title=_("Stage entries per {grain}").format(grain=grain), height=420)
    )


def distribution_figure(dist: pd.DataFrame, as_of: str) -> go.Figure:
    """Customers by latest stage (horizontal bars, stage order top to bottom)."""
    fig = go.Figure(
        go.Bar(
            x=dist["customers"],
            y=[_label(s) for s in dist["stage"]],
            orientation="h",
            marker_color=[stage_color(s) for s in dist["stage"]],
            text=[
                f"{fmt.count(c)} ({fmt.percent(s, 0)})"
                for c, s in zip(dist["customers"], dist["share"], strict=True)
            ],
            textposition="auto",
            hovertemplate="%{y}: %{x:,} customers<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text=_("Customers"))
    return apply_theme(fig, title=_("Current stage as of {as_of}").format(as_of=as_of))


def conversion_figure(conv: pd.DataFrame) -> go.Figure:
    """Stage-to-stage conversion rate (share of entrants of k who later reach k+1)."""
    names = [
        f"{_label(a)} → {_label(b)}" for a, b in zip(conv["stage"], conv["next_stage"], strict=True)
    ]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=conv["rate"],
            marker_color=[stage_color(s) for s in conv["next_stage"]],
            text=[f"{r:.0%}" for r in conv["rate"].fillna(0)],
            textposition="outside",
            customdata=conv[["converted", "entered"]].to_numpy(),
            hovertemplate="%{x}: %{y:.1%} (%{customdata[0]:,} of %{customdata[1]:,})"
            "<extra></extra>",
        )
    )
    fig.update_yaxes(tickformat=".0%", title_text=_("Converted"))
    return apply_theme(fig, title=_("Stage-to-stage conversion"))


def time_in_stage_figure(tis: pd.DataFrame) -> go.Figure:
    """Median days in stage per stage (completed stays)."""
    fig = go.Figure(
        go.Bar(
            x=[_label(s) for s in tis["stage"]],
            y=tis["median_days"],
            marker_color=[stage_color(s) for s in tis["stage"]],
            text=[f"{d:.1f} d" for d in tis["median_days"]],
            textposition="outside",
            customdata=tis[["stays"]].to_numpy(),
            hovertemplate="%{x}: median %{y:.1f} days over %{customdata[0]:,} stays<extra></extra>",
        )
    )
    fig.update_yaxes(title_text=_("Median days"))
    return apply_theme(fig, title=_("Median time in stage"))


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _side(trans: pd.DataFrame, column: str) -> tuple[list[str], list[float]]:
    """Stages with flow on one side, in stage order, and their node centres (0-1, top down)."""
    sizes = trans.groupby(column)["moves"].sum()
    stages = [s for s in lm.STAGE_ORDER if sizes.get(s, 0) > 0]
    total = float(sizes.sum()) or 1.0
    gap = 0.12 / max(len(stages) - 1, 1)
    ys, cum = [], 0.0
    for i, s in enumerate(stages):
        size = float(sizes[s]) / total * 0.86
        ys.append(min(max(0.01 + cum + size / 2 + i * gap, 0.01), 0.99))
        cum += size
    return stages, ys


def sankey_figure(trans: pd.DataFrame) -> go.Figure:
    """Stage transitions as a two-column Sankey (from-stage left, to-stage right).

    Nodes keep the stage order top to bottom; links are coloured by kind (forward / backward /
    to dormant / reactivation). Moves from or to a stage outside the contract (bad data such
    as ``to_stage='limbo'``) are left out, and the title counts them.
    """
    known = trans["from_stage"].isin(lm.STAGE_ORDER) & trans["to_stage"].isin(lm.STAGE_ORDER)
    unknown_moves = int(pd.to_numeric(trans.loc[~known, "moves"], errors="coerce").sum())
    trans = trans[known]
    lefts, left_y = _side(trans, "from_stage")
    rights, right_y = _side(trans, "to_stage")
    left = {s: i for i, s in enumerate(lefts)}
    right = {s: i + len(lefts) for i, s in enumerate(rights)}
    labels = [f"{_label(s)} (from)" for s in lefts] + [f"{_label(s)} (to)" for s in rights]
    colors = [stage_color(s) for s in [*lefts, *rights]]
    xs = [0.001] * len(lefts) + [0.999] * len(rights)
    ys = left_y + right_y
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node=dict(
                label=labels,
                color=colors,
                pad=14,
                thickness=16,
                x=xs,
                y=ys,
                line=dict(color="#444444", width=0.5),
            ),
            # Dark labels with a white halo: legible on pale flows and on dark nodes alike.
            textfont=dict(color="#1F1F1F", size=13, shadow=_("0 0 3px white")),
            link=dict(
                source=[left[s] for s in trans["from_stage"]],
                target=[right[s] for s in trans["to_stage"]],
                value=trans["moves"].tolist(),
                color=[_rgba(KIND_COLORS.get(k, NEUTRAL_COLOR), 0.45) for k in trans["kind"]],
                customdata=trans["kind"].tolist(),
                hovertemplate="%{source.label} → %{target.label}<br>%{value:,} moves"
                " (%{customdata})<extra></extra>",
            ),
        )
    )
    # A legend for link kinds (Sankey has none of its own).
    for kind in lm.KINDS:
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker=dict(size=12, color=KIND_COLORS[kind], symbol="square"),
                name=kind,
                showlegend=True,
            )
        )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(
        legend=dict(orientation="h", yanchor="top", y=-0.02, xanchor="left", x=0.0),
        margin=dict(l=16, r=16, t=48, b=48),
    )
    title = _("Stage transitions in the period")
    if unknown_moves:
        title += _(" ({unknown_moves} moves with an unknown stage not shown)").format(
            unknown_moves=fmt.count(unknown_moves)
        )
    return apply_theme(fig, title=title, height=560)


def campaign_comparison_figure(comp: pd.DataFrame) -> go.Figure:
    """Conversion rate by campaign target stage, personalised vs generic."""
    fig = px.bar(
        comp,
        x="target_stage",
        y="conversion_rate",
        color="approach",
        barmode="group",
        color_discrete_map={"personalised": "#009E73", "generic": NEUTRAL_COLOR},
        category_orders={"target_stage": list(lm.STAGE_ORDER)},
        hover_data={"reached": ":,", "conversions": ":,", "spend": ":$,.0f"},
        labels={
            "target_stage": _("Campaign target stage"),
            "conversion_rate": _("Conversion rate"),
            "approach": "",
        },
    )
    fig.update_yaxes(tickformat=".0%")
    return legend_below(apply_theme(fig, title=_("Campaign conversion by target stage")))
