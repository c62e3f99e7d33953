"""Planner widgets: the trade-off figures (pure builders) and cached warehouse baselines."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from sqlalchemy import Engine

from components.theme import BAD_COLOR, NEUTRAL_COLOR, VARIANT_COLORS, apply_theme
from i18n import _
from metrics import formatting as fmt
from metrics.experiments import planner
from metrics.filters import Filters

TTL = 600
LINE_COLOR = VARIANT_COLORS[0]


def _mark(fig: go.Figure, x: float | None, y: float | None, text: str) -> None:
    if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
        return
    fig.add_trace(
        go.Scatter(
            x=[x],
            y=[y],
            mode="markers+text",
            marker=dict(color=BAD_COLOR, size=12, symbol="diamond"),
            text=[text],
            textposition=_("bottom right"),
            name=_("your plan"),
            hovertemplate=f"{text}<extra></extra>",
        )
    )


def mde_figure(curve: pd.DataFrame, plan_days: int | None, mde: float) -> go.Figure:
    """Smallest detectable relative effect vs days of traffic; the chosen plan marked."""
    data = curve.dropna(subset=["mde"])
    fig = go.Figure(
        go.Scatter(
            x=data["days"],
            y=data["mde"],
            mode="lines",
            line=dict(color=LINE_COLOR, width=2),
            name=_("MDE at target power"),
            customdata=data["units_per_variant"],
            hovertemplate="%{x} days · %{customdata:,.0f} per control arm<br>"
            "MDE %{y:.1%}<extra></extra>",
        )
    )
    _mark(
        fig,
        plan_days,
        mde,
        _("{mde} in {days}").format(mde=fmt.percent(mde), days=fmt.days(plan_days)),
    )
    top = float(data["mde"].max()) if len(data) else 1.0
    fig.update_xaxes(title_text=_("days of traffic"), rangemode="tozero")
    fig.update_yaxes(
        title_text=_("minimum detectable effect (relative)"),
        tickformat=".0%",
        range=[0, min(top, 4 * abs(mde)) * 1.05],
    )
    fig.update_layout(showlegend=False)
    return apply_theme(fig, title=_("MDE vs duration (smallest effect detectable)"), height=340)


def power_figure(curve: pd.DataFrame, plan_days: int | None, target: float) -> go.Figure:
    """Power to detect the chosen MDE vs days of traffic; the target power dashed."""
    data = curve.dropna(subset=["power"])
    fig = go.Figure(
        go.Scatter(
            x=data["days"],
            y=data["power"],
            mode="lines",
            line=dict(color=LINE_COLOR, width=2),
            name="power",
            customdata=data["units_per_variant"],
            hovertemplate="%{x} days · %{customdata:,.0f} per control arm<br>"
            "power %{y:.0%}<extra></extra>",
        )
    )
    fig.add_hline(y=target, line=dict(color=NEUTRAL_COLOR, dash="dash", width=1))
    _mark(fig, plan_days, target, f"{target:.0%} at {plan_days} d")
    fig.update_xaxes(title_text=_("days of traffic"), rangemode="tozero")
    fig.update_yaxes(title_text=_("power for your MDE"), tickformat=".0%", range=[0, 1.02])
    fig.update_layout(showlegend=False)
    return apply_theme(fig, title=_("Power vs duration (for your MDE)"), height=340)


@st.cache_data(ttl=TTL, show_spinner=False)
def cached_baseline(_engine: Engine, url: str, name: str, filters: Filters) -> planner.Baseline:
    """``metrics.experiments.planner.fetch_baseline``, cached on the warehouse URL and filters."""
    return planner.fetch_baseline(_engine, name, filters)


@st.cache_data(ttl=TTL, show_spinner=False)
def cached_daily_traffic(_engine: Engine, url: str, filters: Filters) -> float:
    """``metrics.experiments.planner.fetch_daily_traffic`` (new customers per day), cached."""
    return planner.fetch_daily_traffic(_engine, filters)
