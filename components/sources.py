"""Which source answered a page's figures: the serving store's version for cache keys, and a
one-line caption (serving store with its freshness, or live with the reason)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.context import serving_store
from data.serving import ServingStore


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
        fresh = f"serving store refreshed {refreshed:%d %b %Y %H:%M} UTC"
        if latest is not None:
            fresh += f", warehouse data through {latest:%d %b %Y %H:%M}"
    if not live:
        st.caption(f"Figures from the {fresh}." if fresh else "Figures from the serving store.")
        return
    reasons = "; ".join(dict.fromkeys(r for r in live if r))
    served = len(tagged) - len(live)
    part = f"{len(live)} of {len(tagged)} sections" if served else "All figures"
    tail = f" (the rest from the {fresh})" if served and fresh else ""
    st.caption(f"{part} computed live from the warehouse: {reasons}{tail}.")
