"""``python -m metrics.clv fit``: good files (CDNOW) and bad files (row/column messages)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from metrics.clv.cli import main
from tests.clv_helpers import cdnow_transactions

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clv") / "cdnow.csv"
    frame = cdnow_transactions()
    frame = frame.assign(
        order_date=frame["ts"].dt.strftime("%Y-%m-%d"), value=frame["amount"].map("{:.2f}".format)
    )[["customer_id", "order_date", "value"]]
    frame.to_csv(path, index=False)
    return path


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _fit_args(path: Path, *extra: str) -> list[str]:
    return [
        "fit",
        "--transactions",
        str(path),
        "--customer-col",
        "customer_id",
        "--date-col",
        "order_date",
        *extra,
    ]


def test_cdnow_json_matches_published_parameters(capsys, cdnow_csv):
    code, out, err = _run(
        capsys, *_fit_args(cdnow_csv, "--amount-col", "value", "--until", "1997-09-30", "--json")
    )
    assert code == 0, err
    j = json.loads(out)
    assert j["customers"] == 2357 and j["repeat_customers"] == 946
    bg, gg = j["bgnbd"], j["gamma_gamma"]
    for name, ref in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert bg[name] == pytest.approx(ref, rel=0.01)
    for name, ref in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
        assert gg[name] == pytest.approx(ref, rel=0.01)
    check = j["calibration_check"]
    assert check["repeat_purchases_expected"] == pytest.approx(
        check["repeat_purchases_observed"], rel=0.05
    )


def test_day_unit_rescales_alpha_only(capsys, cdnow_csv):
    weeks = json.loads(_run(capsys, *_fit_args(cdnow_csv, "--until", "1997-09-30", "--json"))[1])
    days = json.loads(
        _run(capsys, *_fit_args(cdnow_csv, "--until", "1997-09-30", "--unit", "day", "--json"))[1]
    )
    assert "gamma_gamma" not in days
    # time enters the model only through alpha * time: a change of unit multiplies alpha by 7
    assert days["bgnbd"]["alpha"] == pytest.approx(7 * weeks["bgnbd"]["alpha"], rel=1e-4)
    for name in ("r", "a", "b"):
        assert days["bgnbd"][name] == pytest.approx(weeks["bgnbd"][name], rel=1e-4)
    assert days["bgnbd"]["log_likelihood"] == pytest.approx(
        weeks["bgnbd"]["log_likelihood"] - 2457 * math.log(7), abs=1e-3
    )


def test_text_output_and_default_until(capsys, cdnow_csv):
    code, out, _ = _run(capsys, *_fit_args(cdnow_csv, "--amount-col", "value"))
    assert code == 0
    assert "Calibration up to 1998-06-30" in out  # the last date in the file
    for label in ("r     =", "alpha =", "a     =", "b     =", "p     =", "q     =", "gamma ="):
        assert label in out


def test_module_entry_point(cdnow_csv):
    proc = subprocess.run(
        [sys.executable, "-m", "metrics.clv", *_fit_args(cdnow_csv, "--until", "1997-09-30")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "BG/NBD" in proc.stdout and "r     = 0.24" in proc.stdout


BAD_FILES = [
    ("", "empty file"),
    ("customer_id,order_date,value\n\n", "no transactions after the header"),
    ("cust,order_date\n1,2024-01-01\n", "row 1: no column --customer-col 'customer_id'"),
    (
        "customer_id,order_date,value\n1,2024-01-01,5\n1,2024-13-01,5\n",
        "row 3, column 'order_date': expected a date",
    ),
    ("customer_id,order_date,value\n1,2024-01-01,5\n1,2024-02-01,abc\n", "row 3, column 'value'"),
    ("customer_id,order_date,value\n1,2024-01-01,-5\n", "row 2, column 'value': negative"),
    ("customer_id,order_date,value\n1,2024-01-01\n", "row 2: expected 3 fields, found 2"),
    ("customer_id,order_date,value\n,2024-01-01,5\n", "row 2, column 'customer_id'"),
    (
        "customer_id,order_date,value\n1,2024-01-01,5\n2,2024-01-03,5\n",
        "nobody made a repeat purchase",
    ),
]


@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_bad_files_get_row_and_column_messages(capsys, tmp_path, content, message):
    path = tmp_path / "tx.csv"
    path.write_text(content)
    code, out, err = _run(capsys, *_fit_args(path, "--amount-col", "value"))
    assert code == 2
    assert out == ""
    assert message in err
    assert "Traceback" not in err and str(tmp_path) not in err


def test_missing_binary_and_until_problems(capsys, tmp_path, cdnow_csv):
    code, _, err = _run(capsys, *_fit_args(tmp_path / "nope.csv"))
    assert code == 2 and "nope.csv: no such file" in err and str(tmp_path) not in err
    binary = tmp_path / "tx.xlsx"
    binary.write_bytes(b"PK\x03\x04\xff\xfe\x00\x81garbage")
    code, _, err = _run(capsys, *_fit_args(binary))
    assert code == 2 and "not UTF-8 text" in err
    code, _, err = _run(capsys, *_fit_args(cdnow_csv, "--until", "1996-01-01"))
    assert code == 2 and "before the first transaction" in err
    with pytest.raises(SystemExit):
        main(_fit_args(cdnow_csv, "--until", "30/09/1997"))
    assert "expected YYYY-MM-DD" in capsys.readouterr().err
