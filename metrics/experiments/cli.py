"""Command line: list and analyse experiments from the warehouse or a per-variant summary CSV.

Usage::

    python -m metrics.experiments list [--json]
    python -m metrics.experiments analyze --experiment ID [--metric M]
        [--engine frequentist|bayesian|sequential] [--cuped] [--correction holm|bh|none]
        [--alpha 0.05] [--winsorize 0.99] [--json]
    python -m metrics.experiments analyze --summary FILE.csv [--metric NAME]
        [--lower-is-better] [--shares 0.5,0.5] [--engine ...] [--cuped] [--json]

The warehouse is the configured one (``data.warehouse.resolve_config()``: secrets, then
``LOOPLENS_WAREHOUSE_URL``, then the demo file), opened read-only; ``--url`` overrides it with a
SQLAlchemy URL or a bare file path (``data.warehouse.to_url``, as ``python -m data.demo --out``).
Problems (unknown experiment, unreachable warehouse, malformed CSV) print one message on stderr
and exit with status 2; set ``LOOPLENS_DEBUG=1`` to see the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from data.warehouse import duckdb_path, mask_url, open_engine, resolve_config, to_url
from metrics.experiments.analysis import (
    ExperimentAnalysis,
    analyze_experiment,
    analyze_summary,
    to_jsonable,
)
from metrics.experiments.data import UnknownExperimentError, list_experiments
from metrics.experiments.summary_csv import parse_summary_csv
from metrics.stats.engine import ENGINES, MetricResult

EXIT_USAGE = 2
URL_HELP = (
    "warehouse: a SQLAlchemy URL or a file path (.sqlite/.sqlite3/.db: SQLite, else DuckDB); "
    "default: the configured warehouse"
)


class CliError(Exception):
    """A problem to report on stderr with exit status 2 (no traceback)."""


# --- formatting ---------------------------------------------------------------------------


def _fmt_value(value: float | None, kind: str) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.2%}" if kind == "binomial" else f"{value:,.4g}"


def _fmt_pct(value: float | None) -> str:
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return "n/a" if math.isnan(value) else f"{value:+.1%}"


def _fmt_p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _units(r: MetricResult) -> str:
    return f"{r.control_units:,}/{r.treatment_units:,}"


def table(rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """Rows of text aligned in columns (columns listed in ``right`` are right-aligned)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def render_analysis(a: ExperimentAnalysis) -> str:
    """The human-readable report: header, SRM line, results table, recommendation."""
    out = []
    head = f"Experiment {a.experiment_id}"
    if a.name and a.name != a.experiment_id:
        head += f" — {a.name}"
    details = [f"engine {a.engine}"]
    if a.info is not None:
        details.insert(0, f"{a.info.status}, {a.info.days_running} days")
    if a.correction:
        details.append(f"correction {a.correction}")
    if a.cuped:
        details.append("CUPED")
    out.append(f"{head} ({', '.join(details)})")
    if a.srm is not None and a.srm.error_message is None:
        obs = " / ".join(f"{s:.1%}" for s in a.srm.observed_shares)
        exp = " / ".join(f"{s:.1%}" for s in a.srm.expected_shares)
        verdict, sign = ("MISMATCH", "<") if a.srm.flagged else ("ok", "≥")
        out.append(
            f"SRM: {verdict} (split {obs} vs expected {exp}; "
            f"p = {a.srm.p_value:.3g} {sign} {a.srm.threshold:g} threshold)"
        )
    level = f"{1 - a.alpha:.0%}"
    evidence = "P(win)" if a.engine == "bayesian" else "p"
    rows = [["metric", "role", "variant", "units c/t", "control", "variant value", "lift",
             f"{level} interval", evidence, ""]]  # fmt: skip
    for m in a.metrics:
        if m.error_message:
            rows.append([m.name, m.role, "-", "", "", "", "", m.error_message, "", ""])
            continue
        for r in m.results:
            if r.error_message and not math.isfinite(r.relative_lift):
                rows.append([m.name, m.role, r.variant, _units(r), "", "", "",
                             f"error: {r.error_message}", "", ""])  # fmt: skip
                continue
            lo, hi = r.relative_ci
            if r.engine == "bayesian":
                ev = "n/a" if r.chance_to_win is None else f"{r.chance_to_win:.1%}"
            else:
                ev = _fmt_p(r.p_value_adjusted if r.p_value_adjusted is not None else r.p_value)
            mark = {"better": "▲ better", "worse": "▼ worse"}.get(r.direction, "")
            rows.append([
                m.name, m.role, r.variant, _units(r),
                _fmt_value(r.control_mean, m.kind), _fmt_value(r.treatment_mean, m.kind),
                _fmt_pct(r.relative_lift), f"[{_fmt_pct(lo)}, {_fmt_pct(hi)}]", ev, mark,
            ])  # fmt: skip
    out += ["", table(rows, right=(3, 4, 5, 6, 8))]
    rec = a.recommendation
    best = f" ({a.best_variant})" if a.best_variant else ""
    out += ["", f"Recommendation: {rec.kind.value.upper()}{best}"]
    out += [f"  - {reason}" for reason in rec.reasons]
    if a.warnings:
        out += ["", "Notes:"] + [f"  - {w}" for w in a.warnings]
    return "\n".join(out)


# --- commands -----------------------------------------------------------------------------


def _engine(url: str | None):  # noqa: ANN202 - a SQLAlchemy Engine
    """Open ``--url`` (a SQLAlchemy URL or a bare DuckDB/SQLite file path) or the configured one."""
    if not url:
        config = resolve_config()
        demo = duckdb_path(config.url) if config.is_demo else None
        if demo is not None and not demo.exists():
            raise CliError(
                f"the demo warehouse {demo} has not been generated yet: start the app once "
                f"(python -m streamlit run app.py), run python -m data.demo --out {demo}, or "
                "pass --url"
            )
    try:
        target = to_url(url) if url else resolve_config().url
        return open_engine(target, read_only=True), mask_url(target)
    except (ArgumentError, ValueError) as exc:
        raise CliError(f"invalid warehouse URL {mask_url(url or '')!r}: {exc}") from None


def _warehouse_error(where: str, exc: SQLAlchemyError) -> CliError:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = detail[0] if detail else type(exc).__name__
    return CliError(f"cannot read the warehouse at {where}: {first}")


def cmd_list(args: argparse.Namespace) -> str:
    engine, where = _engine(args.url)
    try:
        infos = list_experiments(engine)
    except SQLAlchemyError as exc:
        raise _warehouse_error(where, exc) from None
    finally:
        engine.dispose()
    if args.json:
        return json.dumps(to_jsonable(infos), indent=2, allow_nan=False)
    if not infos:
        return f"No experiments in the warehouse at {where}."
    rows = [["id", "status", "days", "primary metric", "variants", "name"]]
    for i in infos:
        variants = "/".join(v.variant for v in i.variants)
        rows.append([i.experiment_id, i.status, str(i.days_running), i.primary_metric,
                     variants, i.name])  # fmt: skip
    return table(rows, right=(2,))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _parse_shares(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        shares = [float(x) for x in text.split(",")]
    except ValueError:
        raise CliError(f"--shares must be comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(s) and s > 0 for s in shares):
        raise CliError(f"--shares must be positive numbers, got {text!r}")
    return shares


def _analyze_summary(args: argparse.Namespace) -> ExperimentAnalysis:
    parsed = parse_summary_csv(Path(args.summary))
    if not parsed.ok:
        raise CliError(f"{args.summary}: " + "; ".join(parsed.errors))
    assert parsed.kind is not None and parsed.control is not None
    shares = _parse_shares(args.shares)
    expected = parsed.expected_shares  # the file's expected_share column; --shares overrides
    if shares is not None:
        if len(shares) != len(parsed.stats):
            variants = ", ".join(s.variant for s in parsed.stats)
            raise CliError(
                f"--shares needs one share per variant, control first: the file has "
                f"{_count(len(parsed.stats), 'variant')} ({variants}) but --shares gave "
                f"{_count(len(shares), 'value')} ({args.shares})"
            )
        expected = {s.variant: w for s, w in zip(parsed.stats, shares, strict=True)}
    return analyze_summary(
        parsed.stats,
        parsed.kind,
        parsed.control,
        metric=args.metric or Path(args.summary).stem,
        higher_is_better=not args.lower_is_better,
        engine_kind=args.engine,
        cuped=args.cuped,
        correction=None if args.correction == "none" else args.correction,
        alpha=args.alpha,
        expected_shares=expected,
    )


def cmd_analyze(args: argparse.Namespace) -> str:
    if not 0 < args.alpha < 1:
        raise CliError(f"--alpha must be between 0 and 1, got {args.alpha}")
    if args.winsorize is not None and not 0 < args.winsorize < 1:
        raise CliError(f"--winsorize must be a fraction between 0 and 1, got {args.winsorize}")
    if args.summary:
        analysis = _analyze_summary(args)
    else:
        engine, where = _engine(args.url)
        try:
            analysis = analyze_experiment(
                engine,
                args.experiment,
                metric=args.metric,
                engine_kind=args.engine,
                cuped=args.cuped,
                correction=None if args.correction == "none" else args.correction,
                alpha=args.alpha,
                winsorize_pct=args.winsorize,
            )
        except (UnknownExperimentError, ValueError) as exc:
            raise CliError(str(exc)) from None
        except SQLAlchemyError as exc:
            raise _warehouse_error(where, exc) from None
        finally:
            engine.dispose()
    if args.json:
        return json.dumps(analysis.to_dict(), indent=2, allow_nan=False)
    return render_analysis(analysis)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m metrics.experiments", description="List and analyse experiments."
    )
    parser.add_argument("--url", help=URL_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="list the experiments in the warehouse")
    p_list.add_argument("--json", action="store_true", help="print JSON")
    p_list.add_argument("--url", help=URL_HELP,
                        default=argparse.SUPPRESS)  # fmt: skip
    p_list.set_defaults(run=cmd_list)

    p = sub.add_parser("analyze", help="analyse one experiment or a summary CSV")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--experiment", help="experiment id in the warehouse")
    src.add_argument("--summary", help="CSV of per-variant numbers (see the README)")
    p.add_argument("--metric", help="analyse only this metric (summary: the metric's name)")
    p.add_argument("--engine", choices=ENGINES, default="frequentist")
    p.add_argument("--cuped", action="store_true", help="adjust with the pre-period covariate")
    p.add_argument("--correction", choices=("holm", "bh", "none"), default="holm",
                   help="multiple-testing correction (primary+secondary × variants)")  # fmt: skip
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--winsorize", type=float, help="cap mean metrics at this quantile (0.99)")
    p.add_argument("--lower-is-better", action="store_true", help="summary: metric direction")
    p.add_argument("--shares", help="summary: expected traffic shares, control first, e.g. "
                   "0.5,0.5 (SRM; overrides the file's expected_share column)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--url", help=URL_HELP,
                   default=argparse.SUPPRESS)  # fmt: skip
    p.set_defaults(run=cmd_analyze)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 on any reported problem)."""
    args = build_parser().parse_args(argv)
    try:
        print(args.run(args))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - a CLI reports, it does not dump tracebacks
        if os.environ.get("LOOPLENS_DEBUG"):
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0
