"""Summary CSV parsing: valid files and every malformed case."""

from __future__ import annotations

from pathlib import Path

import pytest

from metrics.experiments.summary_csv import parse_summary_csv
from metrics.stats.common import MetricKind


def test_binomial_first_row_is_control():
    res = parse_summary_csv(b"variant,units,conversions\ncontrol,1000,40\ntreatment,990,52\n")
    assert res.ok and res.kind is MetricKind.BINOMIAL and res.control == "control"
    assert [(s.variant, s.units, s.sum, s.sum_sq) for s in res.stats] == [
        ("control", 1000, 40, 40),
        ("treatment", 990, 52, 52),
    ]


def test_mean_with_is_control_and_bom(tmp_path: Path):
    text = "\ufeffVariant, Units ,sum,sum_sq,is_control\nb,100,250.5,900,no\na,120,240,800,yes\n"
    path = tmp_path / "s.csv"
    path.write_text(text, encoding="utf-8")
    res = parse_summary_csv(path)
    assert res.ok and res.kind is MetricKind.MEAN and res.control == "a"
    assert res.stats[0].variant == "a" and res.stats[1].sum == 250.5


def test_ratio_and_covariates():
    text = (
        "variant,units,sum,sum_sq,denom_sum,denom_sum_sq,cross_sum,cov_sum,cov_sum_sq,cov_cross_sum\n"
        "c,100,40,60,2000,41000,820,10,30,8\n"
        "t,100,48,70,2010,41500,990,11,31,9\n"
    )
    res = parse_summary_csv(text)
    assert res.ok and res.kind is MetricKind.RATIO
    assert res.stats[1].denom_sum == 2010 and res.stats[1].cov_cross_sum == 9


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\xff\xfe\x00v", "not UTF-8"),
        (b"variant,units,conversions\n", "no variant rows"),
        (b"variant,units\nc,10\nt,10\n", "missing column(s)"),
        (b"variant,conversions\nc,1\nt,2\n", "'units'"),
        (b"variant,units,sum\nc,10,1\nt,10,2\n", "'sum_sq'"),
        (b"variant,units,sum,sum_sq,denom_sum\nc,1,1,1,1\nt,1,1,1,1\n", "'cross_sum'"),
        (b"variant,units,conversions,sum\nc,10,1,1\nt,10,1,1\n", "not both"),
        (
            b"variant,units,conversions\nc,abc,1\nt,10,2\n",
            "row 2, column 'units': expected a whole number",
        ),
        (b"variant,units,conversions\nc,10,1\nt,10.5,2\n", "row 3, column 'units'"),
        (b"variant,units,conversions\nc,10,1\nt,-3,2\n", "row 3, column 'units'"),
        (
            b"variant,units,conversions\nc,10,11\nt,10,2\n",
            "row 2, column 'conversions': 11 conversions exceed 10",
        ),
        (
            b"variant,units,conversions\nc,10,1\nc,10,2\n",
            "row 3, column 'variant': duplicate variant 'c'",
        ),
        (b"variant,units,conversions\n,10,1\nt,10,2\n", "row 2, column 'variant'"),
        (b"variant,units,conversions\nc,10,1\n", "at least two variants"),
        (b"variant,units,conversions\nc,10,1\nt,10\n", "row 3: expected 3 fields"),
        (
            b"variant,units,sum,sum_sq\nc,10,x,1\nt,10,2,3\n",
            "row 2, column 'sum': expected a number",
        ),
        (b"variant,units,sum,sum_sq\nc,10,1,-1\nt,10,2,3\n", "cannot be negative"),
        (b"variant,units,conversions,is_control\nc,10,1,yes\nt,10,2,yes\n", "exactly one"),
        (
            b"variant,units,conversions,is_control\nc,10,1,maybe\nt,10,2,no\n",
            "row 2, column 'is_control'",
        ),
        (b"variant,units,units,conversions\nc,1,1,1\n", "duplicate column"),
        (b"variant,units,conversions,cov_sum\nc,10,1,1\nt,10,2,2\n", "'cov_sum_sq'"),
    ],
)
def test_malformed_files_list_errors(content, fragment):
    res = parse_summary_csv(content)
    assert not res.ok and not res.stats
    assert any(fragment in e for e in res.errors), res.errors


def test_all_row_errors_reported_at_once():
    res = parse_summary_csv(b"variant,units,conversions\nc,x,1\nt,10,20\nu,5,y\n")
    assert len(res.errors) == 3


def test_missing_file_is_reported(tmp_path: Path):
    res = parse_summary_csv(tmp_path / "nope.csv")
    assert not res.ok and "cannot read" in res.errors[0]


# --- expected_share (designed split, for the SRM check) ------------------------------------


@pytest.mark.parametrize(
    ("cells", "weights"),
    [
        (("0.5", "0.3", "0.2"), (0.5, 0.3, 0.2)),  # fractions
        (("50", "30%", "20 %"), (50, 30, 20)),  # percentages, with or without the sign
        (("5", "3", "2"), (5, 3, 2)),  # plain weights
        (("1", "1", "1"), (1, 1, 1)),  # equal weights, not summing to 1
    ],
)
def test_expected_shares_are_normalised(cells, weights):
    # is_control on the last row: the shares follow the variants, not the row order.
    text = "variant,units,conversions,Expected_Share,is_control\n" + "".join(
        f"{v},100,5,{c},{'yes' if v == 'c' else 'no'}\n"
        for v, c in zip(("a", "b", "c"), cells, strict=True)
    )
    res = parse_summary_csv(text)
    assert res.ok, res.errors
    assert [s.variant for s in res.stats] == ["c", "a", "b"]
    total = sum(weights)
    expected = {v: w / total for v, w in zip(("a", "b", "c"), weights, strict=True)}
    assert res.expected_shares is not None
    assert res.expected_shares.keys() == expected.keys()
    for v, share in expected.items():
        assert res.expected_shares[v] == pytest.approx(share, rel=1e-12)
    assert sum(res.expected_shares.values()) == pytest.approx(1.0, rel=1e-12)


def test_expected_share_column_absent_or_empty_gives_none():
    assert parse_summary_csv(b"variant,units,conversions\nc,10,1\nt,10,2\n").expected_shares is None
    res = parse_summary_csv(b"variant,units,conversions,expected_share\nc,10,1,\nt,10,2, \n")
    assert res.ok and res.expected_shares is None


def test_expected_share_on_some_rows_names_the_missing_ones():
    res = parse_summary_csv(
        b"variant,units,conversions,expected_share\nc,10,1,0.5\nt,10,2,\nu,10,3,0.25\nv,10,3,\n"
    )
    assert not res.ok and not res.stats and res.expected_shares is None
    missing = [e for e in res.errors if "no share given" in e]
    assert [e.split(":")[0] for e in missing] == [
        "row 3, column 'expected_share'",
        "row 5, column 'expected_share'",
    ]


@pytest.mark.parametrize(
    ("cell", "row"),
    [("half", 3), ("0", 3), ("-0.5", 3), ("0%", 3), ("nan", 3), ("inf", 3), ("-1", 2)],
)
def test_bad_expected_share_names_row_and_column(cell, row):
    cells = ["0.5", "0.5"]
    cells[row - 2] = cell
    text = f"variant,units,conversions,expected_share\nc,10,1,{cells[0]}\nt,10,2,{cells[1]}\n"
    res = parse_summary_csv(text)
    assert not res.ok and res.expected_shares is None
    assert any(
        e.startswith(f"row {row}, column 'expected_share': expected a positive number")
        and repr(cell) in e
        for e in res.errors
    ), res.errors
