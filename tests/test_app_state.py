"""The app-state store and the decision log on real SQLite, DuckDB and PostgreSQL databases.

References are independent of the code under test: the inputs themselves, ``json`` round trips,
raw SQL reads of the stored rows, and per-thread bookkeeping in the concurrency tests.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, inspect, text

from data import warehouse
from data.app_state import decisions as app_state_decisions
from data.app_state import store as app_state
from data.app_state.decisions import DecisionKind, DecisionValidationError
from data.app_state.store import AppStateError, AppStateStore, open_store

BACKENDS = ["sqlite_url", "duckdb_url", pytest.param("pg_url", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(request.param)


@pytest.fixture
def store(url: str) -> Iterator[AppStateStore]:
    opened = open_store(url)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[AppStateStore]:
    opened = open_store(sqlite_url)
    yield opened
    opened.close()


def _record(store: AppStateStore, **overrides: object) -> app_state_decisions.DecisionRecord:
    fields: dict[str, object] = {
        "experiment_id": "exp-checkout",
        "decision": "ship",
        "rationale": "Conversion up, guardrails flat.",
        "decided_by": "Ada",
        "evidence": {"lift": 0.042, "p_value": 0.003},
    }
    fields.update(overrides)
    return app_state_decisions.record_decision(store, **fields)  # type: ignore[arg-type]


def _raw_rows(url: str) -> list[dict]:
    """The stored decision rows read with plain SQL, outside the module under test."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            result = conn.execute(text("SELECT * FROM decisions ORDER BY experiment_id, version"))
            return [dict(row) for row in result.mappings()]
    finally:
        engine.dispose()


# --- round trip -------------------------------------------------------------------------------


EVIDENCE = {
    "metric": "checkout_conversion",
    "arms": [
        {"variant": "control", "users": 10_412, "rate": 0.1213},
        {"variant": "treatment", "users": 10_377, "rate": 0.1264},
    ],
    "lift": 0.0420,
    "ci": (0.011, 0.073),
    "p_value": 3.1e-3,
    "srm_ok": True,
    "note": 'Ünïcode ✓ and "quotes"',
    "missing": None,
}


def test_round_trip_all_fields(store: AppStateStore, url: str) -> None:
    before = datetime.now(UTC)
    written = _record(
        store,
        experiment_id="  exp-checkout ",
        decision="Ship",
        decided_by=" Ada Lovelace ",
        evidence=EVIDENCE,
        recommendation_at_decision="ship",
        followed_recommendation=True,
        target_kpi="checkout_conversion",
        expected_impact=0.035,
        rollout_date=date(2026, 12, 1),
    )
    after = datetime.now(UTC)

    assert written.experiment_id == "exp-checkout"
    assert written.decided_by == "Ada Lovelace"
    assert written.decision is DecisionKind.SHIP
    assert written.version == 1
    assert len(written.decision_id) == 32 and int(written.decision_id, 16) >= 0
    assert written.recorded_at.tzinfo is UTC
    assert before <= written.recorded_at <= after
    assert written.evidence == json.loads(json.dumps(EVIDENCE))  # tuples come back as lists
    assert written.expected_impact == 0.035  # exact: a double, not a 32-bit float

    # What a later read returns equals what the write returned, field for field.
    assert app_state_decisions.decision_history(store, "exp-checkout") == [written]
    assert app_state_decisions.current_decisions(store) == {"exp-checkout": written}
    assert app_state_decisions.all_decisions(store) == [written]

    # The stored row, read with plain SQL: evidence is JSON text, the rest as given.
    store.close()
    (raw,) = _raw_rows(url)
    assert json.loads(raw["evidence"]) == json.loads(json.dumps(EVIDENCE))
    assert raw["decision"] == "ship"
    assert raw["version"] == 1
    assert raw["expected_impact"] == 0.035
    assert str(raw["rollout_date"]) == "2026-12-01"


def test_optional_fields_default_to_none(store: AppStateStore) -> None:
    written = _record(store, decision=DecisionKind.EXTEND, recommendation_at_decision="  ")
    (read,) = app_state_decisions.decision_history(store, "exp-checkout")
    assert read == written
    for field in (
        "recommendation_at_decision",
        "followed_recommendation",
        "target_kpi",
        "expected_impact",
        "rollout_date",
    ):
        assert getattr(read, field) is None, field


@pytest.mark.parametrize(
    "recorded_at",
    [
        datetime(2026, 3, 4, 11, 30, 15),  # naive: taken as UTC
        datetime(2026, 3, 4, 12, 30, 15, tzinfo=timezone(timedelta(hours=1))),  # same instant
    ],
)
def test_backfilled_recorded_at_round_trips(
    store: AppStateStore, url: str, recorded_at: datetime
) -> None:
    written = _record(store, recorded_at=recorded_at)
    _record(store, decision="kill")  # a later version without it is stamped now
    first, second = app_state_decisions.decision_history(store, "exp-checkout")
    assert first == written
    assert first.recorded_at == datetime(2026, 3, 4, 11, 30, 15, tzinfo=UTC)
    assert (first.version, second.version) == (1, 2)
    assert second.recorded_at > datetime.now(UTC) - timedelta(minutes=5)
    raw = _raw_rows(url)[0]["recorded_at"]  # stored as naive UTC, read outside the module
    assert str(raw).startswith("2026-03-04 11:30:15")


def test_followed_recommendation_false_round_trips(sqlite_store: AppStateStore) -> None:
    _record(sqlite_store, decision="kill", recommendation_at_decision="ship",
            followed_recommendation=False)  # fmt: skip
    (read,) = app_state_decisions.decision_history(sqlite_store, "exp-checkout")
    assert read.followed_recommendation is False
    assert read.recommendation_at_decision == "ship"


@pytest.mark.parametrize(
    "evidence",
    [
        {},
        {"nested": {"deeper": {"list": [1, 2.5, "x", None, True, [False]]}}},
        {"big_int": 2**53 + 1, "tiny": 5e-324, "negative": -0.25},
        {"tuple": (1, (2, 3))},
    ],
    ids=["empty", "nested", "numbers", "tuples"],
)
def test_evidence_round_trips_as_json(sqlite_store: AppStateStore, evidence: dict) -> None:
    _record(sqlite_store, evidence=evidence)
    (read,) = app_state_decisions.decision_history(sqlite_store, "exp-checkout")
    assert read.evidence == json.loads(json.dumps(evidence))


def test_numpy_scalars_in_evidence_become_python_numbers(sqlite_store: AppStateStore) -> None:
    evidence = {"n": np.int64(10_412), "rate": np.float64(0.1213), "ok": np.bool_(True)}
    _record(sqlite_store, evidence=evidence, expected_impact=np.float32(0.5))
    (read,) = app_state_decisions.decision_history(sqlite_store, "exp-checkout")
    assert read.evidence == {"n": 10_412, "rate": 0.1213, "ok": True}
    assert [type(v) for v in read.evidence.values()] == [int, float, bool]
    assert read.expected_impact == 0.5


# --- versioning -------------------------------------------------------------------------------


def test_changes_are_new_versions(store: AppStateStore, url: str) -> None:
    first = _record(store, decision="extend", rationale="Underpowered; run two more weeks.")
    other = _record(store, experiment_id="exp-onboarding", decision="kill")
    second = _record(store, decision="iterate", rationale="Flat on mobile; redesign.")
    third = _record(store, decision="ship", rationale="Redesign won.", decided_by="Grace")

    assert [first.version, second.version, third.version] == [1, 2, 3]
    assert other.version == 1
    history = app_state_decisions.decision_history(store, "exp-checkout")
    assert history == [first, second, third]  # oldest first, earlier versions untouched
    assert [r.decision for r in history] == ["extend", "iterate", "ship"]
    assert app_state_decisions.current_decisions(store) == {
        "exp-checkout": third,
        "exp-onboarding": other,
    }
    assert app_state_decisions.all_decisions(store) == [first, second, third, other]
    assert app_state_decisions.decision_history(store, "exp-unknown") == []

    # Append-only: three rows for the experiment, each with its own id.
    store.close()
    raw = [r for r in _raw_rows(url) if r["experiment_id"] == "exp-checkout"]
    assert [r["version"] for r in raw] == [1, 2, 3]
    assert len({r["decision_id"] for r in raw}) == 3


def test_empty_store_has_no_decisions(store: AppStateStore) -> None:
    assert app_state_decisions.current_decisions(store) == {}
    assert app_state_decisions.all_decisions(store) == []


# --- concurrency ------------------------------------------------------------------------------

THREADS = 16
PER_THREAD = 10
EXPERIMENTS = 4  # 4 threads share each experiment id


def _hammer(store: AppStateStore) -> list[BaseException]:
    """16 threads x 10 decisions, started together; returns the exceptions raised."""
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        barrier.wait()
        try:
            for seq in range(PER_THREAD):
                _record(
                    store,
                    experiment_id=f"exp-{thread % EXPERIMENTS}",
                    decision=list(DecisionKind)[seq % 4],
                    decided_by=f"user-{thread}",
                    evidence={"thread": thread, "seq": seq},
                )
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.parametrize(
    "backend", ["sqlite_url", "duckdb_url", pytest.param("pg_url", marks=pytest.mark.postgres)]
)
def test_concurrent_writers_lose_nothing(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(backend)
    store = open_store(url)
    try:
        assert _hammer(store) == []
        rows = app_state_decisions.all_decisions(store)
    finally:
        store.close()

    assert len(rows) == THREADS * PER_THREAD
    # Every (thread, seq) written exactly once.
    written = Counter((r.evidence["thread"], r.evidence["seq"]) for r in rows)
    assert set(written) == {(t, s) for t in range(THREADS) for s in range(PER_THREAD)}
    assert set(written.values()) == {1}
    assert len({r.decision_id for r in rows}) == len(rows)
    per_experiment = THREADS // EXPERIMENTS * PER_THREAD
    for exp in range(EXPERIMENTS):
        mine = [r for r in rows if r.experiment_id == f"exp-{exp}"]
        assert sorted(r.version for r in mine) == list(range(1, per_experiment + 1))
        # Each thread wrote sequentially, so its own versions increase with its sequence.
        for thread in range(exp, THREADS, EXPERIMENTS):
            by_seq = sorted((r.evidence["seq"], r.version) for r in mine
                            if r.evidence["thread"] == thread)  # fmt: skip
            versions = [v for _, v in by_seq]
            assert versions == sorted(versions)
    # Same check with plain SQL: no duplicate (experiment_id, version) and no gaps.
    raw = _raw_rows(url)
    assert len(raw) == THREADS * PER_THREAD
    for exp in range(EXPERIMENTS):
        versions = [r["version"] for r in raw if r["experiment_id"] == f"exp-{exp}"]
        assert versions == list(range(1, per_experiment + 1))


@pytest.mark.parametrize(
    "backend", ["sqlite_url", "duckdb_url", pytest.param("pg_url", marks=pytest.mark.postgres)]
)
def test_concurrent_first_opens_create_schema_once(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(backend)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            open_store(url).close()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version FROM schema_version")).scalars().all()
    finally:
        engine.dispose()
    assert versions == [app_state.SCHEMA_VERSION]


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"decision": "launch"}, "decision 'launch' is unknown; use one of ship, iterate"),
        ({"decision": None}, "decision None is unknown"),
        ({"rationale": "   "}, "rationale is empty"),
        ({"rationale": "x" * 10_001}, "rationale is 10,001 characters long; the limit is 10,000"),
        ({"decided_by": ""}, "decided_by (your name) is empty"),
        ({"decided_by": "n" * 201}, "decided_by (your name) is 201 characters long"),
        ({"decided_by": 42}, "decided_by (your name) must be text, got int"),
        ({"experiment_id": ""}, "experiment_id is empty"),
        ({"experiment_id": "e" * 65}, "experiment_id is 65 characters long; the limit is 64"),
        ({"target_kpi": "k" * 65}, "target_kpi is 65 characters long"),
        ({"recommendation_at_decision": "r" * 65}, "recommendation_at_decision is 65 char"),
        ({"evidence": [1, 2]}, "evidence must be a dict of the numbers shown, got list"),
        ({"evidence": {"when": date(2026, 1, 1)}}, "evidence['when'] is a date, which JSON"),
        ({"evidence": {"arms": [{"p": float("nan")}]}}, "evidence['arms'][0]['p'] is nan"),
        ({"evidence": {"x": float("inf")}}, "evidence['x'] is inf: JSON has no NaN"),
        ({"evidence": {1: "a"}}, "evidence has the key 1; keys must be text"),
        ({"evidence": {"s": {1, 2}}}, "evidence['s'] is a set"),
        ({"evidence": {"blob": "b" * 100_001}}, "the limit is 100,000"),
        ({"expected_impact": "5%"}, "expected_impact must be a number (a fraction), got '5%'"),
        ({"expected_impact": True}, "expected_impact must be a number"),
        ({"expected_impact": float("nan")}, "expected_impact must be a finite fraction"),
        ({"rollout_date": "2026-12-01"}, "rollout_date must be a date"),
        ({"rollout_date": datetime(2026, 12, 1, 9)}, "rollout_date must be a date (no time"),
        (
            {"followed_recommendation": "yes", "recommendation_at_decision": "ship"},
            "followed_recommendation must be True, False or None, got 'yes'",
        ),  # fmt: skip
        ({"followed_recommendation": True}, "followed_recommendation needs the recommendation"),
        ({"recorded_at": date(2026, 1, 5)}, "recorded_at must be a datetime in UTC"),
        ({"recorded_at": "2026-01-05T10:00"}, "recorded_at must be a datetime in UTC"),
        ({"recorded_at": datetime(2999, 1, 1, tzinfo=UTC)}, "is in the future"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(
    sqlite_store: AppStateStore, overrides: dict, message: str
) -> None:
    with pytest.raises(DecisionValidationError) as caught:
        _record(sqlite_store, **overrides)
    assert len(caught.value.issues) == 1
    assert message in caught.value.issues[0]
    assert str(caught.value).startswith("Decision not recorded: ")
    assert isinstance(caught.value, ValueError)
    assert app_state_decisions.all_decisions(sqlite_store) == []  # nothing written


def test_all_problems_are_reported_at_once(sqlite_store: AppStateStore) -> None:
    with pytest.raises(DecisionValidationError) as caught:
        _record(sqlite_store, decision="maybe", rationale="", decided_by=" ", evidence=None)
    issues = caught.value.issues
    assert len(issues) == 4
    assert any("decision 'maybe' is unknown" in i for i in issues)
    assert any("rationale is empty" in i for i in issues)
    assert any("decided_by (your name) is empty" in i for i in issues)
    assert any("evidence must be a dict" in i for i in issues)


def test_self_referencing_evidence_is_rejected(sqlite_store: AppStateStore) -> None:
    loop: dict = {}
    loop["self"] = loop
    with pytest.raises(DecisionValidationError, match="nested too deeply"):
        _record(sqlite_store, evidence=loop)


# --- location and configuration ---------------------------------------------------------------


@pytest.fixture
def isolated_config(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """No secrets file, no env var, and the default file under tmp_path."""
    monkeypatch.setattr(warehouse, "SECRETS_PATH", tmp_path / "secrets.toml")
    monkeypatch.setattr(app_state, "DEFAULT_PATH", tmp_path / "state" / "app_state.sqlite")
    monkeypatch.delenv(app_state.ENV_VAR, raising=False)
    return tmp_path


def test_default_is_an_embedded_sqlite_file_in_wal_mode(isolated_config) -> None:
    config = app_state.resolve_config()
    assert config.source == "default"
    store = open_store()
    try:
        _record(store)
        assert store.dialect == "sqlite"
    finally:
        store.close()
    path = isolated_config / "state" / "app_state.sqlite"
    assert path.exists()  # the folder was created too
    with sqlite3.connect(path) as conn:  # independent of SQLAlchemy
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == 1


def test_sqlite_connections_wait_for_the_write_lock(sqlite_store: AppStateStore) -> None:
    with sqlite_store.read() as conn:
        timeout_ms = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    assert timeout_ms == app_state.BUSY_TIMEOUT_S * 1000


def test_env_var_then_secrets_take_precedence(isolated_config, monkeypatch) -> None:
    env_url = f"sqlite:///{isolated_config / 'env.sqlite'}"
    monkeypatch.setenv(app_state.ENV_VAR, env_url)
    assert app_state.resolve_config() == app_state.AppStateConfig(env_url, "env")

    secrets_url = "postgresql+psycopg://looplens:s3cret@db.internal:5432/state"
    (isolated_config / "secrets.toml").write_text(
        '[connections.warehouse]\nurl = "duckdb:///w.duckdb"\n'
        f'[connections.app_state]\nurl = "{secrets_url}"\n'
    )
    config = app_state.resolve_config()
    assert config == app_state.AppStateConfig(secrets_url, "secrets")
    assert "s3cret" not in config.masked_url
    assert "s3cret" not in repr(config)
    assert app_state.resolve_config("sqlite:///given.sqlite").url == "sqlite:///given.sqlite"

    monkeypatch.setattr(warehouse, "SECRETS_PATH", isolated_config / "absent.toml")
    store = open_store()
    try:
        assert store.config.source == "env"
        assert store.engine.url.database == str(isolated_config / "env.sqlite")
    finally:
        store.close()


def test_schema_is_separate_from_the_warehouse_contract(store: AppStateStore) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert tables == {
        "alert_episodes",
        "alert_rules",
        "approvals",
        "decisions",
        "schema_version",
        "targets",
    }


# --- errors -----------------------------------------------------------------------------------


def test_read_only_database_can_be_read_but_not_written(sqlite_url: str, tmp_path) -> None:
    writable = open_store(sqlite_url)
    first = _record(writable)
    writable.close()

    path = tmp_path / "warehouse.sqlite"  # the sqlite_url fixture's file
    read_only = open_store(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        assert app_state_decisions.decision_history(read_only, "exp-checkout") == [first]
        with pytest.raises(AppStateError) as caught:
            _record(read_only, decision="kill")
    finally:
        read_only.close()
    assert caught.value.title == "The app-state store is read-only"
    assert "write access" in caught.value.fix


def test_unreachable_server_is_reported() -> None:
    url = "postgresql+psycopg://looplens:hunter2@127.0.0.1:1/state?connect_timeout=2"
    with pytest.raises(AppStateError) as caught:
        open_store(url)
    error = caught.value
    assert error.title == "The app-state store is unreachable"
    assert "127.0.0.1" in error.detail
    assert "hunter2" not in str(error)
    assert app_state.ENV_VAR in error.fix


@pytest.mark.parametrize(
    ("url", "title"),
    [
        ("not a url", "The app-state URL is not valid"),
        ("nosuchdialect://host/db", "The app-state URL is not usable"),
        ("postgresql+psycopg://u@host:port/db", "The app-state URL is not"),
    ],
)
def test_bad_urls_are_reported(url: str, title: str) -> None:
    with pytest.raises(AppStateError) as caught:
        open_store(url)
    assert caught.value.title.startswith(title)
    assert str(caught.value).startswith(caught.value.title)


def test_duckdb_file_held_by_another_process_is_reported(duckdb_url: str, tmp_path) -> None:
    path = tmp_path / "warehouse.duckdb"  # the duckdb_url fixture's file
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_DUCKDB, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(AppStateError) as caught:
            open_store(duckdb_url)
    finally:
        holder.kill()
        holder.wait()
    assert caught.value.title == "The app-state store is locked by another process"
    assert "one process" in caught.value.fix


HOLD_DUCKDB = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(60)
"""


def test_folder_that_cannot_be_created_is_reported(tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(AppStateError, match="folder cannot be created"):
        open_store(f"sqlite:///{blocker / 'sub' / 'app_state.sqlite'}")


def test_a_newer_schema_is_refused(store: AppStateStore, url: str) -> None:
    store.close()
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO schema_version (version, applied_at) VALUES (:v, :t)"),
                {"v": app_state.SCHEMA_VERSION + 1, "t": datetime(2030, 1, 1)},
            )
    finally:
        engine.dispose()
    with pytest.raises(AppStateError, match="newer than this LoopLens"):
        open_store(url)


def test_reopening_keeps_data_and_schema_version(url: str) -> None:
    store = open_store(url)
    written = _record(store)
    store.close()
    again = open_store(url)
    try:
        assert app_state_decisions.current_decisions(again) == {"exp-checkout": written}
        with again.read() as conn:
            versions = conn.execute(text("SELECT version FROM schema_version")).scalars().all()
        assert versions == [app_state.SCHEMA_VERSION]
    finally:
        again.close()


# --- durability under kill -9 -----------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent

_KILLED_WRITER = """
import sys
from data.app_state.decisions import record_decision
from data.app_state.store import open_store
store = open_store(sys.argv[1])
for seq in range(10_000):
    record_decision(store, experiment_id=f"exp-{seq % 3}", decision="iterate",
                    rationale="r" * 2000, decided_by="killed", evidence={"seq": seq})
    print(seq, flush=True)  # acknowledged: committed before this line
"""


@pytest.mark.parametrize(
    "backend", ["sqlite_url", pytest.param("pg_url", marks=pytest.mark.postgres)]
)
def test_kill_9_mid_write_loses_no_acknowledged_decision(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """A writer SIGKILLed while appending: every decision it acknowledged is stored whole, no
    partial row exists, and the store opens and appends again (five kills in a row)."""
    import signal

    url = request.getfixturevalue(backend)
    open_store(url).close()  # the schema exists before the writers race to it
    acknowledged = 0
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", _KILLED_WRITER, url],
            stdout=subprocess.PIPE, text=True, cwd=str(ROOT),
        )  # fmt: skip
        seen = 0
        for _line in proc.stdout:  # type: ignore[union-attr]
            seen += 1
            if seen >= 15:  # mid-stream: the next append is in flight
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=60)
        proc.stdout.close()  # type: ignore[union-attr]
        assert proc.returncode == -signal.SIGKILL
        acknowledged += seen
    store = open_store(url)
    try:
        rows = app_state_decisions.all_decisions(store)
        _record(store, experiment_id="exp-after", decided_by="survivor")
    finally:
        store.close()
    # every acknowledged append is there; at most one more per kill (committed, not yet printed)
    assert acknowledged <= len(rows) <= acknowledged + 5
    assert all(len(r.rationale) == 2000 and r.decided_by == "killed" for r in rows)  # ...whole
    raw = _raw_rows(url)
    assert len(raw) == len(rows) + 1  # plain SQL sees the same rows, plus the one after
    for exp in range(3):  # versions stay gap-free per experiment
        versions = sorted(r["version"] for r in raw if r["experiment_id"] == f"exp-{exp}")
        assert versions == list(range(1, len(versions) + 1))
