"""The Loop health page's "Executive summary (PDF)" button: the one-page summary of the view
(``reports.summary_page``) printed by chromium when clicked, cached 10 minutes per view."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

import i18n
from components.context import app_state_store
from data.app_state.store import AppStateError
from i18n import _
from metrics.filters import Filters
from reports import browser
from reports.summary_data import collect
from reports.summary_page import summary_html


@st.cache_data(ttl=600, show_spinner=False, max_entries=32)
def cached_summary_pdf(_engine: Engine, url: str, filters: Filters, lang: str) -> bytes:
    """The summary PDF of ``filters`` in ``lang`` (``url``: the warehouse cache key)."""
    with i18n.language(lang):
        try:
            store = app_state_store()
        except AppStateError:
            store = None
        return browser.render_bytes(summary_html(collect(_engine, filters, store)), "pdf")


def summary_pdf_button(engine: Engine, url: str, filters: Filters) -> None:
    """A download button for the view's one-page PDF, or a note saying why it is unavailable."""
    missing = browser.available()
    if missing is not None:
        st.caption(_("PDF summary unavailable on this server ({why}).").format(why=missing))
        return
    lang = i18n.get_language()
    st.download_button(
        _("Executive summary (PDF)"),
        data=lambda: cached_summary_pdf(engine, url, filters, lang),
        file_name=f"looplens_summary_{filters.start}_{filters.end}.pdf",
        mime="application/pdf",
        key="dl_summary_pdf",
        icon=":material/picture_as_pdf:",
        help=_("One page: tiles, loop statuses, what changed, targets and open alerts."),
    )
