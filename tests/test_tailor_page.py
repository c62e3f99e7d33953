"""Tailor page under AppTest on a small demo warehouse (DuckDB and SQLite), and the grid
figure's greying of small cells."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from components import tailor_grid as tg
from metrics.small_samples import MIN_UNITS, TOO_SMALL
from tests.apptest_helpers import run_page

END = dt.date(2026, 11, 30)


@pytest.fixture(scope="module", params=["duckdb", "sqlite"])
def demo_url(request, tmp_path_factory) -> str:
    from data.demo import generator as demo

    folder = tmp_path_factory.mktemp(f"tailor_page_{request.param}")
    suffix = "duckdb" if request.param == "duckdb" else "sqlite"
    path = folder / f"w.{suffix}"
    demo.generate(str(path), customers=2_000, seed=4, end_date=END)
    return f"{request.param}:///{path}"


@pytest.fixture
def env(demo_url: str, monkeypatch, tmp_path) -> str:
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", demo_url)
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    return demo_url


QUERY = {"start": "2026-09-01", "end": END.isoformat()}


def test_grid_and_cell_drill_down(env) -> None:
    at = run_page("tailor", query=QUERY)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    for measure in tg.MEASURES:
        at.segmented_control(key="tl_grid_measure").set_value(measure).run()
        assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="tl_cell_persona").set_value("engineer").run()
    at.selectbox(key="tl_cell_stage").set_value("loyalty").run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[-1].value
    assert len(table) > 0 and table["customer_id"].is_unique
    labels = [m.label for m in at.metric]
    assert "Customers" in labels and "NPS" in labels


def _cells() -> pd.DataFrame:
    rows = []
    for persona, n, answers in (("a", 200, 40), ("b", MIN_UNITS - 1, 3)):
        rows.append(
            {
                "persona": persona, "stage": "purchase", "customers": n, "revenue": 10.0 * n,
                "revenue_per_customer": 10.0, "buyers": n, "nps": 20.0, "nps_answers": answers,
                "entered": n, "converted": n // 2, "conversion": 0.5, "next_stage": "retention",
                "customers_small": n < MIN_UNITS, "nps_small": answers < MIN_UNITS,
                "conversion_small": n < MIN_UNITS,
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def test_small_cells_are_greyed_not_coloured() -> None:
    cells = _cells()
    fig = tg.grid_figure(cells, "nps")
    coloured, grey = fig.data
    assert coloured.z[0][0] == 20.0 and pd.isna(coloured.z[1][0])
    assert grey.z[1][0] == 1.0 and pd.isna(grey.z[0][0])
    assert coloured.text[1][0].replace("<br>", " ") == TOO_SMALL
    assert tg.cell_text(cells.iloc[1], "customers").replace("<br>", " ") == f"29 {TOO_SMALL}"
    assert tg.cell_text(cells.iloc[0], "conversion") == "50.0%"
    assert len(tg.grid_figure(cells.iloc[:1], "customers").data) == 1  # nothing to grey
