"""LoopLens: the app frame — page config, demo warehouse bootstrap, global filters, navigation.

Run with ``streamlit run app.py``. Pages live in ``pages/``; only finished pages are registered.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from components.access import render_access_gate, render_sidebar_identity
from components.navigation import OFFLINE_PAGES, PAGE_SPECS

# An emoji favicon is drawn locally (an inline SVG); a ":material/...:" page icon would make every
# browser fetch the favicon from fonts.gstatic.com, and nothing may come from the internet.
st.set_page_config(
    page_title="LoopLens",
    page_icon="♾️",
    layout="wide",
    initial_sidebar_state="auto",  # open on a desktop, collapsed on a phone (it covered 77%)
)

# With sign-in configured ([auth] in secrets.toml), a signed-out or unlisted person gets only the
# sign-in screen (see components.access); without it, local mode.
access = render_access_gate()
if access is None:
    st.stop()

# Register the pages before anything slow (the imports below, the demo generation): until
# st.navigation runs, the first session of a server process shows Streamlit's raw `pages/` file
# list in the sidebar. (Hence the imports after this block; E402 is ignored for app.py.)
sections: dict[str, list] = {}
for spec in PAGE_SPECS:
    sections.setdefault(spec.section, []).append(
        st.Page(spec.path, title=spec.title, icon=spec.icon, default=spec.default)
    )
page = st.navigation(sections)
offline_ok = page.url_path in OFFLINE_PAGES

from components.bootstrap import data_dates, ensure_demo_serving, ensure_demo_warehouse
from components.context import (
    FILTERS_KEY,
    connection_problem,
    mark_frame,
    missing_tables,
    release_frame,
    show_problem,
    warehouse,
    warehouse_config,
    warehouse_errors,
)
from components.filters_bar import render_global_filters
from components.freshness import render_sidebar_freshness

mark_frame()
config = warehouse_config()
ready = ensure_demo_warehouse(config)
if ready:
    ensure_demo_serving(config)

problem = connection_problem() if ready else None
missing = missing_tables() if ready and problem is None else ()
latest: dt.date | None = None
if ready and problem is None:
    latest, newest = data_dates(warehouse(), config.url)
    if newest is not None and newest != latest:
        st.sidebar.warning(
            f"Some touchpoints are dated {newest.isoformat()}, outside any plausible range; "
            f"the date range ends at {latest or 'today'} instead. Check Data health.",
            icon=":material/event_busy:",
        )

filters = render_global_filters(latest or dt.date.today())
st.session_state[FILTERS_KEY] = filters
if ready and problem is None:
    render_sidebar_freshness()
render_sidebar_identity(access)


def _link_to_data_health() -> None:
    st.page_link("pages/data_health.py", label="Open Data health", icon=":material/monitor_heart:")


try:
    if not ready and not offline_ok:
        show_problem(
            "The demo warehouse could not be created",
            "LoopLens generates an embedded DuckDB demo warehouse on first start, and that failed.",
            "See the message above, free some disk space or set LOOPLENS_WAREHOUSE_URL.",
        )
    elif problem is not None and not offline_ok:
        show_problem(problem.title, problem.detail, problem.fix)
        _link_to_data_health()
    elif missing and not offline_ok:
        show_problem(
            "The warehouse does not match the LoopLens contract",
            f"Missing table(s) or view(s): {', '.join(missing)}.",
            "Create them (usually as views over your own tables; see docs/warehouse.md), "
            "or open **Data health** for every table and column it checks.",
        )
        _link_to_data_health()
    else:
        with warehouse_errors("running this page"):  # last line of defence; pages handle theirs
            page.run()
finally:
    release_frame()  # the next run must go through app.py again (see components.context)
