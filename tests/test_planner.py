"""Planner: helpers vs statsmodels power and closed forms; warehouse baselines vs pandas on a
generated demo DuckDB; the page through app.py (typed and invalid inputs)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats
from sqlalchemy import create_engine
from sqlalchemy.dialects import postgresql, sqlite
from statsmodels.stats import power as sm_power
from trino.sqlalchemy.dialect import TrinoDialect

from data.demo import generator as demo
from data.warehouse import open_engine
from metrics.experiments import planner
from metrics.filters import Filters
from tests import apptest_helpers

END = dt.date(2026, 6, 30)


# --- pure helpers vs independent references ---------------------------------------------------


def _closed_form_power(p: float, mde: float, n_c: float, n_t: float, alpha: float, alt: str):
    """Power of the engine's test for rates: the log ratio L = log(p_t/p) with the Katz
    se_L² = (1 − p_t)/(n_t p_t) + (1 − p)/(n_c p), unpooled; both tails for two-sided
    (scipy only; issue 10 moved the decision to the log ratio)."""
    p_t = p * (1 + mde)
    se = math.sqrt((1 - p_t) / (n_t * p_t) + (1 - p) / (n_c * p))
    d = math.log1p(mde)
    if alt == "two-sided":
        z = stats.norm.isf(alpha / 2)
        return stats.norm.cdf(d / se - z) + stats.norm.cdf(-d / se - z)
    return stats.norm.cdf(d / se - stats.norm.isf(alpha))


def _sm_args(n_c, n_t, mde: float) -> dict:
    """statsmodels ``NormalIndPower`` (nobs1, ratio) for the engine's log-ratio test on means.

    Its variance at the planned effect, (σ/m)²[1/n_c + 1/((1 + m)²·n_t)], equals
    NormalIndPower's 1/n1 + 1/(ratio·n1) (effect log(1 + m)·m/σ) for n1 = n_c,
    ratio = (1 + m)²·n_t/n_c.
    """
    return {"nobs1": n_c, "ratio": (1 + mde) ** 2 * n_t / n_c}


MEAN_CASES = [
    # (n_variants, control_share, alternative)
    (2, 0.5, "two-sided"),
    (2, 0.3, "larger"),
    (3, 0.5, "two-sided"),
    (4, 0.25, "larger"),
]


@pytest.mark.parametrize(("n_variants", "control_share", "alt"), MEAN_CASES)
def test_mean_power_curve_matches_statsmodels(n_variants, control_share, alt) -> None:
    inputs = planner.PlanInputs(
        baseline=50.0,
        mde=0.04,
        kind="mean",
        baseline_sd=80.0,
        daily_units=900.0,
        n_variants=n_variants,
        control_share=control_share,
        alpha=0.05,
        power=0.8,
        alternative=alt,
    )
    days = np.array([3, 10, 30, 75])
    curve = planner.power_curve(inputs, days)
    treat_share = (1 - control_share) / (n_variants - 1)
    n_c = 900.0 * days * control_share
    expected = sm_power.NormalIndPower().power(
        effect_size=math.log(1.04) * 50.0 / 80.0,
        alpha=0.05 / (n_variants - 1),
        alternative=alt,
        nobs1=n_c,  # = _sm_args(n_c, n_t, 0.04), the ratio as a scalar
        ratio=treat_share / control_share * 1.04**2,
    )
    assert_allclose(curve["power"], expected, rtol=1e-9)


@pytest.mark.parametrize(("n_variants", "control_share", "alt"), MEAN_CASES)
def test_mean_mde_curve_matches_statsmodels(n_variants, control_share, alt) -> None:
    inputs = planner.PlanInputs(
        baseline=20.0,
        mde=0.05,
        kind="mean",
        baseline_sd=35.0,
        daily_units=400.0,
        n_variants=n_variants,
        control_share=control_share,
        power=0.9,
        alternative=alt,
    )
    days = np.array([5, 14, 60])
    curve = planner.mde_curve(inputs, days)
    treat_share = (1 - control_share) / (n_variants - 1)
    solver = sm_power.NormalIndPower()
    n_c, n_t = 400.0 * days * control_share, 400.0 * days * treat_share

    def sm(d_c: float, d_t: float, m: float) -> float:
        args = _sm_args(d_c, d_t, m)
        return solver.power(
            effect_size=math.log1p(m) * 20.0 / 35.0,
            alpha=0.05 / (n_variants - 1),
            alternative=alt,
            **args,
        )

    for c, t, mde in zip(n_c, n_t, curve["mde"], strict=True):
        # statsmodels' power function at our MDE is the target power (exactly) ...
        assert_allclose(sm(c, t, mde), 0.9, atol=1e-9)
        # ... and a slightly smaller effect falls short: it is the smallest one.
        assert sm(c, t, mde * (1 - 1e-4)) < 0.9


@pytest.mark.parametrize("alt", ["two-sided", "larger"])
@pytest.mark.parametrize("baseline", [0.02, 0.15, 0.6])
def test_binomial_curves_match_the_closed_form(alt: str, baseline: float) -> None:
    inputs = planner.PlanInputs(baseline, 0.1, daily_units=2000.0, alternative=alt, power=0.8)
    days = np.array([2, 7, 21, 60])
    n = 2000.0 * days * 0.5
    power_curve = planner.power_curve(inputs, days)
    expected = [_closed_form_power(baseline, 0.1, x, x, 0.05, alt) for x in n]
    assert_allclose(power_curve["power"], expected, rtol=1e-9)
    mde_curve = planner.mde_curve(inputs, days)
    for x, mde in zip(n, mde_curve["mde"], strict=True):
        if math.isnan(mde):  # only when no rate below 100 % reaches the power
            assert _closed_form_power(baseline, 1 / baseline - 1 - 1e-9, x, x, 0.05, alt) < 0.8
            continue
        assert mde > 0
        assert_allclose(_closed_form_power(baseline, mde, x, x, 0.05, alt), 0.8, atol=1e-7)


def test_plan_matches_statsmodels_sample_size_for_means() -> None:
    inputs = planner.PlanInputs(50.0, 0.05, kind="mean", baseline_sd=90.0, daily_units=750.0)
    result = planner.plan(inputs)
    # Equal arms: ratio = (1 + m)², n_c = n1 (see ``_sm_args``).
    n = sm_power.NormalIndPower().solve_power(
        effect_size=math.log(1.05) * 50.0 / 90.0, alpha=0.05, power=0.8, ratio=1.05**2
    )
    assert result.error_message is None
    assert result.units_per_variant == (math.ceil(n), math.ceil(n))
    assert result.total_units == 2 * math.ceil(n)
    assert result.days == math.ceil(result.total_units / 750.0)


def test_plan_matches_the_textbook_formula_for_rates() -> None:
    p, mde = 0.05, 0.1
    p_t = p * (1 + mde)
    z = stats.norm.isf(0.025) + stats.norm.isf(0.2)
    # the textbook (Katz log-ratio) formula: n = z²·((1 − p)/p + (1 − p_t)/p_t) / log(1 + m)²
    textbook = z**2 * ((1 - p) / p + (1 - p_t) / p_t) / math.log1p(mde) ** 2
    result = planner.plan(planner.PlanInputs(p, mde, daily_units=1000.0))
    assert_allclose(result.units_per_variant[0], textbook, rtol=2e-4)
    # The planned point on the trade-off curves: power reaches the target at the planned days.
    inputs = planner.PlanInputs(p, mde, daily_units=1000.0)
    at_plan = planner.power_curve(inputs, np.array([result.days]))["power"].iloc[0]
    before = planner.power_curve(inputs, np.array([result.days - 1]))["power"].iloc[0]
    assert before < 0.8 <= at_plan


def test_unequal_split_and_three_variants_use_bonferroni() -> None:
    inputs = planner.PlanInputs(0.1, 0.1, n_variants=3, control_share=0.4, daily_units=500.0)
    result = planner.plan(inputs)
    assert result.alpha_per_comparison == pytest.approx(0.025)
    c, t1, t2 = result.units_per_variant
    assert t1 == t2 and c > t1
    assert c / (c + t1 + t2) == pytest.approx(0.4, abs=1e-3)
    # each treatment-vs-control comparison reaches at least the target power
    got = _closed_form_power(0.1, 0.1, c, t1, 0.025, "two-sided")
    assert 0.8 <= got < 0.8005


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"baseline": 0.0}, "baseline rate is 0%"),
        ({"mde": 0.0}, "greater than 0%"),
        ({"mde": -0.05}, "greater than 0%"),
        ({"daily_units": 0.0}, "Daily traffic is 0"),
        ({"baseline": 0.5, "mde": 1.5}, "would exceed 100%"),
        ({"kind": "mean", "baseline": 10.0, "baseline_sd": 0.0}, "standard deviation"),
        ({"power": 1.0}, "Power"),
        ({"control_share": 1.0}, "control's share"),
    ],
)
def test_invalid_inputs_get_a_specific_message(changes: dict, needle: str) -> None:
    base = dict(baseline=0.05, mde=0.1, daily_units=100.0)
    inputs = planner.PlanInputs(**{**base, **changes})
    issues = planner.validate(inputs)
    assert any(needle in i for i in issues), issues
    assert planner.plan(inputs).error_message in issues


def test_all_problems_are_listed_at_once() -> None:
    issues = planner.validate(planner.PlanInputs(0.0, -1.0, daily_units=0.0))
    assert len(issues) == 3


def test_day_grid_covers_the_plan() -> None:
    for days in (None, 1, 20, 400):
        grid = planner.day_grid(days)
        assert grid[0] == 1 and np.all(np.diff(grid) > 0)
        assert grid[-1] >= min(max(days or 0, 28), 3650)


# --- warehouse baselines vs pandas --------------------------------------------------------------


@pytest.fixture(scope="module")
def warehouse_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("planner") / "demo.duckdb"
    demo.generate(path, customers=1000, seed=11, end_date=END)
    return path


@pytest.fixture(scope="module")
def raw(warehouse_path: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        return {t: con.sql(f"select * from {t}").df() for t in ("customers", "orders")}
    finally:
        con.close()


FILTER_CASES = [
    Filters(END - dt.timedelta(days=89), END),
    Filters(END - dt.timedelta(days=179), END, segments=("smb",)),
    Filters(END - dt.timedelta(days=119), END - dt.timedelta(days=30), channels=("email",)),
]


def _new_customers(raw: dict[str, pd.DataFrame], f: Filters) -> pd.DataFrame:
    c = raw["customers"]
    keep = (c.first_seen_at >= pd.Timestamp(f.start_ts)) & (
        c.first_seen_at < pd.Timestamp(f.end_ts)
    )
    if f.channels:
        keep &= c.acquisition_channel.isin(f.channels)
    if f.segments:
        keep &= c.segment.isin(f.segments)
    if f.regions:
        keep &= c.region.isin(f.regions)
    return c[keep]


def _revenue_in_period(raw: dict[str, pd.DataFrame], f: Filters) -> pd.Series:
    o = raw["orders"]
    o = o[(o.ordered_at >= pd.Timestamp(f.start_ts)) & (o.ordered_at < pd.Timestamp(f.end_ts))]
    return o.groupby("customer_id")["revenue"].sum()


@pytest.fixture(
    scope="module",
    params=["duckdb", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def baseline_engine(request, warehouse_path: Path, tmp_path_factory):
    """The same demo data (same seed, size, end date) on each backend."""
    if request.param == "duckdb":
        url = f"duckdb:///{warehouse_path}"
    else:
        folder = tmp_path_factory.mktemp(f"planner_{request.param}")
        if request.param == "sqlite":
            url = f"sqlite:///{folder / 'demo.sqlite'}"
        else:
            url = request.getfixturevalue("pg_module_url")
        demo.generate(url, customers=1000, seed=11, end_date=END, manifest=folder / "m.json")
    engine = create_engine(url)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("f", FILTER_CASES, ids=["90d", "smb", "email"])
def test_baselines_match_pandas(baseline_engine, raw, f: Filters) -> None:
    engine = baseline_engine
    new = _new_customers(raw, f)
    revenue = _revenue_in_period(raw, f)
    per_customer = new.customer_id.map(revenue).fillna(0.0)

    rate = planner.fetch_baseline(engine, "conversion_rate", f)
    assert rate.kind == "binomial" and rate.units == len(new)
    assert len(new) >= 10  # the case has data
    assert_allclose(rate.value, new.customer_id.isin(revenue.index).mean(), rtol=1e-12)

    rpc = planner.fetch_baseline(engine, planner.REVENUE_PER_CUSTOMER, f)
    assert rpc.kind == "mean" and rpc.units == len(new)
    assert_allclose(rpc.value, per_customer.mean(), rtol=1e-9)
    assert_allclose(rpc.sd, per_customer.std(ddof=1), rtol=1e-6)

    assert_allclose(planner.fetch_daily_traffic(engine, f), len(new) / f.days, rtol=1e-12)


def test_baseline_without_data_says_so(warehouse_path: Path) -> None:
    engine = open_engine(f"duckdb:///{warehouse_path}")
    empty = Filters(dt.date(2001, 1, 1), dt.date(2001, 3, 31))
    for name in ("conversion_rate", planner.REVENUE_PER_CUSTOMER):
        b = planner.fetch_baseline(engine, name, empty)
        assert b.value is None and "No data between 2001-01-01" in b.error_message
    assert planner.fetch_daily_traffic(engine, empty) == 0.0
    assert planner.fetch_baseline(engine, "nps", empty).error_message
    engine.dispose()


@pytest.mark.parametrize("dialect", [postgresql.dialect(), sqlite.dialect(), TrinoDialect()])
def test_revenue_query_compiles_with_bound_parameters(dialect) -> None:
    stmt = planner.revenue_per_customer_query(FILTER_CASES[1])
    sql = str(stmt.compile(dialect=dialect))
    assert "smb" not in sql and "2026" not in sql  # values are bound, never inlined


# --- the page through app.py --------------------------------------------------------------------


@pytest.fixture
def app_env(warehouse_path: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{warehouse_path}")
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_page_with_typed_inputs(app_env) -> None:
    at = apptest_helpers.run_page("planner")
    assert not at.exception, [e.value for e in at.exception]
    at.number_input(key="planner_rate").set_value(4.0)
    at.number_input(key="planner_mde").set_value(10.0)
    at.number_input(key="planner_daily").set_value(1500.0)
    # issue 10: no one-sided plans (the analysis is two-sided); the engine is chosen instead
    at.radio(key="planner_engine").set_value("Sequential")
    at.run()
    assert not at.exception and not at.error
    expected = planner.plan(planner.PlanInputs(0.04, 0.10, daily_units=1500.0, engine="sequential"))
    shown = _metrics(at)
    assert shown["Units per variant"] == f"{expected.units_per_variant[1]:,}"
    assert shown["Total units"] == f"{expected.total_units:,}"
    assert shown["Days"] == f"{expected.days:,}"
    assert len(at.get("plotly_chart")) == 2
    assert len(at.get("download_button")) == 3


def test_page_with_a_warehouse_baseline(app_env, warehouse_path: Path) -> None:
    at = apptest_helpers.run_page("planner")
    at.radio(key="planner_source").set_value("From the warehouse").run()
    at.selectbox(key="planner_kpi").set_value(planner.REVENUE_PER_CUSTOMER).run()
    at.radio(key="planner_traffic_source").set_value("From the warehouse").run()
    assert not at.exception and not at.error
    shown = _metrics(at)
    assert shown["Revenue per new customer"].startswith("$")
    assert "Units per variant" in shown


def test_page_with_invalid_inputs_lists_every_problem(app_env) -> None:
    at = apptest_helpers.run_page("planner")
    at.number_input(key="planner_rate").set_value(0.0)
    at.number_input(key="planner_mde").set_value(0.0)
    at.number_input(key="planner_daily").set_value(0.0)
    at.run()
    assert not at.exception
    (error,) = at.error
    for needle in ("baseline rate is 0%", "greater than 0%", "Daily traffic is 0"):
        assert needle in error.value
    assert not at.get("plotly_chart") and "Units per variant" not in _metrics(at)
