"""End to end: `streamlit run app.py`, every page opened in Debian's headless chromium.

Needs /usr/bin/chromium (installed by .ci/run with apt); skipped without it unless CI=true.
Screenshots go to artifacts/screenshots/ for a human to look at.

Every wait is on what the test then asserts (Playwright's ``expect`` retries until its timeout):
the app's script-run state, the page's title, the sidebar filters. There is no fixed sleep, so a
busy machine only makes the tests slower, not red. Requests that leave the machine are aborted
and recorded: the app must render completely offline.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from components.navigation import PAGE_SPECS

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
# Generous: on a loaded 2-core machine a cold page run takes seconds, a first start much longer.
RUN_TIMEOUT_MS = 120_000
FIRST_START_TIMEOUT_MS = 300_000
HEALTH_TIMEOUT_S = 120
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TITLES = [spec.title for spec in PAGE_SPECS]
DEFAULT_PATH = next(spec.url_path for spec in PAGE_SPECS if spec.default)

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


@contextmanager
def _streamlit(
    home: Path, *, port: int | None = None, extra_args: tuple[str, ...] = (), **env_vars: str
) -> Iterator[str]:
    """Run ``streamlit run app.py [extra_args]`` with ``env_vars`` (``LOOPLENS_HOME=home`` unless
    given) on ``port`` (default: a free one); yields its base URL. Its log: home/streamlit.log."""
    port = port or _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPLENS_")}
    env["LOOPLENS_HOME"] = str(home)
    env.update(env_vars)
    log = open(home / "streamlit.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
            "--server.headless", "true", "--server.port", str(port),
            "--browser.gatherUsageStats", "false", *extra_args,
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"streamlit did not answer its health endpoint within {HEALTH_TIMEOUT_S} s "
                    f"(log: {home / 'streamlit.log'})"
                )
            time.sleep(0.25)  # polling a server that is starting, not waiting for an assertion
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def chromium():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def demo_warehouse(tmp_path_factory) -> Path:
    from data.demo import generator as demo

    path = tmp_path_factory.mktemp("browser") / "demo.duckdb"
    demo.generate(str(path), customers=8_000, seed=11)
    return path


@pytest.fixture(scope="module")
def app_server(chromium, demo_warehouse: Path, tmp_path_factory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("home")
    with _streamlit(
        home,
        LOOPLENS_WAREHOUSE_URL=f"duckdb:///{demo_warehouse}",
        LOOPLENS_APP_STATE_URL=f"sqlite:///{home / 'app_state.sqlite'}",
    ) as base:
        yield base


def _is_local(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname in LOCAL_HOSTS


class _Offline:
    """Abort (and record) every request of a page that would leave the machine."""

    def __init__(self, page) -> None:  # noqa: ANN001 - a playwright Page
        self.local: list[str] = []
        self.outside: list[str] = []
        page.on("request", self._seen)
        page.on("websocket", lambda ws: self._seen_url(ws.url))
        page.route("**/*", self._route)

    def _seen(self, request) -> None:  # noqa: ANN001
        self._seen_url(request.url)

    def _seen_url(self, url: str) -> None:
        (self.local if _is_local(url) else self.outside).append(url)

    @staticmethod
    def _route(route) -> None:  # noqa: ANN001
        if _is_local(route.request.url):
            route.continue_()
        else:
            route.abort("internetdisconnected")


def _new_page(browser):  # noqa: ANN001, ANN202 - (playwright Page, _Offline)
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    return page, _Offline(page)


def _wait_for_run(page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:  # noqa: ANN001
    """Wait until the app's script has run (Streamlit marks it on the app root element)."""
    from playwright.sync_api import expect

    app = page.locator('[data-testid="stApp"]')
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout_ms)


def _expect_page(page, title: str, timeout_ms: int = RUN_TIMEOUT_MS) -> None:  # noqa: ANN001
    """The page ``title`` has rendered inside app.py, completely and without an exception."""
    from playwright.sync_api import expect

    main = page.locator('[data-testid="stMain"]')
    expect(main.locator("h1").first).to_contain_text(title, timeout=timeout_ms)
    # The global filters are drawn by app.py: the page ran inside the frame.
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text("Date range").first).to_be_visible(timeout=timeout_ms)
    _wait_for_run(page, timeout_ms)
    expect(page.locator('[data-testid="stSkeleton"]')).to_have_count(0, timeout=timeout_ms)
    exceptions = page.locator('[data-testid="stException"]')
    if exceptions.count():
        pytest.fail(f"{page.url}: {exceptions.first.inner_text()[:500]}")
    assert main.inner_text().strip(), f"{page.url} is blank"


def _nav_paths(page) -> list[str]:  # noqa: ANN001
    links = page.locator('[data-testid="stSidebarNav"] a')
    paths = []
    for i in range(links.count()):
        href = links.nth(i).get_attribute("href") or ""
        paths.append(urllib.parse.urlsplit(href).path.strip("/") or DEFAULT_PATH)
    return paths


def test_every_page_renders_without_exception(app_server: str, chromium) -> None:
    from playwright.sync_api import expect

    shots = ROOT / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page, _ = _new_page(chromium)
    # A deep link as the server's very first session: the page must still run inside
    # app.py (Streamlit would otherwise run pages/lifecycle.py as a legacy page).
    page.goto(app_server + "/lifecycle", wait_until="domcontentloaded")
    _expect_page(page, "Lifecycle")

    page.goto(app_server, wait_until="domcontentloaded")
    _expect_page(page, TITLES[0])
    links = page.locator('[data-testid="stSidebarNav"] a')
    expect(links).to_have_count(len(PAGE_SPECS), timeout=RUN_TIMEOUT_MS)
    assert sorted(_nav_paths(page)) == sorted(spec.url_path for spec in PAGE_SPECS)
    for spec in PAGE_SPECS:
        path = "" if spec.default else spec.url_path
        page.goto(f"{app_server}/{path}", wait_until="domcontentloaded")
        _expect_page(page, spec.title)
        page.screenshot(path=str(shots / f"{spec.url_path}.png"), full_page=True)
    page.context.close()


def test_nothing_is_fetched_from_the_internet(app_server: str, chromium) -> None:
    """Every request goes to the app's own server: no icon font, favicon or script from a CDN.

    Pages are opened the way a user does (sidebar clicks after one load), with off-machine
    requests aborted, so this is also the offline machine's view.
    """
    from playwright.sync_api import expect

    page, net = _new_page(chromium)
    page.goto(app_server, wait_until="domcontentloaded")
    _expect_page(page, TITLES[0])
    nav = page.locator('[data-testid="stSidebarNav"]')
    for spec in PAGE_SPECS[1:]:
        nav.get_by_role("link", name=spec.title, exact=False).first.click()
        url = re.compile(rf"{re.escape(app_server)}/{spec.url_path}(\?.*)?$")  # + filters
        expect(page).to_have_url(url, timeout=RUN_TIMEOUT_MS)
        _expect_page(page, spec.title)
    # The page icon replaces Streamlit's default favicon (a ":material/...:" icon would point it
    # at fonts.gstatic.com): it has been applied, so a CDN favicon would have been requested.
    icon = page.locator("link[rel='shortcut icon']")
    expect(icon).not_to_have_attribute("href", "./favicon.png", timeout=RUN_TIMEOUT_MS)
    page.context.close()
    assert any("/_stcore/" in url for url in net.local), "the request recorder saw nothing"
    assert net.outside == [], f"requests leaving the machine: {sorted(set(net.outside))}"


def test_first_start_shows_only_the_real_navigation(chromium, tmp_path: Path) -> None:
    """While the demo warehouse is generated on first start, the sidebar never lists the raw
    ``pages/`` file names (Streamlit's legacy multipage mode), only the app's navigation."""
    from playwright.sync_api import expect

    if (ROOT / ".streamlit" / "secrets.toml").exists():
        reason = ".streamlit/secrets.toml points the app at another warehouse (no demo start)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    home = tmp_path / "home"
    home.mkdir()
    with _streamlit(home, LOOPLENS_APP_STATE_URL=f"sqlite:///{home / 'app_state.sqlite'}") as base:
        page, net = _new_page(chromium)
        # Record the sidebar's links at every DOM change while the generation notice is shown.
        page.add_init_script(
            """
            window.__navDuringGeneration = [];
            new MutationObserver(() => {
              const notice = [...document.querySelectorAll('[data-testid="stAlert"]')]
                .some(el => el.innerText.includes('Generating the embedded demo warehouse'));
              if (!notice) return;
              const links = [...document.querySelectorAll('[data-testid="stSidebarNav"] a')]
                .map(a => a.innerText.trim().split('\\n').filter(Boolean).pop() || '');
              window.__navDuringGeneration.push(links);
            }).observe(document, {subtree: true, childList: true, characterData: true});
            """
        )
        page.goto(base, wait_until="domcontentloaded")
        # No wait for the notice itself (a fast machine may show it only briefly): the
        # observer saw it if it was ever in the DOM, and the test asserts that below.
        _expect_page(page, TITLES[0], timeout_ms=FIRST_START_TIMEOUT_MS)
        expect(page.get_by_text("Generating the embedded demo warehouse")).to_have_count(0)
        seen = page.evaluate("window.__navDuringGeneration")
        page.context.close()
    assert (home / "demo.duckdb").exists()
    assert seen, "the generation notice was never observed"
    shown = {tuple(links) for links in seen}
    assert shown <= {(), tuple(TITLES)}, f"sidebar during generation: {sorted(shown)}"
    assert net.outside == [], f"requests leaving the machine: {sorted(set(net.outside))}"


def test_channel_table_does_not_scroll_sideways_at_1024_px(app_server: str, chromium) -> None:
    """Issue 11 layout rule: the By-channel table fits its container at 1024 px, sidebar open."""
    from playwright.sync_api import expect

    context = chromium.new_context(viewport={"width": 1024, "height": 900})
    page = context.new_page()
    page.goto(app_server + "/channels", wait_until="domcontentloaded")
    _expect_page(page, "Channels & attribution")
    table = page.locator('[data-testid="stDataFrame"]').first
    expect(table).to_be_visible(timeout=RUN_TIMEOUT_MS)
    scroller = table.locator(".dvn-scroller")
    expect(scroller).to_have_count(1, timeout=RUN_TIMEOUT_MS)
    scroll_width, client_width = scroller.evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert client_width > 0
    assert scroll_width <= client_width, (scroll_width, client_width)
    context.close()
