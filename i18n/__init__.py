"""The translation layer: every user-visible string goes through ``_()``.

``_("Text")`` translates at call time into the active language; ``N_("Text")`` only marks a
module-level constant for extraction (translate it with ``_()`` where it is rendered).

The catalogs are gettext ``.po`` files (``i18n/locales/<lang>/LC_MESSAGES/looplens.po``), read
with Babel's ``read_po`` on first use, so a fresh checkout needs no build step (docs/i18n.md:
how to extract, update and check them). The active language is a context variable: ``app.py``
sets it at the start of every Streamlit run (each session's run has its own thread and
context), so two sessions in two languages never see each other's. No Streamlit here.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import numbers
import os
import string
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from babel.messages.pofile import read_po

LANGUAGES: dict[str, str] = {"en": "English", "vi": "Tiếng Việt"}
"""The languages the UI speaks (code → its own name, as the picker shows it)."""

SOURCE_LANGUAGE = "en"
"""The language the msgids are written in (no catalog needed)."""

LOCALES: dict[str, str] = {"en": "en_US", "vi": "vi_VN"}
"""The CLDR locale each language formats numbers and dates in."""

TIME_ZONES: dict[str, str] = {"en": "UTC", "vi": "Asia/Ho_Chi_Minh"}
"""The time zone clock times are shown in, per language (dates stay warehouse days)."""

DOMAIN = "looplens"
LOCALE_DIR = Path(__file__).resolve().parent / "locales"

_active: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "looplens_language", default=None
)


def normalise(language: object) -> str | None:
    """``"vi"``, ``"vi_VN"``, ``"VI-vn"`` → ``"vi"``; None for anything not in LANGUAGES."""
    if not isinstance(language, str):
        return None
    code = language.strip().replace("-", "_").split("_")[0].lower()
    return code if code in LANGUAGES else None


def default_language() -> str:
    """The language when the URL has none: ``LOOPLENS_LANG`` (``vi``/``en``), else English."""
    return normalise(os.environ.get("LOOPLENS_LANG")) or SOURCE_LANGUAGE


def get_language() -> str:
    """The active language of this run; English where nothing set one (imports, the CLIs,
    tests): module-level code never translates, so constants stay msgids."""
    return _active.get() or SOURCE_LANGUAGE


def set_language(language: str) -> str:
    """Make ``language`` active for this context (a run); returns the code actually set."""
    code = normalise(language) or default_language()
    _active.set(code)
    return code


@contextlib.contextmanager
def language(code: str) -> Iterator[str]:
    """``with language("vi"):`` — the block runs in ``code``; the previous language after."""
    token = _active.set(normalise(code) or default_language())
    try:
        yield _active.get() or SOURCE_LANGUAGE
    finally:
        _active.reset(token)


def catalog_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def catalog(code: str) -> dict[str, str]:
    """``{msgid: msgstr}`` of a language's catalog (translated, non-fuzzy entries only)."""
    path = catalog_path(code)
    if code == SOURCE_LANGUAGE or not path.exists():
        return {}
    with path.open("rb") as handle:
        po = read_po(handle, locale=LOCALES.get(code, code))
    return {
        str(m.id): str(m.string)
        for m in po
        if m.id and isinstance(m.id, str) and m.string and not m.fuzzy
    }


SEPARATORS: dict[str, tuple[str, str]] = {"vi": (".", ",")}
"""(group, decimal) separators of a language whose numbers are not written ``1,234.5``."""


class _LocalFormatter(string.Formatter):
    """Formats numeric fields with the language's separators: ``{n:,}`` → ``1.234.567`` and
    ``{p:.1%}`` → ``31,7%`` in Vietnamese. Dates, strings and other fields are untouched."""

    def __init__(self, group: str, decimal: str) -> None:
        self.swap = str.maketrans({",": group, ".": decimal})

    def format_field(self, value: object, format_spec: str) -> str:
        text = super().format_field(value, format_spec)
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and format_spec:
            return text.translate(self.swap)
        return text


class Message(str):
    """A translated message: a ``str`` whose ``.format()`` writes numbers the active language's
    way (a ``{n:,}`` in a msgid reads ``55.000`` in Vietnamese)."""

    __slots__ = ()

    def format(self, *args: object, **kwargs: object) -> str:  # noqa: A003 - str's own name
        separators = SEPARATORS.get(get_language())
        if separators is None:
            return str.format(self, *args, **kwargs)
        return _LocalFormatter(*separators).vformat(str(self), args, kwargs)


def _(message: str) -> str:
    """The active language's translation of ``message`` (English, or none yet: unchanged); its
    ``.format()`` localises numeric fields (:class:`Message`)."""
    code = get_language()
    if code == SOURCE_LANGUAGE:
        return message
    return Message(catalog(code).get(message, message))


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name
    """Mark ``message`` for extraction without translating it (module-level constants)."""
    return message


class TranslatedFields:
    """Mixin for frozen definition dataclasses (KPIs, metrics): the fields named in
    ``TRANSLATED`` hold English msgids (marked with ``N_``) and read back translated into the
    active language, so every page that shows ``kpi.label`` shows it in the reader's language
    without a ``_()`` at each use. ``raw(name)`` gives the msgid."""

    TRANSLATED: ClassVar[tuple[str, ...]] = ()

    def __getattribute__(self, name: str):  # noqa: ANN204 - any field type
        value = object.__getattribute__(self, name)
        if isinstance(value, str) and name in object.__getattribute__(self, "TRANSLATED"):
            return _(value)
        return value

    def raw(self, name: str) -> str:
        """A translated field's msgid (English)."""
        return object.__getattribute__(self, name)


def locale() -> str:
    """The CLDR locale of the active language (``en_US``, ``vi_VN``)."""
    return LOCALES[get_language()]


def time_zone() -> str:
    """The IANA time zone clock times are shown in for the active language."""
    return os.environ.get("LOOPLENS_TIMEZONE") or TIME_ZONES[get_language()]
