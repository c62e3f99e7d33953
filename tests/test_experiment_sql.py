"""Warehouse sufficient statistics vs an independent pandas recomputation from the raw rows.

A hand-built fixture warehouse (a few hundred rows) holds the edge cases the SQL must get right:
events exactly at the window boundaries, events before assignment, units without events, units
with 0 impressions, NULL values, duplicate assignment rows (including a tie), a declared variant
with zero units, units without a customers row and a second experiment that must not leak in.
The same rows are loaded into DuckDB, SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine
from trino.sqlalchemy.dialect import TrinoDialect

from data.schema import (
    create_contract,
    customers,
    experiment_assignments,
    experiment_variants,
    experiments,
    orders,
    touchpoints,
)
from metrics.experiments import data as ed
from metrics.experiments import sql as es
from metrics.experiments.definitions import (
    EXPERIMENT_METRICS,
    ExperimentMetric,
    MetricKind,
    UnknownMetricError,
    get_metric,
)

EXP = "exp_fixture"
OTHER = "exp_other"
T0 = dt.datetime(2026, 3, 1, 9, 0, 0)
DAY = dt.timedelta(days=1)
VARIANTS = ("control", "treatment", "zz_empty")  # zz_empty is declared but gets no units
RTOL = 1e-6
"""``Float`` columns are 4-byte REAL on DuckDB (``FLOAT``): revenue sums carry ~1e-7 relative
rounding there; counts are exact everywhere."""
EVENT_TYPES = ("impression", "click", "signup", "support_contact", "visit")


def build_rows(seed: int = 7) -> dict[str, list[dict]]:
    """Rows for every contract table the experiment layer reads (deterministic)."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict]] = {k: [] for k in ("cust", "exp", "var", "asg", "ord", "tp")}
    for cid in range(1, 241):  # customers 241..260 have no customers row
        rows["cust"].append(
            dict(
                customer_id=cid,
                first_seen_at=T0 - 60 * DAY,
                acquisition_channel=str(rng.choice(["email", "paid_search", "direct"])),
                self_reported_source=None,
                segment=str(rng.choice(["smb", "enterprise"])),
                persona=str(rng.choice(["builder", "buyer"])),
                region=str(rng.choice(["europe", "apac", "latam"])),
            )
        )
    for eid, started in ((EXP, T0), (OTHER, T0 + DAY)):
        rows["exp"].append(
            dict(
                experiment_id=eid,
                name=f"Fixture {eid}",
                hypothesis="Changing X lifts Y.",
                loop_stage="evolve",
                primary_metric="purchase_conversion",
                secondary_metrics="revenue_per_user, click_through_rate",
                guardrail_metrics="support_contact_rate",
                started_at=started,
                ended_at=None,
                status="running",
            )
        )
    for v, share in zip(VARIANTS, (0.45, 0.45, 0.10), strict=True):
        rows["var"].append(
            dict(experiment_id=EXP, variant=v, is_control=v == "control", expected_share=share)
        )
    for v in ("control", "treatment"):
        rows["var"].append(
            dict(experiment_id=OTHER, variant=v, is_control=v == "control", expected_share=0.5)
        )

    assigned: dict[int, dt.datetime] = {}
    for cid in range(1, 261):
        at = T0 + dt.timedelta(seconds=int(rng.integers(0, 10 * 86400)))
        assigned[cid] = at
        variant = "control" if rng.random() < 0.5 else "treatment"
        rows["asg"].append(
            dict(experiment_id=EXP, customer_id=cid, variant=variant, assigned_at=at)
        )
        if cid % 13 == 0:  # duplicate row: later, other variant -> must be ignored
            other = "treatment" if variant == "control" else "control"
            rows["asg"].append(
                dict(
                    experiment_id=EXP,
                    customer_id=cid,
                    variant=other,
                    assigned_at=at + dt.timedelta(hours=5),
                )
            )
        if cid % 29 == 0:  # exact duplicate timestamp: tie broken by variant name
            rows["asg"].append(
                dict(experiment_id=EXP, customer_id=cid, variant="control", assigned_at=at)
            )
    for cid in range(200, 281):  # another experiment (overlapping units) must not leak in
        rows["asg"].append(
            dict(
                experiment_id=OTHER, customer_id=cid, variant="treatment", assigned_at=T0 + 2 * DAY
            )
        )

    # Offsets (days) relative to assignment, including the exact window boundaries.
    boundary = [0.0, 14.0, -28.0, 14.0 - 1 / 86400, -28.0 - 1 / 86400, -1 / 86400, -3.0]
    oid = tid = 0
    for cid in range(1, 281):
        base = assigned.get(cid, T0 + 2 * DAY)
        if cid % 10 == 0:
            continue  # units without any events
        for _ in range(int(rng.poisson(1.2))):
            off = float(rng.choice(boundary)) if rng.random() < 0.4 else float(rng.uniform(-35, 20))
            oid += 1
            rows["ord"].append(
                dict(
                    order_id=oid,
                    customer_id=cid,
                    ordered_at=base + dt.timedelta(seconds=round(off * 86400)),
                    revenue=round(float(rng.lognormal(3, 1.2)), 2),
                )
            )
        n_imp = 0 if cid % 4 == 0 else int(rng.poisson(6))  # a quarter with 0 impressions
        kinds = ["impression"] * n_imp + [
            str(rng.choice(EVENT_TYPES[1:])) for _ in range(int(rng.poisson(3)))
        ]
        for kind in kinds:
            off = float(rng.choice(boundary)) if rng.random() < 0.3 else float(rng.uniform(-35, 20))
            tid += 1
            rows["tp"].append(
                dict(
                    touchpoint_id=tid,
                    customer_id=cid,
                    occurred_at=base + dt.timedelta(seconds=round(off * 86400)),
                    channel="email",
                    campaign_id=None,
                    event_type=kind,
                    value=None,
                )
            )
    return rows


def load_rows(engine: Engine, rows: dict[str, list[dict]]) -> None:
    create_contract(engine)
    tables = {
        "cust": customers,
        "exp": experiments,
        "var": experiment_variants,
        "asg": experiment_assignments,
        "ord": orders,
        "tp": touchpoints,
    }
    with engine.begin() as conn:
        for key, table in tables.items():
            if rows[key]:
                conn.execute(table.insert(), rows[key])


# --- independent reference ----------------------------------------------------------------


def reference_units(
    rows: dict[str, list[dict]],
    metric_name: str | ExperimentMetric,
    experiment_id: str = EXP,
    as_of: dt.datetime | None = None,
) -> pd.DataFrame:
    """Per-unit y, x, c computed in pandas straight from the definitions (a catalog name or a
    metric definition)."""
    metric = metric_name if isinstance(metric_name, ExperimentMetric) else get_metric(metric_name)
    asg = pd.DataFrame(rows["asg"])
    asg = asg[asg.experiment_id == experiment_id]
    if as_of is not None:
        asg = asg[asg.assigned_at < as_of]
    units = asg.sort_values(["customer_id", "assigned_at", "variant"]).drop_duplicates(
        "customer_id"
    )[["customer_id", "variant", "assigned_at"]]
    ords = pd.DataFrame(rows["ord"]).rename(columns={"ordered_at": "t"})
    tps = pd.DataFrame(rows["tp"]).rename(columns={"occurred_at": "t"})
    window = pd.Timedelta(days=metric.window_days)
    pre = pd.Timedelta(days=metric.pre_period_days)

    def per_unit(events: pd.DataFrame, value: str | None, pre_period: bool, agg: str) -> pd.Series:
        m = units.merge(events, on="customer_id")
        if pre_period:
            m = m[(m.t >= m.assigned_at - pre) & (m.t < m.assigned_at)]
        else:
            m = m[(m.t >= m.assigned_at) & (m.t < m.assigned_at + window)]
            if as_of is not None:
                m = m[m.t < as_of]
        vals = m[value].fillna(0.0) if value else pd.Series(1.0, index=m.index)
        s = vals.groupby(m.customer_id).sum()
        s = s.reindex(units.customer_id, fill_value=0.0)
        return (s > 0).astype(float) if agg == "any" else s.astype(float)

    def measure(mz, pre_period: bool) -> pd.Series:
        src = ords if mz.source.table == "orders" else tps
        if mz.source.event_type is not None:
            src = src[src.event_type == str(mz.source.event_type)]
        return per_unit(src, mz.source.value_column, pre_period, str(mz.aggregation))

    out = units.set_index("customer_id")[["variant", "assigned_at"]].copy()
    out["y"] = measure(metric.numerator, False).to_numpy()
    if metric.denominator is not None:
        out["x"] = measure(metric.denominator, False).to_numpy()
    if metric.covariate is not None:
        out["c"] = measure(metric.covariate, True).to_numpy()
    return out


def reference_stats(units: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    u = units.copy()
    u["y2"] = u.y**2
    cols = {"units": ("y", "size"), "sum": ("y", "sum"), "sum_sq": ("y2", "sum")}
    if "x" in u:
        u["x2"], u["xy"] = u.x**2, u.x * u.y
        cols |= {
            "denom_sum": ("x", "sum"),
            "denom_sum_sq": ("x2", "sum"),
            "cross_sum": ("xy", "sum"),
        }
    if "c" in u:
        u["c2"], u["yc"] = u.c**2, u.y * u.c
        cols |= {
            "cov_sum": ("c", "sum"),
            "cov_sum_sq": ("c2", "sum"),
            "cov_cross_sum": ("yc", "sum"),
        }
    if "c" in u and "x" in u:
        u["xc"] = u.x * u.c
        cols["cov_denom_cross_sum"] = ("xc", "sum")
    return u.groupby(by).agg(**cols)


# --- fixtures -----------------------------------------------------------------------------

ROWS = build_rows()


@pytest.fixture(
    scope="module",
    params=["duckdb", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def engine(request, tmp_path_factory) -> Iterator[Engine]:
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_module_url")
    else:
        suffix = "duckdb" if request.param == "duckdb" else "sqlite"
        url = f"{request.param}:///{tmp_path_factory.mktemp('wh') / ('w.' + suffix)}"
    eng = create_engine(url)
    load_rows(eng, ROWS)
    yield eng
    eng.dispose()


def assert_stats_equal(got: list, ref: pd.DataFrame, variants: list[str]) -> None:
    assert [s.variant for s in got] == variants
    for s in got:
        if s.variant not in ref.index:
            assert s.units == 0 and s.sum == 0 and s.sum_sq == 0
            continue
        r = ref.loc[s.variant]
        assert s.units == r["units"]
        for col in ref.columns.drop("units"):
            np.testing.assert_allclose(
                getattr(s, col), r[col], rtol=RTOL, atol=1e-9, err_msg=f"{s.variant}.{col}"
            )
    for field in ("denom_sum", "cov_sum"):
        cols_present = field in ref.columns
        assert all((getattr(s, field) is not None) == cols_present for s in got), field


# --- tests --------------------------------------------------------------------------------


def test_fixture_has_the_edge_cases() -> None:
    units = reference_units(ROWS, "click_through_rate")
    assert (units.x == 0).sum() > 10  # units with 0 impressions
    asg = pd.DataFrame(ROWS["asg"])
    assert asg[asg.experiment_id == EXP].customer_id.duplicated().sum() > 10
    tp = pd.DataFrame(ROWS["tp"]).merge(units.reset_index()[["customer_id", "assigned_at"]])
    off = tp.occurred_at - tp.assigned_at
    assert (off == pd.Timedelta(days=14)).any() and (off == pd.Timedelta(0)).any()
    assert (off == pd.Timedelta(days=-28)).any() and (off < pd.Timedelta(0)).any()


@pytest.mark.parametrize("metric_name", sorted(EXPERIMENT_METRICS))
def test_variant_stats_match_pandas(engine: Engine, metric_name: str) -> None:
    metric = get_metric(metric_name)
    ref = reference_stats(reference_units(ROWS, metric_name), ["variant"])
    if metric.covariate is None:
        ref = ref.drop(columns=[c for c in ref.columns if c.startswith("cov_")])
    got = es.fetch_variant_stats(engine, EXP, metric, covariate=metric.supports_cuped)
    assert_stats_equal(got, ref, list(VARIANTS))
    plain = es.fetch_variant_stats(engine, EXP, metric)
    assert all(p.cov_sum is None for p in plain)
    for p, g in zip(plain, got, strict=True):
        assert p.units == g.units
        np.testing.assert_allclose([p.sum, p.sum_sq], [g.sum, g.sum_sq], rtol=1e-12)


def test_binomial_sums_are_counts(engine: Engine) -> None:
    for s in es.fetch_variant_stats(engine, EXP, get_metric("purchase_conversion")):
        assert s.sum == s.sum_sq  # y in {0, 1}


@pytest.mark.parametrize("pct", [0.9, 0.95, 0.99])
def test_winsorised_revenue_matches_pandas_quantile(engine: Engine, pct: float) -> None:
    units = reference_units(ROWS, "revenue_per_user")
    cap = units.y.quantile(pct)  # linear interpolation, like percentile_cont
    assert (units.y > cap).any()
    units["y"] = units.y.clip(upper=cap)
    ref = reference_stats(units, ["variant"])
    got = es.fetch_variant_stats(
        engine, EXP, get_metric("revenue_per_user"), covariate=True, winsorize_pct=pct
    )
    assert_stats_equal(got, ref, list(VARIANTS))


def test_winsorising_is_refused_for_non_mean_metrics() -> None:
    with pytest.raises(ValueError, match="mean metrics"):
        es.variant_stats_query(EXP, get_metric("click_through_rate"), winsorize_pct=0.99)
    with pytest.raises(ValueError, match=r"fraction in \(0, 1\)"):
        es.variant_stats_query(EXP, get_metric("revenue_per_user"), winsorize_pct=99)
    with pytest.raises(ValueError, match="no CUPED covariate"):
        es.variant_stats_query(
            EXP, dataclasses.replace(get_metric("click_through_rate"), covariate=None),
            covariate=True,
        )  # fmt: skip
    with pytest.raises(ValueError, match="cannot slice by 'email'"):
        es.variant_stats_query(EXP, get_metric("click_through_rate"), slice_by="email")


@pytest.mark.parametrize("dimension", es.SLICE_COLUMNS)
def test_sliced_stats_match_pandas(engine: Engine, dimension: str) -> None:
    metric = get_metric("click_through_rate")
    units = reference_units(ROWS, metric.name)
    cust = pd.DataFrame(ROWS["cust"]).set_index("customer_id")[dimension]
    units["slice"] = cust.reindex(units.index).fillna(es.UNKNOWN_SLICE).to_numpy()
    ref = reference_stats(units, ["slice", "variant"])
    got = es.fetch_sliced_stats(engine, EXP, metric, dimension, covariate=True)  # Σxc too
    assert list(got) == sorted(units.slice.unique())
    assert es.UNKNOWN_SLICE in got
    for label, stats in got.items():
        assert_stats_equal(stats, ref.loc[label], list(VARIANTS))


def test_daily_cumulative_stats_match_pandas(engine: Engine) -> None:
    metric = get_metric("revenue_per_user")
    units = reference_units(ROWS, metric.name)
    units["day"] = units.assigned_at.dt.normalize()
    daily = es.fetch_daily_stats(engine, EXP, metric, covariate=True)
    assert set(daily.variant) == set(VARIANTS)
    assert daily.day.nunique() == (units.day.max() - units.day.min()).days + 1
    for (day, variant), got in daily.set_index(["day", "variant"]).iterrows():
        upto = units[(units.day <= day) & (units.variant == variant)]
        if upto.empty:
            assert got["units"] == 0 and got["sum"] == 0
            continue
        ref = reference_stats(upto, ["variant"]).loc[variant]
        for col in ref.index:
            np.testing.assert_allclose(got[col], ref[col], rtol=RTOL, atol=1e-9)
    last = daily[daily.day == daily.day.max()].set_index("variant")
    total = {s.variant: s for s in es.fetch_variant_stats(engine, EXP, metric)}
    for v in VARIANTS:
        assert last.loc[v, "units"] == total[v].units


def test_daily_assignments_and_counts(engine: Engine) -> None:
    units = reference_units(ROWS, "purchase_conversion")
    ref = units.groupby([units.assigned_at.dt.normalize(), "variant"]).size()
    got = es.fetch_daily_assignments(engine, EXP)
    assert got.units.sum() == len(units)
    for row in got.itertuples():
        assert row.units == ref.get((row.day, row.variant), 0)
    last = got[got.day == got.day.max()].set_index("variant").cumulative_units
    counts = es.fetch_assignment_counts(engine, EXP)
    assert counts == {v: int((units.variant == v).sum()) for v in VARIANTS}
    assert counts["zz_empty"] == 0
    assert {v: int(last[v]) for v in VARIANTS} == counts


def test_as_of_limits_units_and_outcomes(engine: Engine) -> None:
    as_of = T0 + dt.timedelta(days=6, hours=3)
    metric = get_metric("signup_conversion")
    ref = reference_stats(reference_units(ROWS, metric.name, as_of=as_of), ["variant"])
    got = es.fetch_variant_stats(engine, EXP, metric, covariate=True, as_of=as_of)
    assert_stats_equal(got, ref, list(VARIANTS))
    assert sum(s.units for s in got) < len(reference_units(ROWS, metric.name))


def test_other_experiment_is_isolated(engine: Engine) -> None:
    metric = get_metric("purchase_conversion")
    units = reference_units(ROWS, metric.name, experiment_id=OTHER).drop(columns="c")
    ref = reference_stats(units, ["variant"])
    got = es.fetch_variant_stats(engine, OTHER, metric)
    assert_stats_equal(got, ref, ["control", "treatment"])
    assert es.fetch_variant_stats(engine, "exp_nope", metric) == []


def _all_statements():
    for metric in EXPERIMENT_METRICS.values():
        for slice_by in (None, "region"):
            for by_day in (False, True):
                yield es.variant_stats_query(
                    EXP,
                    metric,
                    slice_by=slice_by,
                    by_day=by_day,
                    covariate=metric.supports_cuped,
                    winsorize_pct=0.99 if metric.kind is MetricKind.MEAN else None,
                    as_of=T0 + 5 * DAY,
                )
    yield es.daily_assignments_query(EXP, T0)
    yield es.assignment_counts_query(EXP)
    yield es.declared_variants_query(EXP)


def test_every_statement_compiles_under_trino() -> None:
    statements = list(_all_statements())
    assert len(statements) == 4 * len(EXPERIMENT_METRICS) + 3
    for stmt in statements:
        sql = str(stmt.compile(dialect=TrinoDialect()))
        assert "experiment_id" in sql
        assert "exp_fixture" not in sql  # values are bound, never inlined


# --- metadata -----------------------------------------------------------------------------


def test_experiment_metadata(engine: Engine) -> None:
    as_of = T0 + dt.timedelta(days=9, hours=23)
    infos = ed.list_experiments(engine, as_of=as_of)
    assert [i.experiment_id for i in infos] == [OTHER, EXP]  # most recently started first
    info = ed.get_experiment(engine, EXP, as_of=as_of)
    assert info.primary_metric == "purchase_conversion"
    assert info.secondary_metrics == ("revenue_per_user", "click_through_rate")
    assert info.guardrail_metrics == ("support_contact_rate",)
    assert info.unknown_metrics == ()
    assert info.started_at == T0 and info.ended_at is None and info.status == "running"
    assert info.days_running == 9
    assert [v.variant for v in info.variants] == list(VARIANTS)
    assert info.control is not None and info.control.variant == "control"
    assert sum(info.expected_shares.values()) == pytest.approx(1.0)


def test_unknown_experiment_names_the_known_ones(engine: Engine) -> None:
    with pytest.raises(ed.UnknownExperimentError) as err:
        ed.get_experiment(engine, "exp_missing")
    assert str(err.value) == (
        f"unknown experiment 'exp_missing'; known experiments: {EXP}, {OTHER}"
    )


def test_metric_catalog_lookup_and_validation() -> None:
    with pytest.raises(UnknownMetricError, match="known metrics: click_through_rate, "):
        get_metric("ctr")
    assert ed.parse_metric_list(" a, b,,a ,") == ("a", "b")
    assert ed.parse_metric_list(None) == ()
    bad = dataclasses.replace  # ExperimentMetric validates on construction
    with pytest.raises(ValueError, match="ratio metric needs a denominator"):
        bad(get_metric("click_through_rate"), denominator=None)
    with pytest.raises(ValueError, match="ANY aggregation"):
        bad(get_metric("purchase_conversion"), numerator=get_metric("revenue_per_user").numerator)


# --- all metrics in one statement ---------------------------------------------------------

EXTRA_METRICS = (
    # Same tables, other windows: the shared join must cover the union of all windows.
    dataclasses.replace(
        get_metric("revenue_per_user"), name="revenue_7d", window_days=7, pre_period_days=10
    ),
    dataclasses.replace(
        get_metric("revenue_per_user"),
        name="impressions_per_user",
        numerator=get_metric("click_through_rate").denominator,
        covariate=get_metric("click_through_rate").denominator,
        window_days=21,
        pre_period_days=3,
    ),
)
SHARED_METRICS = (*EXPERIMENT_METRICS.values(), *EXTRA_METRICS)


def assert_same_stats(shared: list, single: list) -> None:
    """Equal statistics: counts exactly, sums to 1e-12 relative, same optional fields."""
    assert [s.variant for s in shared] == [s.variant for s in single]
    for a, b in zip(shared, single, strict=True):
        assert a.units == b.units, a.variant
        for field in dataclasses.fields(a)[2:]:
            x, y = getattr(a, field.name), getattr(b, field.name)
            assert (x is None) == (y is None), f"{a.variant}.{field.name}"
            if x is not None:
                np.testing.assert_allclose(x, y, rtol=1e-12, atol=0, err_msg=field.name)


@pytest.mark.parametrize("metric", EXTRA_METRICS, ids=lambda m: m.name)
def test_other_windows_match_pandas(engine: Engine, metric: ExperimentMetric) -> None:
    """Windows other than the catalog's 14/28 days (also guards the compiled-SQL cache: the
    statements differ from the catalog ones only in their day offsets)."""
    es.fetch_variant_stats(engine, EXP, get_metric("revenue_per_user"), covariate=True)
    ref = reference_stats(reference_units(ROWS, metric), ["variant"])
    got = es.fetch_variant_stats(engine, EXP, metric, covariate=True)
    assert_stats_equal(got, ref, list(VARIANTS))
    shared = es.fetch_experiment_stats(engine, EXP, [metric], covariate=True)[metric.name]
    assert_stats_equal(shared, ref, list(VARIANTS))


@pytest.mark.parametrize("covariate", [False, True])
@pytest.mark.parametrize("as_of", [None, T0 + dt.timedelta(days=6, hours=3)])
def test_shared_statement_equals_per_metric_statements(
    engine: Engine, covariate: bool, as_of: dt.datetime | None
) -> None:
    shared = es.fetch_experiment_stats(
        engine, EXP, SHARED_METRICS, covariate=covariate, as_of=as_of
    )
    assert list(shared) == [m.name for m in SHARED_METRICS]
    counts = es.fetch_assignment_counts(engine, EXP, as_of=as_of)
    for metric in SHARED_METRICS:
        single = es.fetch_variant_stats(
            engine, EXP, metric, covariate=covariate and metric.supports_cuped, as_of=as_of
        )
        assert_same_stats(shared[metric.name], single)
        assert {s.variant: s.units for s in shared[metric.name]} == counts
    assert counts["zz_empty"] == 0


@pytest.mark.parametrize("pct", [0.9, 0.99])
def test_shared_statement_winsorises_each_mean_metric(engine: Engine, pct: float) -> None:
    shared = es.fetch_experiment_stats(
        engine, EXP, SHARED_METRICS, covariate=True, winsorize_pct=pct
    )
    for metric in SHARED_METRICS:
        mean = metric.kind is MetricKind.MEAN
        single = es.fetch_variant_stats(
            engine,
            EXP,
            metric,
            covariate=metric.supports_cuped,
            winsorize_pct=pct if mean else None,
        )
        assert_same_stats(shared[metric.name], single)
    # Capping happened (each mean metric against its own quantile), and only on mean metrics.
    plain = es.fetch_experiment_stats(engine, EXP, SHARED_METRICS)
    for metric in SHARED_METRICS:
        capped_sum = sum(s.sum for s in shared[metric.name])
        plain_sum = sum(s.sum for s in plain[metric.name])
        if metric.kind is MetricKind.MEAN:
            assert capped_sum < plain_sum, metric.name
        else:
            assert capped_sum == plain_sum, metric.name


def test_shared_statement_edge_cases(engine: Engine) -> None:
    metric = get_metric("purchase_conversion")
    other = es.fetch_experiment_stats(engine, OTHER, [metric])
    assert_same_stats(other[metric.name], es.fetch_variant_stats(engine, OTHER, metric))
    assert es.fetch_experiment_stats(engine, "exp_nope", [metric]) == {metric.name: []}
    assert es.fetch_experiment_stats(engine, EXP, []) == {}


def test_shared_statement_refuses_bad_options() -> None:
    metric = get_metric("revenue_per_user")
    with pytest.raises(ValueError, match="unique; repeated: revenue_per_user"):
        es.experiment_stats_query(EXP, [metric, metric])
    with pytest.raises(ValueError, match=r"fraction in \(0, 1\)"):
        es.experiment_stats_query(EXP, [metric], winsorize_pct=1.5)


def test_shared_statement_compiles_under_trino() -> None:
    stmt = es.experiment_stats_query(
        EXP, SHARED_METRICS, covariate=True, winsorize_pct=0.99, as_of=T0 + 5 * DAY
    )
    sql = str(stmt.compile(dialect=TrinoDialect()))
    assert sql.count("row_number() OVER (PARTITION BY") == 1  # one units CTE
    assert "agg_orders" in sql and "agg_touchpoints" in sql
    assert sql.count("FROM units JOIN") == 2  # one aggregate per source table
    assert "exp_fixture" not in sql and "'signup'" not in sql  # values are bound


def test_ratio_cuped_from_the_warehouse_matches_ols_on_the_raw_rows(engine: Engine) -> None:
    """CUPED for the ratio metric end to end: the warehouse's Σxc (and the other sums) give
    the same adjusted lift and θ as OLS of the linearised outcome on the covariate, computed
    with numpy/statsmodels from the raw per-unit rows."""
    import statsmodels.api as sm

    from metrics.stats.engine import analyze_metric

    metric = get_metric("click_through_rate")
    got = es.fetch_variant_stats(engine, EXP, metric, covariate=True)
    assert all(s.cov_denom_cross_sum is not None for s in got)
    r = analyze_metric(got[0], got[1], "ratio", cuped=True)
    assert r.cuped_applied, r.warnings
    units = reference_units(ROWS, metric.name)
    z_parts, t_parts, c_parts = [], [], []
    for flag, variant in enumerate(("control", "treatment")):
        u = units[units.variant == variant]
        ratio, x_bar = u.y.sum() / u.x.sum(), u.x.mean()
        z_parts.append(ratio + (u.y - ratio * u.x) / x_bar)
        t_parts.append(np.full(len(u), float(flag)))
        c_parts.append(u.c.to_numpy())
    design = sm.add_constant(np.column_stack([np.concatenate(t_parts), np.concatenate(c_parts)]))
    ols = sm.OLS(np.concatenate(z_parts), design).fit()
    np.testing.assert_allclose(r.absolute_lift, ols.params[1], rtol=1e-9)
    np.testing.assert_allclose(r.theta, ols.params[2], rtol=1e-9)


# --- quantile metrics ------------------------------------------------------------------------


def reference_order_values(rows, variant: str, as_of: dt.datetime | None = None) -> np.ndarray:
    """Mean order value per buying unit, in pandas from the raw rows (revenue / order count)."""
    from metrics.experiments.definitions import QUANTILE_METRICS

    q = QUANTILE_METRICS["order_value_median"]
    proxy = dataclasses.replace(
        get_metric("click_through_rate"), name="order_value", numerator=q.revenue,
        denominator=q.orders, covariate=None,
    )  # fmt: skip
    u = reference_units(rows, proxy, as_of=as_of)
    u = u[(u.variant == variant) & (u.x > 0)]
    return (u.y / u.x).to_numpy()


@pytest.mark.parametrize("as_of", [None, T0 + dt.timedelta(days=6, hours=3)])
def test_quantile_stats_match_numpy_on_the_raw_rows(engine: Engine, as_of) -> None:
    from metrics.experiments.definitions import QUANTILE_METRICS
    from metrics.stats.quantile import quantile_stats

    metrics = list(QUANTILE_METRICS.values())
    got = es.fetch_quantile_stats(engine, EXP, metrics, as_of=as_of)
    assert list(got) == [m.name for m in metrics]
    for m in metrics:
        assert [s.variant for s in got[m.name]] == list(VARIANTS)
        for s in got[m.name]:
            values = reference_order_values(ROWS, s.variant, as_of)
            if len(values) == 0:
                assert s.units == 0 and s.variant == "zz_empty"
                continue
            ref = quantile_stats(s.variant, values, m.q)
            assert s.units == ref.units and s.q == m.q
            np.testing.assert_allclose(
                [s.value, s.lower, s.upper], [ref.value, ref.lower, ref.upper], rtol=RTOL
            )
    assert got["order_value_median"][0].units > (30 if as_of is None else 5)  # ranks differ
