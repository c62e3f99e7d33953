"""Pure Plotly figure builders for experiment results (no Streamlit).

- ``forest_plot``: one row per metric × variant, lift with its interval, a zero line, coloured by
  direction (good / bad / inconclusive).
- ``cumulative_effect_chart``: relative lift and interval by day since the start.
- ``traffic_split_chart``: units per variant per day and each variant's daily share against the
  designed share.
Colours come from ``components.theme``.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from components.theme import (
    BAD_COLOR,
    GOOD_COLOR,
    NEUTRAL_COLOR,
    apply_theme,
    variant_colors,
)
from i18n import _

DIRECTION_COLORS: dict[str, str] = {
    "better": GOOD_COLOR,
    "worse": BAD_COLOR,
    "inconclusive": NEUTRAL_COLOR,
}
DIRECTION_LABELS: dict[str, str] = {
    "better": "significantly better",
    "worse": "significantly worse",
    "inconclusive": "inconclusive",
}
ROLE_LABELS = {"primary": "Primary", "secondary": "Secondary", "guardrail": "Guardrail"}


def _clip(values: pd.Series, bound: float) -> pd.Series:
    """Infinite interval ends (one-sided tests) drawn at ±bound."""
    return values.replace([math.inf, -math.inf], [bound, -bound])


def forest_plot(
    rows: pd.DataFrame, *, relative: bool = True, title: str | None = None
) -> go.Figure:
    """Forest plot of ``metric_rows`` output (columns role, label, kind, variant, lift, ci_low,
    ci_high, direction, lift_text).

    Relative lifts share one x axis (percent of control); absolute lifts get one panel per
    metric because their units differ. Rows without a finite lift are listed with 'n/a'.
    """
    data = rows.reset_index(drop=True)
    labels = [
        f"{ROLE_LABELS.get(r.role, r.role)} · {r.label} · {r.variant}" for r in data.itertuples()
    ]
    data = data.assign(y=labels)
    groups = [list(g.index) for _key, g in data.groupby("metric", sort=False)] if len(data) else []
    panels = groups if not relative and len(groups) > 1 else [list(data.index)]
    fig = make_subplots(
        rows=max(len(panels), 1),
        cols=1,
        shared_xaxes=False,
        vertical_spacing=0.08 if len(panels) > 1 else 0.02,
        row_heights=[max(len(p), 1) for p in panels] or [1],
    )
    shown: set[str] = set()
    for i, idx in enumerate(panels, start=1):
        part = data.loc[idx]
        finite = part[part["lift"].map(lambda v: isinstance(v, float) and math.isfinite(v))]
        bound = 1.0
        if not finite.empty:
            ends = pd.concat([finite["ci_low"], finite["ci_high"], finite["lift"]])
            ends = ends[ends.map(math.isfinite)]
            bound = float(ends.abs().max() * 1.5) if not ends.empty else 1.0
        for direction, color in DIRECTION_COLORS.items():
            sub = finite[finite["direction"] == direction]
            if sub.empty:
                continue
            lo, hi = _clip(sub["ci_low"], bound), _clip(sub["ci_high"], bound)
            fig.add_trace(
                go.Scatter(
                    x=sub["lift"],
                    y=sub["y"],
                    mode="markers",
                    marker=dict(color=color, size=11, symbol="diamond"),
                    error_x=dict(
                        type="data",
                        symmetric=False,
                        array=hi - sub["lift"],
                        arrayminus=sub["lift"] - lo,
                        color=color,
                        thickness=2.5,
                        width=6,
                    ),
                    name=DIRECTION_LABELS[direction],
                    legendgroup=direction,
                    showlegend=direction not in shown,
                    customdata=sub[["lift_text"]],
                    hovertemplate="%{y}<br>%{customdata[0]}<extra></extra>",
                ),
                row=i,
                col=1,
            )
            shown.add(direction)
        missing = part.drop(finite.index)
        if not missing.empty:
            fig.add_trace(
                go.Scatter(
                    x=[0.0] * len(missing),
                    y=missing["y"],
                    mode="text",
                    text=["n/a"] * len(missing),
                    textposition=_("middle right"),
                    showlegend=False,
                    hoverinfo="skip",
                ),
                row=i,
                col=1,
            )
        fig.add_vline(x=0, line=dict(color="#444444", width=1, dash="dash"), row=i, col=1)
        kind = str(part["kind"].iloc[0]) if len(part) else ""
        if relative:
            fig.update_xaxes(tickformat="+.0%", row=i, col=1)
        elif kind == "binomial":
            fig.update_xaxes(tickformat="+.1%", row=i, col=1)
        fig.update_yaxes(
            categoryorder="array",
            categoryarray=list(part["y"]),
            autorange="reversed",
            automargin=True,
            row=i,
            col=1,
        )
    axis_title = _("relative lift (treatment ÷ control − 1)") if relative else _("absolute lift")
    fig.update_xaxes(title_text=axis_title, row=len(panels), col=1)
    fig.update_xaxes(showgrid=True, gridcolor="#EEEEEE", zeroline=False)
    height = 110 + 46 * len(data) + (40 * (len(panels) - 1))
    apply_theme(fig, title=title, height=max(height, 220))
    fig.update_layout(margin=dict(l=8, r=24, t=64 if title else 40, b=48))
    return fig


def cumulative_effect_chart(
    series: pd.DataFrame, *, control: str, variants: list[str], title: str | None = None
) -> go.Figure:
    """Relative lift with its interval band by ``day_number`` (``cumulative_effect`` output)."""
    colors = variant_colors([control, *variants], control)
    fig = go.Figure()
    for variant in variants:
        part = series[series["variant"] == variant].sort_values("day_number")
        if part.empty:
            continue
        color = colors[variant]
        band = part.dropna(subset=["ci_low", "ci_high"])
        band = band[band["ci_low"].map(math.isfinite) & band["ci_high"].map(math.isfinite)]
        fig.add_trace(
            go.Scatter(
                x=pd.concat([band["day_number"], band["day_number"][::-1]]),
                y=pd.concat([band["ci_high"], band["ci_low"][::-1]]),
                fill="toself",
                fillcolor=_alpha(color, 0.18),
                line=dict(width=0),
                hoverinfo="skip",
                name=f"{variant} interval",
                showlegend=False,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=part["day_number"],
                y=part["relative_lift"],
                mode="lines",
                line=dict(color=color, width=2.5),
                name=f"{variant} vs {control}",
                customdata=part[["ci_low", "ci_high", "treatment_units", "control_units"]],
                hovertemplate=(
                    "day %{x}: %{y:+.1%} [%{customdata[0]:+.1%}, %{customdata[1]:+.1%}]"
                    "<br>units %{customdata[2]:,} vs %{customdata[3]:,}<extra></extra>"
                ),
            )
        )
    fig.add_hline(y=0, line=dict(color="#444444", width=1, dash="dash"))
    y_range = settled_range(series)
    fig.update_yaxes(tickformat="+.0%", title_text=_("relative lift (cumulative)"), range=y_range)
    fig.update_xaxes(title_text=_("days since start"))
    apply_theme(fig, title=title, height=360)
    fig.update_layout(legend=_BOTTOM_LEGEND, margin=dict(b=90))
    return fig


_BOTTOM_LEGEND = dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0.0)


def settled_range(series: pd.DataFrame, *, settle: float = 0.2) -> list[float] | None:
    """A y range that fits the intervals once every arm has ``settle`` of its final units.

    The first days' intervals are huge (a handful of units); fitting them would flatten the
    rest. Earlier points are still drawn, clipped at the range. None: let Plotly decide.
    """
    if series.empty or "treatment_units" not in series:
        return None
    final = series.groupby("variant")["treatment_units"].transform("max")
    late = series[(series["treatment_units"] >= settle * final) & series["ci_low"].notna()]
    values = pd.concat([late["ci_low"], late["ci_high"], late["relative_lift"]])
    values = values[values.map(lambda v: math.isfinite(v))]
    if values.empty:
        return None
    lo, hi = min(float(values.min()), 0.0), max(float(values.max()), 0.0)
    pad = 0.1 * (hi - lo or 1.0)
    return [lo - pad, hi + pad]


def traffic_split_chart(
    split: pd.DataFrame, *, control: str, title: str | None = None
) -> go.Figure:
    """Two panels: units per variant per day (bars), and each variant's share of the day's
    units (lines) with its designed share (dashed) — ``traffic_split`` output."""
    variants = list(dict.fromkeys(split["variant"])) if not split.empty else []
    colors = variant_colors(variants, control if control in variants else None)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.1,
        row_heights=[0.55, 0.45],
        subplot_titles=(_("units assigned per day"), _("share of the day's units")),
    )
    for variant in variants:
        part = split[split["variant"] == variant]
        color = colors.get(variant, NEUTRAL_COLOR)
        fig.add_trace(
            go.Bar(
                x=part["day"],
                y=part["units"],
                name=variant,
                marker_color=color,
                legendgroup=variant,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=part["day"],
                y=part["share"],
                mode="lines",
                line=dict(color=color, width=1.5),
                name=f"{variant} share",
                legendgroup=variant,
                showlegend=False,
            ),
            row=2,
            col=1,
        )
        expected = part["expected_share"].dropna()
        if not expected.empty:
            fig.add_hline(
                y=float(expected.iloc[0]),
                line=dict(color=color, width=2, dash="dash"),
                row=2,
                col=1,
            )
    fig.update_layout(barmode="group", bargap=0.1)
    fig.update_xaxes(tickformat="%d %b", row=2, col=1)
    fig.update_yaxes(title_text="units", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", title_text="share", rangemode="tozero", row=2, col=1)
    fig = apply_theme(fig, title=title, height=440)
    fig.update_annotations(font_size=12)
    fig.update_layout(legend=dict(_BOTTOM_LEGEND, y=-0.16), margin=dict(b=100))
    return fig


def _alpha(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"
