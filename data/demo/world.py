"""The demo world: calendar, customers, campaigns, background journeys and ad spend.

Everything is vectorised with numpy (no Python loop per customer or event; loops run over the
9 channels or ~36 campaigns at most). Times are ``int64`` microseconds since the first day of
the history (``Calendar.start``, midnight UTC); codes index into the tuples below.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from data.schema import Channel, EventType, LoopStage, Region, Segment, Stage

DAY_US = 86_400_000_000
HISTORY_DAYS = 548  # ≈ 18 months
NULL_ID = -1

CHANNELS: tuple[str, ...] = tuple(c.value for c in Channel)
EVENTS: tuple[str, ...] = tuple(e.value for e in EventType)
SEGMENTS: tuple[str, ...] = tuple(s.value for s in Segment)
REGIONS: tuple[str, ...] = (Region.NORTH_AMERICA, Region.EUROPE, Region.APAC, Region.LATAM)
"""The world regions the demo draws customers from (REGION_SHARE is aligned with them; the VND
demo renames them to Vietnamese regions, data.demo.localise)."""
PERSONAS: tuple[str, ...] = ("founder", "marketer", "engineer", "analyst", "exec")

CH = {c: i for i, c in enumerate(CHANNELS)}
EV = {e: i for i, e in enumerate(EVENTS)}

# --- channel profiles (aligned with CHANNELS) --------------------------------------------------
_CH_ORDER = [c.value for c in Channel]


def _per_channel(values: dict[str, float]) -> np.ndarray:
    return np.array([values[c] for c in _CH_ORDER], dtype=float)


ACQUISITION_SHARE = _per_channel(
    dict(paid_search=.16, organic_search=.20, paid_social=.14, organic_social=.07, email=.07,
         video=.06, community=.08, referral=.07, direct=.15)
)  # fmt: skip
TOUCH_SHARE = _per_channel(
    dict(paid_search=.14, organic_search=.21, paid_social=.16, organic_social=.09, email=.04,
         video=.08, community=.07, referral=.04, direct=.17)
)  # fmt: skip
BUY_FACTOR = _per_channel(
    dict(paid_search=1.45, organic_search=1.0, paid_social=.55, organic_social=.7, email=1.35,
         video=.6, community=1.35, referral=1.6, direct=1.1)
)  # fmt: skip
SIGNUP_FACTOR = _per_channel(
    dict(paid_search=1.3, organic_search=1.0, paid_social=.7, organic_social=.8, email=1.3,
         video=.7, community=1.2, referral=1.4, direct=1.1)
)  # fmt: skip
# Planted retention difference: buyers acquired through paid social keep only this share of the
# repeat orders they would otherwise place (they churn sooner); every other channel keeps all.
# Applied after every draw, so the random stream (and every other planted figure) is unchanged.
REPEAT_KEEP = _per_channel(
    dict(paid_search=1, organic_search=1, paid_social=.4, organic_social=1, email=1, video=1,
         community=1, referral=1, direct=1)
)  # fmt: skip
CAMPAIGN_PROB = _per_channel(
    dict(paid_search=1, organic_search=.3, paid_social=1, organic_social=.5, email=1, video=1,
         community=.6, referral=.8, direct=0)
)  # fmt: skip
# Ad-platform economics for paid channels: cost per click (USD), click-through rate, cost per
# acquired lead (USD, drives daily budgets; B2B-SaaS-like: search buys intent, social is
# cheaper, video buys awareness).
AD_ECONOMICS: dict[str, tuple[float, float, float]] = {
    "paid_search": (9.50, 0.045, 800.0),
    "paid_social": (3.80, 0.009, 330.0),
    "video": (5.00, 0.005, 480.0),
}
# The paid-social push: its share of new customers ramps up over the last months (a logistic
# ramp centred RAMP_CENTER_DAYS before the end) while its cost per lead rises with it (auction
# saturation), so blended CAC climbs period over period.
RAMP_CENTER_DAYS = 150
RAMP_WIDTH_DAYS = 30
PAID_SOCIAL_SHARE_RAMP = 0.7  # share multiplier at the end: 1 + this
PAID_SOCIAL_CPL_RAMP = 0.7  # cost-per-lead multiplier at the end: 1 + this
# Background touch event mix per channel.
EVENT_MIX: dict[str, dict[str, float]] = {
    "paid_search": {"impression": .60, "click": .27, "visit": .13},
    "organic_search": {"visit": .9, "click": .1},
    "paid_social": {"impression": .86, "click": .07, "visit": .07},
    "organic_social": {"impression": .60, "click": .20, "visit": .20},
    "email": {"impression": 1.0},  # a send; opens and clicks follow from sends
    "video": {"impression": .90, "click": .04, "visit": .06},
    "community": {"visit": .75, "click": .25},
    "referral": {"visit": .8, "click": .2},
    "direct": {"visit": 1.0},
}  # fmt: skip
FIRST_TOUCH_EVENT = {
    "paid_search": "click", "organic_search": "visit", "paid_social": "click",
    "organic_social": "click", "email": "email_open", "video": "click", "community": "visit",
    "referral": "visit", "direct": "visit",
}  # fmt: skip

# --- segments ------------------------------------------------------------------------------------
SEGMENT_SHARE = np.array([0.68, 0.24, 0.08])
BUY_BASE = np.array([0.34, 0.38, 0.42])  # P(ever buys) before channel/personalisation factors
EXTRA_ORDERS_MEAN = np.array([2.2, 3.0, 3.8])  # renewals / repeat orders after the first
ORDER_GAP_DAYS = (4.0, 9.0)  # gamma(shape, scale) days between orders (≈ monthly renewals)
ORDER_MEDIAN_USD = np.array([65.0, 420.0, 3300.0])  # lognormal median per segment
ORDER_SIGMA = np.array([0.8, 0.9, 1.1])  # lognormal sigma per segment
PERSONA_BY_SEGMENT = np.array(
    [[.40, .30, .15, .10, .05],   # smb
     [.10, .35, .20, .20, .15],   # mid_market
     [.03, .25, .22, .25, .25]]   # enterprise
)  # fmt: skip
REGION_SHARE = np.array([0.45, 0.30, 0.17, 0.08])
PERSONALISED_LIFT = 1.35  # relative P(buy) multiplier for customers acquired by 1:1 campaigns
PERSONALISED_LAST_TOUCH = 1.7  # a personalised campaign is this much likelier to be last touch
PERSONALISED_SIGNUP_LIFT = 1.2
DORMANT_AFTER_DAYS = 60  # no activity for this long → dormant
# Conversion (last) touches: the acquisition touch OWN_CONVERSION_SHARE of the time, else one
# of these channels (branded paid search captures many returning buyers under last touch).
OWN_CONVERSION_SHARE = 0.35
CONVERSION_OTHER: dict[str, float] = {
    "paid_search": 0.60, "paid_social": 0.15, "video": 0.05, "direct": 0.10, "email": 0.05,
    "organic_search": 0.05,
}  # fmt: skip
# Email: every send is an 'impression' on the email channel; opens and clicks follow.
EMAIL_OPEN_RATE = 0.26  # P(open | send), generic campaign
EMAIL_CLICK_GIVEN_OPEN = 0.11  # P(click | open)
EMAIL_PERSONALISED_LIFT = 1.2  # relative open and click-through for personalised campaigns
EMAIL_SENDS_MEAN = 2.0  # newsletter / lifecycle sends per subscribed customer (buyers × 1.4)
EMAIL_OPT_IN_OTHERS = 0.3  # share of customers without signup or order who still subscribe
EMAIL_TAIL_DAYS = 90  # sends continue this long after a customer goes quiet
WINBACK_EXTRA_SENDS = 1.0  # win-back sends per lapsed subscriber: 1 + Poisson(this), 3 weeks apart


def mean_order_value() -> float:
    """E[order revenue] in USD over the segment mix (lognormal means)."""
    means = ORDER_MEDIAN_USD * np.exp(ORDER_SIGMA**2 / 2)
    return float(SEGMENT_SHARE @ means)


# --- calendar -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calendar:
    """The history: ``days`` whole UTC days ending with ``end_date`` (inclusive)."""

    end_date: dt.date
    days: int = HISTORY_DAYS

    @property
    def start_date(self) -> dt.date:
        return self.end_date - dt.timedelta(days=self.days - 1)

    @property
    def end_us(self) -> int:
        """Exclusive end of the history in µs since the start (midnight after end_date)."""
        return self.days * DAY_US

    def day_us(self, days_before_end: float) -> int:
        """Time in µs of midnight ``days_before_end`` days before the exclusive end."""
        return int(round((self.days - days_before_end) * DAY_US))

    def to_datetime64(self, us: np.ndarray) -> np.ndarray:
        origin = np.datetime64(self.start_date, "us")
        return origin + np.asarray(us, dtype=np.int64).astype("timedelta64[us]")

    def to_datetime(self, us: int) -> dt.datetime:
        return dt.datetime.combine(self.start_date, dt.time()) + dt.timedelta(microseconds=us)

    def to_weekday(self, us: np.ndarray) -> np.ndarray:
        """Times on a Saturday or Sunday moved to the same time on the next Monday."""
        dow = (self.start_date.weekday() + us // DAY_US) % 7  # 0 = Monday
        return us + np.where(dow >= 5, 7 - dow, 0) * DAY_US

    def day_factors(self) -> tuple[np.ndarray, np.ndarray]:
        """(seasonal, growth) factor per day: yearly × weekly cycle and exponential growth."""
        dates = np.arange(self.days) + np.datetime64(self.start_date, "D")
        doy = (dates - dates.astype("datetime64[Y]")).astype(int)
        dow = (dates.astype(int) + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
        yearly = 1 + 0.18 * np.cos(2 * np.pi * (doy - 40) / 365.25)  # busy Q1, quiet August
        holidays = (doy >= 353) | (doy <= 1)
        yearly = np.where(holidays, yearly * 0.55, yearly)
        weekly = np.array([1.08, 1.10, 1.10, 1.05, 0.95, 0.45, 0.40])[dow]  # B2B weekdays
        growth = np.exp(np.log(2.6) * np.arange(self.days) / self.days)
        return yearly * weekly, growth


def paid_social_ramp(cal: Calendar) -> np.ndarray:
    """Progress (0..1) of the paid-social push per day: logistic, centred RAMP_CENTER_DAYS
    before the end of the history."""
    days_before_end = cal.days - np.arange(cal.days)
    return 1 / (1 + np.exp((days_before_end - RAMP_CENTER_DAYS) / RAMP_WIDTH_DAYS))


def acquisition_shares(cal: Calendar) -> np.ndarray:
    """(days, channels) acquisition-channel probabilities per day; rows sum to 1.

    ACQUISITION_SHARE with paid social scaled by ``1 + PAID_SOCIAL_SHARE_RAMP × ramp``.
    """
    shares = np.tile(ACQUISITION_SHARE, (cal.days, 1))
    shares[:, CH["paid_social"]] *= 1 + PAID_SOCIAL_SHARE_RAMP * paid_social_ramp(cal)
    return shares / shares.sum(axis=1, keepdims=True)


def cost_per_lead(cal: Calendar, channel: str) -> np.ndarray:
    """Cost per acquired lead (USD) per day for a paid channel (paid social rises with its push)."""
    cpl = np.full(cal.days, AD_ECONOMICS[channel][2])
    if channel == "paid_social":
        cpl *= 1 + PAID_SOCIAL_CPL_RAMP * paid_social_ramp(cal)
    return cpl


# --- campaigns ----------------------------------------------------------------------------------
# (name, channel, target_stage, loop_stage, personalised, start_day, end_day | None, budget)
# Days count from the first day of the history; None = still running.
# fmt: off
CAMPAIGN_SPECS: tuple[tuple, ...] = (
    ("Brand search — always on", "paid_search", "evaluation", "express", False, 0, None, 1.0),
    ("Competitor conquesting", "paid_search", "evaluation", "express", False, 30, 300, 0.6),
    ("Dynamic search ads by industry", "paid_search", "evaluation", "tailor", True, 120, None, .8),
    ("Pricing-page intent keywords", "paid_search", "purchase", "express", False, 200, 460, 0.5),
    ("Persona landing pages (search)", "paid_search", "purchase", "tailor", True, 330, None, .6),
    ("Holiday promo search", "paid_search", "purchase", "express", False, 300, 335, 0.7),
    ("LinkedIn lookalike prospecting", "paid_social", "awareness", "express", False, 0, None, 1.),
    ("Retargeting — product tour viewers", "paid_social", "evaluation", "tailor", True, 60,
     None, 0.7),
    ("Founder story carousel", "paid_social", "awareness", "express", False, 90, 210, 0.5),
    ("Persona-tailored lead ads", "paid_social", "engagement", "tailor", True, 240, 480, 0.6),
    ("Ad creative test — outcome vs feature copy", "paid_social", "engagement", "evolve", False,
     345, 476, 0.5),
    ("Customer-proof UGC ads", "paid_social", "engagement", "amplify", False, 380, None, 0.5),
    ("Q4 budget-season retargeting", "paid_social", "purchase", "tailor", True, 280, 340, 0.6),
    ("YouTube brand awareness", "video", "awareness", "express", False, 0, None, 1.0),
    ("Webinar replay pre-roll", "video", "engagement", "express", False, 150, 330, 0.5),
    ("Account-based video for enterprise", "video", "evaluation", "tailor", True, 260, None, .4),
    ("Customer story mini-docs", "video", "awareness", "amplify", False, 400, None, 0.5),
    ("Conference sponsorship video", "video", "awareness", "express", False, 200, 240, 0.6),
    ("Weekly newsletter", "email", "engagement", "express", False, 0, None, 1.0),
    ("Onboarding drip", "email", "evaluation", "tailor", True, 0, None, 0.8),
    ("Trial nudges by persona", "email", "purchase", "tailor", True, 100, None, 0.6),
    ("Generic trial reminder", "email", "purchase", "express", False, 0, 300, 0.6),
    ("Win-back — we miss you", "email", "retention", "evolve", True, 150, None, 0.3),
    ("Product update digest", "email", "retention", "evolve", False, 60, None, 0.5),
    ("Expansion offers for power users", "email", "loyalty", "evolve", True, 300, None, 0.3),
    ("Annual plan upgrade nudges", "email", "loyalty", "evolve", True, 350, None, 0.3),
    ("Review request after purchase", "email", "loyalty", "amplify", False, 90, None, 0.3),
    ("Founder-led LinkedIn posts", "organic_social", "awareness", "amplify", False, 0, None, 1.),
    ("Customer spotlight series", "organic_social", "engagement", "amplify", False, 180, None, .7),
    ("Slack community AMAs", "community", "engagement", "amplify", False, 40, None, 1.0),
    ("Growth loops meetup tour", "community", "awareness", "amplify", False, 220, 400, 0.7),
    ("Champions programme", "community", "loyalty", "amplify", True, 300, None, 0.5),
    ("Give-a-month referral programme", "referral", "purchase", "amplify", False, 0, None, 1.0),
    ("Personalised referral invites", "referral", "purchase", "amplify", True, 280, None, 0.8),
    ("Loop marketing playbook (SEO hub)", "organic_search", "awareness", "express", False, 0,
     None, 1.0),
    ("Free KPI templates gallery", "organic_search", "engagement", "express", False, 200,
     None, 0.8),
)
# fmt: on
assert all(s[2] in {st.value for st in Stage} for s in CAMPAIGN_SPECS)
assert all(s[3] in {ls.value for ls in LoopStage} for s in CAMPAIGN_SPECS)


@dataclass(frozen=True)
class Campaigns:
    """The campaign table as arrays; ``campaign_id`` is 1-based, row i has id i + 1."""

    name: tuple[str, ...]
    channel: np.ndarray  # channel code
    target_stage: tuple[str, ...]
    loop_stage: tuple[str, ...]
    personalised: np.ndarray  # bool
    start_day: np.ndarray  # first active day (index into the calendar)
    end_day: np.ndarray  # last active day, inclusive
    running: np.ndarray  # bool: end_date NULL
    budget: np.ndarray

    @property
    def ids(self) -> np.ndarray:
        return np.arange(1, len(self.name) + 1)

    def id_of(self, name: str) -> int:
        return self.name.index(name) + 1


def make_campaigns(cal: Calendar) -> Campaigns:
    specs = CAMPAIGN_SPECS
    scale = cal.days / HISTORY_DAYS
    start = np.array([int(s[5] * scale) for s in specs])
    end = np.array([cal.days - 1 if s[6] is None else int(s[6] * scale) for s in specs])
    return Campaigns(
        name=tuple(s[0] for s in specs),
        channel=np.array([CH[s[1]] for s in specs], dtype=np.int8),
        target_stage=tuple(s[2] for s in specs),
        loop_stage=tuple(s[3] for s in specs),
        personalised=np.array([s[4] for s in specs], dtype=bool),
        start_day=start,
        end_day=np.minimum(end, cal.days - 1),
        running=np.array([s[6] is None for s in specs], dtype=bool),
        budget=np.array([s[7] for s in specs], dtype=float),
    )


class CampaignPicker:
    """Pick, per event, one campaign of the event's channel active on the event's day."""

    def __init__(self, campaigns: Campaigns, days: int) -> None:
        self.days = days
        self._ids: dict[int, np.ndarray] = {}
        self._weights: dict[int, np.ndarray] = {}
        self._conv_weights: dict[int, np.ndarray] = {}
        day = np.arange(days)[:, None]
        for code in range(len(CHANNELS)):
            idx = np.flatnonzero(campaigns.channel == code)
            if idx.size == 0:
                continue
            active = (day >= campaigns.start_day[idx]) & (day <= campaigns.end_day[idx])
            self._ids[code] = campaigns.ids[idx]
            self._weights[code] = np.cumsum(active * campaigns.budget[idx], axis=1)
            lift = np.where(campaigns.personalised[idx], PERSONALISED_LAST_TOUCH, 1.0)
            self._conv_weights[code] = np.cumsum(active * campaigns.budget[idx] * lift, axis=1)

    def pick(
        self,
        rng: np.random.Generator,
        channel: np.ndarray,
        day: np.ndarray,
        *,
        tag: bool = True,
        conversion: bool = False,
    ) -> np.ndarray:
        """Campaign id per event (``NULL_ID`` when none is active or the touch is untagged).

        With ``tag=True`` an event is tied to a campaign with its channel's CAMPAIGN_PROB. With
        ``conversion=True`` personalised campaigns weigh PERSONALISED_LAST_TOUCH times more
        (they convert better, so they are more often the last touch before a purchase).
        """
        out = np.full(channel.shape, NULL_ID, dtype=np.int64)
        weights = self._conv_weights if conversion else self._weights
        for code, ids in self._ids.items():
            sel = np.flatnonzero(channel == code)
            if sel.size == 0:
                continue
            cum = weights[code][day[sel]]
            total = cum[:, -1]
            u = rng.random(sel.size) * total
            k = np.minimum((u[:, None] >= cum).sum(axis=1), ids.size - 1)
            chosen = np.where(total > 0, ids[k], NULL_ID)
            if tag:
                chosen = np.where(rng.random(sel.size) < CAMPAIGN_PROB[code], chosen, NULL_ID)
            out[sel] = chosen
        return out


# --- helpers ------------------------------------------------------------------------------------


def categorical(rng: np.random.Generator, probs: np.ndarray, size: int) -> np.ndarray:
    return rng.choice(len(probs), size=size, p=probs / probs.sum()).astype(np.int8)


def conditional_categorical(
    rng: np.random.Generator, table: np.ndarray, row: np.ndarray
) -> np.ndarray:
    """Sample column k with probability table[row, k] (few rows: one pass per row value)."""
    out = np.empty(row.shape, dtype=np.int8)
    for r in range(table.shape[0]):
        sel = np.flatnonzero(row == r)
        out[sel] = categorical(rng, table[r], sel.size)
    return out


def days_to_us(days: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(days) * DAY_US).astype(np.int64)


def group_rank(group: np.ndarray) -> np.ndarray:
    """0-based rank of each element within runs of equal, contiguous ``group`` values."""
    n = group.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, lengths)


def order_revenue(rng: np.random.Generator, segment: np.ndarray) -> np.ndarray:
    """Heavy-tailed order value in USD by segment (lognormal; enterprise ≫ smb)."""
    mu = np.log(ORDER_MEDIAN_USD)[segment]
    return np.round(rng.lognormal(mu, ORDER_SIGMA[segment]), 2)


# --- customers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customers:
    first_seen: np.ndarray  # µs, ascending (customer_id = index + 1)
    acquisition: np.ndarray  # channel code of the first touch
    campaign: np.ndarray  # campaign id of the first touch (NULL_ID if none)
    personalised: np.ndarray  # bool: acquired by a personalised campaign
    self_reported: np.ndarray  # channel code, -1 = NULL
    segment: np.ndarray
    persona: np.ndarray
    region: np.ndarray

    @property
    def n(self) -> int:
        return self.first_seen.size


def make_customers(
    rng: np.random.Generator, n: int, cal: Calendar, campaigns: Campaigns, picker: CampaignPicker
) -> Customers:
    seasonal, growth = cal.day_factors()
    weights = seasonal * growth
    day = np.sort(rng.choice(cal.days, size=n, p=weights / weights.sum()))
    hour = np.clip(rng.normal(14.5, 3.5, n), 0, 23.999)  # business hours, UTC
    first_seen = day.astype(np.int64) * DAY_US + days_to_us(hour / 24)
    first_seen = np.sort(first_seen)
    day = first_seen // DAY_US

    cum = np.cumsum(acquisition_shares(cal), axis=1)[day]
    acquisition = np.minimum((rng.random(n)[:, None] >= cum).sum(axis=1), len(CHANNELS) - 1)
    acquisition = acquisition.astype(np.int8)
    campaign = picker.pick(rng, acquisition, day)
    personalised = np.zeros(n, dtype=bool)
    has = campaign != NULL_ID
    personalised[has] = campaigns.personalised[campaign[has] - 1]

    segment = categorical(rng, SEGMENT_SHARE, n)
    persona = conditional_categorical(rng, PERSONA_BY_SEGMENT, segment)
    region = categorical(rng, REGION_SHARE, n)
    return Customers(
        first_seen=first_seen,
        acquisition=acquisition,
        campaign=campaign,
        personalised=personalised,
        self_reported=self_reported_source(rng, acquisition),
        segment=segment,
        persona=persona,
        region=region,
    )


def self_reported_source(rng: np.random.Generator, tracked: np.ndarray) -> np.ndarray:
    """The dark funnel: 'how did you hear about us' often differs from the tracked first touch.

    Many customers tracked as direct/organic search heard about us from a podcast, a friend or
    the community; some leave the question blank (-1 = NULL).
    """
    n = tracked.size
    u = rng.random(n)
    out = tracked.astype(np.int8).copy()
    dark_targets = np.zeros(len(CHANNELS))
    for c, p in dict(community=0.3, referral=0.3, video=0.15, organic_social=0.25).items():
        dark_targets[CH[c]] = p
    social_targets = np.zeros(len(CHANNELS))
    for c, p in dict(organic_social=0.5, community=0.3, referral=0.2).items():
        social_targets[CH[c]] = p
    dark = np.isin(tracked, [CH["direct"], CH["organic_search"]])
    social = tracked == CH["paid_social"]
    other = ~(dark | social)
    switch_dark = dark & (u < 0.55)
    switch_social = social & (u < 0.20)
    switch_other = other & (u < 0.08)
    out[switch_dark] = categorical(rng, dark_targets, int(switch_dark.sum()))
    out[switch_social] = categorical(rng, social_targets, int(switch_social.sum()))
    out[switch_other] = categorical(rng, TOUCH_SHARE, int(switch_other.sum()))
    blank = np.where(dark, u > 0.80, np.where(social, u > 0.88, u > 0.88))
    out[blank] = -1
    return out


# --- background journeys ------------------------------------------------------------------------


@dataclass
class EventRows:
    """Touchpoint rows as arrays (``value`` NaN = NULL, ``campaign`` NULL_ID = NULL)."""

    cust: np.ndarray
    t: np.ndarray
    channel: np.ndarray
    campaign: np.ndarray
    event: np.ndarray

    @staticmethod
    def concat(parts: list[EventRows]) -> EventRows:
        return EventRows(*(np.concatenate([getattr(p, f) for p in parts]) for f in _EV_FIELDS))

    def take(self, idx: np.ndarray) -> EventRows:
        return EventRows(*(getattr(self, f)[idx] for f in _EV_FIELDS))

    def __len__(self) -> int:
        return self.cust.size


_EV_FIELDS = ("cust", "t", "channel", "campaign", "event")


@dataclass
class OrderRows:
    """Orders (each also becomes a purchase touchpoint on ``channel``/``campaign``)."""

    cust: np.ndarray
    t: np.ndarray
    revenue: np.ndarray
    channel: np.ndarray
    campaign: np.ndarray

    @staticmethod
    def concat(parts: list[OrderRows]) -> OrderRows:
        return OrderRows(*(np.concatenate([getattr(p, f) for p in parts]) for f in _OR_FIELDS))

    def take(self, idx: np.ndarray) -> OrderRows:
        return OrderRows(*(getattr(self, f)[idx] for f in _OR_FIELDS))

    def __len__(self) -> int:
        return self.cust.size


_OR_FIELDS = ("cust", "t", "revenue", "channel", "campaign")


def _event_types(rng: np.random.Generator, channel: np.ndarray) -> np.ndarray:
    out = np.empty(channel.shape, dtype=np.int8)
    for code, name in enumerate(CHANNELS):
        sel = np.flatnonzero(channel == code)
        mix = EVENT_MIX[name]
        codes = np.array([EV[e] for e in mix], dtype=np.int8)
        out[sel] = codes[categorical(rng, np.array(list(mix.values())), sel.size)]
    return out


def _conversion_channel(
    rng: np.random.Generator,
    cust: np.ndarray,
    times: np.ndarray,
    customers: Customers,
    picker: CampaignPicker,
) -> tuple[np.ndarray, np.ndarray]:
    """Channel and campaign of a conversion (last) touch at ``times``.

    The acquisition channel OWN_CONVERSION_SHARE of the time, else a CONVERSION_OTHER channel;
    the campaign (tagged with the channel's CAMPAIGN_PROB) is one running that day, personalised
    campaigns favoured (PERSONALISED_LAST_TOUCH).
    """
    n = cust.size
    own = rng.random(n) < OWN_CONVERSION_SHARE
    other = np.array([CH[c] for c in CONVERSION_OTHER], dtype=np.int8)
    probs = np.array(list(CONVERSION_OTHER.values()))
    channel = np.where(own, customers.acquisition[cust], other[categorical(rng, probs, n)])
    channel = channel.astype(np.int8)
    day = np.clip(times // DAY_US, 0, picker.days - 1)
    campaign = picker.pick(rng, channel, day, conversion=True)
    return channel, campaign


def email_engagement(
    rng: np.random.Generator, sends: EventRows, campaigns: Campaigns
) -> list[EventRows]:
    """Opens and clicks that follow email sends (same customer, channel and campaign).

    P(open | send) = EMAIL_OPEN_RATE, P(click | open) = EMAIL_CLICK_GIVEN_OPEN, both ×
    EMAIL_PERSONALISED_LIFT for personalised campaigns. Opens come minutes to hours after the
    send; clicks shortly after the open.
    """
    pers = np.zeros(len(sends), dtype=bool)
    has = sends.campaign != NULL_ID
    pers[has] = campaigns.personalised[sends.campaign[has] - 1]
    lift = np.where(pers, EMAIL_PERSONALISED_LIFT, 1.0)
    opened = np.flatnonzero(rng.random(len(sends)) < EMAIL_OPEN_RATE * lift)
    t_open = sends.t[opened] + days_to_us(rng.exponential(0.25, opened.size) + 1e-4)
    clicked_k = rng.random(opened.size) < EMAIL_CLICK_GIVEN_OPEN * lift[opened]
    t_click = t_open[clicked_k] + days_to_us(rng.exponential(0.01, int(clicked_k.sum())) + 1e-5)
    clicked = opened[clicked_k]
    out = []
    for idx, t, ev in ((opened, t_open, "email_open"), (clicked, t_click, "email_click")):
        out.append(EventRows(sends.cust[idx], t, sends.channel[idx], sends.campaign[idx],
                             np.full(idx.size, EV[ev], np.int8)))  # fmt: skip
    return out


def background(
    rng: np.random.Generator,
    customers: Customers,
    cal: Calendar,
    picker: CampaignPicker,
    campaigns: Campaigns,
    touches_per_customer: float,
) -> tuple[EventRows, OrderRows]:
    """Touchpoints and orders of every customer's own journey (before experiment windows).

    Per customer: a first touch on the acquisition channel at ``first_seen``; signup / trial /
    orders with channel- and personalisation-dependent probabilities; repeat orders by segment;
    background touches spread over an active period and thinned by the seasonal/weekly cycle;
    support contacts, reviews and referrals for buyers; email sends to subscribers with the
    opens and clicks they cause; and win-back sends after a lapse, whose clickers come back.
    Times here may still fall into experiment zones (moved later by the caller).
    """
    n = customers.n
    f = customers.first_seen
    seg = customers.segment
    acq = customers.acquisition
    pers = customers.personalised

    p_buy = BUY_BASE[seg] * BUY_FACTOR[acq] * np.where(pers, PERSONALISED_LIFT, 1.0)
    buys = rng.random(n) < np.minimum(p_buy, 0.9)
    p_signup = 0.22 * SIGNUP_FACTOR[acq] * np.where(pers, PERSONALISED_SIGNUP_LIFT, 1.0)
    signs = np.where(buys, rng.random(n) < 0.92, rng.random(n) < p_signup)
    trials = signs & (rng.random(n) < 0.55)

    t_signup = f + days_to_us(rng.gamma(1.5, 6.0, n) + 0.01)
    t_trial = t_signup + days_to_us(rng.exponential(2.0, n) + 0.01)
    ready = np.where(trials, t_trial, np.where(signs, t_signup, f))
    t_first_order = ready + days_to_us(rng.gamma(2.0, 7.0, n) + 0.01)

    # Orders: first + renewals / repeat orders (geometric count by segment), gamma gaps.
    extra = np.where(buys, rng.geometric(1 / (1 + EXTRA_ORDERS_MEAN[seg])) - 1, 0)
    n_orders = np.where(buys, 1 + extra, 0)
    o_cust = np.repeat(np.arange(n), n_orders)
    o_rank = group_rank(o_cust)
    gaps = np.where(o_rank == 0, 0, days_to_us(rng.gamma(*ORDER_GAP_DAYS, o_cust.size)))
    o_cum = np.cumsum(gaps)
    group_start = np.repeat(o_cum[np.flatnonzero(o_rank == 0)], n_orders[n_orders > 0])
    o_t = t_first_order[o_cust] + (o_cum - group_start)
    last_order = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_order, o_cust, o_t)

    # Active period: the journey plus a tail; lapse afterwards.
    life_days = np.where(buys, 150.0, np.where(signs, 80.0, 40.0))
    active_end = np.maximum(f + days_to_us(rng.exponential(life_days)), last_order)
    active_end = np.maximum(active_end, np.where(signs, t_trial, f)) + days_to_us(
        rng.exponential(15.0, n)
    )

    parts: list[EventRows] = []
    # First touch.
    first_ev = np.array([EV[FIRST_TOUCH_EVENT[c]] for c in CHANNELS], dtype=np.int8)[acq]
    parts.append(EventRows(np.arange(n), f, acq.copy(), customers.campaign.copy(), first_ev))
    # Signup and trial.
    for mask, times, ev in ((signs, t_signup, "signup"), (trials, t_trial, "trial")):
        idx = np.flatnonzero(mask)
        ch, camp = _conversion_channel(rng, idx, times[idx], customers, picker)
        parts.append(EventRows(idx, times[idx], ch, camp, np.full(idx.size, EV[ev], np.int8)))

    # Background touches, thinned by the seasonal and weekly cycle.
    seasonal, _ = cal.day_factors()
    accept = seasonal / seasonal.max()
    engagement = np.where(buys, 1.6, np.where(signs, 1.2, 0.7)) * rng.lognormal(-0.12, 0.5, n)
    lam = touches_per_customer * engagement / float(np.mean(accept))
    k = rng.poisson(lam)
    b_cust = np.repeat(np.arange(n), k)
    span = (active_end - f)[b_cust].astype(float)
    b_t = f[b_cust] + 1 + (rng.random(b_cust.size) * span).astype(np.int64)
    day = np.clip(b_t // DAY_US, 0, cal.days - 1)
    keep = rng.random(b_cust.size) < accept[day]
    b_cust, b_t, day = b_cust[keep], b_t[keep], day[keep]
    own = rng.random(b_cust.size) < 0.45
    b_ch = np.where(own, acq[b_cust], categorical(rng, TOUCH_SHARE, b_cust.size)).astype(np.int8)
    bg = EventRows(b_cust, b_t, b_ch, picker.pick(rng, b_ch, day), _event_types(rng, b_ch))
    parts.append(bg)
    parts += email_engagement(rng, bg.take(np.flatnonzero(bg.channel == CH["email"])), campaigns)

    # After-purchase touches: support contacts, reviews, referrals.
    buyer_idx = np.flatnonzero(buys)
    span_b = np.maximum(active_end - t_first_order, DAY_US)[buyer_idx]
    for ev, ch, rate in (("support_contact", "direct", 0.5), ("review", "community", 0.15),
                         ("referral", "referral", 0.25)):  # fmt: skip
        rate_i = rate * (1 + extra[buyer_idx] * (0.5 if ev != "support_contact" else 0.2))
        cnt = rng.poisson(rate_i)
        c = np.repeat(buyer_idx, cnt)
        t = t_first_order[c] + (rng.random(c.size) * np.repeat(span_b, cnt)).astype(np.int64)
        parts.append(EventRows(c, t, np.full(c.size, CH[ch], np.int8),
                               np.full(c.size, NULL_ID, np.int64),
                               np.full(c.size, EV[ev], np.int8)))  # fmt: skip

    # Email: newsletter and lifecycle sends to subscribers over their active period and a tail
    # after it (sends are passive: they do not keep a customer active); opens/clicks follow.
    subscribed = signs | buys | (rng.random(n) < EMAIL_OPT_IN_OTHERS)
    k = rng.poisson(EMAIL_SENDS_MEAN * np.where(buys, 1.4, 1.0) * subscribed)
    s_cust = np.repeat(np.arange(n), k)
    s_end = active_end + days_to_us(EMAIL_TAIL_DAYS)
    s_t = f[s_cust] + 1 + (rng.random(s_cust.size) * (s_end - f)[s_cust]).astype(np.int64)
    s_t = cal.to_weekday(s_t)
    s_ch = np.full(s_cust.size, CH["email"], np.int8)
    s_day = np.clip(s_t // DAY_US, 0, cal.days - 1)
    sends = EventRows(s_cust, s_t, s_ch, picker.pick(rng, s_ch, s_day, tag=False),
                      np.full(s_cust.size, EV["impression"], np.int8))  # fmt: skip
    parts.append(sends)
    parts += email_engagement(rng, sends, campaigns)

    # Win-back: lapsed subscribers get win-back sends; those who click come back (visits and,
    # for some, a purchase).
    winback_id = campaigns.id_of("Win-back — we miss you")
    lapsed = np.flatnonzero(subscribed)
    t_lapse = active_end[lapsed] + days_to_us(
        DORMANT_AFTER_DAYS + 5 + rng.exponential(30.0, lapsed.size)
    )
    n_wb = 1 + rng.poisson(WINBACK_EXTRA_SENDS, lapsed.size)
    wb_cust = np.repeat(lapsed, n_wb)
    wb_t = cal.to_weekday(np.repeat(t_lapse, n_wb) + days_to_us(21.0 * group_rank(wb_cust)))
    keep = wb_t < cal.end_us
    wb_cust, wb_t = wb_cust[keep], wb_t[keep]
    wb_sends = EventRows(wb_cust, wb_t, np.full(wb_cust.size, CH["email"], np.int8),
                         np.full(wb_cust.size, winback_id, np.int64),
                         np.full(wb_cust.size, EV["impression"], np.int8))  # fmt: skip
    wb_open, wb_click = email_engagement(rng, wb_sends, campaigns)
    parts += [wb_sends, wb_open, wb_click]
    t_back = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(t_back, wb_click.cust, wb_click.t)
    w_idx = np.flatnonzero(t_back < cal.end_us)
    visits = rng.poisson(2.0, w_idx.size)
    v_cust = np.repeat(w_idx, visits)
    v_t = t_back[v_cust] + days_to_us(rng.uniform(0.01, 20.0, v_cust.size))
    parts.append(EventRows(v_cust, v_t, np.full(v_cust.size, CH["direct"], np.int8),
                           np.full(v_cust.size, NULL_ID, np.int64),
                           np.full(v_cust.size, EV["visit"], np.int8)))  # fmt: skip
    re_buy = w_idx[rng.random(w_idx.size) < np.where(buys[w_idx], 0.45, 0.2)]
    rb_t = t_back[re_buy] + days_to_us(rng.exponential(3.0, re_buy.size) + 0.01)

    orders = OrderRows(
        cust=np.concatenate([o_cust, re_buy]),
        t=np.concatenate([o_t, rb_t]),
        revenue=order_revenue(rng, seg[np.concatenate([o_cust, re_buy])]),
        channel=np.empty(0, np.int8),
        campaign=np.empty(0, np.int64),
    )
    ch, camp = _conversion_channel(rng, o_cust, o_t, customers, picker)
    orders.channel = np.concatenate([ch, np.full(re_buy.size, CH["email"], np.int8)])
    orders.campaign = np.concatenate([camp, np.full(re_buy.size, winback_id, np.int64)])
    # REPEAT_KEEP: drop the later repeat orders of low-retention channels (after all draws).
    kept = o_rank <= np.floor(extra[o_cust] * REPEAT_KEEP[acq[o_cust]] + 1e-9)
    keep = np.concatenate([kept, np.ones(re_buy.size, dtype=bool)])
    return EventRows.concat(parts), orders.take(np.flatnonzero(keep))


# --- ad spend -----------------------------------------------------------------------------------


SPEND_SPIKE_CHANNEL = "paid_social"
SPEND_SPIKE_DAYS_BEFORE_END = (12, 11)
SPEND_SPIKE_MULTIPLIER = 3.0
"""A planted anomaly for the alert detector (docs/alerts.md): on the two days 12 and 11 days
before the last day, every paid-social campaign spends 3× (a runaway bid); impressions and
clicks are drawn before it and stay as they were, so CPC and CAC jump with it."""


def plant_spend_spike(
    spend: np.ndarray, day: np.ndarray, channel: np.ndarray, cal: Calendar
) -> np.ndarray:
    """``spend`` with the planted 2-day paid-social spike applied (no random draws)."""
    days = [cal.days - 1 - k for k in SPEND_SPIKE_DAYS_BEFORE_END]
    hit = np.isin(day, days) & (channel == CH[SPEND_SPIKE_CHANNEL])
    return np.where(hit, np.round(spend * SPEND_SPIKE_MULTIPLIER, 2), spend)


def daily_spend(
    rng: np.random.Generator, cal: Calendar, campaigns: Campaigns, n_customers: int
) -> dict[str, np.ndarray]:
    """One row per paid campaign per active day; spend follows expected paid acquisitions.

    Channel budget per day = expected acquired leads (``acquisition_shares``) × cost per lead
    (``cost_per_lead``, USD); split over active campaigns
    by budget weight. Impressions ~ Poisson(spend / CPM), clicks ~ Binomial(impressions, CTR),
    with personalised ads getting a higher CTR (+30%) at a slightly higher CPC.
    """
    seasonal, growth = cal.day_factors()
    density = seasonal * growth / (seasonal * growth).sum()
    cols: dict[str, list[np.ndarray]] = {k: [] for k in
                                         ("day", "campaign_id", "channel", "spend", "imps",
                                          "clicks")}  # fmt: skip
    days = np.arange(cal.days)
    shares = acquisition_shares(cal)
    for name, (cpc, ctr, _cpl) in AD_ECONOMICS.items():
        code = CH[name]
        idx = np.flatnonzero(campaigns.channel == code)
        active = (days[:, None] >= campaigns.start_day[idx]) & (
            days[:, None] <= campaigns.end_day[idx]
        )
        w = active * campaigns.budget[idx]
        share = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
        budget = n_customers * shares[:, code] * density * cost_per_lead(cal, name)
        d, j = np.nonzero(active)
        spend = budget[d] * share[d, j] * rng.lognormal(-0.016, 0.18, d.size)
        pers = campaigns.personalised[idx[j]]
        camp_ctr = ctr * np.where(pers, 1.3, 1.0) * rng.lognormal(0, 0.08, d.size)
        camp_cpc = cpc * np.where(pers, 1.1, 1.0)
        imps = rng.poisson(spend / (camp_cpc * camp_ctr))
        clicks = rng.binomial(imps, np.minimum(camp_ctr, 1.0))
        cols["day"].append(d)
        cols["campaign_id"].append(campaigns.ids[idx[j]])
        cols["channel"].append(np.full(d.size, code, np.int8))
        cols["spend"].append(np.round(spend, 2))
        cols["imps"].append(imps)
        cols["clicks"].append(clicks)
    out = {k: np.concatenate(v) for k, v in cols.items()}
    out["spend"] = plant_spend_spike(out["spend"], out["day"], out["channel"], cal)
    order = np.lexsort((out["campaign_id"], out["day"]))
    return {k: v[order] for k, v in out.items()}
