"""Tailor (1:1 personalisation): persona × lifecycle-stage grid with a drill-down to each cell's
customers. Thin: queries live in metrics.tailor; figures and loaders in components.tailor_*."""

from __future__ import annotations

import streamlit as st

from components import tables
from components import tailor_grid as tg
from components.context import current_filters, warehouse, warehouse_errors
from components.downloads import csv_download
from components.kpi_tiles import warehouse_key
from i18n import _
from metrics import formatting as fmt
from metrics.small_samples import MIN_UNITS, TOO_SMALL
from metrics.tailor import grid

filters = current_filters()
engine = warehouse()
url = warehouse_key(engine)

st.title(_("Tailor"))
st.caption(
    _(
        "Personalisation by persona and journey stage, {start:%d %b %Y} – {end:%d %b %Y}. "
        "Segment, region and channel filters apply to the customer (channel = acquisition "
        "channel)."
    ).format(start=filters.start, end=filters.end)
)

# --- persona × stage grid -------------------------------------------------------------------------
st.subheader(_("Persona × lifecycle stage"))
with warehouse_errors(_("loading the persona grid")):
    cells = tg.load_grid(engine, url, filters)
if cells.empty:
    st.info(
        _(
            "No customer has a lifecycle stage by the end of this period with these filters. "
            "Widen the dates or clear the channel, segment or region selection in the sidebar."
        ),
        icon=":material/filter_alt_off:",
    )
    st.stop()

measure = st.segmented_control(
    _("Colour by"),
    list(tg.MEASURES),
    default="customers",
    format_func=lambda m: _(tg.MEASURES[m]),
    key="tl_grid_measure",
)
measure = measure or "customers"
st.plotly_chart(tg.grid_figure(cells, measure), key="tl_grid_chart")
st.caption(
    _(
        "**Stage**: each customer's latest lifecycle stage as of {end:%d %b %Y}. **Customers**: "
        "customers of the persona in that stage. **Conversion to next stage**: of the persona's "
        "customers who entered the stage in the period, the share who reached the next stage by "
        "its end (loyalty and dormant have none). **Revenue per customer**: the cell's order "
        "revenue in the period ÷ its customers. **NPS**: the cell's NPS answers in the period, "
        "% promoters (9–10) − % detractors (0–6). Cells resting on fewer than {n} customers, "
        "entrants or answers are grey: n too small."
    ).format(end=filters.end, n=MIN_UNITS)
)
csv_download(cells, "tailor_persona_stage_grid", "dl_tl_grid")

# --- cell drill-down ------------------------------------------------------------------------------
st.subheader(_("Open a cell"))
personas = sorted(cells["persona"].unique())
stages = [s for s in grid.STAGE_ORDER if s in set(cells["stage"])]
c1, c2 = st.columns(2)
persona = c1.selectbox(_("Persona"), personas, format_func=fmt.label, key="tl_cell_persona")
stage = c2.selectbox(_("Stage"), stages, format_func=fmt.label, key="tl_cell_stage")
row = cells[(cells["persona"] == persona) & (cells["stage"] == stage)]
if row.empty:
    st.info(_("No customer of this persona is in this stage at the end of the period."))
else:
    r = row.iloc[0]
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(_("Customers"), fmt.count(r["customers"]))
    m2.metric(
        _("Conversion to next stage"),
        _(TOO_SMALL) if r["conversion_small"] else fmt.percent(r["conversion"]),
        help=_("{converted} of {entered} who entered the stage in the period").format(
            converted=fmt.count(r["converted"]), entered=fmt.count(r["entered"])
        ),
    )
    m3.metric(_("Revenue in the period"), fmt.money(r["revenue"]))
    m4.metric(
        _("NPS"),
        _(TOO_SMALL) if r["nps_small"] else fmt.score(r["nps"]),
        help=_("{n} NPS answers in the period").format(n=fmt.count(r["nps_answers"])),
    )
    with warehouse_errors(_("loading the cell's customers")):
        people = tg.load_cell(engine, url, filters, persona, stage)
    if len(people) >= grid.MAX_CELL_ROWS:
        st.caption(
            _("The cell has more customers than the {n} with the highest revenue listed.").format(
                n=fmt.count(grid.MAX_CELL_ROWS)
            )
        )
    tables.dataframe(
        people.head(500).assign(
            segment=people["segment"].map(fmt.label).head(500),
            region=people["region"].map(fmt.label).head(500),
            acquisition_channel=people["acquisition_channel"].map(fmt.label).head(500),
        ),
        hide_index=True,
        key="tl_cell_table",
        column_config={
            "customer_id": st.column_config.NumberColumn(_("Customer"), format="%d"),
            "stage_since": st.column_config.DatetimeColumn(
                _("In stage since"), format="D MMM YYYY"
            ),
            "revenue": st.column_config.NumberColumn(_("Revenue in the period"), format="dollar"),
        },
    )
    st.caption(
        _(
            "The cell's customers, highest revenue in the period first (the table shows the first "
            "500; the CSV holds all {n})."
        ).format(n=fmt.count(len(people)))
    )
    csv_download(people, f"tailor_{persona}_{stage}_customers", "dl_tl_cell")
