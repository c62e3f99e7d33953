"""Shared checks for the hostile-input suite (tests/test_hostile_*.py).

Every hostile case runs the real app under AppTest and asserts the same four things:

- no exception reached Streamlit (``at.exception`` is empty);
- no traceback text and no server path is rendered anywhere (main area or sidebar);
- no secret is rendered (the planted password, or anything given in ``secrets``);
- the warehouse file is byte-for-byte unchanged (its SHA-256 before and after the case).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.apptest_helpers import APP_PATH, clear_streamlit_caches

ROOT = Path(__file__).resolve().parent.parent

TRACEBACK_MARKERS: tuple[str, ...] = (
    "Traceback (most recent call last)",
    'File "/',
    "site-packages",
    str(ROOT),
    sys.prefix,
)
"""Text that only a traceback or a leaked server path would put on a page."""

PLANTED_SECRET = "hunter2-s3cr3t"
"""A password the suite puts into URLs; it must never appear on a page."""

INJECTED_HTML = "<img src=x onerror=alert(1)><meta http-equiv=refresh content=0>"
"""Markup the suite plants in text values; it must never reach an HTML-rendering element."""

INJECTED_MARKDOWN = "![t](http://tracker.invalid/pixel.png)"
"""A Markdown image the suite plants in text values: rendered as Markdown, the browser would
fetch it from the internet. It must reach Markdown elements escaped (as literal text)."""


def file_hash(path: Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _nodes(at: AppTest) -> Iterator[object]:
    for root in (at.main, at.sidebar):
        yield from root


def rendered_text(at: AppTest) -> str:
    """Everything the script sent to the browser, as text (element protos, both areas).

    Data frames are included through their Arrow bytes as the proto's text form, so a value in
    a table is found too (enough for the ASCII markers and secrets checked here).
    """
    parts: list[str] = []
    for node in _nodes(at):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
    return "\n".join(parts)


def problems(at: AppTest, *, secrets: Iterable[str] = (PLANTED_SECRET,)) -> list[str]:
    """What is wrong with a finished run: exceptions, traceback text, secrets (empty = clean)."""
    found = [f"exception: {str(e.value)[:300]}" for e in at.exception]
    text = rendered_text(at)
    found += [f"traceback text {m!r} rendered" for m in TRACEBACK_MARKERS if m and m in text]
    found += [f"secret {s!r} rendered" for s in secrets if s and s in text]
    found += [f"raw HTML rendered: {body[:120]!r}" for body in _html_bodies(at) if "<img" in body]
    found += [
        f"raw Markdown rendered: {body[:120]!r}"
        for body in _markdown_bodies(at)
        if "](http://tracker.invalid" in body
    ]
    return found


def _markdown_bodies(at: AppTest) -> Iterator[str]:
    """Bodies of the elements rendered as Markdown (markdown, captions, alerts, ...)."""
    for node in _nodes(at):
        body = getattr(getattr(node, "proto", None), "body", None)
        if isinstance(body, str):
            yield body


def _html_bodies(at: AppTest) -> Iterator[str]:
    """Bodies of the elements the browser renders as HTML (markdown with allow_html, st.html)."""
    for node in _nodes(at):
        proto = getattr(node, "proto", None)
        if getattr(proto, "allow_html", False) or getattr(node, "type", None) == "html":
            yield proto.body


def new_app(
    query: dict[str, str] | None = None, *, timeout: float = 60, clear: bool = True
) -> AppTest:
    """A fresh AppTest of app.py with the given URL parameters (and, with ``clear``, empty
    Streamlit caches: needed whenever the warehouse behind the same URL changed)."""
    if clear:
        clear_streamlit_caches()
    at = AppTest.from_file(APP_PATH, default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at


def run_pages(at: AppTest, pages: Iterable[str]) -> dict[str, list[str]]:
    """Run the frame with each page in turn (the first page straight away, not after the
    default page); the problems found per page (only pages with problems)."""
    pages = list(pages)
    found: dict[str, list[str]] = {}
    if not pages:
        at.run()
        if issues := problems(at):
            found["(frame)"] = issues
        return found
    for page in pages:
        at.switch_page(page)
        at.run()
        if issues := problems(at):
            found[page] = issues
    return found
