"""Transition graph of the Markov attribution chain (pure figure builder, no Streamlit).

Drawn as a one-step Sankey: every state on the left (START and the channels, "from") flows to
the states it leads to on the right (channels, conversion, no conversion, "to"); a link's width
is the number of path transitions and its hover gives the transition probability. The chain
has loops (email → search → email), which a one-step layout shows without crossing back.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from components.theme import GOOD_COLOR, NEUTRAL_COLOR, apply_theme, channel_color
from i18n import _
from metrics import formatting as fmt
from metrics.marketing import markov as mk

START_COLOR = "#444444"


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _name(state: str) -> str:
    return {
        mk.START: _("Start"),
        mk.CONVERSION: _("Order"),
        mk.NULL: _("No order"),
    }.get(state, fmt.label(state))


def _color(state: str) -> str:
    return {mk.START: START_COLOR, mk.CONVERSION: GOOD_COLOR, mk.NULL: NEUTRAL_COLOR}.get(
        state, channel_color(state)
    )


def _stack(sizes: list[float], gap: float = 0.02) -> list[float]:
    """Node centres (0 = top) for nodes stacked in order, proportional to their flow."""
    total = float(sum(sizes)) or 1.0
    room = max(0.0, 1.0 - gap * (len(sizes) - 1))
    centres, top = [], 0.0
    for size in sizes:
        h = room * size / total
        centres.append(min(0.999, max(0.001, top + h / 2)))
        top += h + gap
    return centres


def transition_figure(edges: pd.DataFrame, *, min_probability: float = 0.0) -> go.Figure:
    """Sankey of ``edges`` (:func:`metrics.marketing.markov.transitions`: ``source``,
    ``target``, ``count``, ``probability``); links under ``min_probability`` are left out."""
    shown = edges[edges["probability"] >= min_probability]
    out_flow = shown.groupby("source")["count"].sum()
    in_flow = shown.groupby("target")["count"].sum()
    channels = sorted(
        (set(shown["source"]) | set(shown["target"])) - {mk.START, mk.CONVERSION, mk.NULL},
        key=lambda c: (-out_flow.get(c, 0.0), c),
    )
    left = [s for s in [mk.START, *channels] if s in out_flow.index]
    right = [s for s in [*channels, mk.CONVERSION, mk.NULL] if s in in_flow.index]
    nodes = left + right
    li = {s: i for i, s in enumerate(left)}
    ri = {s: len(left) + i for i, s in enumerate(right)}
    hover = [
        _("{source} → {target}: {probability} of transitions out of {source} ({count})").format(
            source=_name(a),
            target=_name(b),
            probability=fmt.percent(p),
            count=fmt.count(c),
        )
        for a, b, c, p in shown[["source", "target", "count", "probability"]].itertuples(
            index=False, name=None
        )
    ]
    fig = go.Figure(
        go.Sankey(
            arrangement="fixed",  # same channel order on both sides: loops read across
            node={
                "label": [_name(s) for s in nodes],
                "x": [0.001] * len(left) + [0.999] * len(right),
                "y": _stack([out_flow[s] for s in left]) + _stack([in_flow[s] for s in right]),
                "color": [_color(s) for s in nodes],
                "pad": 14,
                "thickness": 16,
                "hovertemplate": "%{label}<extra></extra>",
            },
            link={
                "source": [li[a] for a in shown["source"]],
                "target": [ri[b] for b in shown["target"]],
                "value": list(shown["count"].astype(float)),
                "color": [_rgba(_color(a), 0.35) for a in shown["source"]],
                "customdata": hover,
                "hovertemplate": "%{customdata}<extra></extra>",
            },
        )
    )
    fig.update_layout(margin={"l": 8, "r": 8, "t": 48, "b": 8})
    fig.update_traces(textfont={"size": 12, "color": "#222222", "shadow": "none"})
    height = max(420, 40 * max(len(left), len(right)))
    return apply_theme(fig, title=_("Markov transitions (from → to)"), height=height)


def transition_table(edges: pd.DataFrame) -> pd.DataFrame:
    """The edges as a readable table: From, To, Transitions, Probability (pure)."""
    return pd.DataFrame(
        {
            "from": [_name(s) for s in edges["source"]],
            "to": [_name(s) for s in edges["target"]],
            "transitions": edges["count"].astype(float),
            "probability": edges["probability"].astype(float),
        }
    )
