"""AppTest: the app frame and every registered page run without exception on a demo warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.navigation import PAGE_SPECS
from tests.apptest_helpers import run_page

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    from data.demo import generator as demo

    path = tmp_path_factory.mktemp("apptest") / "demo.duckdb"
    demo.generate(str(path), customers=6_000, seed=3)
    return path


@pytest.fixture(scope="module")
def demo_pg(pg_module_url: str, tmp_path_factory) -> str:
    """The same kind of demo warehouse, loaded into a real PostgreSQL database."""
    from data.demo import generator as demo

    manifest = tmp_path_factory.mktemp("pg_demo") / "manifest.json"
    demo.generate(pg_module_url, customers=6_000, seed=3, manifest=manifest)
    return pg_module_url


@pytest.fixture
def demo_env(demo_file: Path, monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{demo_file}")
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    return demo_file


@pytest.fixture
def demo_pg_env(demo_pg: str, monkeypatch, tmp_path) -> str:
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", demo_pg)
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    return demo_pg


def test_registered_pages_exist() -> None:
    assert sum(spec.default for spec in PAGE_SPECS) == 1
    for spec in PAGE_SPECS:
        assert (ROOT / spec.path).is_file(), spec.path


@pytest.mark.parametrize("spec", PAGE_SPECS, ids=lambda s: Path(s.path).stem)
def test_page_runs_without_exception(demo_env: Path, spec) -> None:
    at = run_page(Path(spec.path).stem)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.postgres
@pytest.mark.parametrize("spec", PAGE_SPECS, ids=lambda s: Path(s.path).stem)
def test_page_runs_on_postgres(demo_pg_env: str, spec) -> None:
    """Every page also runs on PostgreSQL (dialect differences surface here, not in the UI)."""
    at = run_page(Path(spec.path).stem)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_filters_are_written_to_the_url(demo_env: Path) -> None:
    at = run_page(query={"start": "2026-01-01", "end": "2026-01-31", "channel": "email"})
    assert not at.exception
    assert at.query_params["start"] == ["2026-01-01"] or at.query_params["start"] == "2026-01-01"
    assert at.session_state["filter_channels"] == ["email"]


def test_hostile_url_values_are_reported_not_run(demo_env: Path) -> None:
    at = run_page(query={"channel": "x'; DROP TABLE customers; --", "start": "yesterday"})
    assert not at.exception
    texts = " ".join(w.value for w in at.sidebar.warning)
    assert "unknown channel" in texts and "not a date" in texts


BROKEN_WAREHOUSES = {
    "unreachable": "postgresql+psycopg://postgres:pw@127.0.0.1:1/warehouse",
    "bad_url": "this is not a url",
    "unknown_driver": "snowflake://user:pw@account/db",
}


@pytest.mark.parametrize("case", sorted(BROKEN_WAREHOUSES))
@pytest.mark.parametrize("spec", PAGE_SPECS, ids=lambda s: Path(s.path).stem)
def test_broken_warehouse_gives_a_message_not_a_traceback(
    case: str, spec, monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", BROKEN_WAREHOUSES[case])
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    at = run_page(Path(spec.path).stem)
    assert not at.exception, [e.value for e in at.exception]
    messages = " ".join(e.value for e in at.error)
    assert "pw@" not in messages  # never a password
    if spec.needs_warehouse or spec.url_path == "data_health":
        assert "What to do" in messages


@pytest.mark.parametrize("spec", PAGE_SPECS, ids=lambda s: Path(s.path).stem)
def test_warehouse_without_contract_tables(spec, monkeypatch, tmp_path) -> None:
    """A reachable database that holds none of the contract's tables: messages, no tracebacks."""
    import duckdb

    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{empty}")
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    at = run_page(Path(spec.path).stem)
    assert not at.exception, [e.value for e in at.exception]
    assert at.error or at.warning or at.info, "the page should explain what is missing"


@pytest.mark.parametrize("page", ["overview", "channels"])
def test_a_missing_column_gives_a_diagnosis_not_a_traceback(page, monkeypatch, tmp_path) -> None:
    """All tables present, but `orders` lacks `revenue`: the failing query is explained."""
    from sqlalchemy import create_engine, text

    from data.schema import create_contract

    path = tmp_path / "broken.duckdb"
    engine = create_engine(f"duckdb:///{path}")
    create_contract(engine)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE orders DROP COLUMN revenue"))
    engine.dispose()
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{path}")
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    at = run_page(page)
    assert not at.exception, [e.value for e in at.exception]
    messages = " ".join(e.value for e in at.error)
    assert "The warehouse failed while" in messages and "Data health" in messages
    assert "A table or column the query needs is missing" in messages
