"""``python -m bench`` arguments (the benchmarks themselves are run by hand, never asserted on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import __main__ as bench


def test_experiment_section_is_sized_from_customers() -> None:
    assert bench._parse([]).assignments == bench.ASSIGNMENTS_PER_CUSTOMER * 100_000
    args = bench._parse(["--customers", "2000"])
    assert args.assignments == bench.ASSIGNMENTS_PER_CUSTOMER * 2000
    assert bench._parse(["--customers", "2000", "--assignments", "5"]).assignments == 5


def test_out_is_a_duckdb_file(tmp_path: Path, capsys) -> None:
    assert bench._parse(["--out", str(tmp_path / "b.duckdb")]).out == tmp_path / "b.duckdb"
    assert bench._parse(["--out", f"duckdb:///{tmp_path / 'c'}"]).out == tmp_path / "c"
    with pytest.raises(SystemExit):
        bench._parse(["--out", str(tmp_path / "b.sqlite")])
    assert "not a DuckDB file" in capsys.readouterr().err
