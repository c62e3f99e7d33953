"""AppTest flows of the Experiments list and Experiment detail pages, through app.py.

The warehouse is a small generated demo DuckDB (module-scoped) plus two added experiments: one
without any assignment yet and one with a declared variant that never got traffic. The
app-state store is a fresh SQLite file per test. Expected values come from the metrics layer
called directly (``analyze_experiment``, ``list_experiments``) or from the store.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select

from data.app_state.decisions import decision_history
from data.app_state.store import open_store
from data.demo import generator as demo
from data.schema import experiment_assignments, experiment_variants, experiments
from data.warehouse import open_engine
from metrics.experiments import views as ev
from metrics.experiments.analysis import analyze_experiment
from metrics.experiments.data import list_experiments
from tests.apptest_helpers import run_page

REVENUE = "exp_recommendations_revenue"
WINNER = "exp_checkout_winner"
EMPTY = "exp_no_units_yet"
GHOST = "exp_ghost_arm"
BADGE = re.compile(r"^[+-]\d+\.\d% \[[+-]\d+\.\d%, [+-]\d+\.\d%\]( \(best: \w+\))?$")


def _add_experiments(url: str) -> None:
    """An experiment without assignments, and one whose third arm gets no units."""
    engine = create_engine(url)
    base = dict(
        hypothesis="test",
        loop_stage="evolve",
        primary_metric="purchase_conversion",
        secondary_metrics=None,
        guardrail_metrics=None,
        started_at=dt.datetime(2026, 11, 1),
        ended_at=None,
        status="running",
    )
    with engine.begin() as conn:
        conn.execute(
            insert(experiments),
            [
                dict(experiment_id=EMPTY, name="Not started", **base),
                dict(experiment_id=GHOST, name="Ghost arm", **base),
            ],
        )
        conn.execute(
            insert(experiment_variants),
            [
                dict(experiment_id=EMPTY, variant="control", is_control=True, expected_share=0.5),
                dict(
                    experiment_id=EMPTY, variant="treatment", is_control=False, expected_share=0.5
                ),
                dict(experiment_id=GHOST, variant="control", is_control=True, expected_share=0.4),
                dict(
                    experiment_id=GHOST, variant="treatment", is_control=False, expected_share=0.4
                ),
                dict(experiment_id=GHOST, variant="ghost", is_control=False, expected_share=0.2),
            ],
        )
        a = experiment_assignments
        rows = conn.execute(
            select(a.c.customer_id, a.c.variant, a.c.assigned_at).where(a.c.experiment_id == WINNER)
        ).all()
        conn.execute(
            insert(a),
            [
                dict(experiment_id=GHOST, customer_id=r.customer_id, variant=r.variant,
                     assigned_at=r.assigned_at)
                for r in rows
            ],
        )  # fmt: skip
    engine.dispose()


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("exp_pages") / "demo.duckdb"
    demo.generate(str(path), customers=6_000, seed=3, end_date=dt.date(2026, 11, 30))
    url = f"duckdb:///{path}"
    _add_experiments(url)
    return url


@pytest.fixture
def env(demo_url: str, monkeypatch, tmp_path: Path) -> str:
    state = f"sqlite:///{tmp_path / 'state.sqlite'}"
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", demo_url)
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", state)
    return state


def env_warehouse() -> str:
    return os.environ["LOOPLENS_WAREHOUSE_URL"]


def ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def detail(experiment: str | None = None):
    at = run_page("experiment_detail", query={"experiment": experiment} if experiment else None)
    ok(at)
    return at


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def verdict_text(at) -> str:
    return texts(at.markdown)


# --- list ------------------------------------------------------------------


def test_list_shows_every_experiment_with_badges(env: str, demo_url: str) -> None:
    at = run_page("experiments")
    ok(at)
    assert not at.error, texts(at.error)
    table = at.dataframe[0].value
    engine = open_engine(demo_url)
    infos = list_experiments(engine)
    assert sorted(table["experiment_id"]) == sorted(i.experiment_id for i in infos)
    rows = table.set_index("experiment_id")
    analysed = rows[rows["lift"] != "n/a"]
    assert len(analysed) >= 7 and analysed["lift"].str.match(BADGE).all()
    winner = analyze_experiment(engine, WINNER)
    r = winner.primary.results[0]
    assert rows.loc[WINNER, "lift"].startswith(f"{r.relative_lift:+.1%} [")
    assert rows.loc[WINNER, "recommendation_kind"] == winner.recommendation.kind.value
    assert rows.loc[GHOST, "srm"] == "⚠ mismatch"  # a declared 20% arm without units
    pricing = analyze_experiment(engine, "exp_pricing_srm").srm
    assert rows.loc["exp_pricing_srm", "srm"] == ("⚠ mismatch" if pricing.flagged else "ok")
    assert rows.loc["exp_pricing_srm", "srm_p_value"] == pytest.approx(pricing.p_value)
    assert rows.loc[EMPTY, "problem"] == "no units assigned yet"
    assert at.get("download_button")

    at.multiselect(key="exp_list_status").set_value(["running"]).run()
    ok(at)
    running = at.dataframe[0].value
    assert set(running["status"]) == {"running"}
    assert len(running) == sum(i.status == "running" for i in infos)
    at.multiselect(key="exp_list_status").set_value([]).run()
    at.multiselect(key="exp_list_recommendation").set_value(["invalid"]).run()
    ok(at)
    assert GHOST in set(at.dataframe[0].value["experiment_id"])
    assert set(at.dataframe[0].value["recommendation_kind"]) == {"invalid"}
    engine.dispose()


def test_list_opens_the_detail_page_with_the_id_in_the_url(env: str) -> None:
    at = run_page("experiments")
    at.selectbox(key="exp_list_open").set_value(REVENUE)
    at.button(key="exp_list_go").click().run()
    ok(at)
    assert at.title[0].value == "Experiment detail"
    assert at.query_params["experiment"] in (REVENUE, [REVENUE])
    assert at.selectbox(key="exp_detail_experiment").value == REVENUE


# --- detail ------------------------------------------------------------------


def frame_with(at, column: str):
    """The first table showing ``column`` (non-selectable tables carry no key in AppTest)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, f"no table with a {column!r} column"
    return found[0]


def table_of(at):
    return frame_with(at, "Role")


def test_detail_toggles_change_the_numbers(env: str, demo_url: str) -> None:
    at = detail(REVENUE)
    assert not at.error, texts(at.error)
    assert "Recommendation:" in verdict_text(at)
    plain = table_of(at)
    assert "CUPED variance reduction" not in plain.columns
    assert "Adjusted p" in plain.columns  # Holm is the default

    at.toggle(key="exp_cuped").set_value(True).run()
    ok(at)
    cuped = table_of(at)
    engine = open_engine(demo_url)
    ref = analyze_experiment(engine, REVENUE, cuped=True).primary.results[0]
    assert ref.variance_reduction > 0.1
    assert cuped.loc[0, "CUPED variance reduction"] == f"{ref.variance_reduction:.0%}"
    assert "CUPED variance reduction achieved" in texts(at.caption)
    width = [float(x) for x in re.findall(r"[+-]\d+\.\d", cuped.loc[0, "Relative lift [interval]"])]
    width0 = [
        float(x) for x in re.findall(r"[+-]\d+\.\d", plain.loc[0, "Relative lift [interval]"])
    ]
    assert width[2] - width[1] < width0[2] - width0[1]  # CUPED narrows the interval

    at.radio(key="exp_engine").set_value("bayesian").run()
    ok(at)
    assert "Chance to win" in table_of(at).columns and "p-value" not in table_of(at).columns
    assert "Chance to win" in verdict_text(at)
    at.number_input(key="exp_prior_sd").set_value(5.0).run()  # issue 10: informative prior
    ok(at)
    at.radio(key="exp_engine").set_value("sequential").run()
    ok(at)
    assert "Always-valid p" in verdict_text(at)
    at.number_input(key="exp_tuning_n").set_value(20_000).run()  # n* from the plan
    ok(at)

    at.selectbox(key="exp_correction").set_value("none").run()
    ok(at)
    assert "Adjusted p" not in table_of(at).columns
    at.radio(key="exp_lift_scale").set_value("absolute").run()
    ok(at)
    assert "Absolute lift [interval]" in table_of(at).columns
    at.selectbox(key="exp_slice").set_value("region").run()
    ok(at)
    seg = frame_with(at, "p_adjusted")
    assert len(seg) >= 4 and "Slices multiply comparisons" in texts(at.warning)
    engine.dispose()


def fill_and_submit(at, *, kind: str, rationale: str, name: str):
    at.radio(key="decision_kind").set_value(kind)
    at.text_area(key="decision_rationale").input(rationale)
    at.text_input(key="decision_by").input(name)
    at.button(key="decision_submit").click().run()
    ok(at)
    return at


def test_record_a_decision_and_change_it(env: str) -> None:
    engine = open_engine(env_warehouse())
    rec = analyze_experiment(engine, WINNER).recommendation.kind.value
    engine.dispose()
    at = detail(WINNER)
    assert "No decision recorded" in texts(at.caption)
    assert at.radio(key="decision_kind").value == ev.SUGGESTED_DECISION[rec].value
    fill_and_submit(at, kind="ship", rationale="Clear win, support flat.", name="Ada")
    assert any("version 1" in s.value for s in at.success), texts(at.success)
    history = frame_with(at, "changes")
    assert list(history["version"]) == [1] and history.loc[0, "decided_by"] == "Ada"

    at = detail(WINNER)  # a new session: read back from the store
    history = frame_with(at, "changes")
    assert list(history["version"]) == [1] and history.loc[0, "decision"] == "ship"
    fill_and_submit(at, kind="kill", rationale="Legal blocked the rollout.", name="Bo")
    history = frame_with(at, "changes")
    assert list(history["version"]) == [2, 1]
    assert "decision: ship → kill" in history.loc[0, "changes"]
    follows_kill = ev.follows_recommendation("kill", rec)
    assert history.loc[0, "followed_recommendation"] == ("yes" if follows_kill else "no")

    stored = decision_history(open_store(env), WINNER)
    assert [d.version for d in stored] == [1, 2]
    evidence = stored[0].evidence
    assert evidence["engine"] == "frequentist" and evidence["recommendation"] == rec
    assert stored[0].recommendation_at_decision == rec
    assert evidence["options"]["correction"] == "holm"
    primary = next(m for m in evidence["metrics"] if m["role"] == "primary")
    assert primary["p_value"] is not None and len(primary["relative_ci"]) == 2
    assert stored[0].followed_recommendation is ev.follows_recommendation("ship", rec)
    assert stored[1].followed_recommendation is follows_kill
    assert stored[0].expected_impact == pytest.approx(primary["relative_lift"], abs=5e-4)

    at = run_page("experiments")  # the list shows the latest version
    rows = at.dataframe[0].value.set_index("experiment_id")
    assert (rows.loc[WINNER, "decision"], rows.loc[WINNER, "decision_version"]) == ("kill", 2)


def test_decision_validation_lists_every_issue(env: str) -> None:
    at = detail(WINNER)
    at.button(key="decision_submit").click().run()
    ok(at)
    errors = texts(at.error)
    assert "rationale is empty" in errors and "decided_by (your name) is empty" in errors
    assert decision_history(open_store(env), WINNER) == []


def test_store_problem_is_shown_not_raised(demo_url: str, monkeypatch, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", demo_url)
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{blocker}/state.sqlite")
    at = detail(WINNER)
    assert "app-state" in texts(at.error)
    at = run_page("experiments")
    ok(at)
    assert "app-state" in texts(at.error) and len(at.dataframe[0].value) > 0


def test_unknown_experiment_in_the_url(env: str) -> None:
    at = detail("exp_does_not_exist")
    errors = texts(at.error)
    assert "Unknown experiment in the link" in errors and "exp_does_not_exist" in errors
    assert WINNER in errors  # the known ids are listed
    assert at.selectbox(key="exp_detail_experiment").value is None
    at.selectbox(key="exp_detail_experiment").set_value(WINNER).run()
    ok(at)
    assert not at.error and "Recommendation:" in verdict_text(at)


def test_degenerate_experiments(env: str) -> None:
    at = detail(EMPTY)
    assert "No units assigned yet" in texts(at.info)
    at = detail(GHOST)
    assert not at.error, texts(at.error)
    assert "Variant **ghost** has no units" in texts(at.warning)
    table = table_of(at)
    assert table.set_index("Variant").loc["ghost", "Note"]  # the failed comparison says why
    assert "Invalid" in verdict_text(at)  # a 20% arm with no units is a sample ratio mismatch


def test_local_mode_says_decisions_are_unauthenticated_and_approves_by_typed_name(
    env: str,
) -> None:
    """No [auth]: the free-text name is kept, marked unverified, and so is the approval."""
    from data.app_state.approvals import approvals_for

    at = detail(WINNER)
    assert "Local mode: nobody signs in" in texts(at.caption)  # sidebar and decision form
    fill_and_submit(at, kind="ship", rationale="Clear win.", name="Ada")
    assert "awaiting approval" in texts(at.markdown)
    at.text_input(key="decision_approve_by").input("Bo")
    at.button(key="decision_approve_submit").click().run()
    ok(at)
    assert any("Approved version 1 as Bo" in s.value for s in at.success), texts(at.success)
    assert "approved by Bo" in texts(at.markdown)
    assert frame_with(at, "changes").loc[0, "approved"].startswith("Bo, ")
    store = open_store(env)
    (decision,) = decision_history(store, WINNER)
    assert (decision.decided_by, decision.identity_verified) == ("Ada", False)
    approval = approvals_for(store, WINNER)[1]
    assert (approval.approved_by, approval.identity_verified) == ("Bo", False)
    store.close()


def test_detail_shows_order_value_quantiles_computed_live(env: str, demo_url: str) -> None:
    """Median and p90 of order value on a revenue experiment: the table equals the metrics
    layer's (``analyze_quantile_metrics``), and follows the engine; a non-revenue experiment
    has none."""
    from metrics.experiments.analysis import analyze_quantile_metrics
    from metrics.experiments.definitions import QUANTILE_METRICS

    labels = {n: m.label for n, m in QUANTILE_METRICS.items()}
    engine = open_engine(demo_url)
    at = detail(REVENUE)
    shown = frame_with(at, "treatment_value")
    ref = ev.quantile_rows(analyze_quantile_metrics(engine, REVENUE, "control"), labels)
    assert list(shown["metric"]) == ["Median order value", "p90 order value"]
    assert shown.equals(ref[shown.columns])  # (an empty note column is not shown)
    assert (shown["control_units"] > 20).all()
    assert "Computed live from the warehouse" in texts(at.caption)
    at.radio(key="exp_engine").set_value("sequential").run()
    ok(at)
    seq = ev.quantile_rows(
        analyze_quantile_metrics(engine, REVENUE, "control", engine_kind="sequential"), labels
    )
    got = frame_with(at, "treatment_value")
    assert got.equals(seq[got.columns])
    assert seq.loc[0, "lift"] != ref.loc[0, "lift"]  # the confidence sequence is wider
    engine.dispose()
    aa = detail("exp_homepage_aa")  # signup and purchase conversion: no revenue metric
    assert not [d for d in aa.dataframe if "treatment_value" in d.value.columns]
