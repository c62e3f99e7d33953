"""LoopLens: the app frame — page config, demo warehouse bootstrap, global filters, navigation.

Run with ``streamlit run app.py``. Pages live in ``pages/``; only finished pages are registered.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from components.bootstrap import ensure_demo_warehouse, latest_data_date
from components.context import (
    FILTERS_KEY,
    connection_problem,
    mark_frame,
    show_problem,
    warehouse,
    warehouse_config,
)
from components.filters_bar import render_global_filters
from components.navigation import PAGE_SPECS

st.set_page_config(
    page_title="LoopLens",
    page_icon=":material/all_inclusive:",
    layout="wide",
    initial_sidebar_state="expanded",
)

mark_frame()
config = warehouse_config()
ready = ensure_demo_warehouse(config)

problem = connection_problem() if ready else None
latest: dt.date | None = None
if ready and problem is None:
    latest = latest_data_date(warehouse(), config.url)

filters = render_global_filters(latest or dt.date.today())
st.session_state[FILTERS_KEY] = filters

sections: dict[str, list] = {}
for spec in PAGE_SPECS:
    sections.setdefault(spec.section, []).append(
        st.Page(spec.path, title=spec.title, icon=spec.icon, default=spec.default)
    )

page = st.navigation(sections)
on_health_page = page.url_path == "data_health"
if not ready and not on_health_page:
    show_problem(
        "The demo warehouse could not be created",
        "LoopLens generates an embedded DuckDB demo warehouse on first start, and that failed.",
        "See the message above, free some disk space or set LOOPLENS_WAREHOUSE_URL.",
    )
elif problem is not None and not on_health_page:
    show_problem(problem.title, problem.detail, problem.fix)
    st.page_link(
        "pages/data_health.py", label="Open Data health", icon=":material/health_and_safety:"
    )
else:
    page.run()
