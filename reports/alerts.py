"""``python -m reports alerts run``: evaluate every active alert rule and deliver what fires.

For each rule the KPI series (``metrics.anomaly.series``, the catalog KPI the tiles use) is
read up to the last complete bucket before ``--now`` (default: now, UTC): yesterday for daily
rules, the last complete Monday–Sunday week for weekly ones. When the rule's condition holds
on that bucket, its episode (``metrics.anomaly.rules``) fires: stored once in
``alert_episodes``, delivered to every recipient (e-mail through ``[smtp]``, webhooks as
Slack-compatible JSON), and marked delivered only when every delivery succeeded — so a run is
idempotent (a delivered episode is never sent again) and a failed one is retried next run.

Exit status: 0 all good, 1 some delivery failed (its episode stays undelivered), 2 a problem
with the warehouse, the app-state store or the arguments (a message, never a traceback).
Cron: ``15 6 * * * cd /srv/looplens && python -m reports alerts run``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass, replace
from email.message import EmailMessage

from sqlalchemy import Engine, literal, select
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from data.app_state import alerts as store_alerts
from data.app_state.store import AppStateError, AppStateStore, open_store
from data.app_state.targets import current_targets
from data.warehouse import duckdb_path, mask_url, open_engine, resolve_config, to_url
from i18n import _
from metrics import formatting as fmt
from metrics.anomaly import detector, rules, series
from metrics.anomaly.drivers import Contribution
from metrics.filters import Filters
from metrics.marketing.kpis import format_value, get_kpi
from reports import delivery
from reports.cli import CliError

EXIT_DELIVERY_FAILED = 1


@dataclass(frozen=True)
class Firing:
    """A rule whose condition holds on the latest bucket."""

    rule: store_alerts.AlertRule
    started_on: dt.date
    bucket: dt.date
    title: str
    lines: tuple[str, ...]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``alerts run`` to the ``python -m reports`` parser."""
    p = subparsers.add_parser("alerts", help="evaluate alert rules and deliver what fires")
    sub = p.add_subparsers(dest="alerts_command", required=True)
    run = sub.add_parser("run", help="evaluate every active rule once (cron-friendly)")
    run.add_argument("--now", help="evaluate as of this ISO time (UTC; default: now)")
    run.add_argument("--dry-run", action="store_true", help="print what would fire; send nothing")
    run.add_argument("--url", help="warehouse URL or DuckDB/SQLite path (default: configured)")
    run.add_argument("--app-state-url", help="app-state store URL (default: configured)")
    run.set_defaults(run=cmd_run)


def _now(text: str | None) -> dt.datetime:
    if not text:
        return dt.datetime.now(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--now must be an ISO date or time, got {text!r}") from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _engine(url: str | None) -> tuple[Engine, str]:
    if not url:
        config = resolve_config()
        demo = duckdb_path(config.url) if config.is_demo else None
        if demo is not None and not demo.exists():
            raise CliError(
                f"the demo warehouse {demo} has not been generated yet: start the app once, "
                f"run python -m data.demo --out {demo}, or pass --url"
            )
    try:
        target = to_url(url) if url else resolve_config().url
        return open_engine(target, read_only=True), mask_url(target)
    except (ArgumentError, ValueError, ImportError) as exc:
        raise CliError(f"invalid warehouse URL {mask_url(url or '')!r}: {exc}") from None


def _scope(rule: store_alerts.AlertRule, end: dt.date) -> Filters:
    if rule.scope_kind == "channel":
        return Filters(end, end, channels=(rule.scope_value,))
    if rule.scope_kind == "segment":
        return Filters(end, end, segments=(rule.scope_value,))
    return Filters(end, end)


def _scope_text(rule: store_alerts.AlertRule) -> str:
    if rule.scope_kind == "all":
        return ""
    return f" ({fmt.label(rule.scope_kind)}: {fmt.label(rule.scope_value)})"


def _driver_text(kpi_name: str, d: Contribution | None) -> str:
    if d is None:
        return _("Driver: no single channel or segment explains it.")
    sign = "+" if d.contribution > 0 else "−"
    share = "" if d.share_of_deviation is None else fmt.percent(d.share_of_deviation)
    return _("Driver: {dimension} {member} ({sign}{amount}, {share} of the deviation).").format(
        dimension=_(d.dimension),
        member=fmt.label(d.member),
        sign=sign,
        amount=series_value(kpi_name, abs(d.contribution)),
        share=share,
    )


def series_value(kpi_name: str, value: float) -> str:
    """``value`` formatted as the KPI's tile shows it."""
    return format_value(get_kpi(kpi_name), value)


def evaluate(
    engine: Engine,
    store: AppStateStore,
    rule: store_alerts.AlertRule,
    now: dt.datetime,
) -> Firing | None:
    """The rule's open episode as of ``now``, or None when its condition does not hold."""
    kpi = get_kpi(rule.kpi)
    end = now.date() - dt.timedelta(days=1)
    scope = _scope(rule, end)
    grain_word = _("daily") if rule.grain == "day" else _("weekly")
    head = f"{kpi.label}{_scope_text(rule)}, {grain_word}"
    if rule.condition == "outside_band":
        band = series.kpi_band(engine, rule.kpi, scope, end, rule.grain)
        if isinstance(band, detector.BandError):
            return None
        start = rules.episode_start(band["anomaly"])
        if start is None:
            return None
        last = band.iloc[-1]
        bucket = band.index[-1]
        why = series.explain(
            engine, rule.kpi, scope, bucket, rule.grain, float(last.expected), float(last.actual)
        )
        direction = _("above") if last.actual > last.upper else _("below")
        lines = (
            _(
                "{head} on {day}: {actual}, {direction} the expected range {lo} – {hi} "
                "(expected {expected})."
            ).format(
                head=head,
                day=fmt.date(bucket),
                actual=series_value(rule.kpi, last.actual),
                direction=direction,
                lo=series_value(rule.kpi, last.lower),
                hi=series_value(rule.kpi, last.upper),
                expected=series_value(rule.kpi, last.expected),
            ),  # fmt: skip
            _driver_text(rule.kpi, why),
        )
        title = _("LoopLens alert: {label} is outside its normal range").format(label=kpi.label)
        return Firing(rule, start, bucket, title, lines)
    s = series.kpi_series(engine, rule.kpi, scope, end, rule.grain).dropna()
    if s.empty:
        return None
    bucket = s.index[-1]
    if rule.condition == "crosses_target":
        target = next(
            (
                t
                for t in current_targets(store)
                if t.kpi == rule.kpi
                and t.scope_kind == rule.scope_kind
                and t.scope_value == rule.scope_value
            ),
            None,
        )
        if target is None:
            return None
        flags = rules.target_flags(s[s.index >= target.set_on], target.value, target.direction)
        start = rules.episode_start(flags)
        if start is None:
            return None
        lines = (
            _(
                "{head} on {day}: {actual}, on the wrong side of the target {target} "
                "(owner {owner}, deadline {deadline})."
            ).format(
                head=head,
                day=fmt.date(bucket),
                actual=series_value(rule.kpi, s.iloc[-1]),
                target=series_value(rule.kpi, target.value),
                owner=target.owner,
                deadline=fmt.date(target.deadline),
            ),  # fmt: skip
        )
        title = _("LoopLens alert: {label} misses its target").format(label=kpi.label)
        return Firing(rule, start, bucket, title, lines)
    start = rules.episode_start(rules.change_flags(s, rule.threshold or 0.0))
    if start is None:
        return None
    moved = rules.change(s)
    lines = (
        _(
            "{head} on {day}: {actual}, {change} vs the bucket before ({previous}); "
            "the rule's limit is {limit}."
        ).format(
            head=head,
            day=fmt.date(bucket),
            actual=series_value(rule.kpi, s.iloc[-1]),
            change=fmt.percent(moved, signed=True),
            previous=series_value(rule.kpi, s.iloc[-2]),
            limit=fmt.percent(rule.threshold or 0.0),
        ),  # fmt: skip
    )
    title = _("LoopLens alert: {label} changed sharply").format(label=kpi.label)
    return Firing(rule, start, bucket, title, lines)


def message_text(firing: Firing) -> str:
    return "\n".join([firing.title, "", *firing.lines, "", _("Rule: {name}").format(
        name=firing.rule.name)])  # fmt: skip


def deliver(firing: Firing, smtp: delivery.SmtpSettings | None) -> list[str]:
    """Send ``firing`` to every recipient; the problems (empty: all delivered)."""
    problems: list[str] = []
    if firing.rule.emails:
        if smtp is None:
            problems.append(_("no SMTP server configured for the e-mail recipients"))
        else:
            msg = EmailMessage()
            msg["Subject"] = firing.title
            msg["From"] = smtp.sender
            msg["To"] = ", ".join(firing.rule.emails)
            msg.set_content(message_text(firing))
            try:
                delivery.send_message(smtp, msg)
            except delivery.DeliveryError as exc:
                problems.append(str(exc))
    for url in firing.rule.webhooks:
        try:
            delivery.post_webhook(url, delivery.slack_payload(firing.title, list(firing.lines)))
        except delivery.DeliveryError as exc:
            problems.append(str(exc))
    return problems


def _probe(engine: Engine, where: str) -> None:
    """Fail early, with a message, when the warehouse cannot be read at all."""
    try:
        with engine.connect() as conn:
            conn.execute(select(literal(1)))
    except (SQLAlchemyError, OSError) as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise CliError(
            f"cannot read the warehouse at {where}: {first[0] if first else exc}"
        ) from None


def cmd_run(args: argparse.Namespace) -> int:
    now = _now(args.now)
    try:
        store = open_store(args.app_state_url or None)
    except AppStateError as exc:
        raise CliError(f"{exc.title}. {exc.detail} {exc.fix}") from None
    engine, where = _engine(args.url)
    failed = 0
    try:
        _probe(engine, where)
        try:
            active = store_alerts.active_rules(store)
        except AppStateError as exc:
            raise CliError(f"{exc.title}. {exc.detail}") from None
        if not active:
            print(_("No active alert rules (add one on the Targets & alerts page)."))
        smtp: delivery.SmtpSettings | None = None
        if any(r.emails for r in active):
            try:
                smtp = delivery.SmtpSettings.load()
            except delivery.DeliveryError as exc:
                print(f"warning: {exc}", file=sys.stderr)
        for rule in active:
            try:
                firing = evaluate(engine, store, rule, now)
            except SQLAlchemyError as exc:
                first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
                raise CliError(
                    f"cannot read the warehouse at {where}: {first[0] if first else exc}"
                ) from None
            if firing is None:
                print(f"ok      {rule.name}")
                continue
            if args.dry_run:
                print(f"would fire {rule.name} (since {firing.started_on}): {firing.lines[0]}")
                continue
            episode = store_alerts.fire_episode(
                store, rule.rule_id, firing.started_on, message_text(firing), now
            )
            if episode.delivered_at is not None:
                print(f"quiet   {rule.name}: already delivered for the episode since "
                      f"{firing.started_on}")  # fmt: skip
                continue
            problems = deliver(replace(firing), smtp)
            store_alerts.mark_delivery(
                store, episode.episode_id, now=now, error="; ".join(problems) or None
            )
            if problems:
                failed += 1
                print(f"FAILED  {rule.name}: " + "; ".join(problems), file=sys.stderr)
            else:
                print(f"fired   {rule.name}: {firing.lines[0]}")
    except AppStateError as exc:
        raise CliError(f"{exc.title}. {exc.detail} {exc.fix}") from None
    finally:
        engine.dispose()
        store.close()
    return EXIT_DELIVERY_FAILED if failed else 0
