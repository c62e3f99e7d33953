"""Tailor page, persona × lifecycle-stage grid: cached loaders and a pure heatmap builder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from sqlalchemy import Engine

from components.theme import apply_theme
from i18n import N_, _
from metrics import formatting as fmt
from metrics.filters import Filters
from metrics.small_samples import MIN_UNITS, TOO_SMALL
from metrics.tailor import grid

TTL = 600
GREY = "#E6E6E6"

MEASURES: dict[str, str] = {
    "customers": N_("Customers"),
    "conversion": N_("Conversion to next stage"),
    "revenue_per_customer": N_("Revenue per customer"),
    "nps": N_("NPS"),
}
"""Grid measures the page can colour by: column → label."""

_SMALL_FLAG = {
    "customers": "customers_small",
    "conversion": "conversion_small",
    "revenue_per_customer": "customers_small",
    "nps": "nps_small",
}


@st.cache_data(ttl=TTL, show_spinner=False)
def load_grid(_engine: Engine, url: str, filters: Filters) -> pd.DataFrame:
    """:func:`metrics.tailor.grid.persona_stage_grid` (cached per warehouse and filters)."""
    return grid.persona_stage_grid(_engine, filters)


@st.cache_data(ttl=TTL, show_spinner=False)
def load_cell(
    _engine: Engine, url: str, filters: Filters, persona: str, stage: str
) -> pd.DataFrame:
    """:func:`metrics.tailor.grid.cell_customers` (cached)."""
    return grid.cell_customers(_engine, filters, persona, stage)


def _short_too_small() -> str:
    """ "n too small" broken over two lines (fits a grid cell on a phone)."""
    head, _sep, tail = _(TOO_SMALL).rpartition(" ")
    return f"{head}<br>{tail}" if head else tail


def cell_text(row: pd.Series, measure: str) -> str:
    """The text a grid cell shows: the formatted value, "n too small" or empty."""
    value = row[measure]
    if measure != "customers" and bool(row[_SMALL_FLAG[measure]]):
        return _short_too_small()
    if measure == "customers" and bool(row["customers_small"]):
        return f"{fmt.count(value)}<br>{_short_too_small()}"
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if measure == "customers":
        return fmt.count(value)
    if measure == "conversion":
        return fmt.percent(value)
    if measure == "revenue_per_customer":
        return fmt.money_compact(value)
    return fmt.score(value)


def shown_values(cells: pd.DataFrame, measure: str) -> pd.Series:
    """The measure with greyed (too small) cells blanked: what the colour scale shows."""
    values = pd.to_numeric(cells[measure], errors="coerce").astype(float)
    return values.where(~cells[_SMALL_FLAG[measure]].astype(bool))


def grid_figure(cells: pd.DataFrame, measure: str) -> go.Figure:
    """Personas (rows) × stages (columns, funnel order) coloured by ``measure``; cells resting
    on fewer than ``MIN_UNITS`` units are grey and read "n too small"."""
    title = _(MEASURES[measure])
    if cells.empty:
        return apply_theme(go.Figure(), title=title)
    stages = [s for s in grid.STAGE_ORDER if s in set(cells["stage"])]
    stages += sorted(set(cells["stage"]) - set(stages))
    personas = sorted(cells["persona"].unique())
    idx = pd.MultiIndex.from_product([personas, stages], names=["persona", "stage"])
    framed = cells.set_index(["persona", "stage"]).reindex(idx)
    present = framed["customers"].notna().to_numpy()
    filled = framed.reset_index()
    filled[["customers_small", "nps_small", "conversion_small"]] = (
        filled[["customers_small", "nps_small", "conversion_small"]].fillna(False).astype(bool)
    )
    values = shown_values(filled, measure).to_numpy().reshape(len(personas), len(stages))
    small = filled[_SMALL_FLAG[measure]].to_numpy(dtype=bool) & present
    small = small.reshape(len(personas), len(stages))
    text = np.array(
        [
            cell_text(r, measure) if ok else ""
            for ok, (_i, r) in zip(present, filled.iterrows(), strict=True)
        ],
        dtype=object,
    ).reshape(len(personas), len(stages))
    x = [fmt.label(s) for s in stages]
    y = [fmt.label(p) for p in personas]
    fig = go.Figure()
    scale = "RdYlGn" if measure == "nps" else "Greens"
    fig.add_trace(
        go.Heatmap(
            z=values,
            x=x,
            y=y,
            text=text,
            texttemplate="%{text}",
            textfont={"size": 11},
            colorscale=scale,
            zmid=0 if measure == "nps" else None,
            colorbar={"thickness": 12, "title": ""},
            hovertemplate="%{y} · %{x}<br>%{text}<extra></extra>",
            xgap=2,
            ygap=2,
        )
    )
    if small.any():
        fig.add_trace(
            go.Heatmap(
                z=np.where(small, 1.0, np.nan),
                x=x,
                y=y,
                text=text,
                texttemplate="%{text}",
                textfont={"size": 10, "color": "#555"},
                colorscale=[[0, GREY], [1, GREY]],
                showscale=False,
                hovertemplate="%{y} · %{x}<br>"
                + _("fewer than {n} units").format(n=MIN_UNITS)
                + "<extra></extra>",
                xgap=2,
                ygap=2,
            )
        )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return apply_theme(fig, title=title, height=120 + 48 * len(personas))
