"""Serving-layer build figures: a full build, then an incremental refresh, per serving table.

The incremental refresh runs right after the full build on the same warehouse, so it re-reads
the late-data window (the last ``late_days`` + 1 days) and rebuilds running experiments — the
work a scheduled refresh after one new day does.
"""

from __future__ import annotations

import time

from bench.report import Table
from data.serving import ServingConfig
from data.serving.refresh import DEFAULT_LATE_DAYS, RefreshResult, refresh
from data.warehouse import duckdb_path, mask_url, open_engine


def _run(warehouse: str, serving: str, *, full: bool) -> tuple[RefreshResult, float]:
    engine = open_engine(warehouse, read_only=True)
    t0 = time.perf_counter()
    result = refresh(engine, ServingConfig(serving, "env"), warehouse, full=full)
    seconds = time.perf_counter() - t0
    engine.dispose()
    return result, seconds


def bench_serving(warehouse: str, serving: str) -> Table:
    """Full build and incremental refresh of serving store ``serving`` (a URL) for the
    warehouse at URL ``warehouse``."""
    full, full_s = _run(warehouse, serving, full=True)
    path = duckdb_path(serving)
    size = f", {path.stat().st_size / 1e6:.0f} MB on disk" if path is not None else ""
    incremental, inc_s = _run(warehouse, serving, full=False)
    table = Table(
        f"Serving layer ({mask_url(warehouse)} → {mask_url(serving)}): full build {full_s:.1f} s"
        f"{size}, incremental refresh {inc_s:.1f} s (re-reads {DEFAULT_LATE_DAYS + 1} days; "
        "running experiments rebuilt)",
        ["serving table", "rows", "full s", "incremental s", "rows re-read"],
    )
    by_name = {t.rollup: t for t in incremental.tables}
    for t in full.tables:
        inc = by_name.get(t.rollup)
        table.add(
            t.rollup,
            t.row_count,
            t.seconds,
            inc.seconds if inc else float("nan"),
            inc.rows_written if inc else 0,
        )
    table.add("(all)", sum(t.row_count for t in full.tables), full_s, inc_s, "")
    return table
