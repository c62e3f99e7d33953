"""Demo warehouse generator: the full contract with planted, documented truths.

Usage::

    python -m data.demo --customers 50000 --seed 7 --out /tmp/looplens-demo.duckdb [--force]
    python -m data.demo --out postgresql+psycopg://user@host/db --manifest demo.manifest.json

Writes every table of ``data.schema`` (≈ 18 months ending at ``end_date``) into a DuckDB file
(atomically: a temporary file in the same folder is renamed when complete) or any SQLAlchemy
URL (a bare path is a file: see ``data.warehouse.to_url``; a missing PostgreSQL database is
created when the user may), plus a JSON **manifest** of the planted truths (experiments with
their true per-variant parameters and expected verdicts, and the story facts). Same seed +
customers + end_date → identical data. Generation is vectorised (numpy); see ``demo_world``,
``demo_experiments`` and ``demo_lifecycle`` for the generating processes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from data.demo import experiments as dx
from data.demo import lifecycle as dl
from data.demo import world as dw
from data.demo.localise import CURRENCIES, localise_frames, localise_manifest, profile_for
from data.demo.write import (
    TargetDatabaseError,
    TargetExistsError,
    ensure_postgres_database,
    existing_contract_tables,
    write_duckdb,
    write_generic,
    write_postgres,
    write_spark,
)
from data.schema import CONTRACT_TABLES, SurveyKind
from data.sqlfuncs import SPARK_DIALECTS
from data.warehouse import duckdb_path, mask_url, to_url

DEFAULT_CUSTOMERS = 55_000
MIN_CUSTOMERS = 1_000
MAX_CUSTOMERS = 5_000_000
BACKGROUND_TOUCHES = 4.3  # background touch budget per customer (≈ 10 touchpoints in total)
MANIFEST_VERSION = 1

Progress = Callable[[float, str], None]

__all__ = [
    "DEFAULT_CUSTOMERS",
    "TargetDatabaseError",
    "TargetExistsError",
    "generate",
    "load_manifest",
    "manifest_path_for",
]


# --- targets ------------------------------------------------------------------------------------


def _resolve_target(target: str | os.PathLike) -> tuple[str, Path | None]:
    """(SQLAlchemy URL, DuckDB file path or None). A bare path is a file (``to_url``)."""
    try:
        text = to_url(target)
    except ValueError:
        raise ValueError("the target is empty: give a file path or a SQLAlchemy URL") from None
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise ValueError(f"cannot parse the target URL {mask_url(text)!r}: {exc}") from None
    if url.get_backend_name() == "duckdb":
        path = duckdb_path(text)
        if path is None:
            raise ValueError("an in-memory DuckDB target would be lost: give a file path")
        return text, path.expanduser().resolve()
    return text, None


def _file_of(url: str) -> Path | None:
    """The file a DuckDB or SQLite URL points at (None for servers and in-memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in ("duckdb", "sqlite"):
        return None
    if parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser().resolve()


def manifest_path_for(target: str | os.PathLike) -> Path:
    """Default manifest location: ``<file>.manifest.json`` next to a DuckDB or SQLite file.

    Other URLs have no natural place: raise ``ValueError`` (pass ``manifest=`` / ``--manifest``).
    """
    url, _ = _resolve_target(target)
    path = _file_of(url)
    if path is None:
        raise ValueError(
            f"no default manifest location for {mask_url(os.fspath(target))}: pass a manifest "
            "file (manifest=... or --manifest FILE)"
        )
    return path.with_name(path.name + ".manifest.json")


def load_manifest(path: str | os.PathLike) -> dict:
    """Read a manifest written by ``generate``; ``ValueError`` if it is not one."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"no manifest at {p}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("generator") != "looplens.demo":
        raise ValueError(f"{p} is not a LoopLens demo manifest")
    return data


# --- generation ---------------------------------------------------------------------------------


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _cat(codes: np.ndarray, categories: tuple[str, ...]) -> pd.Categorical:
    return pd.Categorical.from_codes(codes.astype(np.int64), categories=list(categories))


def _nullable_id(ids: np.ndarray) -> pd.array:
    """Campaign ids as nullable Int64 (``NULL_ID`` → NULL)."""
    return pd.arrays.IntegerArray(ids.astype(np.int64), ids == dw.NULL_ID)


def _build(
    customers: int, seed: int, end_date: dt.date, progress: Progress
) -> tuple[dict[str, pd.DataFrame], dict]:
    cal = dw.Calendar(end_date)
    campaigns = dw.make_campaigns(cal)
    picker = dw.CampaignPicker(campaigns, cal.days)
    progress(0.02, "customers")
    cust = dw.make_customers(_rng(seed, 1), customers, cal, campaigns, picker)
    progress(0.08, "journeys")
    bg_touch, bg_orders = dw.background(
        _rng(seed, 2), cust, cal, picker, campaigns, BACKGROUND_TOUCHES
    )
    progress(0.25, "experiments")
    assignments = dx.assign(_rng(seed, 3), cust, cal)
    bg_touch.t = dx.shift_out_of_zones(bg_touch.cust, bg_touch.t, assignments, cust.n)
    bg_orders.t = dx.shift_out_of_zones(bg_orders.cust, bg_orders.t, assignments, cust.n)
    bg_touch = bg_touch.take(np.flatnonzero(bg_touch.t < cal.end_us))
    bg_orders = bg_orders.take(np.flatnonzero(bg_orders.t < cal.end_us))
    ev_parts, or_parts = [bg_touch], [bg_orders]
    exp_rng = _rng(seed, 4)
    for a in assignments:
        e, o = dx.outcomes(exp_rng, a, cust, campaigns)
        ev_parts.append(e)
        or_parts.append(o)
    orders = dw.OrderRows.concat(or_parts)
    purchase = dw.EventRows(orders.cust, orders.t, orders.channel, orders.campaign,
                            np.full(len(orders), dw.EV["purchase"], np.int8))  # fmt: skip
    touches = dw.EventRows.concat([*ev_parts, purchase])
    _retag_inactive(_rng(seed, 8), touches, campaigns, picker)
    value = np.concatenate([np.full(len(touches) - len(orders), np.nan), orders.revenue])

    progress(0.35, "sorting events")
    by_time = np.argsort(touches.t, kind="stable")
    by_cust_time = by_time[np.argsort(touches.cust[by_time], kind="stable")]
    o_time = np.argsort(orders.t, kind="stable")
    o_cust_time = o_time[np.argsort(orders.cust[o_time], kind="stable")]

    progress(0.42, "lifecycle and surveys")
    life = dl.lifecycle(_rng(seed, 5), cust.first_seen, touches.take(by_cust_time),
                        orders.take(o_cust_time), cal.end_us)  # fmt: skip
    surv = dl.surveys(_rng(seed, 6), cust.n, cust.segment, touches, orders, cal.end_us)
    spend = dw.daily_spend(_rng(seed, 7), cal, campaigns, customers)

    progress(0.5, "building tables")
    tp = touches.take(by_time)
    frames: dict[str, pd.DataFrame] = {
        "customers": pd.DataFrame({
            "customer_id": np.arange(1, cust.n + 1, dtype=np.int64),
            "first_seen_at": cal.to_datetime64(cust.first_seen),
            "acquisition_channel": _cat(cust.acquisition, dw.CHANNELS),
            "self_reported_source": _cat(cust.self_reported, dw.CHANNELS),
            "segment": _cat(cust.segment, dw.SEGMENTS),
            "persona": _cat(cust.persona, dw.PERSONAS),
            "region": _cat(cust.region, dw.REGIONS),
        }),
        "campaigns": pd.DataFrame({
            "campaign_id": campaigns.ids.astype(np.int64),
            "name": list(campaigns.name),
            "channel": _cat(campaigns.channel, dw.CHANNELS),
            "target_stage": list(campaigns.target_stage),
            "loop_stage": list(campaigns.loop_stage),
            "is_personalised": campaigns.personalised,
            "start_date": [cal.start_date + dt.timedelta(days=int(d))
                           for d in campaigns.start_day],
            "end_date": [None if run else cal.start_date + dt.timedelta(days=int(d))
                         for d, run in zip(campaigns.end_day, campaigns.running, strict=True)],
        }),
        "touchpoints": pd.DataFrame({
            "touchpoint_id": np.arange(1, len(tp) + 1, dtype=np.int64),
            "customer_id": tp.cust.astype(np.int64) + 1,
            "occurred_at": cal.to_datetime64(tp.t),
            "channel": _cat(tp.channel, dw.CHANNELS),
            "campaign_id": _nullable_id(tp.campaign),
            "event_type": _cat(tp.event, dw.EVENTS),
            "value": value[by_time],
        }),
        "daily_spend": pd.DataFrame({
            "spend_date": [cal.start_date + dt.timedelta(days=int(d)) for d in spend["day"]],
            "campaign_id": spend["campaign_id"].astype(np.int64),
            "channel": _cat(spend["channel"], dw.CHANNELS),
            "spend": spend["spend"],
            "impressions": spend["imps"].astype(np.int64),
            "clicks": spend["clicks"].astype(np.int64),
        }),
        "orders": pd.DataFrame({
            "order_id": np.arange(1, len(orders) + 1, dtype=np.int64),
            "customer_id": orders.cust[o_time].astype(np.int64) + 1,
            "ordered_at": cal.to_datetime64(orders.t[o_time]),
            "revenue": orders.revenue[o_time],
        }),
        "lifecycle_changes": pd.DataFrame({
            "customer_id": life["cust"].astype(np.int64) + 1,
            "changed_at": cal.to_datetime64(life["t"]),
            "from_stage": _cat(life["from"], dl.STAGES),
            "to_stage": _cat(life["to"], dl.STAGES),
        }),
        "surveys": pd.DataFrame({
            "survey_id": np.arange(1, surv["cust"].size + 1, dtype=np.int64),
            "customer_id": surv["cust"].astype(np.int64) + 1,
            "responded_at": cal.to_datetime64(surv["t"]),
            "kind": _cat(surv["kind"], (SurveyKind.NPS.value, SurveyKind.CSAT.value)),
            "score": surv["score"].astype(np.int64),
            "channel": _cat(surv["channel"], dw.CHANNELS),
        }),
    }  # fmt: skip
    frames.update(_experiment_frames(assignments, cal))
    frames = {t.name: frames[t.name][[c.name for c in t.columns]] for t in CONTRACT_TABLES}
    buyers = np.zeros(cust.n, dtype=bool)
    buyers[orders.cust] = True
    manifest = _manifest(cust, campaigns, assignments, cal, seed, frames, buyers)
    return frames, manifest


def _retag_inactive(
    rng: np.random.Generator,
    touches: dw.EventRows,
    campaigns: dw.Campaigns,
    picker: dw.CampaignPicker,
) -> None:
    """Re-attribute touches whose campaign is not running that day (e.g. a late conversion or
    a journey moved past an experiment zone) to a campaign of the channel running that day."""
    day = touches.t // dw.DAY_US
    has = np.flatnonzero(touches.campaign != dw.NULL_ID)
    idx = touches.campaign[has] - 1
    off = (day[has] < campaigns.start_day[idx]) | (day[has] > campaigns.end_day[idx])
    bad = has[off]
    touches.campaign[bad] = picker.pick(rng, touches.channel[bad], day[bad], tag=False)


def _experiment_frames(assignments: list[dx.Assignment], cal: dw.Calendar) -> dict:
    exp_rows, var_rows, asg = [], [], []
    for a in assignments:
        s = a.spec
        exp_rows.append({
            "experiment_id": s.experiment_id,
            "name": s.name,
            "hypothesis": s.hypothesis,
            "loop_stage": s.loop_stage,
            "primary_metric": s.primary,
            "secondary_metrics": ",".join(s.secondary) or None,
            "guardrail_metrics": ",".join(s.guardrails) or None,
            "started_at": cal.to_datetime(cal.day_us(s.assign_from)),
            "ended_at": None if s.status == "running" else cal.to_datetime(
                cal.day_us(s.assign_to) + dx.WINDOW_DAYS * dw.DAY_US),
            "status": s.status,
        })  # fmt: skip
        var_rows += [
            {"experiment_id": s.experiment_id, "variant": arm.name,
             "is_control": arm.is_control, "expected_share": arm.expected_share}
            for arm in s.arms
        ]  # fmt: skip
        order = np.argsort(a.t, kind="stable")
        asg.append(pd.DataFrame({
            "experiment_id": s.experiment_id,
            "customer_id": a.cust[order].astype(np.int64) + 1,
            "variant": _cat(a.arm[order], tuple(arm.name for arm in s.arms)).astype(str),
            "assigned_at": cal.to_datetime64(a.t[order]),
        }))  # fmt: skip
    experiments = pd.DataFrame(exp_rows)
    for col in ("started_at", "ended_at"):
        experiments[col] = pd.to_datetime(experiments[col]).astype("datetime64[us]")
    return {
        "experiments": experiments,
        "experiment_variants": pd.DataFrame(var_rows),
        "experiment_assignments": pd.concat(asg, ignore_index=True),
    }


def _manifest(
    cust: dw.Customers,
    campaigns: dw.Campaigns,
    assignments: list[dx.Assignment],
    cal: dw.Calendar,
    seed: int,
    frames: dict[str, pd.DataFrame],
    buyers: np.ndarray,
) -> dict:
    tagged = cust.campaign != dw.NULL_ID
    rate_p = float(buyers[tagged & cust.personalised].mean())
    rate_g = float(buyers[tagged & ~cust.personalised].mean())
    answered = cust.self_reported >= 0
    differs = answered & (cust.self_reported != cust.acquisition)
    return {
        "generator": "looplens.demo",
        "version": MANIFEST_VERSION,
        "seed": seed,
        "customers": cust.n,
        "start_date": cal.start_date.isoformat(),
        "end_date": cal.end_date.isoformat(),
        "history_days": cal.days,
        "rows": {name: len(df) for name, df in frames.items()},
        "definitions": {
            "unit": "customer_id",
            "window": "assigned_at <= t < assigned_at + 14 days",
            "pre_period": "assigned_at - 28 days <= t < assigned_at",
            "isolation": "each unit's window (and, for pre_period experiments, its pre-period) "
            "holds only events of the experiment process; all windows end by end_date",
            "dormant_after_days": dw.DORMANT_AFTER_DAYS,
            "money": "USD",
        },
        "experiments": [dx.manifest_entry(a, cal) for a in assignments],
        "anomalies": [
            {
                "kind": "spend_spike",
                "kpis": ["paid_spend", "cac"],
                "driver": {"channel": dw.SPEND_SPIKE_CHANNEL},
                "days": [
                    (cal.end_date - dt.timedelta(days=k)).isoformat()
                    for k in dw.SPEND_SPIKE_DAYS_BEFORE_END
                ],
                "multiplier": dw.SPEND_SPIKE_MULTIPLIER,
            }
        ],
        "story": {
            "personalised": {
                "definition": "customers whose first (tracked) touch came from a personalised "
                "campaign vs a generic one; share with ≥1 order",
                "background_buy_multiplier": dw.PERSONALISED_LIFT,
                "purchase_rate_personalised": round(rate_p, 4),
                "purchase_rate_generic": round(rate_g, 4),
                "relative_lift": round(rate_p / rate_g - 1, 4),
            },
            "personalised_campaigns": [
                n for n, p in zip(campaigns.name, campaigns.personalised, strict=True) if p
            ],
            "dark_funnel": {
                "self_reported_differs_share_of_answers": round(
                    float(differs.sum() / answered.sum()), 4
                ),
                "self_reported_null_share": round(float(1 - answered.mean()), 4),
            },
            "ad_economics": {
                k: {"cpc_usd": v[0], "ctr": v[1], "cost_per_lead_usd": v[2]}
                for k, v in dw.AD_ECONOMICS.items()
            },
            "paid_social_push": {
                "definition": "paid social's share of new customers and its cost per lead ramp "
                "up (logistic) towards the end of the history; blended CAC rises with it",
                "ramp_center_days_before_end": dw.RAMP_CENTER_DAYS,
                "share_multiplier_at_end": 1 + dw.PAID_SOCIAL_SHARE_RAMP,
                "cost_per_lead_multiplier_at_end": 1 + dw.PAID_SOCIAL_CPL_RAMP,
            },
            "email": {
                "send": "an 'impression' touchpoint on the email channel with its campaign",
                "open_rate_per_send": dw.EMAIL_OPEN_RATE,
                "click_rate_given_open": dw.EMAIL_CLICK_GIVEN_OPEN,
                "personalised_multiplier": dw.EMAIL_PERSONALISED_LIFT,
            },
            "purchase_factor_by_channel": dict(
                zip(dw.CHANNELS, dw.BUY_FACTOR.tolist(), strict=True)
            ),
            "order_median_usd_by_segment": dict(
                zip(dw.SEGMENTS, dw.ORDER_MEDIAN_USD.tolist(), strict=True)
            ),
        },  # fmt: skip
    }


# --- public entry point -------------------------------------------------------------------------


def _validate(customers: int, seed: int, end_date: dt.date | None) -> dt.date:
    if isinstance(customers, bool) or not isinstance(customers, int | np.integer):
        raise ValueError(f"customers must be an integer, got {customers!r}")
    if not MIN_CUSTOMERS <= customers <= MAX_CUSTOMERS:
        raise ValueError(
            f"customers must be between {MIN_CUSTOMERS:,} and {MAX_CUSTOMERS:,}, got {customers:,}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if end_date is None:
        return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    if isinstance(end_date, dt.datetime) or not isinstance(end_date, dt.date):
        raise ValueError(f"end_date must be a datetime.date, got {end_date!r}")
    return end_date


def generate(
    target: str | os.PathLike,
    *,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = 7,
    end_date: dt.date | None = None,
    progress: Progress | None = None,
    overwrite: bool = False,
    manifest: str | os.PathLike | None = None,
    currency: str = "USD",
) -> dict:
    """Generate the demo warehouse into ``target`` and return (and write) its manifest.

    ``target``: a DuckDB file path, a ``duckdb:///`` URL or any SQLAlchemy URL. ``end_date``:
    last day of history (default: yesterday, UTC). ``progress(fraction, message)`` is called
    with fractions in 0..1. ``overwrite``: replace an existing file / existing contract tables
    (else ``TargetExistsError``). ``manifest``: JSON path (default ``manifest_path_for``; required
    for non-DuckDB targets). ``currency``: ``USD`` or ``VND`` (the Vietnamese market: VND
    amounts, Vietnamese campaign and region names; :mod:`data.demo.localise`).
    """
    end = _validate(customers, seed, end_date)
    market = profile_for(currency)
    url, path = _resolve_target(target)
    manifest_file = Path(manifest) if manifest is not None else manifest_path_for(target)
    report = progress or (lambda _f, _m: None)
    if path is not None and path.exists() and not overwrite:
        raise TargetExistsError(f"{path} already exists; pass overwrite=True / --force")
    if make_url(url).get_backend_name() == "postgresql":  # before the (long) generation
        created = ensure_postgres_database(url)
        if created is not None:
            report(0.0, f"created database {created}")

    frames, result = _build(int(customers), int(seed), end, report)
    result["currency"] = "USD"
    if market is not None:
        localise_frames(frames, market)
        localise_manifest(result, market)
    result["target"] = mask_url(url)
    total_rows = sum(len(df) for df in frames.values())
    done = 0

    def tick(name: str, rows: int) -> None:
        nonlocal done
        done += rows
        report(0.55 + 0.44 * done / max(total_rows, 1), f"wrote {name}")

    report(0.55, "writing")
    if path is not None:
        _write_duckdb_file(path, frames, tick)
    else:
        engine = create_engine(url)
        try:
            if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
                write_postgres(engine, frames, tick, overwrite=overwrite)
            elif engine.dialect.name in SPARK_DIALECTS:
                write_spark(engine, frames, tick, overwrite=overwrite)
            else:
                write_generic(engine, frames, tick, overwrite=overwrite)
        finally:
            engine.dispose()
    _write_json(manifest_file, result)
    report(1.0, "done")
    return result


def _write_duckdb_file(path: Path, frames: dict[str, pd.DataFrame], tick) -> None:  # noqa: ANN001
    """Write into a temporary file next to ``path``, then atomically rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    for leftover in (tmp, Path(f"{tmp}.wal")):
        leftover.unlink(missing_ok=True)
    engine = create_engine(f"duckdb:///{tmp}")
    try:
        if existing_contract_tables(engine):  # pragma: no cover - fresh file
            raise TargetExistsError(f"temporary file {tmp} is not empty")
        write_duckdb(engine, frames, tick)
    except BaseException:
        engine.dispose()
        for leftover in (tmp, Path(f"{tmp}.wal")):
            leftover.unlink(missing_ok=True)
        raise
    engine.dispose()
    Path(f"{tmp}.wal").unlink(missing_ok=True)
    os.replace(tmp, path)


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# --- CLI ----------------------------------------------------------------------------------------


def _bar(stream: TextIO | None = None) -> Progress:
    """Progress on stderr: a one-line bar redrawn in place on a terminal; one plain line per
    step otherwise (a log file or a CI job would collect every ``\\r`` frame)."""
    out = sys.stderr if stream is None else stream
    interactive = bool(getattr(out, "isatty", lambda: False)())
    last = None

    def show(fraction: float, message: str) -> None:
        nonlocal last
        if interactive:
            width = 30
            filled = int(round(fraction * width))
            out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%} {message:<30}")
            if fraction >= 1.0:
                out.write("\n")
        elif message != last:  # one line per step, not per update
            last = message
            out.write(f"{fraction:4.0%} {message}\n")
        out.flush()

    return show


def _parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m data.demo", description="Generate the LoopLens demo warehouse."
    )
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--out",
        required=True,
        help="SQLAlchemy URL or file path (.sqlite/.sqlite3/.db: SQLite, else DuckDB); a missing "
        "PostgreSQL database is created when the user may",
    )
    parser.add_argument("--end-date", type=_parse_date, default=None,
                        help="last day of history (default: yesterday, UTC)")  # fmt: skip
    parser.add_argument("--manifest", default=None, help="manifest JSON path")
    parser.add_argument(
        "--force", action="store_true", help="replace an existing file / existing contract tables"
    )
    parser.add_argument(
        "--currency", default="USD", choices=CURRENCIES,
        help="USD (default) or VND: the Vietnamese demo (VND amounts, Vietnamese campaigns and "
        "regions); run the app on it with LOOPLENS_CURRENCY=VND",
    )  # fmt: skip
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        result = generate(
            args.out, customers=args.customers, seed=args.seed, end_date=args.end_date,
            progress=_bar(), overwrite=args.force, manifest=args.manifest,
            currency=args.currency,
        )  # fmt: skip
    except (ValueError, TargetExistsError, TargetDatabaseError, OSError, SQLAlchemyError) as exc:
        sys.stderr.write(f"\nerror: {exc}\n")
        return 2
    seconds = time.perf_counter() - started
    rows = result["rows"]
    print(f"demo warehouse → {result['target']}  ({result['start_date']} … {result['end_date']})")
    for name, count in rows.items():
        print(f"  {name:<24}{count:>12,}")
    events = rows["touchpoints"]
    print(f"{sum(rows.values()):,} rows in {seconds:.1f} s — {events / seconds:,.0f} events/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
