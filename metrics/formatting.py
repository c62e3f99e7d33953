"""The one number formatter: counts, money, percentages, percentage points, ratios, days,
p-values, missing values, column headers and chart-axis formats. Pure (no Streamlit).

Every table, tile, chart axis and CSV header of the app formats through this module, on
`Babel <https://babel.pocoo.org>`_'s CLDR data. The locale and the currency are set in one
place, :data:`FORMAT`: a later Vietnamese edition sets ``NumberFormat("vi_VN", "VND")`` there
(``1.234.567 ₫``; VND has no minor unit, so no cents either) and nothing else changes.

Conventions (en_US): ``7,583`` (counts, never ``7583.0``), ``$1,234`` (money; cents only below
$100), ``26.5%`` (fractions in, one decimal), ``+3.9 pp`` (differences of two percentages),
``2.63×`` (ratios), ``12 days``, ``p = 0.032`` / ``p < 0.001``, and ``–`` for anything missing
(never ``None`` or ``nan``). A value that rounds to zero is shown without a sign (no ``-0%``).
Rounding is half away from zero on the decimal value (``0.125`` → ``0.13``).
"""

from __future__ import annotations

import decimal
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from babel import Locale
from babel.numbers import (
    format_currency,
    format_decimal,
    get_currency_precision,
    get_currency_symbol,
)

MISSING = "–"
"""What a missing or undefined value shows (en dash)."""


@dataclass(frozen=True)
class NumberFormat:
    """A locale (CLDR name, e.g. ``en_US``, ``vi_VN``) and the currency money is in."""

    locale: str = "en_US"
    currency: str = "USD"


FORMAT = NumberFormat()
"""The app's locale and currency: the one place a new locale plugs in."""


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def _decimal(value: float, digits: int, fmt: NumberFormat) -> str:
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    with decimal.localcontext() as ctx:
        ctx.rounding = decimal.ROUND_HALF_UP  # 0.125 -> 0.13, as people round
        return format_decimal(value, pattern, locale=fmt.locale)


def _signed(text: str, value: float, digits: int) -> str:
    """``+`` for a value that is positive once rounded; no sign for one that rounds to 0."""
    rounded = round(value, digits)
    if rounded == 0:
        return text.lstrip("-−")
    return f"+{text}" if rounded > 0 else text


def count(value: Any, digits: int = 0, *, fmt: NumberFormat = FORMAT) -> str:
    """A count: ``7,583`` (``digits`` for fractional counts such as attributed orders)."""
    if _missing(value):
        return MISSING
    return _decimal(float(value), digits, fmt)


def money(value: Any, *, cents: bool | None = None, fmt: NumberFormat = FORMAT) -> str:
    """Money in :data:`FORMAT`'s currency: ``$1,234`` (cents only below 100 units by default)."""
    if _missing(value):
        return MISSING
    value = float(value)
    with_cents = abs(value) < 100 if cents is None else cents
    if get_currency_precision(fmt.currency) == 0:
        with_cents = False  # e.g. VND has no minor unit
    pattern = Locale.parse(fmt.locale).currency_formats["standard"].pattern.split(";")[0]
    if not with_cents:
        pattern = re.sub(r"\.0+", "", pattern)
    elif ".00" not in pattern:
        pattern = pattern.replace("#,##0", "#,##0.00")
    with decimal.localcontext() as ctx:
        ctx.rounding = decimal.ROUND_HALF_UP
        return format_currency(
            value, fmt.currency, pattern, locale=fmt.locale, currency_digits=False
        )


def currency_symbol(fmt: NumberFormat = FORMAT) -> str:
    """The currency's symbol in the locale (``$``), for axis prefixes and headers."""
    return get_currency_symbol(fmt.currency, locale=fmt.locale)


def percent(
    fraction: Any, digits: int = 1, *, signed: bool = False, fmt: NumberFormat = FORMAT
) -> str:
    """A fraction as a percentage: ``0.2648`` → ``26.5%`` (``signed``: ``+26.5%``)."""
    if _missing(fraction):
        return MISSING
    value = float(fraction) * 100
    text = _decimal(value, digits, fmt) + "%"
    if signed:
        return _signed(text, value, digits)
    return text.lstrip("-−") if round(value, digits) == 0 else text


def points(difference: Any, digits: int = 1, *, fmt: NumberFormat = FORMAT) -> str:
    """A difference of two fractions in percentage points: ``-0.039`` → ``-3.9 pp``."""
    if _missing(difference):
        return MISSING
    value = float(difference) * 100
    return _signed(_decimal(value, digits, fmt), value, digits) + " pp"


def ratio(value: Any, digits: int = 2, *, fmt: NumberFormat = FORMAT) -> str:
    """A ratio: ``2.63×``."""
    if _missing(value):
        return MISSING
    return _decimal(float(value), digits, fmt) + "×"


def score(value: Any, *, fmt: NumberFormat = FORMAT) -> str:
    """A signed score in points (NPS, -100..100): ``+20``, ``-5``, ``0``."""
    if _missing(value):
        return MISSING
    value = float(value)
    return _signed(_decimal(value, 0, fmt), value, 0)


def days(value: Any, digits: int = 0, *, fmt: NumberFormat = FORMAT) -> str:
    """A duration: ``1 day``, ``12 days``, ``3,884 days``."""
    if _missing(value):
        return MISSING
    value = float(value)
    text = _decimal(value, digits, fmt)
    return f"{text} day" if round(value, digits) == 1 else f"{text} days"


def p_value(p: Any, *, fmt: NumberFormat = FORMAT) -> str:
    """``p = 0.032``; ``p < 0.001`` below 0.001."""
    if _missing(p):
        return MISSING
    p = float(p)
    if p < 0.001:
        return f"p < {_decimal(0.001, 3, fmt)}"
    return f"p = {_decimal(p, 3, fmt)}"


UNITS = ("count", "usd", "money", "percent", "points", "ratio", "days", "score")


def by_unit(value: Any, unit: str, *, fmt: NumberFormat = FORMAT) -> str:
    """Format ``value`` by a unit name of the KPI catalog (``count, usd, percent, ratio,
    days, points``; ``points`` there is an NPS-style score) or of :data:`UNITS`."""
    if unit == "count":
        return count(value, fmt=fmt)
    if unit in ("usd", "money"):
        return money(value, fmt=fmt)
    if unit == "percent":
        return percent(value, fmt=fmt)
    if unit == "ratio":
        return ratio(value, fmt=fmt)
    if unit == "days":
        return days(value, 1, fmt=fmt)
    if unit in ("points", "score"):
        return score(value, fmt=fmt)
    raise ValueError(f"unknown unit {unit!r}; use one of {', '.join(UNITS)}")


_TICK_FORMATS = {
    "count": ",.0f",
    "usd": "$,.2~f",
    "money": "$,.2~f",
    "percent": ".1~%",
    "points": "+.0f",  # the KPI catalog's unit for NPS-style scores
    "pp": "+.1f",
    "ratio": ".2~f",
    "days": ",.1~f",
    "score": "+.0f",
}


def tick_format(unit: str, *, fmt: NumberFormat = FORMAT) -> str:
    """The d3 format of a chart axis or hover value for a unit, matching the text formats above.

    d3's ``$`` is the currency symbol of Plotly's locale; a non-USD locale also sets Plotly's
    ``separators`` and currency (``layout.separators``) from :data:`FORMAT`, in one place
    (:func:`components.theme.apply_theme`).
    """
    if unit not in _TICK_FORMATS:
        raise ValueError(f"unknown unit {unit!r}; use one of {', '.join(_TICK_FORMATS)}")
    return _TICK_FORMATS[unit]


def tick_suffix(unit: str) -> str:
    """The axis tick suffix a unit needs (``×`` for ratios, `` d`` for days, `` pp``)."""
    return {"ratio": "×", "days": " d", "pp": " pp"}.get(unit, "")


# --- headers -----------------------------------------------------------------------------------

_WORDS = {
    "id": "ID",
    "usd": "USD",
    "kpi": "KPI",
    "cac": "CAC",
    "roas": "ROAS",
    "ctr": "CTR",
    "cpc": "CPC",
    "cpa": "CPA",
    "cvr": "CVR",
    "nps": "NPS",
    "csat": "CSAT",
    "clv": "CLV",
    "aov": "AOV",
    "srm": "SRM",
    "ci": "CI",
    "pp": "pp",
    "p": "p",
}
_HEADERS = {
    "p_value": "p-value",
    "key": "Name",
    "n": "n",
}


def header(column: Any) -> str:
    """A readable column header: ``observed_change`` → ``Observed change``, ``p_value`` →
    ``p-value``, ``cac`` → ``CAC``. Headers that are already words are kept."""
    name = str(column)
    if name in _HEADERS:
        return _HEADERS[name]
    if not re.fullmatch(r"[a-z0-9_]+", name):
        return name  # already readable ("Signal", "ROAS (attributed)")
    words = [w for w in name.split("_") if w]
    out = [_WORDS.get(w, w) for w in words]
    if out and out[0] == words[0]:
        out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(out)


def label(value: Any) -> str:
    """A category value as a readable label: ``organic_search`` → ``Organic search``;
    values with other characters (``(no touch)``, names) are kept; missing → ``–``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    text = str(value)
    if re.fullmatch(r"[a-z0-9_]+", text):
        text = text.replace("_", " ")
        return text[:1].upper() + text[1:]
    return text


def readable_headers(columns: Iterable[Any], labels: Mapping[str, str] | None = None) -> dict:
    """``{column: header}`` for a frame's columns; ``labels`` overrides per column."""
    labels = labels or {}
    return {c: labels.get(str(c), header(c)) for c in columns}
