"""KPI targets (append-only, versioned) on SQLite, DuckDB and PostgreSQL, and their pace.

References: raw SQL reads of the stored rows, and pace/progress computed by hand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from data.app_state.store import AppStateStore, open_store
from data.app_state.targets import (
    TargetValidationError,
    current_targets,
    record_target,
    target_history,
)
from metrics.targets import PaceStatus, pace

BACKENDS = ["sqlite_url", "duckdb_url", pytest.param("pg_url", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[AppStateStore]:
    opened = open_store(request.getfixturevalue(request.param))
    yield opened
    opened.close()


def _set(store: AppStateStore, value: float, by: str = "ana", **kw: object):
    args = dict(
        kpi="cac",
        value=value,
        direction="lower",
        deadline=dt.date(2026, 12, 31),
        owner="Growth lead",
        changed_by=by,
        baseline=120.0,
        set_on=dt.date(2026, 7, 1),
    )
    args.update(kw)
    return record_target(store, **args)  # type: ignore[arg-type]


def test_versions_append_and_current_is_latest(store: AppStateStore) -> None:
    _set(store, 100.0)
    _set(store, 95.0, by="bo")
    _set(store, 0.05, kpi="conversion_rate", direction="higher", scope_kind="segment",
         scope_value="smb", baseline=0.04)  # fmt: skip
    with store.read() as conn:
        rows = conn.execute(
            text("SELECT kpi, version, value, changed_by FROM targets ORDER BY kpi, version")
        ).all()
    assert [tuple(r) for r in rows] == [
        ("cac", 1, 100.0, "ana"),
        ("cac", 2, 95.0, "bo"),
        ("conversion_rate", 1, 0.05, "ana"),
    ]
    current = {t.kpi: t for t in current_targets(store)}
    assert current["cac"].value == 95.0 and current["cac"].version == 2
    assert current["conversion_rate"].scope_value == "smb"
    assert len(target_history(store)) == 3
    _set(store, 95.0, by="cy", active=False)  # retired: a new version, not a delete
    assert [t.kpi for t in current_targets(store)] == ["conversion_rate"]
    assert len(target_history(store)) == 4


def test_bad_input_lists_every_problem(store: AppStateStore) -> None:
    with pytest.raises(TargetValidationError) as err:
        record_target(
            store, kpi="nope", value=float("nan"), direction="up", deadline=dt.date(2020, 1, 1),
            owner=" ", changed_by="", scope_kind="channel", scope_value="fax",
        )  # fmt: skip
    assert len(err.value.issues) >= 5
    assert current_targets(store) == []


def test_pace_by_hand() -> None:
    # CAC 120 → 100 over 100 days; on day 50 the linear pace expects 110.
    kw = dict(value=100.0, direction="lower", baseline=120.0, set_on=dt.date(2026, 1, 1),
              deadline=dt.date(2026, 4, 11), today=dt.date(2026, 2, 20))  # fmt: skip
    on = pace(current=108.0, **kw)  # type: ignore[arg-type]
    assert on.expected_now == pytest.approx(110.0)
    assert on.progress == pytest.approx(12 / 20)
    assert on.status is PaceStatus.ON_TRACK and on.days_left == 50
    behind = pace(current=113.0, **kw)  # type: ignore[arg-type]
    assert behind.status is PaceStatus.BEHIND and behind.progress == pytest.approx(7 / 20)
    assert pace(current=99.0, **kw).status is PaceStatus.REACHED  # type: ignore[arg-type]
    late = dict(kw, today=dt.date(2026, 5, 1))
    assert pace(current=105.0, **late).status is PaceStatus.MISSED  # type: ignore[arg-type]
    # higher is better, no baseline: progress = current / target, pace unknown
    up = pace(value=0.05, direction="higher", baseline=None, set_on=dt.date(2026, 1, 1),
              deadline=dt.date(2026, 3, 1), current=0.04, today=dt.date(2026, 2, 1))  # fmt: skip
    assert up.progress == pytest.approx(0.8) and up.status is PaceStatus.UNKNOWN
