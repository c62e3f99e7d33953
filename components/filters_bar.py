"""The sidebar's global filters, kept in the URL so a copied link reopens the same view.

``st.query_params`` is cleared when the user switches page, so the filters are written back to
the URL on every run (``app.py`` runs before every page).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import streamlit as st

import i18n
from components.escaping import md_text
from data.schema import Channel, Region, Segment
from i18n import N_, _
from metrics import formatting
from metrics.filters import Filters, clamp_dates, default_filters

_INIT_KEY = "looplens_filters_initialised"
DATE_KEY = "filter_dates"
CHANNEL_KEY = "filter_channels"
SEGMENT_KEY = "filter_segments"
REGION_KEY = "filter_regions"

_DIMENSIONS = (  # (label, placeholder, values, session key)
    (N_("Channel"), N_("All channels"), Channel, CHANNEL_KEY),
    (N_("Segment"), N_("All segments"), Segment, SEGMENT_KEY),
    (N_("Region"), N_("All regions"), Region, REGION_KEY),
)

# Widest range the date picker offers, relative to the latest data date.
_HISTORY_DAYS = 3 * 365


def _label(value: str) -> str:
    return formatting.label(value)


def _seed_widgets_from_url(default: Filters, lo: dt.date, hi: dt.date) -> None:
    """On a session's first run, take the filter values from the URL (warning on bad ones).

    Dates outside the picker's range ``[lo, hi]`` are moved into it with a note (the widget
    raises on them).
    """
    if st.session_state.get(_INIT_KEY):
        return
    parsed, warnings = Filters.from_query_params(dict(st.query_params), default=default)
    start, end, notes = clamp_dates(parsed.start, parsed.end, lo, hi)
    warnings += notes
    st.session_state[DATE_KEY] = (start, end)
    st.session_state[CHANNEL_KEY] = list(parsed.channels)
    st.session_state[SEGMENT_KEY] = list(parsed.segments)
    st.session_state[REGION_KEY] = list(parsed.regions)
    st.session_state["looplens_filter_warnings"] = warnings
    st.session_state[_INIT_KEY] = True


def render_global_filters(latest: dt.date, regions: Sequence[str] | None = None) -> Filters:
    """Draw the sidebar filters and return them as one frozen ``Filters`` value.

    ``regions``: the region options (the warehouse's; default every contract region). A
    region picked from a link stays an option even if the warehouse has none of it.
    """
    default = default_filters(latest)
    lo, hi = latest - dt.timedelta(days=_HISTORY_DAYS), latest + dt.timedelta(days=1)
    _seed_widgets_from_url(default, lo, hi)
    # The range moves with the latest data date: keep a range picked earlier inside it.
    held = st.session_state.get(DATE_KEY)
    if isinstance(held, tuple | list) and all(isinstance(d, dt.date) for d in held):
        inside = tuple(min(max(d, lo), hi) for d in held)
        if inside != tuple(held):
            st.session_state[DATE_KEY] = inside

    with st.sidebar:
        st.markdown(_("### Filters"))
        picked = st.date_input(
            _("Date range"),
            key=DATE_KEY,
            persist_state="session",  # a page switch must not reset it (st.switch_page)
            min_value=lo,
            max_value=hi,
            format="DD/MM/YYYY" if i18n.get_language() == "vi" else "YYYY/MM/DD",
            help=_(
                "Inclusive, in UTC days. Deltas compare with the previous period of equal length."
            ),
        )
        for label, placeholder, enum, key in _DIMENSIONS:
            options = [member.value for member in enum]
            if key == REGION_KEY and regions:
                held = st.session_state.get(key) or []
                options = [v for v in options if v in regions or v in held]
            st.multiselect(
                _(label),
                options=options,
                key=key,
                persist_state="session",
                format_func=_label,
                placeholder=_(placeholder),
            )
        for warning in st.session_state.get("looplens_filter_warnings", []):
            st.warning(md_text(warning), icon=":material/link_off:")  # echoes the link: literal

    if isinstance(picked, tuple | list) and len(picked) == 2:
        start, end = picked
    elif isinstance(picked, tuple | list) and len(picked) == 1:
        start = end = picked[0]  # the user has picked only the first day so far
    elif isinstance(picked, dt.date):
        start = end = picked
    else:
        start, end = default.start, default.end

    filters = Filters(
        start=start,
        end=end,
        channels=tuple(st.session_state.get(CHANNEL_KEY, ())),
        segments=tuple(st.session_state.get(SEGMENT_KEY, ())),
        regions=tuple(st.session_state.get(REGION_KEY, ())),
    )
    _write_to_url(filters)
    return filters


def _write_to_url(filters: Filters) -> None:
    """Mirror the filters into the URL, keeping any page-specific parameters."""
    wanted = filters.to_query_params()
    for key in ("start", "end", "channel", "segment", "region"):
        if key in wanted:
            if st.query_params.get(key) != wanted[key]:
                st.query_params[key] = wanted[key]
        elif key in st.query_params:
            del st.query_params[key]
