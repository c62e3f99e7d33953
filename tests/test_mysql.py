"""MySQL/MariaDB as a tested warehouse: every page's SQL equals DuckDB's on the same demo.

Runs against the server on 127.0.0.1:3306 (root, no password) in a fresh database per session,
dropped afterwards; skipped when the server does not answer, except under ``CI=true`` where that
fails. See tests/engine_parity.py for what is compared and how.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from data.demo import generate
from data.warehouse import open_engine
from tests import engine_parity as ep
from tests.conftest import ON_CI

pytestmark = [pytest.mark.mysql, pytest.mark.slow]

MYSQL_ADMIN_URL = "mysql+pymysql://root@127.0.0.1:3306/"


def _mysql_available() -> bool:
    try:
        import pymysql  # noqa: F401
    except ImportError:
        return False
    engine = create_engine(MYSQL_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """A fresh database on the local MySQL/MariaDB server, dropped after the session."""
    if not _mysql_available():
        message = f"MySQL/MariaDB is not reachable at {MYSQL_ADMIN_URL} (or PyMySQL is missing)"
        if ON_CI:
            pytest.fail(f"{message} and CI=true")
        pytest.skip(message)
    name = f"looplens_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(MYSQL_ADMIN_URL)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE `{name}`"))
    try:
        yield f"{MYSQL_ADMIN_URL}{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@pytest.fixture(scope="session")
def engines(mysql_url, tmp_path_factory) -> Iterator[tuple]:
    folder = tmp_path_factory.mktemp("mysql_parity")
    duck_url = f"duckdb:///{folder / 'wh.duckdb'}"
    kw = {"customers": ep.DEMO_CUSTOMERS, "seed": ep.DEMO_SEED, "end_date": ep.DEMO_END}
    generate(duck_url, **kw)
    generate(mysql_url, manifest=folder / "m.json", **kw)
    # read-only, as the app (and the serving refresh) opens it: one DuckDB file, one config
    duck = open_engine(duck_url)
    other = create_engine(mysql_url)
    yield duck, other, duck_url, mysql_url, folder
    duck.dispose()
    other.dispose()


@pytest.mark.parametrize("check", list(ep.CHECKS))
def test_equals_duckdb(engines, check) -> None:
    duck, other, *_ = engines
    reference = ep.CHECKS[check](duck)
    assert not reference.empty, check  # a check that compares nothing cannot fail
    assert ep.differences(reference, ep.CHECKS[check](other)) == []


def test_serving_refresh_from_mysql_equals_refresh_from_duckdb(engines) -> None:
    _, _, duck_url, mysql_url, folder = engines
    expected = ep.serving_tables(duck_url, str(folder / "serving_duck.duckdb"))
    got = ep.serving_tables(mysql_url, str(folder / "serving_mysql.duckdb"))
    assert set(got) == set(expected)
    wrong = {n: d for n in expected if (d := ep.differences(expected[n], got[n]))}
    assert sum(len(expected[n]) for n in expected) > 1_000
    assert wrong == {}
