"""Helpers for AppTest runs of the real app against a real warehouse file."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

APP_PATH = str(Path(__file__).resolve().parent.parent / "app.py")


def clear_streamlit_caches() -> None:
    """Connections and cached data persist across AppTests in one process: drop them."""
    st.cache_data.clear()
    st.cache_resource.clear()


def run_page(page: str | None = None, *, timeout: float = 60, query: dict | None = None) -> AppTest:
    """Run app.py (optionally switching to ``pages/<page>.py``) and return the AppTest."""
    clear_streamlit_caches()
    at = AppTest.from_file(APP_PATH, default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    if page is not None:
        at.switch_page(f"pages/{page}.py")
        at.run()
    return at
