"""Data health · Serving layer: what each serving table covers, how fresh it is, and buttons to
refresh it (incremental) or rebuild it (full) from the warehouse."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from components.context import serving_config, serving_store, warehouse, warehouse_config
from components.tables import dataframe
from data.serving.refresh import covered_through, latest_by_table, refresh
from data.serving.rollups import all_rollups
from data.serving.store import RefreshRecord, ServingStore
from i18n import _
from metrics import formatting as fmt

COLUMNS = ["Serving table", "What it holds", "Rows", "Complete through", "Behind by (days)",
           "Last refresh (UTC)", "Mode", "Build s", "Status"]  # fmt: skip


@st.cache_data(ttl=60, show_spinner=False)
def _latest(_engine: Engine, url: str) -> dict[str, dt.datetime | None]:
    with _engine.connect() as conn:
        return latest_by_table(conn)


def status_frame(
    records: dict[str, RefreshRecord],
    store: ServingStore | None,
    latest: dict[str, dt.datetime | None],
) -> pd.DataFrame:
    """One row per declared serving table: coverage, freshness and whether it can serve."""
    rows = []
    for r in all_rollups():
        rec = records.get(r.name)
        newest = covered_through(r, latest)
        if rec is None:
            rows.append((r.name, r.description, None, None, None, None, None, None,
                         _("not built")))  # fmt: skip
            continue
        behind = (
            (newest - rec.covered_through).days
            if newest is not None and rec.covered_through is not None
            else None
        )
        if store is None or not store.usable(rec):
            status = _("stale: built from another warehouse or LoopLens version")
        elif behind:
            status = _("behind the warehouse by {days}").format(days=fmt.days(behind))
        else:
            status = _("up to date")
        rows.append((r.name, r.description, rec.row_count, rec.covered_through, behind,
                     rec.refreshed_at, rec.mode, rec.seconds, status))  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def _run_refresh(full: bool) -> None:
    config = warehouse_config()
    with st.status(_("Refreshing the serving layer…"), expanded=True) as box:
        try:
            result = refresh(
                warehouse(), serving_config(), config.url, full=full, progress=box.write
            )
        except (SQLAlchemyError, OSError) as exc:
            box.update(label=_("The refresh failed"), state="error")
            st.error(
                _(
                    "The serving layer was not refreshed: {error}. Pages keep using the "
                    "previous serving tables or the warehouse."
                ).format(error=type(exc).__name__)
            )  # fmt: skip
            return
        box.update(
            label=_("Serving layer refreshed in {seconds:.1f} s").format(seconds=result.seconds),
            state="complete",
        )
    _latest.clear()
    store = serving_store()
    if store is not None:
        store.records(reload=True)


def render_serving_section() -> None:
    """The serving-layer block of the Data health page."""
    st.subheader(_("Serving layer"))
    config = serving_config()
    st.caption(
        _(
            "Pre-aggregated tables the pages read instead of the raw warehouse, in "
            "`{masked_url}` ({source}). Built by `python -m data.serving refresh` "
            "(cron-friendly) or the buttons below; figures equal the live SQL's."
        ).format(masked_url=config.masked_url, source=config.source)
    )
    left, right = st.columns(2)
    if left.button(_("Refresh now (new days)"), key="serving_refresh", icon=":material/sync:"):
        _run_refresh(full=False)
    if right.button(_("Rebuild from all history"), key="serving_rebuild", icon=":material/build:"):
        _run_refresh(full=True)
    store = serving_store()
    records = store.records() if store is not None else {}
    try:
        latest = _latest(warehouse(), warehouse_config().url)
    except SQLAlchemyError:
        latest = {}
    frame = status_frame(records, store, latest)
    if not records:
        st.info(_("No serving layer yet: pages compute every figure live from the warehouse. Press "
"**Refresh now** to build it."), icon=":material/info:")  # fmt: skip
    elif (frame["Status"] != "up to date").any():
        st.warning(
            _(
                "Some serving tables are behind the warehouse or "
                "stale; pages answer those questions "
                "live until the next refresh."
            ),
            icon=":material/schedule:",
        )
    dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "Rows": st.column_config.NumberColumn(format="localized"),
            "Build s": st.column_config.NumberColumn(format="%.2f"),
            "Last refresh (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        },
    )
