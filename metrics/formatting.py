"""The one number formatter: counts, money, percentages, percentage points, ratios, days,
p-values, dates, missing values, column headers and chart-axis formats. Pure (no Streamlit).

Every table, tile, chart axis and CSV header of the app formats through this module, on
`Babel <https://babel.pocoo.org>`_'s CLDR data, in the **active language's locale**
(:func:`i18n.locale`: ``en_US`` or ``vi_VN``) and the **warehouse's currency**
(:func:`warehouse_currency`: ``LOOPLENS_CURRENCY``, set by the app from its config; default
USD). :func:`active_format` is that pair; every function also takes an explicit ``fmt``.

Conventions (en_US, USD): ``7,583`` (counts, never ``7583.0``), ``$1,234`` (money; cents only
below $100), ``26.5%`` (fractions in, one decimal), ``+3.9 pp`` (differences of two
percentages), ``2.63×`` (ratios), ``12 days``, ``p = 0.032`` / ``p < 0.001``, and ``–`` for
anything missing (never ``None`` or ``nan``). vi_VN, VND: ``7.583``, ``1.234.567 ₫`` (VND has
no minor unit: never decimals), compact ``1,2 tỷ ₫`` / ``350 triệu ₫``, ``26,5%``,
``+3,9 điểm %``, ``12 ngày``, dates ``05/03/2026``. A value that rounds to zero is shown
without a sign (no ``-0%``). Rounding is half away from zero on the decimal value
(``0.125`` → ``0.13``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.core import get_global
from babel.dates import format_date
from babel.numbers import (
    format_compact_decimal,
    format_currency,
    format_decimal,
    get_currency_precision,
    get_currency_symbol,
)

import i18n
from i18n import N_, _

MISSING = "–"
"""What a missing or undefined value shows (en dash)."""


@dataclass(frozen=True)
class NumberFormat:
    """A locale (CLDR name, e.g. ``en_US``, ``vi_VN``) and the currency money is in."""

    locale: str = "en_US"
    currency: str = "USD"


FORMAT = NumberFormat()
"""The source format (en_US, USD): what tests and English output are written against."""

CURRENCIES = ("USD", "VND", "EUR", "GBP")
"""Currencies a warehouse may declare (ISO 4217); Babel knows many more, these are tested."""


_CURRENCY_SETTING: list[str] = []


def set_warehouse_currency(code: str | None) -> None:
    """Declare the warehouse currency for this process (the app's ``[looplens] currency``);
    None goes back to ``LOOPLENS_CURRENCY`` / USD."""
    _CURRENCY_SETTING.clear()
    if code:
        _CURRENCY_SETTING.append(code)


def warehouse_currency() -> str:
    """The currency the warehouse's money columns are in (ISO 4217, e.g. ``VND``): the
    declared setting, else ``LOOPLENS_CURRENCY``, else ``USD``. One currency for every money
    column of the contract; an unknown code falls back to USD."""
    raw = _CURRENCY_SETTING[0] if _CURRENCY_SETTING else os.environ.get("LOOPLENS_CURRENCY")
    code = (raw or "USD").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code) or code not in get_global("all_currencies"):
        return "USD"
    return code


def active_format() -> NumberFormat:
    """The active language's locale and the warehouse's currency."""
    return NumberFormat(i18n.locale(), warehouse_currency())


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def _decimal(value: float, digits: int, fmt: NumberFormat | None = None) -> str:
    fmt = fmt or active_format()
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


def count(value: Any, digits: int = 0, *, fmt: NumberFormat | None = None) -> str:
    """A count: ``7,583`` (``digits`` for fractional counts such as attributed orders)."""
    fmt = fmt or active_format()
    if _missing(value):
        return MISSING
    return _decimal(float(value), digits, fmt)


def money(value: Any, *, cents: bool | None = None, fmt: NumberFormat | None = None) -> str:
    """Money in :data:`FORMAT`'s currency: ``$1,234`` (cents only below 100 units by default)."""
    fmt = fmt or active_format()
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


_COMPACT_MIN = 10_000
"""Below this many units a compact amount is the plain amount (``$9,500``, ``9.500 ₫``)."""


def money_compact(value: Any, digits: int = 1, *, fmt: NumberFormat | None = None) -> str:
    """Money for a tile or headline, abbreviated in the locale's words: ``$1.2M``, ``$350K``;
    vi_VN: ``1,2 tỷ ₫``, ``350 triệu ₫``. Below 10,000 units: :func:`money`."""
    fmt = fmt or active_format()
    if _missing(value):
        return MISSING
    value = float(value)
    if abs(value) < _COMPACT_MIN:
        return money(value, fmt=fmt)
    long = fmt.locale.startswith("vi")  # "1,2 tỷ": the words Vietnamese readers use
    with decimal.localcontext() as ctx:
        ctx.rounding = decimal.ROUND_HALF_UP
        number = format_compact_decimal(
            abs(value),
            format_type="long" if long else "short",
            locale=fmt.locale,
            fraction_digits=digits,
        )
    sign = "-" if value < 0 else ""
    symbol = currency_symbol(fmt)
    pattern = Locale.parse(fmt.locale).currency_formats["standard"].pattern
    if pattern.strip().startswith("¤"):
        return f"{sign}{symbol}{number}"
    return f"{sign}{number} {symbol}"


def column_money_format(fmt: NumberFormat | None = None) -> str:
    """Streamlit's NumberColumn format for money: ``dollar`` in USD, else ``localized`` (the
    reader's separators; the header names the currency)."""
    fmt = fmt or active_format()
    return "dollar" if fmt.currency == "USD" else "localized"


def is_whole_currency(fmt: NumberFormat | None = None) -> bool:
    """True for a currency without minor units (VND), whose amounts run to billions."""
    fmt = fmt or active_format()
    return get_currency_precision(fmt.currency) == 0


def currency_symbol(fmt: NumberFormat | None = None) -> str:
    """The currency's symbol in the locale (``$``), for axis prefixes and headers."""
    fmt = fmt or active_format()
    return get_currency_symbol(fmt.currency, locale=fmt.locale)


def percent(
    fraction: Any, digits: int = 1, *, signed: bool = False, fmt: NumberFormat | None = None
) -> str:
    """A fraction as a percentage: ``0.2648`` → ``26.5%`` (``signed``: ``+26.5%``)."""
    fmt = fmt or active_format()
    if _missing(fraction):
        return MISSING
    value = float(fraction) * 100
    text = _decimal(value, digits, fmt) + "%"
    if signed:
        return _signed(text, value, digits)
    return text.lstrip("-−") if round(value, digits) == 0 else text


def points(
    difference: Any, digits: int = 1, *, signed: bool = True, fmt: NumberFormat | None = None
) -> str:
    """A difference of two fractions in percentage points: ``-0.039`` → ``-3.9 pp``
    (``signed=False``: the size only, ``3.9 pp``)."""
    fmt = fmt or active_format()
    if _missing(difference):
        return MISSING
    value = float(difference) * 100
    text = _decimal(abs(value) if not signed else value, digits, fmt)
    return _("{value} pp").format(value=_signed(text, value, digits) if signed else text)


def ratio(value: Any, digits: int = 2, *, fmt: NumberFormat | None = None) -> str:
    """A ratio: ``2.63×``."""
    fmt = fmt or active_format()
    if _missing(value):
        return MISSING
    return _decimal(float(value), digits, fmt) + "×"


def score(value: Any, *, fmt: NumberFormat | None = None) -> str:
    """A signed score in points (NPS, -100..100): ``+20``, ``-5``, ``0``."""
    fmt = fmt or active_format()
    if _missing(value):
        return MISSING
    value = float(value)
    return _signed(_decimal(value, 0, fmt), value, 0)


def days(value: Any, digits: int = 0, *, fmt: NumberFormat | None = None) -> str:
    """A duration: ``1 day``, ``12 days``, ``3,884 days``."""
    fmt = fmt or active_format()
    if _missing(value):
        return MISSING
    value = float(value)
    text = _decimal(value, digits, fmt)
    if round(value, digits) == 1:
        return _("{n} day").format(n=text)
    return _("{n} days").format(n=text)


GRAIN_NAMES = {"day": N_("day"), "week": N_("week"), "month": N_("month")}
GRAIN_PLURALS = {"day": N_("days"), "week": N_("weeks"), "month": N_("months")}


def grain_name(grain: str) -> str:
    """A time grain's name: ``week`` → ``week`` / ``tuần`` (translated)."""
    return _(GRAIN_NAMES[grain]) if grain in GRAIN_NAMES else str(grain)


def grain_plural(grain: str) -> str:
    """A time grain's plural for running text: ``week`` → ``weeks`` (translated)."""
    return _(GRAIN_PLURALS[grain]) if grain in GRAIN_PLURALS else str(grain)


def p_value(p: Any, *, fmt: NumberFormat | None = None) -> str:
    """``p = 0.032``; ``p < 0.001`` below 0.001."""
    fmt = fmt or active_format()
    if _missing(p):
        return MISSING
    p = float(p)
    if p < 0.001:
        return f"p < {_decimal(0.001, 3, fmt)}"
    return f"p = {_decimal(p, 3, fmt)}"


DATE_FORMATS: dict[str, str] = {"en": "d MMM yyyy", "vi": "dd/MM/yyyy"}
"""CLDR date patterns per language: ``5 Mar 2026``; vi: ``05/03/2026``."""
SHORT_DATE_FORMATS: dict[str, str] = {"en": "d MMM", "vi": "dd/MM"}


def date(value: Any, *, short: bool = False) -> str:
    """A calendar day in the active language: ``5 Mar 2026`` / ``05/03/2026`` (``short``:
    ``5 Mar`` / ``05/03``); missing → ``–``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        return str(value)
    lang = i18n.get_language()
    pattern = (SHORT_DATE_FORMATS if short else DATE_FORMATS)[lang]
    return format_date(value, pattern, locale=i18n.locale())


MONTH_FORMATS = {"en": "MMM yyyy", "vi": "MM/yyyy"}


def month(value: Any) -> str:
    """A calendar month in the active language: ``Mar 2026`` / ``03/2026``; missing → ``–``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        return str(value)
    return format_date(value, MONTH_FORMATS[i18n.get_language()], locale=i18n.locale())


def date_range(start: Any, end: Any) -> str:
    """``5 Mar 2026 – 2 Jun 2026`` / ``05/03/2026 – 02/06/2026``."""
    return f"{date(start)} – {date(end)}"


def clock(value: Any) -> str:
    """A moment (aware, or naive UTC) as a local date and time in the active language's time
    zone (:func:`i18n.time_zone`): ``5 Mar 2026 14:05 UTC`` / ``05/03/2026 21:05 (GMT+7)``."""
    if not isinstance(value, dt.datetime):
        return MISSING if value is None else str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    zone = i18n.time_zone()
    local = value.astimezone(ZoneInfo(zone))
    offset = local.utcoffset() or dt.timedelta(0)
    hours = offset.total_seconds() / 3600
    label = "UTC" if hours == 0 else f"GMT{hours:+g}"
    return f"{date(local.date())} {local:%H:%M} ({label})"


WEEK_STARTS_ON = "Monday"
"""Weekly grains (SQL ``date_trunc('week')``) are ISO weeks: Monday to Sunday, in every language."""


UNITS = ("count", "usd", "money", "percent", "points", "ratio", "days", "score")


def by_unit(value: Any, unit: str, *, fmt: NumberFormat | None = None) -> str:
    """Format ``value`` by a unit name of the KPI catalog (``count, usd, percent, ratio,
    days, points``; ``points`` there is an NPS-style score) or of :data:`UNITS`."""
    fmt = fmt or active_format()
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


def tick_format(unit: str, *, fmt: NumberFormat | None = None) -> str:
    """The d3 format of a chart axis or hover value for a unit, matching the text formats above.

    d3's ``$`` is the currency symbol of Plotly's locale; a non-USD locale also sets Plotly's
    ``separators`` and currency (``layout.separators``) from :data:`FORMAT`, in one place
    (:func:`components.theme.apply_theme`).
    """
    fmt = fmt or active_format()
    if unit not in _TICK_FORMATS:
        raise ValueError(f"unknown unit {unit!r}; use one of {', '.join(_TICK_FORMATS)}")
    if unit in ("usd", "money") and fmt.currency != "USD":
        # d3's "$" is always the dollar: other currencies get plain digits and a suffix
        return ",.0f" if get_currency_precision(fmt.currency) == 0 else ",.2~f"
    return _TICK_FORMATS[unit]


def hover_money(fmt: NumberFormat | None = None) -> str:
    """The Plotly Express ``hover_data`` format of a money column (``:$,.0f`` in USD)."""
    fmt = fmt or active_format()
    return ":$,.0f" if fmt.currency == "USD" else ":,.0f"


def plotly_separators(fmt: NumberFormat | None = None) -> str:
    """Plotly's ``layout.separators`` (decimal, then thousands) for the locale: ``.,`` / ``,.``."""
    fmt = fmt or active_format()
    symbols = Locale.parse(fmt.locale).number_symbols["latn"]
    return symbols["decimal"] + symbols["group"]


def tick_suffix(unit: str, *, fmt: NumberFormat | None = None) -> str:
    """The axis tick suffix a unit needs (``×`` for ratios, `` d`` for days, `` pp``; a
    non-dollar currency's symbol, `` ₫``)."""
    fmt = fmt or active_format()
    if unit in ("usd", "money") and fmt.currency != "USD":
        return " " + currency_symbol(fmt)
    return {"ratio": "×", "days": _(" d"), "pp": _(" pp")}.get(unit, "")


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
    "p_value": N_("p-value"),
    "key": N_("Name"),
    "n": "n",
}


def header(column: Any) -> str:
    """A readable column header: ``observed_change`` → ``Observed change``, ``p_value`` →
    ``p-value``, ``cac`` → ``CAC``. Headers that are already words are kept."""
    name = str(column)
    if name in _HEADERS:
        return _(_HEADERS[name])
    if not re.fullmatch(r"[a-z0-9_]+", name):
        return _(name)  # already readable ("Signal", "ROAS (attributed)")
    words = [w for w in name.split("_") if w]
    out = [_WORDS.get(w, w) for w in words]
    if out and out[0] == words[0]:
        out[0] = out[0][:1].upper() + out[0][1:]
    text = " ".join(out)
    return _(text)  # the catalog's words


VALUE_LABELS: dict[str, str] = {
    "paid_search": N_("Paid search"),
    "organic_search": N_("Organic search"),
    "paid_social": N_("Paid social"),
    "organic_social": N_("Organic social"),
    "email": N_("Email"),
    "video": N_("Video"),
    "community": N_("Community"),
    "referral": N_("Referral"),
    "direct": N_("Direct"),
    "smb": N_("SMB"),
    "mid_market": N_("Mid-market"),
    "enterprise": N_("Enterprise"),
    "founder": N_("Founder"),
    "marketer": N_("Marketer"),
    "engineer": N_("Engineer"),
    "analyst": N_("Analyst"),
    "exec": N_("Exec"),
    "mien_bac": N_("Northern Vietnam"),
    "mien_trung": N_("Central Vietnam"),
    "mien_nam": N_("Southern Vietnam"),
    "tay_nguyen": N_("Central Highlands"),
    "apac": N_("APAC"),
    "latam": N_("LATAM"),
}
"""Category values whose readable name is not their code with spaces (Vietnamese regions,
acronyms); English msgids, translated where shown."""


def label(value: Any) -> str:
    """A category value as a readable label: ``organic_search`` → ``Organic search``;
    values with other characters (``(no touch)``, names) are kept; missing → ``–``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    text = str(value)
    if text in VALUE_LABELS:
        return _(VALUE_LABELS[text])
    if re.fullmatch(r"[a-z0-9_]+", text):
        text = text.replace("_", " ")
        return _(text[:1].upper() + text[1:])
    return _(text)


def readable_headers(columns: Iterable[Any], labels: Mapping[str, str] | None = None) -> dict:
    """``{column: header}`` for a frame's columns; ``labels`` overrides per column."""
    labels = labels or {}
    return {c: labels.get(str(c), header(c)) for c in columns}
