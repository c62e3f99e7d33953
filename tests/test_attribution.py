"""Attribution models against hand-computed journeys and an independent pandas implementation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sqlalchemy import create_engine
from trino.sqlalchemy.dialect import TrinoDialect

from data import schema
from metrics.filters import Filters
from metrics.marketing import attribution as attr

T0 = dt.datetime(2026, 3, 1)
PERIOD = Filters(start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31))


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 3, 1, hour) + dt.timedelta(days=day - 1)


def customer(cid: int, segment: str = "smb", region: str = "europe") -> dict:
    return dict(
        customer_id=cid,
        first_seen_at=T0 - dt.timedelta(days=60),
        acquisition_channel="direct",
        self_reported_source=None,
        segment=segment,
        persona="marketer",
        region=region,
    )


def load(url: str, tables: dict[str, list[dict]]):  # noqa: ANN201 - returns an Engine
    engine = create_engine(url)
    schema.create_contract(engine)
    with engine.begin() as conn:
        for name, rows in tables.items():
            if rows:
                conn.execute(schema.metadata.tables[name].insert(), rows)
    return engine


def journeys() -> dict[str, list[dict]]:
    """Four orders in March with known touch sequences (see the expectations below)."""
    tp: list[dict] = []

    def touch(cid: int, when: dt.datetime, channel: str, event: str, campaign=None) -> None:
        tp.append(
            dict(
                touchpoint_id=len(tp) + 1,
                customer_id=cid,
                occurred_at=when,
                channel=channel,
                campaign_id=campaign,
                event_type=event,
                value=None,
            )
        )

    # Order 1 (customer 1, 10 Mar 12:00, $100): 4 touches in the window, ages 9, 4, 1, 0 days.
    touch(1, at(10) - dt.timedelta(days=37), "organic_search", "visit")  # outside 30-day window
    touch(1, at(1), "paid_search", "click", 1)
    touch(1, at(6), "email", "email_open", 2)
    touch(1, at(8), "video", "impression", 3)  # not a marketing touch type
    touch(1, at(9), "paid_social", "click")
    touch(1, at(10), "direct", "visit")
    touch(1, at(11), "email", "email_click", 2)  # after the order
    # Order 2 (customer 2, 12 Mar 00:00, $50): one touch, 1 day before.
    touch(2, at(11, 0), "email", "email_click", 2)
    # Order 3 (customer 3, 15 Mar 12:00, $80): two touches, ages 2 and 1 days.
    touch(3, at(13), "community", "visit")
    touch(3, at(14), "referral", "referral")
    # Order 4 (customer 4, 16 Mar, $30): only a touch 40 days before -> (no touch).
    touch(4, at(16) - dt.timedelta(days=40), "paid_search", "click", 1)
    orders = [
        dict(order_id=1, customer_id=1, ordered_at=at(10), revenue=100.0),
        dict(order_id=2, customer_id=2, ordered_at=at(12, 0), revenue=50.0),
        dict(order_id=3, customer_id=3, ordered_at=at(15), revenue=80.0),
        dict(order_id=4, customer_id=4, ordered_at=at(16), revenue=30.0),
        dict(order_id=5, customer_id=2, ordered_at=at(36), revenue=999.0),  # April: outside
    ]
    campaigns = [
        dict(
            campaign_id=i,
            name=f"camp {i}",
            channel=ch,
            target_stage="awareness",
            loop_stage="express",
            is_personalised=False,
            start_date=dt.date(2026, 1, 1),
            end_date=None,
        )
        for i, ch in ((1, "paid_search"), (2, "email"), (3, "video"))
    ]
    return dict(
        customers=[customer(1), customer(2), customer(3, segment="enterprise"), customer(4)],
        touchpoints=tp,
        orders=orders,
        campaigns=campaigns,
    )


def decay(ages: list[float], h: float) -> list[float]:
    w = [0.5 ** (a / h) for a in ages]
    return [x / sum(w) for x in w]


def expected_credit(h: float) -> dict[str, list[tuple[str, float, float]]]:
    """Hand-derived (key, conversions, revenue) credit per model for the journeys above."""
    a_keys = ["paid_search", "email", "paid_social", "direct"]
    c_keys = ["community", "referral"]
    weights = {
        "first_touch": ([1, 0, 0, 0], [1, 0]),
        "last_touch": ([0, 0, 0, 1], [0, 1]),
        "linear": ([0.25] * 4, [0.5, 0.5]),
        "position_based": ([0.4, 0.1, 0.1, 0.4], [0.5, 0.5]),
        "time_decay": (decay([9, 4, 1, 0], h), decay([2, 1], h)),
    }
    out: dict[str, list[tuple[str, float, float]]] = {}
    for model, (wa, wc) in weights.items():
        rows = [(k, w, 100.0 * w) for k, w in zip(a_keys, wa, strict=True)]
        rows += [("email", 1.0, 50.0)]
        rows += [(k, w, 80.0 * w) for k, w in zip(c_keys, wc, strict=True)]
        rows += [(attr.NO_TOUCH, 1.0, 30.0)]
        out[model] = rows
    return out


def as_series(rows: list[tuple[str, float, float]], idx: int) -> pd.Series:
    s = pd.Series([r[idx] for r in rows], index=[r[0] for r in rows]).groupby(level=0).sum()
    return s[s.abs() > 1e-12].sort_index()


def check_hand(engine, h: float) -> None:  # noqa: ANN001
    got = attr.attribute(engine, PERIOD, attr.AttributionOptions(30, h))
    for model, rows in expected_credit(h).items():
        part = got[got["model"] == model].set_index("key")
        for idx, col in ((1, "conversions"), (2, "revenue")):
            series = part[col][part[col].abs() > 1e-12].sort_index()
            exp = as_series(rows, idx)
            assert list(series.index) == list(exp.index), (model, col)
            assert_allclose(series.to_numpy(), exp.to_numpy(), rtol=1e-9, err_msg=model)


@pytest.mark.parametrize("h", [7.0, 2.5])
def test_hand_journeys_duckdb(duckdb_url: str, h: float) -> None:
    check_hand(load(duckdb_url, journeys()), h)


def test_hand_journeys_sqlite(sqlite_url: str) -> None:
    check_hand(load(sqlite_url, journeys()), 7.0)


@pytest.mark.postgres
def test_hand_journeys_postgres(pg_url: str) -> None:
    engine = load(pg_url, journeys())
    check_hand(engine, 7.0)
    engine.dispose()


def test_lookback_exclusion(duckdb_url: str) -> None:
    engine = load(duckdb_url, journeys())
    # 5-day window: order 1 loses the 9-day-old paid_search touch, so email is first touch.
    got = attr.attribute(engine, PERIOD, attr.AttributionOptions(lookback_days=5))
    first = got[got["model"] == "first_touch"].set_index("key")["conversions"]
    assert first.get("paid_search", 0.0) == 0.0
    assert first["email"] == pytest.approx(2.0)
    linear = got[got["model"] == "linear"].set_index("key")["conversions"]
    assert linear["email"] == pytest.approx(1 + 1 / 3)
    # 0-day window: only touches at the order instant count (order 1's direct visit).
    got0 = attr.attribute(engine, PERIOD, attr.AttributionOptions(lookback_days=0))
    last0 = got0[got0["model"] == "last_touch"].set_index("key")["conversions"]
    assert last0.to_dict() == {"direct": 1.0, attr.NO_TOUCH: 3.0}


def test_filters_segment_and_channel_rows(duckdb_url: str) -> None:
    engine = load(duckdb_url, journeys())
    smb = Filters(PERIOD.start, PERIOD.end, segments=("smb",))
    got = attr.attribute(engine, smb)
    assert "community" not in set(got["key"])  # customer 3 is enterprise
    only_email = Filters(PERIOD.start, PERIOD.end, channels=("email",))
    lin = attr.attribute(engine, only_email)
    lin = lin[lin["model"] == "linear"].set_index("key")
    assert list(lin.index) == ["email"]
    assert lin.loc["email", "conversions"] == pytest.approx(1.25)  # credit of the full model


def test_by_campaign(duckdb_url: str) -> None:
    engine = load(duckdb_url, journeys())
    got = attr.attribute(engine, PERIOD, by="campaign")
    first = got[got["model"] == "first_touch"].set_index("key")
    assert first.loc["1", "conversions"] == pytest.approx(1.0)
    assert first.loc["1", "campaign"] == "camp 1"
    assert first.loc["2", "conversions"] == pytest.approx(1.0)
    assert first.loc[attr.NO_CAMPAIGN, "conversions"] == pytest.approx(1.0)
    assert first.loc[attr.NO_TOUCH, "conversions"] == pytest.approx(1.0)


# --- random journeys vs an independent pandas implementation ---------------------------------

CHANNELS = [c.value for c in schema.Channel]


def random_tables(seed: int, n_customers: int = 60) -> dict[str, list[dict]]:
    rng = np.random.default_rng(seed)
    events = [e.value for e in schema.EventType if e != "purchase"]
    tp, orders = [], []
    for cid in range(1, n_customers + 1):
        for _ in range(rng.integers(0, 12)):
            tp.append(
                dict(
                    touchpoint_id=len(tp) + 1,
                    customer_id=cid,
                    occurred_at=T0
                    - dt.timedelta(days=20)
                    + dt.timedelta(minutes=int(rng.integers(0, 60 * 24 * 50))),
                    channel=str(rng.choice(CHANNELS)),
                    campaign_id=None,
                    event_type=str(rng.choice(events)),
                    value=None,
                )
            )
        for _ in range(rng.integers(0, 3)):
            orders.append(
                dict(
                    order_id=len(orders) + 1,
                    customer_id=cid,
                    ordered_at=T0 + dt.timedelta(minutes=int(rng.integers(0, 60 * 24 * 31))),
                    # quarter dollars: exact in DuckDB's float32 FLOAT (schema Float)
                    revenue=float(rng.integers(20, 2000)) / 4,
                )
            )
    return dict(
        customers=[customer(c) for c in range(1, n_customers + 1)],
        touchpoints=tp,
        orders=orders,
    )


def pandas_reference(tables: dict, lookback: int, h: float) -> pd.DataFrame:
    tp = pd.DataFrame(tables["touchpoints"])
    tp = tp[tp["event_type"].isin(attr.TOUCH_EVENT_TYPES)]
    rows = []
    for o in tables["orders"]:
        if not PERIOD.start_ts <= o["ordered_at"] < PERIOD.end_ts:
            continue
        t = tp[
            (tp["customer_id"] == o["customer_id"])
            & (tp["occurred_at"] >= o["ordered_at"] - dt.timedelta(days=lookback))
            & (tp["occurred_at"] <= o["ordered_at"])
        ].sort_values(["occurred_at", "touchpoint_id"])
        n = len(t)
        if n == 0:
            for m in attr.MODELS:
                rows.append((m, attr.NO_TOUCH, 1.0, o["revenue"]))
            continue
        ages = [(o["ordered_at"] - x).total_seconds() / 86400 for x in t["occurred_at"]]
        pos = (
            [1.0] if n == 1 else [0.5, 0.5] if n == 2 else [0.4] + [0.2 / (n - 2)] * (n - 2) + [0.4]
        )
        w = {
            "first_touch": [1.0] + [0.0] * (n - 1),
            "last_touch": [0.0] * (n - 1) + [1.0],
            "linear": [1 / n] * n,
            "time_decay": decay(ages, h),
            "position_based": pos,
        }
        for m, ws in w.items():
            for ch, wi in zip(t["channel"], ws, strict=True):
                rows.append((m, ch, wi, wi * o["revenue"]))
    ref = pd.DataFrame(rows, columns=["model", "key", "conversions", "revenue"])
    return ref.groupby(["model", "key"], as_index=False).sum()


def compare_random(engine, tables: dict, lookback: int, h: float) -> None:  # noqa: ANN001
    got = attr.attribute(engine, PERIOD, attr.AttributionOptions(lookback, h))
    ref = pandas_reference(tables, lookback, h)
    merged = ref.merge(got, on=["model", "key"], how="outer", suffixes=("_ref", "")).fillna(0)
    assert_allclose(merged["conversions"], merged["conversions_ref"], rtol=1e-9, atol=1e-9)
    assert_allclose(merged["revenue"], merged["revenue_ref"], rtol=1e-9, atol=1e-6)
    # Conservation: every model attributes exactly the period's orders and revenue.
    in_period = [o for o in tables["orders"] if PERIOD.start_ts <= o["ordered_at"] < PERIOD.end_ts]
    totals = got.groupby("model")[["conversions", "revenue"]].sum()
    assert set(totals.index) == set(attr.MODELS)
    assert_allclose(totals["conversions"], len(in_period), rtol=1e-12)
    assert_allclose(totals["revenue"], sum(o["revenue"] for o in in_period), rtol=1e-9)


@pytest.mark.parametrize(("lookback", "h"), [(14, 3.0), (30, 7.0)])
def test_random_vs_pandas_duckdb(duckdb_url: str, lookback: int, h: float) -> None:
    tables = random_tables(seed=lookback)
    compare_random(load(duckdb_url, tables), tables, lookback, h)


def test_random_vs_pandas_sqlite(sqlite_url: str) -> None:
    tables = random_tables(seed=3)
    compare_random(load(sqlite_url, tables), tables, 21, 5.0)


@pytest.mark.postgres
def test_random_vs_pandas_postgres(pg_url: str) -> None:
    tables = random_tables(seed=4)
    engine = load(pg_url, tables)
    compare_random(engine, tables, 21, 5.0)
    engine.dispose()


def test_over_time_sums_to_totals(duckdb_url: str) -> None:
    tables = random_tables(seed=9)
    engine = load(duckdb_url, tables)
    total = attr.attribute(engine, PERIOD).groupby(["model", "key"])["revenue"].sum()
    weekly = attr.attribute_over_time(engine, PERIOD, grain="week")
    assert weekly["period"].dt.day_of_week.eq(0).all()  # weeks start on Monday
    by_key = weekly.groupby(["model", "key"])["revenue"].sum()
    assert_allclose(by_key.reindex(total.index).to_numpy(), total.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("by", ["channel", "campaign"])
@pytest.mark.parametrize("grain", [None, "week"])
def test_compiles_under_trino(by: str, grain: str | None) -> None:
    stmt = attr.attribution_stmt(PERIOD, attr.AttributionOptions(), by=by, grain=grain)
    sql = str(stmt.compile(dialect=TrinoDialect()))
    assert "row_number() OVER" in sql and "date_add('day', -30" in sql


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(lookback_days=-1),
        dict(lookback_days=2.5),
        dict(half_life_days=0),
        dict(touch_event_types=("x",)),
    ],
)
def test_bad_options_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=r"lookback|half-life|event type"):
        attr.AttributionOptions(**kwargs)


def test_attribution_table_side_by_side(duckdb_url: str) -> None:
    engine = load(duckdb_url, journeys())
    table = attr.attribution_table(attr.attribute(engine, PERIOD), "revenue")
    assert list(table.columns) == ["key", *attr.MODELS]
    assert_allclose(table[list(attr.MODELS)].sum().to_numpy(), 260.0)
