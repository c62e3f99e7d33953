"""End to end: `streamlit run app.py`, every page opened in Debian's headless chromium.

Needs /usr/bin/chromium (installed by .ci/run with apt); skipped without it unless CI=true.
Screenshots go to artifacts/screenshots/ for a human to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _require_browser() -> None:
    missing = not Path(CHROMIUM).exists() or shutil.which("chromium") is None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = True
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail("Debian chromium and the playwright package are required under CI=true")
        pytest.skip("needs /usr/bin/chromium (apt-get install chromium) and playwright")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo_warehouse(tmp_path_factory) -> Path:
    from data.demo import generator as demo

    path = tmp_path_factory.mktemp("browser") / "demo.duckdb"
    demo.generate(str(path), customers=8_000, seed=11)
    return path


@pytest.fixture(scope="module")
def app_server(demo_warehouse: Path, tmp_path_factory):
    _require_browser()
    port = _free_port()
    home = tmp_path_factory.mktemp("home")
    env = dict(os.environ)
    env.update(
        LOOPLENS_WAREHOUSE_URL=f"duckdb:///{demo_warehouse}",
        LOOPLENS_HOME=str(home),
        LOOPLENS_APP_STATE_URL=f"sqlite:///{home / 'app_state.sqlite'}",
    )
    log = open(home / "streamlit.log", "w")  # noqa: SIM115 - closed in the finaliser
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
            "--server.headless", "true", "--server.port", str(port),
            "--browser.gatherUsageStats", "false",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not answer its health endpoint within 60 s")
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _wait_until_idle(page, timeout_ms: int = 60_000) -> None:
    """Wait for the app to finish running (the status widget shows 'Running' while busy)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_timeout(500)
    for _ in range(2):  # the status widget can blink off between two script phases
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
            " && !document.querySelector('[data-testid=\"stSkeleton\"]')",
            timeout=timeout_ms,
        )
        page.wait_for_timeout(1_000)


def test_every_page_renders_without_exception(app_server: str) -> None:
    from playwright.sync_api import sync_playwright

    shots = ROOT / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        # A deep link as the server's very first session: the page must still run inside
        # app.py (Streamlit would otherwise run pages/lifecycle.py as a legacy page).
        page.goto(app_server + "/lifecycle", wait_until="domcontentloaded")
        _wait_until_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert "Lifecycle" in page.locator("h1").first.inner_text()
        assert page.get_by_text("Date range").count() >= 1  # the global filters: app.py ran
        page.goto(app_server, wait_until="domcontentloaded")
        _wait_until_idle(page)
        links = page.locator('[data-testid="stSidebarNav"] a')
        hrefs = sorted({links.nth(i).get_attribute("href") for i in range(links.count())})
        assert len(hrefs) >= 1, "no pages in the sidebar navigation"
        visited = []
        for href in hrefs:
            url = href if href.startswith("http") else app_server + "/" + href.lstrip("/")
            page.goto(url, wait_until="domcontentloaded")
            _wait_until_idle(page)
            name = urllib.parse.urlparse(url).path.strip("/") or "overview"
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            exceptions = page.locator('[data-testid="stException"]')
            assert exceptions.count() == 0, f"{url}: {exceptions.first.inner_text()[:500]}"
            assert page.locator('[data-testid="stMain"]').inner_text().strip(), f"{url} is blank"
            visited.append(name)
        browser.close()
    assert len(visited) == len(hrefs)
