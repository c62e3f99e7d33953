"""Drill-down figures (issue 11): the rows of a breakdown are the tile's KPI under the same
definition, they add up to the tile exactly where ``breakdown.additive`` says so, and an opened
row is the figure one level down. On DuckDB and PostgreSQL, on the hand-built KPI warehouse
(tests/kpi_fixture.py: NULL campaigns, crafted period boundaries).

The KPI SQL itself is checked against pandas in tests/test_kpis.py; here the references are
the tile's own total (``fetch_kpi_totals``, what Loop health shows) and plain pandas sums over
the fixture rows for the overlap claims.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine

from metrics.filters import Filters
from metrics.marketing import breakdown as bd
from metrics.marketing.kpi_sql import fetch_kpi, fetch_kpi_totals
from metrics.marketing.kpis import KPIS, KpiKind
from tests import kpi_fixture

MARCH = Filters(dt.date(2024, 3, 1), dt.date(2024, 3, 31))
NARROW = Filters(dt.date(2024, 3, 1), dt.date(2024, 3, 31), segments=("smb", "enterprise"))


@pytest.fixture(scope="module")
def rows() -> dict[str, pd.DataFrame]:
    return kpi_fixture.make_rows()


@pytest.fixture(scope="module", params=["duckdb", "postgresql"])
def engine(request, rows, tmp_path_factory) -> Iterator[Engine]:
    if request.param == "duckdb":
        url = f"duckdb:///{Path(tmp_path_factory.mktemp('bd')) / 'w.duckdb'}"
    else:
        url = request.getfixturevalue("pg_module_url")
    kpi_fixture.build(url, rows)
    eng = create_engine(url)
    yield eng
    eng.dispose()


def _same(a: float, b: float) -> bool:
    if a is None or b is None or (math.isnan(a) and math.isnan(b)):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return a == pytest.approx(b, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("filters", [MARCH, NARROW], ids=["march", "two_segments"])
def test_rows_add_up_to_the_tile_where_they_should(engine: Engine, filters: Filters) -> None:
    """Every KPI × every grain it can be split by: the breakdown's total is the tile's value,
    and additive rows sum to the total's numerator and denominator (simple KPIs: value)."""
    additive_checked = overlapping = 0
    for name in bd.DRILL_KPIS:
        tile = float(fetch_kpi_totals(engine, [name], filters)["current"].iloc[0])
        total = fetch_kpi(engine, name, filters, "total")
        assert _same(float(total["value"].iloc[0]), tile), name
        for grain in bd.breakdown_dimensions(name):
            got = fetch_kpi(engine, name, filters, grain)
            assert len(got), (name, grain)
            check = bd.agreement(name, grain, got, total)
            if check.additive:
                assert check.agrees, (name, grain, check)
                if KPIS[name].kind == KpiKind.SIMPLE:
                    assert _same(float(got["value"].fillna(0).sum()), tile), (name, grain)
                additive_checked += 1
            else:
                overlapping += 1
    assert additive_checked > 40 and overlapping > 5


def test_rows_that_may_overlap_do_overlap(engine: Engine, rows) -> None:
    """The note "rows overlap" is honest: reach by channel counts a customer touched by two
    channels twice (pandas over the fixture rows), and the rows' sum exceeds the total."""
    tp = rows["touchpoints"]
    in_march = tp[(tp.occurred_at >= "2024-03-01") & (tp.occurred_at < "2024-04-01")]
    by_channel = in_march.groupby("channel").customer_id.nunique()
    assert by_channel.sum() > in_march.customer_id.nunique()  # the fixture has such customers
    got = fetch_kpi(engine, "reach", MARCH, "channel")
    total = fetch_kpi(engine, "reach", MARCH, "total")
    assert not bd.additive("reach", "channel")
    assert got.set_index("channel")["value"].to_dict() == by_channel.astype(float).to_dict()
    assert got["value"].sum() > float(total["value"].iloc[0])
    assert bd.additive("reach", "segment")  # one segment per customer: no overlap


@pytest.mark.parametrize("name", ["new_customers", "cac", "roas", "nps", "churn_rate", "reach"])
def test_an_opened_row_is_the_figure_one_level_down(engine: Engine, name: str) -> None:
    """Opening a row (a drill step) narrows the filters to it: the figure there, and its own
    breakdown's total, equal the row's value one level up."""
    opened = 0
    for grain in [g for g in bd.breakdown_dimensions(name) if g in bd.DRILLABLE]:
        level = fetch_kpi(engine, name, NARROW, grain)
        for value, row_value in zip(level[grain], level["value"], strict=True):
            if value is None or value not in bd.DRILLABLE[grain]:
                continue
            state = bd.child_state(bd.DrillState(name, (), grain), value)
            narrowed = bd.narrowed(NARROW, state.path)
            assert narrowed is not None
            down = fetch_kpi_totals(engine, [name], narrowed)["current"].iloc[0]
            assert _same(float(down), float(row_value)), (name, grain, value)
            opened += 1
    assert opened >= 3


def test_drill_state_round_trips_through_the_url() -> None:
    state = bd.DrillState("new_customers", (bd.Step("channel", "email"),), "segment")
    params = {
        bd.KPI_PARAM: state.kpi,
        bd.PATH_PARAM: bd.path_to_param(state.path),
        bd.BY_PARAM: state.by,
    }
    assert bd.parse_state(params, default_kpi="cac") == (state, [])
    deeper = bd.child_state(state, "smb")
    assert deeper.path == (bd.Step("channel", "email"), bd.Step("segment", "smb"))
    assert deeper.by == "region"  # the next dimension not yet opened
    assert bd.up_to(deeper, 1) == state
    assert bd.up_to(deeper, 0) == bd.DrillState("new_customers", (), "channel")


@pytest.mark.parametrize(
    "raw",
    [
        {bd.KPI_PARAM: "x'; DROP TABLE customers; --"},
        {bd.KPI_PARAM: "cac", bd.PATH_PARAM: "segment:smb"},  # spend has no segment
        {bd.KPI_PARAM: "nps", bd.PATH_PARAM: "channel:email,channel:video"},  # repeated
        {bd.KPI_PARAM: "nps", bd.PATH_PARAM: "channel:<script>,region:" + "9" * 5000},
        {bd.KPI_PARAM: "nps", bd.PATH_PARAM: "campaign:7"},  # not a filter dimension
        {bd.KPI_PARAM: "nps", bd.BY_PARAM: "is_personalised"},  # NPS has no campaign
    ],
)
def test_a_bad_link_falls_back_with_a_warning(raw: dict[str, str]) -> None:
    state, warnings = bd.parse_state(raw, default_kpi="new_customers")
    assert state.kpi in KPIS
    assert all(s.dimension in bd.DRILLABLE for s in state.path)
    assert state.by in bd.breakdown_dimensions(state.kpi, state.path)
    if raw.get(bd.BY_PARAM) is None:
        assert warnings and all(len(w) < 120 for w in warnings)  # shown escaped (md_text)


def test_a_step_outside_the_sidebar_filters_is_refused() -> None:
    only_email = Filters(dt.date(2024, 3, 1), dt.date(2024, 3, 31), channels=("email",))
    assert bd.narrowed(only_email, (bd.Step("channel", "video"),)) is None
    narrowed = bd.narrowed(NARROW, (bd.Step("segment", "smb"), bd.Step("channel", "email")))
    assert narrowed is not None
    assert (narrowed.segments, narrowed.channels) == (("smb",), ("email",))
