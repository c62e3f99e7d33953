"""Loop-health status rules, highlights, and the Overview page through app.py (AppTest)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from data.schema import LoopStage
from metrics.experiments.evolve import EvolveSummary
from metrics.marketing import loop_health as lh
from metrics.marketing.kpis import KPIS
from tests import kpi_fixture

S = lh.Status


def sig(status: lh.Status) -> lh.Signal:
    return lh.Signal("x", 1.0, "1", status, "r")


# --- grading and combination ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "want"),
    [(25.0, S.HEALTHY), (20.0, S.HEALTHY), (19.9, S.WATCH), (0.0, S.WATCH), (-0.1, S.AT_RISK),
     (None, S.NO_DATA), (float("nan"), S.NO_DATA)],
)  # fmt: skip
def test_grade_higher_boundaries(value, want):
    assert lh.grade_higher(value, 20.0, 0.0) is want


def test_combine_takes_the_worst_graded_signal():
    assert lh.combine([sig(S.HEALTHY), sig(S.WATCH)]) is S.WATCH
    assert lh.combine([sig(S.HEALTHY), sig(S.NO_DATA), sig(S.AT_RISK)]) is S.AT_RISK
    assert lh.combine([sig(S.NO_DATA), sig(S.HEALTHY)]) is S.HEALTHY
    assert lh.combine([sig(S.NO_DATA), sig(S.NO_DATA)]) is S.NO_DATA
    assert lh.combine([]) is S.NO_DATA


def mix(**counts: float) -> pd.DataFrame:
    return pd.DataFrame({"channel": list(counts), "value": list(counts.values())})


def test_express_status():
    brand_heavy = mix(direct=20, organic_search=10, referral=5, paid_search=65)  # 35 % brand
    assert lh.express_health(35.0, 0.85, brand_heavy).status is S.HEALTHY
    assert lh.express_health(10.0, 0.85, brand_heavy).status is S.WATCH
    assert lh.express_health(35.0, 0.65, brand_heavy).status is S.AT_RISK
    brand_light = mix(direct=5, paid_search=95)  # 5 % brand
    h = lh.express_health(35.0, 0.85, brand_light)
    assert h.status is S.AT_RISK and h.worst is not None and "Brand" in h.worst.name
    assert lh.express_health(None, None, mix()).status is S.NO_DATA
    # missing NPS alone does not hide the other signals
    assert lh.express_health(None, 0.9, brand_heavy).status is S.HEALTHY


def conv(p: float, g: float, n_p: float = 100, n_g: float = 100) -> pd.DataFrame:
    return pd.DataFrame(
        {"is_personalised": [True, False], "value": [p, g], "denominator": [n_p, n_g]}
    )


def test_tailor_status_from_lift():
    lift = lh.tailor_lift(conv(0.12, 0.10))
    assert lift.lift == pytest.approx(0.12 / 0.10 - 1)
    assert lh.tailor_health(lift).status is S.HEALTHY  # +20 %
    assert lh.tailor_health(lh.tailor_lift(conv(0.102, 0.10))).status is S.WATCH  # +2 %
    assert lh.tailor_health(lh.tailor_lift(conv(0.09, 0.10))).status is S.AT_RISK  # -10 %
    small = lh.tailor_lift(conv(0.5, 0.1, n_p=10))
    assert lh.tailor_health(small).status is S.NO_DATA  # too few customers touched
    assert lh.tailor_health(lh.tailor_lift(conv(0.1, 0.0))).status is S.NO_DATA
    empty = pd.DataFrame(columns=["is_personalised", "value", "denominator"])
    assert lh.tailor_health(lh.tailor_lift(empty)).status is S.NO_DATA


def test_amplify_status():
    assert lh.amplify_health(4.0, 3.5, 100.0, 100.0).status is S.HEALTHY
    assert lh.amplify_health(4.0, 3.5, 112.0, 100.0).status is S.WATCH  # CAC +12 %
    assert lh.amplify_health(4.0, 3.5, 130.0, 100.0).status is S.AT_RISK  # CAC +30 %
    assert lh.amplify_health(0.8, 3.5, 100.0, 100.0).status is S.AT_RISK  # ROAS < 1
    assert lh.amplify_health(2.0, 3.5, 90.0, 100.0).status is S.WATCH  # ROAS 1..3
    h = lh.amplify_health(4.0, 3.5, 100.0, None)
    assert h.status is S.HEALTHY and h.signals[2].status is S.NO_DATA
    assert lh.amplify_health(None, None, None, None).status is S.NO_DATA


@pytest.mark.parametrize(
    ("running", "concluded", "total", "want"),
    [(2, 0, 5, S.HEALTHY), (0, 1, 5, S.WATCH), (0, 0, 5, S.AT_RISK), (0, 0, 0, S.NO_DATA)],
)
def test_evolve_status(running, concluded, total, want):
    activity = {"running": running, "concluded": concluded, "started": 0, "total": total}
    assert lh.evolve_health(activity).status is want


def test_highlights_explain_moves_with_the_channel_mix():
    totals = pd.DataFrame(
        {
            "kpi": ["cac", "revenue", "nps", "new_customers"],
            "current": [112.0, 1000.0, 30.0, 500.0],
            "previous": [100.0, 990.0, 20.0, 498.0],
        }
    )
    totals["change"] = (totals.current - totals.previous) / totals.previous.abs()
    now = pd.Series({"paid_social": 0.28, "paid_search": 0.42, "direct": 0.30})
    before = pd.Series({"paid_social": 0.20, "paid_search": 0.45, "direct": 0.35})
    loops = [lh.evolve_health({"running": 0, "concluded": 0, "started": 0, "total": 3})]
    items = lh.highlights(totals, now, before, loops, days=30)
    assert 3 <= len(items) <= 5
    # NPS moved +50 % (10 points), CAC +12 %; revenue (+1 %) is below the 5 % bar
    assert items[0].startswith("NPS rose 10 points")
    assert items[1].startswith("CAC rose 12%")
    assert "paid social's share of new customers grew from 20% to 28%" in items[1]
    assert not any(i.startswith("Revenue") for i in items)
    assert any("Evolve loop is at risk" in i for i in items)


def test_highlights_on_a_steady_period_still_say_something():
    totals = pd.DataFrame({"kpi": ["revenue"], "current": [100.0], "previous": [100.0]})
    totals["change"] = 0.0
    items = lh.highlights(totals, pd.Series({"direct": 1.0}), pd.Series(dtype=float), [], 7)
    assert items and "Steady period" in items[0]
    assert "Direct brought the most new customers (100%)" in items[1]


def test_status_rules_are_documented():
    assert "worst graded signal" in lh.STATUS_RULES
    for loop in LoopStage:
        assert f"**{loop.value.title()}**" in lh.STATUS_RULES


# --- the page through app.py ----------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('overview') / 'w.duckdb'}"
    kpi_fixture.build(url)
    return url


@pytest.fixture
def app(fixture_db, monkeypatch):
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", fixture_db)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield lambda: AppTest.from_file("../app.py", default_timeout=60)
    st.cache_data.clear()
    st.cache_resource.clear()


def _set_filters(at: AppTest, **params: str) -> None:
    for k, v in params.items():
        at.query_params[k] = v


def test_overview_default_filters(app):
    at = app().run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    for label in ("New customers", "Revenue", "CAC", KPIS["roas"].label, "NPS", "Churn", "CLV:CAC"):
        assert label in labels
    assert all(m.help and "How is this computed?" in m.help for m in at.metric[:8])
    badges = " ".join(md.value for md in at.markdown)
    assert "-badge[" in badges
    assert any("What changed" in md.value for md in at.markdown)
    assert len(at.get("download_button")) >= 6
    assert not at.info  # data is there: no empty state


def test_overview_non_default_filters(app):
    at = app()
    _set_filters(
        at, start="2024-02-01", end="2024-03-31", channel="paid_search,email,direct",
        segment="smb", region="europe,apac",
    )  # fmt: skip
    at.run()
    assert not at.exception
    assert [m.label for m in at.metric][:8] == [
        KPIS[n].label for n in (
            "new_customers", "revenue", "cac", "roas", "conversion_rate", "clv_cac", "nps",
            "churn_rate",
        )
    ]  # fmt: skip
    # CAC uses spend, which has no segment/region: the page says so
    assert any("not filtered by segment or region" in c.value for c in at.caption)


def test_overview_empty_filter_result_is_explained(app):
    at = app()
    _set_filters(at, start="2023-01-01", end="2023-01-31")
    at.run()
    assert not at.exception
    assert not at.error
    assert any("No data for these filters" in i.value for i in at.info)
    assert not at.metric


def test_overview_dates_are_the_fixture_period(fixture_db):
    """Guard: the fixture's data ends in April 2024, so the empty test's dates are empty."""
    rows = kpi_fixture.make_rows()
    assert max(rows["touchpoints"].occurred_at) < pd.Timestamp(dt.date(2024, 5, 1))
    assert min(rows["customers"].first_seen_at) >= pd.Timestamp(dt.date(2024, 1, 1))


def _summary(decided_share: float | None) -> EvolveSummary:
    return EvolveSummary(
        running=2, concluded=5, started_last_90d=3, concluded_last_90d=2, win_rate=0.4,
        decided_share=decided_share, followed_share=0.75, cumulative_estimated_impact=0.12,
        shipped=2, decisions=5,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("decided_share", "expected"),
    [(0.9, "healthy"), (0.8, "healthy"), (0.6, "watch"), (0.39, "at risk"), (None, "healthy")],
)
def test_evolve_grades_captured_learning(decided_share, expected) -> None:
    activity = {"running": 2, "concluded": 1, "started": 1, "total": 8}
    health = lh.evolve_health(activity, _summary(decided_share))
    assert health.status.value == expected
    context = [s for s in health.signals if not s.graded]
    assert len(context) == 3  # win rate, followed share, estimated impact: shown, not graded
    assert lh.evolve_health(activity, None).status.value == "healthy"
