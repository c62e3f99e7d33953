"""Compile-only: every statement of the KPI catalog, lifecycle, attribution and the experiment
queries compiles for the warehouses that have no server here (Trino, Snowflake, BigQuery,
Databricks) and for the ones the ``mysql`` / ``spark`` suites run (MySQL, PyHive's ``hive``).

Snowflake, BigQuery and Databricks are stand-in dialects carrying only the dialect *name* (their
SQLAlchemy packages are not installed here): that is what selects the rules in data/sqlfuncs.py.
A rule that raises or a construct the dialect cannot compile fails the test; a *missing* rule
falls back to the default (PostgreSQL-like) spelling and is not caught here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyhive.sqlalchemy_hive import HiveDialect
from sqlalchemy.dialects.mysql.pymysql import MySQLDialect_pymysql
from sqlalchemy.engine.default import DefaultDialect
from trino.sqlalchemy.dialect import TrinoDialect

from metrics.marketing import attribution as attr
from metrics.marketing import kpi_sql
from metrics.marketing import lifecycle as lc
from metrics.marketing.kpis import KPIS
from tests import test_experiment_sql as tx
from tests.test_lifecycle import PERIOD


def _stand_in(dialect_name: str) -> DefaultDialect:
    cls = type(f"{dialect_name.title()}StandIn", (DefaultDialect,), {"name": dialect_name})
    return cls()


DIALECTS = {
    "trino": TrinoDialect,
    "snowflake": lambda: _stand_in("snowflake"),
    "bigquery": lambda: _stand_in("bigquery"),
    "databricks": lambda: _stand_in("databricks"),
    "mysql": MySQLDialect_pymysql,
    "hive": HiveDialect,
}


def _statements(dialect_name: str) -> Iterator[tuple[str, object]]:
    narrow = PERIOD.__class__(
        start=PERIOD.start, end=PERIOD.end, channels=("email",), segments=("smb",)
    )
    for name in KPIS:
        for grain in kpi_sql.GRAINS:
            if kpi_sql.supports_grain(name, grain):
                for f in (PERIOD, narrow):
                    try:
                        yield f"kpi {name} {grain}", kpi_sql.kpi_query(name, f, grain)
                    except kpi_sql.UnsupportedQuery:
                        continue
    yield "totals", kpi_sql.totals_query(list(KPIS), narrow)
    yield "experiment activity", kpi_sql.experiment_activity_query(narrow)
    yield "stage volumes", lc.stage_volume_stmt(PERIOD, "month")
    yield "stage distribution", lc.stage_distribution_stmt(PERIOD)
    yield "stage conversion", lc.stage_conversion_stmt(PERIOD)
    yield "time in stage", lc.time_in_stage_stmt(PERIOD, dialect_name)
    yield "transitions", lc.transitions_stmt(PERIOD)
    yield "campaign touches", lc.campaign_touch_stmt(PERIOD)
    for by in ("channel", "campaign"):
        for grain in (None, "week"):
            opts = attr.AttributionOptions()
            yield (
                f"attribution {by} {grain}",
                attr.attribution_stmt(PERIOD, opts, by=by, grain=grain),
            )
    for i, stmt in enumerate(tx._all_statements()):
        yield f"experiment statement {i}", stmt


@pytest.mark.parametrize("dialect_name", list(DIALECTS))
def test_every_statement_compiles(dialect_name: str) -> None:
    dialect = DIALECTS[dialect_name]()
    compiled = 0
    for label, stmt in _statements(dialect_name):
        sql = str(stmt.compile(dialect=dialect)).lower()
        assert "select" in sql, label
        compiled += 1
    assert compiled > 2 * len(KPIS) + 20
