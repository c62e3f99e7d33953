"""``python -m data.serving``: build and inspect the serving store.

    python -m data.serving refresh            # incremental (full on first run)
    python -m data.serving refresh --full     # rebuild everything
    python -m data.serving status             # what each serving table covers

The warehouse is the app's (secrets, ``LOOPLENS_WAREHOUSE_URL`` or the demo; ``--url``
overrides); the serving store is ``LOOPLENS_SERVING_URL`` / ``[connections.serving]`` or the
default DuckDB file (``--serving`` overrides). Progress is printed as plain lines (cron-friendly);
the exit code is 0 on success, 2 on bad input, 1 when the warehouse or store fails.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from data.errors import diagnose
from data.serving.config import ServingConfig, resolve_serving_config
from data.serving.refresh import DEFAULT_LATE_DAYS, refresh
from data.serving.store import ServingStore
from data.warehouse import mask_url, open_engine, resolve_config, to_url


def _as_url(text: str) -> str:
    """A SQLAlchemy URL, or a bare path to a ``.duckdb`` / ``.sqlite`` / ``.db`` file."""
    url = to_url(text)
    make_url(url)  # raises ArgumentError on nonsense
    return url


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m data.serving", description=__doc__.split("\n")[0])
    p.add_argument("--url", help="warehouse URL or DuckDB/SQLite file (default: the app's)")
    p.add_argument("--serving", help="serving-store URL or file (default: the app's)")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("refresh", help="bring the serving store up to date")
    r.add_argument("--full", action="store_true", help="rebuild every table from all history")
    r.add_argument(
        "--late-days",
        type=int,
        default=DEFAULT_LATE_DAYS,
        help=f"days before the last refreshed day to re-read (default {DEFAULT_LATE_DAYS})",
    )
    sub.add_parser("status", help="print what each serving table covers and how fresh it is")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        warehouse_url = _as_url(args.url) if args.url else resolve_config().url
        config = (
            ServingConfig(_as_url(args.serving), "env")
            if args.serving
            else resolve_serving_config()
        )
    except (ArgumentError, ValueError) as exc:
        print(f"error: not a database URL or file path: {exc}", file=sys.stderr)
        return 2
    if args.command == "refresh" and args.late_days < 0:
        print("error: --late-days must be 0 or more", file=sys.stderr)
        return 2
    print(f"warehouse: {mask_url(warehouse_url)}", flush=True)
    print(f"serving store: {config.masked_url}", flush=True)
    try:
        if args.command == "refresh":
            engine = open_engine(warehouse_url, read_only=True)
            try:
                result = refresh(
                    engine,
                    config,
                    warehouse_url,
                    full=args.full,
                    late_days=args.late_days,
                    progress=lambda msg: print(msg, flush=True),
                )
            finally:
                engine.dispose()
            print(f"done: {len(result.tables)} tables, {result.mode}, {result.seconds:.1f} s")
            return 0
        store = ServingStore(config, warehouse_url)
        records = store.records()
        if not records:
            print("no serving store yet: run `python -m data.serving refresh`")
            return 0
        for name, rec in sorted(records.items()):
            state = "ok" if store.usable(rec) else "stale (other warehouse or version)"
            print(
                f"{name}: {rec.row_count:,} rows, through {rec.covered_through}, "
                f"{rec.mode} at {rec.refreshed_at:%Y-%m-%d %H:%M} UTC "
                f"({rec.seconds:.2f} s), {state}"
            )
        store.dispose()
        return 0
    except (SQLAlchemyError, OSError) as exc:
        problem = diagnose(exc, warehouse_url) if isinstance(exc, SQLAlchemyError) else None
        if problem is not None:
            print(f"error: {problem.title}. {problem.detail} {problem.fix}", file=sys.stderr)
        else:
            print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
