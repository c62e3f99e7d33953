"""Quick analysis through app.py: valid summaries give the engine's numbers (checked against
``analyze_variants`` called directly), malformed input lists every problem by row and column and
never raises."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from scipy import stats as sps

from data.demo import generator as demo
from metrics.experiments.summary_csv import parse_summary_csv
from metrics.stats.engine import analyze_variants
from metrics.stats.sufficient import VariantStats
from tests import apptest_helpers

BINOMIAL = (
    "variant,units,conversions,is_control\n"
    "treat_a,12000,690,false\n"
    "control,12000,600,true\n"
    "treat_b,11800,610,no\n"
)
MEAN = "variant,units,sum,sum_sq\nA,4000,200000,16000000\nB,4100,215000,17500000\n"


@pytest.fixture(scope="module")
def warehouse_url(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("quick") / "demo.duckdb"
    demo.generate(path, customers=1000, seed=2, end_date=dt.date(2026, 6, 30))
    return f"duckdb:///{path}"


@pytest.fixture
def page(warehouse_url: str, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", f"sqlite:///{tmp_path / 'state.sqlite'}")
    at = apptest_helpers.run_page("quick_analysis")
    assert not at.exception, [e.value for e in at.exception]
    return at


def _paste(at, text: str):
    at.text_area(key="qa_paste").set_value(text).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _results_table(at):
    frames = [d.value for d in at.dataframe if "Variant" in d.value.columns]
    assert frames, "no results table"
    return frames[0].set_index("Variant")


def test_empty_page_asks_for_input(page) -> None:
    assert not page.error
    assert any("Paste per-variant numbers" in i.value for i in page.info)


def test_binomial_abn_matches_analyze_variants(page) -> None:
    at = _paste(page, BINOMIAL)
    assert not at.error
    table = _results_table(at)
    stats = [
        VariantStats("control", 12000, 600, 600),
        VariantStats("treat_a", 12000, 690, 690),
        VariantStats("treat_b", 11800, 610, 610),
    ]
    expected = analyze_variants(stats, "control", "binomial", metric="metric", correction="holm")
    assert sorted(table.index) == ["treat_a", "treat_b"]
    for r in expected:
        row = table.loc[r.variant]
        assert f"{r.relative_lift:+.1%}" in row["Relative lift [interval]"]
        assert row["Control"] == f"{r.control_mean:.2%}"
        assert row["Treatment"] == f"{r.treatment_mean:.2%}"
        p_adj = r.p_value_adjusted
        shown = "< 0.001" if p_adj < 0.001 else f"{p_adj:.3f}"
        assert row["Adjusted p"] == shown
        assert row["p-value"] == ("< 0.001" if r.p_value < 0.001 else f"{r.p_value:.3f}")
    assert at.get("plotly_chart")  # forest plot
    assert len(at.get("download_button")) >= 2


def test_mean_bayesian_matches_analyze_variants(page) -> None:
    page.radio(key="qa_engine").set_value("bayesian").run()
    at = _paste(page, MEAN)
    assert not at.error
    row = _results_table(at).loc["B"]
    (r,) = analyze_variants(
        [VariantStats("A", 4000, 200000, 16000000), VariantStats("B", 4100, 215000, 17500000)],
        "A",
        "mean",
        metric="metric",
        engine="bayesian",
    )
    assert row["Chance to win"] == f"{r.chance_to_win * 100:.1f}%"
    assert f"{r.relative_lift:+.1%}" in row["Relative lift [interval]"]


def test_lower_is_better_flips_the_verdict(page) -> None:
    csv = "variant,units,conversions\ncontrol,20000,1000\ntreatment,20000,1200\n"
    at = _paste(page, csv)
    assert "better" in _results_table(at).loc["treatment", "Result"]
    at.toggle(key="qa_lower_better").set_value(True).run()
    assert "worse" in _results_table(at).loc["treatment", "Result"]


MALFORMED = [
    # (input, substrings that must all appear in the one error box)
    (
        "variant,units,conversions\nA,100,120\nB,-5,3\nC,abc,1\n",
        [
            "row 2, column 'conversions': 120 conversions exceed 100 units",
            "row 3, column 'units'",
            "'-5'",
            "row 4, column 'units'",
            "'abc'",
        ],
    ),
    ("variant,units,conversions\n", ["no variant rows"]),
    (
        "variant,units,conversions\nA,1e400,3\nB,10,1e999\n",
        ["row 2, column 'units'", "row 3, column 'conversions'"],
    ),
    (
        "variant,units,sum,sum_sq\nA,10,5,-1\nB,10,nan,4\n",
        ["row 2, column 'sum_sq'", "row 3, column 'sum'"],
    ),
    ("\x00\x01\x02ÿþ garbage \x7f", ["NUL bytes"]),  # refused before parsing (issue 12)
    ("\x01\x02ÿþ garbage \x7f", ["missing column(s)"]),
    ("variant,units\nA,10\nB,10\n", ["missing column(s)", "conversions"]),
    ("variant,units,conversions\nA,10,1\n", ["at least two variants"]),
    (
        "variant,units,conversions,is_control\nA,10,1,maybe\nB,10,2,yes\n",
        ["row 2, column 'is_control'"],
    ),
    ('variant,units,conversions\n"A,10,1\n', ["row 2"]),
    (
        "variant,units,conversions,expected_share\nA,10,1,0.5\nB,10,2,\nC,10,2,zero\n",
        ["row 3, column 'expected_share'", "row 4, column 'expected_share'", "'zero'"],
    ),
]


@pytest.mark.parametrize(("text", "needles"), MALFORMED)
def test_malformed_input_lists_row_and_column(page, text: str, needles: list[str]) -> None:
    at = _paste(page, text)
    (error,) = at.error
    for needle in needles:
        assert needle in error.value, error.value
    assert not [d for d in at.dataframe if "Variant" in d.value.columns]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not UTF-8"),
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"variant,units,conversions\nA,10,1\nB," + b"9" * 400 + b",1\n", "row 3"),
    ],
)
def test_uploaded_bytes_never_raise(data: bytes, needle: str) -> None:
    """What the upload path hands the parser (AppTest cannot drive the file uploader)."""
    parsed = parse_summary_csv(data)
    assert not parsed.ok and any(needle in e for e in parsed.errors), parsed.errors


def test_huge_but_valid_numbers_are_analysed(page) -> None:
    big = 10**15
    csv = f"variant,units,conversions\ncontrol,{big},{big // 20}\ntreatment,{big},{big // 19}\n"
    at = _paste(page, csv)
    assert not at.error
    assert "better" in _results_table(at).loc["treatment", "Result"]


def test_grid_input_shows_results(page) -> None:
    at = page
    at.radio(key="qa_input").set_value("Type in a grid").run()
    assert not at.exception and not at.error
    (r,) = analyze_variants(
        [VariantStats("control", 10000, 500, 500), VariantStats("treatment", 10000, 560, 560)],
        "control",
        "binomial",
    )
    row = _results_table(at).loc["treatment"]
    assert f"{r.relative_lift:+.1%}" in row["Relative lift [interval]"]
    at.radio(key="qa_grid_kind").set_value("mean").run()
    assert not at.exception and not at.error
    assert "treatment" in _results_table(at).index


def _srm_captions(at) -> list[str]:
    return [c.value for c in at.caption if "Sample ratio check" in c.value]


def test_expected_share_column_runs_the_srm_check(page) -> None:
    # Designed 50/50 (as weights), observed 10,000 vs 10,600: a mismatch.
    csv = "variant,units,conversions,expected_share\nA,10000,500,1\nB,10600,560,1\n"
    at = _paste(page, csv)
    assert not at.error
    # Independent reference: scipy's chi-square goodness of fit on the same counts and split.
    p = sps.chisquare([10000, 10600], f_exp=[10300, 10300]).pvalue
    assert p < 0.001
    assert _srm_captions(at) == [f"Sample ratio check: mismatch (p = {p:.2g})."]
    assert any("Sample ratio mismatch" in m.value for m in at.markdown)
    assert not [c for c in at.caption if "expected_share` column" in c.value]
    # Without the column the page says how to turn the check on.
    at = _paste(at, "variant,units,conversions\nA,10000,500\nB,10600,560\n")
    assert _srm_captions(at) == ["Sample ratio check: not checked."]
    assert [c for c in at.caption if "Add an `expected_share` column" in c.value]


def test_grid_expected_share_runs_the_srm_check(page) -> None:
    at = page
    at.radio(key="qa_input").set_value("Type in a grid").run()
    assert "expected_share" in at.data_editor(key="qa_grid_binomial").value.columns
    assert _srm_captions(at) == ["Sample ratio check: not checked."]
    # Designed 1 : 1.1 (weights) against the grid's 10,000 / 10,000 units.
    at.session_state["qa_grid_binomial"] = {
        "edited_rows": {0: {"expected_share": 1.0}, 1: {"expected_share": 1.1}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not at.exception and not at.error
    p = sps.chisquare([10000, 10000], f_exp=[20000 / 2.1, 20000 * 1.1 / 2.1]).pvalue
    assert 0 < p < 0.001
    assert _srm_captions(at) == [f"Sample ratio check: mismatch (p = {p:.2g})."]
    # Only one row filled in: the grid row is named.
    at.session_state["qa_grid_binomial"] = {
        "edited_rows": {0: {"expected_share": 0.5}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    (error,) = at.error
    assert "grid row 2, column 'expected_share'" in error.value
