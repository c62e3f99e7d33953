"""Summary CSV parsing: valid files and every malformed case."""

from __future__ import annotations

from pathlib import Path

import pytest

from metrics.stats.common import MetricKind
from metrics.summary_csv import parse_summary_csv


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
