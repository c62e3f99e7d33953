"""Escaping for text that comes from the warehouse, the app-state store or the user.

Streamlit renders ``st.markdown`` as Markdown (and as HTML with ``unsafe_allow_html=True``): a
variant named ``<meta http-equiv=refresh ...>`` or ``![x](http://tracker/)`` must show as text,
not navigate the browser away or fetch from the internet.
"""

from __future__ import annotations

import html
import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$~:])")


def html_text(value: object) -> str:
    """``value`` as text safe inside HTML markup (``& < > " '`` escaped)."""
    return html.escape(str(value), quote=True)


def md_text(value: object) -> str:
    """``value`` as literal text inside Markdown: every Markdown, LaTeX (``$``), emoji/icon
    (``:``) and HTML special character is backslash-escaped; newlines become spaces."""
    flat = " ".join(str(value).splitlines())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)
