"""The translation layer and the Vietnamese locale: every page runs with lang=vi, the formatter
follows the active language, and sessions do not share a language."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import i18n
from components.navigation import PAGE_SPECS
from metrics import formatting as fmt
from tests.apptest_helpers import run_page
from tests.test_app import demo_env, demo_file  # noqa: F401 - fixtures


def test_english_outside_a_run_and_vi_inside_a_block() -> None:
    assert i18n.get_language() == "en"
    with i18n.language("vi"):
        assert i18n.get_language() == "vi"
        assert fmt.count(1234567) == "1.234.567"
        assert fmt.date(dt.date(2026, 3, 5)) == "05/03/2026"
    assert fmt.count(1234567) == "1,234,567"
    assert i18n.normalise("xx") is None and i18n.normalise("VI-vn") == "vi"


def test_vnd_money_has_no_decimals_and_compact_words() -> None:
    vnd = fmt.NumberFormat("vi_VN", "VND")
    assert fmt.money(1234567, fmt=vnd) == "1.234.567\xa0₫"
    assert fmt.money_compact(1.2e9, fmt=vnd) == "1,2 tỷ ₫"
    assert fmt.money_compact(3.5e8, fmt=vnd) == "350 triệu ₫"
    assert fmt.money_compact(1.2e6, fmt=fmt.NumberFormat()) == "$1.2M"


@pytest.mark.parametrize("spec", PAGE_SPECS, ids=lambda s: Path(s.path).stem)
def test_page_runs_in_vietnamese(demo_env: Path, spec) -> None:  # noqa: F811
    at = run_page(Path(spec.path).stem, query={"lang": "vi"})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_in_app_links_carry_the_language() -> None:
    """A link or page switch built by url_state keeps ``lang`` (and adds none before the app
    has chosen a language)."""
    from streamlit.testing.v1 import AppTest

    def script() -> None:
        import streamlit as st

        from components import language, url_state

        st.text(url_state.page_href("channels"))
        language.activate_language()
        st.text(url_state.page_href("channels", ch_tab="Attribution"))

    at = AppTest.from_function(script)
    at.query_params["lang"] = "vi"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    before, after = (t.value for t in at.text)
    assert before == "channels?"
    assert after == "channels?lang=vi&ch_tab=Attribution"
