"""``python -m bench engines``: the serving-layer refresh and one page's live fallback on Spark
SQL vs DuckDB, on the same demo (default 1,000 customers: Spark costs ~1 s per statement on one
machine however small the data; the point of Spark is that the same SQL scales out).

Starts a local Spark Thrift Server (data/spark_server.py) unless ``--spark-url`` names one.
Prints a table (and ``--json FILE``); never asserts on time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.report import Table

PAGE = "Lifecycle"  # the live fallback timed: every Lifecycle fetch with no serving store


def _time_engine(url: str, folder: Path, label: str) -> tuple[float, float, int]:
    """(full serving refresh s, live Lifecycle page s, serving rows) for the warehouse ``url``."""
    from bench.pages import lifecycle_page
    from data.serving import ServingConfig
    from data.serving.refresh import refresh
    from data.warehouse import open_engine
    from metrics.filters import Filters

    engine = open_engine(url)
    serving = f"duckdb:///{folder / f'serving_{label}.duckdb'}"
    t0 = time.perf_counter()
    result = refresh(engine, ServingConfig(serving, "env"), url, full=True)
    refresh_s = time.perf_counter() - t0
    end = dt.date(2026, 11, 30)
    t0 = time.perf_counter()
    lifecycle_page(engine, Filters(start=end - dt.timedelta(days=89), end=end))
    page_s = time.perf_counter() - t0
    engine.dispose()
    return refresh_s, page_s, sum(t.row_count for t in result.tables)


def bench_engines(customers: int, spark_url: str | None) -> Table:
    from data import spark_server
    from data.demo import generate

    folder = Path(tempfile.mkdtemp(prefix="looplens-bench-engines-"))
    server = None
    if spark_url is None:
        t0 = time.perf_counter()
        server = spark_server.start(folder / "spark")
        spark_url = server.url
        print(f"(Spark Thrift Server listening after {time.perf_counter() - t0:.0f} s)",
              file=sys.stderr)  # fmt: skip
    try:
        duck_url = f"duckdb:///{folder / 'wh.duckdb'}"
        kw = {"customers": customers, "seed": 5, "end_date": dt.date(2026, 11, 30)}
        table = Table(
            f"Engines at {customers:,} customers: full serving refresh into DuckDB, and the "
            f"{PAGE} page's live fallback (no serving store)",
            ["engine", "demo load s", "serving refresh s", "serving rows", f"{PAGE} live s"],
        )
        for label, url in (("duckdb", duck_url), ("spark", spark_url)):
            t0 = time.perf_counter()
            generate(url, overwrite=True, manifest=folder / f"{label}.json", **kw)
            load_s = time.perf_counter() - t0
            refresh_s, page_s, rows = _time_engine(url, folder, label)
            table.add(label, load_s, refresh_s, rows, page_s)
        return table
    finally:
        if server is not None:
            server.stop()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench engines", description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_000, help="demo size (default 1,000)")
    p.add_argument("--spark-url", default=None, help="a running server's hive:// URL")
    p.add_argument("--json", type=Path, default=None, help="also write the table to this file")
    args = p.parse_args(argv)
    table = bench_engines(args.customers, args.spark_url)
    print(table.render(), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps([table.as_dict()], indent=2))
    return 0
