"""How a serving table is declared, and the registry of all of them.

A :class:`Rollup` names a serving table (a SQLAlchemy ``Table`` in :data:`SERVING_METADATA`),
the warehouse query that fills it and how a refresh replaces its rows:

- ``partition="day"``: an incremental refresh re-reads the days from ``since`` on (the last
  refresh's newest day minus the late-data window) and replaces those days' rows;
- ``partition="key"``: it re-reads the keys the query returns for ``since`` and replaces the
  rows with those key values (e.g. one experiment's statistics);
- ``partition="none"``: always rebuilt whole (small tables).

``source(since)`` returns a ``Select`` over the warehouse contract tables; with ``since=None``
it must return every row (a full build). Rollups are declared next to the domain that reads
them (``data/serving/facts.py`` for the KPI facts, …) and listed in :data:`ROLLUP_MODULES`.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from sqlalchemy import MetaData, Select, Table

SERVING_METADATA = MetaData()
"""Every serving table (and the refresh log) is defined on this metadata."""

SERVING_VERSION = 4
"""Bumped whenever a rollup's definition changes: a store of another version is rebuilt."""

Partition = Literal["day", "key", "none"]

ROLLUP_MODULES: tuple[str, ...] = (
    "data.serving.facts",
    "data.serving.lifecycle",
    "data.serving.channels",
    "data.serving.experiments",
    "data.serving.campaigns",
)
"""Modules that declare rollups (each has a ``ROLLUPS`` tuple)."""


@dataclass(frozen=True)
class Rollup:
    """One serving table: what it holds, where it comes from, how it is refreshed."""

    table: Table
    source: Callable[[dt.date | None], Select]
    partition: Partition
    description: str
    key_columns: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = field(default=())  # contract tables it reads
    index_columns: tuple[str, ...] | None = None
    """Columns of the one B-tree index a row store (PostgreSQL, SQLite...) gets after a full
    build; default: the key columns, then ``sig`` / ``part`` / ``day`` where the table has them
    (the columns every serving query bounds). DuckDB stores get none: its zone maps prune by
    ``day`` already and an ART index only slows the bulk load."""

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def index(self) -> tuple[str, ...]:
        """The index columns (see ``index_columns``); empty for no index."""
        if self.index_columns is not None:
            return self.index_columns
        selectors = tuple(c for c in ("sig", "part", "day") if c in self.table.c)
        return tuple(dict.fromkeys((*self.key_columns, *selectors)))

    def __post_init__(self) -> None:
        if self.table.metadata is not SERVING_METADATA:
            raise ValueError(f"{self.table.name}: serving tables live on SERVING_METADATA")
        if self.partition == "day" and "day" not in self.table.c:
            raise ValueError(f"{self.table.name}: a day-partitioned rollup needs a 'day' column")
        if self.partition == "key" and not self.key_columns:
            raise ValueError(f"{self.table.name}: a key-partitioned rollup needs key_columns")


@cache
def all_rollups() -> tuple[Rollup, ...]:
    """Every declared rollup, in build order."""
    out: list[Rollup] = []
    for name in ROLLUP_MODULES:
        out.extend(importlib.import_module(name).ROLLUPS)
    names = [r.name for r in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"serving tables declared twice: {', '.join(sorted(dupes))}")
    return tuple(out)


def rollup(name: str) -> Rollup:
    """The rollup declaring serving table ``name``."""
    for r in all_rollups():
        if r.name == name:
            return r
    raise KeyError(f"no serving table named {name!r}")
