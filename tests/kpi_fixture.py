"""A small hand-built warehouse for KPI tests: seeded random rows plus crafted edge cases.

``build(url)`` creates the contract on any SQLAlchemy URL, inserts the rows and returns them as
pandas frames (the tests' independent references are computed from those frames).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import create_engine

from data.schema import Channel, Region, Segment, Stage, create_contract, metadata

FIRST_DAY = dt.datetime(2024, 1, 1)
DAYS = 110  # data runs 2024-01-01 .. 2024-04-19
PERSONAS = ("founder", "marketer", "analyst")
CHANNELS = tuple(c.value for c in Channel)
EVENTS = (
    "impression",
    "click",
    "visit",
    "email_open",
    "email_click",
    "purchase",
    "referral",
    "signup",
)


def _ts(rng: np.random.Generator, n: int) -> list[dt.datetime]:
    secs = rng.integers(0, DAYS * 86400, size=n)
    return [FIRST_DAY + dt.timedelta(seconds=int(s)) for s in secs]


def make_rows(seed: int = 7) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_cust = 90
    customers = pd.DataFrame(
        {
            "customer_id": np.arange(1, n_cust + 1),
            "first_seen_at": _ts(rng, n_cust),
            "acquisition_channel": rng.choice(CHANNELS, n_cust),
            "self_reported_source": None,
            "segment": rng.choice([s.value for s in Segment], n_cust),
            "persona": rng.choice(PERSONAS, n_cust),
            "region": rng.choice([r.value for r in Region], n_cust),
        }
    )
    # crafted boundaries: first seen exactly at the start of March / just before April
    customers.loc[0, "first_seen_at"] = dt.datetime(2024, 3, 1, 0, 0, 0)
    customers.loc[1, "first_seen_at"] = dt.datetime(2024, 3, 31, 23, 59, 59)
    customers.loc[2, "first_seen_at"] = dt.datetime(2024, 4, 1, 0, 0, 0)

    n_camp = 8
    camp_channels = [
        "paid_search",
        "paid_social",
        "video",
        "email",
        "paid_search",
        "paid_social",
        "email",
        "community",
    ]
    campaigns = pd.DataFrame(
        {
            "campaign_id": np.arange(1, n_camp + 1),
            "name": [f"Campaign {i}" for i in range(1, n_camp + 1)],
            "channel": camp_channels,
            "target_stage": rng.choice(["awareness", "purchase", "retention"], n_camp),
            "loop_stage": rng.choice(["express", "tailor", "amplify", "evolve"], n_camp),
            "is_personalised": [i % 2 == 0 for i in range(n_camp)],
            "start_date": [dt.date(2024, 1, 1)] * n_camp,
            "end_date": [None] * n_camp,
        }
    )

    n_tp = 700
    events = rng.choice(EVENTS, n_tp)
    tp_channels = rng.choice(CHANNELS, n_tp)
    tp_channels = np.where(np.isin(events, ["email_open", "email_click"]), "email", tp_channels)
    camp_ids = rng.integers(1, n_camp + 1, n_tp).astype(float)
    camp_ids[rng.random(n_tp) < 0.3] = np.nan
    touchpoints = pd.DataFrame(
        {
            "touchpoint_id": np.arange(1, n_tp + 1),
            "customer_id": rng.integers(1, n_cust + 1, n_tp),
            "occurred_at": _ts(rng, n_tp),
            "channel": tp_channels,
            "campaign_id": pd.array(
                [None if np.isnan(c) else int(c) for c in camp_ids], dtype="Int64"
            ),
            "event_type": events,
            "value": np.where(events == "purchase", np.round(rng.uniform(20, 400, n_tp), 2), None),
        }
    )

    spend_rows = []
    for day in range(DAYS):
        date = (FIRST_DAY + dt.timedelta(days=day)).date()
        for cid, ch in zip(campaigns.campaign_id, campaigns.channel, strict=True):
            if rng.random() < 0.5:
                impressions = int(rng.integers(100, 2000))
                spend_rows.append(
                    {
                        "spend_date": date,
                        "campaign_id": int(cid),
                        "channel": ch,
                        "spend": float(np.round(rng.uniform(5, 120), 2)),
                        "impressions": impressions,
                        "clicks": int(rng.integers(0, impressions // 20 + 1)),
                    }
                )
    daily_spend = pd.DataFrame(spend_rows)

    n_ord = 260
    orders = pd.DataFrame(
        {
            "order_id": np.arange(1, n_ord + 1),
            "customer_id": rng.integers(1, n_cust + 1, n_ord),
            "ordered_at": _ts(rng, n_ord),
            "revenue": np.round(rng.uniform(10, 500, n_ord), 2),
        }
    )
    orders.loc[0, "ordered_at"] = dt.datetime(2024, 3, 31, 23, 59, 59, 999000)
    orders.loc[1, "ordered_at"] = dt.datetime(2024, 4, 1, 0, 0, 0)

    stages = [s.value for s in Stage]
    n_lc = 200
    from_st = rng.choice(stages, n_lc)
    to_st = rng.choice(stages, n_lc)
    lifecycle = pd.DataFrame(
        {
            "customer_id": rng.integers(1, n_cust + 1, n_lc),
            "changed_at": _ts(rng, n_lc),
            "from_stage": from_st,
            "to_stage": to_st,
        }
    )

    n_sv = 160
    kinds = rng.choice(["nps", "csat"], n_sv)
    scores = np.where(kinds == "nps", rng.integers(0, 11, n_sv), rng.integers(1, 6, n_sv))
    surveys = pd.DataFrame(
        {
            "survey_id": np.arange(1, n_sv + 1),
            "customer_id": rng.integers(1, n_cust + 1, n_sv),
            "responded_at": _ts(rng, n_sv),
            "kind": kinds,
            "score": scores,
            "channel": rng.choice(CHANNELS, n_sv),
        }
    )

    experiments = pd.DataFrame(
        {
            "experiment_id": ["exp-a", "exp-b", "exp-c", "exp-d"],
            "name": ["A", "B", "C", "D"],
            "hypothesis": ["h"] * 4,
            "loop_stage": ["evolve", "tailor", "amplify", "express"],
            "primary_metric": ["conversion"] * 4,
            "secondary_metrics": [None] * 4,
            "guardrail_metrics": [None] * 4,
            "started_at": [
                dt.datetime(2024, 2, 1),
                dt.datetime(2024, 3, 5),
                dt.datetime(2024, 1, 10),
                dt.datetime(2024, 4, 10),
            ],
            "ended_at": [None, None, dt.datetime(2024, 3, 20), None],
            "status": ["running", "running", "concluded", "draft"],
        }
    )
    return {
        "customers": customers,
        "campaigns": campaigns,
        "touchpoints": touchpoints,
        "daily_spend": daily_spend,
        "orders": orders,
        "lifecycle_changes": lifecycle,
        "surveys": surveys,
        "experiments": experiments,
    }


def _records(df: pd.DataFrame) -> list[dict]:
    out = []
    for row in df.to_dict("records"):
        out.append(
            {
                k: (None if v is None or (not isinstance(v, str) and pd.isna(v)) else v)
                for k, v in row.items()
            }
        )
    # numpy scalars -> python
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in out]


def build(url: str, rows: dict[str, pd.DataFrame] | None = None) -> dict[str, pd.DataFrame]:
    """Create the contract at ``url`` and insert the fixture rows; returns the frames."""
    rows = make_rows() if rows is None else rows
    engine = create_engine(url)
    create_contract(engine)
    with engine.begin() as conn:
        for name, df in rows.items():
            if len(df):
                conn.execute(metadata.tables[name].insert(), _records(df))
    engine.dispose()
    return rows
