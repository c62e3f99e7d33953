"""Evolve page widgets: the app-state store (cached per URL), cached warehouse reads and the
pure figure builders (velocity, cumulative estimated impact, realised vs estimated impact)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from components.context import app_state_store
from components.theme import (
    GOOD_COLOR,
    LOOP_COLORS,
    NEUTRAL_COLOR,
    VARIANT_COLORS,
    apply_theme,
)
from data.app_state.store import AppStateError
from data.schema import LoopStage
from i18n import _
from metrics.experiments import evolve
from metrics.experiments.evolve import EvolveSummary, evolve_summary
from metrics.filters import Filters
from metrics.marketing.kpis import KPIS, format_value

TTL = 600
EVOLVE_COLOR = LOOP_COLORS[LoopStage.EVOLVE]


# --- data -------------------------------------------------------------------------------------


def evolve_summary_or_none(engine: Engine) -> EvolveSummary | None:
    """The Evolve headline numbers, or None when the decision log cannot be opened or read
    (the overview then grades the pipeline only). Not cached: the log changes as people decide.
    """
    try:
        return evolve_summary(engine, app_state_store())
    except (AppStateError, SQLAlchemyError):
        return None


@st.cache_data(ttl=TTL, show_spinner=False)
def cached_experiments(_engine: Engine, url: str) -> pd.DataFrame:
    return evolve.fetch_experiments(_engine)


@st.cache_data(ttl=TTL, show_spinner=False)
def cached_velocity(_engine: Engine, url: str, filters: Filters | None) -> pd.DataFrame:
    return evolve.fetch_velocity(_engine, filters)


# --- figures (pure) ---------------------------------------------------------------------------


def velocity_figure(df: pd.DataFrame) -> go.Figure:
    """Experiments started and concluded per month (grouped bars)."""
    fig = go.Figure()
    for col, color, name in (
        ("started", EVOLVE_COLOR, "started"),
        ("concluded", NEUTRAL_COLOR, "concluded"),
    ):
        fig.add_trace(
            go.Bar(
                x=df["month"],
                y=df[col],
                name=name,
                marker_color=color,
                hovertemplate=f"%{{x|%b %Y}}: %{{y}} {name}<extra></extra>",
            )
        )
    fig.update_layout(barmode="group", bargap=0.25, margin_t=84)
    fig.update_xaxes(tickformat="%b %Y", dtick="M1")
    fig.update_yaxes(title_text="experiments", rangemode="tozero", dtick=1)
    return apply_theme(fig, title=_("Experiment velocity (per month)"), height=320)


def impact_figure(df: pd.DataFrame) -> go.Figure:
    """Running sum of the shipped experiments' estimated relative lifts (a step line)."""
    fig = go.Figure(
        go.Scatter(
            x=df["date"],
            y=df["cumulative"],
            mode="lines+markers",
            line=dict(shape="hv", color=EVOLVE_COLOR, width=2),
            marker=dict(size=9),
            name=_("cumulative estimate"),
            customdata=df[["experiment_id", "target_kpi", "expected_impact"]],
            hovertemplate="%{x|%d %b %Y} · %{customdata[0]}<br>%{customdata[1]} "
            "estimate %{customdata[2]:+.1%}<br>running sum %{y:+.1%}<extra></extra>",
        )
    )
    fig.update_yaxes(
        title_text=_("Σ estimated relative lift"), tickformat="+.0%", rangemode="tozero"
    )
    return apply_theme(
        fig, title=_("Cumulative estimated impact of shipped changes (experiments' estimates)")
    )


def realised_figure(df: pd.DataFrame) -> go.Figure:
    """Observed before→after change of the target KPI beside the experiment's estimate."""
    labels = df["experiment"] + "<br>" + df["target_kpi"]
    fig = go.Figure()
    for col, color, name in (
        ("estimated_impact", VARIANT_COLORS[0], _("experiment's estimate")),
        ("observed_change", GOOD_COLOR, _("observed before → after (not causal)")),
    ):
        fig.add_trace(
            go.Bar(
                y=labels,
                x=df[col],
                name=name,
                orientation="h",
                marker_color=color,
                hovertemplate="%{y}<br>" + name + ": %{x:+.1%}<extra></extra>",
            )
        )
    fig.update_layout(barmode="group", margin_t=84, margin_l=260)
    fig.update_xaxes(title_text=_("relative change"), tickformat="+.0%", zeroline=True)
    fig.update_yaxes(autorange="reversed")
    return apply_theme(
        fig, title=_("Realised vs estimated impact"), height=max(260, 110 + 70 * len(df))
    )


def realised_display(table: pd.DataFrame) -> pd.DataFrame:
    """The realised-impact table for the screen: values formatted in the KPI's unit."""
    shown = table.drop(columns=["experiment_id"]).copy()
    for col in ("before", "after"):
        shown[col] = [
            format_value(KPIS[k], v) if k in KPIS and v is not None and pd.notna(v) else "–"
            for k, v in zip(table["kpi"], table[col], strict=True)
        ]
    return shown.drop(columns=["kpi"])
