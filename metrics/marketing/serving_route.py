"""Routing a question to the serving store or to the live warehouse, and saying which answered.

A question is served when a :class:`data.serving.ServingStore` is given, its options are ones
the serving tables were built for, and every serving table it reads is usable and complete
through the end of the filter period (:meth:`ServingStore.covers`); otherwise it runs live.
Every routed frame carries ``attrs["source"]`` (``"serving"`` | ``"live"``) and
``attrs["source_reason"]`` (a short sentence).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine

from data.serving.store import ServingStore
from metrics.filters import Filters

SERVING = "serving"
LIVE = "live"


@dataclass(frozen=True)
class Route:
    """Where one question is answered: ``engine`` to query, ``served`` and why."""

    engine: Engine
    served: bool
    reason: str

    @property
    def source(self) -> str:
        return SERVING if self.served else LIVE


def route(
    engine: Engine,
    serving: ServingStore | None,
    tables: Sequence[str],
    filters: Filters,
    *,
    live_because: str | None = None,
) -> Route:
    """Serve from ``serving`` when it covers ``tables`` through ``filters.end``; ``live_because``
    forces live (e.g. non-default options) and is the reason given."""
    if serving is None:
        return Route(engine, False, "no serving store")
    if live_because:
        return Route(engine, False, live_because)
    if not serving.covers(tables, filters.end):
        return Route(engine, False, f"serving store does not cover {filters.end} yet")
    return Route(serving.engine(), True, f"serving store ({', '.join(tables)})")


def tag(df: pd.DataFrame, routes: Route | Iterable[Route]) -> pd.DataFrame:
    """Record the answering source on ``df.attrs`` (live if any part was live)."""
    rs = [routes] if isinstance(routes, Route) else list(routes)
    live = [r for r in rs if not r.served]
    if live:
        df.attrs["source"] = LIVE
        df.attrs["source_reason"] = "; ".join(dict.fromkeys(r.reason for r in live))
    else:
        df.attrs["source"] = SERVING
        df.attrs["source_reason"] = "; ".join(dict.fromkeys(r.reason for r in rs))
    return df


def live_tag(df: pd.DataFrame, reason: str) -> pd.DataFrame:
    """Mark ``df`` as answered live for ``reason``."""
    df.attrs["source"] = LIVE
    df.attrs["source_reason"] = reason
    return df
