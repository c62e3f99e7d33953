"""The Vietnamese catalog is complete and well-formed, and UI text is marked for translation.

- Every msgid the source marks with ``_()`` / ``N_()`` (extracted by Babel, as
  ``python -m i18n.update`` does) has a Vietnamese translation; a new, untranslated string fails
  here with its file and line.
- Each translation keeps its msgid's placeholders (``{name}``, ``{n:,}``, ``%s``) and Markdown
  bold markers, so ``.format()`` cannot raise and the text renders alike; a date field may
  localise its strftime pattern (``{end:%d %b %Y}`` → ``{end:%d/%m/%Y}``).
- Streamlit calls in app.py, pages/ and components/ pass no bare English literal as their label
  or text (an AST scan): such a string would never reach the catalog.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

import i18n
from i18n import update

ROOT = Path(__file__).resolve().parent.parent

PLACEHOLDER = re.compile(r"\{[^{}]*\}|%\([A-Za-z_]\w*\)[sdifr]|%[sdifr]")
STRFTIME_SPEC = re.compile(r"\{(\w*):[^{}]*%[^{}]*\}")


def placeholders(text: str) -> Counter:
    """The placeholders of a message; a date field's strftime pattern (``{start:%d %b %Y}``)
    counts as the field alone, since a translation may localise it (``{start:%d/%m/%Y}``)."""
    return Counter(PLACEHOLDER.findall(STRFTIME_SPEC.sub(r"{\1:%date}", text)))


@pytest.fixture(scope="module")
def messages() -> dict[str, update.Message]:
    return update.extract_messages(ROOT)


@pytest.fixture(scope="module")
def vietnamese() -> dict[str, str]:
    return update.read_translations("vi")


def test_the_source_marks_messages(messages: dict[str, update.Message]) -> None:
    assert len(messages) > 500  # the extraction itself works (pages, components, metrics, data)
    assert "Loop health" in messages


def test_every_message_has_a_vietnamese_translation(
    messages: dict[str, update.Message], vietnamese: dict[str, str]
) -> None:
    missing = [m for k, m in messages.items() if not vietnamese.get(k, "").strip()]
    listed = "\n".join(f"  {m.locations[0]}: {m.msgid[:80]!r}" for m in missing[:40])
    assert not missing, (
        f"{len(missing)} of {len(messages)} messages have no Vietnamese translation "
        f"(add them to i18n/locales/vi/LC_MESSAGES/looplens.po; `python -m i18n.update` "
        f"lists them):\n{listed}"
    )


def test_translations_keep_placeholders_and_markdown(vietnamese: dict[str, str]) -> None:
    broken = []
    for msgid, msgstr in vietnamese.items():
        if placeholders(msgid) != placeholders(msgstr):
            broken.append(f"placeholders differ: {msgid[:60]!r} → {msgstr[:60]!r}")
        elif msgid.count("**") != msgstr.count("**"):
            broken.append(f"bold markers differ: {msgid[:60]!r} → {msgstr[:60]!r}")
    assert not broken, "\n".join(broken[:40])


def test_a_date_field_may_localise_its_pattern_but_not_drop_or_rename() -> None:
    assert placeholders("{end:%d %b %Y} {n:,}") == placeholders("{n:,} {end:%d/%m/%Y}")
    assert placeholders("{end:%d %b %Y}") != placeholders("{start:%d/%m/%Y}")
    assert placeholders("{n:,}") != placeholders("{n:.1f}")  # number specs must match


def test_vietnamese_runs_read_the_catalog() -> None:
    i18n.catalog.cache_clear()
    with i18n.language("vi"):
        assert i18n._("Loop health") != "Loop health"
        assert i18n._("a string no catalog holds") == "a string no catalog holds"
    assert i18n._("Loop health") == "Loop health"  # back to English outside the block


def test_update_reports_new_strings_and_keeps_translations(tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "pages"
    source.mkdir()
    (source / "page.py").write_text(
        'from i18n import _\n_("Known text")\n_("Brand-new text")\n', encoding="utf-8"
    )
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path / "locales")
    first = update.update_catalog("vi", {"Known text": "Văn bản đã biết"}, root=tmp_path)
    assert [m.msgid for m in first.untranslated] == ["Brand-new text"]
    assert first.untranslated[0].locations == ("pages/page.py:3",)
    again = update.update_catalog("vi", root=tmp_path)  # the translation survives a rewrite
    assert [m.msgid for m in again.untranslated] == ["Brand-new text"]
    assert update.read_translations("vi") == {"Known text": "Văn bản đã biết"}
    i18n.catalog.cache_clear()


# --- bare literals in Streamlit calls -----------------------------------------------------------

UI_CALLS = frozenset(
    {
        "title", "header", "subheader", "caption", "markdown", "info", "warning", "error",
        "success", "toast", "button", "download_button", "link_button", "form_submit_button",
        "selectbox", "radio", "multiselect", "segmented_control", "pills", "toggle", "checkbox",
        "text_input", "text_area", "number_input", "date_input", "slider", "select_slider",
        "file_uploader", "metric", "tabs", "expander", "popover", "write", "page_link",
    }
)  # fmt: skip
TEXT_KEYWORDS = frozenset({"label", "help", "placeholder", "caption", "body", "title"})
HTML_TAG = re.compile(r"<[^>]*>")
ALLOWED = frozenset({"α"})  # a symbol, the same in both languages (Quick analysis' alpha input)


def _texts(call: ast.Call) -> list[ast.expr]:
    """The arguments of a Streamlit call that users read (``page_link``'s first is a path)."""
    positional = [] if call.func.attr == "page_link" else call.args[:1]  # type: ignore[union-attr]
    values = list(positional) + [k.value for k in call.keywords if k.arg in TEXT_KEYWORDS]
    flat: list[ast.expr] = []
    for value in values:
        flat.extend(value.elts if isinstance(value, ast.List | ast.Tuple) else [value])
    return flat


def _bare_words(node: ast.expr) -> str | None:
    """The English words a literal or f-string shows as-is, outside HTML markup; None if none."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr):
        text = "".join(p.value for p in node.values if isinstance(p, ast.Constant))
    else:
        return None
    text = HTML_TAG.sub("", text)
    text = re.sub(r":material/\w+:", "", text)
    if text.strip() in ALLOWED or sum(c.isascii() and c.isalpha() for c in text) < 2:
        return None
    return text.strip()


def test_streamlit_calls_pass_no_bare_english_text() -> None:
    files = [ROOT / "app.py", *sorted((ROOT / "pages").rglob("*.py"))]
    files += sorted((ROOT / "components").rglob("*.py"))
    bare = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in UI_CALLS
            ):
                continue
            for argument in _texts(node):
                words = _bare_words(argument)
                if words:
                    where = f"{path.relative_to(ROOT)}:{argument.lineno}"
                    bare.append(f"{where}: {node.func.attr}({words[:60]!r})")
    assert not bare, "UI text not wrapped in _():\n" + "\n".join(bare)
