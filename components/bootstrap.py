"""First-start work: generate the embedded demo warehouse (with a progress bar) and find the
latest date with data, which anchors the default date range."""

from __future__ import annotations

import datetime as dt
import threading

import streamlit as st
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from data.schema import touchpoints
from data.warehouse import WarehouseConfig, duckdb_path

_DEMO_LOCK = threading.Lock()


def ensure_demo_warehouse(config: WarehouseConfig) -> bool:
    """Generate the demo DuckDB file on first start; True when the warehouse can be opened.

    Only the demo configuration is ever generated; a user's own URL is never written to.
    """
    if not config.is_demo:
        return True
    path = duckdb_path(config.url)
    if path is None or path.exists():
        return True
    with _DEMO_LOCK:  # one generation per server process, however many sessions start at once
        if path.exists():
            return True
        from data import demo  # imported lazily: only needed on first start

        box = st.empty()
        with box.container():
            st.info(
                "**Welcome to LoopLens.** Generating the embedded demo warehouse "
                f"({demo.DEFAULT_CUSTOMERS:,} customers) — this happens once.",
                icon=":material/database:",
            )
            bar = st.progress(0.0, text="Starting…")

            def report(fraction: float, message: str) -> None:
                bar.progress(min(max(fraction, 0.0), 1.0), text=message)

            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                demo.generate(str(path), progress=report)
            except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
                st.error(f"Generating the demo warehouse failed: {exc}")
                return False
        box.empty()
        return True


@st.cache_data(ttl=600, show_spinner=False)
def latest_data_date(_engine: Engine, url: str) -> dt.date | None:
    """The day of the newest touchpoint, or None if the warehouse cannot tell us.

    ``url`` is the cache key (the engine itself is not hashed).
    """
    try:
        with _engine.connect() as conn:
            value = conn.execute(select(func.max(touchpoints.c.occurred_at))).scalar()
    except SQLAlchemyError:
        return None
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns text for MAX over a DateTime column
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return value.date() if isinstance(value, dt.datetime) else value
