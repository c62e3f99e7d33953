"""The UI language and the warehouse currency of a run: picked in the sidebar, kept in the URL.

``app.py`` calls :func:`activate_language` first on every run (before any text is drawn), so the
context variable behind ``i18n._`` holds this session's language for the whole run, and
:func:`render_language_picker` in the sidebar. The language is the ``lang`` query parameter
(``vi`` or ``en``; anything else is ignored) when a link opens a session, then the session's
choice in the picker, else the default: ``LOOPLENS_LANG``, then ``[looplens] language`` in
``.streamlit/secrets.toml``, then English. The currency of the warehouse's money columns is
``LOOPLENS_CURRENCY`` or ``[looplens] currency`` (default USD).
"""

from __future__ import annotations

import os

import streamlit as st

import i18n
from i18n import _
from metrics import formatting

LANG_PARAM = "lang"
"""The query parameter that carries the language (``?lang=vi``)."""
LANG_KEY = "looplens_language"
"""The session-state key of the sidebar's language picker."""


def _setting(name: str) -> str | None:
    """``[looplens] <name>`` from Streamlit's secrets, or None (no or malformed file)."""
    try:
        value = st.secrets["looplens"][name]
    except Exception:  # noqa: BLE001 - a missing or malformed secrets.toml must not break the app
        return None
    return value if isinstance(value, str) else None


def configured_language() -> str:
    """The default language: ``LOOPLENS_LANG``, then ``[looplens] language``, then English."""
    if os.environ.get("LOOPLENS_LANG"):
        return i18n.default_language()
    return i18n.normalise(_setting("language")) or i18n.SOURCE_LANGUAGE


def configure_currency() -> str:
    """Declare the warehouse currency from the config (``[looplens] currency``) unless the
    environment already does; returns the code in use."""
    configured = _setting("currency")
    if configured and not os.environ.get("LOOPLENS_CURRENCY"):
        formatting.set_warehouse_currency(configured)
    return formatting.warehouse_currency()


def activate_language() -> str:
    """Decide this run's language (URL, session, default), make it active; returns its code."""
    held = i18n.normalise(st.session_state.get(LANG_KEY))  # the picker's value (this session)
    from_url = i18n.normalise(st.query_params.get(LANG_PARAM))  # a link opened the session
    code = held or from_url or configured_language()
    st.session_state[LANG_KEY] = code
    i18n.set_language(code)
    return code


def render_language_picker() -> None:
    """The sidebar's language picker; writes the choice to the URL (``lang=``)."""
    codes = list(i18n.LANGUAGES)
    st.sidebar.selectbox(
        _("Language"),
        options=codes,
        key=LANG_KEY,
        format_func=lambda code: i18n.LANGUAGES[code],
        help=_("The language of every page, number and date (kept in the link as lang=)."),
    )
    code = i18n.normalise(st.session_state.get(LANG_KEY)) or i18n.get_language()
    if st.query_params.get(LANG_PARAM) != code:
        st.query_params[LANG_PARAM] = code
