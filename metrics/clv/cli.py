"""Command line: fit BG/NBD (+ Gamma-Gamma) on any transaction export.

Usage::

    python -m metrics.clv fit --transactions FILE.csv --customer-col C --date-col D
        [--amount-col A] [--until YYYY-MM-DD] [--unit day|week] [--json]

The calibration period runs from each customer's first purchase to ``--until`` inclusive
(default: the last date in the file); later rows are ignored. Time is measured in ``--unit``
(default ``week``), so ``alpha`` is in that unit. Purchases on the same day count once (see
:mod:`metrics.retention.summary`). Problems print on stderr, naming row and column, and exit
with status 2; set ``LOOPLENS_DEBUG=1`` to see a traceback instead.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence

from metrics.retention.model import CLVModels, fit_frame
from metrics.retention.transactions_csv import parse_transactions_csv

EXIT_USAGE = 2


class CliError(Exception):
    """A problem to report on stderr with exit status 2 (no traceback)."""


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m metrics.clv",
        description="Fit BG/NBD and Gamma-Gamma CLV models on a transaction CSV.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit the models and print parameters and diagnostics")
    fit.add_argument("--transactions", required=True, metavar="FILE.csv")
    fit.add_argument("--customer-col", required=True, metavar="C")
    fit.add_argument("--date-col", required=True, metavar="D")
    fit.add_argument("--amount-col", metavar="A", help="transaction value (fits Gamma-Gamma)")
    fit.add_argument("--until", type=_date, metavar="YYYY-MM-DD", help="calibration end")
    fit.add_argument("--unit", choices=("day", "week"), default="week")
    fit.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def render_text(models: CLVModels) -> str:
    """Human-readable parameters and diagnostics."""
    j = models.to_jsonable()
    bg = j["bgnbd"]
    se = bg["std_errors"]
    lines = [
        f"Calibration up to {j['until']} (time unit: {j['unit']})",
        f"customers {j['customers']:,}  repeat customers {j['repeat_customers']:,}  "
        f"distinct (x, t_x, T) triples {j['distinct_triples']:,}",
        "",
        "BG/NBD (Fader, Hardie & Lee 2005)",
        f"  r     = {bg['r']:.4f}  (se {se['r']:.4f})",
        f"  alpha = {bg['alpha']:.4f}  (se {se['alpha']:.4f})  [{j['unit']}s]",
        f"  a     = {bg['a']:.4f}  (se {se['a']:.4f})",
        f"  b     = {bg['b']:.4f}  (se {se['b']:.4f})",
        f"  log-likelihood {bg['log_likelihood']:,.2f}  converged {bg['converged']}  "
        f"iterations {bg['iterations']}",
        f"  repeat purchases in calibration: observed "
        f"{j['calibration_check']['repeat_purchases_observed']:,.0f}, expected by the fit "
        f"{j['calibration_check']['repeat_purchases_expected']:,.1f}",
    ]
    gg = j.get("gamma_gamma")
    if gg is not None:
        gse = gg["std_errors"]
        lines += [
            "",
            f"Gamma-Gamma (Fader & Hardie 2013), {gg['customers']:,} repeat customers",
            f"  p     = {gg['p']:.4f}  (se {gse['p']:.4f})",
            f"  q     = {gg['q']:.4f}  (se {gse['q']:.4f})",
            f"  gamma = {gg['gamma']:.4f}  (se {gse['gamma']:.4f})",
            f"  log-likelihood {gg['log_likelihood']:,.2f}  converged {gg['converged']}",
            f"  expected transaction value of a new customer "
            f"{gg['expected_transaction_value']:,.2f}",
        ]
        if gg["excluded_zero_spend"]:
            lines.append(
                f"  ({gg['excluded_zero_spend']:,} repeat customers with zero repeat spend "
                "left out)"
            )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> str:
    parsed = parse_transactions_csv(
        args.transactions, args.customer_col, args.date_col, args.amount_col
    )
    if parsed.errors:
        raise CliError("\n".join(parsed.errors))
    frame = parsed.frame
    if args.until is not None and frame["ts"].min().date() > args.until:
        raise CliError(
            f"--until {args.until.isoformat()} is before the first transaction "
            f"({frame['ts'].min().date().isoformat()})"
        )
    try:
        models = fit_frame(frame, args.until, args.unit)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        return json.dumps(models.to_jsonable(), indent=2)
    return render_text(models)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        print(run(args))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - a message, not a traceback, unless debugging
        if os.environ.get("LOOPLENS_DEBUG"):
            raise
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0
