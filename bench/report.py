"""A tiny aligned-table printer for benchmark figures."""

from __future__ import annotations

from dataclasses import dataclass, field


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value >= 1000:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _align(value: str, width: int) -> str:
    """Numbers right-aligned, text left-aligned."""
    numeric = value.replace(",", "").replace(".", "", 1).lstrip("-").isdigit()
    return value.rjust(width) if numeric else value.ljust(width)


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """The table as JSON-ready data (formatted cells, as printed)."""
        return {"title": self.title, "columns": self.columns, "rows": self.rows}

    def add(self, *values: object) -> None:
        self.rows.append([_fmt(v) for v in values])

    def render(self) -> str:
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
        line = "  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True))
        out = [f"\n## {self.title}", line, "-" * len(line)]
        out += [
            "  ".join(_align(v, w) for v, w in zip(row, widths, strict=True)) for row in self.rows
        ]
        if not self.rows:
            out.append("(no rows)")
        return "\n".join(out)
