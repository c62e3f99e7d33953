"""Channel and campaign performance, and the dark funnel (self-reported vs tracked source).

Sources and definitions
-----------------------
- ``spend``, ``impressions``, ``clicks``: ad-platform reporting (``daily_spend``), so channels
  without media spend (organic, email, community, referral, direct) show 0 there. Spend is
  reported per campaign and day, not per customer: segment/region filters do not apply to it.
- ``conversions`` and ``revenue``: orders in the period attributed to the channel/campaign with
  the chosen model (:mod:`metrics.marketing.attribution`; fractional for multi-touch models).
- ``ctr`` = clicks ÷ impressions; ``cpc`` = spend ÷ clicks (USD); ``cvr`` = conversions ÷ clicks;
  ``cpa`` = spend ÷ conversions (USD; the acquisition cost per attributed order, our CAC proxy);
  ``roas`` = revenue ÷ spend. A ratio with a zero denominator is NaN (shown as blank), never 0;
  so is CPA without media spend (owned/earned channels have no media cost to divide).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Select, String, cast, func, select

from data.schema import customers, daily_spend
from data.serving.store import ServingStore
from data.sqlfuncs import GRAINS, trunc_to
from i18n import N_, TranslatedFields, _
from metrics.filters import Filters
from metrics.marketing import attribution as attr
from metrics.marketing.kpis import KPIS
from metrics.marketing.serving_route import Route, route, tag

NO_ANSWER = "(no answer)"


@dataclass(frozen=True)
class MetricInfo(TranslatedFields):
    TRANSLATED = ("label", "definition")  # read back in the active language (i18n)

    label: str
    unit: str  # "usd" | "count" | "percent" (fraction) | "ratio"
    definition: str = ""


_MODEL = "by the chosen attribution model (orders credited to the touches in the lookback)"

METRICS: dict[str, MetricInfo] = {
    "spend": MetricInfo(N_("Spend"), "usd", N_("Media spend reported by the ad platforms (USD).")),
    "impressions": MetricInfo(
        N_("Impressions"), "count", N_("Ad impressions (ad-platform reporting).")
    ),
    "clicks": MetricInfo(N_("Clicks"), "count", N_("Ad clicks (ad-platform reporting).")),
    # The same definitions as the KPI catalog's: reuse its names.
    "ctr": MetricInfo(KPIS["ctr"].label, "percent", KPIS["ctr"].definition),
    "cpc": MetricInfo(KPIS["cpc"].label, "usd", KPIS["cpc"].definition),
    "conversions": MetricInfo(
        N_("Conversions (attributed)"),
        "count",
        N_(
            "Orders credited by the chosen attribution model (orders credited to "
            "the touches in the lookback); fractional when shared."
        ),
    ),
    "cvr": MetricInfo(
        N_("CVR (attributed)"),
        "percent",
        N_("Attributed conversions ÷ ad clicks (a share of clicks)."),
    ),
    "cpa": MetricInfo(
        N_("CPA (attributed)"),
        "usd",
        N_(
            "Spend ÷ orders credited by the chosen attribution "
            "model (orders credited to the touches "
            "in the lookback) (USD). Not the tracked-purchase CPA of the KPI catalog."
        ),
    ),
    "revenue": MetricInfo(
        N_("Revenue (attributed)"),
        "usd",
        N_(
            "Order revenue credited by the chosen attribution model "
            "(orders credited to the touches in the lookback)."
        ),
    ),
    "roas": MetricInfo(
        N_("ROAS (attributed)"),
        "ratio",
        N_(
            "Return on ad spend: order revenue credited by the chosen attribution model (orders "
            "credited to the touches in the lookback) ÷ the channel's media spend. "
            "Not the tracked-purchase ROAS of Loop health, which needs no model."
        ),
    ),
}
"""Every metric the channel table and the time-series picker offer."""


def media_stmt(
    filters: Filters,
    *,
    by: attr.By = "channel",
    grain: str | None = None,
    served: bool = False,
) -> Select:
    """Spend, impressions and clicks per channel or campaign (``key``) [and ``period``].

    ``served``: read the serving store's ``srv_spend_daily`` (same sums per day, channel and
    campaign) instead of the warehouse's ``daily_spend``.
    """
    if grain is not None and grain not in GRAINS:
        raise ValueError(
            _("unknown grain {grain!r}; use one of {GRAINS}").format(
                grain=grain, GRAINS=", ".join(GRAINS)
            )
        )
    if served:
        from data.serving.facts import spend_daily as t

        day_col = t.c.day
    else:
        t, day_col = daily_spend, daily_spend.c.spend_date
    key = (t.c.channel if by == "channel" else cast(t.c.campaign_id, String)).label("key")
    group = [key]
    if grain is not None:
        group.insert(0, trunc_to(grain, day_col).label("period"))
    return (
        select(
            *group,
            func.sum(t.c.spend).label("spend"),
            func.sum(t.c.impressions).label("impressions"),
            func.sum(t.c.clicks).label("clicks"),
        )
        .where(filters.date_condition(day_col), filters.dimension_condition(channel=t.c.channel))
        .group_by(*group)
    )


MEDIA_TABLES: tuple[str, ...] = ("srv_spend_daily",)
DARK_FUNNEL_TABLES: tuple[str, ...] = ("srv_dark_funnel",)


def add_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``ctr, cpc, cvr, cpa, roas`` (see the module docstring) to a frame of totals."""
    out = df.copy()

    def div(a: str, b: str) -> pd.Series:
        den = out[b].astype(float)
        return out[a].astype(float) / den.where(den > 0)

    out["ctr"] = div("clicks", "impressions")
    out["cpc"] = div("spend", "clicks")
    out["cvr"] = div("conversions", "clicks")
    out["cpa"] = div("spend", "conversions").where(out["spend"] > 0)
    out["roas"] = div("revenue", "spend")
    return out


def _media(r: Route, filters: Filters, by: attr.By, grain: str | None) -> pd.DataFrame:
    with r.engine.connect() as conn:
        df = pd.read_sql(media_stmt(filters, by=by, grain=grain, served=r.served), conn)
    df["key"] = df["key"].astype(str)
    for col in ("spend", "impressions", "clicks"):
        df[col] = df[col].astype(float)
    return df


def performance(
    engine: Engine,
    filters: Filters,
    options: attr.AttributionOptions = attr.DEFAULT_OPTIONS,
    *,
    model: str = "last_touch",
    by: attr.By = "channel",
    serving: ServingStore | None = None,
    credit: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per channel (``by="channel"``) or campaign with every metric of :data:`METRICS`.

    Campaign rows also carry ``campaign`` (name) and ``channel``. Rows for ``(no touch)`` /
    ``(no campaign)`` hold the orders no campaign/channel touch explains (no spend).
    ``credit``: the page's :func:`metrics.marketing.attribution.daily_credit` (one attribution
    per page); ``serving``: answer from the serving store where it covers the question.
    """
    if model not in attr.MODELS:
        raise ValueError(
            _("unknown attribution model {model!r}; use one of {MODELS}").format(
                model=model, MODELS=attr.MODELS
            )
        )
    r = route(engine, serving, MEDIA_TABLES, filters)
    media = _media(r, filters, by, None)
    credit = attr.attribute(engine, filters, options, by=by, serving=serving, credit=credit)
    credit_attrs = dict(credit.attrs)
    credit = credit[credit["model"] == model].drop(columns="model")
    out = media.merge(credit[["key", "conversions", "revenue"]], on="key", how="outer").fillna(
        {"spend": 0.0, "impressions": 0.0, "clicks": 0.0, "conversions": 0.0, "revenue": 0.0}
    )
    if by == "campaign":
        names = credit[["key", "campaign", "channel"]].drop_duplicates("key")
        out = out.merge(names, on="key", how="left")
        table = "srv_campaigns" if r.served else "campaigns"
        out = _fill_campaign_names(r.engine, out, table)
    out = add_ratios(out).sort_values(["revenue", "spend"], ascending=False)
    lead = ["key"] + (["campaign", "channel"] if by == "campaign" else [])
    out = out[[*lead, *METRICS]].reset_index(drop=True)
    return tag(out, [r, _credit_route(credit_attrs)])


def _credit_route(attrs: dict) -> Route:
    """The attribution part's source as a :class:`Route` (for :func:`tag`)."""
    served = attrs.get("source") == "serving"
    return Route(None, served, attrs.get("source_reason", "no serving store"))  # type: ignore[arg-type]


def _fill_campaign_names(
    engine: Engine, out: pd.DataFrame, table: str = "campaigns"
) -> pd.DataFrame:
    missing = out["campaign"].isna()
    if not missing.any():
        return out
    names = attr.campaign_names(engine, table).set_index("key")
    # A campaign id listed twice (or NULL ids) must not break the lookup: first name wins.
    names = names[~names.index.duplicated(keep="first")]
    keys = out.loc[missing, "key"]
    out.loc[missing, "campaign"] = keys.map(names["campaign"]).fillna(keys).to_numpy()
    out.loc[missing, "channel"] = keys.map(names["channel"]).to_numpy()
    return out


def timeseries(
    engine: Engine,
    filters: Filters,
    options: attr.AttributionOptions = attr.DEFAULT_OPTIONS,
    *,
    model: str = "last_touch",
    grain: str = "week",
    serving: ServingStore | None = None,
    credit: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``period, key`` (channel) and every metric of :data:`METRICS`, per period and channel.

    ``serving`` / ``credit``: as for :func:`performance`.
    """
    if model not in attr.MODELS:
        raise ValueError(
            _("unknown attribution model {model!r}; use one of {MODELS}").format(
                model=model, MODELS=attr.MODELS
            )
        )
    r = route(engine, serving, MEDIA_TABLES, filters)
    media = _media(r, filters, "channel", grain)
    media["period"] = pd.to_datetime(media["period"]).astype("datetime64[us]")
    credit = attr.attribute_over_time(
        engine, filters, options, grain=grain, serving=serving, credit=credit
    )
    credit_attrs = dict(credit.attrs)
    credit = credit[credit["model"] == model][["period", "key", "conversions", "revenue"]]
    out = media.merge(credit, on=["period", "key"], how="outer").fillna(0.0)
    out = add_ratios(out).sort_values(["period", "key"])
    out = out[["period", "key", *METRICS]].reset_index(drop=True)
    return tag(out, [r, _credit_route(credit_attrs)])


# --- dark funnel ----------------------------------------------------------------------------------


def served_dark_funnel_stmt(filters: Filters) -> Select:
    """:func:`dark_funnel_stmt` over the serving store's ``srv_dark_funnel``."""
    from data.serving.channels import dark_funnel as t

    return (
        select(t.c.tracked, t.c.self_reported, func.sum(t.c.n).label("customers"))
        .where(
            filters.date_condition(t.c.day),
            filters.dimension_condition(channel=t.c.tracked, segment=t.c.segment,
                                        region=t.c.region),
        )
        .group_by(t.c.tracked, t.c.self_reported)
    )  # fmt: skip


def dark_funnel_stmt(filters: Filters) -> Select:
    """Customers first seen in the period by ``tracked`` acquisition channel and
    ``self_reported`` source (NULL answers become ``(no answer)``): ``tracked, self_reported,
    customers``. The channel filter applies to the tracked channel."""
    reported = func.coalesce(customers.c.self_reported_source, NO_ANSWER)
    return (
        select(
            customers.c.acquisition_channel.label("tracked"),
            reported.label("self_reported"),
            func.count().label("customers"),
        )
        .where(
            filters.time_condition(customers.c.first_seen_at),
            filters.dimension_condition(
                channel=customers.c.acquisition_channel,
                segment=customers.c.segment,
                region=customers.c.region,
            ),
        )
        .group_by(customers.c.acquisition_channel, reported)
    )


def dark_funnel(
    engine: Engine, filters: Filters, *, serving: ServingStore | None = None
) -> pd.DataFrame:
    """Long counts: ``tracked, self_reported, customers`` (served when the store covers it)."""
    r = route(engine, serving, DARK_FUNNEL_TABLES, filters)
    stmt = served_dark_funnel_stmt(filters) if r.served else dark_funnel_stmt(filters)
    with r.engine.connect() as conn:
        df = pd.read_sql(stmt, conn)
    df["customers"] = df["customers"].astype(int)
    return tag(df, r)


@dataclass(frozen=True)
class CrossTab:
    """Counts (tracked rows × self-reported columns, incl. ``(no answer)``) and row shares among
    customers who answered (0-1; each row sums to 1; ``(no answer)`` is left out of shares)."""

    counts: pd.DataFrame
    row_share: pd.DataFrame


def crosstab(long: pd.DataFrame) -> CrossTab:
    """Pivot :func:`dark_funnel` output into counts and row shares."""
    if long.empty:
        empty = pd.DataFrame()
        return CrossTab(empty, empty)
    counts = long.pivot_table(
        index="tracked", columns="self_reported", values="customers", aggfunc="sum", fill_value=0
    ).astype(int)
    answered = counts.drop(columns=[NO_ANSWER], errors="ignore")
    totals = answered.sum(axis=1)
    share = answered.div(totals.where(totals > 0), axis=0)
    return CrossTab(counts, share)


def disagreements(long: pd.DataFrame, *, min_answers: int = 10, n: int = 10) -> pd.DataFrame:
    """Where self-reported source and tracked channel disagree most.

    One row per (tracked, self_reported) pair with different values, ranked by ``share`` =
    customers ÷ customers of that tracked channel who answered; pairs whose tracked channel has
    fewer than ``min_answers`` answers are dropped. ``summary`` is a sentence for the page.
    """
    cols = ["tracked", "self_reported", "customers", "answered", "share", "summary"]
    if long.empty:
        return pd.DataFrame(columns=cols)
    ans = long[long["self_reported"] != NO_ANSWER].copy()
    ans["answered"] = ans.groupby("tracked")["customers"].transform("sum")
    ans = ans[(ans["self_reported"] != ans["tracked"]) & (ans["answered"] >= min_answers)]
    ans["share"] = ans["customers"] / ans["answered"]
    ans = ans.sort_values(["share", "customers"], ascending=False).head(n)
    ans["summary"] = [
        _(
            "{s:.0%} of customers tracked as {replace} say they heard about us via {replace2}"
        ).format(s=s, replace=t.replace("_", " "), replace2=r.replace("_", " "))
        for s, t, r in zip(ans["share"], ans["tracked"], ans["self_reported"], strict=True)
    ]
    return ans[cols].reset_index(drop=True)


def agreement_rate(long: pd.DataFrame) -> float:
    """Share of answering customers whose self-reported source equals the tracked channel."""
    ans = long[long["self_reported"] != NO_ANSWER]
    total = ans["customers"].sum()
    if not total:
        return float(np.nan)
    return float(ans.loc[ans["self_reported"] == ans["tracked"], "customers"].sum() / total)
