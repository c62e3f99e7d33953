"""How fresh the figures are: one caption in the sidebar of every page, and a note where a
section was answered live instead of from the serving layer."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from components.context import serving_store
from i18n import _


def _ago(when: dt.datetime, now: dt.datetime) -> str:
    seconds = max((now - when).total_seconds(), 0)
    if seconds < 90:
        return _("just now")
    if seconds < 90 * 60:
        return _("{value:.0f} min ago").format(value=seconds / 60)
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return _("{value:.0f} days ago").format(value=seconds / 86400)


def freshness_text(
    refreshed: dt.datetime | None, data_through: dt.datetime | None, now: dt.datetime
) -> str:
    """The sidebar caption (pure: tested without Streamlit)."""
    if refreshed is None:
        return _(
            "Figures: live from the warehouse (no serving layer yet — build it on **Data "
            "health** or with `python -m data.serving refresh`)."
        )
    through = (
        _("; warehouse data through {data_through:%d %b %Y}").format(data_through=data_through)
        if data_through
        else ""
    )
    when = f"{_ago(refreshed, now)} ({refreshed:%d %b %H:%M} UTC)"
    return _("Figures: serving layer, refreshed {when}{through}.").format(
        when=when, through=through
    )


def render_sidebar_freshness() -> None:
    store = serving_store()
    refreshed, through = store.freshness() if store is not None else (None, None)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    st.sidebar.caption(freshness_text(refreshed, through, now))


def live_note(*frames: pd.DataFrame) -> None:
    """A caption under a section answered live although a serving store exists (with why)."""
    reasons = {
        f.attrs.get("source_reason", "")
        for f in frames
        if isinstance(f, pd.DataFrame) and f.attrs.get("source") in ("live", "mixed")
    }
    reasons.discard("")
    reasons.discard(_("no serving store"))
    if reasons and serving_store() is not None:
        st.caption(_("Some figures here are computed live from the warehouse: ") + "; ".join(
            sorted(reasons)[:3]) + ".")  # fmt: skip
