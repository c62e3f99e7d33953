"""State is the URL, in a real browser: no navigation changes a filter, a copied link reopens
the same view (issue 11).

Starts its own ``streamlit run app.py`` on a small demo warehouse (the helpers and fixtures of
``tests/test_browser.py``), sets non-default global filters through the URL, then clicks every
control that navigates — every sidebar link, *Open details* on Experiments, *Open Evolve* on
Loop health — and asserts after each click that the URL and the sidebar still carry exactly
those filters. Page controls (engine, CUPED, correction, attribution model, lookback, tab,
selected experiment) are changed by clicking, and the copied link is opened in a fresh browser
context (a new session) to assert the same view.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse

import pytest

from components.navigation import PAGE_SPECS
from metrics.experiments.views import CORRECTION_LABELS
from metrics.marketing.attribution import MODEL_LABELS
from tests.test_browser import (  # noqa: F401 - fixtures are used by name
    RUN_TIMEOUT_MS,
    _expect_page,
    _new_page,
    _wait_for_run,
    app_server,
    chromium,
    demo_warehouse,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FILTER_KEYS = ("start", "end", "channel", "segment", "region")


@pytest.fixture(scope="module")
def wanted(demo_warehouse) -> dict[str, str]:  # noqa: F811 - the imported fixture
    """Non-default filters inside the demo's data: a 31-day window, two channels, a segment."""
    from sqlalchemy import func, select

    from data.schema import touchpoints
    from data.warehouse import open_engine, to_url

    engine = open_engine(to_url(str(demo_warehouse)), read_only=True)
    try:
        with engine.connect() as conn:
            latest = conn.execute(select(func.max(touchpoints.c.occurred_at))).scalar().date()
    finally:
        engine.dispose()
    end = latest - dt.timedelta(days=12)
    return {
        "start": (end - dt.timedelta(days=30)).isoformat(),
        "end": end.isoformat(),
        "channel": "email,paid_search",
        "segment": "smb",
    }


def _query(page) -> dict[str, str]:  # noqa: ANN001
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(page.url).query))


def _settle(page) -> None:  # noqa: ANN001
    """Wait for the rerun a click starts (the state attribute flips to running, then back)."""
    page.wait_for_timeout(250)  # the click's rerun request reaches the server
    _wait_for_run(page)


def _choose(page, key: str, option_name: str, exact: bool = True) -> None:  # noqa: ANN001
    """Pick an option of the selectbox with widget key ``key``.

    A click that lands while the surrounding block is still laying out (an expander that has just
    opened) can leave the list closed with the box focused, so the box is clicked again until the
    option shows, as a user would."""
    option = page.get_by_role("option", name=option_name, exact=exact)
    box = page.locator(f".st-key-{key}")
    box.wait_for(state="visible", timeout=RUN_TIMEOUT_MS)
    for _attempt in range(6):
        _wait_for_run(page)
        box.click()
        try:
            option.wait_for(state="visible", timeout=3000)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: the list did not open
            page.keyboard.press("Escape")
    option.click()


def _open_expander(page, label: str) -> None:  # noqa: ANN001
    """Open the expander titled ``label`` (a no-op when it is open already).

    A click on its summary while a rerun is re-laying the page out can be lost, so the summary is
    clicked again until the ``<details>`` element reports itself open."""
    from playwright.sync_api import expect

    details = page.locator('[data-testid="stExpander"] details', has_text=label).first
    for _attempt in range(4):
        if details.get_attribute("open") is not None:
            return
        details.locator("summary").click()
        try:
            expect(details).to_have_attribute("open", re.compile(".*"), timeout=3000)
            return
        except AssertionError:
            _wait_for_run(page)
    raise AssertionError(f"the {label!r} expander did not open")


def _assert_filters(page, wanted: dict[str, str], where: str) -> None:  # noqa: ANN001
    """The URL carries exactly the wanted filters and the sidebar's date picker shows them."""
    from playwright.sync_api import expect

    got = {k: v for k, v in _query(page).items() if k in FILTER_KEYS}
    assert got == wanted, f"{where}: filters in the URL changed: {got} != {wanted}"
    dates = page.locator(".st-key-filter_dates input[type=date]")
    expect(dates.first).to_have_value(wanted["start"], timeout=RUN_TIMEOUT_MS)
    expect(dates.nth(1)).to_have_value(wanted["end"], timeout=RUN_TIMEOUT_MS)
    channels = page.locator(".st-key-filter_channels")
    for label in ("Email", "Paid search"):
        expect(channels.get_by_text(label, exact=True)).to_be_visible()


def test_no_navigation_changes_the_filters(app_server: str, chromium, wanted) -> None:  # noqa: F811
    page, _ = _new_page(chromium)
    page.goto(f"{app_server}/?{urllib.parse.urlencode(wanted)}", wait_until="domcontentloaded")
    _expect_page(page, PAGE_SPECS[0].title)
    _assert_filters(page, wanted, "first load")

    nav = page.locator('[data-testid="stSidebarNav"]')
    for spec in [*PAGE_SPECS[1:], PAGE_SPECS[0]]:
        nav.get_by_role("link", name=spec.title, exact=False).first.click()
        _expect_page(page, spec.title)
        _settle(page)
        _assert_filters(page, wanted, f"sidebar link to {spec.title}")

    # Loop health -> "Open Evolve" (a page link inside the page).
    page.get_by_role("link", name="Open Evolve").click()
    _expect_page(page, "Evolve")
    _settle(page)
    _assert_filters(page, wanted, "Open Evolve")

    # Experiments -> "Open details" (st.switch_page), the reported bug.
    nav.get_by_role("link", name="Experiments", exact=True).click()
    _expect_page(page, "Experiments")
    page.get_by_role("button", name="Open details").click()
    _expect_page(page, "Experiment detail")
    _settle(page)
    _assert_filters(page, wanted, "Open details")
    assert _query(page).get("experiment"), "the selected experiment is not in the URL"

    # ...and back on Loop health the period is still the chosen one.
    nav.get_by_role("link", name="Loop health").click()
    _expect_page(page, PAGE_SPECS[0].title)
    _settle(page)
    _assert_filters(page, wanted, "back on Loop health")
    page.context.close()


def test_a_copied_link_reopens_the_same_view(app_server: str, chromium, wanted) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page, _ = _new_page(chromium)
    query = urllib.parse.urlencode({**wanted, "experiment": "exp_checkout_winner"})
    page.goto(f"{app_server}/experiment_detail?{query}", wait_until="domcontentloaded")
    _expect_page(page, "Experiment detail")
    page.locator(".st-key-exp_engine").get_by_text("Bayesian", exact=True).click()
    _settle(page)
    page.locator(".st-key-exp_cuped").get_by_text("CUPED").click()
    _settle(page)
    _choose(page, "exp_correction", "Benjamini", exact=False)
    _settle(page)
    detail_link = page.url
    assert {"exp_engine", "exp_cuped", "exp_correction", "experiment"} <= set(_query(page))

    # Channels: attribution model, lookback and tab.
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Channels").click()
    _expect_page(page, "Channels & attribution")
    _settle(page)  # the page's first run finishes before its controls are used
    _open_expander(page, "Attribution settings")
    _choose(page, "ch_model", "Linear")
    _settle(page)
    lookback = page.locator(".st-key-ch_lookback input")
    lookback.fill("14")
    lookback.press("Enter")
    _settle(page)
    page.get_by_role("tab", name="Dark funnel").click()
    _settle(page)
    channels_link = page.url
    assert {"ch_model", "ch_lookback", "ch_tab"} <= set(_query(page)), channels_link

    # Back on the detail page (a page switch): the engine and options are still there.
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Experiment det").click()
    _expect_page(page, "Experiment detail")
    _settle(page)
    engine = page.locator(".st-key-exp_engine")
    expect(engine.get_by_role("radio", name="Bayesian")).to_be_checked()
    assert _query(page).get("experiment") == "exp_checkout_winner", page.url
    _assert_filters(page, wanted, "back on Experiment detail")
    page.context.close()

    # A new session from each copied link: the same view.
    for link, check in (
        (detail_link, "detail"),
        (channels_link, "channels"),
    ):
        fresh, _ = _new_page(chromium)
        fresh.goto(link, wait_until="domcontentloaded")
        if check == "detail":
            _expect_page(fresh, "Experiment detail")
            engine = fresh.locator(".st-key-exp_engine")
            expect(engine.get_by_role("radio", name="Bayesian")).to_be_checked()
            expect(fresh.locator(".st-key-exp_cuped input")).to_be_checked()
            expect(fresh.locator(".st-key-exp_correction").get_by_role("combobox")).to_have_value(
                CORRECTION_LABELS["bh"]
            )
            assert _query(fresh)["experiment"] == "exp_checkout_winner"
        else:
            _expect_page(fresh, "Channels & attribution")
            expect(fresh.get_by_role("tab", name="Dark funnel")).to_have_attribute(
                "aria-selected", "true"
            )
            _open_expander(fresh, "Attribution settings")
            expect(fresh.locator(".st-key-ch_model").get_by_role("combobox")).to_have_value(
                MODEL_LABELS["linear"]
            )
            expect(fresh.locator(".st-key-ch_lookback input")).to_have_value("14")
        _assert_filters(fresh, wanted, f"copied {check} link")
        fresh.context.close()
