"""Approvals and the v1 -> v2 schema migration, on real SQLite, DuckDB and PostgreSQL databases.

References are raw SQL reads of the stored rows and the inputs themselves.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, MetaData, Table, create_engine, insert, inspect, text

from data.app_state import store as app_state
from data.app_state.approvals import approvals_for, approve_decision
from data.app_state.decisions import (
    DecisionValidationError,
    decision_history,
    record_decision,
)
from data.app_state.store import AppStateStore, open_store

BACKENDS = ["sqlite_url", "duckdb_url", pytest.param("pg_url", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(request.param)


@pytest.fixture
def store(url: str) -> Iterator[AppStateStore]:
    opened = open_store(url)
    yield opened
    opened.close()


def _decide(store: AppStateStore, by: str = "ana@example.com", verified: bool = True) -> int:
    return record_decision(
        store,
        experiment_id="exp-a",
        decision="ship",
        rationale="Clear win.",
        decided_by=by,
        evidence={"lift": 0.04},
        identity_verified=verified,
    ).version


def test_approving_the_current_version_is_stored_with_who_and_when(
    store: AppStateStore, url: str
) -> None:
    version = _decide(store)
    before = datetime.now(UTC)
    record = approve_decision(
        store,
        experiment_id="exp-a",
        version=version,
        approved_by=" lead@example.com ",
        identity_verified=True,
        note="Agreed.",
    )
    assert (record.version, record.approved_by, record.note) == (1, "lead@example.com", "Agreed.")
    assert before - timedelta(seconds=1) <= record.approved_at <= datetime.now(UTC)
    assert approvals_for(store, "exp-a") == {1: record}
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            raw = conn.execute(text("SELECT * FROM approvals")).mappings().all()
            decided = conn.execute(text("SELECT decision_id, identity_verified FROM decisions"))
            decision_id, verified = decided.one()
    finally:
        engine.dispose()
    assert len(raw) == 1
    assert raw[0]["decision_id"] == decision_id and raw[0]["approved_by"] == "lead@example.com"
    assert bool(raw[0]["identity_verified"]) is True and bool(verified) is True
    assert decision_history(store, "exp-a")[0].identity_verified is True


def test_a_new_version_needs_its_own_approval(store: AppStateStore) -> None:
    _decide(store)
    approve_decision(
        store, experiment_id="exp-a", version=1, approved_by="lead@x.io", identity_verified=True
    )
    assert _decide(store) == 2
    assert set(approvals_for(store, "exp-a")) == {1}  # version 2 is awaiting approval
    with pytest.raises(DecisionValidationError, match="superseded by version 2"):
        approve_decision(
            store, experiment_id="exp-a", version=1, approved_by="b@x.io", identity_verified=True
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"version": 3}, "has no decision version 3"),
        ({"experiment_id": "exp-none", "version": 1}, "exp-none has no decision version 1"),
        ({"approved_by": "ANA@example.com"}, "recorded this decision and cannot also approve it"),
        ({"approved_by": "  "}, "approved_by (your name) is empty"),
        ({"version": 0}, "version must be a decision version"),
        ({"version": True}, "version must be a decision version"),
        ({"identity_verified": "yes"}, "identity_verified must be True or False"),
    ],
)
def test_bad_approvals_are_refused_with_a_clear_message(
    sqlite_url: str, kwargs: dict, message: str
) -> None:
    store = open_store(sqlite_url)
    try:
        _decide(store)
        args = {
            "experiment_id": "exp-a",
            "version": 1,
            "approved_by": "lead@example.com",
            "identity_verified": True,
            **kwargs,
        }
        with pytest.raises(DecisionValidationError, match=re.escape(message)):
            approve_decision(store, **args)
        assert approvals_for(store, "exp-a") == {}
    finally:
        store.close()


def test_typed_names_are_not_treated_as_the_same_person(sqlite_url: str) -> None:
    """The four-eyes rule compares verified identities only; local mode cannot verify names."""
    store = open_store(sqlite_url)
    try:
        _decide(store, by="Ana", verified=False)
        record = approve_decision(
            store, experiment_id="exp-a", version=1, approved_by="Ana", identity_verified=False
        )
        assert record.identity_verified is False
    finally:
        store.close()


def test_concurrent_approvers_store_exactly_one_approval(url: str) -> None:
    setup = open_store(url)
    _decide(setup)
    setup.close()
    results: list[str] = []
    lock = threading.Lock()

    def approve(i: int) -> None:
        store = open_store(url)
        try:
            approve_decision(
                store,
                experiment_id="exp-a",
                version=1,
                approved_by=f"lead{i}@x.io",
                identity_verified=True,
            )
            outcome = "ok"
        except DecisionValidationError as exc:
            outcome = exc.issues[0]
        finally:
            store.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=approve, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1, results
    assert all("already approved by lead" in r for r in results if r != "ok"), results
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT COUNT(*) FROM approvals")) == 1
    finally:
        engine.dispose()


def test_a_version_1_store_is_migrated_and_keeps_its_decisions(url: str) -> None:
    """A store written by LoopLens before approvals (schema 1) opens, gains the new column and
    table, and its old decisions read back with identity_verified None."""
    v1 = MetaData()
    Table(
        "schema_version",
        v1,
        *(
            Column(c.name, c.type, primary_key=c.primary_key, autoincrement=False)
            for c in app_state.schema_version.c
        ),
    )
    Table(
        "decisions",
        v1,
        *(
            Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in app_state.decisions.c
            if c.name != "identity_verified"
        ),
    )
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            v1.create_all(conn)
            stamp = datetime(2026, 1, 1)
            conn.execute(insert(v1.tables["schema_version"]).values(version=1, applied_at=stamp))
            conn.execute(
                insert(v1.tables["decisions"]).values(
                    decision_id="d" * 32, experiment_id="exp-old", version=1, decision="kill",
                    rationale="Old.", decided_by="Someone", evidence="{}",
                    recorded_at=datetime(2026, 1, 2),
                )
            )  # fmt: skip
    finally:
        engine.dispose()

    store = open_store(url)
    try:
        assert "approvals" in inspect(store.engine).get_table_names()
        (old,) = decision_history(store, "exp-old")
        assert (old.decided_by, old.identity_verified) == ("Someone", None)
        with store.read() as conn:
            versions = conn.execute(text("SELECT version FROM schema_version ORDER BY version"))
            assert versions.scalars().all() == [1, app_state.SCHEMA_VERSION]
        approve_decision(
            store,
            experiment_id="exp-old",
            version=1,
            approved_by="lead@x.io",
            identity_verified=True,
        )
        assert approvals_for(store, "exp-old")[1].approved_by == "lead@x.io"
    finally:
        store.close()
    reopened = open_store(url)  # a second open migrates nothing more
    try:
        with reopened.read() as conn:
            assert conn.scalar(text("SELECT COUNT(*) FROM schema_version")) == 2
    finally:
        reopened.close()
