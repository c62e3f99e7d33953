"""Shared fixtures: real databases (DuckDB file, SQLite file, PostgreSQL server)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

ON_CI = os.environ.get("CI") == "true"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "ci_may_skip(reason): this test may skip under CI=true (state the reason)"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Under ``CI=true`` a skip is a failure (CI must not go green without PostgreSQL, chromium
    or anything else a test needs), unless the test is marked ``ci_may_skip(reason=...)``."""
    outcome = yield
    report = outcome.get_result()
    if not ON_CI or not report.skipped or hasattr(report, "wasxfail"):
        return
    if item.get_closest_marker("ci_may_skip") is not None:
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true, which fails instead of skipping: {reason}"


PG_ADMIN_URL = os.environ.get(
    "LOOPLENS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL of the PostgreSQL server; skipped if unreachable (fails under CI=true)."""
    if not _pg_available():
        if ON_CI:
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} and CI=true")
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    return PG_ADMIN_URL


def _fresh_pg_database(admin_url: str) -> Iterator[str]:
    name = f"looplens_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    yield from _fresh_pg_database(pg_server)


@pytest.fixture(scope="module")
def pg_module_url(pg_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database shared by one test module."""
    yield from _fresh_pg_database(pg_server)


@pytest.fixture
def duckdb_url(tmp_path) -> str:
    """URL of a new (not yet created) DuckDB file."""
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"


@pytest.fixture(autouse=True, scope="session")
def _apptest_uses_st_navigation_only() -> Iterator[None]:
    """Run AppTests the way the server runs the app after its first session.

    ``AppTest`` resets Streamlit's legacy "pages/ directory" detection before every run, so each
    ``at.run()`` would start in legacy mode and run a switched-to page *without* ``app.py``
    (``components.context._require_frame`` then reruns through ``app.py``, which swallows
    one-shot widget triggers such as button clicks). The server decides this once per process;
    the browser test covers that first-session path with a deep link.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init_without_legacy_pages_dir(self, *args, **kwargs) -> None:  # noqa: ANN001
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init_without_legacy_pages_dir
    yield
    PagesManager.__init__ = original
