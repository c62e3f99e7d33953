"""The data-health view: header, status banner, per-table summary (with CSV) and details.

The checks themselves live in :mod:`data.health` (pure); this module only caches and draws.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from components.context import show_problem, warehouse, warehouse_config
from components.downloads import csv_text
from components.tables import dataframe
from data.errors import diagnose
from data.health import HealthReport, Status, TableHealth, check_warehouse, summary_rows
from data.warehouse import WarehouseConfig
from i18n import _

# Plain symbols (not emoji): they render in every font, also in headless browsers.
STATUS_ICONS: dict[str, str] = {Status.OK: "✓", Status.WARNING: "⚠", Status.ERROR: "✗"}
PROBLEM_ICONS: dict[str, str] = {"error": ":material/error:", "warning": ":material/warning:"}
SOURCE_LABELS: dict[str, str] = {
    "secrets": "`.streamlit/secrets.toml` ([connections.warehouse] url)",
    "env": "the `LOOPLENS_WAREHOUSE_URL` environment variable",
    "demo": "the built-in demo (set `LOOPLENS_WAREHOUSE_URL` or secrets to use your own)",
}
TTL_SECONDS = 300


@st.cache_data(ttl=TTL_SECONDS, show_spinner=_("Checking the warehouse…"))
def cached_report(url: str, schema: str | None, _engine: Engine) -> HealthReport:
    """The health report for ``url`` (the cache key; the engine is not hashed), 5 minutes."""
    return check_warehouse(_engine, schema=schema)


def summary_frame(report: HealthReport) -> pd.DataFrame:
    """The per-table summary as a DataFrame (status as text, for the table and the CSV)."""
    columns = [
        "table", "status", "rows", "columns_ok", "time_column", "first", "last",
        "age_days", "freshness", "worst_null_column", "worst_null_rate", "problems",
    ]  # fmt: skip
    return pd.DataFrame(summary_rows(report), columns=columns)


def render_header(config: WarehouseConfig, report: HealthReport | None) -> None:
    """Dialect, masked URL and where the URL came from."""
    dialect = report.dialect if report is not None else config.dialect
    st.caption(
        _("**{dialect}** · `{masked_url}` · URL from {SOURCE_LABELS}").format(
            dialect=dialect,
            masked_url=config.masked_url,
            SOURCE_LABELS=SOURCE_LABELS[config.source],
        )
        + (
            _(" · checked {checked_at:%Y-%m-%d %H:%M} UTC").format(checked_at=report.checked_at)
            if report
            else ""
        )
    )


def render_banner(report: HealthReport) -> None:
    counts = report.counts()
    total = len(report.tables)
    if report.status == Status.OK:
        st.success(
            _("All {total} contract tables match the contract.").format(total=total),
            icon=":material/check:",
        )
    elif report.status == Status.WARNING:
        st.warning(
            _(
                "{counts} of {total} tables have warnings; LoopLens works, but some numbers may "
                "mislead. See the details below."
            ).format(counts=counts[Status.WARNING], total=total),
            icon=":material/warning:",
        )
    else:
        st.error(
            _(
                "{counts} of {total} tables cannot be used as they are ({counts2} more with "
                "warnings). Pages that read them will show errors "
                "until the problems below are fixed."
            ).format(counts=counts[Status.ERROR], total=total, counts2=counts[Status.WARNING]),
            icon=":material/error:",
        )


def render_summary(report: HealthReport) -> None:
    frame = summary_frame(report)
    shown = frame.assign(status=[f"{STATUS_ICONS[s]} {s}" for s in frame["status"]])
    dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config={
            "rows": st.column_config.NumberColumn("rows", format="localized"),
            "columns_ok": st.column_config.TextColumn(_("columns OK")),
            "first": st.column_config.DatetimeColumn(_("first (UTC)")),
            "last": st.column_config.DatetimeColumn(_("last (UTC)")),
            "age_days": st.column_config.NumberColumn(_("age (days)"), format="%.1f"),
            "worst_null_rate": st.column_config.NumberColumn(
                _("worst null rate"), format="percent"
            ),
        },
    )
    st.download_button(
        _("Download CSV"),
        data=csv_text(frame),
        file_name="looplens_data_health.csv",
        mime="text/csv",
        key="health_download_csv",
        icon=":material/download:",
    )


def render_table_details(table: TableHealth) -> None:
    n = len(table.problems)
    label = f"{STATUS_ICONS[table.status]} {table.name} — " + (
        f"{n} problem{'s' if n != 1 else ''}" if n else _("no problems")
    )
    with st.expander(label, expanded=table.status == Status.ERROR):
        for problem in table.problems:
            box = st.error if problem.severity == "error" else st.warning
            box(
                _("**{title}**\n\n{detail}\n\n**What to do:** {fix}").format(
                    title=problem.title, detail=problem.detail, fix=problem.fix
                ),
                icon=PROBLEM_ICONS[problem.severity],
            )
        if table.columns:
            dataframe(
                pd.DataFrame(
                    [
                        {
                            "column": c.name,
                            "expected": c.expected.value,
                            "found": c.native_type or "— missing —",
                            "ok": c.present and c.compatible,
                        }
                        for c in table.columns
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
        facts = []
        if table.row_count is not None:
            facts.append(f"{table.row_count:,} rows")
        if table.min_time is not None and table.max_time is not None:
            facts.append(
                _(
                    "`{time_column}` from {min_time:%Y-%m-%d} to {max_time:%Y-%m-%d %H:%M} UTC "
                    "({age_days:.1f} days old, {value})"
                ).format(
                    time_column=table.time_column,
                    min_time=table.min_time,
                    max_time=table.max_time,
                    age_days=table.age_days,
                    value=table.freshness.value.replace("_", " ") if table.freshness else "n/a",
                )
            )
        if table.null_rates:
            facts.append(
                _("key-column null rates: ")
                + ", ".join(f"`{c}` {r:.1%}" for c, r in table.null_rates)
            )
        if facts:
            st.caption(" · ".join(facts))


def render_serving_section() -> None:
    from components.serving_view import render_serving_section as render

    render()


def render_health_page() -> None:
    """The whole Data health page."""
    st.title(_("Data health"))
    config = warehouse_config()
    schema = (
        st.sidebar.text_input(
            _("Warehouse schema"),
            key="health_schema",
            placeholder=_("default schema"),
            help=_(
                "Schema (dataset) holding the LoopLens tables or views; empty = the connection's "
                "default (public, main, ...)."
            ),
        ).strip()
        or None
    )
    if st.button(_("Re-check"), key="health_recheck", icon=":material/refresh:"):
        cached_report.clear()
    try:
        engine = warehouse()
    except Exception as exc:  # noqa: BLE001 - bad URL / missing driver: a diagnosis, no traceback
        render_header(config, None)
        problem = diagnose(exc, config.url)
        show_problem(problem.title, problem.detail, problem.fix)
        return
    report = cached_report(config.url, schema, engine)
    render_header(config, report)
    if report.connection_problem is not None:
        problem = report.connection_problem
        show_problem(problem.title, problem.detail, problem.fix)
        return
    render_banner(report)
    render_summary(report)
    render_serving_section()
    st.subheader(_("Tables"))
    for table in report.tables:
        render_table_details(table)
    st.caption(
        _(
            "The contract and how to map your own data onto it: `docs/warehouse.md`. Results are "
            "cached for {value} minutes; press Re-check after a fix."
        ).format(value=TTL_SECONDS // 60)
    )
