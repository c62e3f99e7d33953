"""The KPI catalog and compiler against an independent pandas recomputation.

The fixture warehouse (``tests/kpi_fixture.py``) is built on DuckDB, PostgreSQL and SQLite;
every KPI is recomputed from the inserted frames with plain pandas, written from each KPI's
plain-language definition (not from the catalog's measures), and compared at rtol 1e-6
(32-bit FLOAT money on DuckDB).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine
from trino.sqlalchemy.dialect import TrinoDialect

from data.schema import PAID_CHANNELS
from metrics.filters import Filters
from metrics.marketing import kpi_sql, kpis
from tests import kpi_fixture

F_DEFAULT = Filters(dt.date(2024, 3, 1), dt.date(2024, 3, 31))
F_DIMS = Filters(
    dt.date(2024, 2, 10),
    dt.date(2024, 4, 5),
    channels=("paid_search", "email", "paid_social", "direct", "referral"),
    segments=("smb", "enterprise"),
    regions=("europe", "north_america", "apac"),
)
F_EMPTY = Filters(dt.date(2030, 1, 1), dt.date(2030, 1, 31))
PAID = sorted(PAID_CHANNELS)
# The contract's money columns are ``Float``: DuckDB stores FLOAT as 32-bit (about 7 significant
# digits), so sums of money agree with pandas' float64 to ~1e-7, not 1e-9.
RTOL = 1e-6
ALL = "all"


# --- independent pandas reference -----------------------------------------------------------


def annotate(rows: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each fact table with a time column ``t`` and every dimension as a column."""
    cust = rows["customers"].rename(columns={"acquisition_channel": "acq"})
    cdims = cust[["customer_id", "acq", "segment", "region", "persona"]]
    camp = rows["campaigns"][["campaign_id", "target_stage", "is_personalised"]]
    out = {}
    c = cust.copy()
    c["t"], c["channel"] = pd.to_datetime(c.first_seen_at), c.acq
    out["customers"] = c
    for name, tcol in (("orders", "ordered_at"), ("lifecycle_changes", "changed_at")):
        d = rows[name].merge(cdims, on="customer_id", how="left")
        d["t"], d["channel"] = pd.to_datetime(d[tcol]), d.acq
        out[name] = d
    s = rows["surveys"].rename(columns={"channel": "survey_channel"})
    s = s.merge(cdims, on="customer_id", how="left")
    s["t"], s["channel"] = pd.to_datetime(s.responded_at), s.acq
    out["surveys"] = s
    tp = rows["touchpoints"].merge(cdims, on="customer_id", how="left")
    tp = tp.merge(camp, on="campaign_id", how="left")
    tp["t"], tp["campaign"] = pd.to_datetime(tp.occurred_at), tp.campaign_id
    tp["value"] = pd.to_numeric(tp["value"])
    out["touchpoints"] = tp
    sp = rows["daily_spend"].merge(camp, on="campaign_id", how="left")
    sp["t"], sp["campaign"] = pd.to_datetime(sp.spend_date), sp.campaign_id
    out["daily_spend"] = sp
    return out


def win(df: pd.DataFrame, start: dt.date | None, end: dt.date | None) -> pd.DataFrame:
    m = pd.Series(True, index=df.index)
    if start is not None:
        m &= df.t >= pd.Timestamp(start)
    if end is not None:
        m &= df.t < pd.Timestamp(end + dt.timedelta(days=1))
    return df[m]


def dims(df: pd.DataFrame, f: Filters, table: str) -> pd.DataFrame:
    m = pd.Series(True, index=df.index)
    if f.channels:
        m &= df.channel.isin(f.channels)
    if table != "daily_spend":
        if f.segments:
            m &= df.segment.isin(f.segments)
        if f.regions:
            m &= df.region.isin(f.regions)
    return df[m]


def key(df: pd.DataFrame, by: str | None) -> pd.Series:
    if by is None:
        return pd.Series(ALL, index=df.index)
    if by == "week":
        return (df.t - pd.to_timedelta(df.t.dt.day_of_week, unit="D")).dt.normalize()
    if by == "day":
        return df.t.dt.normalize()
    if by == "month":
        return df.t.dt.to_period("M").dt.start_time
    if by not in df:  # e.g. spend by segment: never compared (the KPI refuses that grain)
        return pd.Series(None, index=df.index, dtype=object)
    return df[by].astype(object).where(df[by].notna(), None)


def cnt(df: pd.DataFrame, by: str | None) -> pd.Series:
    return df.groupby(key(df, by), dropna=False).size().astype(float)


def total(df: pd.DataFrame, col: str, by: str | None) -> pd.Series:
    return df.groupby(key(df, by), dropna=False)[col].sum().astype(float)


def nuniq(df: pd.DataFrame, by: str | None) -> pd.Series:
    return df.groupby(key(df, by), dropna=False)["customer_id"].nunique().astype(float)


def ratio(a: pd.Series, b: pd.Series, by: str | None) -> pd.Series:
    idx = a.index.union(b.index) if by is not None else pd.Index([ALL])
    a, b = a.reindex(idx, fill_value=0.0), b.reindex(idx, fill_value=0.0)
    return a / b.where(b != 0)


def simple(a: pd.Series, by: str | None) -> pd.Series:
    return a if by is not None else a.reindex([ALL], fill_value=0.0)


def reference(name: str, d: dict[str, pd.DataFrame], f: Filters, by: str | None) -> pd.Series:
    """The KPI per group key (``ALL`` for the total), straight from the definitions."""

    def cur(table: str) -> pd.DataFrame:
        return dims(win(d[table], f.start, f.end), f, table)

    prev_f = f.previous_period()
    C, O, S, T, L, V = (  # noqa: E741 - one letter per table
        cur("customers"),
        cur("orders"),
        cur("daily_spend"),
        cur("touchpoints"),
        cur("lifecycle_changes"),
        cur("surveys"),
    )
    paid_spend = total(S[S.channel.isin(PAID)], "spend", by)
    paid_purchases = T[(T.event_type == "purchase") & T.channel.isin(PAID)]
    email_sends = cnt(T[(T.event_type == "impression") & (T.channel == "email")], by)
    nps = V[V.kind == "nps"]
    csat = V[V.kind == "csat"]
    if name == "new_customers":
        return simple(cnt(C, by), by)
    if name == "revenue":
        return simple(total(O, "revenue", by), by)
    if name == "paid_spend":
        return simple(paid_spend, by)
    if name == "reach":
        return simple(nuniq(T, by), by)
    if name == "cac":
        return ratio(paid_spend, cnt(C, by), by)
    if name == "conversion_rate":
        buyers = set(win(d["orders"], f.start, f.end).customer_id)
        return ratio(cnt(C[C.customer_id.isin(buyers)], by), cnt(C, by), by)
    if name == "ctr":
        return ratio(total(S, "clicks", by), total(S, "impressions", by), by)
    if name == "cpc":
        return ratio(total(S, "spend", by), total(S, "clicks", by), by)
    if name == "cpa":
        return ratio(paid_spend, cnt(paid_purchases, by), by)
    if name == "roas":
        return ratio(total(paid_purchases, "value", by), paid_spend, by)
    if name == "aov":
        return ratio(total(O, "revenue", by), cnt(O, by), by)
    if name == "repeat_purchase_rate":
        earlier = set(win(d["orders"], None, f.start - dt.timedelta(days=1)).customer_id)
        return ratio(nuniq(O[O.customer_id.isin(earlier)], by), nuniq(O, by), by)
    if name in ("retention_rate", "churn_rate"):
        prev = dims(win(d["orders"], prev_f.start, prev_f.end), f, "orders")
        active_now = set(win(d["orders"], f.start, f.end).customer_id)
        kept = prev[prev.customer_id.isin(active_now)]
        lost = prev[~prev.customer_id.isin(active_now)]
        return ratio(nuniq(kept if name == "retention_rate" else lost, by), nuniq(prev, by), by)
    if name == "clv":
        return ratio(total(O, "revenue", by), nuniq(O, by), by)
    if name == "clv_cac":
        a, b = reference("clv", d, f, by), reference("cac", d, f, by)
        idx = a.index.union(b.index)
        a, b = a.reindex(idx), b.reindex(idx)
        return a / b.where(b != 0)
    if name == "email_open_rate":
        return ratio(cnt(T[T.event_type == "email_open"], by), email_sends, by)
    if name == "email_click_rate":
        return ratio(cnt(T[T.event_type == "email_click"], by), email_sends, by)
    if name == "nps":
        promoters = cnt(nps[nps.score >= 9], by)
        detractors = cnt(nps[nps.score <= 6], by)
        idx = promoters.index.union(detractors.index)
        net = promoters.reindex(idx, fill_value=0) - detractors.reindex(idx, fill_value=0)
        return ratio(net, cnt(nps, by), by) * 100
    if name == "csat":
        return ratio(cnt(csat[csat.score >= 4], by), cnt(csat, by), by)
    if name == "referral_rate":
        return ratio(nuniq(T[T.event_type == "referral"], by), nuniq(O, by), by)
    if name == "reactivation_rate":
        pool = dims(win(d["lifecycle_changes"], None, f.end), f, "lifecycle_changes")
        pool = pool[pool.to_stage == "dormant"]
        return ratio(nuniq(L[L.from_stage == "dormant"], by), nuniq(pool, by), by)
    if name == "campaign_conversion_rate":
        tc = T[T.campaign_id.notna()]
        return ratio(nuniq(tc[tc.event_type == "purchase"], by), nuniq(tc, by), by)
    raise AssertionError(f"no reference for {name}")


def reference_bucketed(name: str, d: dict, f: Filters, grain: str) -> pd.Series:
    """Period KPIs by week/day/month: each bucket (clipped to the range) is its own period."""
    if grain == "week":
        first = f.start - dt.timedelta(days=f.start.weekday())
        starts = pd.date_range(first, f.end, freq="7D")
        ends = [s + pd.Timedelta(days=6) for s in starts]
    elif grain == "month":
        starts = pd.date_range(f.start.replace(day=1), f.end, freq="MS")
        ends = [s + pd.offsets.MonthEnd(0) for s in starts]
    else:
        starts = pd.date_range(f.start, f.end, freq="D")
        ends = list(starts)
    out = {}
    for s, e in zip(starts, ends, strict=True):
        sub = dataclasses.replace(f, start=max(s.date(), f.start), end=min(e.date(), f.end))
        out[s] = reference(name, d, sub, None)[ALL]
    return pd.Series(out, dtype=float)


def norm(k: object) -> str:
    if k is None or (isinstance(k, float) and math.isnan(k)) or k is pd.NA:
        return "NA"
    if isinstance(k, bool | np.bool_):
        return str(bool(k))
    if isinstance(k, pd.Timestamp | dt.datetime):
        return pd.Timestamp(k).date().isoformat()
    if isinstance(k, float | np.floating) and float(k).is_integer():
        return str(int(k))
    return str(k)


def expected(name: str, d: dict, f: Filters, grain: str) -> dict[str, float]:
    kpi = kpis.KPIS[name]
    if grain in kpi_sql.TIME_GRAINS and kpis.is_period_relative(kpi):
        ser = reference_bucketed(name, d, f, grain)
    else:
        ser = reference(name, d, f, None if grain == "total" else grain)
    return {norm(k): float(v) for k, v in ser.items()}


def actual(engine, name: str, f: Filters, grain: str) -> dict[str, float]:
    df = kpi_sql.fetch_kpi(engine, name, f, grain)
    if grain == "total":
        assert len(df) == 1
        return {ALL: float(df.value.iloc[0])}
    return {norm(k): float(v) for k, v in zip(df[grain], df.value, strict=True)}


def assert_matches(got: dict[str, float], want: dict[str, float], label: str) -> None:
    assert set(got) == set(want), f"{label}: keys {sorted(got)} != {sorted(want)}"
    for k, w in want.items():
        g = got[k]
        if math.isnan(w):
            assert math.isnan(g), f"{label}[{k}]: expected NULL, got {g}"
        else:
            assert g == pytest.approx(w, rel=RTOL, abs=1e-9), f"{label}[{k}]: {g} != {w}"


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rows() -> dict[str, pd.DataFrame]:
    return kpi_fixture.make_rows()


@pytest.fixture(scope="module")
def ref(rows) -> dict[str, pd.DataFrame]:
    return annotate(rows)


@pytest.fixture(scope="module")
def duck(tmp_path_factory, rows):
    url = f"duckdb:///{tmp_path_factory.mktemp('kpis') / 'w.duckdb'}"
    kpi_fixture.build(url, rows)
    engine = create_engine(url)
    yield engine
    engine.dispose()


CASES = [
    ("total", F_DEFAULT),
    ("total", F_DIMS),
    ("week", F_DIMS),
    ("month", F_DEFAULT),
    ("channel", F_DEFAULT),
    ("channel", F_DIMS),
    ("segment", F_DIMS),
    ("persona", F_DEFAULT),
    ("campaign", F_DEFAULT),
    ("is_personalised", F_DIMS),
    ("target_stage", F_DEFAULT),
]


# --- tests ----------------------------------------------------------------------------------


def test_catalog_is_valid_and_covers_the_brief():
    assert kpis.validate_catalog(kpis.KPIS) == []
    required = {
        "new_customers", "cac", "conversion_rate", "ctr", "cpc", "cpa", "roas", "revenue",
        "aov", "repeat_purchase_rate", "retention_rate", "churn_rate", "clv", "clv_cac",
        "email_open_rate", "email_click_rate", "nps", "csat", "referral_rate",
        "reactivation_rate",
    }  # fmt: skip
    assert required <= set(kpis.KPIS)


@pytest.mark.parametrize("name", sorted(kpis.KPIS))
def test_kpi_matches_pandas_on_duckdb(duck, ref, name):
    checked = 0
    for grain, f in CASES:
        if not kpi_sql.supports_grain(name, grain):
            with pytest.raises(kpi_sql.UnsupportedQuery):
                kpi_sql.kpi_query(name, f, grain)
            continue
        assert_matches(actual(duck, name, f, grain), expected(name, ref, f, grain), grain)
        checked += 1
    assert checked >= 5


def test_reference_is_not_trivially_empty(ref):
    """The fixture exercises every KPI: a finite, non-zero total in March."""
    for name in kpis.KPIS:
        value = expected(name, ref, F_DEFAULT, "total")[ALL]
        assert math.isfinite(value) and value != 0, name


@pytest.mark.postgres
def test_all_kpis_match_pandas_on_postgres(pg_module_url, rows, ref):
    kpi_fixture.build(pg_module_url, rows)
    engine = create_engine(pg_module_url)
    try:
        for name in kpis.KPIS:
            for grain, f in [("total", F_DIMS), ("week", F_DEFAULT), ("channel", F_DIMS)]:
                assert_matches(actual(engine, name, f, grain), expected(name, ref, f, grain), name)
            if kpi_sql.supports_grain(name, "is_personalised"):
                g = "is_personalised"
                want = expected(name, ref, F_DEFAULT, g)
                assert_matches(actual(engine, name, F_DEFAULT, g), want, name)
        totals = kpi_sql.fetch_kpi_totals(engine, ["cac", "nps", "revenue"], F_DIMS)
        assert totals.current.iloc[0] == pytest.approx(
            expected("cac", ref, F_DIMS, "total")[ALL], rel=1e-9
        )
    finally:
        engine.dispose()


def test_all_kpis_match_pandas_on_sqlite(tmp_path, rows, ref):
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    kpi_fixture.build(url, rows)
    engine = create_engine(url)
    for name in kpis.KPIS:
        for grain, f in [("total", F_DIMS), ("week", F_DIMS), ("channel", F_DEFAULT)]:
            assert_matches(actual(engine, name, f, grain), expected(name, ref, f, grain), name)
    engine.dispose()


def test_every_statement_compiles_under_trino():
    compiled = 0
    for name in kpis.KPIS:
        for grain in kpi_sql.GRAINS:
            if kpi_sql.supports_grain(name, grain):
                for f in (F_DEFAULT, F_DIMS):
                    sql = str(kpi_sql.kpi_query(name, f, grain).compile(dialect=TrinoDialect()))
                    assert "DECIMAL" not in sql  # true division must stay in DOUBLE
                    compiled += 1
    sql = kpi_sql.totals_query(list(kpis.KPIS), F_DIMS).compile(dialect=TrinoDialect())
    assert "UNION ALL" in str(sql)
    kpi_sql.experiment_activity_query(F_DIMS).compile(dialect=TrinoDialect())
    assert compiled > 2 * len(kpis.KPIS)


def test_totals_current_and_previous(duck, ref):
    names = ["new_customers", "cac", "churn_rate", "nps", "clv_cac"]
    df = kpi_sql.fetch_kpi_totals(duck, names, F_DIMS)
    assert list(df.kpi) == names
    prev = F_DIMS.previous_period()
    for row in df.itertuples():
        cur = expected(row.kpi, ref, F_DIMS, "total")[ALL]
        before = expected(row.kpi, ref, prev, "total")[ALL]
        assert row.current == pytest.approx(cur, rel=RTOL)
        assert row.previous == pytest.approx(before, rel=RTOL, nan_ok=True)
        want = (cur - before) / abs(before) if before else float("nan")
        assert row.change == pytest.approx(want, rel=RTOL, nan_ok=True)


def test_empty_period_gives_zero_counts_and_null_ratios(duck):
    df = kpi_sql.fetch_kpi_totals(duck, ["new_customers", "revenue", "cac", "nps"], F_EMPTY)
    values = dict(zip(df.kpi, df.current, strict=True))
    assert values["new_customers"] == 0 and values["revenue"] == 0
    assert math.isnan(values["cac"]) and math.isnan(values["nps"])
    assert kpi_sql.fetch_kpi(duck, "cac", F_EMPTY, "channel").empty


def test_experiment_activity_matches_pandas(duck, rows):
    e = rows["experiments"]
    got = kpi_sql.fetch_experiment_activity(duck, F_DEFAULT)
    end = pd.Timestamp(F_DEFAULT.end + dt.timedelta(days=1))
    start = pd.Timestamp(F_DEFAULT.start)
    ended = pd.to_datetime(e.ended_at)
    running_at_end = (e.started_at < end) & (
        (e.status == "running") | ((e.status == "concluded") & (ended >= end))
    )
    assert got["running"] == int(running_at_end.sum())
    assert got["concluded"] == int(
        ((e.status == "concluded") & (ended >= start) & (ended < end)).sum()
    )
    assert got["started"] == int(((e.started_at >= start) & (e.started_at < end)).sum())
    assert got["total"] == len(e)


def test_unsupported_grains_are_explained():
    with pytest.raises(kpi_sql.UnsupportedQuery, match="campaign"):
        kpi_sql.kpi_query("cac", F_DEFAULT, "campaign")
    with pytest.raises(kpi_sql.UnsupportedQuery, match="unknown grain"):
        kpi_sql.kpi_query("cac", F_DEFAULT, "fortnight")
    with pytest.raises(KeyError, match="unknown KPI"):
        kpi_sql.kpi_query("cacc", F_DEFAULT)
    assert kpi_sql.ignored_filters("cac", F_DIMS)  # spend has no segment/region
    assert kpi_sql.ignored_filters("revenue", F_DIMS) == []


def test_validation_reports_every_problem_at_once():
    good = kpis.KPIS["cac"]
    bad_measure = kpis.Measure("orderz", kpis.Agg.SUM, "revenue")
    broken = {
        "a": dataclasses.replace(good, name="a", numerator=bad_measure),
        "b": dataclasses.replace(
            good, name="b", numerator=kpis.Measure("orders", kpis.Agg.SUM, "revenu")
        ),
        "c": dataclasses.replace(
            good, name="c", numerator=kpis.Measure("orders", "median", "revenue")
        ),
        "d": dataclasses.replace(good, name="d", denominator=None),
        "e": dataclasses.replace(good, name="e", lifecycle_stage="nirvana", loop_stage="spin"),
        "f": dataclasses.replace(good, name="f", kind=kpis.KpiKind.DERIVED, of=("cac", "zzz")),
        "g": dataclasses.replace(
            good,
            name="g",
            numerator=kpis.Measure(
                "touchpoints", kpis.Agg.COUNT, where=(kpis.Cond("evnt", kpis.Op.EQ, "x"),)
            ),
        ),
        "h": dataclasses.replace(good, name="h", numerator=kpis.Measure("orders", "sum")),
    }
    problems = kpis.validate_catalog({**broken, "cac": good})
    text = "\n".join(problems)
    for needle in [
        "'a' numerator: unknown table 'orderz'",
        "'b' numerator: unknown column orders.revenu",
        "'c' numerator: bad aggregation 'median'",
        "'d': denominator missing for a ratio",
        "'e': unknown lifecycle stage 'nirvana'",
        "'e': unknown loop stage 'spin'",
        "'f': refers to unknown KPI 'zzz'",
        "unknown column touchpoints.evnt",
        "'h' numerator: aggregation sum needs a column",
    ]:
        assert needle in text, f"missing {needle!r} in:\n{text}"
    assert not any("'cac'" in p for p in problems)


def test_format_and_change_helpers():
    assert kpis.format_value(kpis.KPIS["conversion_rate"], 0.1234) == "12.3%"
    assert kpis.format_value(kpis.KPIS["new_customers"], 12345.0) == "12,345"
    assert kpis.format_value(kpis.KPIS["nps"], 23.6) == "+24"
    assert kpis.format_value(kpis.KPIS["cac"], None) == "–"
    assert kpis.relative_change(110.0, 100.0) == pytest.approx(0.10)
    assert kpis.relative_change(1.0, 0.0) is None
    assert kpis.is_good_change(kpis.KPIS["cac"], -0.1)
    assert not kpis.is_good_change(kpis.KPIS["revenue"], -0.1)
