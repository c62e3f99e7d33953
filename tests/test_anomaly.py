"""The anomaly detector: its false-alarm rate on clean simulated series (many seeds) against the
nominal rate of its prediction interval, a planted spike in a simulated series, and the demo's
planted spend spike found with its driver on DuckDB, SQLite and PostgreSQL.

References: the simulation's own truth (which points were planted) and the demo manifest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine

from data.demo import generator as demo
from metrics.anomaly import detector, drivers, series
from metrics.filters import Filters
from metrics.marketing.kpis import KPIS

END = dt.date(2026, 11, 27)
WEEKLY_SHAPE = np.array([1.0, 1.1, 1.05, 1.0, 0.95, 0.7, 0.6])


def _clean(seed: int, n: int = 280) -> pd.Series:
    """A series the model describes: a random-walk level × weekly season × lognormal noise."""
    rng = np.random.default_rng(seed)
    level = 1000 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    season = np.tile(WEEKLY_SHAPE, n // 7 + 1)[:n]
    y = level * season * np.exp(rng.normal(0, 0.06, n))
    return pd.Series(y, index=pd.date_range("2025-01-06", periods=n).date)


def test_false_alarm_rate_on_clean_series_matches_the_nominal_level() -> None:
    seeds = range(40)
    flags = []
    for seed in seeds:
        b = detector.band(_clean(seed), "day")
        assert isinstance(b, pd.DataFrame)
        flags.append(b["anomaly"].to_numpy())
    rate = float(np.concatenate(flags).mean())
    n = sum(len(f) for f in flags)
    nominal = detector.nominal_false_alarm_rate()
    print(f"false-alarm rate {rate:.4f} over {n} points (nominal {nominal:.4f})")
    assert rate <= detector.binomial_upper(nominal, n)
    # and the band is not uselessly wide: a 99% band misses something in 2,240 points
    assert rate > 0


def test_weekly_false_alarm_rate() -> None:
    flags = []
    for seed in range(60):
        s = _clean(1000 + seed, n=7 * 40)
        weekly = pd.Series(s.to_numpy().reshape(-1, 7).sum(axis=1), index=list(s.index[::7]))
        b = detector.band(weekly, "week")
        assert isinstance(b, pd.DataFrame)
        flags.append(b["anomaly"].to_numpy())
    rate = float(np.concatenate(flags).mean())
    n = sum(len(f) for f in flags)
    print(f"weekly false-alarm rate {rate:.4f} over {n} points")
    assert rate <= detector.binomial_upper(detector.nominal_false_alarm_rate(), n)


def test_a_planted_spike_is_found_and_the_day_after_is_not_flagged() -> None:
    s = _clean(7)
    s.iloc[-10] *= 1.8
    b = detector.band(s, "day")
    assert isinstance(b, pd.DataFrame)
    assert bool(b["anomaly"].iloc[-10])
    assert not bool(b["anomaly"].iloc[-9])  # the outlier did not move the level


def test_too_short_or_constant_series_say_why() -> None:
    short = detector.band(pd.Series([1.0, 2.0, 3.0]), "day")
    assert isinstance(short, detector.BandError) and "history" in short.message
    flat = detector.band(pd.Series(np.ones(100)), "day")
    assert isinstance(flat, detector.BandError)


def test_additive_contributions_add_up_to_the_deviation() -> None:
    hist = pd.DataFrame({"channel": ["a", "b", "c"], "value": [50.0, 30.0, 20.0]})
    now = pd.DataFrame({"channel": ["a", "b", "c"], "value": [10.0, 6.0, 24.0]})
    got = drivers.contributions(KPIS["paid_spend"], "channel", now, hist, expected_total=20.0)
    # by hand: expected a 10, b 6, c 4 → contributions 0, 0, +20
    assert sum(c.contribution for c in got) == pytest.approx(40.0 - 20.0)
    top = drivers.driver(got, actual=40.0, expected=20.0)
    assert top is not None and top.member == "c" and top.share_of_deviation == pytest.approx(1.0)


BACKENDS = ["duckdb", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=BACKENDS)
def warehouse(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[tuple[Engine, dict]]:
    folder = tmp_path_factory.mktemp("anomaly")
    if request.param == "duckdb":
        target: str = str(folder / "demo.duckdb")
        url = f"duckdb:///{target}"
        args = {"read_only": True}
    elif request.param == "sqlite":
        url = target = f"sqlite:///{folder / 'demo.sqlite'}"
        args = {}
    else:
        admin = request.getfixturevalue("pg_server")
        from tests.conftest import _fresh_pg_database

        gen = _fresh_pg_database(admin)
        url = target = next(gen)
        args = {}
    manifest = demo.generate(
        target, end_date=END, seed=7, customers=8000, manifest=folder / "m.json", overwrite=True
    )
    engine = create_engine(url, connect_args=args)
    yield engine, manifest
    engine.dispose()


def test_the_planted_spend_spike_is_found_with_its_channel(warehouse) -> None:
    engine, manifest = warehouse
    planted = manifest["anomalies"][0]
    days = {dt.date.fromisoformat(d) for d in planted["days"]}
    found = series.anomalies(engine, "paid_spend", Filters(END, END), END, "day")
    assert isinstance(found, list)
    by_day = {a.bucket: a for a in found}
    assert days <= set(by_day), f"planted {sorted(days)}, found {sorted(by_day)}"
    for d in days:
        a = by_day[d]
        assert a.actual > a.upper
        assert a.driver is not None and a.driver.dimension == "channel"
        assert a.driver.member == planted["driver"]["channel"]
        assert a.driver.share_of_deviation > 0.5


def test_weekly_band_and_a_scoped_series_compute_on_every_backend(warehouse) -> None:
    engine, manifest = warehouse
    weekly = series.kpi_band(engine, "paid_spend", Filters(END, END), END, "week")
    assert isinstance(weekly, pd.DataFrame) and len(weekly) == detector.WINDOW["week"]
    assert all(d.weekday() == 0 for d in weekly.index)  # Monday bucket starts
    assert (weekly["lower"] <= weekly["upper"]).all()
    # a channel-scoped series is that channel's spend: planted days are 3× the day before
    scoped = series.kpi_series(
        engine, "paid_spend", Filters(END, END, channels=("paid_social",)), END, "day"
    )
    day = dt.date.fromisoformat(manifest["anomalies"][0]["days"][0])
    total = series.kpi_series(engine, "paid_spend", Filters(END, END), END, "day")
    assert scoped[day] < total[day]
    assert scoped[day] / scoped[day - dt.timedelta(days=7)] > 2
