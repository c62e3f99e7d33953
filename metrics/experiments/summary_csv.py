"""Per-variant summary numbers from a CSV, for teams without a warehouse.

Columns (header names are case-insensitive; order free):

- ``variant`` (text, unique) and ``units`` (whole number ≥ 0), always;
- binomial metrics: ``conversions`` (whole number, 0 ≤ conversions ≤ units);
- mean metrics: ``sum`` and ``sum_sq`` (Σy and Σy² over units);
- ratio metrics: ``sum``, ``sum_sq`` plus ``denom_sum``, ``denom_sum_sq``, ``cross_sum``;
- optional CUPED covariate: ``cov_sum``, ``cov_sum_sq``, ``cov_cross_sum`` (all three);
- optional ``is_control`` (true/false, yes/no, 1/0; exactly one true). Without it the first
  data row is the control;
- optional ``expected_share``: the designed share of traffic per variant, for the sample-ratio
  (SRM) check. Any positive numbers — fractions (0.5), percentages (50 or 50%) or plain
  weights (1, 1, 2) — normalised to sum to 1. Either every row has one or none does.

Row numbers in messages are line numbers in the file: the header is row 1, so the first
variant is row 2 (what a spreadsheet shows). ``parse_summary_csv`` never raises: it returns
either the statistics or every problem found.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from i18n import _
from metrics.stats.common import MetricKind
from metrics.stats.sufficient import VariantStats

RATIO_COLUMNS = ("denom_sum", "denom_sum_sq", "cross_sum")
COVARIATE_COLUMNS = ("cov_sum", "cov_sum_sq", "cov_cross_sum")
TRUE_WORDS = {"true", "yes", "y", "1", "t"}
FALSE_WORDS = {"false", "no", "n", "0", "f", ""}
MAX_BYTES = 200_000
"""Largest summary accepted (UTF-8 bytes, pasted or uploaded). A summary of ``MAX_VARIANTS``
variants with every optional column is about 15 KB; the cap keeps a hostile upload from tying
up the server (a 4.9 MB file once ran for more than nine minutes)."""
MAX_VARIANTS = 50
"""Most variant rows analysed at once: the analysis and its charts grow with the variant count
(2,000 variants cost 16 s of server CPU); 50 keeps the worst case well under a second."""
MAX_ERRORS = 20
"""Most problems listed for one file (the rest are counted)."""
SHARE_COLUMN = "expected_share"


@dataclass(frozen=True)
class SummaryParse:
    """Parsed summary: ``stats`` (control first in ``control``) or ``errors``.

    ``expected_shares`` maps variant → designed share of traffic (fractions summing to 1), or
    is None when the file has no ``expected_share`` values.
    """

    stats: tuple[VariantStats, ...] = ()
    kind: MetricKind | None = None
    control: str | None = None
    errors: tuple[str, ...] = ()
    expected_shares: dict[str, float] | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def _number(raw: str, row: int, col: str, errors: list[str], whole: bool) -> float | None:
    text = raw.strip().replace("_", "")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if whole:
        if not (math.isfinite(value) and value >= 0 and value == int(value)):
            errors.append(
                _("row {row}, column {col!r}: expected a whole number ≥ 0, got {raw!r}").format(
                    row=row, col=col, raw=raw
                )
            )
            return None
        return int(value)
    if not math.isfinite(value):
        errors.append(
            _("row {row}, column {col!r}: expected a number, got {raw!r}").format(
                row=row, col=col, raw=raw
            )
        )
        return None
    return value


def _share(raw: str, row: int, errors: list[str]) -> float | None:
    """A positive designed share (a trailing ``%`` is allowed); None if the cell is empty."""
    text = raw.strip().replace("_", "").removesuffix("%").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        errors.append(
            _(
                "row {row}, column {SHARE_COLUMN!r}: expected a positive number (fraction, "
                "percentage or weight), got {raw!r}"
            ).format(row=row, SHARE_COLUMN=SHARE_COLUMN, raw=raw)
        )
        return None
    return value


def parse_summary_csv(source: bytes | str | Path) -> SummaryParse:
    """Parse per-variant summary numbers.

    Parameters
    ----------
    source : bytes, str or Path
        File contents (bytes as uploaded, or already decoded text) or a path to the file.

    Returns
    -------
    SummaryParse
        ``stats`` + ``kind`` + ``control`` when valid, else ``errors`` naming row and column.
    """
    try:
        if isinstance(source, Path):
            source = source.read_bytes()
    except OSError as exc:
        return SummaryParse(
            errors=(_("cannot read the file: {value}").format(value=exc.strerror or exc),)
        )
    size = len(source) if isinstance(source, bytes) else len(source.encode("utf-8", "replace"))
    if size > MAX_BYTES:
        return SummaryParse(
            errors=(
                _(
                    "the input is {size:,} bytes, more than the "
                    "{MAX_BYTES:,} accepted (a summary of up "
                    "to {MAX_VARIANTS} variants needs a few KB)"
                ).format(size=size, MAX_BYTES=MAX_BYTES, MAX_VARIANTS=MAX_VARIANTS),
            )
        )
    if isinstance(source, bytes):
        try:
            text = source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return SummaryParse(
                errors=(
                    _("the file is not UTF-8 text (byte {start}); save it as UTF-8 CSV").format(
                        start=exc.start
                    ),
                )
            )
    else:
        text = source.removeprefix("\ufeff")
    if not text.strip():
        return SummaryParse(errors=(_("the file is empty"),))
    if "\x00" in text:
        return SummaryParse(errors=(_("the input contains NUL bytes: it is not a CSV text file"),))
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        return SummaryParse(errors=(_("not a valid CSV file: {exc}").format(exc=exc),))
    variants = sum(1 for r in rows[1:] if any(c.strip() for c in r))
    if variants > MAX_VARIANTS:
        return SummaryParse(
            errors=(
                _(
                    "the input has {variants:,} variant rows; at most "
                    "{MAX_VARIANTS} can be analysed at "
                    "once (split the variants into several analyses)"
                ).format(variants=variants, MAX_VARIANTS=MAX_VARIANTS),
            )
        )
    parsed = _parse_rows(rows)
    if len(parsed.errors) > MAX_ERRORS:
        more = len(parsed.errors) - MAX_ERRORS
        return SummaryParse(
            errors=(*parsed.errors[:MAX_ERRORS], _("… and {more} more problems").format(more=more))
        )
    return parsed


def _parse_rows(rows: list[list[str]]) -> SummaryParse:
    header = [h.strip().lower() for h in rows[0]]
    errors: list[str] = []
    dupes = sorted({h for h in header if header.count(h) > 1 and h})
    if dupes:
        errors.append(
            _("row 1: duplicate column(s) {join}").format(join=", ".join(map(repr, dupes)))
        )
    cols = set(header)
    missing = [c for c in ("variant", "units") if c not in cols]
    if "conversions" in cols:
        kind = MetricKind.BINOMIAL
        if cols & {"sum", "sum_sq", *RATIO_COLUMNS}:
            errors.append(
                _("row 1: give either 'conversions' (binomial) or 'sum, sum_sq', not both")
            )
    elif cols & {"sum", "sum_sq", *RATIO_COLUMNS}:
        kind = MetricKind.RATIO if cols & set(RATIO_COLUMNS) else MetricKind.MEAN
        needed = ["sum", "sum_sq"] + (list(RATIO_COLUMNS) if kind is MetricKind.RATIO else [])
        missing += [c for c in needed if c not in cols]
    else:
        kind = None
        missing.append(_("conversions (binomial) or sum and sum_sq (mean)"))
    has_cov = bool(cols & set(COVARIATE_COLUMNS))
    if has_cov:
        missing += [c for c in COVARIATE_COLUMNS if c not in cols]
    if missing:
        errors.append("missing column(s): " + ", ".join(repr(m) for m in missing))
    if errors:
        return SummaryParse(errors=tuple(errors))

    index = {h: i for i, h in enumerate(header)}
    stats: list[VariantStats] = []
    controls: list[str] = []
    seen: dict[str, int] = {}
    shares: dict[str, float] = {}
    share_rows: list[int] = []
    no_share_rows: list[int] = []
    data_rows = [(i + 1, r) for i, r in enumerate(rows) if i > 0 and any(c.strip() for c in r)]
    if not data_rows:
        return SummaryParse(errors=(_("the file has a header but no variant rows"),))
    for row_no, raw in data_rows:
        if len(raw) != len(header):
            errors.append(
                _("row {row_no}: expected {header} fields, found {raw}").format(
                    row_no=row_no, header=len(header), raw=len(raw)
                )
            )
            continue
        cell = {h: raw[index[h]] for h in header}
        name = cell["variant"].strip()
        if not name:
            errors.append(
                _("row {row_no}, column 'variant': the variant name is empty").format(row_no=row_no)
            )
        elif name in seen:
            errors.append(
                _(
                    "row {row_no}, column 'variant': duplicate variant "
                    "{name!r} (first on row {seen})"
                ).format(row_no=row_no, name=name, seen=seen[name])
            )
        else:
            seen[name] = row_no
        row_errors: list[str] = []
        units = _number(cell["units"], row_no, "units", row_errors, whole=True)
        values: dict[str, float | None] = {}
        if kind is MetricKind.BINOMIAL:
            conv = _number(cell["conversions"], row_no, "conversions", row_errors, whole=True)
            if conv is not None and units is not None and conv > units:
                row_errors.append(
                    _(
                        "row {row_no}, column 'conversions': {conv} "
                        "conversions exceed {units} units"
                    ).format(row_no=row_no, conv=conv, units=units)
                )
            values = {"sum": conv, "sum_sq": conv}
        else:
            names = ["sum", "sum_sq"] + (list(RATIO_COLUMNS) if kind is MetricKind.RATIO else [])
            for c in names:
                values[c] = _number(cell[c], row_no, c, row_errors, whole=False)
            for c in ("sum_sq", "denom_sum_sq"):
                if values.get(c) is not None and values[c] < 0:
                    row_errors.append(
                        _(
                            "row {row_no}, column {c!r}: a sum of squares "
                            "cannot be negative, got {cell!r}"
                        ).format(row_no=row_no, c=c, cell=cell[c])
                    )
        if has_cov:
            for c in COVARIATE_COLUMNS:
                values[c] = _number(cell[c], row_no, c, row_errors, whole=False)
        if "is_control" in cell:
            flag = cell["is_control"].strip().lower()
            if flag in TRUE_WORDS:
                controls.append(name)
            elif flag not in FALSE_WORDS:
                row_errors.append(
                    _(
                        "row {row_no}, column 'is_control': expected true/false, got {is_control!r}"
                    ).format(row_no=row_no, is_control=cell["is_control"])
                )
        if SHARE_COLUMN in cell:
            if cell[SHARE_COLUMN].strip():
                share_rows.append(row_no)
                share = _share(cell[SHARE_COLUMN], row_no, row_errors)
                if share is not None and name:
                    shares[name] = share
            else:
                no_share_rows.append(row_no)
        errors += row_errors
        if not row_errors and name:
            stats.append(VariantStats(name, units, **values))
    if "is_control" in index and not errors and len(controls) != 1:
        errors.append(
            _(
                "column 'is_control': exactly one variant must be the control; found {controls}"
            ).format(controls=len(controls))
        )
    if share_rows and no_share_rows:
        errors += [
            _(
                "row {r}, column {SHARE_COLUMN!r}: no share given while other rows have one; give "
                "every variant a share or leave the column empty"
            ).format(r=r, SHARE_COLUMN=SHARE_COLUMN)
            for r in no_share_rows
        ]
    if not errors and len(stats) < 2:
        errors.append(_("at least two variants (a control and a treatment) are needed"))
    if errors:
        return SummaryParse(errors=tuple(errors))
    control = controls[0] if controls else stats[0].variant
    ordered = sorted(stats, key=lambda s: s.variant != control)
    expected = None
    if share_rows:
        total = sum(shares.values())
        expected = {s.variant: shares[s.variant] / total for s in ordered}
    return SummaryParse(tuple(ordered), kind, control, expected_shares=expected)
