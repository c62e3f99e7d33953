"""Print an HTML document to PDF or PNG with headless Debian chromium through Playwright."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

CHROMIUM = os.environ.get("LOOPLENS_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
A4_LANDSCAPE_PX = (1123, 794)  # 297 × 210 mm at 96 px/in


class BrowserUnavailable(RuntimeError):
    """Chromium or Playwright is not installed; the message says how to fix it."""


def render(html_text: str, out: Path, kind: str) -> None:
    """Write ``html_text`` as ``kind`` ("pdf": one A4 landscape page; "png": 2× screenshot)."""
    if not Path(CHROMIUM).exists():
        raise BrowserUnavailable(
            f"chromium not found at {CHROMIUM}: apt-get install -y chromium "
            "(or set LOOPLENS_CHROMIUM)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BrowserUnavailable("playwright is not installed: pip install playwright") from None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            w, h = A4_LANDSCAPE_PX
            page = browser.new_page(viewport={"width": w, "height": h}, device_scale_factor=2)
            # The ~4.7 MB page (plotly.js inline) is loaded from a file URL, not over CDP.
            with tempfile.TemporaryDirectory() as tmp:
                source = Path(tmp) / "summary.html"
                source.write_text(html_text, encoding="utf-8")
                page.goto(source.as_uri(), wait_until="load")
            if kind == "pdf":
                page.emulate_media(media="print")
                page.pdf(
                    path=str(out), format="A4", landscape=True, print_background=True
                )  # fmt: skip
            else:
                page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


def available() -> str | None:
    """None when chromium and Playwright are installed, else what is missing (and the fix)."""
    if not Path(CHROMIUM).exists():
        return f"chromium not found at {CHROMIUM}: apt-get install -y chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install playwright"
    return None


def render_bytes(html_text: str, kind: str) -> bytes:
    """:func:`render` into memory: the PDF or PNG bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"summary.{kind}"
        render(html_text, out, kind)
        return out.read_bytes()
