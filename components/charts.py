"""Shared pure figure builders (line, bar, sparkline): data in, themed Plotly figure out.

No Streamlit here: pages draw the returned figures with ``st.plotly_chart``. Colours come from
:mod:`components.theme`; axis formats from the KPI unit (:func:`unit_format`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from components.theme import VARIANT_COLORS, apply_theme
from metrics.formatting import label as readable_label
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
    """A category or column name as shown: ``paid_social`` → ``Paid social``."""
    return readable_label(value)


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


BAND_FILL = "rgba(0, 114, 178, 0.15)"


def band_chart(
    band: pd.DataFrame,
    *,
    y_title: str,
    unit: Unit | str | None = None,
    history: pd.Series | None = None,
    names: Mapping[str, str] | None = None,
    height: int = 340,
) -> go.Figure:
    """A KPI series with its expected band (``metrics.anomaly.detector.band``: ``actual,
    expected, lower, upper, anomaly`` indexed by bucket start); points outside it are marked.
    ``history``: earlier values drawn as a plain line before the band; ``names``: legend
    labels for ``band``, ``expected``, ``actual`` and ``anomaly`` (already translated)."""
    from components.theme import BAD_COLOR, NEUTRAL_COLOR

    label = {"band": "Expected range", "expected": "Expected", "actual": "Actual",
             "anomaly": "Outside the range", **(names or {})}  # fmt: skip
    x = list(band.index)
    fig = go.Figure()
    if history is not None and not history.empty:
        fig.add_trace(
            go.Scatter(
                x=list(history.index),
                y=history.to_numpy(),
                mode="lines",
                line=dict(color=NEUTRAL_COLOR, width=1.5),
                showlegend=False,
                hoverinfo="skip",
            )  # fmt: skip
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=band["upper"],
            mode="lines",
            line=dict(width=0),
            showlegend=False,
            hoverinfo="skip",
        )  # fmt: skip
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=band["lower"],
            mode="lines",
            line=dict(width=0),
            fill="tonexty",
            fillcolor=BAND_FILL,
            name=label["band"],
            hoverinfo="skip",
        )  # fmt: skip
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=band["expected"],
            mode="lines",
            name=label["expected"],
            line=dict(color=VARIANT_COLORS[0], width=1, dash="dot"),
        )  # fmt: skip
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=band["actual"],
            mode="lines+markers",
            name=label["actual"],
            line=dict(color="#222222", width=2),
            marker=dict(size=4),
        )  # fmt: skip
    )
    out = band[band["anomaly"].astype(bool)]
    fig.add_trace(
        go.Scatter(
            x=list(out.index),
            y=out["actual"],
            mode="markers",
            name=label["anomaly"],
            marker=dict(color=BAD_COLOR, size=11, symbol="circle-open", line=dict(width=3)),
        )  # fmt: skip
    )
    apply_theme(fig, height=height)
    fig.update_yaxes(title_text=y_title, tickformat=unit_format(unit), rangemode="tozero")
    fig.update_xaxes(title_text=None)
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig
