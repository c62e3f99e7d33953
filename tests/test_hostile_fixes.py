"""Regression tests for the failures issue 12's hostile-input corpus found, one (or more) per
failure, each failing on the code before its fix. The broad matrices are in
tests/test_hostile_urls.py and tests/test_hostile_warehouse.py."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
import shutil
import subprocess
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from components.channel_charts import spend_roas_figure
from components.downloads import csv_bytes, neutralise_cell
from components.lifecycle_charts import sankey_figure
from data.app_state import decisions as app_decisions
from data.app_state import store as app_store
from data.warehouse import mask_url, open_engine
from metrics.experiments.data import list_experiments
from metrics.experiments.definitions import get_metric
from metrics.experiments.evolve import learnings
from metrics.experiments.sql import MAX_DAILY_DAYS, fetch_daily_stats
from metrics.experiments.summary_csv import MAX_BYTES, MAX_VARIANTS, parse_summary_csv
from tests.hostile_helpers import (
    INJECTED_HTML,
    PLANTED_SECRET,
    ROOT,
    new_app,
    problems,
    rendered_text,
)

# --- shared demo warehouse ------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    from data.demo import generator as demo

    path = tmp_path_factory.mktemp("hostile_fixes") / "demo.duckdb"
    demo.generate(str(path), customers=1_000, seed=6)
    return path


@pytest.fixture
def copy_of_demo(demo_file: Path, tmp_path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_file, path)
    return path


@pytest.fixture
def app_env(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LOOPLENS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    monkeypatch.setenv("LOOPLENS_SERVING_URL", f"duckdb:///{tmp_path / 'serving.duckdb'}")


def _mutate(path: Path, *statements: str) -> None:
    con = duckdb.connect(str(path))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


def _unconstrained(table: str) -> tuple[str, ...]:
    return (
        f"CREATE TABLE _t AS SELECT * FROM {table}",
        f"DROP TABLE {table}",
        f"ALTER TABLE _t RENAME TO {table}",
    )


# --- a touchpoint dated 9999-12-31 ----------------------------------------------------------


def test_a_touchpoint_dated_9999_is_ignored_with_a_note(copy_of_demo, app_env, monkeypatch):
    _mutate(
        copy_of_demo,
        "UPDATE touchpoints SET occurred_at = TIMESTAMP '9999-12-31 00:00:00' "
        "WHERE touchpoint_id = (SELECT min(touchpoint_id) FROM touchpoints)",
    )
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{copy_of_demo}")
    at = new_app()
    at.run()
    assert problems(at) == []
    notes = " ".join(w.value for w in at.sidebar.warning)
    assert "9999-12-31" in notes
    start, end = at.session_state["filter_dates"]
    assert end <= dt.date.today() + dt.timedelta(days=40)


# --- Quick analysis: caps and bounded work --------------------------------------------------


def _summary(n: int, *, name: str = "v") -> str:
    rows = ["variant,units,conversions,is_control"]
    rows += [f"{name}{i},10000,{400 + i},{'true' if i == 0 else 'false'}" for i in range(n)]
    return "\n".join(rows) + "\n"


def test_variant_cap_in_the_parser() -> None:
    assert parse_summary_csv(_summary(MAX_VARIANTS)).ok
    refused = parse_summary_csv(_summary(2_000))
    assert not refused.ok and "2,000 variant rows" in refused.errors[0]
    assert f"at most {MAX_VARIANTS}" in refused.errors[0]


def test_size_cap_applies_to_pasted_text_and_bytes() -> None:
    big = "variant,units,conversions\n" + "a,1,1\n" * (MAX_BYTES // 6 + 10)
    for source in (big, big.encode()):
        parsed = parse_summary_csv(source)
        assert not parsed.ok and f"{MAX_BYTES:,} accepted" in parsed.errors[0]


def test_nul_bytes_and_error_floods_are_refused_briefly() -> None:
    assert "NUL" in parse_summary_csv("variant,units\x00,conversions\na,1,1\n").errors[0]
    bad = "variant,units,conversions\n" + "".join(f"v{i},x,y\n" for i in range(MAX_VARIANTS))
    errors = parse_summary_csv(bad).errors
    assert len(errors) == 21 and errors[-1].startswith("… and ")


@pytest.fixture
def quick_page(demo_file, app_env, monkeypatch):
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{demo_file}")
    at = new_app()
    at.run()
    at.switch_page("pages/quick_analysis.py")
    at.run()
    assert problems(at) == []
    return at


def test_a_paste_of_2000_variants_is_refused_at_once(quick_page) -> None:
    t0 = time.process_time()
    quick_page.text_area(key="qa_paste").set_value(_summary(2_000)).run()
    cpu = time.process_time() - t0
    assert problems(quick_page) == []
    assert any("2,000 variant rows" in e.value for e in quick_page.error)
    assert cpu < 3.0, f"{cpu:.1f} s of CPU for a refused paste (was 16 s before the cap)"


def test_an_upload_over_the_cap_is_refused(quick_page) -> None:
    quick_page.radio(key="qa_input").set_value("Upload a file").run()
    payload = (_summary(MAX_VARIANTS) * 4000).encode()[:4_900_000]
    t0 = time.process_time()
    quick_page.get("file_uploader")[0].set_value(("big.csv", payload, "text/csv")).run()
    cpu = time.process_time() - t0
    assert problems(quick_page) == []
    assert any(f"{MAX_BYTES:,} accepted" in e.value for e in quick_page.error)
    assert cpu < 3.0, f"{cpu:.1f} s of CPU for a refused upload (ran 9+ minutes before)"


@pytest.mark.parametrize("engine_kind", ["frequentist", "bayesian", "sequential"])
def test_the_largest_accepted_analysis_is_bounded(quick_page, engine_kind) -> None:
    """The worst case the caps allow (MAX_VARIANTS variants, CUPED asked for) stays cheap."""
    quick_page.radio(key="qa_engine").set_value(engine_kind).run()
    quick_page.toggle(key="qa_cuped").set_value(True).run()
    t0 = time.process_time()
    quick_page.text_area(key="qa_paste").set_value(_summary(MAX_VARIANTS)).run()
    cpu = time.process_time() - t0
    assert problems(quick_page) == []
    assert not quick_page.error
    assert cpu < 8.0, f"{cpu:.1f} s of CPU for {MAX_VARIANTS} variants"


def test_quick_analysis_names_are_escaped(quick_page) -> None:
    quick_page.text_input(key="qa_metric").set_value("<b onmouseover=x>m</b>").run()
    summary = "variant,units,conversions\ncontrol,10000,400\n" + f'"{INJECTED_HTML}",10000,520\n'
    quick_page.text_area(key="qa_paste").set_value(summary).run()
    assert problems(quick_page) == []  # includes: no raw <img in any HTML-rendering element
    html_bodies = [m.proto.body for m in quick_page.markdown if m.proto.allow_html]
    assert any("&lt;img src=x" in b for b in html_bodies), "the verdict card names the variant"
    assert not any("<b onmouseover" in b for b in html_bodies)


# --- Channels without orders ----------------------------------------------------------------


@pytest.mark.parametrize("revenue", [[math.nan, math.nan], [0.0, 0.0], [-5.0, 3.0]])
def test_spend_vs_roas_without_revenue(revenue) -> None:
    df = pd.DataFrame(
        {"campaign": ["a", "b"], "channel": ["email", "video"], "spend": [10.0, 5.0]}
    ).assign(revenue=revenue)
    df["roas"] = df["revenue"].fillna(0.0) / df["spend"]
    fig = spend_roas_figure(df)  # Plotly validates marker sizes here (it raised before)
    fig.to_json()
    for trace in fig.data:
        size = getattr(trace.marker, "size", None)
        if size is not None and not isinstance(size, int | float):
            assert all(s >= 0 and not math.isnan(s) for s in size)


def test_channels_page_with_no_orders(copy_of_demo, app_env, monkeypatch) -> None:
    _mutate(copy_of_demo, "DELETE FROM orders")
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{copy_of_demo}")
    at = new_app()
    at.run()
    at.switch_page("pages/channels.py")
    at.run()
    assert problems(at) == []


# --- NULL variant / expected_share, duplicated experiments, unknown stage --------------------


def test_null_expected_share_means_no_srm_check(copy_of_demo) -> None:
    _mutate(
        copy_of_demo,
        *_unconstrained("experiment_variants"),
        "UPDATE experiment_variants SET expected_share = NULL WHERE is_control",
    )
    engine = open_engine(f"duckdb:///{copy_of_demo}")
    try:
        infos = list_experiments(engine)
    finally:
        engine.dispose()
    assert infos and all(info.expected_shares == {} for info in infos)


def test_null_assignment_variant_is_ignored(copy_of_demo) -> None:
    _mutate(
        copy_of_demo,
        *_unconstrained("experiment_assignments"),
        "UPDATE experiment_assignments SET variant = NULL WHERE customer_id % 7 = 0",
    )
    engine = open_engine(f"duckdb:///{copy_of_demo}")
    try:
        exp_id = list_experiments(engine)[0].experiment_id
        daily = fetch_daily_stats(engine, exp_id, get_metric("purchase_conversion"))
    finally:
        engine.dispose()
    assert len(daily) and daily["variant"].notna().all()


def test_assignment_dates_far_apart_give_a_bounded_series(copy_of_demo) -> None:
    _mutate(
        copy_of_demo,
        *_unconstrained("experiment_assignments"),
        "UPDATE experiment_assignments SET assigned_at = TIMESTAMP '0001-01-01' "
        "WHERE customer_id % 11 = 0",
        "UPDATE experiment_assignments SET assigned_at = TIMESTAMP '9999-12-31' "
        "WHERE customer_id % 11 = 1",
    )
    engine = open_engine(f"duckdb:///{copy_of_demo}")
    try:
        exp_id = list_experiments(engine)[0].experiment_id
        t0 = time.process_time()
        daily = fetch_daily_stats(engine, exp_id, get_metric("purchase_conversion"))
        cpu = time.process_time() - t0
    finally:
        engine.dispose()
    assert daily["day"].nunique() <= MAX_DAILY_DAYS
    assert daily["day"].max() <= pd.Timestamp(dt.date.today() + dt.timedelta(days=32))
    assert cpu < 5.0


def test_a_duplicated_experiment_row_gives_one_learning() -> None:
    row = {
        "experiment_id": "exp_a",
        "name": "A",
        "hypothesis": "h",
        "loop_stage": "evolve",
        "primary_metric": "conversion",
        "status": "running",
        "started_at": pd.Timestamp("2026-01-01"),
    }
    df = learnings(pd.DataFrame([row, row]), {})
    assert list(df["experiment_id"]) == ["exp_a"]


def test_an_unknown_lifecycle_stage_is_left_out_of_the_sankey() -> None:
    trans = pd.DataFrame(
        {
            "from_stage": ["awareness", "engagement"],
            "to_stage": ["engagement", "limbo"],
            "kind": ["forward", "forward"],
            "moves": [10, 3],
        }
    )
    fig = sankey_figure(trans)
    assert "3 moves with an unknown stage" in fig.layout.title.text
    assert list(fig.data[0].link.value) == [10]


# --- secrets in URLs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://bob@h/db?password={PLANTED_SECRET}",
        f"snowflake://u@acct/db?private_key_file=/k.p8&private_key_file_pwd={PLANTED_SECRET}",
        f"trino://u@h:8443/c?access_token={PLANTED_SECRET}&http_scheme=https",
        f"postgresql://bob@h:notaport/db?sslpassword={PLANTED_SECRET}",
        f"postgresql://bob:{PLANTED_SECRET}@h/db",
    ],
)
def test_secrets_in_the_query_string_are_masked(url: str) -> None:
    masked = mask_url(url)
    assert PLANTED_SECRET not in masked and "***" in masked


def test_data_health_does_not_show_a_query_string_password(app_env, monkeypatch) -> None:
    url = f"postgresql+psycopg://bob@127.0.0.1:1/db?password={PLANTED_SECRET}&connect_timeout=2"
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", url)
    at = new_app()
    at.run()
    at.switch_page("pages/data_health.py")
    at.run()
    assert problems(at) == []  # includes: the planted password is rendered nowhere
    assert "password=***" in rendered_text(at)  # the URL is shown, masked


# --- CSV formula neutralisation ---------------------------------------------------------------


def test_csv_downloads_neutralise_formulas() -> None:
    hostile = ["=cmd|'/c calc'!A1", "@SUM(1+1)", "+1", "-2+3", "\tx", "\rx", "plain", ""]
    df = pd.DataFrame({"name": hostile, "n": range(len(hostile)), "lift": [-0.5] * 8})
    df = df.rename(columns={"n": "=HYPERLINK()"})
    rows = list(csv.reader(io.StringIO(csv_bytes(df).decode(), newline="")))
    header, body = rows[0], rows[1:]
    assert header[1] == "'=HYPERLINK()"
    names = [r[0] for r in body]
    assert names[:6] == ["'" + h for h in hostile[:6]]
    assert names[6:] == ["plain", ""]
    assert [r[2] for r in body] == ["-0.5"] * 8  # numbers stay numbers
    assert neutralise_cell(-3) == -3


# --- the decision log -------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_appends_on_one_experiment_queue_instead_of_racing(pg_url, monkeypatch):
    """16 writers on one experiment: with the advisory lock no write ever loses a race."""
    lost = []
    original = app_store._lost_race

    def counting(exc):  # noqa: ANN001
        result = original(exc)
        if result:
            lost.append(type(exc).__name__)
        return result

    monkeypatch.setattr(app_store, "_lost_race", counting)
    store = app_store.open_store(pg_url)
    threads, per_thread = 16, 6
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        barrier.wait()
        try:
            for seq in range(per_thread):
                app_decisions.record_decision(
                    store,
                    experiment_id="exp-contended",
                    decision="ship",
                    rationale="r",
                    decided_by=f"w{i}",
                    evidence={"i": i, "seq": seq},
                )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    try:
        history = app_decisions.decision_history(store, "exp-contended")
    finally:
        store.close()
    assert errors == []
    assert lost == [], f"{len(lost)} lost races"
    assert [r.version for r in history] == list(range(1, threads * per_thread + 1))


@pytest.fixture
def read_only_mount(tmp_path) -> Iterator[Path]:
    """A tmpfs that can be remounted read-only (needs root / CAP_SYS_ADMIN)."""
    mount = tmp_path / "rofs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)])
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.ci_may_skip(reason="mounting a read-only file system needs CAP_SYS_ADMIN")
def test_decision_history_is_readable_on_a_read_only_file_system(read_only_mount) -> None:
    url = f"sqlite:///{read_only_mount / 'state' / 'app_state.sqlite'}"
    store = app_store.open_store(url)
    first = app_decisions.record_decision(
        store, experiment_id="exp-ro", decision="ship", rationale="r", decided_by="a", evidence={}
    )
    store.close()
    subprocess.run(["mount", "-o", "remount,ro", str(read_only_mount)], check=True)
    assert not os.access(read_only_mount, os.W_OK)

    reopened = app_store.open_store(url)
    try:
        assert reopened.read_only
        assert app_decisions.decision_history(reopened, "exp-ro") == [first]
        with pytest.raises(app_store.AppStateError) as caught:
            app_decisions.record_decision(
                reopened,
                experiment_id="exp-ro",
                decision="kill",
                rationale="r",
                decided_by="a",
                evidence={},
            )
    finally:
        reopened.close()
    assert caught.value.title == "The app-state store is read-only"
    assert "unreachable" not in caught.value.detail.lower()


# --- the cached warehouse probe ---------------------------------------------------------------


def test_the_probe_recovers_as_soon_as_the_warehouse_is_back(
    demo_file, app_env, monkeypatch, tmp_path
) -> None:
    target = tmp_path / "later.duckdb"  # missing at first: the warehouse is "down"
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{target}")
    at = new_app()
    at.run()
    assert at.error, "the missing warehouse is reported"
    shutil.copy(demo_file, target)  # the warehouse comes back
    at.run()
    assert problems(at) == []
    assert not at.error, [e.value for e in at.error]


# --- read-only warehouse sessions -------------------------------------------------------------


def _write_fails(url: str) -> str:
    engine = open_engine(url)
    try:
        with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
            conn.execute(text("CREATE TABLE looplens_write_probe (x INTEGER)"))
    finally:
        engine.dispose()
    return str(caught.value.orig).lower()


def test_duckdb_warehouse_sessions_are_read_only(copy_of_demo) -> None:
    assert "read-only" in _write_fails(f"duckdb:///{copy_of_demo}")


def test_sqlite_warehouse_sessions_are_read_only(tmp_path) -> None:
    path = tmp_path / "w.sqlite"
    with create_engine(f"sqlite:///{path}").begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    assert "readonly" in _write_fails(f"sqlite:///{path}")
    with open_engine(f"sqlite:///{path}").connect() as conn:  # reading still works
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0


@pytest.mark.postgres
def test_postgres_warehouse_sessions_are_read_only(pg_url) -> None:
    assert "read-only transaction" in _write_fails(pg_url)
    engine = open_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW default_transaction_read_only")).scalar() == "on"
    finally:
        engine.dispose()


# --- error details ----------------------------------------------------------------------------


def test_users_never_see_exception_details() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"


# --- Markdown injection from warehouse text ---------------------------------------------------


def test_md_text_makes_markdown_literal() -> None:
    from components.escaping import md_text

    escaped = md_text("![t](http://tracker.invalid/x.png) **b** $x$ :red[y]\nnext")
    assert "![" not in escaped and "](" not in escaped and "\n" not in escaped
    assert escaped.replace("\\", "") == "![t](http://tracker.invalid/x.png) **b** $x$ :red[y] next"


def test_a_hypothesis_with_markdown_renders_as_text(copy_of_demo, app_env, monkeypatch) -> None:
    image = "![t](http://tracker.invalid/x.png)"
    _mutate(copy_of_demo, f"UPDATE experiments SET hypothesis = '{image}'")
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{copy_of_demo}")
    at = new_app()
    at.switch_page("pages/experiment_detail.py")
    at.run()
    assert problems(at) == []
    bodies = [m.value for m in at.markdown]
    assert any("Hypothesis" in b for b in bodies)
    assert not any(image in b for b in bodies), "the image would be fetched by the browser"
