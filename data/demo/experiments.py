"""Planted experiments: specs, assignment, the in-window outcome process and the manifest entries.

Outcome windows follow the metric contract: in-window is ``assigned_at <= t < assigned_at + 14
days``; the pre-period is ``assigned_at - 28 days <= t < assigned_at``. Every experiment reserves
a **zone** per unit (the window, plus the pre-period for the revenue experiment) that the
background journey is moved out of (see ``shift_out_of_zones``), so all events of a unit inside
its zone come from the process described here and the manifest's true parameters are exact.
A customer can be in several experiments only when the calendar spans of their zones do not
overlap; experiments whose spans overlap draw disjoint units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from data.demo.world import (
    CH,
    DAY_US,
    EV,
    NULL_ID,
    Calendar,
    Campaigns,
    Customers,
    EventRows,
    OrderRows,
    mean_order_value,
    order_revenue,
)

WINDOW_DAYS = 14
PRE_PERIOD_DAYS = 28

# Revenue experiment process: a share of units are active buyers who buy in both periods with
# high probability; order value = unit level × order noise (lognormal), treatment × lift.
REV_ACTIVE_SHARE = 0.25
REV_P_ACTIVE = 0.9
REV_P_CASUAL = 0.03
REV_UNIT_MEDIAN = 150.0
REV_UNIT_SIGMA = 0.8
REV_ORDER_SIGMA = 0.25


@dataclass(frozen=True)
class Arm:
    """One variant and its true per-unit parameters inside the 14-day window."""

    name: str
    is_control: bool
    expected_share: float
    actual_share: float | None = None  # None → same as expected (SRM plants a different one)
    purchase: float = 0.04  # P(≥1 order in window)
    signup: float = 0.05  # P(signup in window)
    support: float = 0.03  # P(support contact in window)
    impressions: float = 0.0  # Poisson mean of impressions in window
    ctr: float = 0.0  # P(click | impression)
    revenue_lift: float = 1.0  # revenue experiment: order value multiplier


@dataclass(frozen=True)
class ExperimentSpec:
    experiment_id: str
    name: str
    hypothesis: str
    loop_stage: str
    kind: str
    primary: str
    secondary: tuple[str, ...]
    guardrails: tuple[str, ...]
    status: str
    assign_from: int  # days before the end of history when assignment starts
    assign_to: int  # days before the end when assignment stops (≥ 14: windows complete)
    arms: tuple[Arm, ...]
    verdict: str
    fraction: float = 0.0  # share of customers
    floor: int = 400  # minimum units (capped by eligible customers)
    fixed_n: int | None = None  # fixed size at any scale
    pre_days: int = 0  # zone before assignment (28 for the CUPED covariate)
    channel: str = "direct"  # channel of in-window touches
    campaign: str | None = None  # campaign name for in-window ad events


def _arms2(control: dict, treatment: dict, **common) -> tuple[Arm, Arm]:
    return (
        Arm("control", True, 0.5, **{**common, **control}),
        Arm("treatment", False, 0.5, **{**common, **treatment}),
    )


SPECS: tuple[ExperimentSpec, ...] = (
    ExperimentSpec(
        "exp_checkout_winner", "One-page checkout",
        "Collapsing checkout into a single page removes friction and raises purchase conversion "
        "without creating more support contacts.",
        "evolve", "winner", "purchase_conversion", ("revenue_per_user",),
        ("support_contact_rate",), "concluded", 74, 30,
        _arms2({"purchase": 0.040}, {"purchase": 0.052}, support=0.03),
        "Treatment wins on purchase_conversion (4.0% → 5.2%, +30% relative; p < 0.001 at the "
        "default size); support_contact_rate unchanged — ship it.",
        fraction=0.50,
    ),
    ExperimentSpec(
        "exp_homepage_aa", "Homepage A/A check",
        "Two identical homepages: the platform should find no difference in signups (A/A "
        "test of the assignment and metrics pipeline).",
        "express", "null", "signup_conversion", ("purchase_conversion",), (), "running", 42, 14,
        _arms2({}, {}, signup=0.08),
        "No difference (identical arms, 8% signup): any 'significant' result is a false "
        "positive; expect p < 0.05 in about 1 of 20 reruns.",
        fraction=0.08,
    ),
    ExperimentSpec(
        "exp_onboarding_guardrail", "Skip onboarding questionnaire",
        "Dropping the onboarding questionnaire gets more visitors to sign up; it may leave new "
        "users less prepared.",
        "tailor", "guardrail_harm", "signup_conversion", ("purchase_conversion",),
        ("support_contact_rate",),
        "concluded", 230, 170,
        _arms2({"signup": 0.10, "support": 0.03}, {"signup": 0.12, "support": 0.045}),
        "Signups improve (10% → 12%) but the support_contact_rate guardrail is harmed "
        "(3.0% → 4.5%): do not ship as is.",
        fraction=0.20,
    ),
    ExperimentSpec(
        "exp_pricing_srm", "Annual-first pricing page",
        "Showing the annual plan first raises purchase conversion.",
        "evolve", "srm", "purchase_conversion", ("revenue_per_user",), ("support_contact_rate",),
        "concluded", 310, 250,
        (Arm("control", True, 0.5, 0.53, purchase=0.04),
         Arm("treatment", False, 0.5, 0.47, purchase=0.04)),
        "Sample ratio mismatch: planned 50/50, actual ≈ 53/47 (chi-square p < 0.001 at the "
        "default size). Results are untrustworthy — fix assignment before reading metrics.",
        fraction=0.15, floor=4000, channel="direct",
    ),
    ExperimentSpec(
        "exp_subject_line_underpowered", "Question-style email subject lines",
        "Subject lines phrased as a question lift purchases from the weekly newsletter.",
        "express", "underpowered", "purchase_conversion", (), (), "running", 40, 14,
        _arms2({"purchase": 0.040}, {"purchase": 0.046}),
        "Real +15% relative lift (4.0% → 4.6%) but only ≈300 units per arm: inconclusive "
        "(underpowered); needs far more units before deciding.",
        fixed_n=600, channel="email",
    ),
    ExperimentSpec(
        "exp_personalisation_abc", "Persona-tailored onboarding emails",
        "Tailoring onboarding emails to the persona (b: persona copy, c: persona copy + "
        "use-case examples) raises purchase conversion.",
        "tailor", "multivariant", "purchase_conversion", ("signup_conversion",),
        ("support_contact_rate",), "concluded", 400, 330,
        (Arm("control", True, 1 / 3, purchase=0.040), Arm("b", False, 1 / 3, purchase=0.044),
         Arm("c", False, 1 / 3, purchase=0.054)),
        "c beats control (4.0% → 5.4%, +35%); b's +10% is small and likely inconclusive; "
        "correct for multiple comparisons.",
        fraction=0.30, channel="email",
    ),
    ExperimentSpec(
        "exp_recommendations_revenue", "Personalised product recommendations",
        "Recommending add-ons based on usage raises revenue per user.",
        "tailor", "variance_reduction", "revenue_per_user", ("purchase_conversion",), (),
        "concluded", 150, 100,
        _arms2({}, {"revenue_lift": 1.08}),
        "Revenue per user +8% (heavy-tailed, most units 0): noisy without variance reduction; "
        "CUPED on pre-period revenue removes ≥30% of the variance.",
        fraction=0.15, pre_days=PRE_PERIOD_DAYS,
    ),
    ExperimentSpec(
        "exp_ad_creative_ctr", "Outcome-led ad copy",
        "Ad copy that leads with the customer outcome gets more clicks than feature copy.",
        "express", "ratio", "click_through_rate", (), (), "concluded", 200, 90,
        _arms2({"ctr": 0.020}, {"ctr": 0.024}, impressions=20.0, purchase=0.0, signup=0.0,
               support=0.0),
        "CTR 2.0% → 2.4% (+20% relative): treatment wins; analyse as a ratio metric (delta "
        "method), the unit is the customer.",
        fraction=0.05, floor=600, channel="paid_social",
        campaign="Ad creative test — outcome vs feature copy",
    ),
)  # fmt: skip


@dataclass
class Assignment:
    """Units of one experiment (customer index, arm index, assigned_at µs)."""

    spec: ExperimentSpec
    cust: np.ndarray
    arm: np.ndarray
    t: np.ndarray
    extra: dict = field(default_factory=dict)

    @property
    def zone_len(self) -> int:
        return (self.spec.pre_days + WINDOW_DAYS) * DAY_US


def _span(spec: ExperimentSpec, cal: Calendar) -> tuple[int, int]:
    """Calendar span (µs) that this experiment's zones can cover."""
    lo = cal.day_us(spec.assign_from) - spec.pre_days * DAY_US
    hi = cal.day_us(spec.assign_to) + WINDOW_DAYS * DAY_US
    return lo, hi


def assign(rng: np.random.Generator, customers: Customers, cal: Calendar) -> list[Assignment]:
    """Draw units for every experiment; overlapping experiments get disjoint units."""
    n = customers.n
    f = customers.first_seen
    member: dict[str, np.ndarray] = {}
    out: list[Assignment] = []
    order = sorted(SPECS, key=lambda s: -(s.fraction if s.fixed_n is None else 0))
    for spec in order:
        lo, hi = _span(spec, cal)
        start = cal.day_us(spec.assign_from)
        stop = cal.day_us(spec.assign_to)
        pre = spec.pre_days * DAY_US
        eligible = f + pre + DAY_US <= stop
        for other in out:
            olo, ohi = _span(other.spec, cal)
            if olo < hi and lo < ohi:
                eligible &= ~member[other.spec.experiment_id]
        pool = np.flatnonzero(eligible)
        wanted = spec.fixed_n or max(spec.floor, round(spec.fraction * n))
        size = min(wanted, pool.size)
        units = np.sort(rng.choice(pool, size=size, replace=False))
        earliest = np.maximum(start, f[units] + pre + DAY_US)
        t = earliest + (rng.random(size) * (stop - earliest)).astype(np.int64)
        shares = np.array([a.actual_share or a.expected_share for a in spec.arms])
        shares = shares / shares.sum()
        if spec.kind == "srm":
            # A systematic assignment bug: the skewed split is planted exactly, not by chance.
            counts = np.floor(shares * size).astype(int)
            counts[0] += size - counts.sum()
            arm = rng.permutation(np.repeat(np.arange(len(shares)), counts)).astype(np.int8)
        else:
            arm = rng.choice(len(spec.arms), size=size, p=shares).astype(np.int8)
        mask = np.zeros(n, dtype=bool)
        mask[units] = True
        member[spec.experiment_id] = mask
        out.append(Assignment(spec, units, arm, t))
    ids = [s.experiment_id for s in SPECS]
    return sorted(out, key=lambda a: ids.index(a.spec.experiment_id))


def shift_out_of_zones(
    cust: np.ndarray, t: np.ndarray, assignments: list[Assignment], n_customers: int
) -> np.ndarray:
    """Move background times out of every unit's experiment zones (gaps are inserted).

    Zones are processed in calendar order; an event at or after a zone's start moves later by
    the zone length (a multiple of 7 days, so weekdays are kept). Relative order is preserved.
    """
    never = np.iinfo(np.int64).max
    for a in sorted(assignments, key=lambda a: a.t.min() if a.t.size else 0):
        if a.cust.size == 0:
            continue
        zone_start = np.full(n_customers, never, dtype=np.int64)
        zone_start[a.cust] = a.t - a.spec.pre_days * DAY_US
        t = np.where(t >= zone_start[cust], t + a.zone_len, t)
    return t


def _uniform_in(rng: np.random.Generator, start: np.ndarray, days: int) -> np.ndarray:
    """Times uniform in ``[start, start + days)`` (µs, strictly inside)."""
    return start + np.floor(rng.random(start.size) * (days * DAY_US)).astype(np.int64)


def outcomes(
    rng: np.random.Generator,
    a: Assignment,
    customers: Customers,
    campaigns: Campaigns,
) -> tuple[EventRows, OrderRows]:
    """In-window (and pre-period) touchpoints and orders of one experiment's units."""
    spec = a.spec
    arms = spec.arms
    n = a.cust.size
    channel = CH[spec.channel]
    campaign = campaigns.id_of(spec.campaign) if spec.campaign else NULL_ID
    param = {k: np.array([getattr(x, k) for x in arms])[a.arm] for k in
             ("purchase", "signup", "support", "impressions", "ctr", "revenue_lift")}  # fmt: skip
    ev_parts: list[EventRows] = []

    def touches(cust: np.ndarray, t: np.ndarray, ev: str, ch: int, camp: int) -> None:
        ev_parts.append(EventRows(cust, t, np.full(cust.size, ch, np.int8),
                                  np.full(cust.size, camp, np.int64),
                                  np.full(cust.size, EV[ev], np.int8)))  # fmt: skip

    for ev, key in (("signup", "signup"), ("support_contact", "support")):
        hit = rng.random(n) < param[key]
        touches(
            a.cust[hit],
            _uniform_in(rng, a.t[hit], WINDOW_DAYS),
            ev,
            CH["direct"] if ev == "support_contact" else channel,
            NULL_ID,
        )
    k = rng.poisson(param["impressions"])
    idx = np.repeat(np.arange(n), k)
    touches(a.cust[idx], _uniform_in(rng, a.t[idx], WINDOW_DAYS), "impression", channel, campaign)
    clicks = rng.binomial(k, param["ctr"])
    idx = np.repeat(np.arange(n), clicks)
    touches(a.cust[idx], _uniform_in(rng, a.t[idx], WINDOW_DAYS), "click", channel, campaign)

    seg = customers.segment[a.cust]
    if spec.kind == "variance_reduction":
        active = rng.random(n) < REV_ACTIVE_SHARE
        level = rng.lognormal(math.log(REV_UNIT_MEDIAN), REV_UNIT_SIGMA, n)
        p = np.where(active, REV_P_ACTIVE, REV_P_CASUAL)
        pre_buy = rng.random(n) < p
        post_buy = rng.random(n) < p
        pre_amt = np.round(level * rng.lognormal(0, REV_ORDER_SIGMA, n), 2)
        post_amt = np.round(level * rng.lognormal(0, REV_ORDER_SIGMA, n) * param["revenue_lift"],
                            2)  # fmt: skip
        pre_t = _uniform_in(rng, a.t - PRE_PERIOD_DAYS * DAY_US, PRE_PERIOD_DAYS)
        post_t = _uniform_in(rng, a.t, WINDOW_DAYS)
        cust = np.concatenate([a.cust[pre_buy], a.cust[post_buy]])
        t = np.concatenate([pre_t[pre_buy], post_t[post_buy]])
        revenue = np.concatenate([pre_amt[pre_buy], post_amt[post_buy]])
        pre_rev, post_rev = np.where(pre_buy, pre_amt, 0.0), np.where(post_buy, post_amt, 0.0)
        a.extra["covariate_correlation"] = float(np.corrcoef(pre_rev, post_rev)[0, 1])
    else:
        buy = rng.random(n) < param["purchase"]
        cust = a.cust[buy]
        t = _uniform_in(rng, a.t[buy], WINDOW_DAYS)
        revenue = order_revenue(rng, seg[buy])
    orders = OrderRows(cust, t, revenue, np.full(cust.size, channel, np.int8),
                       np.full(cust.size, NULL_ID, np.int64))  # fmt: skip
    return EventRows.concat(ev_parts), orders


# --- truths for the manifest --------------------------------------------------------------------


def _revenue_truth(lift: float) -> tuple[float, float]:
    """(P(order in window), mean revenue per user in USD) of the revenue process."""
    p = REV_ACTIVE_SHARE * REV_P_ACTIVE + (1 - REV_ACTIVE_SHARE) * REV_P_CASUAL
    level = REV_UNIT_MEDIAN * math.exp(REV_UNIT_SIGMA**2 / 2)
    return p, p * level * math.exp(REV_ORDER_SIGMA**2 / 2) * lift


def true_metrics(spec: ExperimentSpec, arm: Arm) -> dict[str, float]:
    """True per-unit value of every contract metric in this arm's window."""
    if spec.kind == "variance_reduction":
        purchase, revenue = _revenue_truth(arm.revenue_lift)
    else:
        purchase, revenue = arm.purchase, arm.purchase * mean_order_value()
    return {
        "purchase_conversion": purchase,
        "signup_conversion": arm.signup,
        "support_contact_rate": arm.support,
        "revenue_per_user": revenue,
        "click_through_rate": arm.ctr,
        "impressions_per_unit": arm.impressions,
    }


def _z_and_power(spec: ExperimentSpec, counts: list[int], metric: str) -> dict[str, float]:
    """Expected z of (best treatment − control) on a binomial/ratio metric and its power."""
    truths = [true_metrics(spec, arm)[metric] for arm in spec.arms]
    n0, p0 = counts[0], truths[0]
    best = max(range(1, len(truths)), key=lambda i: abs(truths[i] - p0))
    n1, p1 = counts[best], truths[best]
    if min(n0, n1) == 0:
        return {}
    per_unit = spec.arms[0].impressions if metric == "click_through_rate" else 1.0
    se = math.sqrt(p0 * (1 - p0) / (n0 * per_unit) + p1 * (1 - p1) / (n1 * per_unit))
    if se == 0:
        return {}
    z = (p1 - p0) / se
    power = special.ndtr(abs(z) - 1.959964) + special.ndtr(-abs(z) - 1.959964)
    return {"expected_z": round(z, 3), "power_at_5pct": round(float(power), 4)}


def manifest_entry(a: Assignment, cal: Calendar) -> dict:
    spec = a.spec
    counts = [int((a.arm == i).sum()) for i in range(len(spec.arms))]
    entry: dict = {
        "id": spec.experiment_id,
        "name": spec.name,
        "kind": spec.kind,
        "status": spec.status,
        "primary_metric": spec.primary,
        "secondary_metrics": list(spec.secondary),
        "guardrail_metrics": list(spec.guardrails),
        "window_days": WINDOW_DAYS,
        "pre_period_days": PRE_PERIOD_DAYS,
        "assigned_from": cal.to_datetime(cal.day_us(spec.assign_from)).isoformat(),
        "assigned_to": cal.to_datetime(cal.day_us(spec.assign_to)).isoformat(),
        "units": int(a.cust.size),
        "variants": [
            {
                "name": arm.name,
                "is_control": arm.is_control,
                "expected_share": arm.expected_share,
                "true_share": arm.actual_share or arm.expected_share,
                "assigned": counts[i],
                "true": true_metrics(spec, arm),
            }
            for i, arm in enumerate(spec.arms)
        ],
        "expected_verdict": spec.verdict,
    }
    if spec.primary != "revenue_per_user":
        entry["primary_power"] = _z_and_power(spec, counts, spec.primary)
    for g in spec.guardrails:
        entry.setdefault("guardrail_power", {})[g] = _z_and_power(spec, counts, g)
    if spec.kind == "srm":
        exp = np.array([arm.expected_share for arm in spec.arms])
        expected = exp * a.cust.size
        chi2 = float(np.sum((counts - expected) ** 2 / expected))  # Pearson, k - 1 df
        p_value = float(special.chdtrc(len(counts) - 1, chi2))
        entry["srm"] = {
            "planted": "exact split at the true shares (a systematic assignment bug)",
            "chi2": round(chi2, 4),
            "p_value": p_value,
            "detectable_at_0_001": bool(p_value < 0.001),
        }
    if spec.kind == "variance_reduction":
        base = true_metrics(spec, spec.arms[0])["revenue_per_user"]
        treat = true_metrics(spec, spec.arms[1])["revenue_per_user"]
        rho = a.extra.get("covariate_correlation", math.nan)
        entry["revenue"] = {
            "true_relative_lift": round(treat / base - 1, 6),
            "covariate": "sum of orders.revenue in the 28-day pre-period",
            "covariate_correlation_generated": round(rho, 4),
            "cuped_variance_reduction_generated": round(rho**2, 4),
        }
    return entry
