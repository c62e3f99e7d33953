"""What every page needs: the warehouse engine, the global filters, and error display.

The warehouse is reached through ``st.connection("warehouse", type="sql")`` (read-only for
DuckDB). Pages call :func:`warehouse` and :func:`current_filters`; ``app.py`` sets both up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st
from pandas.errors import DatabaseError as PandasDatabaseError
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from data.app_state.store import AppStateStore, open_store
from data.app_state.store import resolve_config as resolve_app_state
from data.errors import Problem, diagnose
from data.serving import ServingConfig, ServingStore, resolve_serving_config
from data.warehouse import WarehouseConfig, engine_kwargs, read_only_url, resolve_config
from i18n import _
from metrics.filters import Filters

FILTERS_KEY = "looplens_filters"
CONFIG_KEY = "looplens_warehouse_config"
FRAME_KEY = "looplens_frame_ran"


def mark_frame() -> None:
    """Called first thing by ``app.py``: the frame (filters, navigation) runs in this script run."""
    st.session_state[FRAME_KEY] = True


def release_frame() -> None:
    """Called by ``app.py`` after the page ran: the next run must go through ``app.py`` again."""
    st.session_state[FRAME_KEY] = False


def _require_frame() -> None:
    """Make sure a page runs inside ``app.py``, also on a deep link to a page's URL.

    Streamlit decides at the first session of a server process whether the app uses the legacy
    ``pages/`` directory; until ``st.navigation`` has run once it treats a deep link such as
    ``/lifecycle`` as a legacy page and runs that file *without* ``app.py``. Clearing the flag
    and rerunning lets ``app.py`` run and ``st.navigation`` pick the same page by its URL.
    """
    if st.session_state.get(FRAME_KEY):
        return
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    st.rerun()


def _secrets_url(connection: str = "warehouse") -> str | None:
    """``[connections.<connection>] url`` from Streamlit's secrets, or None."""
    try:
        return st.secrets["connections"][connection]["url"]
    except Exception:  # noqa: BLE001 - no or malformed secrets.toml must not break the app
        return None


def warehouse_config() -> WarehouseConfig:
    """The resolved warehouse location (secrets, env var or demo)."""
    _require_frame()
    config = st.session_state.get(CONFIG_KEY)
    if config is None:
        config = resolve_config(_secrets_url())
        st.session_state[CONFIG_KEY] = config
    return config


def warehouse() -> Engine:
    """The SQLAlchemy engine behind ``st.connection('warehouse')`` (created, not connected)."""
    config = warehouse_config()
    kwargs: dict[str, Any] = engine_kwargs(config.url, read_only=True)
    target = read_only_url(config.url)  # SQLite: opened mode=ro
    url = target if isinstance(target, str) else target.render_as_string(hide_password=False)
    conn = st.connection("warehouse", type="sql", url=url, **kwargs)
    return conn.engine


@st.cache_resource(show_spinner=False)
def _open_store(url: str) -> AppStateStore:
    return open_store(url)


def app_state_store() -> AppStateStore:
    """The app-state store (secrets ``[connections.app_state]``, ``LOOPLENS_APP_STATE_URL`` or
    the default SQLite file), one per URL and process. Raises ``AppStateError`` (not cached).
    """
    return _open_store(resolve_app_state(_secrets_url("app_state")).url)


@st.cache_resource(show_spinner=False)
def _open_serving(serving_url: str, warehouse_url: str) -> ServingStore:
    return ServingStore(ServingConfig(serving_url, "env"), warehouse_url)


def serving_config() -> ServingConfig:
    """Where the serving store is (secrets ``[connections.serving]``, env, default file)."""
    return resolve_serving_config(_secrets_url("serving"))


def serving_store() -> ServingStore | None:
    """The serving store for the current warehouse, or None when there is none yet.

    One per (store, warehouse) and process; it reopens by itself after a refresh.
    """
    store = _open_serving(serving_config().url, warehouse_config().url)
    return store if store.exists() and store.records() else None


def current_filters() -> Filters:
    """The global filters chosen in the sidebar (set by ``app.py`` on every run)."""
    _require_frame()
    filters = st.session_state.get(FILTERS_KEY)
    if filters is None:
        raise RuntimeError(_("app.py did not set the global filters; run the app via app.py"))
    return filters


def show_problem(title: str, detail: str, fix: str) -> None:
    """A specific, actionable error box (never a traceback)."""
    st.error(
        _("**{title}**\n\n{detail}\n\n**What to do:** {fix}").format(
            title=title, detail=detail, fix=fix
        ),
        icon=":material/error:",
    )


class _ProbeFailed(Exception):
    """Raised inside the cached probe so that a failure is never cached."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.title)
        self.problem = problem


@st.cache_data(ttl=30, show_spinner=False)
def _probe_ok(url: str) -> bool:
    """True if the warehouse answers ``SELECT 1`` (cached 30 s); raises :class:`_ProbeFailed`.

    Streamlit does not cache a call that raises: after the warehouse comes back the next run
    probes again and recovers at once, instead of showing the failure for up to 30 s.
    """
    try:
        with warehouse().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure becomes a diagnosis, never a traceback
        raise _ProbeFailed(diagnose(exc, url)) from None
    return True


def _probe(url: str) -> Problem | None:
    """``None`` if the warehouse answers (successes cached 30 s), else the diagnosis."""
    try:
        _probe_ok(url)
    except _ProbeFailed as failed:
        return failed.problem
    return None


@st.cache_data(ttl=60, show_spinner=False)
def _missing_tables(url: str) -> tuple[str, ...]:
    """Contract tables the warehouse lacks (listing tables works on every dialect)."""
    from data.schema import CONTRACT_TABLES
    from data.sqlfuncs import table_names

    try:
        present = {n.lower() for n in table_names(warehouse())}
    except Exception:  # noqa: BLE001 - the connection probe reports connection problems
        return ()
    return tuple(t.name for t in CONTRACT_TABLES if t.name not in present)


def missing_tables() -> tuple[str, ...]:
    """Names of the contract tables (or views) missing from the warehouse, if any."""
    return _missing_tables(warehouse_config().url)


def connection_problem() -> Problem | None:
    """Why the warehouse cannot be reached right now, or None when it can."""
    return _probe(warehouse_config().url)


QUERY_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, PandasDatabaseError)
"""What a failing warehouse query raises (pandas wraps some driver errors in its own type)."""


def show_query_problem(exc: BaseException, what: str) -> None:
    """The diagnosis of a failed warehouse query (password-free), with what to do."""
    problem = diagnose(exc, warehouse_config().url)
    show_problem(
        _("The warehouse failed while {what}: {title}").format(what=what, title=problem.title),
        problem.detail,
        problem.fix
        + (
            ""
            if "Data health" in problem.fix
            else _(" **Data health** checks every table and column.")
        ),
    )


@contextmanager
def warehouse_errors(what: str, *, stop: bool = True) -> Iterator[None]:
    """Turn a failing warehouse query into a specific message (and, by default, stop the page).

    ``what`` names the work in progress, e.g. "loading channel performance". With
    ``stop=False`` the page goes on after the message (for an optional section).
    """
    try:
        yield
    except QUERY_ERRORS as exc:
        show_query_problem(exc, what)
        if stop:
            st.stop()
