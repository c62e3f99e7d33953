"""The view's state lives in the URL: one place for how controls and links keep it.

- Every view-changing control of a page is created with ``**IN_URL``: Streamlit binds its value
  to the query parameter named after its ``key`` (a reload or a copied link reopens the same
  view) and keeps it for the session when the user visits another page and comes back.
- The global filters (``components.filters_bar``) keep their own parameters (``start``, ``end``,
  ``channel``, ``segment``, ``region``) and are written back on every run.
- A link or a programmatic page switch must carry the filters: :func:`switch_page` and
  :func:`page_href` add them, so no navigation changes a filter behind the user's back
  (``st.switch_page`` otherwise clears every query parameter), and the language (``lang``).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import streamlit as st

import i18n
from components import language
from components.context import FILTERS_KEY
from metrics.filters import Filters

IN_URL: dict[str, Any] = {"bind": "query-params", "persist_state": "session"}
"""Keyword arguments for a keyed widget whose value belongs in the URL."""

TABS_IN_URL: dict[str, Any] = {"bind": "query-params"}
"""The same for ``st.tabs`` (which has no ``persist_state``; see :func:`remembered_tab`)."""

_TAB_MEMORY = "looplens_tab_memory"


def filter_params() -> dict[str, str]:
    """The current global filters and the language (``lang``) as query parameters ({} before
    ``app.py`` has set them): what every in-app link and page switch carries."""
    filters = st.session_state.get(FILTERS_KEY)
    params = filters.to_query_params() if isinstance(filters, Filters) else {}
    if language.LANG_KEY in st.session_state:  # app.py chose this session's language
        params[language.LANG_PARAM] = i18n.get_language()
    return params


def switch_page(path: str, **params: str) -> None:
    """``st.switch_page`` to ``path`` with the global filters and ``params`` in the URL."""
    st.switch_page(path, query_params={**filter_params(), **params})


def page_href(url_path: str, **params: str) -> str:
    """A relative link to the page ``url_path`` carrying the global filters and ``params``."""
    return f"{url_path}?{urllib.parse.urlencode({**filter_params(), **params})}"


def remembered_tab(key: str, labels: list[str]) -> None:
    """Restore a URL-bound tab set's last tab after a page switch (call before ``st.tabs``).

    A bound tab set keeps its tab in the URL, but a page switch drops the other page's bound
    parameters; the last label is remembered here and put back when the URL has none.
    """
    memory: dict[str, str] = st.session_state.setdefault(_TAB_MEMORY, {})
    if key not in st.query_params and memory.get(key) in labels and key not in st.session_state:
        st.session_state[key] = memory[key]


def remember_tab(key: str) -> None:
    """Record the tab set ``key``'s current tab (call after ``st.tabs``)."""
    memory: dict[str, str] = st.session_state.setdefault(_TAB_MEMORY, {})
    if isinstance(st.session_state.get(key), str):
        memory[key] = st.session_state[key]
