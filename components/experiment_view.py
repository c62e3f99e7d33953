"""The reusable experiment result view: verdict card, metrics table, forest plot, explanations.

The ``render_*`` functions take an ``ExperimentAnalysis`` (from ``metrics.experiments.analysis``:
the warehouse front end or ``analyze_summary`` for an uploaded summary) and never query anything,
so the Quick-analysis page can reuse them. The cached loaders at the bottom are the only place the
experiment pages reach the warehouse (through ``metrics`` functions; no SQL here).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from components.context import serving_store
from components.escaping import html_text, md_text
from components.experiment_charts import DIRECTION_COLORS, forest_plot
from components.theme import BAD_COLOR, GOOD_COLOR, NEUTRAL_COLOR, WARN_COLOR
from data.serving.store import ServingStore
from i18n import _
from metrics import formatting as fmt
from metrics.experiments import views as ev
from metrics.experiments.analysis import (
    ExperimentAnalysis,
    analyze_experiment,
    analyze_quantile_metrics,
)
from metrics.experiments.data import ExperimentInfo, list_experiments
from metrics.experiments.definitions import QUANTILE_METRICS, get_metric
from metrics.experiments.sql import fetch_daily_assignments, fetch_daily_stats, fetch_sliced_stats
from metrics.stats.engine import MetricResult
from metrics.stats.sufficient import VariantStats

TTL = 600  # seconds

HELP: dict[str, str] = {
    "chance_to_win": (
        "**Chance to win** is the posterior probability that the treatment's true mean beats "
        "the control's, under the Bayesian model and its prior.\n\n"
        "It is **not** the probability that shipping is the right decision, **not** a p-value "
        "(and not 1 − p), and **not** the size of the win: a 95% chance to win can come with a "
        "tiny lift. Read it with the interval and the expected loss."
    ),
    "p_value": (
        "**p-value**: if there were truly no difference, the probability of a difference at "
        "least this large. Small p (below alpha, usually 0.05) = the data are hard to explain "
        "by chance alone. It is not the probability that the treatment is better. With a "
        "multiple-testing correction the *adjusted* p-value is what is compared with alpha."
    ),
    "interval": (
        "**Interval**: the range of lifts compatible with the data at the chosen level (95% by "
        "default): a confidence interval (frequentist), credible interval (Bayesian) or "
        "confidence sequence (sequential, valid at any peek). If it excludes 0 the result is "
        "significant. Holm correction widens it to match the adjusted p-value."
    ),
    "power": (
        "**Power**: the probability of detecting a true effect as large as the minimum "
        "detectable effect (MDE, relative to control) with the data collected so far. Below "
        "80%, 'no significant effect' mostly means 'not enough data yet'."
    ),
    "srm": (
        "**Sample ratio mismatch (SRM)**: a chi-square test of the units per variant against "
        "the designed split. p < 0.001 means assignment or logging is broken (e.g. a redirect "
        "losing users in one arm): no result of the experiment can be trusted until it is fixed."
    ),
    "cuped": (
        "**CUPED** subtracts what each unit's pre-experiment value (the 28 days before "
        "assignment) predicts about its outcome. The lift estimate stays unbiased and its "
        "variance shrinks by the *variance reduction* shown — the same as having that much more "
        "traffic. Only metrics with a pre-period covariate support it."
    ),
    "sequential": (
        "**Sequential** testing uses an always-valid p-value and a confidence sequence: you may "
        "look at the results every day and stop when they are decisive without inflating false "
        "positives. The price is a wider interval than a single fixed-horizon look."
    ),
    "correction": (
        "**Multiple-testing correction**: comparing many metrics × variants (or slices) makes "
        "some 'significant' by chance. Holm controls the chance of *any* false positive "
        "(family-wise error); Benjamini–Hochberg controls the expected *share* of false "
        "positives among the significant ones (more lenient). Guardrails are not corrected. "
        "Holm's intervals match its decisions but are not simultaneous. With the Bayesian "
        "engine any correction sets the credible level to 1 − α/m across the m treatments."
    ),
    "engine": (
        "**Frequentist**: one test at the planned end (p-value, confidence interval). "
        "**Bayesian**: posterior of the lift (chance to win, credible interval, expected loss). "
        "**Sequential**: valid at every peek (always-valid p, confidence sequence)."
    ),
    "lift": (
        "**Relative lift** = treatment ÷ control − 1 (fraction of control). **Absolute lift** "
        "= treatment − control in the metric's units (percentage points for rates)."
    ),
    "quantiles": (
        "**Median and p90 of order value**: half of the buyers' orders are worth less than "
        "the median; one in ten is worth more than the p90. A mean can move because of a "
        "few huge baskets; these say whether the typical (median) or the big (p90) order "
        "changed."
    ),
}

TONE_COLORS = {"good": GOOD_COLOR, "bad": BAD_COLOR, "warn": WARN_COLOR, "neutral": NEUTRAL_COLOR}
TONE_ICONS = {
    "good": ":material/rocket_launch:",
    "bad": ":material/block:",
    "warn": ":material/hourglass_top:",
    "neutral": ":material/do_not_disturb_on:",
}


def glossary(*, key: str) -> None:
    """A popover explaining every term used on the result view."""
    with st.popover(_("What do these terms mean?"), icon=":material/help:", key=key):
        for name in (
            "chance_to_win",
            "p_value",
            "interval",
            "power",
            "srm",
            "cuped",
            "sequential",
            "correction",
            "lift",
        ):
            st.markdown(HELP[name])


def render_verdict(analysis: ExperimentAnalysis) -> ev.Verdict:
    """The verdict card: recommendation, reasons in plain language, and the driving numbers."""
    v = ev.verdict(analysis)
    color = TONE_COLORS[v.tone]
    with st.container(border=True):
        head, badge = st.columns([4, 1])
        subject = f" — {v.variant}" if v.variant and analysis.best_variant else ""
        head.markdown(  # variant and metric names come from the warehouse or the user: escaped
            f"<div style='font-size:1.6rem;font-weight:700;color:{color}'>"
            + _("Recommendation: {label}").format(label=html_text(v.label + subject))
            + "</div>",
            unsafe_allow_html=True,
        )
        badge.badge(analysis.engine, icon=TONE_ICONS[v.tone], color="gray")
        # Reasons name variants and metrics (warehouse or user text): literal, not Markdown.
        st.markdown(
            "\n".join(f"- {md_text(reason)}" for reason in v.reasons) or _("- No reasons given.")
        )
        ev_help = HELP["chance_to_win"] if v.evidence_name == "Chance to win" else HELP["p_value"]
        variant_note = f" ({v.variant})" if v.variant else ""
        cells = (
            (f"{v.metric_label} lift{variant_note}", v.lift, HELP["lift"]),
            (v.interval_name or f"{1 - analysis.alpha:.0%} interval", v.interval, HELP["interval"]),
            (v.evidence_name, v.evidence, ev_help),
            (_("Power reached"), v.power, HELP["power"]),
            (_("Days to go"), v.days_to_go, HELP["power"]),
        )
        for col, (label, value, help_text) in zip(
            st.columns([1.2, 1.3, 1, 1.2, 1]), cells, strict=True
        ):
            col.markdown(
                f"<div style='font-size:0.85rem;color:#555'>{html_text(label)}</div>"
                "<div style='font-size:1.35rem;font-weight:600;line-height:1.3'>"
                f"{html_text(str(value))}</div>",
                unsafe_allow_html=True,
                help=help_text,
            )
        st.caption(_("Sample ratio check: {srm}.").format(srm=v.srm))
    return v


def _table(rows: pd.DataFrame, analysis: ExperimentAnalysis, relative: bool) -> pd.DataFrame:
    """The displayed metrics table (text columns, readable headers)."""
    bayes = analysis.engine == "bayesian"
    out = pd.DataFrame(
        {
            "Role": rows["role"].str.title(),
            "Metric": rows["label"],
            "Variant": rows["variant"],
            "Control": [
                ev.fmt_value(x, k) for x, k in zip(rows["control_mean"], rows["kind"], strict=True)
            ],
            "Treatment": [
                ev.fmt_value(x, k)
                for x, k in zip(rows["treatment_mean"], rows["kind"], strict=True)
            ],
            ("Relative lift [interval]" if relative else "Absolute lift [interval]"): rows[
                "lift_text"
            ],
        }
    )
    if bayes:
        out["Chance to win"] = [ev.fmt_pct(x, signed=False) for x in rows["chance_to_win"]]
    else:
        out["p-value"] = [ev.fmt_p(x) for x in rows["p_value"]]
        if analysis.correction:
            out["Adjusted p"] = [ev.fmt_p(x) for x in rows["p_adjusted"]]
    out["Power"] = [ev.fmt_pct(x, signed=False, digits=0) for x in rows["power"]]
    if analysis.cuped:
        out["CUPED variance reduction"] = [
            ev.fmt_pct(x, signed=False, digits=0) for x in rows["variance_reduction"]
        ]
    out["Result"] = rows["direction"]
    out["Note"] = rows["note"]
    return out


def render_metrics(
    analysis: ExperimentAnalysis, *, relative: bool = True, key: str = "exp"
) -> pd.DataFrame:
    """Metrics table (primary, secondary, guardrails) and the forest plot; returns the rows."""
    rows = ev.metric_rows(analysis, relative=relative)
    if rows.empty:
        st.info(_("This analysis has no metrics to show."))
        return rows
    shown = _table(rows, analysis, relative)
    if not shown["Note"].astype(bool).any():
        shown = shown.drop(columns="Note")
    styled = shown.style.map(
        lambda d: _("color: {d}; font-weight: 600").format(
            d=DIRECTION_COLORS.get(d, NEUTRAL_COLOR)
        ),
        subset=["Result"],
    )
    st.dataframe(styled, hide_index=True, width="stretch", key=f"{key}_metrics_table")
    if analysis.cuped:
        cut = rows.dropna(subset=["variance_reduction"])
        if not cut.empty:
            parts = [
                f"{r.label} ({r.variant}) {r.variance_reduction:.0%}" for r in cut.itertuples()
            ]
            st.caption(
                _(
                    "CUPED variance reduction achieved (share of the "
                    "lift's variance removed by the "
                    "pre-period covariate; 50% ≈ twice the traffic): "
                )
                + ", ".join(parts)
                + "."
            )
        else:
            st.caption(_("CUPED is on, but no metric here has a pre-period covariate."))
    legend = " · ".join(
        f"<span style='color:{c};font-weight:600'>■ {name}</span>"
        for name, c in (
            ("better", DIRECTION_COLORS["better"]),
            ("worse", DIRECTION_COLORS["worse"]),
            ("inconclusive", DIRECTION_COLORS["inconclusive"]),
        )
    )
    st.plotly_chart(
        forest_plot(
            rows,
            relative=relative,
            title=_("Lift with its interval, per metric and variant (dashed line: no effect)"),
        ),
        key=f"{key}_forest",
    )
    st.caption(
        _("Colour: {legend} — significance at α = {alpha:g}").format(
            legend=legend, alpha=analysis.alpha
        )
        + (
            f" after {ev.CORRECTION_LABELS.get(_short(analysis.correction))}"
            if analysis.correction
            else ""
        )
        + _(". Guardrails are never corrected."),
        unsafe_allow_html=True,
    )
    return rows


def _short(method: str | None) -> str | None:
    return {"fdr_bh": "bh"}.get(method or "", method)


def render_analysis(
    analysis: ExperimentAnalysis, *, relative: bool = True, key: str = "exp"
) -> pd.DataFrame:
    """Verdict card, warnings, metrics table and forest plot (what Quick analysis reuses), and
    a one-line caption saying where a warehouse analysis' figures come from."""
    render_verdict(analysis)
    render_source(analysis)
    for note in analysis.warnings:
        st.warning(note, icon=":material/info:")
    return render_metrics(analysis, relative=relative, key=key)


def fmt_share_table(split: pd.DataFrame) -> pd.DataFrame:
    """Units, observed and designed share per variant (for the SRM box)."""
    if split.empty:
        return pd.DataFrame(columns=["variant", "units", "observed", "designed"])
    last = split.sort_values("day", kind="stable").groupby("variant", sort=False).tail(1)
    return pd.DataFrame(
        {
            "variant": last["variant"],
            "units": last["cumulative_units"].map(fmt.count),
            "observed": last["cumulative_share"].map(lambda x: ev.fmt_pct(x, signed=False)),
            "designed": last["expected_share"].map(
                lambda x: ev.fmt_pct(x, signed=False) if math.isfinite(x) else "undeclared"
            ),
        }
    )


# --- data source caption -----------------------------------------------------------------------


def _ago(when: dt.datetime | None) -> str:
    if when is None:
        return _("at an unknown time")
    minutes = max(
        int((dt.datetime.now(dt.UTC).replace(tzinfo=None) - when).total_seconds() // 60), 0
    )
    if minutes < 60:
        return _("{minutes} min ago").format(minutes=minutes)
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return _("{value} days ago").format(value=minutes // (24 * 60))


def source_text(
    source: str | None, reason: str = "", refreshed_at: dt.datetime | None = None
) -> str:
    """One line saying where the figures come from ('' when unknown, e.g. an uploaded summary)."""
    if source == "serving":
        return _("From the serving layer, refreshed {refreshed_at}.").format(
            refreshed_at=_ago(refreshed_at)
        )
    if source == "live":
        return _("Live from the warehouse: {value}.").format(value=reason or "no serving store")
    return ""


def render_source(analysis: ExperimentAnalysis) -> None:
    """The one-line data-source caption of a warehouse analysis (nothing for a summary)."""
    text = source_text(analysis.source, analysis.source_reason, analysis.refreshed_at)
    if text:
        st.caption(
            text,
            help=_(
                "The serving layer holds pre-aggregated, exact statistics rebuilt by "
                "`python -m data.serving refresh`."
            ),
        )  # fmt: skip


def render_sources(analyses: Iterable[ExperimentAnalysis]) -> None:
    """One caption for a list of analyses: how many were served, why the others were live."""
    items = list(analyses)
    served = [a for a in items if a.source == "serving"]
    live = [a for a in items if a.source == "live"]
    if not served and not live:
        return
    parts = []
    if served:
        newest = max((a.refreshed_at for a in served if a.refreshed_at), default=None)
        parts.append(
            _("{served} of {items} from the serving layer, refreshed {newest}").format(
                served=len(served), items=len(items), newest=_ago(newest)
            )
        )
    if live:
        reasons = sorted({a.source_reason or _("no serving store") for a in live})
        parts.append(
            _("{live} live from the warehouse ({reasons})").format(
                live=len(live), reasons="; ".join(reasons)
            )
        )
    st.caption(_("Figures: ") + "; ".join(parts) + ".")


# --- cached loaders (metrics only; keyed on the warehouse URL and the serving store's version) --


def _store() -> tuple[ServingStore | None, str]:
    """The serving store (or None) and its version key (changes when a refresh lands)."""
    store = serving_store()
    return store, (store.version_key() if store is not None else "none")


@st.cache_data(ttl=TTL, show_spinner=False)
def cached_experiments(_engine: Engine, url: str) -> list[ExperimentInfo]:
    """``list_experiments`` (``url``: the warehouse cache key, password hidden)."""
    return list_experiments(_engine)


@st.cache_data(ttl=TTL, show_spinner=_("Analysing the experiment…"))
def _cached_analysis(
    _engine: Engine,
    url: str,
    version: str,
    experiment_id: str,
    options: ev.AnalysisOptions,
    _serving: ServingStore | None,
) -> ExperimentAnalysis:
    return analyze_experiment(
        _engine,
        experiment_id,
        cuped=options.cuped,
        correction=options.correction,
        serving=_serving,
        **options.engine_options(),
    )


def cached_analysis(
    engine: Engine, url: str, experiment_id: str, options: ev.AnalysisOptions
) -> ExperimentAnalysis:
    """``analyze_experiment`` with ``options`` (engine, CUPED, correction, alpha), from the
    serving store when it covers the experiment."""
    store, version = _store()
    return _cached_analysis(engine, url, version, experiment_id, options, store)


@st.cache_data(ttl=TTL, show_spinner=False)
def _cached_daily_stats(
    _engine: Engine,
    url: str,
    version: str,
    experiment_id: str,
    metric: str,
    covariate: bool,
    _serving: ServingStore | None,
) -> pd.DataFrame:
    definition = get_metric(metric)
    return fetch_daily_stats(
        _engine,
        experiment_id,
        definition,
        covariate=covariate and definition.supports_cuped,
        serving=_serving,
    )


def cached_daily_stats(
    engine: Engine, url: str, experiment_id: str, metric: str, covariate: bool
) -> pd.DataFrame:
    """Cumulative daily sufficient statistics of one metric (``attrs`` say the source)."""
    store, version = _store()
    return _cached_daily_stats(engine, url, version, experiment_id, metric, covariate, store)


@st.cache_data(ttl=TTL, show_spinner=False)
def _cached_daily_assignments(
    _engine: Engine, url: str, version: str, experiment_id: str, _serving: ServingStore | None
) -> pd.DataFrame:
    return fetch_daily_assignments(_engine, experiment_id, serving=_serving)


def cached_daily_assignments(engine: Engine, url: str, experiment_id: str) -> pd.DataFrame:
    """Units per variant per assignment day (``attrs`` say the source)."""
    store, version = _store()
    return _cached_daily_assignments(engine, url, version, experiment_id, store)


@st.cache_data(ttl=TTL, show_spinner=False)
def _cached_sliced_stats(
    _engine: Engine,
    url: str,
    version: str,
    experiment_id: str,
    metric: str,
    slice_by: str,
    _serving: ServingStore | None,
) -> dict[str, list[VariantStats]]:
    return fetch_sliced_stats(
        _engine, experiment_id, get_metric(metric), slice_by, serving=_serving
    )


def cached_sliced_stats(
    engine: Engine, url: str, experiment_id: str, metric: str, slice_by: str
) -> dict[str, list[VariantStats]]:
    """Per-slice sufficient statistics of one metric."""
    store, version = _store()
    return _cached_sliced_stats(engine, url, version, experiment_id, metric, slice_by, store)


@st.cache_data(ttl=TTL, show_spinner=_("Computing order-value quantiles…"))
def _cached_quantiles(
    _engine: Engine, url: str, experiment_id: str, control: str, options: ev.AnalysisOptions
) -> list[MetricResult]:
    return analyze_quantile_metrics(_engine, experiment_id, control, **options.engine_options())


QUANTILE_COLUMN_ORDER = (
    "metric", "variant", "control_value", "treatment_value", "lift", "p", "significant",
    "control_units", "treatment_units", "note",
)  # fmt: skip
"""Values and the lift first (what fits on a phone), buyer counts after."""


def render_quantiles(
    engine: Engine,
    url: str,
    analysis: ExperimentAnalysis,
    options: ev.AnalysisOptions,
    *,
    key: str = "exp",
) -> pd.DataFrame:
    """The order-value quantile table (median, p90) for ``analysis``' experiment; its rows."""
    results = _cached_quantiles(engine, url, analysis.experiment_id, analysis.control, options)
    labels = {name: m.label for name, m in QUANTILE_METRICS.items()}
    rows = ev.quantile_rows(results, labels)
    st.markdown(_("**Order value: median and p90**"), help=HELP["quantiles"])
    if rows.empty:
        st.info(_("No variant has buyers yet, so there is no order value to compare."))
        return rows
    bayes = options.engine == "bayesian"
    shown = rows if rows["note"].astype(bool).any() else rows.drop(columns="note")
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        key=f"{key}_quantile_table",
        column_order=[c for c in QUANTILE_COLUMN_ORDER if c in shown.columns],
        column_config={
            "metric": "Metric",
            "variant": "Variant",
            "control_units": st.column_config.NumberColumn(_("Control buyers"), format="%d"),
            "treatment_units": st.column_config.NumberColumn(_("Treatment buyers"), format="%d"),
            "control_value": _("Control (USD)"),
            "treatment_value": _("Treatment (USD)"),
            "lift": st.column_config.TextColumn(
                _("Relative lift [interval]"), help=HELP["interval"]
            ),
            "p": _("Chance to win") if bayes else "p-value",
            "significant": st.column_config.CheckboxColumn("Significant"),
            "note": "Note",
        },
    )
    st.caption(
        _(
            "Over buyers only (units with an order within 14 days of assignment), each buyer's "
            "mean order value, so a change in who buys moves these too. Standard error from the "
            "order statistics around the quantile (no distribution assumed); the engine chosen "
            "above, on the log ratio. Descriptive: not in the multiple-testing family or the "
            "recommendation. Computed live from the warehouse: a quantile cannot be added up "
            "from the serving layer's groups."
        )
    )
    return rows
