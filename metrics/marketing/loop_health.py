"""Loop health: a status per marketing loop, and plain-language highlights. Pure functions.

How a loop's status is decided
------------------------------
Each loop is judged on a few *signals*. Each signal is graded ``healthy``, ``watch``,
``at risk`` or ``no data`` against fixed thresholds (constants in this module).
The loop takes the **worst graded signal**; it is ``no data`` only when every signal is ``no data``.

- **Express** (brand): NPS — healthy ≥ +20, at risk < 0, else watch. CSAT (share 4–5 of 5) —
  healthy ≥ 80 %, at risk < 70 %. Brand-pull share (new customers arriving direct, organic
  search — a proxy for branded search — or by referral) — healthy ≥ 30 %, at risk < 15 %.
- **Tailor** (1:1): lift of personalised over generic campaign conversion (distinct converters ÷
  distinct customers touched by a campaign of each kind), relative to generic — healthy ≥ +5 %,
  at risk < 0, else watch; no data when either kind touched fewer than 30 customers.
- **Amplify** (channels): ROAS — healthy ≥ 3×, at risk < 1×. CLV:CAC — healthy ≥ 3×, at risk
  < 1×. CAC change vs the previous period — healthy below +10 %, watch from +10 %, at risk from
  +25 %. The owned/earned vs paid share is shown but not graded.
- **Evolve** (experiments): *pipeline* — healthy when at least one experiment is running;
  watch when none is running but one concluded in the period (the pipeline ran dry); at risk
  when none ran or concluded; no data when the experiments table is empty. *Learning captured*
  (from the decision log) — share of concluded experiments with a recorded decision: healthy
  ≥ 80 %, at risk < 40 %, else watch; no data when nothing has concluded or the log is
  unavailable. Win rate, decisions that followed the recommendation and the cumulative
  estimated impact of shipped changes are shown but not graded (a low win rate is normal in a
  healthy testing culture).

When a filter makes a signal meaningless, it says **not applicable under this filter** instead
of a status (and does not count towards the loop's status):

- *Brand-pull share* under any channel filter: the filter itself decides which channels new
  customers came from (paid channels only give 0 %, direct only gives 100 %).
- *ROAS, CLV:CAC and CAC change* under a segment or region filter (media spend has no customer,
  so all spend would be divided by one slice's customers or revenue), and under a channel filter
  without a paid channel (there is no media spend to return on).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from data.schema import PAID_CHANNELS, Channel, LoopStage
from i18n import N_, _
from metrics import formatting as fmt
from metrics import small_samples as small
from metrics.experiments.evolve import EvolveSummary
from metrics.filters import Filters
from metrics.marketing.kpis import KPIS, Kpi, Unit, format_value, is_good_change

STATUS_RULES = (__doc__ or "").split("------------------------------\n")[-1]
"""The rules above, as Markdown for the page's expander."""


class Status(StrEnum):
    """A loop's or signal's health; the values are English msgids (show ``_(status.value)``)."""

    HEALTHY = N_("healthy")
    WATCH = N_("watch")
    AT_RISK = N_("at risk")
    NO_DATA = N_("no data")
    NOT_APPLICABLE = N_("not applicable under this filter")


_SEVERITY = {Status.HEALTHY: 0, Status.WATCH: 1, Status.AT_RISK: 2}

NPS_HEALTHY, NPS_AT_RISK = 20.0, 0.0
CSAT_HEALTHY, CSAT_AT_RISK = 0.80, 0.70
BRAND_SHARE_HEALTHY, BRAND_SHARE_AT_RISK = 0.30, 0.15
LIFT_HEALTHY, LIFT_AT_RISK = 0.05, 0.0
MIN_REACH = small.MIN_REACH  # customers per campaign kind (metrics.small_samples)
ROAS_HEALTHY, ROAS_AT_RISK = 3.0, 1.0
CLV_CAC_HEALTHY, CLV_CAC_AT_RISK = 3.0, 1.0
CAC_RISE_WATCH, CAC_RISE_AT_RISK = 0.10, 0.25
MIN_HIGHLIGHT_CHANGE = 0.05
MIN_MIX_SHIFT = 0.02

BRAND_CHANNELS: frozenset[str] = frozenset(
    {Channel.DIRECT, Channel.ORGANIC_SEARCH, Channel.REFERRAL}
)
"""New customers arriving by these channels signal brand pull (organic search ≈ branded)."""


@dataclass(frozen=True)
class Signal:
    """One graded figure behind a loop's status."""

    name: str
    value: float | None
    display: str
    status: Status
    reason: str
    graded: bool = True  # False: shown for context, never changes the loop's status


@dataclass(frozen=True)
class LoopHealth:
    loop: LoopStage
    status: Status
    signals: tuple[Signal, ...]

    @property
    def worst(self) -> Signal | None:
        graded = [s for s in self.signals if s.status in _SEVERITY]
        return max(graded, key=lambda s: _SEVERITY[s.status]) if graded else None


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def grade_higher(value: float | None, healthy_at: float, at_risk_below: float) -> Status:
    """Higher is better: healthy ≥ ``healthy_at``, at risk < ``at_risk_below``, else watch."""
    if _missing(value):
        return Status.NO_DATA
    if value >= healthy_at:
        return Status.HEALTHY
    if value < at_risk_below:
        return Status.AT_RISK
    return Status.WATCH


def combine(signals: Iterable[Signal]) -> Status:
    """The worst graded status; ``no data`` only if no signal is graded (``not applicable``
    when every signal is not applicable under the filters)."""
    statuses = [s.status for s in signals]
    graded = [s for s in statuses if s in _SEVERITY]
    if not graded:
        if statuses and all(s is Status.NOT_APPLICABLE for s in statuses):
            return Status.NOT_APPLICABLE
        return Status.NO_DATA
    return max(graded, key=_SEVERITY.__getitem__)


_PAID_MEDIA_SIGNALS = frozenset({"roas", "clv_cac", "cac_change"})


def not_applicable(signal: str, filters: Filters | None) -> str | None:
    """Why ``filters`` make the signal ``signal`` meaningless, or None when it applies.

    ``signal`` is one of ``nps, csat, brand_share, tailor_lift, roas, clv_cac, cac_change,
    pipeline, decided`` (the rules are in the module docstring).
    """
    if filters is None:
        return None
    if signal == "brand_share" and filters.channels:
        return _("the channel filter decides which channels new customers came from")
    if signal in _PAID_MEDIA_SIGNALS:
        if filters.segments or filters.regions:
            return _("media spend has no segment or region, so it cannot be split by them")
        paid = {str(c) for c in PAID_CHANNELS}
        if filters.channels and not paid & set(filters.channels):
            return _("no paid channel is selected, so there is no media spend")
    return None


def channel_shares(df: pd.DataFrame, key: str = "channel", value: str = "value") -> pd.Series:
    """Each key's share of the total (fractions summing to 1); empty when the total is 0."""
    if df.empty or key not in df:
        return pd.Series(dtype=float)
    s = df.set_index(key)[value].fillna(0.0).astype(float)
    tot = s.sum()
    return s / tot if tot > 0 else pd.Series(dtype=float)


def share_of(shares: pd.Series, channels: Iterable[str]) -> float | None:
    """Summed share of the given channels; None when there is no mix."""
    if shares.empty:
        return None
    wanted = {str(c) for c in channels}
    return float(shares[[k in wanted for k in shares.index.astype(str)]].sum())


def _pct(x: float | None) -> str:
    return fmt.percent(None if _missing(x) else x)


def _signal(
    name: str,
    value: float | None,
    display: str,
    status: Status,
    rule: str,
    inapplicable: str | None = None,
) -> Signal:
    """A graded signal; ``inapplicable`` (why the filters make it meaningless) overrides it."""
    if inapplicable is not None:
        return Signal(name, None, "–", Status.NOT_APPLICABLE, f"not applicable: {inapplicable}")
    reason = _("no data in this period") if status is Status.NO_DATA else f"{display} ({rule})"
    return Signal(name, None if _missing(value) else value, display, status, reason)


def express_health(
    nps: float | None,
    csat: float | None,
    new_by_channel: pd.DataFrame,
    *,
    filters: Filters | None = None,
) -> LoopHealth:
    """Express: NPS, CSAT and the brand-pull share of new customers (``channel, value`` frame)
    under ``filters`` (None: every signal applies)."""
    brand = share_of(channel_shares(new_by_channel), BRAND_CHANNELS)
    signals = (
        _signal(
            "NPS",
            nps,
            format_value(KPIS["nps"], nps),
            grade_higher(nps, NPS_HEALTHY, NPS_AT_RISK),
            _("healthy ≥ +{NPS_HEALTHY:.0f}, at risk < {NPS_AT_RISK:.0f}").format(
                NPS_HEALTHY=NPS_HEALTHY, NPS_AT_RISK=NPS_AT_RISK
            ),
        ),
        _signal(
            "CSAT",
            csat,
            _pct(csat),
            grade_higher(csat, CSAT_HEALTHY, CSAT_AT_RISK),
            _("healthy ≥ {CSAT_HEALTHY:.0%}, at risk < {CSAT_AT_RISK:.0%}").format(
                CSAT_HEALTHY=CSAT_HEALTHY, CSAT_AT_RISK=CSAT_AT_RISK
            ),
        ),
        _signal(
            _("Brand-pull share of new customers"),
            brand,
            _pct(brand),
            grade_higher(brand, BRAND_SHARE_HEALTHY, BRAND_SHARE_AT_RISK),
            _("direct + organic search + referral; healthy ≥ {BRAND_SHARE_HEALTHY:.0%}").format(
                BRAND_SHARE_HEALTHY=BRAND_SHARE_HEALTHY
            ),
            not_applicable("brand_share", filters),
        ),
    )
    return LoopHealth(LoopStage.EXPRESS, combine(signals), signals)


@dataclass(frozen=True)
class TailorLift:
    """Personalised vs generic campaign conversion; lift relative to generic (a fraction)."""

    personalised: float | None
    generic: float | None
    personalised_reach: float
    generic_reach: float

    @property
    def lift(self) -> float | None:
        if _missing(self.personalised) or _missing(self.generic) or not self.generic:
            return None
        return self.personalised / self.generic - 1.0


def tailor_lift(by_personalised: pd.DataFrame) -> TailorLift:
    """From ``campaign_conversion_rate`` by ``is_personalised`` (value, denominator columns)."""

    def pick(flag: bool) -> tuple[float | None, float]:
        rows = by_personalised[by_personalised["is_personalised"] == flag]  # noqa: E712
        if rows.empty:
            return None, 0.0
        v, n = rows["value"].iloc[0], rows["denominator"].iloc[0]
        return (None if pd.isna(v) else float(v)), (0.0 if pd.isna(n) else float(n))

    if by_personalised.empty:
        return TailorLift(None, None, 0.0, 0.0)
    p, pn = pick(True)
    g, gn = pick(False)
    return TailorLift(p, g, pn, gn)


def tailor_health(lift: TailorLift) -> LoopHealth:
    """Tailor: personalised-over-generic conversion lift (no data below ``MIN_REACH`` each)."""
    value = lift.lift
    if min(lift.personalised_reach, lift.generic_reach) < MIN_REACH:
        value = None
    status = grade_higher(value, LIFT_HEALTHY, LIFT_AT_RISK)
    shown = fmt.percent(value, signed=True)
    signals = (
        _signal(
            _("Personalised vs generic conversion lift"),
            value,
            f"{shown} ({_pct(lift.personalised)} vs {_pct(lift.generic)})",
            status,
            _(
                "healthy ≥ +{LIFT_HEALTHY:.0%}, at risk < 0; needs ≥ {MIN_REACH} customers per kind"
            ).format(LIFT_HEALTHY=LIFT_HEALTHY, MIN_REACH=MIN_REACH),
        ),
    )
    return LoopHealth(LoopStage.TAILOR, combine(signals), signals)


def amplify_health(
    roas: float | None,
    clv_cac: float | None,
    cac: float | None,
    cac_previous: float | None,
    *,
    filters: Filters | None = None,
) -> LoopHealth:
    """Amplify: ROAS, CLV:CAC and the change in CAC vs the previous period, under ``filters``
    (None: every signal applies)."""
    change = None
    if not (_missing(cac) or _missing(cac_previous)) and cac_previous:
        change = cac / cac_previous - 1.0
    if change is None:
        cac_status = Status.NO_DATA
    elif change >= CAC_RISE_AT_RISK:
        cac_status = Status.AT_RISK
    elif change >= CAC_RISE_WATCH:
        cac_status = Status.WATCH
    else:
        cac_status = Status.HEALTHY
    signals = (
        _signal(
            KPIS["roas"].label,
            roas,
            format_value(KPIS["roas"], roas),
            grade_higher(roas, ROAS_HEALTHY, ROAS_AT_RISK),
            _("healthy ≥ {ROAS_HEALTHY:.0f}×, at risk < {ROAS_AT_RISK:.0f}×").format(
                ROAS_HEALTHY=ROAS_HEALTHY, ROAS_AT_RISK=ROAS_AT_RISK
            ),
            not_applicable("roas", filters),
        ),
        _signal(
            "CLV:CAC",
            clv_cac,
            format_value(KPIS["clv_cac"], clv_cac),
            grade_higher(clv_cac, CLV_CAC_HEALTHY, CLV_CAC_AT_RISK),
            _("healthy ≥ {CLV_CAC_HEALTHY:.0f}×, at risk < {CLV_CAC_AT_RISK:.0f}×").format(
                CLV_CAC_HEALTHY=CLV_CAC_HEALTHY, CLV_CAC_AT_RISK=CLV_CAC_AT_RISK
            ),
            not_applicable("clv_cac", filters),
        ),
        _signal(
            _("CAC change vs previous period"),
            change,
            fmt.percent(change, signed=True),
            cac_status,
            _("watch from +{CAC_RISE_WATCH:.0%}, at risk from +{CAC_RISE_AT_RISK:.0%}").format(
                CAC_RISE_WATCH=CAC_RISE_WATCH, CAC_RISE_AT_RISK=CAC_RISE_AT_RISK
            ),
            not_applicable("cac_change", filters),
        ),
    )
    return LoopHealth(LoopStage.AMPLIFY, combine(signals), signals)


DECIDED_HEALTHY, DECIDED_AT_RISK = 0.80, 0.40


def evolve_health(activity: Mapping[str, int], summary: EvolveSummary | None = None) -> LoopHealth:
    """Evolve: experiment activity (``running``, ``concluded``, ``total`` counts) and, when the
    decision log is available, the learning it captured (``evolve.EvolveSummary``)."""
    running, concluded, total = activity["running"], activity["concluded"], activity["total"]
    if total == 0:
        status = Status.NO_DATA
    elif running >= 1:
        status = Status.HEALTHY
    elif concluded >= 1:
        status = Status.WATCH
    else:
        status = Status.AT_RISK
    signals = (
        _signal(
            _("Experiments running / concluded"),
            float(running),
            f"{fmt.count(running)} running, {fmt.count(concluded)} concluded",
            status,
            _("healthy when ≥ 1 is running"),
        ),
    )
    if summary is None:
        return LoopHealth(LoopStage.EVOLVE, status, signals)
    decided = summary.decided_share
    signals += (
        _signal(
            _("Concluded experiments with a decision"),
            decided,
            fmt.percent(decided, 0),
            grade_higher(decided, DECIDED_HEALTHY, DECIDED_AT_RISK),
            _("healthy ≥ 80 %, at risk < 40 %"),
        ),
        _info_signal(
            _("Win rate (shipped ÷ decided)"),
            summary.win_rate,
            fmt.percent(summary.win_rate, 0),
        ),
        _info_signal(
            _("Decisions that followed the recommendation"),
            summary.followed_share,
            fmt.percent(summary.followed_share, 0),
        ),
        _info_signal(
            _("Estimated impact of shipped changes (sum of relative lifts)"),
            summary.cumulative_estimated_impact,
            f"{fmt.percent(summary.cumulative_estimated_impact, signed=True)} over "
            f"{fmt.count(summary.shipped)} shipped",
        ),
    )
    return LoopHealth(LoopStage.EVOLVE, combine(signals), signals)


def _info_signal(name: str, value: float | None, display: str) -> Signal:
    """A figure shown beside the graded signals but not graded itself."""
    value = None if _missing(value) else value
    return Signal(name, value, display, Status.NO_DATA, _("shown, not graded"), graded=False)


# --- highlights -----------------------------------------------------------------------------

_MIX_KPIS = frozenset({"cac", "new_customers", "conversion_rate", "roas"})


def _channel_name(channel: str) -> str:
    return str(channel).replace("_", " ")


def biggest_mix_shift(now: pd.Series, before: pd.Series) -> tuple[str, float, float] | None:
    """(channel, share before, share now) for the largest absolute share change, if any."""
    if now.empty or before.empty:
        return None
    idx = now.index.union(before.index)
    diff = now.reindex(idx, fill_value=0.0) - before.reindex(idx, fill_value=0.0)
    top = diff.abs().idxmax()
    if abs(diff[top]) < MIN_MIX_SHIFT:
        return None
    return str(top), float(before.get(top, 0.0)), float(now.get(top, 0.0))


def _move_size(kpi: Kpi, current: float, previous: float, change: float) -> str:
    unit = Unit(kpi.unit)
    if unit is Unit.PERCENT:
        return fmt.points(current - previous, signed=False)
    if unit is Unit.POINTS:
        return _("{n} points").format(n=fmt.count(abs(current - previous)))
    return fmt.percent(abs(change), 0)


def highlights(
    totals: pd.DataFrame,
    mix_now: pd.Series,
    mix_before: pd.Series,
    loops: Sequence[LoopHealth],
    days: int,
    max_items: int = 5,
) -> list[str]:
    """3–5 plain-language sentences: biggest KPI moves (with the channel-mix shift that goes
    with acquisition KPIs), loops at risk, and a steady-state note when little moved.

    ``totals`` has ``kpi, current, previous, change`` (``fetch_kpi_totals``); ``mix_*`` are
    new-customer shares by channel now and in the previous period.
    """
    out: list[str] = []
    shift = biggest_mix_shift(mix_now, mix_before)
    moves = totals.dropna(subset=["change"])
    moves = moves[moves["change"].abs() >= MIN_HIGHLIGHT_CHANGE]
    moves = moves.reindex(moves["change"].abs().sort_values(ascending=False).index)
    for row in moves.head(3).itertuples():
        kpi = KPIS[row.kpi]
        verb = _("rose") if row.change > 0 else _("fell")
        good = _("good") if is_good_change(kpi, row.change) else _("bad")
        text = _(
            "{label} {verb} {kpi} vs the previous {days} days ({kpi2} → {kpi3}; {good})"
        ).format(
            label=kpi.label,
            verb=verb,
            kpi=_move_size(kpi, row.current, row.previous, row.change),
            days=days,
            kpi2=format_value(kpi, row.previous),
            kpi3=format_value(kpi, row.current),
            good=good,
        )
        if row.kpi in _MIX_KPIS and shift is not None:
            ch, a, b = shift
            grew = _("grew") if b > a else _("shrank")
            text += _(
                ", as {ch}'s share of new customers {grew} from {value:.0f}% to {value2:.0f}%"
            ).format(ch=_channel_name(ch), grew=grew, value=a * 100, value2=b * 100)
            shift = None  # explain the mix once
        out.append(text + ".")
    for loop in loops:
        if loop.status is Status.AT_RISK and loop.worst is not None:
            out.append(
                _("{title} loop is at risk: {name} is {display}.").format(
                    title=loop.loop.value.title(), name=loop.worst.name, display=loop.worst.display
                )
            )
    if len(out) < 3:
        if moves.empty:
            out.append(
                _(
                    "Steady period: no headline KPI moved more than "
                    "{MIN_HIGHLIGHT_CHANGE:.0%} vs the "
                    "previous {days} days."
                ).format(MIN_HIGHLIGHT_CHANGE=MIN_HIGHLIGHT_CHANGE, days=days)
            )
        if not mix_now.empty:
            top = mix_now.idxmax()
            paid = share_of(mix_now, PAID_CHANNELS) or 0.0
            out.append(
                _(
                    "{capitalize} brought the most new customers "
                    "({value:.0f}%); paid channels brought "
                    "{value2:.0f}%."
                ).format(
                    capitalize=_channel_name(top).capitalize(),
                    value=mix_now[top] * 100,
                    value2=paid * 100,
                )
            )
    if len(out) < 3:
        healthy = [lp.loop.value.title() for lp in loops if lp.status is Status.HEALTHY]
        if healthy:
            out.append(f"Healthy loops: {', '.join(healthy)}.")
    return out[:max_items]
