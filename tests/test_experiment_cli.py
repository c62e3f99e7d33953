"""``python -m metrics.experiments`` end to end.

Text output, exit codes and stderr go through a real subprocess (each costs ~2 s of imports, so
the module is marked slow); the JSON variants call ``main()`` in-process.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import stats
from sqlalchemy import create_engine

from metrics.experiments import cli as experiments
from metrics.experiments.analysis import analyze_summary
from metrics.experiments.summary_csv import parse_summary_csv
from tests import test_experiment_sql as fixture

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "metrics.experiments", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "LOOPLENS_DEBUG": "", **(env or {})},
    )  # fmt: skip


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("cli") / "w.duckdb"
    engine = create_engine(f"duckdb:///{path}")
    fixture.load_rows(engine, fixture.ROWS)
    engine.dispose()
    return f"duckdb:///{path}"


def test_list(url: str, capsys) -> None:
    res = run("--url", url, "list")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["id", "status", "days"]
    assert [ln.split()[0] for ln in lines[1:]] == [fixture.OTHER, fixture.EXP]
    assert experiments.main(["--url", url, "list", "--json"]) == 0
    ids = [e["experiment_id"] for e in json.loads(capsys.readouterr().out)]
    assert ids == [fixture.OTHER, fixture.EXP]


def test_url_accepts_a_bare_file_path_like_data_demo(url: str, tmp_path: Path, capsys) -> None:
    bare = url.removeprefix("duckdb:///")
    res = run("--url", bare, "list")  # what README / `data.demo --out` accept
    assert res.returncode == 0, res.stderr
    assert res.stdout == run("--url", url, "list").stdout
    # A .sqlite / .db path is a SQLite warehouse.
    sqlite_file = tmp_path / "w.db"
    engine = create_engine(f"sqlite:///{sqlite_file}")
    fixture.load_rows(engine, fixture.ROWS)
    engine.dispose()
    assert experiments.main(["list", "--url", str(sqlite_file), "--json"]) == 0
    ids = [e["experiment_id"] for e in json.loads(capsys.readouterr().out)]
    assert ids == [fixture.OTHER, fixture.EXP]


def test_analyze_text_and_json(url: str, capsys) -> None:
    res = run("analyze", "--url", url, "--experiment", fixture.EXP, "--metric",
              "purchase_conversion")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "purchase_conversion" in res.stdout and "Recommendation:" in res.stdout
    # The fixture's split (~57/43/0 vs 45/45/10) is a sample ratio mismatch.
    assert "SRM: MISMATCH" in res.stdout and "Recommendation: INVALID" in res.stdout
    srm_line = next(ln for ln in res.stdout.splitlines() if ln.startswith("SRM:"))
    assert srm_line.endswith("< 0.001 threshold)"), srm_line
    assert experiments.main(["analyze", "--url", url, "--experiment", fixture.EXP, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["experiment_id"] == fixture.EXP and data["control"] == "control"
    assert [m["name"] for m in data["metrics"]] == [
        "purchase_conversion", "revenue_per_user", "click_through_rate", "support_contact_rate"
    ]  # fmt: skip
    assert data["recommendation"]["kind"] == "invalid"
    units = fixture.reference_units(fixture.ROWS, "purchase_conversion")
    ctrl = next(s for s in data["metrics"][0]["stats"] if s["variant"] == "control")
    assert ctrl["units"] == int((units.variant == "control").sum())
    assert ctrl["sum"] == pytest.approx(units.y[units.variant == "control"].sum())


def test_unknown_experiment_exits_2(url: str) -> None:
    res = run("analyze", "--url", url, "--experiment", "exp_nope")
    assert res.returncode == 2
    assert res.stdout == "" and "Traceback" not in res.stderr
    assert "unknown experiment 'exp_nope'" in res.stderr and fixture.EXP in res.stderr


def test_demo_warehouse_not_generated_yet_says_how_to_get_one(tmp_path: Path) -> None:
    env = {"LOOPLENS_HOME": str(tmp_path), "LOOPLENS_WAREHOUSE_URL": ""}
    if (ROOT / ".streamlit" / "secrets.toml").exists():
        pytest.skip("a .streamlit/secrets.toml names the warehouse: the demo is not used")
    res = run("list", env=env)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"the demo warehouse {tmp_path / 'demo.duckdb'} has not been generated" in res.stderr
    assert "python -m data.demo --out" in res.stderr and "--url" in res.stderr
    assert not (tmp_path / "demo.duckdb").exists()


def test_unreachable_warehouse_exits_2(tmp_path: Path) -> None:
    res = run("--url", f"duckdb:///{tmp_path / 'missing.duckdb'}", "list")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "cannot read the warehouse" in res.stderr


def test_summary_csv(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "checkout.csv"
    csv.write_text("variant,units,conversions\ncontrol,10000,400\ntreatment,10000,480\n")
    assert experiments.main(["analyze", "--summary", str(csv), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["metrics"][0]["results"][0]
    # Independent reference: Katz log-ratio z test of the relative lift (issue 10; unpooled).
    pc, pt, n = 0.04, 0.048, 10000
    se = ((1 - pt) / (n * pt) + (1 - pc) / (n * pc)) ** 0.5
    assert r["p_value"] == pytest.approx(2 * stats.norm.sf(math.log(pt / pc) / se), rel=1e-9)
    # ... and on the absolute scale, the unpooled Wald z test.
    z_abs = (pt - pc) / (pc * (1 - pc) / n + pt * (1 - pt) / n) ** 0.5
    assert r["absolute_p_value"] == pytest.approx(2 * stats.norm.sf(z_abs), rel=1e-9)
    assert r["relative_lift"] == pytest.approx(0.2)
    text = run("analyze", "--summary", str(csv))
    assert "Recommendation: SHIP (treatment)" in text.stdout


def test_malformed_summary_names_row_and_column(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("variant,units,conversions\ncontrol,10000,400\ntreatment,lots,480\n")
    res = run("analyze", "--summary", str(csv))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "row 3" in res.stderr and "'units'" in res.stderr


# Designed 50 / 25 / 25 (as percentages), observed skewed towards treat_b.
SKEWED = (
    "variant,units,conversions,expected_share\n"
    "control,20000,1000,50\n"
    "treat_a,10000,520,25%\n"
    "treat_b,10600,540,25\n"
)


def _chisquare_p(counts: list[int], weights: list[float]) -> float:
    """Independent reference: scipy's chi-square goodness of fit on the same counts."""
    total, wsum = sum(counts), sum(weights)
    return float(stats.chisquare(counts, f_exp=[w / wsum * total for w in weights]).pvalue)


def test_summary_expected_share_runs_srm_via_analyze_summary() -> None:
    parsed = parse_summary_csv(SKEWED)
    assert parsed.ok, parsed.errors
    a = analyze_summary(
        parsed.stats, parsed.kind, parsed.control, expected_shares=parsed.expected_shares
    )
    p = _chisquare_p([20000, 10000, 10600], [50, 25, 25])
    assert p < 0.001  # the case is a real mismatch
    assert a.srm is not None and a.srm.error_message is None
    assert a.srm.p_value == pytest.approx(p, rel=1e-9)
    assert a.srm.flagged
    assert a.srm.expected_shares == pytest.approx((0.5, 0.25, 0.25), rel=1e-12)


def test_summary_expected_share_srm_in_cli_json_and_shares_override(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "skewed.csv"
    csv.write_text(SKEWED)
    assert experiments.main(["analyze", "--summary", str(csv), "--json"]) == 0
    srm = json.loads(capsys.readouterr().out)["srm"]
    assert srm["p_value"] == pytest.approx(_chisquare_p([20000, 10000, 10600], [2, 1, 1]), rel=1e-9)
    assert srm["flagged"] is True and srm["observed"] == [20000, 10000, 10600]
    # --shares (control first) overrides the column.
    assert (
        experiments.main(["analyze", "--summary", str(csv), "--json", "--shares", "2,1,1.06"]) == 0
    )
    srm = json.loads(capsys.readouterr().out)["srm"]
    p = _chisquare_p([20000, 10000, 10600], [2, 1, 1.06])
    assert p > 0.001 and srm["p_value"] == pytest.approx(p, rel=1e-9) and not srm["flagged"]
    assert experiments.main(["analyze", "--summary", str(csv), "--shares", "2,1,1.06"]) == 0
    srm_line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("SRM:"))
    assert srm_line.startswith("SRM: ok (")
    assert srm_line.endswith(f"p = {p:.3g} ≥ 0.001 threshold)"), srm_line
    assert srm["expected_shares"] == pytest.approx([2 / 4.06, 1 / 4.06, 1.06 / 4.06], rel=1e-12)
    # Without the column and without --shares there is no SRM check.
    plain = tmp_path / "plain.csv"
    plain.write_text("variant,units,conversions\ncontrol,20000,1000\ntreat_a,10000,520\n")
    assert experiments.main(["analyze", "--summary", str(plain), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["srm"] is None


def test_summary_bad_expected_share_exits_2(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("variant,units,conversions,expected_share\nc,100,5,0.5\nt,100,6,\n")
    assert experiments.main(["analyze", "--summary", str(csv)]) == 2
    assert "row 3, column 'expected_share'" in capsys.readouterr().err


def test_shares_count_mismatch_says_what_is_expected(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "skewed.csv"
    csv.write_text(SKEWED)
    assert experiments.main(["analyze", "--summary", str(csv), "--shares", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "has 1 values" not in err
    assert "one share per variant, control first" in err
    assert "3 variants (control, treat_a, treat_b)" in err and "1 value (0.5)" in err
