"""The global filters every page applies: one frozen, hashable value.

``Filters`` round-trips through URL query parameters (``to_query_params`` /
``from_query_params``) so a copied link reopens the same view. Parsing never raises: unknown
or hostile values are dropped and reported as warnings, which the UI shows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, true
from sqlalchemy.sql.expression import ColumnElement

from data.schema import Channel, Region, Segment
from data.warehouse import mask_url
from i18n import _

DEFAULT_WINDOW_DAYS = 90


@dataclass(frozen=True)
class Filters:
    """Date range (inclusive, UTC days) and dimension selections (empty tuple = all)."""

    start: dt.date
    end: dt.date
    channels: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(
                _("end date {end} is before start date {start}").format(
                    end=self.end, start=self.start
                )
            )
        for name in ("channels", "segments", "regions"):
            object.__setattr__(self, name, tuple(sorted(set(getattr(self, name)))))

    @property
    def days(self) -> int:
        """Length of the period in days (both ends included)."""
        return (self.end - self.start).days + 1

    @property
    def start_ts(self) -> dt.datetime:
        """First instant of the period."""
        return dt.datetime.combine(self.start, dt.time.min)

    @property
    def end_ts(self) -> dt.datetime:
        """First instant *after* the period (exclusive upper bound)."""
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min)

    def previous_period(self) -> Filters:
        """The period of equal length immediately before this one, same selections."""
        return replace(
            self,
            start=self.start - dt.timedelta(days=self.days),
            end=self.start - dt.timedelta(days=1),
        )

    def with_dates(self, start: dt.date, end: dt.date) -> Filters:
        return replace(self, start=start, end=end)

    def whole_periods(self, grain: str) -> Filters:
        """The period trimmed to whole weeks (Monday–Sunday) or whole months, for time series.

        A series bucketed by week or month starts and ends with partial buckets unless the
        range is aligned; a partial bucket of a count (e.g. one day of a week) looks like a
        collapse. Returns ``self`` for other grains or when no whole bucket fits.
        """
        if grain == "week":
            start = self.start + dt.timedelta(days=(7 - self.start.weekday()) % 7)
            end = self.end - dt.timedelta(days=(self.end.weekday() + 1) % 7)
        elif grain == "month":
            start = self.start if self.start.day == 1 else _first_of_next_month(self.start)
            month_ends_here = (self.end + dt.timedelta(days=1)).day == 1
            end = self.end if month_ends_here else self.end.replace(day=1) - dt.timedelta(days=1)
        else:
            return self
        return self if end < start else replace(self, start=start, end=end)

    # --- SQL helpers ------------------------------------------------------------------------

    def time_condition(self, column: Any) -> ColumnElement[bool]:
        """``start <= column < end + 1 day`` for a timestamp column (bound parameters)."""
        return and_(column >= self.start_ts, column < self.end_ts)

    def date_condition(self, column: Any) -> ColumnElement[bool]:
        """``start <= column <= end`` for a DATE column (bound parameters)."""
        return and_(column >= self.start, column <= self.end)

    def dimension_condition(
        self,
        *,
        channel: Any | None = None,
        segment: Any | None = None,
        region: Any | None = None,
    ) -> ColumnElement[bool]:
        """Conditions for whichever dimension columns the caller can supply.

        A dimension whose column is not supplied is not filtered; callers join to
        ``customers`` when they need segment or region.
        """
        parts: list[ColumnElement[bool]] = []
        if channel is not None and self.channels:
            parts.append(channel.in_(self.channels))
        if segment is not None and self.segments:
            parts.append(segment.in_(self.segments))
        if region is not None and self.regions:
            parts.append(region.in_(self.regions))
        return and_(true(), *parts)

    # --- URL round trip ---------------------------------------------------------------------

    def to_query_params(self) -> dict[str, str]:
        params = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        for key, values in (
            ("channel", self.channels),
            ("segment", self.segments),
            ("region", self.regions),
        ):
            if values:
                params[key] = ",".join(values)
        return params

    @classmethod
    def from_query_params(
        cls, params: dict[str, str], *, default: Filters
    ) -> tuple[Filters, list[str]]:
        """Parse URL parameters; invalid parts fall back to ``default`` with a warning each."""
        warnings: list[str] = []

        def parse_date(key: str, fallback: dt.date) -> dt.date:
            raw = params.get(key)
            if raw is None:
                return fallback
            try:
                return dt.date.fromisoformat(str(raw)[:10])
            except ValueError:
                warnings.append(
                    _("Ignored '{key}={raw}': not a date (use YYYY-MM-DD).").format(
                        key=key, raw=shown(raw)
                    )
                )
                return fallback

        def parse_set(key: str, allowed: frozenset[str]) -> tuple[str, ...]:
            raw = params.get(key)
            if not raw:
                return ()
            values = [v.strip() for v in str(raw).split(",") if v.strip()]
            bad = [v for v in values if v not in allowed]
            if bad:
                listed = ", ".join(repr(shown(b)) for b in bad[:3])
                warnings.append(
                    _("Ignored unknown {key} value(s): {listed}.").format(key=key, listed=listed)
                )
            return tuple(v for v in values if v in allowed)

        start = parse_date("start", default.start)
        end = parse_date("end", default.end)
        if end < start:
            warnings.append(_("Ignored the dates in the link: the end was before the start."))
            start, end = default.start, default.end
        return (
            cls(
                start=start,
                end=end,
                channels=parse_set("channel", CHANNEL_VALUES),
                segments=parse_set("segment", SEGMENT_VALUES),
                regions=parse_set("region", REGION_VALUES),
            ),
            warnings,
        )


def shown(raw: object, limit: int = 40) -> str:
    """A value from a link, safe to echo in a message: passwords masked (as in a database
    URL), control characters (NUL, bidi overrides) dropped, at most ``limit`` characters."""
    text = mask_url(str(raw)[:400])
    text = "".join(c for c in text if c.isprintable() and c not in "\u202a\u202b\u202d\u202e")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_of_next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


CHANNEL_VALUES: frozenset[str] = frozenset(c.value for c in Channel)
SEGMENT_VALUES: frozenset[str] = frozenset(s.value for s in Segment)
REGION_VALUES: frozenset[str] = frozenset(r.value for r in Region)


def default_filters(latest: dt.date, days: int = DEFAULT_WINDOW_DAYS) -> Filters:
    """The last ``days`` days up to and including ``latest``, nothing else selected."""
    return Filters(start=latest - dt.timedelta(days=days - 1), end=latest)


def clamp_dates(
    start: dt.date, end: dt.date, lo: dt.date, hi: dt.date
) -> tuple[dt.date, dt.date, list[str]]:
    """``start`` and ``end`` moved into ``[lo, hi]`` (inclusive days), with a note per move.

    Clamping each end separately keeps ``start <= end`` whenever it held before. Used for dates
    from a link, which may lie outside what the date picker offers (and would crash it).
    """
    notes: list[str] = []

    def clamp(name: str, day: dt.date) -> dt.date:
        moved = min(max(day, lo), hi)
        if moved != day:
            edge = "earliest" if moved == lo else "latest"
            notes.append(
                _(
                    "The link's {name} date {isoformat} is outside the "
                    "range offered ({isoformat2} – "
                    "{isoformat3}); using the {edge} day, {isoformat4}."
                ).format(
                    name=name,
                    isoformat=day.isoformat(),
                    isoformat2=lo.isoformat(),
                    isoformat3=hi.isoformat(),
                    edge=edge,
                    isoformat4=moved.isoformat(),
                )
            )
        return moved

    return clamp("start", start), clamp("end", end), notes
