"""Keep the catalogs in step with the source: ``python -m i18n.update``.

Extracts every ``_()`` / ``N_()`` msgid of the app with Babel, rewrites
``i18n/locales/<lang>/LC_MESSAGES/looplens.po`` with those msgids (existing translations kept,
msgids no longer in the source dropped) and prints what is new and still untranslated.
``--merge FILE.json`` first adds translations from a ``{msgid: msgstr}`` JSON file; ``--check``
writes nothing and exits 1 when a msgid has no translation (what tests/test_i18n_catalog.py
asserts).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

import i18n

ROOT = Path(__file__).resolve().parent.parent
SOURCE_PATHS: tuple[str, ...] = (
    "app.py",
    "pages",
    "components",
    "metrics",
    "data",
    "reports",
    "i18n",
)
"""What ships in the app (tests and the bench are not translated), relative to the repository."""

KEYWORDS = {"_": None, "N_": None}


@dataclass(frozen=True)
class Message:
    """One msgid and where the source uses it (``path:line``, relative to the repository)."""

    msgid: str
    locations: tuple[str, ...]


def source_files(root: Path = ROOT) -> list[Path]:
    """The Python files whose strings the UI shows, in a stable order."""
    files: list[Path] = []
    for name in SOURCE_PATHS:
        path = root / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts))
    return files


def extract_messages(root: Path = ROOT) -> dict[str, Message]:
    """Every msgid marked in the source → where it is used (first-seen order)."""
    found: dict[str, list[str]] = {}
    for path in source_files(root):
        relative = path.relative_to(root).as_posix()
        for lineno, message, _comments, _context in extract_from_file(
            "python", str(path), keywords=KEYWORDS
        ):
            if isinstance(message, str) and message:
                found.setdefault(message, []).append(f"{relative}:{lineno}")
    return {msgid: Message(msgid, tuple(where)) for msgid, where in found.items()}


def read_translations(code: str) -> dict[str, str]:
    """``{msgid: msgstr}`` of the language's catalog file as it is on disk now (no cache)."""
    path = i18n.catalog_path(code)
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        po = read_po(handle, locale=i18n.LOCALES.get(code, code))
    return {str(m.id): str(m.string) for m in po if isinstance(m.id, str) and m.id and m.string}


@dataclass(frozen=True)
class UpdateReport:
    """What an update found: msgids without a translation, and ones dropped from the file."""

    untranslated: tuple[Message, ...]
    dropped: tuple[str, ...]
    total: int


def update_catalog(
    code: str, extra: Mapping[str, str] | None = None, write: bool = True, root: Path = ROOT
) -> UpdateReport:
    """Rewrite ``code``'s catalog from the source's msgids, keeping its translations and adding
    ``extra`` ones; with ``write=False`` only report."""
    messages = extract_messages(root)
    known = read_translations(code) | {k: v for k, v in (extra or {}).items() if v}
    catalog = Catalog(locale=i18n.LOCALES.get(code, code), domain=i18n.DOMAIN, project="LoopLens")
    for msgid, message in sorted(messages.items()):
        catalog.add(msgid, known.get(msgid, ""), locations=_locations(message))
    if write:
        path = i18n.catalog_path(code)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, width=0, omit_header=False, sort_output=True)
        i18n.catalog.cache_clear()
    return UpdateReport(
        untranslated=tuple(m for k, m in messages.items() if not known.get(k)),
        dropped=tuple(sorted(set(read_translations(code)) - set(messages))) if not write else (),
        total=len(messages),
    )


def _locations(message: Message) -> list[tuple[str, int]]:
    pairs = []
    for where in message.locations:
        path, _sep, line = where.rpartition(":")
        pairs.append((path, int(line)))
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m i18n.update", description=__doc__)
    parser.add_argument("--lang", default="vi", choices=sorted(set(i18n.LANGUAGES) - {"en"}))
    parser.add_argument("--merge", type=Path, help="a JSON file of {msgid: translation} to add")
    parser.add_argument("--check", action="store_true", help="report only; exit 1 if incomplete")
    args = parser.parse_args(argv)
    extra: dict[str, str] = {}
    if args.merge:
        try:
            extra = json.loads(args.merge.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"error: cannot read {args.merge.name}: {exc}", file=sys.stderr)
            return 2
        if not isinstance(extra, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in extra.items()
        ):
            print("error: --merge expects a JSON object of strings", file=sys.stderr)
            return 2
    report = update_catalog(args.lang, extra, write=not args.check)
    done = report.total - len(report.untranslated)
    print(f"{args.lang}: {done} of {report.total} messages translated")
    for message in report.untranslated[:50]:
        print(f"  untranslated: {message.msgid[:70]!r} ({message.locations[0]})")
    if len(report.untranslated) > 50:
        print(f"  ... and {len(report.untranslated) - 50} more")
    return 1 if args.check and report.untranslated else 0


if __name__ == "__main__":
    raise SystemExit(main())
