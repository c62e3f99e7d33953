"""``python -m bench``: the home of every LoopLens performance figure.

Prints tables; never asserts on time (machines here are shared and noisy: compare the ratios
within one run). Sections:

- ``generate``: demo warehouse generation throughput (events/s) at ``--customers``;
- ``serving``: serving-layer full build and incremental refresh, per serving table;
- ``health``: data-health query latency on that warehouse;
- ``pages``: each dashboard page's data fetch (cold) on that warehouse: served from the serving
  store (built first; ``--serving PATH``, ``--no-serving``) vs live pushed-down SQL vs reading
  the rows into pandas (``--no-naive`` skips the slow half), then per-fetch times;
- ``experiment``: ``analyze_experiment`` (SQL + stats) on a synthetic experiment with
  ``--assignments`` units (default ``ASSIGNMENTS_PER_CUSTOMER`` × ``--customers``: 1M at the
  default size, 10M at ``--customers 1000000``);
- ``stats``: pure statistics time per metric × variant comparison;
- ``clv``: the BG/NBD + Gamma-Gamma fit (grouped summary SQL and maximum likelihood) on a
  simulated transaction table of ``--customers`` customers (:mod:`bench.clv`);
- ``simulate``: A/A false-positive rates (fixed horizon, naive peeking, sequential) and interval
  coverage, by simulation at ``--sims`` runs.

``python -m bench stats [--sims N] [--json FILE]`` runs only the statistics sections (``stats``
and ``simulate``: every full-size error-rate simulation with its Monte Carlo standard error;
no warehouse needed).

``python -m bench engines [--customers 1000] [--spark-url URL]``: the serving refresh and the
Lifecycle page's live fallback on Spark SQL vs DuckDB at the same size (:mod:`bench.engines`).

``python -m bench load --sessions 20 [--pages 4] [--url WAREHOUSE] [--json FILE]`` drives
concurrent browser sessions against ``streamlit run app.py``; ``python -m bench memory --url ...
--serving ...`` measures the server's RSS after visiting every page twice (see ``bench.load``).

Usage: ``python -m bench --customers 1000000 [--assignments N] [--out FILE.duckdb]
[--only generate,health] [--reuse]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import inspect, make_url
from sqlalchemy.exc import SQLAlchemyError

from bench.report import Table
from data.warehouse import duckdb_path, open_engine, to_url
from data.warehouse import mask_url as mask

LOAD_COMMANDS = ("load", "memory")
"""Subcommands that drive the running app in a browser (``bench.load``)."""
ENGINES_COMMAND = "engines"
"""``python -m bench engines``: Spark SQL vs DuckDB (starts a Spark Thrift Server)."""
STATS_COMMAND = "stats"
"""``python -m bench stats``: the statistics sections only (``--only stats,simulate``)."""
SECTIONS = ("generate", "serving", "health", "pages", "experiment", "stats", "clv", "simulate")
ASSIGNMENTS_PER_CUSTOMER = 10  # the experiment section's default size, relative to --customers


def _warehouse(text: str) -> str:
    """``--out``: a DuckDB file path, or any SQLAlchemy URL (e.g. a PostgreSQL database)."""
    try:
        return to_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _beside(url: str, suffix: str) -> Path:
    """A DuckDB file beside a DuckDB warehouse (or in the temp folder for a server warehouse)."""
    path = duckdb_path(url)
    if path is not None:
        return path.with_name(path.stem + suffix)
    name = make_url(url).database or "warehouse"
    return (
        Path(tempfile.gettempdir())
        / f"looplens_bench_{make_url(url).get_backend_name()}_{name}{suffix}"
    )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=100_000, help="demo size (default 100,000)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--out",
        type=_warehouse,
        default=to_url("/tmp/looplens_bench.duckdb"),
        help="the demo warehouse: a DuckDB file or a SQLAlchemy URL such as "
        "postgresql+psycopg://127.0.0.1:5432/bench (default /tmp/looplens_bench.duckdb)",
    )
    p.add_argument(
        "--reuse", action="store_true", help="reuse the --out warehouse if it holds a demo"
    )
    p.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    p.add_argument("--repeat", type=int, default=3, help="repetitions for latency figures")
    p.add_argument(
        "--assignments",
        type=int,
        default=None,
        help=f"units in the big experiment (default {ASSIGNMENTS_PER_CUSTOMER} × --customers)",
    )
    p.add_argument("--no-naive", action="store_true", help="skip the naive page fetches")
    p.add_argument("--no-serving", action="store_true", help="skip building the serving store")
    p.add_argument(
        "--serving",
        type=_warehouse,
        default=None,
        help="serving store for `serving` and `pages`: a DuckDB file or a SQLAlchemy URL "
        "(default: a DuckDB file beside --out, or in /tmp for a server warehouse)",
    )
    p.add_argument("--sims", type=int, default=20_000, help="runs per simulation")
    p.add_argument("--json", type=Path, default=None, help="also write every table to this file")
    args = p.parse_args(argv)
    if args.customers < 1:
        p.error("--customers must be positive")
    if args.serving is None:
        args.serving = to_url(_beside(args.out, "_serving.duckdb"))
    if args.assignments is None:
        args.assignments = ASSIGNMENTS_PER_CUSTOMER * args.customers
    elif args.assignments < 1:
        p.error("--assignments must be positive")
    return args


def bench_generate(args: argparse.Namespace) -> Table:
    from data.demo import generator as demo

    table = Table(
        "Demo generation", ["customers", "rows (all tables)", "touchpoints", "s", "events/s"]
    )
    if args.reuse and _holds_demo(args.out):
        print(f"(reusing {mask(args.out)}; generation not timed)", file=sys.stderr)
        return table
    t0 = time.perf_counter()
    manifest = demo.generate(
        args.out,
        customers=args.customers,
        seed=args.seed,
        overwrite=True,
        manifest=_beside(args.out, "_manifest.json"),
    )
    seconds = time.perf_counter() - t0
    counts = manifest.get("rows", {})
    events = int(counts.get("touchpoints", 0))
    table.add(args.customers, sum(counts.values()), events, seconds, events / seconds)
    return table


def _holds_demo(url: str) -> bool:
    """Whether the warehouse at ``url`` exists and has a ``touchpoints`` table."""
    path = duckdb_path(url)
    if path is not None and not path.exists():
        return False
    engine = open_engine(url)
    try:
        return inspect(engine).has_table("touchpoints")
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def bench_health(args: argparse.Namespace) -> Table:
    from data.health import check_warehouse

    engine = open_engine(args.out)
    table = Table("Data-health checks", ["run", "tables", "s"])
    for i in range(args.repeat):
        t0 = time.perf_counter()
        report = check_warehouse(engine)
        table.add("cold" if i == 0 else f"warm {i}", len(report.tables), time.perf_counter() - t0)
    engine.dispose()
    return table


def _pages(pages, args: argparse.Namespace) -> list[Table]:  # noqa: ANN001 - bench.pages
    table = pages.bench_pages(
        args.out, naive=not args.no_naive, serving=not args.no_serving, serving_url=args.serving
    )
    return [table, pages.part_times()]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in LOAD_COMMANDS:
        from bench import load

        return load.main(argv)
    if argv and argv[0] == ENGINES_COMMAND:
        from bench import engines

        return engines.main(argv[1:])
    if argv and argv[0] == STATS_COMMAND:
        argv = ["--only", "stats,simulate", *argv[1:]]
    args = _parse(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        print(f"unknown section(s): {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
        return 2
    from bench import clv, experiments, pages, serving

    runners = {
        "generate": bench_generate,
        "serving": lambda a: serving.bench_serving(a.out, a.serving),
        "health": bench_health,
        "pages": lambda a: _pages(pages, a),
        "experiment": lambda a: experiments.bench_big_experiment(
            _beside(a.out, "_experiment.duckdb"), a.assignments
        ),
        "stats": lambda a: experiments.bench_stats_only(),
        "clv": lambda a: clv.bench_clv(_beside(a.out, "_clv.duckdb"), a.customers),
        "simulate": lambda a: experiments.bench_simulations(a.sims),
    }
    results: list[Table] = []
    for name in SECTIONS:
        if name in wanted:
            produced = runners[name](args)
            for table in produced if isinstance(produced, list) else [produced]:
                results.append(table)
                print(table.render(), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps([t.as_dict() for t in results], indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
