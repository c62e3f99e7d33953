"""Acquisition campaigns: the first tracked touch's campaign, CAC per campaign, and predictive
CLV per campaign (a campaign too small to fit alone borrows its channel's purchase model).

Hand-made journeys on DuckDB, SQLite and PostgreSQL, whose expected answers are read off the
rows; the demo warehouse for conservation against the per-channel figures."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, insert, select

from data.schema import campaigns, create_contract, customers, daily_spend, orders, touchpoints
from metrics.filters import Filters
from metrics.retention import cohorts

START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
T0 = dt.datetime(2026, 3, 2, 9, 0)


def _h(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


CAMPAIGNS = [
    (1, "Spring search", "paid_search"),
    (2, "Brand search", "paid_search"),
    (3, "Newsletter", "email"),
]
# customer -> acquisition channel; expected acquisition campaign
CUSTOMERS = {
    1: "paid_search",  # first touch campaign 1, later campaign 2        -> 1
    2: "paid_search",  # first touch is e-mail (3); first paid_search: 2   -> 2
    3: "paid_search",  # two touches at the same instant: ids 7 (2), 8 (1) -> 2
    4: "email",  # first e-mail touch carries no campaign                -> none
    5: "paid_search",  # no touchpoint at all                             -> none
    6: "paid_search",  # acquired by campaign 1, first order before START  -> not new
}
EXPECTED = {1: 1, 2: 2, 3: 2, 4: None, 5: None, 6: 1}
TOUCHES = [  # touchpoint_id, customer, hours after T0, channel, campaign
    (1, 1, 1, "paid_search", 1),
    (2, 1, 5, "paid_search", 2),
    (3, 2, 0, "email", 3),
    (4, 2, 2, "paid_search", 2),
    (5, 2, 3, "paid_search", 1),
    (7, 3, 4, "paid_search", 2),
    (8, 3, 4, "paid_search", 1),
    (9, 4, 1, "email", None),
    (10, 4, 2, "email", 3),
    (11, 6, -400, "paid_search", 1),
]
ORDERS = [(1, 1, 10), (2, 2, 10), (3, 3, 30), (4, 3, 300), (5, 4, 10), (6, 5, 10), (7, 6, -300)]
SPEND = {1: 100.0, 2: 50.0, 3: 20.0}  # per day, every day of March (and of February)


@pytest.fixture(params=["duckdb", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'c.duckdb'}"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url")
    eng = create_engine(url)
    create_contract(eng)
    days = [dt.date(2026, 2, 1) + dt.timedelta(days=i) for i in range(59)]
    with eng.begin() as conn:
        conn.execute(
            insert(campaigns),
            [
                {"campaign_id": i, "name": name, "channel": ch, "target_stage": "purchase",
                 "loop_stage": "amplify", "is_personalised": False,
                 "start_date": dt.date(2026, 1, 1), "end_date": None}
                for i, name, ch in CAMPAIGNS
            ],
        )  # fmt: skip
        conn.execute(
            insert(customers),
            [
                {"customer_id": c, "first_seen_at": _h(-500), "acquisition_channel": ch,
                 "self_reported_source": None, "segment": "smb", "persona": "builder",
                 "region": "europe"}
                for c, ch in CUSTOMERS.items()
            ],
        )  # fmt: skip
        conn.execute(
            insert(touchpoints),
            [
                {"touchpoint_id": t, "customer_id": c, "occurred_at": _h(h), "channel": ch,
                 "campaign_id": camp, "event_type": "visit", "value": None}
                for t, c, h, ch, camp in TOUCHES
            ],
        )  # fmt: skip
        conn.execute(
            insert(orders),
            [
                {"order_id": o, "customer_id": c, "ordered_at": _h(h), "revenue": 100.0}
                for o, c, h in ORDERS
            ],
        )
        conn.execute(
            insert(daily_spend),
            [
                {"spend_date": d, "campaign_id": i, "channel": ch, "spend": SPEND[i],
                 "impressions": 1000, "clicks": 10}
                for d in days
                for i, _, ch in CAMPAIGNS
            ],
        )  # fmt: skip
    yield eng
    eng.dispose()


def test_acquisition_campaign_is_the_first_touch_on_the_acquisition_channel(engine):
    acq = cohorts.acquisition_campaigns()
    with engine.connect() as conn:
        got = {int(r.customer_id): r.campaign_id for r in conn.execute(select(acq))}
    assert {c: (None if v is None else int(v)) for c, v in got.items()} == {
        c: v for c, v in EXPECTED.items() if c != 5
    }
    assert 5 not in got  # no touchpoint: the outer join leaves it to NO_CAMPAIGN


def test_cac_per_campaign_divides_its_spend_by_the_customers_it_acquired(engine):
    cac = cohorts.campaign_cac(engine, Filters(start=START, end=END), START, END).set_index("dim")
    # new in March (first order in the window): customers 1..5; customer 6 ordered in February
    assert cac["new_customers"].to_dict() == {"1": 1, "2": 2, cohorts.NO_CAMPAIGN: 2}
    assert cac.loc["1", "spend"] == pytest.approx(31 * SPEND[1])
    assert cac.loc["1", "cac"] == pytest.approx(31 * SPEND[1] / 1)
    assert cac.loc["2", "cac"] == pytest.approx(31 * SPEND[2] / 2)
    assert math.isnan(cac.loc[cohorts.NO_CAMPAIGN, "cac"])
    # a channel filter limits both the customers and the spend
    email = Filters(start=START, end=END, channels=("email",))
    only = cohorts.campaign_cac(engine, email, START, END).set_index("dim")
    assert only["new_customers"].to_dict() == {cohorts.NO_CAMPAIGN: 1}


def test_cohorts_by_campaign_partition_the_channel_cohorts(engine):
    f = Filters(start=START, end=END)
    by_campaign = cohorts.cohort_retention(engine, f, START, END, "week", "purchase", "campaign")
    by_channel = cohorts.cohort_retention(engine, f, START, END, "week", "purchase", "channel")
    assert set(by_campaign["dim"]) == {"1", "2", cohorts.NO_CAMPAIGN}
    keys = ["cohort", "period"]
    a = by_campaign.groupby(keys)[["size", "active", "revenue"]].sum()
    b = by_channel.groupby(keys)[["size", "active", "revenue"]].sum()
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    # customer 3 (campaign 2) bought again in the week of 14 March: active in period 1 or 2
    two = by_campaign[(by_campaign["dim"] == "2") & (by_campaign["period"] > 0)]
    assert two["active"].sum() == 1


@pytest.fixture(scope="module")
def demo_engine(tmp_path_factory):
    from data.demo import generator as demo
    from data.warehouse import open_engine, to_url

    path: Path = tmp_path_factory.mktemp("campaign_clv") / "demo.duckdb"
    demo.generate(str(path), customers=12_000, seed=3)
    eng = open_engine(to_url(str(path)), read_only=True)
    yield eng
    eng.dispose()


@pytest.mark.slow
def test_campaign_clv_conserves_the_channel_figures_and_pools_small_campaigns(demo_engine):
    from metrics.retention.channel_clv import channel_clv
    from metrics.retention.clv import CLVSettings

    with demo_engine.connect() as conn:
        end = conn.scalar(select(orders.c.ordered_at).order_by(orders.c.ordered_at.desc()))
    end = end.date()
    start = end - dt.timedelta(days=365)
    f = Filters(start=start, end=end)
    by_channel = channel_clv(demo_engine, f, start, end, CLVSettings()).set_index("dim")
    by_campaign = channel_clv(demo_engine, f, start, end, CLVSettings(), by="campaign")
    by_campaign = by_campaign.set_index("dim")
    # every buyer, new customer and dollar of spend lands in exactly one campaign row
    for col in ("buyers", "new_customers", "spend"):
        assert by_campaign[col].sum() == pytest.approx(by_channel[col].sum()), col
    names = cohorts.campaign_names(demo_engine)
    pooled = by_campaign[by_campaign["fit_note"].str.contains("channel's purchase model")]
    own = by_campaign[by_campaign["fit_note"] == ""]
    assert len(pooled) >= 5 and len(own) >= 2
    assert pooled["predicted_clv"].notna().all()
    # a pooled campaign shares its channel's discounted repeat purchases, so
    # (CLV - first order) / spend per purchase is the same for every campaign of a channel
    repeat = (pooled["predicted_clv"] - pooled["first_order"]) / pooled["spend_per_purchase"]
    channel = pd.Series({d: names[d][1] for d in pooled.index})
    for ch, ids in channel.groupby(channel).groups.items():
        vals = repeat.loc[list(ids)].to_numpy()
        np.testing.assert_allclose(vals, vals[0], rtol=1e-9, err_msg=ch)
    paid = by_campaign.dropna(subset=["cac"])
    np.testing.assert_allclose(paid["clv_cac_predicted"], paid["predicted_clv"] / paid["cac"])
