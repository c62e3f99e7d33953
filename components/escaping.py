"""Escaping for text that comes from the warehouse, the app-state store or the user.

Streamlit renders ``st.markdown`` as Markdown (and as HTML with ``unsafe_allow_html=True``): a
variant named ``<meta http-equiv=refresh ...>`` or ``![x](http://tracker/)`` must show as text,
not navigate the browser away or fetch from the internet.
"""

from __future__ import annotations

import html
import re

_MARKDOWN_INLINE = re.compile(r"([\\`*{}\[\]()#|<>$~:!])")
"""Characters with a Markdown, LaTeX (``$``) or icon/colour (``:red[...]``) meaning anywhere
in a line. ``-``, ``+``, ``=`` and ``1.`` only mean something at the start of a line."""
_EDGE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
"""An underscore that could open or close emphasis; one inside a word (``exp_checkout``)
cannot (CommonMark), so ids stay readable in the Markdown source too."""


def html_text(value: object) -> str:
    """``value`` as text safe inside HTML markup (``& < > " '`` escaped)."""
    return html.escape(str(value), quote=True)


def md_text(value: object) -> str:
    """``value`` as literal text inside Markdown, on one line (newlines become spaces): every
    character with an inline Markdown, LaTeX (``$``), icon (``:``) or HTML meaning is
    backslash-escaped, and so is a list or heading marker at the start. Dates and numbers
    (``2026-01-31``, ``-3.5%``) stay as they are in running text."""
    flat = " ".join(str(value).splitlines())
    escaped = _MARKDOWN_INLINE.sub(r"\\\1", flat)
    escaped = _EDGE_UNDERSCORE.sub(r"\\_", escaped)
    escaped = re.sub(r"^(\d+)([.)])", r"\1\\\2", escaped)  # "1. x" is an ordered list
    return "\\" + escaped if escaped[:1] in ("-", "+", "=") else escaped
