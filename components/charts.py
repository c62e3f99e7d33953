"""Shared pure figure builders (line, bar, sparkline): data in, themed Plotly figure out.

No Streamlit here: pages draw the returned figures with ``st.plotly_chart``. Colours come from
:mod:`components.theme`; axis formats from the KPI unit (:func:`unit_format`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from components.theme import VARIANT_COLORS, apply_theme
from metrics.formatting import tick_format
from metrics.marketing.kpis import Unit

MUTED_COLOR = "#D9D9D9"
"""Bars outside ``highlight`` (lighter than any channel colour, incl. direct's grey)."""


def unit_format(unit: Unit | str | None) -> str | None:
    """A d3 number format for a KPI unit (``metrics.formatting.tick_format``)."""
    if unit is None:
        return None
    return tick_format(str(Unit(unit)))


def _label(value: object) -> str:
    return str(value).replace("_", " ")


def line_chart(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    title: str | None = None,
    color: str | None = None,
    color_map: Mapping[str, str] | None = None,
    y_title: str | None = None,
    unit: Unit | str | None = None,
    height: int = 320,
) -> go.Figure:
    """One line per value of ``color`` (or a single line), x usually a period start."""
    fig = go.Figure()
    groups = [(None, df)] if color is None else list(df.groupby(color, sort=True, dropna=False))
    for i, (name, part) in enumerate(groups):
        line_color = (color_map or {}).get(str(name), VARIANT_COLORS[i % len(VARIANT_COLORS)])
        fig.add_trace(
            go.Scatter(
                x=part[x],
                y=part[y],
                mode="lines+markers",
                name=_label(name) if name is not None else (y_title or y),
                line=dict(color=line_color, width=2),
                marker=dict(size=5),
            )
        )
    apply_theme(fig, title=title, height=height)
    fig.update_yaxes(
        title_text=y_title or _label(y), tickformat=unit_format(unit), rangemode="tozero"
    )
    fig.update_xaxes(title_text=None)
    fig.update_layout(showlegend=color is not None)
    return fig


def bar_chart(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    title: str | None = None,
    color_map: Mapping[str, str] | None = None,
    highlight: Sequence[str] | None = None,
    y_title: str | None = None,
    unit: Unit | str | None = None,
    horizontal: bool = False,
    height: int = 300,
) -> go.Figure:
    """Bars per category ``x`` with value ``y``, coloured by ``color_map`` (category → colour).

    ``highlight``: categories drawn in full colour, the rest grey (e.g. brand channels).
    Values are printed on the bars in the unit's format.
    """
    cats = [str(v) for v in df[x]]
    colors = [(color_map or {}).get(c, VARIANT_COLORS[0]) for c in cats]
    if highlight is not None:
        keep = {str(h) for h in highlight}
        colors = [col if c in keep else MUTED_COLOR for c, col in zip(cats, colors, strict=True)]
    fmt = unit_format(unit)
    labels = [_label(c) for c in cats]
    bar = go.Bar(
        x=df[y] if horizontal else labels,
        y=labels if horizontal else df[y],
        orientation="h" if horizontal else "v",
        marker_color=colors,
        texttemplate=f"%{{{'x' if horizontal else 'y'}:{fmt}}}" if fmt else None,
        textposition="outside",
        textfont=dict(size=12),
        cliponaxis=False,
        hovertemplate=f"%{{{'y' if horizontal else 'x'}}}: %{{{'x' if horizontal else 'y'}"
        + (f":{fmt}" if fmt else "")
        + "}<extra></extra>",
    )
    fig = go.Figure(bar)
    apply_theme(fig, title=title, height=height)
    value_axis: dict = dict(title_text=y_title or _label(y), tickformat=fmt)
    values = pd.to_numeric(df[y], errors="coerce")
    if len(values.dropna()) and values.min() >= 0 and values.max() > 0:
        value_axis["range"] = [0, float(values.max()) * 1.18]  # room for the outside labels
    if horizontal:
        fig.update_xaxes(**value_axis)
        fig.update_yaxes(title_text=None, autorange="reversed")
    else:
        fig.update_yaxes(**value_axis)
        fig.update_xaxes(title_text=None)
    fig.update_layout(showlegend=False)
    return fig


def sparkline(
    values: Sequence[float], *, color: str = VARIANT_COLORS[0], height: int = 60
) -> go.Figure:
    """A tiny axis-free trend line (NaN gaps kept)."""
    fig = go.Figure(
        go.Scatter(
            y=list(values),
            mode="lines",
            line=dict(color=color, width=2),
            hoverinfo="skip",
            connectgaps=False,
        )
    )
    apply_theme(fig, height=height)
    fig.update_layout(margin=dict(l=0, r=0, t=0, b=0), showlegend=False)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig
