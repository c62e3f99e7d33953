"""The one CSV download button every chart and table on every page uses."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from metrics.formatting import readable_headers


def csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV without the index (what the button serves)."""
    return df.to_csv(index=False).encode("utf-8")


def csv_download(df: pd.DataFrame, name: str, key: str, *, label: str = "Download CSV") -> None:
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
