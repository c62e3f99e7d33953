"""Read a transaction export (CSV) for the CLV fit, reporting problems by row and column.

Row numbers in messages are line numbers in the file: the header is row 1, so the first
transaction is row 2 (what a spreadsheet shows). Dates may be ISO 8601 (``2024-03-01``,
``2024-03-01 14:05``, with or without a UTC offset, converted to UTC) or ``YYYYMMDD``. Amounts
are plain numbers >= 0 (a leading ``$`` and thousands commas are accepted).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from i18n import _

MAX_ERRORS = 10


@dataclass(frozen=True)
class ParsedTransactions:
    """``frame`` (columns ``customer_id``, ``ts``, [``amount``]) when valid, else ``errors``."""

    frame: pd.DataFrame | None
    errors: list[str] = field(default_factory=list)


def _parse_dates(raw: pd.Series) -> pd.Series:
    s = raw.str.strip()
    compact = s.str.fullmatch(r"\d{8}")
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    if compact.any():
        out[compact] = pd.to_datetime(s[compact], format="%Y%m%d", errors="coerce").astype(
            "datetime64[us]"
        )
    rest = ~compact
    if rest.any():
        parsed = pd.to_datetime(s[rest], format="ISO8601", errors="coerce", utc=True)
        out[rest] = parsed.dt.tz_localize(None).astype("datetime64[us]")
    return out


def parse_transactions_csv(
    source: str | Path | io.StringIO,
    customer_col: str,
    date_col: str,
    amount_col: str | None = None,
) -> ParsedTransactions:
    """Parse and validate; never raises for bad content (returns ``errors`` instead)."""
    name = "the file"
    try:
        if isinstance(source, str | Path):
            name = Path(source).name
            text = Path(source).read_text(encoding="utf-8-sig")
        else:
            text = source.getvalue()
    except FileNotFoundError:
        return ParsedTransactions(None, [_("{name}: no such file").format(name=name)])
    except IsADirectoryError:
        return ParsedTransactions(
            None, [_("{name}: is a folder, not a CSV file").format(name=name)]
        )
    except UnicodeDecodeError:
        return ParsedTransactions(
            None, [_("{name}: not UTF-8 text (is it a spreadsheet?)").format(name=name)]
        )
    except OSError as exc:
        return ParsedTransactions(
            None,
            [_("{name}: cannot be read ({strerror})").format(name=name, strerror=exc.strerror)],
        )
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not any(c.strip() for c in rows[0]):
        return ParsedTransactions(
            None, [_("{name}: empty file (expected a header row)").format(name=name)]
        )
    header = [c.strip() for c in rows[0]]
    wanted = [("--customer-col", customer_col), ("--date-col", date_col)]
    if amount_col is not None:
        wanted.append(("--amount-col", amount_col))
    missing = [f"{flag} {col!r}" for flag, col in wanted if col not in header]
    if missing:
        return ParsedTransactions(
            None,
            [
                _("row 1: no column {missing}; the columns are ").format(missing=", ".join(missing))
                + ", ".join(repr(c) for c in header)
            ],
        )
    errors: list[str] = []
    body = rows[1:]
    ragged = [i for i, r in enumerate(body, 2) if len(r) != len(header) and any(r)]
    for i in ragged[:MAX_ERRORS]:
        errors.append(
            _("row {i}: expected {header} fields, found {len}").format(
                i=i, header=len(header), len=len(body[i - 2])
            )
        )
    if errors:
        return ParsedTransactions(None, errors)
    body = [r for r in body if any(c.strip() for c in r)]
    if not body:
        return ParsedTransactions(
            None, [_("{name}: no transactions after the header").format(name=name)]
        )
    line_no = [i for i, r in enumerate(rows[1:], 2) if any(c.strip() for c in r)]
    frame = pd.DataFrame(body, columns=header, dtype=str)
    frame.index = line_no
    cid = frame[customer_col].str.strip()
    for i in cid.index[cid == ""][:MAX_ERRORS]:
        errors.append(
            _("row {i}, column {customer_col!r}: the customer id is empty").format(
                i=i, customer_col=customer_col
            )
        )
    ts = _parse_dates(frame[date_col])
    for i in ts.index[ts.isna()][:MAX_ERRORS]:
        errors.append(
            _("row {i}, column {date_col!r}: expected a date (YYYY-MM-DD), got {at!r}").format(
                i=i, date_col=date_col, at=frame.at[i, date_col]
            )
        )
    out = pd.DataFrame({"customer_id": cid, "ts": ts})
    if amount_col is not None:
        raw = frame[amount_col].str.strip().str.replace(r"^\$|,", "", regex=True)
        amount = pd.to_numeric(raw, errors="coerce")
        for i in amount.index[amount.isna()][:MAX_ERRORS]:
            errors.append(
                _("row {i}, column {amount_col!r}: expected an amount, got {at!r}").format(
                    i=i, amount_col=amount_col, at=frame.at[i, amount_col]
                )
            )
        for i in amount.index[amount < 0][:MAX_ERRORS]:
            errors.append(
                _(
                    "row {i}, column {amount_col!r}: negative amount "
                    "{at!r} (net refunds into their "
                    "orders first)"
                ).format(i=i, amount_col=amount_col, at=frame.at[i, amount_col])
            )
        out["amount"] = amount.astype(float)
    if errors:
        return ParsedTransactions(None, errors[: 3 * MAX_ERRORS])
    return ParsedTransactions(out.reset_index(drop=True))
