"""Small numbers (issue 11): below the documented minimum sample a rate, NPS or CSAT shows a
greyed "n too small" and no delta; slice intervals say when they are uninformative."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from data.schema import customers, surveys, touchpoints
from metrics import small_samples as small
from metrics.filters import Filters
from metrics.marketing.kpi_sql import fetch_kpi_totals
from metrics.marketing.kpis import KPIS
from tests.apptest_helpers import run_page


@pytest.mark.parametrize(
    ("name", "n", "want"),
    [("nps", 5, True), ("nps", 29, True), ("nps", 30, False), ("csat", 1, True),
     ("conversion_rate", 12, True), ("churn_rate", 400, False), ("nps", 0, False),
     ("nps", float("nan"), False), ("nps", None, False),
     ("cac", 5, False), ("revenue", 5, False), ("clv_cac", 5, False)],
)  # fmt: skip
def test_the_rule(name: str, n, want: bool) -> None:
    """Rates and scores only (money, counts and derived ratios are not sample-sized)."""
    assert small.too_small(KPIS[name], n) is want


def test_slice_intervals() -> None:
    assert small.interval_uninformative(-1.0, 6.31, 15)  # the issue's [-100%, +631%] at n≈15
    assert small.interval_uninformative(-0.05, 0.10, 40)  # narrow but too few units
    assert small.interval_uninformative(-0.8, 0.9, 5_000)  # many units, still too wide
    assert not small.interval_uninformative(-0.05, 0.10, 5_000)
    assert small.interval_uninformative(None, 0.1, 5_000)


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    from data.demo import generator as demo

    path = tmp_path_factory.mktemp("small") / "demo.duckdb"
    demo.generate(str(path), customers=5_000, seed=13)
    return path


def _small_nps_week(demo_file: Path) -> tuple[Filters, int]:
    """A one-week, one-segment, one-region filter with 1–29 NPS answers, and that count
    (counted here straight from the surveys table, independently of the KPI SQL)."""
    from data.warehouse import open_engine, to_url

    engine = open_engine(to_url(str(demo_file)), read_only=True)
    try:
        with engine.connect() as conn:
            latest = conn.execute(select(func.max(touchpoints.c.occurred_at))).scalar().date()
            for weeks_back in range(1, 20):
                end = latest - dt.timedelta(days=7 * weeks_back)
                f = Filters(start=end - dt.timedelta(days=6), end=end, segments=("enterprise",))
                n = conn.execute(
                    select(func.count())
                    .select_from(
                        surveys.join(customers, surveys.c.customer_id == customers.c.customer_id)
                    )
                    .where(
                        surveys.c.kind == "nps",
                        f.time_condition(surveys.c.responded_at),
                        customers.c.segment == "enterprise",
                    )
                ).scalar()
                if 0 < n < small.MIN_UNITS:
                    totals = fetch_kpi_totals(engine, ["nps"], f).set_index("kpi")
                    assert totals.at["nps", "n_current"] == n  # the KPI SQL's sample size
                    return f, n
    finally:
        engine.dispose()
    pytest.fail("the demo has no week with 1-29 enterprise NPS answers")


def test_a_tiny_nps_is_greyed_without_delta(demo_file: Path, monkeypatch, tmp_path) -> None:
    filters, n = _small_nps_week(demo_file)
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{demo_file}")
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    at = run_page(query=filters.to_query_params(), timeout=120)
    assert not at.exception
    nps = next(m for m in at.metric if m.label == KPIS["nps"].label)
    assert small.TOO_SMALL in nps.value, (n, nps.value)
    assert nps.proto.delta == "", nps.proto.delta
    assert f"n = {n}" in nps.help
