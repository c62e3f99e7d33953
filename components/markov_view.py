"""Markov attribution on the Channels page: cached loader and the transition-graph section."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from components import markov_chart as mc
from components.tables import dataframe
from i18n import _
from metrics import formatting as fmt
from metrics.filters import Filters
from metrics.marketing import attribution as attr
from metrics.marketing import markov as mk

TTL = 600
MIN_SHOWN = 0.05
"""Transitions under this probability are left out of the graph (kept in the table)."""


@st.cache_data(ttl=TTL, show_spinner=False)
def _markov(
    _engine: Engine, url: str, filters: Filters, options: attr.AttributionOptions
) -> mk.MarkovResult:
    return mk.attribute(_engine, filters, options)


def load_markov(
    engine: Engine, url: str, filters: Filters, options: attr.AttributionOptions
) -> mk.MarkovResult:
    """:func:`metrics.marketing.markov.attribute` (live SQL path counts), cached per filters."""
    return _markov(engine, url, filters, options)


def render_transition_graph(result: mk.MarkovResult) -> None:
    """The chain's transition graph, its table and what it means (observational)."""
    st.markdown(_("**Markov (data-driven) attribution: the transition graph**"))
    st.caption(
        _(
            "Built from {journeys} journeys: the orders above with a touch, and the customers "
            "touched in the period who placed no order (their touches within the lookback "
            "window before their last touch). Each path keeps its last {k} channels, repeats "
            "merged. From the start, a journey converts with probability {p}. A channel's "
            "removal effect is the share of that probability lost if the channel's transitions "
            "led nowhere; credits split the orders and revenue in proportion. This is "
            "observational: it describes the paths customers took, it does not measure what a "
            "channel causes (use an experiment for that)."
        ).format(
            journeys=fmt.count(result.journeys),
            k=fmt.count(mk.DEFAULT_K),
            p=fmt.percent(result.conversion_probability),
        )
    )
    if result.edges.empty:
        st.info(_("No touched journeys in the period, so there is no transition graph."))
        return
    st.plotly_chart(
        mc.transition_figure(result.edges, min_probability=MIN_SHOWN), key="ch_markov_graph"
    )
    st.caption(
        _(
            "Links: transitions between consecutive states of the paths; width = number of "
            "transitions, hover for the probability. Links under {share} of their state's "
            "transitions are left out of the graph (all are in the table below)."
        ).format(share=fmt.percent(MIN_SHOWN))
    )
    effects = result.credits.dropna(subset=["removal_effect"])
    with st.expander(_("Removal effects and transition probabilities"), expanded=False):
        dataframe(
            effects.assign(key=effects["key"].map(fmt.label)),
            hide_index=True,
            key="ch_markov_effects",
            column_config={
                "key": _("Channel"),
                "removal_effect": st.column_config.NumberColumn(
                    _("Removal effect"), format="percent"
                ),
                "share": st.column_config.NumberColumn(_("Share of credit"), format="percent"),
                "conversions": st.column_config.NumberColumn(
                    _("Orders (Markov)"), format="localized"
                ),
                "revenue": st.column_config.NumberColumn(
                    _("Revenue (Markov)"), format=fmt.column_money_format()
                ),
            },
        )
        dataframe(
            mc.transition_table(result.edges),
            hide_index=True,
            key="ch_markov_edges",
            column_config={
                "from": _("From"),
                "to": _("To"),
                "transitions": st.column_config.NumberColumn(_("Transitions"), format="localized"),
                "probability": st.column_config.NumberColumn(_("Probability"), format="percent"),
            },
        )
