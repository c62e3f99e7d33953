"""The ``python -m reports`` command line: one argparse subcommand per command module.

Each command module exposes ``register(subparsers) -> None`` and sets ``run`` (a function of
the parsed arguments returning the exit status) with ``set_defaults``. A command reports
problems as :class:`CliError` (message on stderr, exit status 2), never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

EXIT_USAGE = 2
COMMAND_MODULES = ("reports.alerts", "reports.summary")
"""Modules whose ``register`` adds a subcommand (the summary command adds its own here)."""


class CliError(RuntimeError):
    """A problem the user can fix; its message is printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reports", description="LoopLens reports: alerts and summaries."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # an optional command that is not installed
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; the exit status (0 ok, 1 a delivery failed, 2 a reported problem)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - a CLI reports, it does not dump tracebacks
        if os.environ.get("LOOPLENS_DEBUG"):
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_USAGE
