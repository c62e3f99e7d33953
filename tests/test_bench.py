"""``python -m bench`` arguments (the benchmarks themselves are run by hand, never asserted on)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bench import __main__ as bench
from bench import pages as bench_pages


def test_experiment_section_is_sized_from_customers() -> None:
    assert bench._parse([]).assignments == bench.ASSIGNMENTS_PER_CUSTOMER * 100_000
    args = bench._parse(["--customers", "2000"])
    assert args.assignments == bench.ASSIGNMENTS_PER_CUSTOMER * 2000
    assert bench._parse(["--customers", "2000", "--assignments", "5"]).assignments == 5


def test_out_is_a_file_or_url_and_the_serving_store_goes_beside_it(tmp_path: Path) -> None:
    args = bench._parse(["--out", str(tmp_path / "b.duckdb")])
    assert args.out == f"duckdb:///{tmp_path / 'b.duckdb'}"
    assert args.serving == f"duckdb:///{tmp_path / 'b_serving.duckdb'}"
    pg = "postgresql+psycopg://127.0.0.1:5432/bench"
    args = bench._parse(["--out", pg, "--serving", str(tmp_path / "s.duckdb")])
    assert (args.out, args.serving) == (pg, f"duckdb:///{tmp_path / 's.duckdb'}")
    assert bench._parse(["--out", pg]).serving.endswith(
        "looplens_bench_postgresql_bench_serving.duckdb"
    )


def test_bench_runs_on_a_postgresql_warehouse(
    pg_url: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    """The bench's warehouse sections run end to end on the real PostgreSQL server."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the manifest goes there
    serving = tmp_path / "serving.duckdb"
    out = tmp_path / "bench.json"
    sections = "generate,serving,health,pages"
    argv = ["--out", pg_url, "--serving", str(serving), "--customers", "1000",
            "--only", sections, "--repeat", "1", "--json", str(out)]  # fmt: skip
    assert bench.main(argv) == 0
    tables = json.loads(out.read_text())
    generation, build, health, pages = tables[:4]
    assert generation["rows"][0][0] == "1,000"
    assert build["title"].startswith("Serving layer (postgresql") and serving.exists()
    assert "reused (up to date)" in pages["title"]  # the serving section had just built it
    assert [r[0] for r in pages["rows"]] == list(bench_pages.PAGES)
    assert all(r[1] != "nan" and r[2] != "nan" for r in pages["rows"])  # served and live timed
    assert "Page data fetch" in capsys.readouterr().out
