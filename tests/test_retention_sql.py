"""Cohort retention, repeat purchase, CAC and the RFM summary: SQL on DuckDB, SQLite and
PostgreSQL against an independent pandas computation on the raw rows."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sqlalchemy import create_engine, insert

from data.schema import create_contract, customers, daily_spend, orders, touchpoints
from metrics.filters import Filters
from metrics.retention import cohorts
from metrics.retention.summary import customer_summary, order_transactions

END = dt.date(2026, 6, 30)
START = dt.date(2025, 10, 1)
CHANNELS = ["paid_search", "email", "referral"]
SEGMENTS = ["smb", "enterprise"]


def _raw(seed: int = 5) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 300
    first_seen = pd.Timestamp("2025-08-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    cust = pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "first_seen_at": first_seen + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"),
            "acquisition_channel": rng.choice(CHANNELS, n),
            "self_reported_source": None,
            "segment": rng.choice(SEGMENTS, n),
            "persona": rng.choice(["builder", "buyer"], n),
            "region": rng.choice(["europe", "apac"], n),
        }
    )
    k = rng.poisson(3, n) * (rng.random(n) < 0.8)
    oc = np.repeat(cust["customer_id"].to_numpy(), k)
    base = np.repeat(cust["first_seen_at"].to_numpy(), k)
    ts = base + pd.to_timedelta(rng.exponential(60, oc.size) * 86_400, unit="s").to_numpy()
    ords = pd.DataFrame(
        {
            "order_id": np.arange(1, oc.size + 1),
            "customer_id": oc,
            "ordered_at": pd.to_datetime(ts).floor("s"),
            "revenue": rng.lognormal(4, 0.7, oc.size).round(2),
        }
    )
    m = rng.poisson(4, n)
    tc = np.repeat(cust["customer_id"].to_numpy(), m)
    tts = (
        np.repeat(cust["first_seen_at"].to_numpy(), m)
        + pd.to_timedelta(rng.exponential(90, tc.size) * 86_400, unit="s").to_numpy()
    )
    tp = pd.DataFrame(
        {
            "touchpoint_id": np.arange(1, tc.size + 1),
            "customer_id": tc,
            "occurred_at": pd.to_datetime(tts).floor("s"),
            "channel": "email",
            "campaign_id": None,
            "event_type": rng.choice(["impression", "visit", "email_open"], tc.size),
            "value": None,
        }
    )
    days = pd.date_range("2025-09-01", "2026-07-15", freq="D")
    spend = pd.DataFrame(
        {
            "spend_date": days.date,
            "campaign_id": 1,
            "channel": "paid_search",
            "spend": rng.uniform(10, 100, len(days)).round(2),
            "impressions": 100,
            "clicks": 5,
        }
    )
    return {"customers": cust, "orders": ords, "touchpoints": tp, "daily_spend": spend}


RAW = _raw()


@pytest.fixture(params=["duckdb", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'r.duckdb'}"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url")
    eng = create_engine(url)
    create_contract(eng)
    with eng.begin() as conn:
        for name, table in (
            ("customers", customers),
            ("orders", orders),
            ("touchpoints", touchpoints),
            ("daily_spend", daily_spend),
        ):
            frame = RAW[name].astype(object).where(RAW[name].notna(), None)
            records = frame.to_dict("records")
            for r in records:
                for key, v in r.items():
                    if isinstance(v, pd.Timestamp):
                        r[key] = v.to_pydatetime()
                    elif isinstance(v, np.generic):
                        r[key] = v.item()
            conn.execute(insert(table), records)
    yield eng
    eng.dispose()


FILTERS = Filters(start=START, end=END)


def _acquired() -> pd.DataFrame:
    o = RAW["orders"]
    first = o.groupby("customer_id")["ordered_at"].min().rename("first_at").reset_index()
    first = first[
        (first["first_at"] >= pd.Timestamp(START))
        & (first["first_at"] < pd.Timestamp(END) + pd.Timedelta(days=1))
    ]
    return first.merge(RAW["customers"], on="customer_id")


def _period_start(ts: pd.Series, grain: str) -> pd.Series:
    d = ts.dt.normalize()
    if grain == "week":
        return d - pd.to_timedelta(d.dt.day_of_week, unit="D")
    return d.dt.to_period("M").dt.to_timestamp()


def _reference_cells(grain: str, activity: str) -> pd.DataFrame:
    acq = _acquired()
    acq["cohort"] = _period_start(acq["first_at"], grain)
    hi = pd.Timestamp(END) + pd.Timedelta(days=1)
    act = RAW["orders"][["customer_id", "ordered_at"]].rename(columns={"ordered_at": "at"})
    if activity == "engagement":
        t = RAW["touchpoints"]
        t = t[t["event_type"] != "impression"][["customer_id", "occurred_at"]]
        act = pd.concat([act, t.rename(columns={"occurred_at": "at"})])
    act = act[act["at"] < hi].merge(
        acq[["customer_id", "first_at", "cohort", "acquisition_channel"]]
    )
    act = act[act["at"] >= act["first_at"]]
    p = _period_start(act["at"], grain)
    if grain == "week":
        act["period"] = ((p - act["cohort"]).dt.days // 7).astype(int)
    else:
        act["period"] = (
            (p.dt.year - act["cohort"].dt.year) * 12 + p.dt.month - act["cohort"].dt.month
        ).astype(int)
    active = (
        act.groupby(["acquisition_channel", "cohort", "period"])["customer_id"]
        .nunique()
        .rename("active")
    )
    size = acq.groupby(["acquisition_channel", "cohort"]).size().rename("size")
    rows = []
    for (ch, c), n in size.items():
        k = 0
        while True:
            end_k = c + (
                pd.Timedelta(days=7 * (k + 1)) if grain == "week" else pd.DateOffset(months=k + 1)
            )
            if end_k > hi:
                break
            rows.append((ch, c, k, n, int(active.get((ch, c, k), 0))))
            k += 1
    return pd.DataFrame(rows, columns=["dim", "cohort", "period", "size", "active"])


@pytest.mark.parametrize(("grain", "activity"), [("month", "purchase"), ("week", "engagement")])
def test_cohort_retention_matches_pandas(engine, grain, activity):
    got = cohorts.cohort_retention(engine, FILTERS, START, END, grain, activity, "channel")
    ref = _reference_cells(grain, activity)
    assert len(ref) > 50
    m = ref.merge(got, on=["dim", "cohort", "period"], how="outer", indicator=True)
    assert (m["_merge"] == "both").all()
    assert (m["size_x"] == m["size_y"]).all()
    assert (m["active_x"] == m["active_y"]).all()
    assert_allclose(m["retention"], m["active_x"] / m["size_x"])
    if activity == "purchase":
        assert (got.loc[got["period"] == 0, "retention"] == 1.0).all()


def test_repeat_purchase_and_cac_match_pandas(engine):
    got = cohorts.repeat_purchase(engine, FILTERS, START, END, "channel").set_index("dim")
    acq = _acquired()
    o = RAW["orders"]
    o = o[o["ordered_at"] < pd.Timestamp(END) + pd.Timedelta(days=1)]
    days = o.assign(day=o["ordered_at"].dt.normalize())[["customer_id", "day"]].drop_duplicates()
    days = days.sort_values(["customer_id", "day"])
    days["rn"] = days.groupby("customer_id").cumcount()
    second = days[days["rn"] == 1].set_index("customer_id")["day"]
    first = days[days["rn"] == 0].set_index("customer_id")["day"]
    acq["d2"] = (
        second.reindex(acq["customer_id"]) - first.reindex(acq["customer_id"])
    ).dt.days.to_numpy()
    for ch, sub in acq.groupby("acquisition_channel"):
        row = got.loc[ch]
        assert row["customers"] == len(sub)
        assert row["repeaters"] == sub["d2"].notna().sum()
        assert row["median_days_to_second"] == pytest.approx(sub["d2"].median())
        assert row["within_30"] == pytest.approx((sub["d2"] <= 30).sum() / len(sub))
    cac = cohorts.channel_cac(engine, FILTERS, START, END).set_index("dim")
    s = RAW["daily_spend"]
    spend = s[(s["spend_date"] >= START) & (s["spend_date"] <= END)]["spend"].sum()
    new = (acq["acquisition_channel"] == "paid_search").sum()
    assert cac.loc["paid_search", "cac"] == pytest.approx(spend / new)
    assert np.isnan(cac.loc["email", "cac"])


def test_customer_summary_matches_pandas(engine):
    tx = order_transactions()
    with engine.connect() as conn:
        got = pd.DataFrame(conn.execute(customer_summary(tx, END)).mappings().all())
    o = RAW["orders"]
    o = o[o["ordered_at"] < pd.Timestamp(END) + pd.Timedelta(days=1)]
    d = (
        o.assign(day=o["ordered_at"].dt.normalize())
        .groupby(["customer_id", "day"])["revenue"]
        .sum()
    )
    d = d.reset_index().sort_values(["customer_id", "day"])
    g = d.groupby("customer_id")
    ref = pd.DataFrame(
        {
            "x": g.size() - 1,
            "t_x_days": (g["day"].max() - g["day"].min()).dt.days,
            "T_days": (pd.Timestamp(END) - g["day"].min()).dt.days,
            "total": g["revenue"].sum() - g["revenue"].first(),
        }
    )
    m = ref.merge(
        got.set_index("customer_id"),
        left_index=True,
        right_index=True,
        suffixes=("", "_sql"),
        how="outer",
    )
    assert len(m) == len(ref) and m.notna().all().all()
    for col in ("x", "t_x_days", "T_days"):
        assert (m[col] == m[f"{col}_sql"]).all(), col
    assert_allclose(m["total_sql"], m["total"], atol=1e-6)


def test_channel_clv_runs_and_agrees_across_engines(engine):
    from metrics.retention.channel_clv import channel_clv
    from metrics.retention.clv import CLVSettings

    out = channel_clv(
        engine, FILTERS, START, END, CLVSettings(), min_buyers=30, min_repeat_buyers=20
    ).set_index("dim")
    assert set(out.index) == set(CHANNELS)
    fitted = out.dropna(subset=["predicted_clv"])
    assert len(fitted) == len(CHANNELS), out["fit_note"].to_dict()
    assert (fitted["predicted_clv_low"] <= fitted["predicted_clv"]).all()
    assert (fitted["predicted_clv"] <= fitted["predicted_clv_high"]).all()
    assert ((fitted["p_alive"] > 0) & (fitted["p_alive"] < 1)).all()
    # first-order value is the mean first-day spend of each channel's buyers (pandas reference)
    o = RAW["orders"].merge(RAW["customers"][["customer_id", "acquisition_channel"]])
    o = o[o["ordered_at"] < pd.Timestamp(END) + pd.Timedelta(days=1)]
    o = o.assign(day=o["ordered_at"].dt.normalize())
    first_day = o.groupby("customer_id")["day"].transform("min")
    fo = o[o["day"] == first_day].groupby(["acquisition_channel", "customer_id"])["revenue"].sum()
    ref = fo.groupby(level=0).mean()
    assert_allclose(out.loc[ref.index, "first_order"], ref.to_numpy())
    assert out.loc["paid_search", "clv_cac_predicted"] == pytest.approx(
        out.loc["paid_search", "predicted_clv"] / out.loc["paid_search", "cac"]
    )


def test_channel_filter_with_several_values_reaches_the_summary(engine):
    """A two-channel filter is an expanding IN-list: DuckDB's native path once refused it
    ("Parameter argument/count mismatch") and the Retention page failed under that filter."""
    from metrics.retention.channel_clv import channel_clv
    from metrics.retention.clv import CLVSettings

    two = tuple(CHANNELS[:2])
    filtered = dataclasses.replace(FILTERS, channels=two)
    out = channel_clv(engine, filtered, START, END, CLVSettings(), min_buyers=30,
                      min_repeat_buyers=20)  # fmt: skip
    assert set(out["dim"]) == set(two)
    whole = channel_clv(engine, FILTERS, START, END, CLVSettings(), min_buyers=30,
                        min_repeat_buyers=20).set_index("dim")  # fmt: skip
    assert_allclose(
        out.set_index("dim").loc[list(two), "first_order"], whole.loc[list(two), "first_order"]
    )
