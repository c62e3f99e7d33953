"""Targets and alert rules in the app: the tiles' target lines, the band chart's data, and
the small editors (Streamlit widgets; the rules and figures live in metrics/ and data/).

Editing needs the analyst role (``components.access``); in local mode the name is typed.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from components.access import current_access
from components.context import app_state_store, serving_store
from components.escaping import md_text
from data.access import AccessDenied, Role
from data.app_state import alerts as store_alerts
from data.app_state.store import AppStateError
from data.app_state.targets import (
    SCOPE_KINDS,
    Target,
    TargetValidationError,
    current_targets,
    record_target,
    target_history,
)
from data.schema import Channel, Segment
from i18n import N_, _
from metrics import formatting as fmt
from metrics.anomaly import detector, series
from metrics.filters import Filters
from metrics.marketing.kpis import KPIS, Unit, format_value
from metrics.targets import Pace, PaceStatus, pace

TTL = 600
PACE_TEXT = {  # English msgids, shown with _()
    PaceStatus.REACHED: N_("reached"),
    PaceStatus.ON_TRACK: N_("on track"),
    PaceStatus.BEHIND: N_("behind"),
    PaceStatus.MISSED: N_("missed"),
    PaceStatus.UNKNOWN: N_("pace unknown"),
}


def load_targets() -> list[Target]:
    """The active targets, or [] when the store cannot be read (the tiles then show the
    catalog targets)."""
    try:
        return current_targets(app_state_store())
    except AppStateError:
        return []


def scope_matches(target: Target, filters: Filters) -> bool:
    """A target applies to a view whose channel/segment selection is exactly its scope."""
    if target.scope_kind == "all":
        return not filters.channels and not filters.segments
    chosen = filters.channels if target.scope_kind == "channel" else filters.segments
    other = filters.segments if target.scope_kind == "channel" else filters.channels
    return chosen == (target.scope_value,) and not other


def target_pace(target: Target, current: float | None, today: dt.date) -> Pace:
    return pace(
        value=target.value,
        direction=target.direction,
        baseline=target.baseline,
        set_on=target.set_on,
        deadline=target.deadline,
        current=current,
        today=today,
    )


def tile_target_lines(
    totals: pd.DataFrame, filters: Filters, targets: list[Target] | None = None
) -> dict[str, tuple[float | None, str]]:
    """For each tile KPI with a target matching the view: (progress 0–1, its line of text).

    Pace is measured on the view's last day (``filters.end``) with the tile's own value.
    """
    out: dict[str, tuple[float | None, str]] = {}
    values = dict(zip(totals["kpi"], totals["current"], strict=False))
    for t in load_targets() if targets is None else targets:
        if t.kpi not in values or not scope_matches(t, filters):
            continue
        kpi = KPIS[t.kpi]
        cur = values[t.kpi]
        p = target_pace(t, None if pd.isna(cur) else float(cur), filters.end)
        text = _("Target {value} by {deadline} · {status}").format(
            value=format_value(kpi, t.value),
            deadline=fmt.date(t.deadline, short=True),
            status=_(PACE_TEXT[p.status]),
        )
        out[t.kpi] = (p.progress, text)
    return out


@st.cache_data(ttl=TTL, show_spinner=False)
def cached_band(
    _engine: Engine, url: str, kpi: str, scope: Filters, end: dt.date, grain: str
) -> tuple[pd.DataFrame | None, pd.Series | None, str | None]:
    """(band, history before it, error) for the chart; cached like the tiles' figures."""
    s = series.kpi_series(_engine, kpi, scope, end, grain, serving=serving_store())
    b = detector.band(s, grain)
    if isinstance(b, detector.BandError):
        return None, None, b.message
    return b, s[s.index < b.index[0]].tail(len(b)), None


@st.cache_data(ttl=TTL, show_spinner=False)
def cached_driver(
    _engine: Engine, url: str, kpi: str, scope: Filters, bucket: dt.date, grain: str,
    expected: float, actual: float,
) -> str:  # fmt: skip
    """The driver of one anomalous bucket as a sentence (cached)."""
    d = series.explain(_engine, kpi, scope, bucket, grain, expected, actual,
                       serving=serving_store())  # fmt: skip
    if d is None:
        return _("no single channel or segment explains it")
    share = "" if d.share_of_deviation is None else fmt.percent(d.share_of_deviation)
    return _("{dimension} {member} explains {share} of the deviation").format(
        dimension=_(d.dimension), member=fmt.label(d.member), share=share
    )


def _who(access_key: str) -> str | None:
    access = current_access()
    if not access.can_record:
        st.info(
            _("Editing needs the analyst role; you have {role}.").format(role=access.role.label),
            icon=":material/lock:",
        )
        return None
    if access.signed_in:
        return access.who or ""
    return st.text_input(_("Your name"), key=access_key, max_chars=200)


def _scope_inputs(key: str) -> tuple[str, str]:
    kind = st.selectbox(
        _("Scope"), SCOPE_KINDS, key=f"{key}_scope", format_func=lambda k: _(fmt.label(k))
    )
    value = ""
    if kind != "all":
        choices = [str(c) for c in (Channel if kind == "channel" else Segment)]
        value = st.selectbox(_(fmt.label(kind)), choices, key=f"{key}_scope_value",
                             format_func=fmt.label)  # fmt: skip
    return kind, value


def _kpi_input(key: str) -> str:
    names = sorted(KPIS, key=lambda n: KPIS[n].label)
    return st.selectbox(_("KPI"), names, key=key, format_func=lambda n: KPIS[n].label)


def _input_value(kpi_name: str, key: str, default: float | None) -> float:
    """A target value in the unit people read (percent KPIs typed as %)."""
    kpi = KPIS[kpi_name]
    percent = Unit(kpi.unit) is Unit.PERCENT
    shown = None if default is None else (default * 100 if percent else default)
    typed = st.number_input(
        _("Target value (%)") if percent else _("Target value"),
        value=shown,
        key=key,
        format="%.4g",
    )
    if typed is None:
        return float("nan")
    return float(typed) / 100 if percent else float(typed)


def targets_editor(totals_now: dict[str, float | None], today: dt.date) -> None:
    """The current targets with pace, a form to set or change one, and the change history."""
    try:
        store = app_state_store()
        targets = current_targets(store)
    except AppStateError as exc:
        st.warning(f"{exc.title}. {exc.detail}", icon=":material/warning:")
        return
    rows = []
    for t in targets:
        kpi = KPIS[t.kpi]
        p = target_pace(t, totals_now.get(t.kpi) if t.scope_kind == "all" else None, today)
        rows.append({
            _("KPI"): kpi.label,
            _("Scope"): _("all") if t.scope_kind == "all" else fmt.label(t.scope_value),
            _("Target"): format_value(kpi, t.value),
            _("Baseline"): format_value(kpi, t.baseline),
            _("Deadline"): fmt.date(t.deadline),
            _("Owner"): t.owner,
            _("Progress"): "–" if p.progress is None else fmt.percent(p.progress),
            _("Status"): _(PACE_TEXT[p.status]),
            _("Version"): fmt.count(t.version),
        })  # fmt: skip
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        st.caption(
            _(
                "Progress and pace for all-customer targets at the view's last day; "
                "scoped targets are paced on the Loop-health tiles under that filter."
            )
        )
    else:
        st.caption(_("No targets yet."))
    with st.expander(_("Set or change a target"), icon=":material/flag:"):
        who = _who("tg_who")
        if who is not None:
            with st.form("tg_form", border=False):
                kpi_name = _kpi_input("tg_kpi")
                kind, value = _scope_inputs("tg")
                target_value = _input_value(kpi_name, "tg_value", None)
                direction = st.radio(_("Reached when the KPI is"), ("higher", "lower"),
                                     key="tg_direction", horizontal=True,
                                     format_func=lambda d: _("at least the target") if d ==
                                     "higher" else _("at most the target"))  # fmt: skip
                deadline = st.date_input(_("Deadline"), value=today + dt.timedelta(days=90),
                                         key="tg_deadline")  # fmt: skip
                owner = st.text_input(_("Owner"), key="tg_owner", max_chars=200)
                retire = st.checkbox(_("Retire this target"), key="tg_retire")
                submitted = st.form_submit_button(_("Save target"))
            if submitted:
                base = totals_now.get(kpi_name) if kind == "all" else None
                try:
                    current_access().require(Role.ANALYST, _("setting a target"))
                    record_target(
                        store, kpi=kpi_name, value=target_value, direction=direction,
                        deadline=deadline, owner=owner, changed_by=who, scope_kind=kind,
                        scope_value=value, baseline=base, set_on=today, active=not retire,
                    )  # fmt: skip
                    st.success(_("Target saved."))
                except TargetValidationError as exc:
                    st.error("\n".join(f"- {md_text(i)}" for i in exc.issues))
                except (AccessDenied, AppStateError) as exc:
                    st.error(md_text(str(exc)))
    with st.expander(_("Who changed what, when"), icon=":material/history:"):
        history = target_history(store)
        if history:
            st.dataframe(
                pd.DataFrame([{
                    _("When (UTC)"): fmt.clock(h.recorded_at),
                    _("KPI"): KPIS[h.kpi].label if h.kpi in KPIS else h.kpi,
                    _("Scope"): fmt.label(h.scope_value or "all"),
                    _("Version"): fmt.count(h.version),
                    _("Target"): format_value(KPIS[h.kpi], h.value) if h.kpi in KPIS else "",
                    _("Active"): _("yes") if h.active else _("retired"),
                    _("Changed by"): h.changed_by,
                } for h in history]),
                hide_index=True, width="stretch",
            )  # fmt: skip


def rules_editor() -> None:
    """The active alert rules, their fired episodes and a form to add one."""
    try:
        store = app_state_store()
        rules = store_alerts.active_rules(store)
        episodes = store_alerts.open_episodes(store)
    except AppStateError as exc:
        st.warning(f"{exc.title}. {exc.detail}", icon=":material/warning:")
        return
    if rules:
        st.dataframe(
            pd.DataFrame([{
                _("Rule"): r.name,
                _("KPI"): KPIS[r.kpi].label if r.kpi in KPIS else r.kpi,
                _("Grain"): _(r.grain),
                _("Condition"): _(fmt.label(r.condition)),
                _("Scope"): _("all") if r.scope_kind == "all" else fmt.label(r.scope_value),
                _("Recipients"): fmt.count(len(r.recipients)),
            } for r in rules]),
            hide_index=True, width="stretch",
        )  # fmt: skip
    else:
        st.caption(_("No alert rules yet. `python -m reports alerts run` evaluates them."))
    if episodes:
        with st.expander(_("Fired alerts"), icon=":material/notifications:"):
            st.dataframe(
                pd.DataFrame([{
                    _("Since"): fmt.date(e.started_on),
                    _("Message"): e.message.splitlines()[2] if e.message.count("\n") >= 2
                    else e.message,
                    _("Delivered"): fmt.clock(e.delivered_at) if e.delivered_at else _("not yet"),
                } for e in episodes]),
                hide_index=True, width="stretch",
            )  # fmt: skip
    with st.expander(_("Add an alert rule"), icon=":material/add_alert:"):
        who = _who("ar_who")
        if who is None:
            return
        with st.form("ar_form", border=False):
            name = st.text_input(_("Rule name"), key="ar_name", max_chars=200)
            kpi_name = _kpi_input("ar_kpi")
            grain = st.radio(
                _("Series"),
                store_alerts.GRAINS,
                key="ar_grain",
                horizontal=True,
                format_func=lambda g: _("daily") if g == "day" else _("weekly"),
            )
            condition = st.selectbox(_("Condition"), store_alerts.CONDITIONS, key="ar_cond",
                                     format_func=lambda c: _(fmt.label(c)))  # fmt: skip
            threshold = st.number_input(_("Change limit (%), for a change rule"), min_value=0.0,
                                        value=20.0, key="ar_threshold")  # fmt: skip
            kind, value = _scope_inputs("ar")
            recipients = st.text_area(_("Recipients: e-mail addresses or webhook URLs, one a line"),
                                      key="ar_recipients", max_chars=5000)  # fmt: skip
            submitted = st.form_submit_button(_("Save rule"))
        if submitted:
            try:
                current_access().require(Role.ANALYST, _("adding an alert rule"))
                store_alerts.save_rule(
                    store, name=name, kpi=kpi_name, condition=condition, grain=grain,
                    threshold=threshold / 100, scope_kind=kind, scope_value=value,
                    recipients=recipients.splitlines(), created_by=who,
                )  # fmt: skip
                st.success(_("Rule saved."))
            except store_alerts.AlertRuleError as exc:
                st.error("\n".join(f"- {md_text(i)}" for i in exc.issues))
            except (AccessDenied, AppStateError) as exc:
                st.error(md_text(str(exc)))
