"""Retention & CLV page widgets: cached loaders and pure figure builders.

Figure builders take the small frames from :mod:`metrics.retention.cohorts` and
:mod:`metrics.retention.channel_clv` and return themed Plotly figures.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from sqlalchemy import Engine

from components.theme import NEUTRAL_COLOR, apply_theme, channel_color
from i18n import N_, _
from metrics import formatting as fmt
from metrics.filters import Filters
from metrics.retention import cohorts
from metrics.retention.clv import CLVSettings

TTL = 600
MIN_CELL_CUSTOMERS = 30
"""Cohorts smaller than this are greyed in the heatmap (too few customers to read a share)."""

LABEL_NAMES = {
    "channel": N_("Acquisition channel"),
    "segment": N_("Segment"),
    "persona": N_("Persona"),
}
"""The dimensions the page breaks down by (English msgids: show them with dimension_name)."""


def dimension_name(dimension: str) -> str:
    """The translated name of a breakdown dimension (``channel`` → ``Acquisition channel``)."""
    return _(LABEL_NAMES[dimension])


def label(value: str) -> str:
    return fmt.label(value)


def _money_hover(axis: str = "x") -> str:
    """A Plotly hover value of money on ``axis`` in the warehouse currency (``$1,234`` /
    ``1.234 ₫``)."""
    return (
        f"%{{{axis}:{fmt.tick_format('money').replace('.2~f', '.0f')}}}{fmt.tick_suffix('money')}"
    )


def _legend_below(fig: go.Figure, height: int = 460) -> None:
    """A horizontal legend under the x-axis title (never over it), with room reserved: about
    75 px below the plot area of a figure ``height`` px tall (legend y is in plot fractions)."""
    fig.update_layout(
        legend={
            "orientation": "h",
            "yanchor": "top",
            "y": -min(0.28, 75 / max(height - 190, 100)),
            "xanchor": "left",
            "x": 0.0,
            "title_text": "",
        },
        margin={"b": 110},
    )


# --- cached loaders ------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def load_cells(
    _engine: Engine,
    url: str,
    filters: Filters,
    start: dt.date,
    grain: str,
    activity: str,
    dimension: str,
) -> pd.DataFrame:
    """Complete cohort × period cells (:func:`metrics.retention.cohorts.cohort_retention`)."""
    return cohorts.cohort_retention(
        _engine, filters, start, filters.end, grain, activity, dimension
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def load_repeat(
    _engine: Engine, url: str, filters: Filters, start: dt.date, dimension: str
) -> pd.DataFrame:
    return cohorts.repeat_purchase(_engine, filters, start, filters.end, dimension)


@st.cache_data(ttl=TTL, show_spinner=False)
def load_channel_clv(
    _engine: Engine,
    url: str,
    filters: Filters,
    start: dt.date,
    settings: CLVSettings,
    by: str = "channel",
) -> pd.DataFrame:
    """:func:`metrics.retention.channel_clv.channel_clv` per acquisition channel or campaign;
    ``dim`` is the readable name (a campaign's: its name and channel)."""
    from metrics.retention.channel_clv import channel_clv

    out = channel_clv(_engine, filters, start, filters.end, settings, by=by)  # type: ignore[arg-type]
    if out.empty:
        return out
    if by == "campaign":
        names = cohorts.campaign_names(_engine)
        out["dim"] = out["dim"].map(
            lambda d: f"{names[d][0]} ({label(names[d][1])})" if d in names else d
        )
    else:
        out["dim"] = out["dim"].map(label)
    return out


@st.cache_data(ttl=TTL, show_spinner=False)
def load_holdout(_engine: Engine, url: str, filters: Filters, holdout_days: int = 182):
    """:func:`metrics.retention.model.holdout_check` on the filtered customers' orders."""
    from metrics.retention.model import holdout_check
    from metrics.retention.summary import order_transactions

    c = cohorts.customers.c
    cond = filters.dimension_condition(
        channel=c.acquisition_channel, segment=c.segment, region=c.region
    )
    return holdout_check(_engine, order_transactions(None, cond), filters.end, holdout_days)


# --- pure helpers and figures --------------------------------------------------------------------


def payback_text(months: float) -> str | None:
    """A payback period for a table: whole months, "> 60" when CAC is not recovered within
    :data:`~metrics.retention.channel_clv.PAYBACK_MAX_MONTHS`, None when there is no figure."""
    from metrics.retention.channel_clv import PAYBACK_MAX_MONTHS

    if months is None or pd.isna(months):
        return None
    if math.isinf(months):
        return f"> {PAYBACK_MAX_MONTHS}"
    return f"{months:.0f}"


def pooled_cells(cells: pd.DataFrame, value: str | None) -> pd.DataFrame:
    """Cells of one dimension value, or summed over all values (``value`` None)."""
    sub = cells if value is None else cells[cells["dim"] == value]
    g = sub.groupby(["cohort", "period"], as_index=False)[["size", "active", "revenue"]].sum()
    g["retention"] = g["active"] / g["size"]
    return g


def cohort_label(cohort: pd.Timestamp, grain: str) -> str:
    return fmt.date(cohort) if grain == "week" else fmt.month(cohort)


def shipped_decisions() -> tuple[tuple[dt.date, str], ...]:
    """(rollout date, experiment id) of every experiment whose current decision is ship; empty
    when the decision log cannot be read (the markers are optional)."""
    from components.context import app_state_store
    from data.app_state.decisions import current_decisions
    from data.app_state.store import AppStateError, DecisionKind

    try:
        current = current_decisions(app_state_store())
    except AppStateError:
        return ()
    return tuple(
        sorted(
            (d.rollout_date or d.recorded_at.date(), d.experiment_id)
            for d in current.values()
            if d.decision == DecisionKind.SHIP
        )
    )


def ship_cells(
    cells: pd.DataFrame, grain: str, ships: tuple[tuple[dt.date, str], ...]
) -> pd.DataFrame:
    """``cohort, period, experiment, date``: the cell of each cohort in which a ship falls."""
    rows = []
    if cells.empty:
        return pd.DataFrame(rows, columns=["cohort", "period", "experiment", "date"])
    last = cells.groupby("cohort")["period"].max()
    for day, experiment in ships:
        ts = pd.Timestamp(day)
        for c, last_k in last.items():
            if grain == "week":
                k = (ts - c).days // 7
            else:
                k = (ts.year - c.year) * 12 + ts.month - c.month
            if 0 <= k <= last_k:
                rows.append((c, int(k), experiment, day))
    return pd.DataFrame(rows, columns=["cohort", "period", "experiment", "date"])


def heatmap_figure(
    cells: pd.DataFrame,
    grain: str,
    min_size: int = MIN_CELL_CUSTOMERS,
    ships: tuple[tuple[dt.date, str], ...] = (),
) -> go.Figure:
    """Cohort (rows, newest at the bottom) × periods since acquisition, coloured by retention.

    Row labels carry the cohort size; cohorts under ``min_size`` customers are drawn grey.
    ``ships`` (date, experiment id) puts a marker in the cell of each cohort in which that
    shipped decision's date falls (a diagonal: the same calendar date at each cohort's age).
    """
    if cells.empty:
        return apply_theme(go.Figure(), title=_("Cohort retention"))
    z = cells.pivot(index="cohort", columns="period", values="retention").sort_index()
    sizes = cells.groupby("cohort")["size"].first().reindex(z.index)
    rows = [f"{cohort_label(c, grain)} · {int(n):,}" for c, n in sizes.items()]
    small = (sizes < min_size).to_numpy()
    zv = z.to_numpy(dtype=float)
    text = np.where(np.isnan(zv), "", np.vectorize(lambda v: f"{v:.0%}")(np.nan_to_num(zv)))
    shown = zv.copy()
    shown[small, :] = np.nan
    grey = np.where(small[:, None] & ~np.isnan(zv), 1.0, np.nan)
    cols = [str(int(p)) for p in z.columns]
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            z=shown,
            x=cols,
            y=rows,
            text=text,
            texttemplate="%{text}",
            textfont={"size": 10},
            colorscale="Blues",
            zmin=0,
            zmax=float(np.nanmax(zv[:, 1:])) if zv.shape[1] > 1 else 1.0,
            colorbar={"title": "Active", "tickformat": ".0%", "thickness": 12},
            hovertemplate="%{y}<br>period %{x}: %{text} active<extra></extra>",
            xgap=1,
            ygap=1,
        )
    )
    if small.any():
        fig.add_trace(
            go.Heatmap(
                z=grey,
                x=cols,
                y=rows,
                text=text,
                texttemplate="%{text}",
                textfont={"size": 10, "color": "#555"},
                colorscale=[[0, "#E6E6E6"], [1, "#E6E6E6"]],
                showscale=False,
                hovertemplate=f"%{{y}}<br>fewer than {min_size} customers<extra></extra>",
                xgap=1,
                ygap=1,
            )
        )
    marks = ship_cells(cells, grain, ships)
    if not marks.empty:
        label_of = dict(zip(sizes.index, rows, strict=True))
        fig.add_trace(
            go.Scatter(
                x=[str(k) for k in marks["period"]],
                y=[label_of[c] for c in marks["cohort"]],
                mode="markers",
                name=_("Experiment shipped"),
                marker={
                    "symbol": "diamond",
                    "size": 7,
                    "color": "#D55E00",
                    "line": {"width": 1, "color": "white"},
                },
                text=[
                    _("{experiment} shipped {date}").format(experiment=e, date=fmt.date(d))
                    for e, d in zip(marks["experiment"], marks["date"], strict=True)
                ],
                hovertemplate="%{text}<extra></extra>",
                showlegend=True,
            )
        )
        fig.update_layout(
            legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1.0, "xanchor": "right"}
        )
    fig.update_xaxes(
        title_text=_("Weeks since acquisition (0 = acquisition week)")
        if grain == "week"
        else _("Months since acquisition (0 = acquisition month)")
    )
    fig.update_yaxes(autorange="reversed", title_text="", type="category")
    return apply_theme(
        fig,
        title=_("Share of each cohort active, by period"),
        height=max(320, 24 * len(rows) + 140),
    )


def _dim_color(dim: str, value: str, i: int) -> str:
    if dim == "channel":
        return channel_color(value)
    palette = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"]
    return palette[i % len(palette)]


def curves_figure(curves: pd.DataFrame, dimension: str, metric: str, grain: str) -> go.Figure:
    """Retention (or churn) by period since acquisition, one line per dimension value."""
    fig = go.Figure()
    for i, (value, sub) in enumerate(curves.groupby("dim", sort=True)):
        sub = sub[sub["period"] > 0].sort_values("period")
        fig.add_trace(
            go.Scatter(
                x=sub["period"],
                y=sub[metric],
                mode="lines+markers",
                name=label(value),
                line={"color": _dim_color(dimension, value, i), "width": 2},
                customdata=sub["customers"],
                hovertemplate=(
                    f"{label(value)}<br>"
                    + _("period %{x}: %{y:.1%} (of %{customdata:,} customers)")
                    + "<extra></extra>"
                ),
            )
        )
    fig.update_xaxes(
        title_text=_("Weeks since acquisition")
        if grain == "week"
        else _("Months since acquisition")
    )
    fig.update_yaxes(
        tickformat=".0%", title_text=_("Retention") if metric == "retention" else _("Churn")
    )
    _legend_below(fig)
    title = (
        _("Retention curve by {lower}") if metric == "retention" else _("Churn curve by {lower}")
    )
    lower = dimension_name(dimension).lower()
    return apply_theme(fig, title=title.format(lower=lower), height=440)


def repeat_figure(repeat: pd.DataFrame, dimension: str) -> go.Figure:
    """Share of acquired customers with a second purchase within 30 / 90 days / by now."""
    r = repeat.sort_values("repeat_rate")
    names = [label(v) for v in r["dim"]]
    fig = go.Figure()
    for col, name, opacity in (
        ("within_30", _("within 30 days"), 1.0),
        ("within_90", _("within 90 days"), 0.65),
        ("repeat_rate", _("by the end date"), 0.35),
    ):
        fig.add_trace(
            go.Bar(
                y=names,
                x=r[col],
                orientation="h",
                name=name,
                marker={"color": "#0072B2", "opacity": opacity},
                hovertemplate="%{y}: %{x:.1%} " + name + "<extra></extra>",
            )
        )
    fig.update_layout(barmode="overlay")
    _legend_below(fig)
    fig.update_xaxes(tickformat=".0%", title_text=_("Customers with a second purchase"))
    return apply_theme(
        fig,
        title=_("Repeat purchase by {lower}").format(lower=dimension_name(dimension).lower()),
        height=420,
    )


def clv_figure(clv: pd.DataFrame, by: str = "channel") -> go.Figure:
    """Predicted CLV of a new customer (with its 90% interval) next to the historical value;
    ``dim`` holds display names."""
    c = clv.dropna(subset=["predicted_clv"]).sort_values("predicted_clv")
    names = list(c["dim"])
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            y=names,
            x=c["predicted_clv"],
            orientation="h",
            name=_("Predicted CLV (new customer)"),
            marker={"color": "#0072B2"},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": c["predicted_clv_high"] - c["predicted_clv"],
                "arrayminus": c["predicted_clv"] - c["predicted_clv_low"],
                "color": "#333",
            },
            hovertemplate="%{y}: " + _money_hover() + " " + _("predicted") + "<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            y=names,
            x=c["historical_value"],
            mode="markers",
            name=_("Historical value (same months)"),
            marker={"color": NEUTRAL_COLOR, "symbol": "diamond", "size": 10},
            hovertemplate="%{y}: " + _money_hover() + " " + _("historical") + "<extra></extra>",
        )
    )
    cac = c.dropna(subset=["cac"])
    if not cac.empty:
        fig.add_trace(
            go.Scatter(
                y=list(cac["dim"]),
                x=cac["cac"],
                mode="markers",
                name=_("CAC (per paying customer)"),
                marker={
                    "color": "#D55E00",
                    "symbol": "line-ns-open",
                    "size": 16,
                    "line": {"width": 3},
                },
                hovertemplate="%{y}: CAC " + _money_hover() + "<extra></extra>",
            )
        )
    fig.update_xaxes(
        tickformat=fmt.tick_format("money"),
        ticksuffix=fmt.tick_suffix("money"),
        title_text=_("{currency} per customer").format(currency=fmt.warehouse_currency()),
    )
    height = max(460, 180 + 26 * len(names))  # one readable bar per channel or campaign
    _legend_below(fig, height)
    title = (
        _("Customer value by acquisition campaign")
        if by == "campaign"
        else _("Customer value by acquisition channel")
    )
    return apply_theme(fig, title=title, height=height)
