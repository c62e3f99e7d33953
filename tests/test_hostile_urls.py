"""Hostile links: every query parameter the app reads × injection, overlong, unicode, NUL and
extreme-date values, plus the two links of issue 12 that killed every session.

Each case opens the app with the hostile URL (the frame parses it on every page), then the page
the parameter belongs to, and asserts no exception, no traceback text, no raw HTML and the
warehouse file unchanged (tests/hostile_helpers.py). Streamlit caches stay warm across cases:
the frame and the pages are what is under test, not the queries.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from components.filters_bar import DATE_KEY
from metrics.filters import clamp_dates
from tests.hostile_helpers import (
    INJECTED_HTML,
    INJECTED_MARKDOWN,
    PLANTED_SECRET,
    file_hash,
    new_app,
    problems,
    run_pages,
)

FRAME_PARAMS = ("start", "end", "channel", "segment", "region")
PAGE_PARAMS = {
    "experiment": "pages/experiment_detail.py",
    **dict.fromkeys(("bd_kpi", "bd_path", "bd_by"), "pages/breakdown.py"),
}
UNKNOWN_PARAM = "utm_source"  # a parameter the app does not read must be harmless too

VALUES: dict[str, str] = {
    "sql_injection": "x'; DROP TABLE customers; --",
    "html_injection": INJECTED_HTML,
    "markdown_injection": INJECTED_MARKDOWN,
    "secret_echo": f"postgresql://bob:{PLANTED_SECRET}@h/db?password={PLANTED_SECRET}",
    "overlong": "2026-01-01" + "9" * 20_000,
    "unicode": "ﷺ\u202e𝕏 日本語 \u200b🙂",
    "nul": "2026-01-01\x00<script>",
    "date_min": "0001-01-01",
    "date_max": "9999-12-31",
    "date_before_range": "2020-01-01",
    "date_after_range": "2030-01-01",
    "date_garbage": "2026-13-45",
}


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    from data.demo import generator as demo

    path = tmp_path_factory.mktemp("hostile_urls") / "demo.duckdb"
    demo.generate(str(path), customers=1_000, seed=4)
    return path


@pytest.fixture(autouse=True)
def _env(demo_file: Path, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{demo_file}")
    monkeypatch.setenv("LOOPLENS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    monkeypatch.setenv("LOOPLENS_SERVING_URL", f"duckdb:///{tmp_path / 'serving.duckdb'}")


def _cases() -> list[tuple[str, str, tuple[str, ...]]]:
    """Every parameter × every kind of value; date values only for the date parameters (for
    the others they are just unknown text, which the other values already are)."""
    cases = []
    for param in (*FRAME_PARAMS, *PAGE_PARAMS, UNKNOWN_PARAM):
        for name in VALUES:
            if name.startswith("date_") and param not in ("start", "end"):
                continue
            # Dates reach every page's queries: run the pages whose figures span the range.
            if param in ("start", "end") and name.startswith("date_"):
                pages = ("pages/channels.py", "pages/lifecycle.py")
            else:
                pages = (PAGE_PARAMS[param],) if param in PAGE_PARAMS else ()
            cases.append((param, name, pages))
    return cases


@pytest.mark.parametrize(("param", "value_name", "pages"), _cases())
def test_hostile_query_parameter(param: str, value_name: str, pages, demo_file: Path) -> None:
    before = file_hash(demo_file)
    at = new_app({param: VALUES[value_name]}, clear=False)
    found = run_pages(at, pages)
    assert not found, found
    assert file_hash(demo_file) == before, "the warehouse file changed"


# --- the issue-12 links, with what the user sees -------------------------------------------


def test_clamp_dates_moves_each_end_into_the_range() -> None:
    lo, hi = dt.date(2024, 1, 1), dt.date(2026, 12, 2)
    assert clamp_dates(dt.date(2025, 1, 1), dt.date(2025, 2, 1), lo, hi)[2] == []
    start, end, notes = clamp_dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1), lo, hi)
    assert (start, end) == (lo, hi)
    assert len(notes) == 2 and "2020-01-01" in notes[0] and "2030-01-01" in notes[1]
    # both ends beyond one edge: still a valid (one-day) range
    start, end, _ = clamp_dates(dt.date(1990, 1, 1), dt.date(1991, 1, 1), lo, hi)
    assert start == end == lo


@pytest.mark.parametrize(
    ("query", "moved"), [({"start": "2020-01-01"}, "start"), ({"end": "2030-01-01"}, "end")]
)
def test_a_link_outside_the_date_range_is_clamped_with_a_note(query, moved) -> None:
    at = new_app(query)
    at.run()
    assert problems(at) == []
    start, end = at.session_state[DATE_KEY]
    assert start <= end
    notes = " ".join(w.value for w in at.sidebar.warning)
    assert f"link's {moved} date" in notes and query[moved] in notes
    # navigation survives: another page opens from the same session
    at.switch_page("pages/lifecycle.py")
    at.run()
    assert problems(at) == []
