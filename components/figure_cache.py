"""The figures the busiest pages draw, built once per distinct input and process.

Building a Plotly figure (Plotly Express above all) was the largest share of a warm page run's
server CPU: about 40% on Lifecycle and Channels, a third on Loop health. The frames behind the
figures are already cached per (warehouse, filters), so the figures can be too. These wrappers
memoise the *pure* builders in :mod:`components.charts`, :mod:`components.lifecycle_charts` and
:mod:`components.channel_charts` with ``st.cache_resource``: the same arguments give the same
``Figure`` object, shared by every session without a copy. ``st.plotly_chart`` only reads a
figure (it serialises a ``to_dict`` copy); **never mutate a figure returned from here**.

The builders themselves stay pure and importable without the cache (tests call them directly).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec

import plotly.graph_objects as go
import streamlit as st

import i18n
from components import channel_charts as cc
from components import charts
from components import lifecycle_charts as lcc
from metrics import formatting as fmt

P = ParamSpec("P")

FIGURE_TTL = 600
"""Seconds, as the data caches (a figure lives no longer than the frame it was built from)."""
FIGURE_ENTRIES = 64
"""Figures kept per builder (LRU): a few filter combinations in flight on a busy server."""


def memoised(builder: Callable[P, go.Figure]) -> Callable[P, go.Figure]:
    """``builder`` memoised per process on its (hashed) arguments and the active language and
    currency (a builder's own axis titles and number separators depend on them); returns a
    shared figure."""

    def in_language(language: str, currency: str, *args: P.args, **kwargs: P.kwargs) -> go.Figure:
        return builder(*args, **kwargs)

    # st.cache_resource keys on the function's module, name and source: one name per builder
    in_language.__qualname__ = f"{builder.__module__}.{builder.__qualname__}"
    in_language.__name__ = builder.__name__
    cached = st.cache_resource(ttl=FIGURE_TTL, max_entries=FIGURE_ENTRIES, show_spinner=False)(
        in_language
    )

    def figure(*args: P.args, **kwargs: P.kwargs) -> go.Figure:
        return cached(i18n.get_language(), fmt.warehouse_currency(), *args, **kwargs)

    figure.__doc__ = builder.__doc__
    return figure


bar_chart = memoised(charts.bar_chart)

volume_figure = memoised(lcc.volume_figure)
distribution_figure = memoised(lcc.distribution_figure)
conversion_figure = memoised(lcc.conversion_figure)
time_in_stage_figure = memoised(lcc.time_in_stage_figure)
sankey_figure = memoised(lcc.sankey_figure)
campaign_comparison_figure = memoised(lcc.campaign_comparison_figure)

timeseries_figure = memoised(cc.timeseries_figure)
spend_roas_figure = memoised(cc.spend_roas_figure)
attribution_figure = memoised(cc.attribution_figure)
dark_funnel_figure = memoised(cc.dark_funnel_figure)
