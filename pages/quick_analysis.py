"""Quick analysis: paste, upload or type per-variant summary numbers (the CLI's CSV format) and
get the same result view as an experiment page. Thin: parsing in metrics.experiments.summary_csv,
the analysis in metrics.experiments.analysis.analyze_summary, the view in
components.experiment_view."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from components.downloads import csv_download
from components.experiment_view import HELP, glossary, render_analysis
from components.tables import dataframe
from i18n import _
from metrics.experiments import views as ev
from metrics.experiments.analysis import analyze_summary
from metrics.experiments.summary_csv import MAX_BYTES, MAX_VARIANTS, parse_summary_csv

PASTE, UPLOAD, GRID = _("Paste CSV"), _("Upload a file"), _("Type in a grid")
EXAMPLE = (
    "variant,units,conversions,is_control\ncontrol,10000,500,true\ntreatment,10000,560,false\n"
)
GRID_COLUMNS = {
    "binomial": ["variant", "units", "conversions", "is_control", "expected_share"],
    "mean": ["variant", "units", "sum", "sum_sq", "is_control", "expected_share"],
}
GRID_START = {
    "binomial": [["control", 10000, 500, True, None], ["treatment", 10000, 560, False, None]],
    "mean": [
        ["control", 5000, 250000.0, 31250000.0, True, None],
        ["treatment", 5000, 262500.0, 34000000.0, False, None],
    ],
}
SHARE_HELP = (
    "Designed share of traffic per variant, for the sample-ratio (SRM) check: fractions, "
    "percentages or weights (normalised to sum to 1). Fill every row or none."
)


def _use_example() -> None:
    st.session_state["qa_paste"] = EXAMPLE


def _grid_messages(errors: tuple[str, ...]) -> list[str]:
    """CSV row numbers (header = row 1) → grid rows (first row = 1)."""
    return [re.sub(r"\brow (\d+)", lambda m: f"grid row {int(m.group(1)) - 1}", e) for e in errors]


def _grid_csv(df: pd.DataFrame) -> str:
    """The grid as CSV text for the parser (empty cells stay empty, so they are reported)."""
    out = df.copy()
    if "is_control" in out:
        out["is_control"] = out["is_control"].map(lambda v: "true" if v is True else "false")
    return out.to_csv(index=False, float_format="%.17g")


st.title(_("Quick analysis"))
st.caption(
    _(
        "Analyse an experiment run elsewhere from its per-variant totals: `variant, units` "
        "and `conversions` (rates) or `sum, sum_sq` (means: Σy and Σy² over units); optional "
        "`denom_sum, denom_sum_sq, cross_sum` (ratios), `cov_sum, cov_sum_sq, cov_cross_sum` "
        "(CUPED), `is_control` (else the first row is the control) and `expected_share` (the "
        "designed split, for the SRM check). Same format as `python -m metrics.experiments "
        "analyze --summary`."
    )
)

mode = st.radio(_("Input"), [PASTE, UPLOAD, GRID], horizontal=True, key="qa_input")
source: str | bytes | None = None
grid = False
if mode == PASTE:
    source = st.text_area(
        _("Per-variant CSV"),
        key="qa_paste",
        height=160,
        placeholder=EXAMPLE,
        max_chars=MAX_BYTES,
        help=_("Up to {MAX_VARIANTS} variants and {value} KB.").format(
            MAX_VARIANTS=MAX_VARIANTS, value=MAX_BYTES // 1000
        ),
    )
    st.button(_("Use the example"), key="qa_example", on_click=_use_example, type="tertiary")
elif mode == UPLOAD:
    uploaded = st.file_uploader(
        _("Summary CSV"),
        type=["csv", "txt"],
        key="qa_upload",
        max_upload_size=1,  # MB, the smallest Streamlit allows; the parser caps at MAX_BYTES
        help=_("Up to {MAX_VARIANTS} variants and {value} KB.").format(
            MAX_VARIANTS=MAX_VARIANTS, value=MAX_BYTES // 1000
        ),
    )
    source = uploaded.getvalue() if uploaded is not None else None
else:
    grid = True
    grid_kind = st.radio(
        _("Metric type"),
        list(GRID_COLUMNS),
        format_func=lambda k: {"binomial": "Conversion (rate)", "mean": "Mean (sum, sum_sq)"}[k],
        horizontal=True,
        key="qa_grid_kind",
    )
    start = pd.DataFrame(GRID_START[grid_kind], columns=GRID_COLUMNS[grid_kind])
    edited = st.data_editor(
        start.astype({"expected_share": "float64"}),
        num_rows="dynamic",
        hide_index=True,
        key=f"qa_grid_{grid_kind}",
        column_config={
            "is_control": st.column_config.CheckboxColumn("is_control", default=False),
            "variant": st.column_config.TextColumn("variant", required=True),
            "expected_share": st.column_config.NumberColumn(
                "expected_share", min_value=0.0, help=SHARE_HELP
            ),
        },
    )
    source = _grid_csv(edited)

o1, o2, o3 = st.columns([3, 2.2, 2])
engine_kind = o1.radio(
    _("Engine"),
    list(ev.ENGINE_LABELS),
    format_func=lambda k: ev.ENGINE_LABELS[k],
    horizontal=True,
    key="qa_engine",
    help=HELP["engine"] + "\n\n" + HELP["sequential"],
)
correction = o2.selectbox(
    _("Multiple-testing correction"),
    [None, "holm", "bh"],
    index=1,
    format_func=lambda c: ev.CORRECTION_LABELS[c],
    key="qa_correction",
    help=HELP["correction"],
    disabled=engine_kind == "bayesian",
)
alpha = o3.number_input(
    "α", min_value=0.001, max_value=0.2, value=0.05, step=0.01, format="%.3f", key="qa_alpha"
)
o4, o5, o6, o7 = st.columns([2, 1.3, 1.3, 2])
metric = (
    o4.text_input(_("Metric name"), value="metric", key="qa_metric", max_chars=64)[:64].strip()
    or "metric"
)
lower_better = o5.toggle(_("Lower is better"), key="qa_lower_better")
cuped = o6.toggle(_("CUPED"), key="qa_cuped", help=HELP["cuped"])
scale = o7.radio(_("Lift"), ["relative", "absolute"], horizontal=True, key="qa_lift_scale")

if source is None or (isinstance(source, str) and not source.strip()):
    st.info(
        _("Paste per-variant numbers, upload a CSV or switch to the grid to see the analysis."),
        icon=":material/table_chart:",
    )
    st.stop()

parsed = parse_summary_csv(source)
if not parsed.ok:
    messages = _grid_messages(parsed.errors) if grid else list(parsed.errors)
    where = "" if grid else _(" Rows are file lines: the header is row 1.")
    st.error(
        (
            _("**The numbers could not be read (1 problem).**{where}\n\n")
            if len(messages) == 1
            else _("**The numbers could not be read ({messages} problems).**{where}\n\n")
        ).format(messages=len(messages), where=where)
        + "\n".join(f"- {m}" for m in messages),
        icon=":material/error:",
    )
    st.stop()

assert parsed.kind is not None and parsed.control is not None
analysis = analyze_summary(
    parsed.stats,
    parsed.kind.value,
    parsed.control,
    metric=metric,
    higher_is_better=not lower_better,
    engine_kind=engine_kind,  # type: ignore[arg-type]
    cuped=cuped,
    correction=correction,
    alpha=float(alpha),
    expected_shares=parsed.expected_shares,
)

inputs = pd.DataFrame(
    {
        "variant": [s.variant for s in parsed.stats],
        "control": [s.variant == parsed.control for s in parsed.stats],
        "units": [s.units for s in parsed.stats],
        "mean": [s.mean for s in parsed.stats],
    }
)
if parsed.expected_shares is not None:
    inputs["designed share"] = [parsed.expected_shares[s.variant] for s in parsed.stats]
with st.expander(
    _("Parsed input: {inputs} variants, {value} metric").format(
        inputs=len(inputs), value=parsed.kind.value
    )
):
    dataframe(inputs, hide_index=True, width="stretch", key="qa_inputs_table")
    csv_download(inputs, "quick_analysis_input", key="dl_qa_input")

glossary(key="qa_glossary")
rows = render_analysis(analysis, relative=scale == "relative", key="qa")
if not rows.empty:
    csv_download(rows, "quick_analysis_results", key="dl_qa_results")
if parsed.expected_shares is None:
    st.caption(
        _(
            "No traffic-split (SRM) check: the designed split is unknown. Add an "
            "`expected_share` column (the designed share of traffic per variant, e.g. 0.5 / 0.5, "
            "50 / 50 or 1 / 1) to check the units per variant against it."
        )
    )
