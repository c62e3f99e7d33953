"""LoopLens: the app frame — page config, demo warehouse bootstrap, global filters, navigation.

Run with ``streamlit run app.py``. Pages live in ``pages/``; only finished pages are registered.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from components.access import render_access_gate, render_sidebar_identity
from components.language import activate_language, configure_currency, render_language_picker
from components.navigation import OFFLINE_PAGES, PAGE_SPECS
from i18n import _

# An emoji favicon is drawn locally (an inline SVG); a ":material/...:" page icon would make every
# browser fetch the favicon from fonts.gstatic.com, and nothing may come from the internet.
st.set_page_config(
    page_title="LoopLens",
    page_icon="♾️",
    layout="wide",
    initial_sidebar_state="auto",  # open on a desktop, collapsed on a phone (it covered 77%)
)

# The language first: every text of this run (the sign-in screen too) is drawn in it.
activate_language()
configure_currency()

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
    sections.setdefault(_(spec.section), []).append(
        st.Page(spec.path, title=_(spec.title), icon=spec.icon, default=spec.default)
    )
page = st.navigation(sections, expanded=True)  # every page listed (no "View more" fold)
offline_ok = page.url_path in OFFLINE_PAGES

from components.bootstrap import (
    data_dates,
    data_regions,
    ensure_demo_serving,
    ensure_demo_warehouse,
)
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
regions: tuple[str, ...] | None = None
if ready and problem is None:
    latest, newest = data_dates(warehouse(), config.url)
    regions = data_regions(warehouse(), config.url)
    if newest is not None and newest != latest:
        st.sidebar.warning(
            _(
                "Some touchpoints are dated {isoformat}, outside any "
                "plausible range; the date range "
                "ends at {value} instead. Check Data health."
            ).format(isoformat=newest.isoformat(), value=latest or "today"),
            icon=":material/event_busy:",
        )

render_language_picker()
filters = render_global_filters(latest or dt.date.today(), regions)
st.session_state[FILTERS_KEY] = filters
if ready and problem is None:
    render_sidebar_freshness()
render_sidebar_identity(access)


def _link_to_data_health() -> None:
    st.page_link(
        "pages/data_health.py", label=_("Open Data health"), icon=":material/monitor_heart:"
    )


try:
    if not ready and not offline_ok:
        show_problem(
            _("The demo warehouse could not be created"),
            _(
                "LoopLens generates an embedded DuckDB demo warehouse on first start, and that "
                "failed."
            ),
            _("See the message above, free some disk space or set LOOPLENS_WAREHOUSE_URL."),
        )
    elif problem is not None and not offline_ok:
        show_problem(problem.title, problem.detail, problem.fix)
        _link_to_data_health()
    elif missing and not offline_ok:
        show_problem(
            _("The warehouse does not match the LoopLens contract"),
            _("Missing table(s) or view(s): {missing}.").format(missing=", ".join(missing)),
            _(
                "Create them (usually as views over your own tables; "
                "see docs/warehouse.md), or open "
                "**Data health** for every table and column it checks."
            ),
        )
        _link_to_data_health()
    else:
        with warehouse_errors(_("running this page")):  # last line of defence; pages handle theirs
            page.run()
finally:
    release_frame()  # the next run must go through app.py again (see components.context)
