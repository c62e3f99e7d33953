"""The one-page executive summary as a self-contained HTML document (pure functions).

Plotly figures are inlined as SVG-free JSON with plotly.js embedded once, so the page renders
offline in a headless browser (``reports.browser``) to an A4 landscape PDF or a PNG.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from components.theme import CHANNEL_COLORS
from i18n import _
from metrics import formatting as fmt
from metrics.marketing import loop_health as lh
from metrics.marketing.kpis import KPIS, Unit, format_value
from reports.summary_data import TILE_KPIS, SummaryData, value_of

STATUS_COLORS = {
    lh.Status.HEALTHY: "#1a7f37",
    lh.Status.WATCH: "#b35900",
    lh.Status.AT_RISK: "#c62828",
    lh.Status.NO_DATA: "#6e7781",
    lh.Status.NOT_APPLICABLE: "#6e7781",
}
PACE_COLORS = {"reached": "#1a7f37", "on track": "#1a7f37", "behind": "#b35900",
               "missed": "#c62828", "unknown": "#6e7781"}  # fmt: skip

CSS = """
@page { size: A4 landscape; margin: 9mm; }
* { box-sizing: border-box; }
body { font-family: 'DejaVu Sans', Arial, sans-serif; color: #1f2328; margin: 0;
       font-size: 11px; }
h1 { font-size: 19px; margin: 0; } h2 { font-size: 12.5px; margin: 0 0 4px; color: #333; }
.head { display: flex; justify-content: space-between; align-items: baseline;
        border-bottom: 2px solid #1f2328; padding-bottom: 4px; margin-bottom: 6px; }
.sub { color: #555; }
.tiles { display: grid; grid-template-columns: repeat(8, 1fr); gap: 5px; margin-bottom: 6px; }
.tile { border: 1px solid #d0d7de; border-radius: 5px; padding: 4px 6px; }
.tile .l { color: #555; font-size: 9.5px; } .tile .v { font-size: 16px; font-weight: 700; }
.tile .d { font-size: 9.5px; } .good { color: #1a7f37; } .bad { color: #c62828; }
.flat { color: #555; }
.loops { display: grid; grid-template-columns: repeat(4, 1fr); gap: 5px; margin-bottom: 6px; }
.loop { border-radius: 5px; padding: 4px 7px; color: #fff; }
.loop b { font-size: 12px; }
.loop span { float: right; font-weight: 700; text-transform: uppercase; }
.loop p { margin: 2px 0 0; font-size: 9.5px; opacity: .95; }
.cols { display: grid; grid-template-columns: 1.05fr 1fr; gap: 10px; }
ul { margin: 0 0 6px; padding-left: 16px; } li { margin-bottom: 2px; }
table { border-collapse: collapse; width: 100%; margin-bottom: 6px; }
td, th { border-bottom: 1px solid #e1e4e8; padding: 2px 4px; text-align: left; font-size: 9.5px; }
th { color: #555; font-weight: 600; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 6px; }
.charts .wide { grid-column: 1 / 3; }
.foot { color: #6e7781; font-size: 8.5px; margin-top: 4px; }
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _tile(data: SummaryData, name: str) -> str:
    kpi = KPIS[name]
    cur = value_of(data.totals, name)
    prev = value_of(data.totals, name, "previous")
    delta, cls = "–", "flat"
    if cur is not None and prev not in (None, 0):
        change = (cur - prev) / abs(prev)
        delta = fmt.percent(change, signed=True) + " " + _("vs previous")
        better = change > 0 if kpi.direction == "higher" else change < 0
        cls = "flat" if abs(change) < 0.005 else ("good" if better else "bad")
    return (
        f"<div class='tile'><div class='l'>{_e(kpi.label)}</div>"
        f"<div class='v'>{_e(format_value(kpi, cur))}</div>"
        f"<div class='d {cls}'>{_e(delta)}</div></div>"
    )


def _alert_lines(message: str) -> list[str]:
    """The alert's headline without its "LoopLens alert:" prefix, then its detail lines."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    if lines:
        lines[0] = lines[0].split(": ", 1)[-1]
    return [line for line in lines if not line.startswith(_("Rule: {name}").split("{")[0])][:3]


def _loop_line(h: lh.LoopHealth) -> str:
    """The graded signals in one line: ``ROAS 1.60× · CLV:CAC 1.90×``."""
    graded = [s for s in h.signals if s.graded][:3]
    return " · ".join(f"{s.name} {s.display}" for s in graded) or "–"


def mix_figure(data: SummaryData) -> go.Figure:
    """Share of new customers by channel (horizontal bars, percent)."""
    s = data.mix_now.sort_values()
    labels = [fmt.label(c) for c in s.index]
    fig = go.Figure(
        go.Bar(
            x=s.values, y=labels, orientation="h",
            marker_color=[CHANNEL_COLORS.get(c, "#888") for c in s.index],
            text=[fmt.percent(v) for v in s.values], textposition="outside",
        )
    )  # fmt: skip
    fig.update_layout(title=_("Share of new customers by channel"))
    top = max(float(s.max()) * 1.25, 0.05) if len(s) else 1.0
    fig.update_xaxes(tickformat=".0%", range=[0, top])
    return _compact(fig, height=270)


def weekly_figure(data: SummaryData, name: str) -> go.Figure:
    """The KPI's weekly values over the whole weeks of the view."""
    df = data.weekly[name]
    kpi = KPIS[name]
    f = data.filters
    in_view = [f.start <= d.date() <= f.end for d in df["week"]]
    fig = go.Figure(
        go.Bar(
            x=df["week"], y=df["value"],
            marker_color=["#0969da" if v else "#b6c8dc" for v in in_view],
            hovertext=[format_value(kpi, v) for v in df["value"]],
        )
    )  # fmt: skip
    fig.update_layout(title=_("{label} by week (view in dark blue)").format(label=kpi.label))
    fig.update_xaxes(tickformat="%d %b", dtick=7 * 24 * 3600 * 1000 * 2)
    if kpi.unit == Unit.USD:
        fig.update_yaxes(tickprefix=fmt.currency_symbol(), tickformat="~s")
    return _compact(fig, height=245)


def _compact(fig: go.Figure, height: int) -> go.Figure:
    fig.update_layout(
        height=height, separators=fmt.plotly_separators(),
        margin=dict(l=8, r=14, t=26, b=8), template="plotly_white",
        title_font_size=12, font=dict(size=10), showlegend=False,
    )  # fmt: skip
    return fig


def _fig_div(fig: go.Figure, div_id: str) -> str:
    return pio.to_html(
        fig, include_plotlyjs=False, full_html=False, div_id=div_id,
        config={"staticPlot": True, "displayModeBar": False},
    )  # fmt: skip


def summary_html(data: SummaryData, *, link: str | None = None) -> str:
    """The complete one-page HTML document for ``data`` (plotly.js inline; no network)."""
    f = data.filters
    scope = []
    for kind, values in (("channel", f.channels), ("segment", f.segments), ("region", f.regions)):
        if values:
            scope.append(f"{_e(fmt.label(kind))}: " + ", ".join(_e(fmt.label(v)) for v in values))
    prev = f.previous_period()
    sub = _("{range} ({days} days) vs {prev}").format(
        range=fmt.date_range(f.start, f.end), days=f.days, prev=fmt.date_range(prev.start, prev.end)
    )
    tiles = "".join(_tile(data, n) for n in TILE_KPIS)
    loops = "".join(
        f"<div class='loop' style='background:{STATUS_COLORS[h.status]}'>"
        f"<b>{_e(h.loop.value.title())}</b><span>{_e(_(h.status.value))}</span>"
        f"<p>{_e(_loop_line(h))}</p></div>"
        for h in data.loops
    )
    highlights = "".join(f"<li>{_e(s).replace('**', '')}</li>" for s in data.highlights)
    if data.targets:
        rows = "".join(
            f"<tr><td>{_e(KPIS[t.target.kpi].label)}</td>"
            f"<td>{_e(format_value(KPIS[t.target.kpi], t.current))}</td>"
            f"<td>{_e(format_value(KPIS[t.target.kpi], t.target.value))}</td>"
            f"<td>{_e(fmt.date(t.target.deadline, short=True))}</td>"
            f"<td>{_e('–' if t.pace.progress is None else fmt.percent(t.pace.progress))}</td>"
            f"<td style='color:{PACE_COLORS.get(t.pace.status.value, '#555')}'>"
            f"<b>{_e(_(t.pace.status.value))}</b></td><td>{_e(t.target.owner)}</td></tr>"
            for t in data.targets
        )
        targets = (
            f"<table><tr><th>{_e(_('KPI'))}</th><th>{_e(_('Now'))}</th><th>{_e(_('Target'))}</th>"
            f"<th>{_e(_('Deadline'))}</th><th>{_e(_('Progress'))}</th><th>{_e(_('Pace'))}</th>"
            f"<th>{_e(_('Owner'))}</th></tr>{rows}</table>"
        )
    else:
        targets = f"<p class='sub'>{_e(_('No targets apply to this view.'))}</p>"
    if data.alerts:
        alerts = (
            "<ul>"
            + "".join(
                f"<li><b>{_e(fmt.date(a.started_on, short=True))}</b> "
                + "<br>".join(_e(line) for line in _alert_lines(a.message))
                + "</li>"
                for a in data.alerts[:4]
            )
            + "</ul>"
        )
    else:
        alerts = f"<p class='sub'>{_e(_('No open alerts.'))}</p>"
    if data.store_note:
        alerts += f"<p class='sub'>{_e(data.store_note)}</p>"
    charts = (
        f"<div class='wide'>{_fig_div(mix_figure(data), 'mix')}</div>"
        + f"<div>{_fig_div(weekly_figure(data, 'new_customers'), 'wk_new')}</div>"
        + f"<div>{_fig_div(weekly_figure(data, 'revenue'), 'wk_rev')}</div>"
    )
    back = f" · <a href='{_e(link)}'>{_e(_('Open this view in LoopLens'))}</a>" if link else ""
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<title>{_e(_("LoopLens executive summary"))}</title><style>{CSS}</style>
<script>{get_plotlyjs()}</script></head><body>
<div class="head"><div><h1>{_e(_("LoopLens executive summary"))}</h1>
<div class="sub">{_e(sub)}{" · " + " · ".join(scope) if scope else ""}</div></div>
<div class="sub">{_e(_("Loop health"))}{back}</div></div>
<div class="tiles">{tiles}</div>
<div class="loops">{loops}</div>
<div class="cols"><div><h2>{_e(_("What changed"))}</h2><ul>{highlights}</ul>
<h2>{_e(_("Targets"))}</h2>{targets}<h2>{_e(_("Open alerts"))}</h2>{alerts}</div>
<div><div class="charts">{charts}</div></div></div>
<div class="foot">{_e(_("Values as on the Loop health page for the same filters."))}</div>
</body></html>"""
