"""Retention & CLV page: AppTest with its controls, and the planted channel difference it shows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from components import retention_charts as rc
from data.warehouse import open_engine, to_url
from metrics.filters import Filters
from metrics.retention import cohorts
from tests.apptest_helpers import run_page


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    from data.demo import generator as demo

    path = tmp_path_factory.mktemp("retention") / "demo.duckdb"
    demo.generate(str(path), customers=12_000, seed=3)
    return path


@pytest.fixture
def demo_env(demo_file: Path, monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{demo_file}")
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    monkeypatch.setenv("LOOPLENS_SERVING_URL", f"duckdb:///{tmp_path / 'serving.duckdb'}")
    return demo_file


def test_page_and_its_controls_run(demo_env: Path) -> None:
    at = run_page("retention", timeout=180)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Retention & CLV"
    subheaders = [h.value for h in at.subheader]
    assert (
        "Cohort retention" in subheaders
        and "Predictive CLV by acquisition channel or campaign" in subheaders
    )
    assert len(at.dataframe) >= 2, "repeat-purchase and CLV tables are shown"
    clv_table = at.dataframe[-1].value
    assert "Paid social" in set(clv_table["dim"])
    at.segmented_control(key="ret_grain").set_value("week").run()
    at.segmented_control(key="ret_activity").set_value("engagement").run()
    at.selectbox(key="ret_dimension").set_value("persona").run()
    assert not at.exception, [e.value for e in at.exception]
    options = at.selectbox(key="ret_heatmap_value").options
    assert len(options) > 2 and options[0] == "All"
    at.selectbox(key="ret_heatmap_value").set_value(
        at.selectbox(key="ret_heatmap_value").options[1]
    )
    at.selectbox(key="ret_horizon").set_value(24).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    at.radio(key="ret_clv_by").set_value("campaign").run()
    assert not at.exception, [e.value for e in at.exception]
    campaigns = set(at.dataframe[-1].value["dim"])
    assert "(no campaign)" in campaigns
    assert any(name.endswith("(Paid social)") for name in campaigns), campaigns


def test_the_planted_paid_social_churn_shows(demo_file: Path) -> None:
    engine = open_engine(to_url(str(demo_file)), read_only=True)
    try:
        with engine.connect() as conn:
            end = pd.Timestamp(conn.execute(text("select max(ordered_at) from orders")).scalar())
        end = end.date()
        start = end - dt.timedelta(days=365)
        filters = Filters(start=end - dt.timedelta(days=90), end=end)
        cells = cohorts.cohort_retention(engine, filters, start, end, "month", "purchase")
        curves = cohorts.retention_curves(cells).set_index(["dim", "period"])["retention"]
        repeat = cohorts.repeat_purchase(engine, filters, start, end).set_index("dim")
    finally:
        engine.dispose()
    others = [c for c in repeat.index if c != "paid_social"]
    # paid-social buyers keep 40% of their repeat orders: they churn visibly sooner
    assert repeat.loc["paid_social", "repeat_rate"] < repeat.loc[others, "repeat_rate"].min() - 0.1
    for k in (2, 3):
        assert curves[("paid_social", k)] < min(curves[(c, k)] for c in others) - 0.05
    # and the figure builders draw it without error
    fig = rc.curves_figure(cohorts.retention_curves(cells), "channel", "retention", "month")
    assert {t.name for t in fig.data} >= {"Paid social", "Referral"}
    assert rc.heatmap_figure(rc.pooled_cells(cells, "paid_social"), "month").data


def test_ship_markers_fall_in_the_cell_of_the_rollout() -> None:
    cells = pd.DataFrame(
        [
            (pd.Timestamp(c), k, 100, 50, 0.5, 0.0)
            for c, n in (("2026-01-01", 4), ("2026-02-01", 3))
            for k in range(n)
        ],
        columns=["cohort", "period", "size", "active", "retention", "revenue"],
    )
    ships = ((dt.date(2026, 3, 15), "exp_a"), (dt.date(2025, 12, 1), "exp_old"))
    marks = rc.ship_cells(cells, "month", ships)
    assert sorted(zip(marks["cohort"].dt.month, marks["period"], strict=True)) == [(1, 2), (2, 1)]
    assert set(marks["experiment"]) == {"exp_a"}  # before every cohort: no marker
    fig = rc.heatmap_figure(cells, "month", ships=ships)
    assert [t.name for t in fig.data if t.name == "Experiment shipped"]
    weekly = rc.ship_cells(
        cells.assign(cohort=pd.Timestamp("2026-03-02")).drop_duplicates("period"),
        "week",
        ((dt.date(2026, 3, 17), "exp_w"),),
    )
    assert weekly["period"].tolist() == [2]
