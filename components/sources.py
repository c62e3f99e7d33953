"""Which source answered a page's figures: the serving store's version for cache keys, and a
one-line caption (serving store with its freshness, or live with the reason)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.context import serving_store
from data.serving import ServingStore
from i18n import _


def store_and_key() -> tuple[ServingStore | None, str]:
    """The serving store (or None) and its version key (part of every loader's cache key, so a
    refresh that lands invalidates cached served figures)."""
    store = serving_store()
    return store, (store.version_key() if store is not None else "none")


def source_caption(*frames: pd.DataFrame) -> None:
    """One caption line: served (with the refresh time) or live (with the reasons)."""
    tagged = [f for f in frames if "source" in f.attrs]
    if not tagged:
        return
    live = [f.attrs.get("source_reason", "") for f in tagged if f.attrs["source"] != "serving"]
    store = serving_store()
    refreshed, latest = store.freshness() if store is not None else (None, None)
    fresh = ""
    if refreshed is not None:
        fresh = _("serving store refreshed {refreshed:%d %b %Y %H:%M} UTC").format(
            refreshed=refreshed
        )
        if latest is not None:
            fresh += _(", warehouse data through {latest:%d %b %Y %H:%M}").format(latest=latest)
    if not live:
        st.caption(
            _("Figures from the {fresh}.").format(fresh=fresh)
            if fresh
            else _("Figures from the serving store.")
        )
        return
    reasons = "; ".join(dict.fromkeys(r for r in live if r))
    served = len(tagged) - len(live)
    part = (
        _("{live} of {tagged} sections").format(live=len(live), tagged=len(tagged))
        if served
        else _("All figures")
    )
    tail = _(" (the rest from the {fresh})").format(fresh=fresh) if served and fresh else ""
    st.caption(
        _("{part} computed live from the warehouse: {reasons}{tail}.").format(
            part=part, reasons=reasons, tail=tail
        )
    )
