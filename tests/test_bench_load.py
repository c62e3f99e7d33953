"""``python -m bench load`` / ``memory``: argument parsing and the pure figures (no browser,
no server, no timing)."""

from __future__ import annotations

import numpy as np
import pytest

from bench import load


def test_load_arguments() -> None:
    args = load.parse_args(["load", "--sessions", "20", "--pages", "2", "--json", "out.json"])
    assert (args.command, args.sessions, args.pages, str(args.json)) == ("load", 20, 2, "out.json")
    assert load.page_list(args.pages) == [("Loop health", "/"), ("Lifecycle", "/lifecycle")]
    assert load.parse_args(["load"]).pages == 4


def test_memory_arguments_visit_every_registered_page_twice() -> None:
    from components.navigation import PAGE_SPECS

    args = load.parse_args(["memory", "--url", "/tmp/x.duckdb", "--serving", "/tmp/s.duckdb"])
    assert args.rounds == 2
    pages = load.page_list(args.pages)
    assert len(pages) == len(PAGE_SPECS)
    assert pages[0] == ("Loop health", "/")  # the default page is served at /
    assert ("Channels & attribution", "/channels") in pages


@pytest.mark.parametrize("argv", [["load", "--sessions", "0"], ["load", "--pages", "0"], []])
def test_bad_arguments_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        load.parse_args(argv)


def test_file_paths_become_duckdb_urls(tmp_path) -> None:
    assert load.as_url(str(tmp_path / "w.duckdb")) == f"duckdb:///{tmp_path / 'w.duckdb'}"
    assert load.as_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert load.as_url(None) is None


@pytest.mark.parametrize("q", [0, 25, 50, 95, 100])
def test_percentile_matches_numpy(q: float) -> None:
    values = [3.2, 0.4, 9.9, 1.5, 1.5, 7.0, 2.2]
    assert load.percentile(values, q) == pytest.approx(np.percentile(values, q))


def test_summary_counts_errors_and_leaves_them_out_of_the_times() -> None:
    visits = [
        load.Visit(0, 0, "Lifecycle", "/lifecycle", 1.0, 1.2),
        load.Visit(1, 0, "Lifecycle", "/lifecycle", 3.0, 3.1),
        load.Visit(2, 0, "Lifecycle", "/lifecycle", 2.0, 2.5, error="1 exception(s)"),
        load.Visit(3, 0, "Lifecycle", "/lifecycle", None, 120.0, error="TimeoutError: ..."),
    ]
    s = load.summarise(visits)
    assert (s["visits"], s["errors"], s["max_s"]) == (4, 2, 3.0)
    assert s["p50_s"] == pytest.approx(2.0)
    assert np.isnan(load.summarise([])["p95_s"])


def test_proc_figures_are_parsed() -> None:
    # a process whose name holds spaces and parentheses; utime 250 and stime 50 ticks
    line = "4242 (python (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 3 1 20 0 9 0"
    assert load.parse_proc_stat(line) == pytest.approx(300 / load.CLOCK_TICKS)
    status = "Name:\tpython\nVmHWM:\t  409600 kB\nVmRSS:\t  204800 kB\nThreads:\t9\n"
    assert load.parse_proc_status(status) == {"VmHWM": 400.0, "VmRSS": 200.0}


def test_the_server_figures_of_this_process_are_readable() -> None:
    """The /proc readers work on a live process (this one): CPU grows, RSS is positive."""
    import os
    from pathlib import Path

    pid = os.getpid()
    before = load.parse_proc_stat(Path(f"/proc/{pid}/stat").read_text())
    sum(i * i for i in range(200_000))
    assert load.parse_proc_stat(Path(f"/proc/{pid}/stat").read_text()) >= before
    mem = load.parse_proc_status(Path(f"/proc/{pid}/status").read_text())
    assert 0 < mem["VmRSS"] <= mem["VmHWM"]
