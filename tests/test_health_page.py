"""AppTest of the Data health page, through app.py, on real DuckDB files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

import components.health_view as health_view
import tests.test_health as fixtures

APP = Path(__file__).resolve().parent.parent / "app.py"


def open_page(url: str, monkeypatch, tmp_path: Path) -> AppTest:
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", url)
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    at.switch_page("pages/data_health.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def recent() -> dt.datetime:
    """A start such that the newest row is half a day old: every table is fresh."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return now - fixtures.SPAN - dt.timedelta(hours=12)


def test_healthy_warehouse(duckdb_url: str, monkeypatch, tmp_path: Path) -> None:
    fixtures.build_warehouse(duckdb_url, t0=recent())
    at = open_page(duckdb_url, monkeypatch, tmp_path)
    assert not at.error
    assert at.title[0].value == "Data health"
    header = " ".join(c.value for c in at.caption)
    assert "duckdb" in header and "LOOPLENS_WAREHOUSE_URL" in header
    assert any("All 10 contract tables" in s.value for s in at.success)
    assert len(at.expander) == 10
    assert at.get("download_button")
    summary = at.dataframe[0].value
    assert list(summary["table"]) == [t.name for t in fixtures.schema.CONTRACT_TABLES]
    assert summary["status"].str.contains("ok").all()


def test_missing_table_and_stale_data(duckdb_url: str, monkeypatch, tmp_path: Path) -> None:
    fixtures.build_warehouse(duckdb_url, skip=("surveys",))  # data from March 2026: stale
    at = open_page(duckdb_url, monkeypatch, tmp_path)
    texts = [e.value for e in at.error]
    assert any("1 of 10 tables cannot be used" in t for t in texts)
    assert any("Create a view named `surveys`" in t for t in texts)
    assert any("stale" in w.value for w in at.warning)


def test_connection_failure_shows_a_diagnosis(tmp_path: Path, monkeypatch) -> None:
    url = f"duckdb:///{tmp_path / 'missing.duckdb'}"
    at = open_page(url, monkeypatch, tmp_path)
    texts = [e.value for e in at.error]
    assert any("file does not exist" in t and "What to do" in t for t in texts)
    assert not at.expander and not at.dataframe


def test_recheck_clears_the_cache(duckdb_url: str, monkeypatch, tmp_path: Path) -> None:
    fixtures.build_warehouse(duckdb_url, t0=recent())
    calls: list[str] = []
    real = health_view.check_warehouse

    def counting(engine, **kwargs):
        calls.append(str(engine.url))
        return real(engine, **kwargs)

    monkeypatch.setattr(health_view, "check_warehouse", counting)
    at = open_page(duckdb_url, monkeypatch, tmp_path)
    assert len(calls) == 1
    at.run()
    assert len(calls) == 1  # cached
    at.button(key="health_recheck").click().run()
    assert len(calls) == 2
    assert not at.exception
