"""Tailor persona × stage grid: the SQL on a real demo warehouse (DuckDB, SQLite, PostgreSQL)
against an independent pandas computation on the same warehouse's raw rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from sqlalchemy import create_engine, text

from data.demo import generator as demo
from metrics.filters import Filters
from metrics.small_samples import MIN_UNITS
from metrics.tailor import grid

END = dt.date(2026, 6, 30)
FILTERS = Filters(start=dt.date(2026, 4, 1), end=END)
NARROW = Filters(start=dt.date(2026, 5, 1), end=END, segments=("smb",), channels=("email",))


@pytest.fixture(
    scope="module",
    params=["duckdb", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def engine(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"tailor_{request.param}")
    if request.param == "duckdb":
        url = f"duckdb:///{folder / 'w.duckdb'}"
    elif request.param == "sqlite":
        url = f"sqlite:///{folder / 'w.sqlite'}"
    else:
        url = request.getfixturevalue("pg_module_url")
    demo.generate(url, customers=1_000, seed=5, end_date=END, manifest=folder / "m.json")
    eng = create_engine(url)
    yield eng
    eng.dispose()


def _table(engine, name: str) -> pd.DataFrame:
    with engine.connect() as conn:
        df = pd.read_sql(text(f"SELECT * FROM {name}"), conn)  # noqa: S608 - fixed names
    for col in df.columns:
        if col.endswith("_at"):
            df[col] = pd.to_datetime(df[col].astype(str).str.slice(0, 19))
    return df


def _reference(engine, f: Filters) -> pd.DataFrame:
    cust = _table(engine, "customers")
    if f.segments:
        cust = cust[cust.segment.isin(f.segments)]
    if f.channels:
        cust = cust[cust.acquisition_channel.isin(f.channels)]
    lc = _table(engine, "lifecycle_changes")
    lo, hi = pd.Timestamp(f.start), pd.Timestamp(f.end) + pd.Timedelta(days=1)
    lc = lc[lc.customer_id.isin(cust.customer_id)]
    before = lc[lc.changed_at < hi].sort_values(
        ["customer_id", "changed_at", "to_stage"], ascending=[True, False, False]
    )
    cur = before.groupby("customer_id").head(1)[["customer_id", "to_stage"]]
    cur = cur.merge(cust[["customer_id", "persona"]], on="customer_id")
    o = _table(engine, "orders")
    o = o[(o.ordered_at >= lo) & (o.ordered_at < hi)]
    rev = o.groupby("customer_id").revenue.sum()
    s = _table(engine, "surveys")
    s = s[(s.kind == "nps") & (s.responded_at >= lo) & (s.responded_at < hi)]
    cur = cur.assign(
        revenue=cur.customer_id.map(rev).fillna(0.0),
        buyer=cur.customer_id.isin(rev.index),
        answers=cur.customer_id.map(s.groupby("customer_id").size()).fillna(0),
        prom=cur.customer_id.map(s[s.score >= 9].groupby("customer_id").size()).fillna(0),
        det=cur.customer_id.map(s[s.score <= 6].groupby("customer_id").size()).fillna(0),
    )
    out = cur.groupby(["persona", "to_stage"]).agg(
        customers=("customer_id", "size"),
        revenue=("revenue", "sum"),
        buyers=("buyer", "sum"),
        answers=("answers", "sum"),
        prom=("prom", "sum"),
        det=("det", "sum"),
    )
    # conversion: entries in the period, next stage reached after the first entry, by the end
    inside = lc[(lc.changed_at >= lo) & (lc.changed_at < hi)]
    entries = (
        inside[inside.to_stage.isin(list(grid.NEXT_STAGE))]
        .groupby(["customer_id", "to_stage"])
        .changed_at.min()
        .reset_index()
    )
    entries["next"] = entries.to_stage.map(grid.NEXT_STAGE)
    later = lc[lc.changed_at < hi][["customer_id", "to_stage", "changed_at"]]
    pairs = entries.merge(
        later, left_on=["customer_id", "next"], right_on=["customer_id", "to_stage"],
        suffixes=("", "_later"),
    )  # fmt: skip
    pairs = pairs[pairs.changed_at_later > pairs.changed_at]
    entries["converted"] = entries.set_index(["customer_id", "to_stage"]).index.isin(
        pairs.set_index(["customer_id", "to_stage"]).index
    )
    entries = entries.merge(cust[["customer_id", "persona"]], on="customer_id")
    conv = entries.groupby(["persona", "to_stage"]).agg(
        entered=("customer_id", "size"), converted=("converted", "sum")
    )
    out = out.join(conv, how="left").fillna({"entered": 0, "converted": 0})
    return out.reset_index().rename(columns={"to_stage": "stage"})


@pytest.mark.parametrize("f", [FILTERS, NARROW], ids=["all", "smb_email"])
def test_grid_matches_pandas(engine, f) -> None:
    got = grid.persona_stage_grid(engine, f).set_index(["persona", "stage"]).sort_index()
    ref = _reference(engine, f).set_index(["persona", "stage"]).sort_index()
    assert list(got.index) == list(ref.index)
    assert len(got) >= 5
    assert_allclose(got.customers, ref.customers)
    assert_allclose(got.revenue, ref.revenue, rtol=1e-9)
    assert_allclose(got.buyers, ref.buyers)
    assert_allclose(got.nps_answers, ref.answers)
    nps = 100 * (ref.prom - ref.det) / ref.answers.where(ref.answers > 0)
    assert_allclose(got.nps.to_numpy(float), nps.to_numpy(float), equal_nan=True)
    assert_allclose(got.entered, ref.entered)
    assert_allclose(got.converted, ref.converted)
    has_next = ref.index.get_level_values("stage").isin(list(grid.NEXT_STAGE))
    conv = (ref.converted / ref.entered.where(ref.entered > 0)).where(has_next)
    assert_allclose(got.conversion.to_numpy(float), conv.to_numpy(float), equal_nan=True)
    assert (got.customers_small == (ref.customers < MIN_UNITS)).all()
    small_nps = (ref.answers > 0) & (ref.answers < MIN_UNITS)
    assert (got.nps_small == small_nps).all()


def test_cell_customers_are_the_cell(engine) -> None:
    cells = grid.persona_stage_grid(engine, FILTERS)
    big = cells.sort_values("customers").iloc[-1]
    people = grid.cell_customers(engine, FILTERS, big.persona, big.stage)
    assert len(people) == big.customers
    assert people.customer_id.is_unique
    assert_allclose(people.revenue.sum(), big.revenue, rtol=1e-9)
    assert (np.diff(people.revenue.to_numpy()) <= 1e-9).all()  # highest revenue first
    limited = grid.cell_customers(engine, FILTERS, big.persona, big.stage, limit=7)
    assert list(limited.customer_id) == list(people.customer_id[:7])


def test_unknown_stage_is_a_clear_error(engine) -> None:
    with pytest.raises(ValueError, match="unknown stage"):
        grid.cell_customers(engine, FILTERS, "founder", "nonsense")
