"""What every page needs: the warehouse engine, the global filters, and error display.

The warehouse is reached through ``st.connection("warehouse", type="sql")`` (read-only for
DuckDB). Pages call :func:`warehouse` and :func:`current_filters`; ``app.py`` sets both up.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from sqlalchemy import Engine

from data.warehouse import WarehouseConfig, engine_kwargs, resolve_config
from metrics.filters import Filters

FILTERS_KEY = "looplens_filters"
CONFIG_KEY = "looplens_warehouse_config"


def _secrets_url() -> str | None:
    try:
        return st.secrets["connections"]["warehouse"]["url"]
    except (KeyError, FileNotFoundError, AttributeError):
        return None
    except Exception:  # noqa: BLE001 - a malformed secrets.toml must not break the app
        return None


def warehouse_config() -> WarehouseConfig:
    """The resolved warehouse location (secrets, env var or demo)."""
    config = st.session_state.get(CONFIG_KEY)
    if config is None:
        config = resolve_config(_secrets_url())
        st.session_state[CONFIG_KEY] = config
    return config


def warehouse() -> Engine:
    """The SQLAlchemy engine behind ``st.connection('warehouse')`` (created, not connected)."""
    config = warehouse_config()
    kwargs: dict[str, Any] = engine_kwargs(config.url, read_only=True)
    conn = st.connection("warehouse", type="sql", url=config.url, **kwargs)
    return conn.engine


def current_filters() -> Filters:
    """The global filters chosen in the sidebar (set by ``app.py`` on every run)."""
    filters = st.session_state.get(FILTERS_KEY)
    if filters is None:
        raise RuntimeError("app.py did not set the global filters; run the app via app.py")
    return filters


def show_problem(title: str, detail: str, fix: str) -> None:
    """A specific, actionable error box (never a traceback)."""
    st.error(f"**{title}**\n\n{detail}\n\n**What to do:** {fix}", icon=":material/error:")
