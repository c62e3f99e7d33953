"""Predictive CLV, CLV:CAC and payback per acquisition channel or campaign (Retention & CLV).

For each acquisition channel (or **acquisition campaign**: the campaign of a customer's first
tracked touch on their acquisition channel: ``cohorts.acquisition_campaigns``)
a BG/NBD model is fitted on its buyers (calibration up to the observation end, weeks). Spend
is modelled per **segment** (one Gamma-Gamma fit per segment over all channels): order values
differ by an order of magnitude between segments, and a single pooled fit has no finite mean
(q <= 1). A channel's (campaign's) expected spend per purchase is its buyers' segment mix of
those means. Named figures, per customer, in USD:

- **Predicted CLV (new customer)**: average first-order value + expected spend per purchase ×
  discounted expected repeat purchases over the horizon (``E[X(t)]``, FHL 2005 eq. 7), with a
  90% interval from the parameter uncertainty.
- **Expected value, current customers**: discounted expected revenue over the horizon from the
  channel's existing buyers (conditional on their history), and their mean P(alive).
- **Historical value**: cumulative revenue per acquired customer over the same number of
  calendar months since the acquisition month, from the monthly cohorts of the last two years
  that have been observed that long.
- **CLV:CAC**: each value ÷ CAC per paying customer (:func:`metrics.retention.cohorts.channel_cac`,
  per campaign :func:`~metrics.retention.cohorts.campaign_cac`: the campaign's spend ÷ the
  customers it acquired, so customers acquired without a campaign carry no CAC);
  **payback**: months since acquisition until cumulative value reaches CAC (predicted: first
  order + expected repeat spend, undiscounted; historical: the cohort revenue curve).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from i18n import _
from metrics.filters import Filters
from metrics.retention import cohorts
from metrics.retention.bgnbd import BGNBDParams, expected_purchases, fit_bgnbd, prob_alive
from metrics.retention.clv import (
    MONTH_DAYS,
    Z90,
    CLVSettings,
    delta_sd,
    discounted_expected_purchases,
    new_customer_discounted_purchases,
    step_discount,
)
from metrics.retention.gamma_gamma import (
    GammaGammaParams,
    conditional_expected_spend,
    fit_gamma_gamma,
)
from metrics.retention.summary import (
    UNIT_DAYS,
    fetch_summaries,
    order_transactions,
)

MIN_BUYERS = 200
MIN_REPEAT_BUYERS = 100
PAYBACK_MAX_MONTHS = 60

COLUMNS = [
    "dim",
    "buyers",
    "new_customers",
    "spend",
    "cac",
    "first_order",
    "spend_per_purchase",
    "predicted_clv",
    "predicted_clv_low",
    "predicted_clv_high",
    "current_value",
    "p_alive",
    "historical_value",
    "historical_months",
    "clv_cac_predicted",
    "clv_cac_historical",
    "payback_predicted",
    "payback_historical",
    "fit_note",
]


def _gg_fit(spend: pd.DataFrame, min_repeat: int = MIN_REPEAT_BUYERS):  # noqa: ANN202
    spend = spend.assign(total=spend["total"].astype(float))
    pos = spend[spend["total"] > 0]
    if int(pos["n"].sum()) < min_repeat:
        return None
    x = pos["x"].to_numpy(dtype=float)
    fit = fit_gamma_gamma(x, pos["total"].to_numpy(dtype=float) / x, pos["n"].to_numpy(float))
    return fit if fit.params.q > 1 else None


SEP = "|"
By = Literal["channel", "campaign"]


def channel_clv(
    engine: Engine,
    filters: Filters,
    start: dt.date,
    end: dt.date,
    settings: CLVSettings,
    min_buyers: int = MIN_BUYERS,
    min_repeat_buyers: int = MIN_REPEAT_BUYERS,
    by: By = "channel",
) -> pd.DataFrame:
    """One row per acquisition channel, or per acquisition campaign with ``by="campaign"``
    (``dim`` is then the campaign id as text; see the module docstring for every figure).

    Channels or campaigns with fewer than ``min_buyers`` buyers, and segments with fewer than
    ``min_repeat_buyers`` repeat buyers, get no model (a note says so).
    """
    cond = filters.dimension_condition(
        channel=cohorts.customers.c.acquisition_channel,
        segment=cohorts.customers.c.segment,
        region=cohorts.customers.c.region,
    )
    c = cohorts.customers.c
    if by == "campaign":
        camp = cohorts.acquisition_campaigns()
        key = cohorts.campaign_key(camp.c.campaign_id)
        dim = key + SEP + c.acquisition_channel + SEP + c.segment
        tx = order_transactions(dim, cond, (camp, camp.c.customer_id == c.customer_id))
    else:
        tx = order_transactions(c.acquisition_channel + SEP + c.segment, cond)
    summary, spend = fetch_summaries(engine, tx, end, "week")
    if summary.n_customers == 0:
        return pd.DataFrame(columns=COLUMNS)
    # dim: "channel|segment", or "campaign|channel|segment"
    parts = [d.split(SEP) for d in summary.dim]
    group_of = np.array([p[0] for p in parts])
    channel_of = np.array([p[-2] for p in parts])
    segment_of = np.array([p[-1] for p in parts])
    spend["segment"] = spend["dim"].astype(str).str.split(SEP).str[-1]
    gg_fits = {seg: _gg_fit(sub, min_repeat_buyers) for seg, sub in spend.groupby("segment")}
    cac_of = cohorts.campaign_cac if by == "campaign" else cohorts.channel_cac
    cac = cac_of(engine, filters, start, end).set_index("dim")
    # the historical curve pools every monthly cohort of the last two years
    history_start = min(start, end - dt.timedelta(days=730))
    cells = cohorts.cohort_retention(engine, filters, history_start, end, "month", "purchase", by)
    curves = cohorts.retention_curves(cells)
    k = UNIT_DAYS["week"]
    horizon = settings.horizon_days / k
    step = MONTH_DAYS / k
    d_step = step_discount(settings.annual_discount)
    months = max(1, round(settings.horizon_days / MONTH_DAYS))
    rows = []
    channel_fits: dict[tuple, object] = {}
    for group in sorted(set(group_of)):
        s = summary.subset(group_of == group)
        segs = segment_of[group_of == group]
        # A campaign too small to fit alone borrows the BG/NBD fit of its channel's buyers.
        fit_on, fit_note = s, ""
        if by == "campaign" and s.n_customers < min_buyers:
            pooled = np.isin(channel_of, np.unique(channel_of[group_of == group]))
            fit_on = summary.subset(pooled)
            fit_note = _("fewer than {min_buyers} buyers: its channel's purchase model").format(
                min_buyers=min_buyers
            )
        row: dict = {"dim": group, "buyers": s.n_customers}
        cc = cac.loc[group] if group in cac.index else None
        row["new_customers"] = int(cc["new_customers"]) if cc is not None else 0
        row["spend"] = float(cc["spend"]) if cc is not None else 0.0
        row["cac"] = float(cc["cac"]) if cc is not None else float("nan")
        row["first_order"] = float(s.first_total.sum() / s.n_customers)
        if fit_on.n_customers < min_buyers or not np.any(fit_on.x > 0):
            row["fit_note"] = _("fewer than {min_buyers} buyers: no fit").format(
                min_buyers=min_buyers
            )
            rows.append(row)
            continue
        missing = sorted({g for g in segs if gg_fits.get(g) is None})
        if missing:
            row["fit_note"] = _("no spend model for segment ") + ", ".join(missing)
            rows.append(row)
            continue
        if fit_on is s:
            bg_fit = fit_bgnbd(s.x, s.t_x, s.T, s.n)
        else:  # one pooled fit per channel, shared by its small campaigns
            pool_key = tuple(np.unique(channel_of[group_of == group]))
            if pool_key not in channel_fits:
                channel_fits[pool_key] = fit_bgnbd(fit_on.x, fit_on.t_x, fit_on.T, fit_on.n)
            bg_fit = channel_fits[pool_key]
        mix = {g: float(s.n[segs == g].sum() / s.n_customers) for g in sorted(set(segs))}
        first = row["first_order"]

        def mean_spend(gg_by_seg: dict[str, GammaGammaParams], mix: dict = mix) -> float:
            return sum(w * gg_by_seg[g].population_mean for g, w in mix.items())

        base_gg = {g: gg_fits[g].params for g in mix}

        def new_clv(
            bg: np.ndarray, _unused, first: float = first, base_gg: dict = base_gg
        ) -> float:
            det = new_customer_discounted_purchases(BGNBDParams(*bg), horizon, step, d_step)
            return first + mean_spend(base_gg) * det

        value = new_clv(bg_fit.params.as_array(), None)
        var = delta_sd(new_clv, bg_fit, None) ** 2
        # spend-model uncertainty, segment by segment (independent fits)
        det0 = new_customer_discounted_purchases(bg_fit.params, horizon, step, d_step)
        for g, w in mix.items():
            fit_g = gg_fits[g]

            def seg_value(_bg, gg: np.ndarray, w: float = w, det0: float = det0) -> float:
                return w * GammaGammaParams(*gg).population_mean * det0

            var += delta_sd(seg_value, bg_fit, fit_g) ** 2  # zero gradient in the BG/NBD block
        sd = math.sqrt(max(var, 0.0))
        e_m = mean_spend(base_gg)
        row.update(
            spend_per_purchase=e_m,
            predicted_clv=value,
            predicted_clv_low=max(0.0, value - Z90 * sd),
            predicted_clv_high=value + Z90 * sd,
        )
        det = discounted_expected_purchases(bg_fit.params, s.x, s.t_x, s.T, horizon, step, d_step)
        mean_m = np.where(s.x > 0, s.total / np.maximum(s.x, 1), 0.0)
        spend_c = np.empty_like(det)
        for g in mix:
            sel = segs == g
            spend_c[sel] = conditional_expected_spend(base_gg[g], s.x[sel], mean_m[sel])
        row["current_value"] = float(np.dot(det * spend_c, s.n) / s.n_customers)
        alive = prob_alive(bg_fit.params, s.x, s.t_x, s.T)
        row["p_alive"] = float(np.dot(alive, s.n) / s.n_customers)
        # payback, predicted: first order + E[M] * E[X(m months)] >= CAC
        if math.isfinite(row["cac"]):
            m = np.arange(1, PAYBACK_MAX_MONTHS + 1)
            cum = first + e_m * expected_purchases(bg_fit.params, m * step)
            hit = np.flatnonzero(cum >= row["cac"])
            row["payback_predicted"] = float(m[hit[0]]) if hit.size else float("inf")
        row["fit_note"] = fit_note
        rows.append(row)
    out = pd.DataFrame(rows).reindex(columns=COLUMNS)
    # historical: cohort revenue curve (period k = calendar month k since the acquisition month)
    for i, r in out.iterrows():
        cur = curves[curves["dim"] == r["dim"]].sort_values("period")
        if cur.empty:
            continue
        upto = cur[cur["period"] <= months - 1]
        last = upto.iloc[-1]
        out.at[i, "historical_value"] = float(last["cum_revenue"])
        out.at[i, "historical_months"] = int(last["period"]) + 1
        if math.isfinite(r["cac"]):
            hit = cur[cur["cum_revenue"] >= r["cac"]]
            out.at[i, "payback_historical"] = (
                float(hit["period"].iloc[0]) + 1 if not hit.empty else float("nan")
            )
    out["clv_cac_predicted"] = out["predicted_clv"] / out["cac"]
    out["clv_cac_historical"] = out["historical_value"] / out["cac"]
    return out
