"""First-start work: generate the embedded demo warehouse (with a progress bar) and find the
latest date with data, which anchors the default date range."""

from __future__ import annotations

import datetime as dt
import threading

import streamlit as st
from sqlalchemy import Engine, and_, case, func, select
from sqlalchemy.exc import SQLAlchemyError

from components.context import app_state_store, serving_config
from data.schema import Region, customers, touchpoints
from data.warehouse import WarehouseConfig, demo_currency, duckdb_path
from i18n import _

_DEMO_LOCK = threading.Lock()
_SERVING_LOCK = threading.Lock()


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
        from data.demo import generator as demo

        box = st.empty()
        with box.container():
            st.info(
                _(
                    "**Welcome to LoopLens.** Generating the embedded demo warehouse "
                    "({DEFAULT_CUSTOMERS:,} customers) — this happens once."
                ).format(DEFAULT_CUSTOMERS=demo.DEFAULT_CUSTOMERS),
                icon=":material/database:",
            )
            bar = st.progress(0.0, text=_("Starting…"))

            def report(fraction: float, message: str) -> None:
                bar.progress(min(max(fraction, 0.0), 1.0), text=message)

            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                demo.generate(str(path), progress=report, currency=demo_currency())
            except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
                st.error(_("Generating the demo warehouse failed: {exc}").format(exc=exc))
                return False
        box.empty()
        with st.spinner(_("Recording the demo decision log…")):
            _seed_demo_decisions(config.url)  # warns (outside the emptied box) on failure
        return True


def ensure_demo_serving(config: WarehouseConfig) -> None:
    """Build the serving layer for the embedded demo when it has none yet (a few seconds).

    Only for the demo warehouse and the default serving file: a user's own warehouse gets its
    serving layer from ``python -m data.serving refresh`` or the Data health page. A failure
    only warns: every page still works live.
    """
    if not config.is_demo:
        return
    serving = serving_config()
    if serving.source != "default" or serving.file_path is None or serving.file_path.exists():
        return
    with _SERVING_LOCK:
        if serving.file_path.exists():
            return
        from data.serving.refresh import refresh
        from data.warehouse import open_engine

        box = st.empty()
        with box.container():
            bar = st.progress(0.0, text=_("Building the serving layer (pre-aggregated tables)…"))
            steps = [0]

            def report(message: str) -> None:
                steps[0] += 1
                bar.progress(
                    min(steps[0] / 12, 1.0),
                    text=_("Serving layer: {message}").format(message=message),
                )

            engine = open_engine(config.url, read_only=True)
            try:
                refresh(engine, serving, config.url, progress=report)
            except Exception as exc:  # noqa: BLE001 - the app works live without it
                st.warning(
                    _(
                        "The serving layer was not built ({exc}); pages "
                        "compute their figures live from the "
                        "warehouse. Retry on the Data health page."
                    ).format(exc=exc),
                    icon=":material/warning:",
                )
            finally:
                engine.dispose()
        box.empty()


def _seed_demo_decisions(url: str) -> None:
    """Seed the app-state decision log from the new demo warehouse, if the log is empty.

    A failure (store unreachable, analysis error) only warns: the app starts without it.
    """
    from data.app_state.store import AppStateError
    from data.warehouse import open_engine
    from metrics.demo_targets import seed_demo_targets
    from metrics.experiments.demo_decisions import seed_demo_decisions

    engine = open_engine(url, read_only=True)
    try:
        seed_demo_decisions(engine, app_state_store())
        latest = latest_data_date(engine, url)
        if latest is not None:
            seed_demo_targets(engine, app_state_store(), latest)
    except AppStateError as exc:
        st.warning(
            _("The demo decision log was not recorded: {title}. {detail} {fix}").format(
                title=exc.title, detail=exc.detail, fix=exc.fix
            ),
            icon=":material/warning:",
        )
    except Exception as exc:  # noqa: BLE001 - the demo must start even without its decisions
        st.warning(
            _(
                "The demo decision log was not recorded (the demo "
                "experiments could not be analysed "
                "or recorded: {exc}). The Evolve page starts empty."
            ).format(exc=exc),
            icon=":material/warning:",
        )
    finally:
        engine.dispose()


EARLIEST_PLAUSIBLE = dt.datetime(1970, 1, 1)
FUTURE_SLACK_DAYS = 31
"""Touchpoints later than today (UTC) + this many days are treated as bad data: a row dated
9999-12-31 must not anchor the date range (it cannot even be shown by the date picker)."""


def plausible_window(today: dt.date | None = None) -> tuple[dt.datetime, dt.datetime]:
    """``[earliest, latest)`` instants a touchpoint may have to anchor the date range."""
    today = today or dt.datetime.now(dt.UTC).date()
    horizon = dt.datetime.combine(today + dt.timedelta(days=FUTURE_SLACK_DAYS + 1), dt.time.min)
    return EARLIEST_PLAUSIBLE, horizon


def _as_date(value: object) -> dt.date | None:
    if isinstance(value, str):  # SQLite returns text for MAX over a DateTime column
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else None


@st.cache_data(ttl=600, show_spinner=False)
def _data_dates(_engine: Engine, url: str) -> tuple[dt.date | None, dt.date | None]:
    lo, hi = plausible_window()
    at = touchpoints.c.occurred_at
    plausible = case((and_(at >= lo, at < hi), at))
    with _engine.connect() as conn:  # an error propagates: failures are not cached
        row = conn.execute(select(func.max(plausible), func.max(at))).one()
    return _as_date(row[0]), _as_date(row[1])


def data_dates(_engine: Engine, url: str) -> tuple[dt.date | None, dt.date | None]:
    """(newest plausible touchpoint day, newest touchpoint day), each None if unknown.

    The two differ when the warehouse holds touchpoints outside :func:`plausible_window` (a
    row dated 9999-12-31); the first anchors the date range. ``url`` is the cache key; answers
    are cached 10 minutes, failures not at all (the next run asks again).
    """
    try:
        return _data_dates(_engine, url)
    except SQLAlchemyError:
        return None, None


def latest_data_date(_engine: Engine, url: str) -> dt.date | None:
    """The day of the newest plausible touchpoint, or None if the warehouse cannot tell us."""
    return data_dates(_engine, url)[0]


@st.cache_data(ttl=600, show_spinner=False)
def _regions(_engine: Engine, url: str) -> tuple[str, ...]:
    with _engine.connect() as conn:  # an error propagates: failures are not cached
        present = {r[0] for r in conn.execute(select(customers.c.region).distinct())}
    return tuple(r.value for r in Region if r.value in present)


def data_regions(_engine: Engine, url: str) -> tuple[str, ...] | None:
    """The contract regions the warehouse's customers are in (the filter's options: the USD
    demo's world regions, the VND demo's Vietnamese ones); None if the warehouse cannot tell.
    ``url`` is the cache key (10 minutes; failures not cached)."""
    try:
        return _regions(_engine, url) or None
    except SQLAlchemyError:
        return None
