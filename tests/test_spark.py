"""Spark SQL as a tested warehouse: the app's SQL on a local Spark Thrift Server equals DuckDB's
on the same demo.

The session starts its own server (data/spark_server.py: ``local[2]``, a free port, a temporary
warehouse and metastore) and stops it afterwards. Skipped when pyspark, PyHive or Java is
missing, except under ``CI=true`` where that fails with the reason. Spark answers each statement
in about a second on one machine, so the demo is the smallest (1,000 customers) and the checks
are the focused set :data:`tests.engine_parity.SPARK_CHECKS`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine

from data.demo import generate
from data.warehouse import open_engine
from tests import engine_parity as ep
from tests.conftest import ON_CI

pytestmark = [pytest.mark.spark, pytest.mark.slow]

SPARK_CUSTOMERS = 1_000  # the demo's minimum


@pytest.fixture(scope="session")
def spark_url(tmp_path_factory) -> Iterator[str]:
    """The ``hive://`` URL of a Spark Thrift Server started for this session."""
    from data import spark_server

    try:
        import pyhive  # noqa: F401

        server = spark_server.start(tmp_path_factory.mktemp("spark"))
    except (ImportError, spark_server.SparkUnavailable) as exc:
        message = f"Spark SQL is not available: {exc}"
        if ON_CI:
            pytest.fail(f"{message} (CI=true: install requirements-engines.txt and Java 17+)")
        pytest.skip(message)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def engines(spark_url, tmp_path_factory) -> Iterator[tuple]:
    folder = tmp_path_factory.mktemp("spark_parity")
    duck_url = f"duckdb:///{folder / 'wh.duckdb'}"
    kw = {"customers": SPARK_CUSTOMERS, "seed": ep.DEMO_SEED, "end_date": ep.DEMO_END}
    generate(duck_url, **kw)
    generate(spark_url, manifest=folder / "m.json", **kw)
    # read-only, as the app (and the serving refresh) opens it: one DuckDB file, one config
    duck = open_engine(duck_url)
    other = create_engine(spark_url)
    yield duck, other, duck_url, spark_url, folder
    duck.dispose()
    other.dispose()


@pytest.mark.parametrize("check", list(ep.SPARK_CHECKS))
def test_equals_duckdb(engines, check) -> None:
    duck, other, *_ = engines
    reference = ep.SPARK_CHECKS[check](duck)
    assert not reference.empty, check  # a check that compares nothing cannot fail
    assert ep.differences(reference, ep.SPARK_CHECKS[check](other)) == []


def test_serving_refresh_from_spark_equals_refresh_from_duckdb(engines) -> None:
    _, _, duck_url, spark_url, folder = engines
    expected = ep.serving_tables(duck_url, str(folder / "serving_duck.duckdb"))
    got = ep.serving_tables(spark_url, str(folder / "serving_spark.duckdb"))
    assert set(got) == set(expected)
    wrong = {n: d for n in expected if (d := ep.differences(expected[n], got[n]))}
    assert sum(len(expected[n]) for n in expected) > 1_000
    assert wrong == {}
