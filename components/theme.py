"""One chart theme for the whole app: colours per channel, stage, loop and variant.

Every figure builder takes its colours from here so a channel or a stage has the same colour on
every page. Pure constants and a Plotly template; no Streamlit.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

from data.schema import Channel, LoopStage, Stage
from metrics.formatting import plotly_separators

# Colour-blind-aware palette (Okabe-Ito first, then Tableau-like extras).
CHANNEL_COLORS: dict[str, str] = {
    Channel.PAID_SEARCH: "#0072B2",
    Channel.ORGANIC_SEARCH: "#56B4E9",
    Channel.PAID_SOCIAL: "#D55E00",
    Channel.ORGANIC_SOCIAL: "#E69F00",
    Channel.EMAIL: "#009E73",
    Channel.VIDEO: "#CC79A7",
    Channel.COMMUNITY: "#8C6D31",
    Channel.REFERRAL: "#7F3C8D",
    Channel.DIRECT: "#6B6B6B",
}

# Stages: Paul Tol's "bright" qualitative scheme (distinct for the common colour-vision
# deficiencies and in greyscale order), one hue per stage; dormant stays grey.
STAGE_COLORS: dict[str, str] = {
    Stage.AWARENESS: "#66CCEE",  # cyan
    Stage.ENGAGEMENT: "#4477AA",  # blue
    Stage.EVALUATION: "#AA3377",  # purple
    Stage.PURCHASE: "#228833",  # green
    Stage.RETENTION: "#CCBB44",  # yellow
    Stage.LOYALTY: "#EE6677",  # red
    Stage.DORMANT: "#BBBBBB",  # grey
}


LOOP_COLORS: dict[str, str] = {
    LoopStage.EXPRESS: "#E69F00",
    LoopStage.TAILOR: "#009E73",
    LoopStage.AMPLIFY: "#0072B2",
    LoopStage.EVOLVE: "#CC79A7",
}

# Variants: control is always grey; treatments take these in order.
CONTROL_COLOR = "#7F7F7F"
VARIANT_COLORS: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00")

GOOD_COLOR = "#1A9850"
BAD_COLOR = "#D73027"
NEUTRAL_COLOR = "#7F7F7F"
WARN_COLOR = "#F39C12"

STATUS_COLORS: dict[str, str] = {
    "healthy": GOOD_COLOR,
    "watch": WARN_COLOR,
    "at risk": BAD_COLOR,
    "no data": NEUTRAL_COLOR,
    "not applicable under this filter": NEUTRAL_COLOR,
}

TEMPLATE_NAME = "looplens"

pio.templates[TEMPLATE_NAME] = go.layout.Template(
    layout=go.Layout(
        font=dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=13),
        title=dict(font=dict(size=16), x=0.0, xanchor="left"),
        margin=dict(l=48, r=16, t=48, b=40),
        colorway=list(VARIANT_COLORS),
        plot_bgcolor="white",
        paper_bgcolor="white",
        hoverlabel=dict(font_size=12),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0.0),
        xaxis=dict(showgrid=False, linecolor="#CCCCCC", ticks="outside"),
        yaxis=dict(gridcolor="#EEEEEE", zerolinecolor="#CCCCCC"),
        # A vertical toolbar down the right edge never covers the left-aligned title (a
        # horizontal one hid titles on a phone).
        modebar=dict(orientation="v", bgcolor="rgba(255,255,255,0.6)"),
    )
)


def channel_color(channel: str) -> str:
    return CHANNEL_COLORS.get(channel, NEUTRAL_COLOR)


def stage_color(stage: str) -> str:
    return STAGE_COLORS.get(stage, NEUTRAL_COLOR)


def variant_colors(variants: list[str], control: str | None) -> dict[str, str]:
    """Control grey, treatments in a fixed order."""
    colors: dict[str, str] = {}
    treatments = [v for v in variants if v != control]
    if control is not None:
        colors[control] = CONTROL_COLOR
    for i, v in enumerate(treatments):
        colors[v] = VARIANT_COLORS[i % len(VARIANT_COLORS)]
    return colors


def apply_theme(fig: go.Figure, *, title: str | None = None, height: int = 360) -> go.Figure:
    """Apply the app template (and an optional title) to a figure; returns the figure."""
    # the locale's decimal and thousands separators (vi: 1.234,5) on every axis and hover
    fig.update_layout(template=TEMPLATE_NAME, height=height, separators=plotly_separators())
    if title is not None:
        fig.update_layout(title_text=title)
    return fig
