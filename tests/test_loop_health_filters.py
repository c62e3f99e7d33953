"""Filter-aware loop health (issue 11): a signal a filter makes meaningless says "not applicable
under this filter" instead of a status, and the status rules hold under every single-value
filter (each channel, each segment, each region) on a real DuckDB demo warehouse.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from data.schema import PAID_CHANNELS, Channel, LoopStage, Region, Segment
from metrics.filters import Filters, default_filters
from metrics.marketing import kpi_sql
from metrics.marketing import loop_health as lh

S = lh.Status
PAID = {str(c) for c in PAID_CHANNELS}
SINGLE_VALUE = (
    [("channels", c.value) for c in Channel]
    + [("segments", s.value) for s in Segment]
    + [("regions", r.value) for r in Region]
)
TOTALS = ("nps", "csat", "roas", "clv_cac", "cac")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from sqlalchemy import func, select

    from data.demo import generator as demo_gen
    from data.schema import touchpoints
    from data.warehouse import open_engine, to_url

    path: Path = tmp_path_factory.mktemp("lh_filters") / "demo.duckdb"
    demo_gen.generate(str(path), customers=5_000, seed=9)
    engine = open_engine(to_url(str(path)), read_only=True)
    with engine.connect() as conn:
        latest = conn.execute(select(func.max(touchpoints.c.occurred_at))).scalar().date()
    yield engine, default_filters(latest)
    engine.dispose()


def _loops(engine, filters: Filters) -> dict[LoopStage, lh.LoopHealth]:  # noqa: ANN001
    """The Express and Amplify loops exactly as the Loop health page computes them."""
    totals = kpi_sql.fetch_kpi_totals(engine, TOTALS, filters).set_index("kpi")

    def value(name: str, column: str = "current") -> float | None:
        v = totals.at[name, column]
        return None if pd.isna(v) else float(v)

    new_by_channel = kpi_sql.fetch_kpi(engine, "new_customers", filters, "channel")
    express = lh.express_health(value("nps"), value("csat"), new_by_channel, filters=filters)
    amplify = lh.amplify_health(
        value("roas"),
        value("clv_cac"),
        value("cac"),
        value("cac", "previous"),
        filters=filters,
    )
    return {LoopStage.EXPRESS: express, LoopStage.AMPLIFY: amplify}


def _expected_na(signal: str, dimension: str, value: str) -> bool:
    """The rules of the module docstring, restated for one single-value filter."""
    if signal == "brand_share":
        return dimension == "channels"
    if signal in ("roas", "clv_cac", "cac_change"):
        return dimension in ("segments", "regions") or value not in PAID
    return False


SIGNALS = {
    LoopStage.EXPRESS: ("nps", "csat", "brand_share"),
    LoopStage.AMPLIFY: ("roas", "clv_cac", "cac_change"),
}
THRESHOLDS = {
    "nps": (lh.NPS_HEALTHY, lh.NPS_AT_RISK),
    "csat": (lh.CSAT_HEALTHY, lh.CSAT_AT_RISK),
    "brand_share": (lh.BRAND_SHARE_HEALTHY, lh.BRAND_SHARE_AT_RISK),
    "roas": (lh.ROAS_HEALTHY, lh.ROAS_AT_RISK),
    "clv_cac": (lh.CLV_CAC_HEALTHY, lh.CLV_CAC_AT_RISK),
}


def _grade(signal: str, value: float | None) -> S:
    """An independent restatement of the thresholds (not lh.grade_higher)."""
    if value is None:
        return S.NO_DATA
    if signal == "cac_change":
        if value >= lh.CAC_RISE_AT_RISK:
            return S.AT_RISK
        return S.WATCH if value >= lh.CAC_RISE_WATCH else S.HEALTHY
    healthy, at_risk = THRESHOLDS[signal]
    if value >= healthy:
        return S.HEALTHY
    return S.AT_RISK if value < at_risk else S.WATCH


@pytest.mark.parametrize(("dimension", "value"), SINGLE_VALUE, ids=lambda v: str(v))
def test_status_rules_under_every_single_value_filter(demo, dimension: str, value: str) -> None:
    engine, base = demo
    filters = Filters(start=base.start, end=base.end, **{dimension: (value,)})
    for loop, health in _loops(engine, filters).items():
        graded = []
        for key, signal in zip(SIGNALS[loop], health.signals, strict=True):
            if _expected_na(key, dimension, value):
                assert signal.status is S.NOT_APPLICABLE, (key, value, signal)
                assert signal.display == "–" and "not applicable" in signal.reason
            else:
                assert signal.status is _grade(key, signal.value), (key, value, signal)
                graded.append(signal.status)
        ranked = [s for s in graded if s is not S.NO_DATA]
        order = [S.HEALTHY, S.WATCH, S.AT_RISK]
        if ranked:
            want = max(ranked, key=order.index)
        elif not graded:
            want = S.NOT_APPLICABLE
        else:
            want = S.NO_DATA
        assert health.status is want, (loop, value, health)


def test_paid_or_email_filters_no_longer_put_express_at_risk(demo) -> None:
    """The reported case: brand-pull share 0 % "at risk" purely because of the filter."""
    engine, base = demo
    for channels in (tuple(sorted(PAID)), ("email",)):
        filters = Filters(start=base.start, end=base.end, channels=channels)
        express = _loops(engine, filters)[LoopStage.EXPRESS]
        brand = express.signals[2]
        assert brand.status is S.NOT_APPLICABLE, channels
        assert express.worst is None or express.worst.name != brand.name
    # Without a filter the same signal is graded (the rule is about the filter, not the data).
    unfiltered = _loops(engine, base)[LoopStage.EXPRESS].signals[2]
    assert unfiltered.status in (S.HEALTHY, S.WATCH, S.AT_RISK)


def test_not_applicable_rules_need_a_filter() -> None:
    day = dt.date(2026, 1, 31)
    assert all(lh.not_applicable(k, None) is None for k in ("brand_share", "roas", "cac_change"))
    plain = default_filters(day)
    assert all(lh.not_applicable(k, plain) is None for k in ("brand_share", "roas", "clv_cac"))
    mixed = Filters(start=day, end=day, channels=("email", "paid_search"))
    assert lh.not_applicable("roas", mixed) is None  # a paid channel is selected
    assert lh.not_applicable("brand_share", mixed) is not None


def test_a_loop_with_only_inapplicable_signals_says_so() -> None:
    na = lh.Signal("x", None, "–", S.NOT_APPLICABLE, "not applicable: y")
    assert lh.combine([na, na]) is S.NOT_APPLICABLE
    assert lh.combine([na, lh.Signal("z", None, "–", S.NO_DATA, "")]) is S.NO_DATA
    assert lh.combine([na, lh.Signal("z", 1.0, "1", S.WATCH, "")]) is S.WATCH
