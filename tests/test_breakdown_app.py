"""The Breakdown page under AppTest (issue 11): the drill path round-trips through the URL, the
breadcrumb goes back up, and the figures on screen agree with Loop health's tile, on a DuckDB
and a PostgreSQL demo warehouse."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from components.drilldown import BY_PICK, KPI_PICK
from metrics.marketing import breakdown as bd
from tests.apptest_helpers import run_page


def _latest(url: str) -> dt.date:
    from sqlalchemy import func, select

    from data.schema import touchpoints
    from data.warehouse import open_engine

    engine = open_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.max(touchpoints.c.occurred_at))).scalar().date()
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=["duckdb", "postgresql"])
def warehouse_url(request, tmp_path_factory) -> str:
    from data.demo import generator as demo

    folder = Path(tmp_path_factory.mktemp("bd_app"))
    if request.param == "duckdb":
        url = f"duckdb:///{folder / 'demo.duckdb'}"
    else:
        url = request.getfixturevalue("pg_module_url")
    demo.generate(url, customers=2_500, seed=3, manifest=folder / "manifest.json")
    return url


@pytest.fixture
def query(warehouse_url: str, monkeypatch, tmp_path) -> dict[str, str]:
    """The app on that warehouse, and non-default filters (a past month, two segments)."""
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("LOOPLENS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    monkeypatch.setenv("LOOPLENS_SERVING_URL", f"duckdb:///{tmp_path / 'serving.duckdb'}")
    end = _latest(warehouse_url) - dt.timedelta(days=20)
    return {
        "start": (end - dt.timedelta(days=59)).isoformat(),
        "end": end.isoformat(),
        "segment": "mid_market,smb",  # the URL form (sorted)
    }


def _number(text: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", text))


def _metric(at, label: str) -> str:  # noqa: ANN001 - an AppTest
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no tile {label!r}: {[m.label for m in at.metric]}"
    return values[0]


def test_the_drill_path_round_trips_through_the_url(query: dict[str, str]) -> None:
    link = {
        **query,
        bd.KPI_PARAM: "roas",
        bd.PATH_PARAM: "channel:paid_search",
        bd.BY_PARAM: "target_stage",
    }
    at = run_page("breakdown", query=link, timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key=KPI_PICK).value == "roas"
    assert at.session_state[BY_PICK] == "target_stage"
    assert {k: at.query_params[k] for k in link} == link  # nothing dropped or changed
    assert list(at.dataframe[0].value.columns)[0] == "Campaign stage"
    crumbs = [b.label for b in at.button if b.key.startswith("bd_crumb_")]
    assert crumbs == ["ROAS (tracked purchases) · all"]
    assert any(m.value == "**Paid search**" for m in at.markdown)

    # Open a further level through the picker? ROAS inside one channel by stage is the last
    # drillable level; go back up with the breadcrumb instead.
    at.button(key="bd_crumb_0").click().run()
    assert not at.exception
    assert bd.PATH_PARAM not in at.query_params
    assert at.query_params[bd.BY_PARAM] == "channel"  # the undone step's dimension
    assert {k: at.query_params[k] for k in query} == query  # filters untouched


def test_opening_rows_and_going_back_up(query: dict[str, str]) -> None:
    at = run_page("breakdown", query={**query, bd.KPI_PARAM: "new_customers"}, timeout=120)
    assert not at.exception
    assert at.query_params[bd.BY_PARAM] == "channel"
    at.selectbox(key="bd_open").set_value("email").run()
    assert not at.exception
    assert at.query_params[bd.PATH_PARAM] == "channel:email"
    assert at.query_params[bd.BY_PARAM] == "segment"
    at.selectbox(key="bd_open").set_value("smb").run()
    assert at.query_params[bd.PATH_PARAM] == "channel:email,segment:smb"
    assert [b.label for b in at.button if b.key.startswith("bd_crumb_")] == [
        "New customers · all",
        "Email",
    ]
    at.button(key="bd_crumb_1").click().run()
    assert at.query_params[bd.PATH_PARAM] == "channel:email"
    assert at.query_params[bd.BY_PARAM] == "segment"
    assert {k: at.query_params[k] for k in query} == query


def test_the_breakdown_agrees_with_the_loop_health_tile(query: dict[str, str]) -> None:
    """The tile on Loop health, the Breakdown's own tile, and the sum of its rows: one number.
    And a row opened one level down shows that row's figure."""
    overview = run_page(None, query=query, timeout=120)
    assert not overview.exception
    tile = _metric(overview, "New customers")
    cac_tile = _metric(overview, "CAC")

    at = run_page(
        "breakdown", query={**query, bd.KPI_PARAM: "new_customers", bd.BY_PARAM: "region"}
    )
    assert not at.exception
    assert _metric(at, "New customers") == tile
    table = at.dataframe[0].value
    assert sum(_number(v) for v in table["New customers"]) == _number(tile)
    assert any("add up to the total" in c.value for c in at.caption)

    at = run_page("breakdown", query={**query, bd.KPI_PARAM: "cac"})
    assert _metric(at, "CAC") == cac_tile
    table = at.dataframe[0].value.set_index("Channel")
    spend = sum(_number(v) for v in table["Paid media spend"])
    customers = sum(_number(v) for v in table["New customers"])
    # the rows' parts give the tile (spend is shown in whole dollars: within a dollar)
    assert abs(spend / customers - _number(cac_tile)) <= 1
    row = table.loc["Paid search", "CAC"]
    opened = run_page(
        "breakdown", query={**query, bd.KPI_PARAM: "cac", bd.PATH_PARAM: "channel:paid_search"}
    )
    assert _metric(opened, "CAC") == row
