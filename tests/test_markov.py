"""Markov removal-effect attribution: hand-computed journeys, conservation, engine parity, SQL
path counts against pandas, and the chain algebra against an explicit matrix-power sum."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sqlalchemy import create_engine

from data import schema
from metrics.filters import Filters
from metrics.marketing import attribution as attr
from metrics.marketing import markov as mk
from tests.test_attribution import customer, load

PERIOD = Filters(start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31))
A, E, S = "paid_search", "email", "paid_social"


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 3, 1, hour) + dt.timedelta(days=day - 1)


class World:
    def __init__(self) -> None:
        self.tp: list[dict] = []
        self.orders: list[dict] = []
        self.customers: list[dict] = []

    def cust(self, cid: int, **kw: str) -> None:
        self.customers.append(customer(cid, **kw))

    def touch(self, cid: int, when: dt.datetime, channel: str, event: str = "click") -> None:
        self.tp.append(
            dict(
                touchpoint_id=len(self.tp) + 1,
                customer_id=cid,
                occurred_at=when,
                channel=channel,
                campaign_id=None,
                event_type=event,
                value=None,
            )
        )

    def order(self, cid: int, when: dt.datetime, revenue: float) -> None:
        self.orders.append(
            dict(order_id=len(self.orders) + 1, customer_id=cid, ordered_at=when, revenue=revenue)
        )

    def tables(self) -> dict[str, list[dict]]:
        return dict(customers=self.customers, touchpoints=self.tp, orders=self.orders)


def classic() -> World:
    """The classic three-path example (A→E→S→conv, A→null, E→S→null) plus extras that must
    not change it: a repeated touch, an impression, a touch outside the period, an untouched
    order ($40) and an order outside the period."""
    w = World()
    for cid in range(1, 7):
        w.cust(cid)
    w.touch(1, at(1), A)
    w.touch(1, at(3), E, "email_open")
    w.touch(1, at(4), E, "email_click")  # repeat: collapsed
    w.touch(1, at(4, 18), "video", "impression")  # not a touch type
    w.touch(1, at(5), S)
    w.order(1, at(6), 100.0)
    w.touch(2, at(2), A)
    w.touch(2, at(-20), S)  # February: outside the period, not in the non-converting journey
    w.touch(3, at(3), E, "email_click")
    w.touch(3, at(4), S, "visit")
    w.order(4, at(10), 40.0)  # no touch at all
    w.order(5, at(40), 999.0)  # April: outside
    w.touch(5, at(39), A)
    w.touch(6, at(9), "video", "impression")  # impressions only: no journey
    return w


def hand_classic() -> dict[str, float]:
    """Removal effects of the classic example from the closed form (probabilities by hand)."""
    p_start_a, p_start_e = 2 / 3, 1 / 3
    p_a_e, p_e_s, p_s_conv = 1 / 2, 1.0, 1 / 2
    p = p_start_a * p_a_e * p_e_s * p_s_conv + p_start_e * p_e_s * p_s_conv
    without = {
        A: p_start_e * p_e_s * p_s_conv,  # the path through A is cut
        E: 0.0,  # every converting route passes E
        S: 0.0,
    }
    return {c: 1 - v / p for c, v in without.items()}


def check_classic(engine) -> None:  # noqa: ANN001
    counts = mk.path_counts(engine, PERIOD)
    got_paths = {
        row.path: (row.conversions, row.revenue, row.non_conversions)
        for row in counts.paths.itertuples()
    }
    assert got_paths == {
        (A, E, S): (1.0, 100.0, 0.0),
        (A,): (0.0, 0.0, 1.0),
        (E, S): (0.0, 0.0, 1.0),
    }
    assert counts.no_touch_orders == 1.0
    assert counts.no_touch_revenue == pytest.approx(40.0)
    res = mk.attribute_paths(counts)
    assert res.conversion_probability == pytest.approx(1 / 3, abs=1e-12)
    effects = res.credits.set_index("key")["removal_effect"].drop(attr.NO_TOUCH)
    hand = hand_classic()
    for c, v in hand.items():
        assert abs(effects[c] - v) < 1e-12, c
    total = sum(hand.values())
    credits = res.credits.set_index("key")
    for c, v in hand.items():
        assert abs(credits.loc[c, "conversions"] - v / total) < 1e-12
        assert abs(credits.loc[c, "revenue"] - 100.0 * v / total) < 1e-9
    assert credits.loc[attr.NO_TOUCH, "conversions"] == 1.0
    # conservation: the same orders and revenue as every rule-based model
    rule = attr.attribute(engine, PERIOD)
    last = rule[rule["model"] == "last_touch"]
    assert credits["conversions"].sum() == pytest.approx(last["conversions"].sum(), abs=1e-12)
    assert credits["revenue"].sum() == pytest.approx(last["revenue"].sum(), abs=1e-9)
    assert credits["conversions"].sum() == pytest.approx(2.0)


def test_classic_duckdb(duckdb_url: str) -> None:
    check_classic(load(duckdb_url, classic().tables()))


def test_classic_sqlite(sqlite_url: str) -> None:
    check_classic(load(sqlite_url, classic().tables()))


@pytest.mark.postgres
def test_classic_postgres(pg_url: str) -> None:
    engine = load(pg_url, classic().tables())
    check_classic(engine)
    engine.dispose()


def test_truncation_to_last_k_and_lookback(duckdb_url: str) -> None:
    w = World()
    w.cust(1)
    w.cust(2)
    chans = ["direct", A, E, S, "video", "referral"]
    for i, ch in enumerate(chans):
        w.touch(1, at(2 + i), ch)
    w.order(1, at(9), 10.0)
    w.touch(2, at(1), "video")  # more than 5 days before customer 2's last touch: dropped
    w.touch(2, at(10), E)
    w.touch(2, at(12), A)
    engine = load(duckdb_url, w.tables())
    opts = attr.AttributionOptions(lookback_days=5)
    got = mk.path_counts(engine, PERIOD, opts, k=4).paths.set_index("path")
    assert set(got.index) == {(E, S, "video", "referral"), (E, A)}
    # order 1 window is 5 days: at(4)..at(9) -> E, S, video, referral
    assert got.loc[[(E, S, "video", "referral")], "conversions"].iloc[0] == 1.0
    got2 = mk.path_counts(engine, PERIOD, attr.AttributionOptions(30), k=2).paths
    assert set(got2["path"]) == {("video", "referral"), (E, A)}
    with pytest.raises(ValueError):
        mk.path_counts_stmt(PERIOD, k=0)


def test_segment_filter(duckdb_url: str) -> None:
    w = classic()
    w.customers[2] = customer(3, segment="enterprise")
    engine = load(duckdb_url, w.tables())
    smb = Filters(PERIOD.start, PERIOD.end, segments=("smb",))
    paths = set(mk.path_counts(engine, smb).paths["path"])
    assert paths == {(A, E, S), (A,)}


# --- the chain algebra against an independent method ------------------------------------------


def power_sum_probability(paths: list[tuple[tuple[str, ...], int, int]], removed=None) -> float:  # noqa: ANN001
    """P(conversion) by summing explicit matrix powers: Σ_n e_START Qⁿ r (no linear solve)."""
    counts: dict[str, dict[str, float]] = {}
    for path, conv, non in paths:
        seq = ["START", *path]
        for a, b in zip(seq, seq[1:], strict=False):
            counts.setdefault(a, {}).setdefault(b, 0.0)
            counts[a][b] += conv + non
        counts.setdefault(path[-1], {})
        counts[path[-1]]["CONV"] = counts[path[-1]].get("CONV", 0.0) + conv
        counts[path[-1]]["NULL"] = counts[path[-1]].get("NULL", 0.0) + non
    states = sorted(counts)
    idx = {s: i for i, s in enumerate(states)}
    q = np.zeros((len(states), len(states)))
    r = np.zeros(len(states))
    for a, row in counts.items():
        tot = sum(row.values())
        for b, c in row.items():
            if b == "CONV":
                r[idx[a]] = c / tot
            elif b != "NULL" and b != removed:
                q[idx[a], idx[b]] = c / tot
    v = np.zeros(len(states))
    v[idx["START"]] = 1.0
    total = 0.0
    for _ in range(20_000):
        total += v @ r
        v = v @ q
        if v.sum() < 1e-16:
            break
    return total


def random_paths(seed: int) -> list[tuple[tuple[str, ...], int, int]]:
    rng = np.random.default_rng(seed)
    chans = ["a", "b", "c", "d"]
    out = []
    for _ in range(25):
        n = int(rng.integers(1, 5))
        path: list[str] = []
        while len(path) < n:
            c = chans[int(rng.integers(0, 4))]
            if not path or path[-1] != c:
                path.append(c)
        out.append((tuple(path), int(rng.integers(0, 4)), int(rng.integers(0, 6))))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_removal_effects_match_matrix_powers(seed: int) -> None:
    raw = random_paths(seed)
    frame = pd.DataFrame(
        {
            "path": [p for p, _, _ in raw],
            "conversions": [float(c) for _, c, _ in raw],
            "revenue": [10.0 * c for _, c, _ in raw],
            "non_conversions": [float(n) for _, _, n in raw],
        }
    )
    res = mk.attribute_paths(mk.PathCounts(frame))
    p = power_sum_probability(raw)
    assert abs(res.conversion_probability - p) < 1e-12
    effects = res.credits.set_index("key")["removal_effect"]
    for c in ["a", "b", "c", "d"]:
        if c in effects:
            assert abs(effects[c] - (1 - power_sum_probability(raw, c) / p)) < 1e-10, c
    assert res.credits["conversions"].sum() == pytest.approx(frame["conversions"].sum())
    assert res.credits["revenue"].sum() == pytest.approx(frame["revenue"].sum())


# --- edge cases --------------------------------------------------------------------------------


def frame_of(rows: list[tuple[tuple[str, ...], float, float, float]]) -> mk.PathCounts:
    return mk.PathCounts(
        pd.DataFrame(rows, columns=["path", "conversions", "revenue", "non_conversions"])
    )


def test_no_paths() -> None:
    res = mk.attribute_paths(mk.PathCounts(frame_of([]).paths, 3.0, 90.0))
    assert res.conversion_probability == 0.0
    assert res.credits.set_index("key")["conversions"].to_dict() == {attr.NO_TOUCH: 3.0}
    assert mk.attribute_paths(frame_of([])).credits.empty


def test_no_paths_in_warehouse(duckdb_url: str) -> None:
    engine = load(duckdb_url, World().tables())
    counts = mk.path_counts(engine, PERIOD)
    assert counts.paths.empty and counts.no_touch_orders == 0.0
    assert mk.attribute_paths(counts).credits.empty


def test_single_channel_gets_everything() -> None:
    res = mk.attribute_paths(frame_of([(("email",), 3, 120.0, 5), (("email",), 0, 0.0, 0)]))
    credits = res.credits.set_index("key")
    assert credits.loc["email", "share"] == 1.0
    assert credits.loc["email", "conversions"] == 3.0
    assert credits.loc["email", "revenue"] == 120.0


def test_zero_and_all_zero_effects() -> None:
    # "video" only ever leads nowhere: removal effect 0, credit 0
    res = mk.attribute_paths(frame_of([(("email",), 2, 50.0, 1), (("video",), 0, 0.0, 4)]))
    credits = res.credits.set_index("key")
    assert credits.loc["video", "removal_effect"] == 0.0
    assert credits.loc["video", "conversions"] == 0.0
    assert credits.loc["email", "conversions"] == 2.0
    # no conversion at all: every effect 0, nothing credited
    none = mk.attribute_paths(frame_of([(("email", "video"), 0, 0.0, 3)])).credits
    assert (none["removal_effect"] == 0.0).all() and none["conversions"].sum() == 0.0


def test_with_markov_column() -> None:
    res = mk.attribute_paths(mk.PathCounts(frame_of([(("email",), 2, 50.0, 1)]).paths, 1, 10.0))
    table = pd.DataFrame({"key": ["email", attr.NO_TOUCH], **{m: [2.0, 1.0] for m in attr.MODELS}})
    out = mk.with_markov(table, res, "conversions", PERIOD).set_index("key")
    assert out.loc["email", mk.MODEL] == 2.0 and out.loc[attr.NO_TOUCH, mk.MODEL] == 1.0
    only = Filters(PERIOD.start, PERIOD.end, channels=("email",))
    out2 = mk.with_markov(table[table["key"] == "email"], res, "revenue", only)
    assert list(out2["key"]) == ["email"] and out2[mk.MODEL].iloc[0] == 50.0


# --- SQL path counts against a pandas recomputation on a small demo ------------------------------


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory) -> str:
    from data.demo import generator as demo

    path = tmp_path_factory.mktemp("markov") / "demo.duckdb"
    demo.generate(str(path), customers=1_500, seed=5)
    return f"duckdb:///{path}"


def pandas_paths(engine, f: Filters, lookback: int, k: int) -> pd.DataFrame:  # noqa: ANN001
    with engine.connect() as conn:
        tp = pd.read_sql(schema.touchpoints.select(), conn)
        od = pd.read_sql(schema.orders.select(), conn)
    tp = tp[tp["event_type"].isin(attr.TOUCH_EVENT_TYPES)]
    tp = tp.sort_values(["occurred_at", "touchpoint_id"])
    od = od[(od["ordered_at"] >= f.start_ts) & (od["ordered_at"] < f.end_ts)]
    rows: list[tuple[tuple[str, ...], int, float, int]] = []

    def path_of(touches: pd.DataFrame) -> tuple[str, ...]:
        seq: list[str] = []
        for ch in touches["channel"]:
            if not seq or seq[-1] != ch:
                seq.append(ch)
        return tuple(seq[-k:])

    by_cust = dict(tuple(tp.groupby("customer_id")))
    for o in od.itertuples():
        t = by_cust.get(o.customer_id)
        if t is None:
            continue
        lo = o.ordered_at - pd.Timedelta(days=lookback)
        t = t[(t["occurred_at"] >= lo) & (t["occurred_at"] <= o.ordered_at)]
        if len(t):
            rows.append((path_of(t), 1, float(o.revenue), 0))
    buyers = set(od["customer_id"])
    in_period = tp[(tp["occurred_at"] >= f.start_ts) & (tp["occurred_at"] < f.end_ts)]
    for cid, t in in_period.groupby("customer_id"):
        if cid in buyers:
            continue
        t = t[t["occurred_at"] >= t["occurred_at"].max() - pd.Timedelta(days=lookback)]
        rows.append((path_of(t), 0, 0.0, 1))
    frame = pd.DataFrame(rows, columns=["path", "conversions", "revenue", "non_conversions"])
    return (
        frame.groupby("path", as_index=False)[["conversions", "revenue", "non_conversions"]]
        .sum()
        .sort_values("path")
        .reset_index(drop=True)
    )


@pytest.mark.parametrize(("lookback", "k"), [(30, 4), (7, 2)])
def test_sql_paths_equal_pandas(small_demo: str, lookback: int, k: int) -> None:
    engine = create_engine(small_demo)
    with engine.connect() as conn:
        last = pd.read_sql("select max(ordered_at) as m from orders", conn)["m"].iloc[0]
    end = pd.Timestamp(last).date()
    f = Filters(start=end - dt.timedelta(days=60), end=end)
    got = mk.path_counts(engine, f, attr.AttributionOptions(lookback), k=k)
    exp = pandas_paths(engine, f, lookback, k)
    assert len(exp) > 5
    assert list(got.paths["path"]) == list(exp["path"])
    for col in ("conversions", "revenue", "non_conversions"):
        assert_allclose(got.paths[col].to_numpy(float), exp[col].to_numpy(float), rtol=1e-9)
    engine.dispose()


def test_channels_page_shows_markov(small_demo: str, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    from tests.apptest_helpers import run_page

    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", small_demo)
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    at = run_page("channels", query={"ch_tab": "Attribution"}, timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    tables = [d.value for d in at.dataframe if "markov" in getattr(d.value, "columns", [])]
    assert len(tables) == 2  # orders and revenue, Markov beside the five rule-based models
    for t in tables:
        assert set(attr.MODELS) <= set(t.columns)
        assert t["markov"].sum() == pytest.approx(t["last_touch"].sum(), rel=1e-9)
    assert any("observational" in c.value for c in at.caption)
