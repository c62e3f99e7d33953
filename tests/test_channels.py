"""Channel/campaign performance and the dark funnel against pandas recomputations."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from trino.sqlalchemy.dialect import TrinoDialect

from metrics.marketing import attribution as attr
from metrics.marketing import channels as ch
from tests import test_attribution as ta

PERIOD = ta.PERIOD
CHANNELS = ["paid_search", "paid_social", "email", "video", "direct"]


def world(seed: int = 2) -> dict[str, list[dict]]:
    rng = np.random.default_rng(seed)
    tables = ta.random_tables(seed)
    camps = [
        dict(
            campaign_id=i,
            name=f"campaign {i}",
            channel=CHANNELS[i % len(CHANNELS)],
            target_stage="purchase",
            loop_stage="amplify",
            is_personalised=bool(i % 2),
            start_date=dt.date(2026, 1, 1),
            end_date=None,
        )
        for i in range(1, 7)
    ]
    for t in tables["touchpoints"]:
        if rng.random() < 0.6:
            c = camps[int(rng.integers(0, len(camps)))]
            t["campaign_id"], t["channel"] = c["campaign_id"], c["channel"]
    spend = [
        dict(
            spend_date=dt.date(2026, 2, 20) + dt.timedelta(days=d),
            campaign_id=c["campaign_id"],
            channel=c["channel"],
            spend=float(rng.integers(10, 400)),
            impressions=int(rng.integers(1000, 5000)),
            clicks=int(rng.integers(10, 200)),
        )
        for c in camps
        if c["channel"] != "direct"
        for d in range(45)
    ]
    sources = [*CHANNELS, "community", None]
    for c in tables["customers"]:
        c["first_seen_at"] = dt.datetime(2026, 3, 1) + dt.timedelta(hours=int(rng.integers(0, 700)))
        c["acquisition_channel"] = str(rng.choice(CHANNELS))
        pick = sources[int(rng.integers(0, len(sources)))]
        c["self_reported_source"] = c["acquisition_channel"] if rng.random() < 0.4 else pick
    tables.update(campaigns=camps, daily_spend=spend)
    return tables


@pytest.fixture(scope="module")
def data() -> dict[str, list[dict]]:
    return world()


@pytest.fixture
def duck(duckdb_url: str, data):  # noqa: ANN001, ANN201
    return ta.load(duckdb_url, data)


def reference_media(data: dict, key: str) -> pd.DataFrame:
    sp = pd.DataFrame(data["daily_spend"])
    sp = sp[(sp["spend_date"] >= PERIOD.start) & (sp["spend_date"] <= PERIOD.end)]
    sp["key"] = sp[key].astype(str)
    return sp.groupby("key")[["spend", "impressions", "clicks"]].sum()


@pytest.mark.parametrize("model", ["last_touch", "linear"])
def test_channel_table_vs_pandas(duck, data, model: str) -> None:  # noqa: ANN001
    got = ch.performance(duck, PERIOD, model=model).set_index("key")
    media = reference_media(data, "channel")
    credit = ta.pandas_reference(data, 30, 7.0)
    credit = credit[credit["model"] == model].set_index("key")[["conversions", "revenue"]]
    ref = media.join(credit, how="outer").fillna(0.0)
    assert sorted(got.index) == sorted(ref.index)
    got = got.loc[ref.index]
    for col in ("spend", "impressions", "clicks", "conversions", "revenue"):
        assert_allclose(got[col], ref[col], rtol=1e-9, err_msg=col)
    spend = ref["spend"].where(ref["spend"] > 0)
    assert_allclose(got["roas"], ref["revenue"] / spend, rtol=1e-9)
    conv = ref["conversions"].where(ref["conversions"] > 0)
    assert_allclose(got["cpa"], (ref["spend"] / conv).where(ref["spend"] > 0), rtol=1e-9)
    assert_allclose(got["ctr"], ref["clicks"] / ref["impressions"].where(ref["impressions"] > 0))
    # Organic/direct rows have no spend: their ratios are NaN, not 0 or inf.
    assert np.isnan(got.loc["direct", ["roas", "cpc", "cpa"]].astype(float)).all()


def test_campaign_table_vs_pandas(duck, data) -> None:  # noqa: ANN001
    got = ch.performance(duck, PERIOD, by="campaign").set_index("key")
    media = reference_media(data, "campaign_id")
    assert_allclose(got.loc[media.index, "spend"], media["spend"], rtol=1e-9)
    assert got.loc["1", "campaign"] == "campaign 1"
    assert got.loc["1", "channel"] == CHANNELS[1]
    n_orders = sum(PERIOD.start_ts <= o["ordered_at"] < PERIOD.end_ts for o in data["orders"])
    assert got["conversions"].sum() == pytest.approx(n_orders)


def test_channel_filter(duck, data) -> None:  # noqa: ANN001
    f = ta.Filters(PERIOD.start, PERIOD.end, channels=("email", "video"))
    got = ch.performance(duck, f).set_index("key")
    assert set(got.index) <= {"email", "video"}
    media = reference_media(data, "channel")
    assert_allclose(got.loc["video", "spend"], media.loc["video", "spend"])


def test_timeseries_sums_to_table(duck) -> None:  # noqa: ANN001
    table = ch.performance(duck, PERIOD, model="time_decay").set_index("key")
    ts = ch.timeseries(duck, PERIOD, model="time_decay", grain="week")
    sums = ts.groupby("key")[["spend", "clicks", "conversions", "revenue"]].sum()
    assert_allclose(sums.loc[table.index].to_numpy(), table[sums.columns].to_numpy(), rtol=1e-9)
    assert set(ch.METRICS) <= set(ts.columns)


def test_dark_funnel_vs_pandas_crosstab(duck, data) -> None:  # noqa: ANN001
    cust = pd.DataFrame(data["customers"])
    cust = cust[
        (cust["first_seen_at"] >= PERIOD.start_ts) & (cust["first_seen_at"] < PERIOD.end_ts)
    ]
    reported = cust["self_reported_source"].fillna(ch.NO_ANSWER)
    ref = pd.crosstab(cust["acquisition_channel"], reported)
    long = ch.dark_funnel(duck, PERIOD)
    xt = ch.crosstab(long)
    got = xt.counts.reindex(index=ref.index, columns=ref.columns)
    assert (got.to_numpy() == ref.to_numpy()).all()
    answered = ref.drop(columns=ch.NO_ANSWER)
    ref_share = answered.div(answered.sum(axis=1), axis=0)
    assert_allclose(xt.row_share.reindex_like(ref_share).to_numpy(), ref_share.to_numpy())
    # Ranked disagreements: the top pair is the largest off-diagonal row share.
    top = ch.disagreements(long, min_answers=1)
    off = ref_share.stack()
    off = off[[a != b for a, b in off.index]]
    assert top["share"].iloc[0] == pytest.approx(off.max())
    assert top["summary"].iloc[0].startswith(f"{off.max():.0%} of customers tracked as")
    agree = sum(answered.at[c, c] for c in answered.index if c in answered.columns)
    assert ch.agreement_rate(long) == pytest.approx(agree / answered.to_numpy().sum())


def test_empty_period(duck) -> None:  # noqa: ANN001
    far = ta.Filters(dt.date(2030, 1, 1), dt.date(2030, 1, 2))
    assert ch.performance(duck, far).empty
    assert ch.timeseries(duck, far).empty
    long = ch.dark_funnel(duck, far)
    assert long.empty and ch.crosstab(long).counts.empty and ch.disagreements(long).empty


def test_statements_compile_under_trino() -> None:
    for stmt in (
        ch.media_stmt(PERIOD, by="campaign", grain="week"),
        ch.dark_funnel_stmt(PERIOD),
    ):
        assert "GROUP BY" in str(stmt.compile(dialect=TrinoDialect()))


def test_bad_model_message(duck) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="unknown attribution model 'u_shape'"):
        ch.performance(duck, PERIOD, model="u_shape")
    assert "position_based" in attr.MODELS


# --- AppTest through app.py -----------------------------------------------------------------------


def app_tables() -> dict[str, list[dict]]:
    """The channel world plus lifecycle changes for the same customers."""
    from tests import test_lifecycle as tl

    tables = world()
    n = len(tables["customers"])
    tables["lifecycle_changes"] = tl.random_world(seed=7, n=n)["lifecycle_changes"]
    return tables


@pytest.fixture(scope="module")
def app_db(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("app") / "fixture.duckdb"
    ta.load(f"duckdb:///{path}", app_tables()).dispose()
    return str(path)


@pytest.fixture
def app_env(app_db: str, monkeypatch, tmp_path) -> str:  # noqa: ANN001
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{app_db}")
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    return app_db


def _run(page: str, query: dict | None = None):  # noqa: ANN202
    from tests.apptest_helpers import run_page

    at = run_page(page, query=query, timeout=90)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_channels_page_with_filters(app_env: str) -> None:
    at = _run("channels", {"start": "2026-03-01", "end": "2026-03-31", "segment": "smb"})
    assert at.session_state["looplens_filters"].segments == ("smb",)
    assert len(at.dataframe) >= 4  # channel, campaign, attribution x2 (+ dark funnel)
    assert not at.info, [i.value for i in at.info]
    # Change the model and metric (keyed widgets), rerun: still no exception.
    at.selectbox(key="ch_model").set_value("position_based").run()
    at.selectbox(key="ch_ts_metric").set_value("roas").run()
    at.number_input(key="ch_lookback").set_value(7).run()
    assert not at.exception, [e.value for e in at.exception]


def test_channels_page_empty_selection(app_env: str) -> None:
    at = _run("channels", {"start": "2024-01-01", "end": "2024-01-31"})
    assert any("No spend and no orders" in i.value for i in at.info)
    assert len(at.dataframe) == 0
