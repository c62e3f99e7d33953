"""The drill path in a real browser (issue 11): a KPI tile's Breakdown link, opening a row,
the copied link in a new session, and the breadcrumb back up; the filters never change.

Uses the server and helpers of tests/test_browser.py and the filters of
tests/test_browser_state.py.
"""

from __future__ import annotations

import urllib.parse

import pytest

from tests.test_browser import (  # noqa: F401 - fixtures are used by name
    RUN_TIMEOUT_MS,
    _expect_page,
    _new_page,
    app_server,
    chromium,
    demo_warehouse,
)
from tests.test_browser_state import FILTER_KEYS, _query, _settle, wanted  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _filters(page) -> dict[str, str]:  # noqa: ANN001
    return {k: v for k, v in _query(page).items() if k in FILTER_KEYS}


def test_a_tile_opens_its_breakdown_and_the_path_is_a_link(
    app_server: str,  # noqa: F811 - the imported fixture
    chromium,  # noqa: F811
    wanted,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    page, _ = _new_page(chromium)
    page.goto(f"{app_server}/?{urllib.parse.urlencode(wanted)}", wait_until="domcontentloaded")
    _expect_page(page, "Loop health")
    page.get_by_role("link", name="Breakdown").nth(1).click()  # [0] is the sidebar's
    _expect_page(page, "Breakdown")
    _settle(page)
    assert _query(page).get("bd_kpi") == "new_customers", page.url
    assert _filters(page) == wanted

    picker = page.locator(".st-key-bd_open").get_by_role("combobox")
    picker.scroll_into_view_if_needed()
    picker.click()
    page.keyboard.type("Email")
    page.keyboard.press("Enter")
    _settle(page)
    expect(page.locator(".st-key-bd_crumbs")).to_contain_text("Email", timeout=RUN_TIMEOUT_MS)
    assert _query(page).get("bd_path") == "channel:email", page.url
    assert _filters(page) == wanted
    link = page.url
    page.context.close()

    fresh, _ = _new_page(chromium)
    fresh.goto(link, wait_until="domcontentloaded")
    _expect_page(fresh, "Breakdown")
    crumbs = fresh.locator(".st-key-bd_crumbs")
    expect(crumbs).to_contain_text("Email", timeout=RUN_TIMEOUT_MS)
    assert _query(fresh).get("bd_path") == "channel:email"
    crumbs.get_by_role("button", name="New customers · all").click()
    _settle(fresh)
    expect(crumbs).not_to_contain_text("Email", timeout=RUN_TIMEOUT_MS)
    assert "bd_path" not in _query(fresh), fresh.url
    assert _filters(fresh) == wanted
    fresh.context.close()
