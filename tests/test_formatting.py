"""The one formatter (metrics.formatting), checked against Python's own format mini-language
for en_US and against Babel's standard CLDR pattern for a second locale (vi_VN, VND)."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import pytest
from babel.numbers import format_currency

from metrics import formatting as fmt
from metrics.marketing.kpis import KPIS, format_value

VALUES = [0.0, 0.4, 0.125, 2.5, 1.0, 7583.0, 12.345, 99.99, 100.0, 1_758_682.4, -5.0, -1234.5]
FRACTIONS = [0.0, 0.2648, 0.5, 1.0, -0.039, 0.00049, 1.5, -0.25]


def _ref(x: float, digits: int) -> str:
    """Half away from zero on the decimal value, grouped: the reference rounding."""
    q = Decimal(str(x)).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)
    return f"{q:,}"


@pytest.mark.parametrize("x", VALUES)
def test_counts_and_money_match_the_format_spec(x: float) -> None:
    assert fmt.count(x) == _ref(x, 0)
    want = "$" + (_ref(abs(x), 2) if abs(x) < 100 else _ref(abs(x), 0))
    assert fmt.money(x) == ("-" + want if x < 0 else want)
    assert "." not in fmt.money(x) or abs(x) < 100  # never cents on large amounts


@pytest.mark.parametrize("f", FRACTIONS)
def test_percent_points_and_ratio(f: float) -> None:
    zero = round(f * 100, 1) == 0  # shown without a sign
    body = _ref(abs(f * 100), 1) if zero else _ref(f * 100, 1)
    sign = "" if zero or f < 0 else "+"
    assert fmt.percent(f) == body + "%"
    assert fmt.percent(f, signed=True) == sign + body + "%"
    assert fmt.points(f) == sign + body + " pp"
    assert fmt.ratio(f) == _ref(f, 2) + "×"


@pytest.mark.parametrize("tiny", [-0.0001, -0.00049, -1e-12])
def test_no_negative_zero(tiny: float) -> None:
    for text in (fmt.percent(tiny), fmt.percent(tiny, signed=True), fmt.points(tiny)):
        assert not text.startswith(("-", "+", "−")), text
    assert fmt.score(-0.2) == "0"


@pytest.mark.parametrize("bad", [None, float("nan"), math.inf, -math.inf, "x", pd.NA])
def test_missing_is_a_dash_never_none_or_nan(bad) -> None:
    for f in (fmt.count, fmt.money, fmt.percent, fmt.points, fmt.ratio, fmt.days, fmt.p_value):
        assert f(bad) == fmt.MISSING
    for kpi in KPIS.values():
        assert format_value(kpi, bad) == fmt.MISSING


def test_days_and_p_values() -> None:
    assert fmt.days(1) == "1 day" and fmt.days(12) == "12 days"
    assert fmt.days(3884) == "3,884 days"  # separators (the issue saw "≈3,884 more days" raw)
    assert fmt.p_value(0.0004) == "p < 0.001"
    assert fmt.p_value(0.03214) == "p = 0.032"
    assert fmt.p_value(1.0) == "p = 1.000"


def test_kpi_values_use_the_formatter() -> None:
    assert format_value(KPIS["new_customers"], 7583.0) == "7,583"  # not "7583.0"
    assert format_value(KPIS["revenue"], 1_758_682.4) == "$1,758,682"  # no cents on millions
    assert format_value(KPIS["conversion_rate"], 0.2648) == "26.5%"
    assert format_value(KPIS["roas"], 2.634) == "2.63×"
    assert format_value(KPIS["nps"], 20.4) == "+20"


@pytest.mark.parametrize("amount", [0, 12, 99, 1_234_567, 987_654_321])
def test_a_second_locale_plugs_in_at_one_place(amount: int) -> None:
    """vi_VN / VND: Babel's own standard currency format (VND has no minor unit)."""
    vn = fmt.NumberFormat("vi_VN", "VND")
    assert fmt.money(amount, fmt=vn) == format_currency(amount, "VND", locale="vi_VN")
    assert fmt.count(amount, fmt=vn) == f"{amount:,}".replace(",", ".")
    assert fmt.percent(0.265, fmt=vn) == "26,5%"


@pytest.mark.parametrize(
    ("column", "want"),
    [("observed_change", "Observed change"), ("decided_by", "Decided by"),
     ("p_value", "p-value"), ("experiment_id", "Experiment ID"), ("roas", "ROAS"),
     ("new_customers", "New customers"), ("Signal", "Signal"), ("ROAS (attributed)",
     "ROAS (attributed)")],
)  # fmt: skip
def test_headers_are_human(column: str, want: str) -> None:
    assert fmt.header(column) == want


def test_readable_headers_cover_every_column_and_keep_overrides() -> None:
    frame = pd.DataFrame(columns=["decided_by", "roas", "lift_ci_low"])
    got = fmt.readable_headers(frame.columns, {"roas": "ROAS (attributed)"})
    assert got == {
        "decided_by": "Decided by",
        "roas": "ROAS (attributed)",
        "lift_ci_low": "Lift CI low",
    }
    assert not any("_" in h for h in got.values())


def test_tick_formats_are_defined_for_every_catalog_unit() -> None:
    for kpi in KPIS.values():
        assert fmt.tick_format(str(kpi.unit))
    with pytest.raises(ValueError, match="unknown unit"):
        fmt.tick_format("furlongs")
