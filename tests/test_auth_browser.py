"""Sign-in end to end: `streamlit run app.py` with `[auth]`, a real OpenID Connect provider on
this machine (the `oidc-provider` npm package, tests/oidc/provider.mjs), and Debian's chromium.

People sign in through the provider's own login and consent pages; Streamlit's ``st.login``
exchanges the code, checks the ID token and sets its cookie. The test then asserts what each
role can do, reading the app-state database directly for what was stored:

- signed out: only the sign-in screen, whatever the URL;
- an unlisted identity: signed in, but told it has no role;
- a viewer: sees the decision history, cannot record;
- an analyst: records a decision, stored with ``decided_by`` = the identity's e-mail, verified;
  cannot approve it;
- an approver (by a group claim): approves it, stored with who and when; then signs out.

Needs node and ``npm ci`` in tests/oidc (.ci/run does both), /usr/bin/chromium and playwright;
skipped without them unless CI=true. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    RUN_TIMEOUT_MS,
    _free_port,
    _Offline,
    _require_browser,
    _streamlit,
    _wait_for_run,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OIDC_DIR = ROOT / "tests" / "oidc"
EXPERIMENT = "exp_checkout_winner"
CLIENT_ID = "looplens-test"
USERS = {
    "vic": {"email": "vic@looplens.test", "name": "Vic Viewer"},
    "ana": {"email": "ana@looplens.test", "name": "Ana Analyst"},
    "lee": {"email": "lee@looplens.test", "name": "Lee Lead", "groups": ["growth-leads"]},
    "sam": {"email": "sam@elsewhere.test", "name": "Sam Stranger"},
}
ROLES_TOML = """
[looplens]
groups_claim = "groups"

[looplens.roles]
viewer = ["vic@looplens.test"]
analyst = ["ana@looplens.test"]
approver = ["group:growth-leads"]
"""
SHOTS = ROOT / "artifacts" / "screenshots"


def _require_node() -> None:
    node = shutil.which("node")
    installed = (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").exists()
    if node is None or not installed:
        reason = "needs node and `npm ci` in tests/oidc (the local OpenID Connect provider)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " under CI=true")
        pytest.skip(reason)


@contextmanager
def _provider(tmp: Path, redirect_uri: str, client_secret: str) -> Iterator[str]:
    """Run tests/oidc/provider.mjs; yields its issuer URL."""
    config = tmp / "oidc.json"
    config.write_text(
        json.dumps(
            {
                "port": 0,
                "client_id": CLIENT_ID,
                "client_secret": client_secret,
                "redirect_uri": redirect_uri,
                "users": USERS,
            }
        )
    )
    log = open(tmp / "oidc.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        ["node", str(OIDC_DIR / "provider.mjs"), str(config)],
        cwd=OIDC_DIR, stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline() if proc.stdout else ""  # the provider prints it once up
        if not line.startswith("READY "):
            pytest.fail(f"the OIDC provider did not start: {line!r} (log: {tmp / 'oidc.log'})")
        yield line.split()[1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextmanager
def _app(tmp: Path, port: int, secrets_file: Path, env_vars: dict[str, str]) -> Iterator[str]:
    """``streamlit run app.py`` on ``port`` with ``secrets_file``; yields its base URL."""
    with _streamlit(
        tmp, port=port, extra_args=("--secrets.files", str(secrets_file)), **env_vars
    ) as base:
        yield base


@pytest.fixture(scope="module")
def signed_app(tmp_path_factory) -> Iterator[dict]:
    """The app with sign-in against the local provider, on a small demo warehouse."""
    _require_browser()
    _require_node()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=RUN_TIMEOUT_MS)  # every assertion waits up to a busy page run

    from data.app_state.store import open_store
    from data.demo import generator as demo

    tmp = tmp_path_factory.mktemp("auth")
    warehouse = tmp / "demo.duckdb"
    demo.generate(str(warehouse), customers=2_000, seed=11)  # small: page runs are cheap
    state = tmp / "app_state.sqlite"
    open_store(f"sqlite:///{state}").close()  # the schema exists before the first read below
    port = _free_port()
    redirect_uri = f"http://127.0.0.1:{port}/oauth2callback"
    client_secret = secrets.token_hex(16)
    with _provider(tmp, redirect_uri, client_secret) as issuer:
        secrets_file = tmp / "secrets.toml"
        secrets_file.write_text(
            "[auth]\n"
            f'redirect_uri = "{redirect_uri}"\n'
            f'cookie_secret = "{secrets.token_hex(32)}"\n'
            f'client_id = "{CLIENT_ID}"\n'
            f'client_secret = "{client_secret}"\n'
            f'server_metadata_url = "{issuer}/.well-known/openid-configuration"\n'
            # oidc-provider knows no prompt=select_account (Streamlit's default)
            'client_kwargs = { prompt = "login", scope = "openid email profile groups" }\n'
            + ROLES_TOML
        )
        env = {
            "LOOPLENS_HOME": str(tmp),
            "LOOPLENS_WAREHOUSE_URL": f"duckdb:///{warehouse}",
            "LOOPLENS_APP_STATE_URL": f"sqlite:///{state}",
        }
        with _app(tmp, port, secrets_file, env) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield {"base": base, "issuer": issuer, "state": state, "browser": browser}
            browser.close()
    expect.set_options(timeout=5_000)  # Playwright's default, for the test modules after this


def _context(app: dict, width: int = 1440):  # noqa: ANN202 - (playwright Page, _Offline)
    context = app["browser"].new_context(viewport={"width": width, "height": 1000})
    page = context.new_page()
    return page, _Offline(page)


def _sign_in(page, app: dict, login: str) -> None:  # noqa: ANN001 - a playwright Page
    """Sign in through the provider's own pages, from the app's sign-in screen."""
    from playwright.sync_api import expect

    page.goto(app["base"], wait_until="domcontentloaded")
    page.get_by_role("button", name="Sign in").click(timeout=RUN_TIMEOUT_MS)
    page.wait_for_url(f"{app['issuer']}/**", timeout=RUN_TIMEOUT_MS)
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "not-checked")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click(timeout=RUN_TIMEOUT_MS)  # consent
    page.wait_for_url(f"{app['base']}/**", timeout=RUN_TIMEOUT_MS)
    sidebar_or_main = page.locator('[data-testid="stApp"]')
    expect(sidebar_or_main).to_contain_text(USERS[login]["email"], timeout=RUN_TIMEOUT_MS)


def _open_detail(page, app: dict) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.goto(f"{app['base']}/experiment_detail?experiment={EXPERIMENT}")
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_text("Decision history")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    _wait_for_run(page)
    assert page.locator('[data-testid="stException"]').count() == 0


def _rows(state: Path, sql: str) -> list[tuple]:
    """Rows of the app-state database, read with plain SQL outside the app."""
    with sqlite3.connect(state) as conn:
        return conn.execute(sql).fetchall()


def _decisions(state: Path) -> list[tuple]:
    return _rows(
        state,
        "SELECT version, decided_by, identity_verified, decision FROM decisions "
        f"WHERE experiment_id = '{EXPERIMENT}' ORDER BY version",
    )


def test_signed_out_visitors_see_only_the_sign_in_screen(signed_app: dict) -> None:
    from playwright.sync_api import expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, paths in (
        (1440, ("", f"experiment_detail?experiment={EXPERIMENT}", "data_health")),
        (390, ("",)),
    ):
        page, net = _context(signed_app, width)
        for path in paths:
            page.goto(f"{signed_app['base']}/{path}", wait_until="domcontentloaded")
            expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=RUN_TIMEOUT_MS)
            _wait_for_run(page)
            main = page.locator('[data-testid="stMain"]')
            assert "Decision" not in main.inner_text()
            assert page.locator('[data-testid="stSidebarNav"] a').count() == 0
            assert page.get_by_text("Page not found").count() == 0  # deep links: no dialog
        page.screenshot(path=str(SHOTS / f"auth_sign_in_{width}.png"), full_page=True)
        page.context.close()
        assert net.outside == [], sorted(set(net.outside))


def test_an_unlisted_identity_has_no_access(signed_app: dict) -> None:
    page, _ = _context(signed_app)
    _sign_in(page, signed_app, "sam")
    main = page.locator('[data-testid="stMain"]')
    assert "has no LoopLens role" in main.inner_text()
    page.goto(f"{signed_app['base']}/experiment_detail?experiment={EXPERIMENT}")
    _wait_for_run(page)
    assert "Decision history" not in page.locator('[data-testid="stMain"]').inner_text()
    page.context.close()


def test_viewer_analyst_and_approver_can_do_what_their_role_allows(signed_app: dict) -> None:
    from playwright.sync_api import expect

    state = signed_app["state"]
    before = _decisions(state)

    # A viewer sees the decision history but gets no form to record one.
    page, net = _context(signed_app)
    _sign_in(page, signed_app, "vic")
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("viewer")
    _open_detail(page, signed_app)
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text("recording one needs the analyst role")
    assert page.get_by_role("button", name="Record decision").count() == 0
    assert page.get_by_role("button", name="Approve version").count() == 0
    page.context.close()
    assert net.outside == [], sorted(set(net.outside))

    # An analyst records a decision: decided_by is the signed-in e-mail, not a typed name.
    page, net = _context(signed_app)
    _sign_in(page, signed_app, "ana")
    _open_detail(page, signed_app)
    main = page.locator('[data-testid="stMain"]')
    assert page.get_by_role("textbox", name="Your name").count() == 0  # no free-text name
    recorded_as = page.get_by_role("textbox", name="Recorded as")
    expect(recorded_as).to_have_value("ana@looplens.test")
    expect(recorded_as).to_be_disabled()
    main.get_by_text("Kill — stop and keep control").click()
    page.get_by_role("textbox", name="Rationale").fill("Signed-in decision from the browser test.")
    page.get_by_role("button", name="Record decision").click()
    expect(main).to_contain_text("by ana@looplens.test", timeout=RUN_TIMEOUT_MS)
    _wait_for_run(page)
    after = _decisions(state)
    assert after[:-1] == before and len(after) == len(before) + 1
    version, decided_by, verified, decision = after[-1]
    assert (decided_by, verified, decision) == ("ana@looplens.test", 1, "kill")
    expect(main).to_contain_text("awaiting approval")
    expect(main).to_contain_text("An approver has to approve this version")
    assert page.get_by_role("button", name=f"Approve version {version}").count() == 0
    page.screenshot(path=str(SHOTS / "auth_analyst_detail.png"), full_page=True)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Signed in as").scroll_into_view_if_needed()
    expect(sidebar).to_contain_text("ana@looplens.test · analyst")
    sidebar.screenshot(path=str(SHOTS / "auth_analyst_sidebar.png"))
    page.context.close()
    assert net.outside == [], sorted(set(net.outside))

    # An approver (through the groups claim) approves it; who and when are stored.
    page, net = _context(signed_app)
    _sign_in(page, signed_app, "lee")
    expect(page.locator('[data-testid="stApp"]')).to_contain_text("approver")
    _open_detail(page, signed_app)
    main = page.locator('[data-testid="stMain"]')
    page.get_by_role("button", name=f"Approve version {version}").click()
    expect(main).to_contain_text(
        f"Approved version {version} as lee@looplens.test", timeout=RUN_TIMEOUT_MS
    )
    _wait_for_run(page)
    expect(main).to_contain_text("approved by lee@looplens.test")
    page.screenshot(path=str(SHOTS / "auth_approver_detail.png"), full_page=True)
    approvals = _rows(
        state,
        "SELECT a.version, a.approved_by, a.identity_verified, a.approved_at, d.decided_by "
        "FROM approvals a JOIN decisions d ON d.decision_id = a.decision_id",
    )
    assert len(approvals) == 1
    assert approvals[0][:3] == (version, "lee@looplens.test", 1)
    assert approvals[0][4] == "ana@looplens.test"

    # Signing out (through the provider's end-session page) returns to the sign-in screen.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{signed_app['issuer']}/**", timeout=RUN_TIMEOUT_MS)
    page.get_by_role("button", name="Yes, sign me out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    page.context.close()
    assert net.outside == [], sorted(set(net.outside))


def _outward_ipv4() -> str | None:
    """This machine's address on its default route (no packet is sent), or None."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 9))  # UDP: a route lookup, nothing is sent
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_the_server_listens_on_this_machine_only(signed_app: dict) -> None:
    """.streamlit/config.toml binds 127.0.0.1: the app's port is closed on the network address."""
    import socket
    import urllib.parse

    port = urllib.parse.urlsplit(signed_app["base"]).port
    address = _outward_ipv4()
    if address is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no non-loopback IPv4 address to check the binding against")
        pytest.skip("this machine has no non-loopback IPv4 address")
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # reachable here
    with pytest.raises(ConnectionRefusedError), socket.create_connection((address, port), 5):
        pass
