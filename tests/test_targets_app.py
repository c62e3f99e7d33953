"""Targets and alerts in the app (AppTest): seeded demo targets show progress and pace on the
Loop-health tiles, the Targets & alerts page runs and its editors save through the forms."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from data.app_state.alerts import active_rules
from data.app_state.store import open_store
from data.app_state.targets import current_targets
from metrics.demo_targets import seed_demo_targets
from tests.apptest_helpers import run_page

END = dt.date(2026, 11, 27)


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    from data.demo import generator as demo

    path = tmp_path_factory.mktemp("targets_app") / "demo.duckdb"
    demo.generate(str(path), customers=6_000, seed=3, end_date=END)
    return path


@pytest.fixture
def state_url(demo_file: Path, monkeypatch, tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{demo_file}")
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", url)
    engine = create_engine(f"duckdb:///{demo_file}", connect_args={"read_only": True})
    store = open_store(url)
    assert seed_demo_targets(engine, store, END) == 4
    assert seed_demo_targets(engine, store, END) == 0  # only into an empty store
    store.close()
    engine.dispose()
    return url


def test_tiles_show_the_stored_targets_pace(state_url: str) -> None:
    at = run_page()
    assert not at.exception
    texts = [p.proto.text for p in at.get("progress")]
    assert any(t.startswith("Target") and ("behind" in t or "on track" in t) for t in texts), texts
    # the stored CAC target replaced the catalog one: one target line per tile at most
    assert sum("Target" in t for t in texts) == len(texts)


def test_targets_page_runs_and_saves_a_target_and_a_rule(state_url: str) -> None:
    at = run_page("alerts")
    assert not at.exception and not at.error
    assert at.get("plotly_chart")
    at.selectbox(key="tg_kpi").set_value("revenue")
    at.number_input(key="tg_value").set_value(2_000_000.0)
    at.text_input(key="tg_owner").set_value("CFO")
    at.text_input(key="tg_who").set_value("ana")
    at.button[[b.label for b in at.button].index("Save target")].click()  # form submit
    at.run()
    assert not at.exception and not at.error
    store = open_store(state_url)
    assert "revenue" in {t.kpi for t in current_targets(store)}
    at.text_input(key="ar_name").set_value("Spend watch")
    at.text_area(key="ar_recipients").set_value("cmo@example.com\nnot an address")
    at.text_input(key="ar_who").set_value("ana")
    at.button[[b.label for b in at.button].index("Save rule")].click()
    at.run()
    assert not at.exception
    assert at.error and "not an e-mail address" in at.error[0].value  # validated, not saved
    assert active_rules(store) == []
    at.text_area(key="ar_recipients").set_value("cmo@example.com")
    at.button[[b.label for b in at.button].index("Save rule")].click()
    at.run()
    assert [r.name for r in active_rules(store)] == ["Spend watch"]
    store.close()
