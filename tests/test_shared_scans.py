"""The hull of a shared scan keeps every row any measure needs (and the folded answers are the
same as one statement per measure), on random conditions over a real SQLite table."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import (
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    create_engine,
    func,
    or_,
    select,
)

from metrics.marketing.shared_scans import hull

meta = MetaData()
facts = Table(
    "facts",
    meta,
    Column("day", Date, nullable=False),
    Column("sig", String(8), nullable=False),
    Column("prev_day", Date),
    Column("n", Integer, nullable=False),
)
START = dt.date(2026, 1, 1)


@pytest.fixture(scope="module")
def engine():
    eng = create_engine("sqlite://")
    meta.create_all(eng)
    rng = random.Random(3)
    rows = []
    for _ in range(2_000):
        day = START + dt.timedelta(days=rng.randrange(120))
        prev = day - dt.timedelta(days=rng.randrange(1, 60)) if rng.random() < 0.6 else None
        rows.append({"day": day, "sig": rng.choice("abc"), "prev_day": prev, "n": rng.randrange(5)})
    with eng.begin() as conn:
        conn.execute(facts.insert(), rows)
    yield eng
    eng.dispose()


def _random_condition(rng: random.Random):  # noqa: ANN202 - a SQLAlchemy condition
    s = START + dt.timedelta(days=rng.randrange(100))
    e = s + dt.timedelta(days=rng.randrange(30))
    terms = [facts.c.day >= s, facts.c.day <= e]
    if rng.random() < 0.7:
        terms.append(facts.c.sig == rng.choice("abc"))
    if rng.random() < 0.5:  # a nested conjunction and a disjunction, as the KPI compiler writes
        terms = [and_(*terms[:2]), *terms[2:]]
        terms.append(or_(facts.c.prev_day.is_(None), facts.c.prev_day < s))
    if rng.random() < 0.3:
        terms.append(facts.c.day > s)  # a second, tighter lower bound
    return and_(*terms)


def _count(conn, cond) -> int:  # noqa: ANN001
    return conn.execute(select(func.count()).select_from(facts).where(cond)).scalar_one()


def test_hull_keeps_every_row_of_every_condition(engine) -> None:
    rng = random.Random(11)
    with engine.connect() as conn:
        for _ in range(60):
            conds = [_random_condition(rng) for _ in range(rng.randrange(1, 6))]
            h = hull(conds)
            assert h is not None  # every condition bounds `day`
            union = or_(*conds)
            assert _count(conn, and_(union, ~h)) == 0  # nothing the measures need is lost
            assert _count(conn, and_(union, h)) == _count(conn, union)


def test_hull_bounds_and_fixed_values() -> None:
    conds = [
        and_(
            facts.c.sig == "a",
            facts.c.day >= dt.date(2026, 2, 1),
            facts.c.day <= START.replace(month=3),
        ),
        and_(facts.c.sig == "b", and_(facts.c.day >= START, facts.c.day < dt.date(2026, 2, 15))),
    ]
    sql = str(hull(conds).compile(compile_kwargs={"literal_binds": True}))
    assert "facts.sig IN ('a', 'b')" in sql
    assert "facts.day >= '2026-01-01'" in sql and "facts.day <= '2026-03-01'" in sql


def test_no_hull_without_a_column_every_condition_bounds() -> None:
    conds = [facts.c.sig == "a", facts.c.day >= START]
    assert hull(conds) is None
    # an unbounded side is left open: only the lower bound is shared here
    later = dt.date(2026, 1, 5)
    sql = str(
        hull([facts.c.day >= START, and_(facts.c.day >= later, facts.c.sig == "a")]).compile()
    )
    assert "facts.day >=" in sql and "facts.day <=" not in sql
