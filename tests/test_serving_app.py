"""AppTest: the serving layer as a user meets it — built from Data health, named in every page's
sidebar, and showing the very same tiles as the live warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.apptest_helpers import run_page

DEMO_END = dt.date(2026, 11, 30)  # a fixed history: the same data whatever today is


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    from data.demo import generate

    path = tmp_path_factory.mktemp("serving_app") / "demo.duckdb"
    generate(str(path), customers=4_000, seed=9, end_date=DEMO_END)
    return path


@pytest.fixture
def env(demo_file: Path, monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{demo_file}")
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    serving = tmp_path / "serving.duckdb"
    monkeypatch.setenv("LOOPLENS_SERVING_URL", f"duckdb:///{serving}")
    return serving


def _tiles(at) -> list[tuple[str, str]]:  # noqa: ANN001 - an AppTest
    return [(m.label, m.value) for m in at.metric]


def _sidebar_says(at, text: str) -> bool:  # noqa: ANN001 - AppTest
    """The sidebar's freshness line (one caption among others, e.g. the sign-in note) says it."""
    return any(text in c.value for c in at.sidebar.caption)


def test_build_from_data_health_then_pages_serve_the_same_numbers(env: Path) -> None:
    at = run_page("data_health")
    assert not at.exception
    assert any("No serving layer yet" in i.value for i in at.info)
    live_overview = run_page()
    live_tiles = _tiles(live_overview)
    assert live_tiles and _sidebar_says(live_overview, "live from the warehouse")

    at = run_page("data_health")
    at.button(key="serving_refresh").click().run()
    assert not at.exception and not at.error
    assert env.exists()
    table = next(d.value for d in at.dataframe if "Serving table" in d.value.columns)
    assert set(table["Status"]) == {"up to date"}, table[["Serving table", "Status"]]

    served = run_page()
    assert not served.exception
    assert _sidebar_says(served, "serving layer, refreshed")
    assert not any("computed live" in c.value for c in served.caption)
    assert _tiles(served) == live_tiles  # the same figures, formatted the same, from the store
