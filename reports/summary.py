"""``python -m reports summary``: the one-page executive summary as PDF or PNG, or e-mailed.

``--period last-week|last-month|last-N-days`` (relative to the warehouse's newest day) or
``--start/--end``; ``--channel/--segment/--region`` as the app's global filters. ``--email``
sends an HTML digest (PNG inline, PDF attached, a link back to the same view built from
``LOOPLENS_PUBLIC_URL``) through the ``[smtp]`` settings the alerts use.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import urllib.parse
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

import i18n
from data.app_state.store import AppStateError, open_store
from data.schema import touchpoints
from i18n import _
from metrics.filters import CHANNEL_VALUES, REGION_VALUES, SEGMENT_VALUES, Filters
from reports import browser, delivery
from reports.alerts import _engine
from reports.cli import CliError
from reports.summary_data import collect, period_filters
from reports.summary_page import summary_html

PUBLIC_URL_ENV = "LOOPLENS_PUBLIC_URL"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``summary`` to the ``python -m reports`` parser."""
    p = subparsers.add_parser("summary", help="one-page executive summary (PDF/PNG/e-mail)")
    p.add_argument("--period", default=None, help="last-week (default), last-month, last-N-days")
    p.add_argument("--start", help="first day (ISO), with --end")
    p.add_argument("--end", help="last day (ISO), with --start")
    p.add_argument("--channel", action="append", default=[], help="filter (repeatable)")
    p.add_argument("--segment", action="append", default=[], help="filter (repeatable)")
    p.add_argument("--region", action="append", default=[], help="filter (repeatable)")
    p.add_argument("--out", help="output file: .pdf, .png or .html")
    p.add_argument("--email", action="append", default=[], help="send the digest to this address")
    p.add_argument("--lang", choices=("en", "vi"), default=None, help="language of the page")
    p.add_argument("--url", help="warehouse URL or DuckDB/SQLite path (default: configured)")
    p.add_argument("--app-state-url", help="app-state store URL (default: configured)")
    p.set_defaults(run=cmd_summary)


def view_link(base: str, filters: Filters, lang: str | None) -> str:
    """The app URL of Loop health for ``filters`` (the app reads these query parameters)."""
    params = filters.to_query_params()
    if lang:
        params["lang"] = lang
    return base.rstrip("/") + "/?" + urllib.parse.urlencode(params)


def _latest(engine) -> dt.date:  # noqa: ANN001
    horizon = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=2)
    at = touchpoints.c.occurred_at
    with engine.connect() as conn:
        value = conn.execute(select(func.max(at)).where(at < horizon)).scalar()
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value is None:
        raise CliError("the warehouse has no touchpoints: nothing to summarise")
    return value.date() if isinstance(value, dt.datetime) else value


def _choices(name: str, given: list[str], allowed: frozenset[str]) -> tuple[str, ...]:
    """The ``--name`` values (repeatable or comma-separated), each checked against ``allowed``."""
    values = [v.strip() for raw in given for v in raw.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValueError(
            f"unknown --{name} {', '.join(map(repr, bad))}: use one of {', '.join(sorted(allowed))}"
        )
    return tuple(values)


def digest_message(
    recipients: list[str], subject: str, html_text: str, png: bytes, pdf: bytes, link: str | None
) -> EmailMessage:
    """An HTML e-mail with the PNG inline (cid), the PDF attached and a plain-text part."""
    msg = EmailMessage()
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    cid = make_msgid(domain="looplens")
    msg.set_content(subject + ("\n\n" + link if link else "") + "\n")
    link_html = f"<p><a href='{link}'>{_('Open this view in LoopLens')}</a></p>" if link else ""
    msg.add_alternative(
        f"<html><body><p>{subject}</p>{link_html}"
        f"<img src='cid:{cid[1:-1]}' alt='summary' style='max-width:100%'></body></html>",
        subtype="html",
    )
    msg.get_payload()[1].add_related(png, "image", "png", cid=cid, filename="summary.png")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="summary.pdf")
    return msg


def cmd_summary(args: argparse.Namespace) -> int:
    """Render (and/or send) the summary; 0 ok, 1 the e-mail failed, 2 a reported problem."""
    if not args.out and not args.email:
        raise CliError("give --out FILE (.pdf, .png, .html) and/or --email ADDRESS")
    out = Path(args.out) if args.out else None
    if out is not None:
        if out.suffix.lower() not in (".pdf", ".png", ".html"):
            raise CliError(f"--out must end in .pdf, .png or .html, got {out.name!r}")
        if not out.parent.is_dir():
            raise CliError(f"the folder {out.parent} does not exist")
    if args.lang:
        i18n.set_language(args.lang)
    engine, where = _engine(args.url)
    try:
        try:
            latest = _latest(engine)
            start, end = period_filters(args.period, args.start, args.end, latest)
            filters = Filters(
                start, end, channels=_choices("channel", args.channel, CHANNEL_VALUES),
                segments=_choices("segment", args.segment, SEGMENT_VALUES),
                regions=_choices("region", args.region, REGION_VALUES),
            )  # fmt: skip
        except ValueError as exc:
            raise CliError(str(exc)) from None
        try:
            store = open_store(args.app_state_url or None)
        except AppStateError:
            store = None
        try:
            data = collect(engine, filters, store)
        except SQLAlchemyError as exc:
            raise CliError(f"cannot read the warehouse at {where}: {exc}") from None
        finally:
            if store is not None:
                store.close()
    finally:
        engine.dispose()
    base = os.environ.get(PUBLIC_URL_ENV)
    link = view_link(base, filters, args.lang) if base else None
    page = summary_html(data, link=link)
    try:
        if out is not None:
            if out.suffix.lower() == ".html":
                out.write_text(page, encoding="utf-8")
            else:
                browser.render(page, out, out.suffix.lower()[1:])
            print(f"wrote {out}")
        if args.email:
            with tempfile.TemporaryDirectory() as tmp:
                browser.render(page, Path(tmp) / "s.png", "png")
                browser.render(page, Path(tmp) / "s.pdf", "pdf")
                png = (Path(tmp) / "s.png").read_bytes()
                pdf = (Path(tmp) / "s.pdf").read_bytes()
            subject = _("LoopLens summary {start} – {end}").format(start=start, end=end)
            try:
                settings = delivery.SmtpSettings.load()
                delivery.send_message(
                    settings, digest_message(args.email, subject, page, png, pdf, link)
                )
            except delivery.DeliveryError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            print(f"sent to {', '.join(args.email)}")
    except browser.BrowserUnavailable as exc:
        raise CliError(str(exc)) from None
    return 0
