"""Drill-down widgets: the link under a KPI tile, the click on a chart bar, and the Breakdown
page's body (breadcrumb, total, rows, chart), with the drill path in the URL.

The URL is the truth: ``bd_kpi`` (a catalog name), ``bd_path`` (``channel:paid_search,
segment:smb``) and ``bd_by`` (the grain of the rows), validated by
:func:`metrics.marketing.breakdown.parse_state` and written back on every run, so a copied
link reopens the same rows. The widgets only write those parameters (callbacks); they are not
bound to the URL themselves, whose bound form would be the translated label. A visit without
``bd_kpi`` (the sidebar link) reopens the breakdown last shown in the session.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from components.context import current_filters, warehouse, warehouse_errors
from components.downloads import csv_download
from components.escaping import md_text
from components.figure_cache import bar_chart
from components.kpi_tiles import cached_kpi, cached_totals, kpi_tile, warehouse_key
from components.tables import dataframe
from components.theme import CHANNEL_COLORS, STAGE_COLORS
from components.url_state import filter_params, switch_page
from i18n import _
from metrics import formatting as fmt
from metrics import small_samples as small
from metrics.marketing import breakdown as bd
from metrics.marketing import kpi_sql
from metrics.marketing.kpis import KPIS, format_value

PAGE = "pages/breakdown.py"
CHART_ROWS = 20
"""Bars drawn at most (largest first); the table and the CSV hold every row."""


def breakdown_params(state: bd.DrillState) -> dict[str, str]:
    """The query parameters that open ``state`` (with the global filters)."""
    params = {
        **filter_params(),
        bd.KPI_PARAM: state.kpi,
        bd.PATH_PARAM: bd.path_to_param(state.path),
    }
    if state.by is not None:
        params[bd.BY_PARAM] = state.by
    return params


def breakdown_link(kpi_name: str) -> None:
    """A small link under a KPI tile to the breakdown behind its figure."""
    state, _warnings = bd.parse_state({bd.KPI_PARAM: kpi_name}, default_kpi=kpi_name)
    if state.by is None:
        return
    st.page_link(
        PAGE,
        label=_("Breakdown"),
        icon=":material/account_tree:",
        help=_("Open the figure by {dimension} and further down.").format(
            dimension=_(bd.DIMENSION_LABELS[state.by]).lower()
        ),
        query_params=breakdown_params(state),
    )


def open_from_chart(key: str, frame: pd.DataFrame, column: str, kpi_name: str) -> None:
    """After a click on a bar of the chart ``key`` (drawn from ``frame``, one bar per row, in
    order), open the breakdown of ``kpi_name`` inside the clicked ``column`` value."""
    event = st.session_state.get(key)
    points = getattr(getattr(event, "selection", None), "points", None) or []
    if not points:
        return
    index = points[0].get("point_index", points[0].get("point_number"))
    if not isinstance(index, int) or not 0 <= index < len(frame):
        return
    value = str(frame[column].iloc[index])
    raw = {bd.KPI_PARAM: kpi_name}
    if column in bd.DRILLABLE:
        raw[bd.PATH_PARAM] = f"{column}:{value}"
    else:
        raw[bd.BY_PARAM] = column
    state, _warnings = bd.parse_state(raw, default_kpi=kpi_name)
    switch_page(
        PAGE, **{k: v for k, v in breakdown_params(state).items() if k not in filter_params()}
    )


# --- the page -------------------------------------------------------------------------------


KPI_PICK = "bd_kpi_pick"
BY_PICK = "bd_by_pick"
_LAST_STATE = "looplens_drill_state"


def _state_params() -> dict[str, str]:
    """The drill parameters of the URL; without ``bd_kpi`` (a visit from the sidebar), those
    of the breakdown last shown in this session."""
    if bd.KPI_PARAM in st.query_params:
        keys = (bd.KPI_PARAM, bd.PATH_PARAM, bd.BY_PARAM)
        return {k: str(st.query_params[k]) for k in keys if k in st.query_params}
    return dict(st.session_state.get(_LAST_STATE, {}))


def _write_state(state: bd.DrillState) -> None:
    """Put ``state`` in the URL (and the session's memory); the URL is the truth."""
    wanted = {bd.KPI_PARAM: state.kpi, bd.PATH_PARAM: bd.path_to_param(state.path)}
    if state.by is not None:
        wanted[bd.BY_PARAM] = state.by
    st.session_state[_LAST_STATE] = wanted
    for key in (bd.KPI_PARAM, bd.PATH_PARAM, bd.BY_PARAM):
        value = wanted.get(key) or None
        if value is None:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != value:
            st.query_params[key] = value


def _go(state: bd.DrillState) -> None:
    """Drill to ``state`` (a widget callback: runs before the next script run)."""
    _write_state(state)


def _kpi_changed() -> None:
    """Another figure: open it at its first level."""
    kpi = st.session_state.get(KPI_PICK)
    if kpi in bd.DRILL_KPIS:
        _write_state(bd.parse_state({bd.KPI_PARAM: kpi}, default_kpi=kpi)[0])


def _by_changed(state: bd.DrillState) -> None:
    by = st.session_state.get(BY_PICK)
    if by in bd.breakdown_dimensions(state.kpi, state.path):
        _write_state(bd.DrillState(state.kpi, state.path, by))


def _value_label(dimension: str, value: Any, names: dict[str, str]) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return _(bd.NOT_RECORDED)
    if dimension == "campaign":
        return names.get(str(value), str(value))
    if dimension == "is_personalised":
        return _("Personalised") if bool(value) else _("Generic")
    return fmt.label(value)


def _breadcrumb(state: bd.DrillState) -> None:
    kpi = KPIS[state.kpi]
    with st.container(horizontal=True, vertical_alignment="center", gap="small", key="bd_crumbs"):
        st.page_link(
            "pages/overview.py",
            label=_("Loop health"),
            icon=":material/arrow_upward:",
            query_params=filter_params(),
        )
        crumbs = [_("{kpi} · all").format(kpi=kpi.label)]
        crumbs += [fmt.label(step.value) for step in state.path]
        for depth, crumb in enumerate(crumbs):
            st.markdown("›")
            if depth == len(state.path):
                st.markdown(f"**{md_text(crumb)}**")
            else:
                st.button(
                    crumb,
                    key=f"bd_crumb_{depth}",
                    type="tertiary",
                    on_click=_go,
                    args=(bd.up_to(state, depth),),
                    help=_("Back to this level"),
                )


def _rows_table(
    state: bd.DrillState, rows: pd.DataFrame, names: dict[str, str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(shown, csv): the rows formatted through ``metrics.formatting``, and raw for the CSV."""
    kpi = KPIS[state.kpi]
    assert state.by is not None
    label = _(bd.DIMENSION_LABELS[state.by])
    data = rows.copy()
    data["_label"] = [_value_label(state.by, v, names) for v in data[state.by]]
    data = data.sort_values("value", ascending=False, na_position="last")
    shown = pd.DataFrame({label: data["_label"]})
    n = data["denominator"] if "denominator" in data else pd.Series(float("nan"), data.index)
    shown[kpi.label] = [
        small.TOO_SMALL if small.too_small(kpi, d) else format_value(kpi, v)
        for v, d in zip(data["value"], n, strict=True)
    ]
    csv = pd.DataFrame({label: data["_label"], kpi.label: data["value"]})
    if "numerator" in data and state.kpi in bd.PARTS:
        (num_label, den_label), (num_unit, den_unit) = bd.PARTS[state.kpi], bd.part_units(kpi)
        for col, name, unit in (
            ("numerator", _(num_label), num_unit),
            ("denominator", _(den_label), den_unit),
        ):
            shown[name] = [fmt.by_unit(v, unit) for v in data[col]]
            csv[name] = data[col]
    elif "numerator" not in data and bd.additive(kpi, state.by):
        total = float(data["value"].fillna(0).sum())
        shown[_("Share")] = [
            fmt.percent(v / total) if total else fmt.MISSING for v in data["value"]
        ]
    return shown.reset_index(drop=True), csv.reset_index(drop=True)


def _agreement_note(state: bd.DrillState, check: bd.Agreement, rows: int) -> None:
    kpi = KPIS[state.kpi]
    assert state.by is not None
    dimension = _(bd.DIMENSION_LABELS[state.by]).lower()
    if not check.additive:
        st.caption(
            _(
                "The rows overlap, so they do not add up to the total: a customer counted by "
                "{kpi} under two {dimension} values is in both rows, and once in the total."
            ).format(kpi=kpi.label, dimension=dimension)
            if kpi.kind != "derived"
            else _("{kpi} is a ratio of two ratios: its rows do not add up to the total.").format(
                kpi=kpi.label
            )
        )
        return
    if check.agrees:
        st.caption(
            _("The {n} rows add up to the total above (same definition, same filters).").format(
                n=fmt.count(rows)
            )
        )
    else:
        st.warning(
            _(
                "The rows do not add up to the total ({a} vs {b}). Please report this: the "
                "breakdown and the tile should use one definition."
            ).format(a=fmt.count(check.numerator_sum, 2), b=fmt.count(check.numerator_total, 2)),
            icon=":material/report:",
        )


@st.cache_data(ttl=600, show_spinner=False)
def _campaign_names(_engine: Engine, url: str) -> dict[str, str]:
    return bd.fetch_campaign_names(_engine)


def _chart(state: bd.DrillState, data: pd.DataFrame, names: dict[str, str], key: str) -> None:
    kpi = KPIS[state.kpi]
    assert state.by is not None
    plot = data.dropna(subset=["value"]).sort_values("value", ascending=False).head(CHART_ROWS)
    if plot.empty:
        return
    plot = plot.assign(_label=[_value_label(state.by, v, names) for v in plot[state.by]])
    raw = {"channel": CHANNEL_COLORS, "target_stage": STAGE_COLORS}.get(state.by, {})
    opened = [step.value for step in state.path if step.dimension == "channel"]
    if not raw and opened:  # rows inside one channel: that channel's colour
        raw = {str(v): CHANNEL_COLORS.get(opened[0], "") for v in plot[state.by]}
    colors = {
        lbl: raw[str(v)]
        for lbl, v in zip(plot["_label"], plot[state.by], strict=True)
        if str(v) in raw
    }
    drillable = state.by in bd.DRILLABLE
    title = _("{kpi} by {dimension}").format(
        kpi=kpi.label, dimension=_(bd.DIMENSION_LABELS[state.by]).lower()
    )
    figure = bar_chart(
        plot[["_label", "value"]].reset_index(drop=True),
        "_label",
        "value",
        title=title,
        color_map=colors or None,
        unit=kpi.unit,
        y_title=kpi.label,
        horizontal=True,
        height=max(220, 60 + 28 * len(plot)),
    )
    if drillable:
        st.plotly_chart(
            figure,
            key=key,
            on_select=lambda: _open_clicked(state, key, plot),
            selection_mode="points",
        )
        st.caption(_("Click a bar to open it."))
    else:
        st.plotly_chart(figure, key=key)
    if len(data.dropna(subset=["value"])) > CHART_ROWS:
        st.caption(_("The {n} largest rows; the table has all of them.").format(n=CHART_ROWS))


def _open_clicked(state: bd.DrillState, key: str, plot: pd.DataFrame) -> None:
    event = st.session_state.get(key)
    points = getattr(getattr(event, "selection", None), "points", None) or []
    if not points:
        return
    index = points[0].get("point_index", points[0].get("point_number"))
    if isinstance(index, int) and 0 <= index < len(plot):
        value = plot[state.by].iloc[index]
        if value is not None and str(value) in bd.DRILLABLE.get(state.by or "", ()):
            _go(bd.child_state(state, str(value)))


def _open_picker(state: bd.DrillState, values: Sequence[str]) -> None:
    assert state.by is not None
    label = _(bd.DIMENSION_LABELS[state.by]).lower()

    def picked() -> None:
        value = st.session_state.get("bd_open")
        if value in values:
            _go(bd.child_state(state, value))
        st.session_state["bd_open"] = None

    st.selectbox(
        _("Open one {dimension}").format(dimension=label),
        list(values),
        index=None,
        format_func=fmt.label,
        placeholder=_("Choose a {dimension} to see its breakdown").format(dimension=label),
        key="bd_open",
        on_change=picked,
    )


def render_breakdown() -> None:
    """The Breakdown page: a KPI, its drill path (breadcrumb), the total and the rows."""
    filters = current_filters()
    engine = warehouse()
    url = warehouse_key(engine)

    st.title(_("Breakdown"))
    state, warnings = bd.parse_state(_state_params(), default_kpi=bd.DRILL_KPIS[0])
    for warning in warnings:
        st.warning(md_text(warning), icon=":material/link_off:")
    narrowed = bd.narrowed(filters, state.path)
    if narrowed is None:
        st.info(
            _(
                "The drill path in the link lies outside the filters in the sidebar; showing "
                "the figure at its first level."
            ),
            icon=":material/filter_alt_off:",
        )
        state = bd.parse_state({bd.KPI_PARAM: state.kpi}, default_kpi=state.kpi)[0]
        narrowed = filters
    _write_state(state)  # a hostile or outdated link is replaced by what is shown
    st.session_state[KPI_PICK] = state.kpi
    st.selectbox(
        _("Figure"),
        list(bd.DRILL_KPIS),
        format_func=lambda n: KPIS[n].label,
        key=KPI_PICK,
        on_change=_kpi_changed,
    )
    _breadcrumb(state)

    kpi = KPIS[state.kpi]
    with warehouse_errors(_("loading the breakdown")):
        totals = cached_totals(engine, url, (state.kpi,), narrowed)
    row = totals.iloc[0]
    left, right = st.columns([1, 2])
    with left:
        kpi_tile(
            kpi,
            row.current,
            row.previous,
            days=narrowed.days,
            n_current=row.n_current,
            n_previous=row.n_previous,
        )
    with right:
        scope = [fmt.label(step.value) for step in state.path] or [_("all customers and channels")]
        st.markdown(
            _("**{kpi}**, {start} – {end}, {scope}.").format(
                kpi=md_text(kpi.label),
                start=f"{narrowed.start:%d %b %Y}",
                end=f"{narrowed.end:%d %b %Y}",
                scope=md_text(" › ".join(scope)),
            )
        )
        st.caption(md_text(kpi.definition))
        for note in kpi_sql.ignored_filters(kpi, narrowed):
            st.caption(md_text(note))

    options = bd.breakdown_dimensions(state.kpi, state.path)
    if not options:
        st.info(
            _(
                "{kpi} cannot be split further here: its measures have no other dimension "
                "(spend, for example, is reported per channel and campaign, not per customer)."
            ).format(kpi=kpi.label),
            icon=":material/account_tree:",
        )
        return
    st.session_state[BY_PICK] = state.by
    st.segmented_control(
        _("Split by"),
        options,
        format_func=lambda d: _(bd.DIMENSION_LABELS[d]),
        required=True,
        key=BY_PICK,
        on_change=_by_changed,
        args=(state,),
    )
    with warehouse_errors(_("loading the breakdown")):
        rows = cached_kpi(engine, url, state.kpi, narrowed, state.by)
        total = cached_kpi(engine, url, state.kpi, narrowed, "total")
        names = _campaign_names(engine, url) if state.by == "campaign" else {}
    if rows.empty:
        st.info(_("No rows for these filters."), icon=":material/filter_alt_off:")
        return
    shown, csv = _rows_table(state, rows, names)
    chart_key = f"bd_chart_{bd.path_to_param(state.path)}_{state.by}"
    _chart(state, rows, names, chart_key)
    dataframe(shown, hide_index=True, key="bd_table")
    _agreement_note(state, bd.agreement(kpi, state.by, rows, total), len(rows))
    csv_download(csv, f"{state.kpi}_by_{state.by}", key="dl_breakdown")
    if state.by in bd.DRILLABLE:
        values = [str(v) for v in rows[state.by].dropna() if str(v) in bd.DRILLABLE[state.by]]
        if bd.breakdown_dimensions(state.kpi, (*state.path, bd.Step(state.by, "x"))):
            _open_picker(state, sorted(values, key=fmt.label))
