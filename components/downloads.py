"""The one CSV download button every chart and table on every page uses, and the CSV writer
that neutralises spreadsheet formulas (OWASP, "CSV Injection")."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from i18n import _
from metrics.formatting import readable_headers

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting with one of these is read as a formula by Excel, LibreOffice and
Google Sheets (``=cmd|'/c calc'!A1``, ``@SUM(...)``)."""


def neutralise_cell(value: object) -> object:
    """A text ``value`` that a spreadsheet would run as a formula, prefixed with a single quote
    (OWASP's guidance); anything else unchanged. Numbers stay numbers: ``-5`` is not text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralised(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell and column name passed through
    :func:`neutralise_cell` (numeric, boolean and date columns are left as they are)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = out[col].map(neutralise_cell).astype(object)
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    return out


def csv_text(df: pd.DataFrame) -> str:
    """CSV without the index, formula prefixes neutralised (what every download serves).

    Rows end in CRLF (RFC 4180), which also makes the writer quote a field holding a bare CR.
    """
    return neutralised(df).to_csv(index=False, lineterminator="\r\n")


def csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV without the index, formula prefixes neutralised (what the button serves)."""
    return csv_text(df).encode("utf-8")


def csv_download(df: pd.DataFrame, name: str, key: str, *, label: str = _("Download CSV")) -> None:
    """A small download button for ``df`` as ``<name>.csv``; ``key`` must be unique per page.

    Columns get readable headers (``metrics.formatting.header``); values stay raw numbers.

    Clicking it does not rerun the page (``on_click="ignore"``). The CSV is written only when
    the button is clicked (Streamlit's deferred download): a page run does not serialise every
    table it shows, nor keep the bytes in the session's media store.
    """
    df = df.rename(columns=readable_headers(df.columns))  # raw numbers under readable headers
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name).strip("_") or "data"
    st.download_button(
        label,
        lambda: csv_bytes(df),
        file_name=f"{safe}.csv",
        mime="text/csv",
        key=key,
        on_click="ignore",
        icon=":material/download:",
        type="tertiary",
    )
