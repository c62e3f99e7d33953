"""Targets & alerts: each KPI's series with its expected band (anomalies and their drivers),
the KPI targets with pace, and the alert rules ``python -m reports alerts run`` evaluates.
Thin: the detector is metrics.anomaly, the widgets components.targets_view."""

from __future__ import annotations

import dataclasses

import streamlit as st

from components.charts import band_chart
from components.context import current_filters, warehouse, warehouse_errors
from components.kpi_tiles import cached_totals, warehouse_key
from components.targets_view import (
    cached_band,
    cached_driver,
    load_targets,
    rules_editor,
    targets_editor,
)
from i18n import _
from metrics import formatting as fmt
from metrics.anomaly import detector
from metrics.marketing.kpis import KPIS, format_value

BAND_KPIS = ("paid_spend", "new_customers", "revenue", "cac", "conversion_rate", "roas")

filters = current_filters()
engine = warehouse()
url = warehouse_key(engine)

st.title(_("Targets & alerts"))
st.caption(
    _(
        "Each KPI against what is normal for it: the band is a {level} one-step-ahead "
        "forecast range learnt from the history before it (docs/alerts.md). Points outside "
        "it are anomalies, explained by the channel or segment that moved most."
    ).format(level=fmt.percent(detector.DEFAULT_LEVEL, 0))
)

left, right = st.columns([2, 1])
kpi_name = left.selectbox(_("KPI"), BAND_KPIS, key="al_kpi", format_func=lambda n: KPIS[n].label)
grain = right.radio(
    _("Series"),
    ("day", "week"),
    key="al_grain",
    horizontal=True,
    format_func=lambda g: _("daily") if g == "day" else _("weekly"),
)
kpi = KPIS[kpi_name]
with warehouse_errors(_("loading the KPI series")):
    band, history, problem = cached_band(engine, url, kpi_name, filters, filters.end, grain)
if band is None:
    st.info(_("No band for this series: {problem}.").format(problem=problem))
else:
    st.plotly_chart(
        band_chart(
            band,
            y_title=kpi.label,
            unit=kpi.unit,
            history=history,
            names={
                "band": _("Expected range"),
                "expected": _("Expected"),
                "actual": _("Actual"),
                "anomaly": _("Outside the range"),
            },
        ),
        width="stretch",
        key="al_band_chart",
    )
    outside = band[band["anomaly"].astype(bool)]
    if outside.empty:
        st.caption(_("No point of this window is outside its expected range."))
    else:
        lines = []
        with warehouse_errors(_("explaining the anomalies")):
            for bucket, row in outside.iloc[::-1].head(5).iterrows():
                why = cached_driver(
                    engine, url, kpi_name, filters, bucket, grain, row.expected, row.actual
                )
                lines.append(
                    _("- **{day}**: {actual} (expected {expected}); {why}.").format(
                        day=fmt.date(bucket),
                        actual=format_value(kpi, row.actual),
                        expected=format_value(kpi, row.expected),
                        why=why,
                    )
                )
        st.markdown("\n".join(lines))

st.subheader(_("Targets"))
all_customers = dataclasses.replace(filters, channels=(), segments=(), regions=())
with warehouse_errors(_("loading the KPI totals")):
    wanted = sorted({t.kpi for t in load_targets()} | set(BAND_KPIS))
    totals = cached_totals(engine, url, tuple(wanted), all_customers)
values = {
    k: (None if v != v else float(v))
    for k, v in zip(totals["kpi"], totals["current"], strict=False)  # NaN → None
}
targets_editor(values, filters.end)

st.subheader(_("Alert rules"))
rules_editor()
