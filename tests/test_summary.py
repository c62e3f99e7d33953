"""``python -m reports summary`` end to end: a real PDF/PNG printed by Debian chromium from the
demo warehouse, its text checked against the Loop health functions' own values, and the digest
received by a real local aiosmtpd server."""

from __future__ import annotations

import datetime as dt
import email
import io
import re
import socket
import urllib.parse
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from data.app_state import alerts as store_alerts
from data.app_state.store import open_store
from data.demo import generator as demo
from data.warehouse import open_engine, to_url
from metrics.demo_targets import seed_demo_targets
from metrics.filters import Filters
from metrics.marketing import kpi_sql
from metrics.marketing.kpis import KPIS, format_value
from reports import delivery
from reports.cli import main
from reports.summary_data import TILE_KPIS, period_filters

pypdf = pytest.importorskip("pypdf")
pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/chromium").exists(), reason="needs Debian chromium"
)

END = dt.date(2026, 11, 27)  # a Friday: last-week is Mon 16 – Sun 22 Nov
WEEK = Filters(dt.date(2026, 11, 16), dt.date(2026, 11, 22))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("summary") / "demo.duckdb"
    demo.generate(path, end_date=END, seed=7, customers=8000)
    return str(path)


@pytest.fixture(scope="module")
def state(warehouse: str, tmp_path_factory) -> str:
    """A store with the demo targets and one open alert episode."""
    url = f"sqlite:///{tmp_path_factory.mktemp('state') / 'state.db'}"
    store = open_store(url)
    engine = open_engine(to_url(warehouse), read_only=True)
    try:
        assert seed_demo_targets(engine, store, END) > 0
        rule = store_alerts.save_rule(
            store, name="Spend", kpi="paid_spend", condition="outside_band",
            recipients=["cmo@example.com"], created_by="ana",
        )  # fmt: skip
        store_alerts.fire_episode(
            store, rule.rule_id, dt.date(2026, 11, 15),
            "LoopLens alert: Paid media spend is outside its normal range\n\nDriver: Paid social",
            dt.datetime(2026, 11, 17, 6, tzinfo=dt.UTC),
        )  # fmt: skip
    finally:
        engine.dispose()
        store.close()
    return url


def _summary(warehouse: str, state: str, *extra: str) -> int:
    return main(["summary", "--url", warehouse, "--app-state-url", state, *extra])


def _pdf_text(path: Path) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(path.read_bytes()))
    return len(reader.pages), " ".join(p.extract_text() for p in reader.pages)


def test_period_parsing() -> None:
    fri = dt.date(2026, 11, 27)
    assert period_filters("last-week", None, None, fri) == (dt.date(2026, 11, 16), WEEK.end)
    sun = dt.date(2026, 11, 22)
    assert period_filters("last-week", None, None, sun) == (WEEK.start, sun)
    assert period_filters("last-month", None, None, fri) == (
        dt.date(2026, 10, 1), dt.date(2026, 10, 31),
    )  # fmt: skip
    assert period_filters("last-month", None, None, dt.date(2026, 11, 30)) == (
        dt.date(2026, 11, 1), dt.date(2026, 11, 30),
    )  # fmt: skip
    assert period_filters("last-28-days", None, None, fri) == (dt.date(2026, 10, 31), fri)
    assert period_filters(None, "2026-01-01", "2026-01-31", fri) == (
        dt.date(2026, 1, 1), dt.date(2026, 1, 31),
    )  # fmt: skip
    for bad in ("yesterday", "last-0-days", "last-x-days"):
        with pytest.raises(ValueError, match="unknown --period"):
            period_filters(bad, None, None, fri)


def test_pdf_is_one_page_with_the_loop_health_values(
    warehouse: str, state: str, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "summary.pdf"
    assert _summary(warehouse, state, "--period", "last-week", "--out", str(out)) == 0
    assert out.read_bytes()[:5] == b"%PDF-"
    pages, text = _pdf_text(out)
    assert pages == 1
    flat = re.sub(r"\s+", " ", text)
    engine = open_engine(to_url(warehouse), read_only=True)
    try:
        totals = kpi_sql.fetch_kpi_totals(engine, TILE_KPIS, WEEK)
    finally:
        engine.dispose()
    values = dict(zip(totals["kpi"], totals["current"], strict=True))
    for name in TILE_KPIS:
        shown = format_value(KPIS[name], values[name])
        assert shown in flat, (name, shown)
    assert "16 Nov 2026 – 22 Nov 2026" in flat
    for word in ("Express", "Tailor", "Amplify", "Evolve", "What changed", "Targets"):
        assert word in flat
    assert "Paid media spend is outside its normal range" in flat
    assert "Demo growth lead" in flat  # a seeded target's owner


def test_filters_change_the_values(warehouse: str, state: str, tmp_path: Path) -> None:
    out = tmp_path / "email.pdf"
    args = ("--start", "2026-11-01", "--end", "2026-11-14", "--channel", "email")
    assert _summary(warehouse, state, *args, "--out", str(out)) == 0
    _, text = _pdf_text(out)
    engine = open_engine(to_url(warehouse), read_only=True)
    try:
        f = Filters(dt.date(2026, 11, 1), dt.date(2026, 11, 14), channels=("email",))
        totals = kpi_sql.fetch_kpi_totals(engine, ("new_customers", "revenue"), f)
    finally:
        engine.dispose()
    for name, value in zip(totals["kpi"], totals["current"], strict=True):
        assert format_value(KPIS[name], value) in text
    assert "Channel: Email" in text


def test_png_is_written(warehouse: str, state: str, tmp_path: Path) -> None:
    out = tmp_path / "summary.png"
    assert _summary(warehouse, state, "--period", "last-28-days", "--out", str(out)) == 0
    head = out.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(head[16:20], "big")
    assert width == 2 * 1123


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--period", "fortnight", "--out", "x.pdf"), "unknown --period"),
        (("--start", "2026-11-10", "--out", "x.pdf"), "go together"),
        (("--start", "2026-11-10", "--end", "nope", "--out", "x.pdf"), "ISO dates"),
        (("--start", "2026-11-10", "--end", "2026-11-01", "--out", "x.pdf"), "after --end"),
        (("--out", "summary.docx"), ".pdf, .png or .html"),
        (("--out", "/no/such/folder/s.pdf"), "does not exist"),
        ((), "--out FILE"),
        (("--segment", "vip", "--out", "x.pdf"), "unknown --segment 'vip'"),
    ],
)
def test_bad_input_is_a_clear_error(
    warehouse: str, state: str, args: tuple[str, ...], message: str, capsys, monkeypatch, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _summary(warehouse, state, *args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_chromium_is_a_clear_error(
    warehouse: str, state: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    from reports import browser

    monkeypatch.setattr(browser, "CHROMIUM", str(tmp_path / "no-chromium"))
    assert _summary(warehouse, state, "--out", str(tmp_path / "s.pdf")) == 2
    assert "chromium not found" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[_Inbox]:
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    monkeypatch.setattr(delivery, "SECRETS_PATH", tmp_path / "no-secrets.toml")
    monkeypatch.setenv("LOOPLENS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("LOOPLENS_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("LOOPLENS_SMTP_FROM", "digest@looplens.test")
    monkeypatch.setenv("LOOPLENS_SMTP_STARTTLS", "false")
    yield inbox
    controller.stop()


def test_digest_is_received_with_inline_png_pdf_and_link(
    warehouse: str, state: str, smtp: _Inbox, monkeypatch
) -> None:
    monkeypatch.setenv("LOOPLENS_PUBLIC_URL", "https://looplens.example.com/")
    args = ("--period", "last-week", "--segment", "enterprise", "--email", "ceo@example.com")
    assert _summary(warehouse, state, *args) == 0
    assert smtp.envelopes == [("digest@looplens.test", ["ceo@example.com"])]
    msg = smtp.messages[0]
    assert "16 Nov" in msg["Subject"] or "2026-11-16" in msg["Subject"]
    html_part = msg.get_body(preferencelist=("html",))
    body = html_part.get_content()
    (image,) = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    cid = image["Content-ID"].strip("<>")
    assert f"cid:{cid}" in body
    assert image.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    (pdf,) = [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert pdf.get_filename() == "summary.pdf" and pdf.get_content()[:5] == b"%PDF-"
    link = re.search(r"href='([^']+)'", body).group(1)
    parts = urllib.parse.urlsplit(link.replace("&amp;", "&"))
    assert parts.netloc == "looplens.example.com"
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert Filters.from_query_params(query, default=WEEK)[0] == Filters(
        WEEK.start, WEEK.end, segments=("enterprise",)
    )
    assert link.split("?")[0] in msg.get_body(preferencelist=("plain",)).get_content()


def test_loop_health_button_downloads_the_view_pdf(warehouse: str, tmp_path: Path) -> None:
    """The real app in a real browser: the button on Loop health downloads a one-page PDF of
    the view in the URL (here: 2026-11-01 – 2026-11-14, channel email)."""
    from playwright.sync_api import sync_playwright

    from reports.browser import ARGS, CHROMIUM
    from tests import test_browser as tb

    home = tmp_path / "home"
    home.mkdir()
    server = tb._streamlit(
        home,
        LOOPLENS_WAREHOUSE_URL=f"duckdb:///{warehouse}",
        LOOPLENS_APP_STATE_URL=f"sqlite:///{home / 'app_state.sqlite'}",
    )
    out = tmp_path / "dl.pdf"
    with server as base, sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = b.new_context(viewport={"width": 1440, "height": 1000}).new_page()
            page.goto(f"{base}/?start=2026-11-01&end=2026-11-14&channel=email")
            tb._expect_page(page, "Loop health")
            button = page.get_by_role("button", name="Executive summary (PDF)")
            with page.expect_download(timeout=60_000) as info:
                button.click()
            info.value.save_as(out)
        finally:
            b.close()
    pages, text = _pdf_text(out)
    assert pages == 1
    assert "1 Nov 2026 – 14 Nov 2026" in text and "Channel: Email" in text


def test_collect_matches_the_loop_health_page(
    warehouse: str, state: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The summary's loop statuses and highlights are the ones the page itself shows for the
    same URL filters (AppTest of the real app on the same warehouse and store)."""
    from reports.summary_data import collect
    from tests.apptest_helpers import run_page

    monkeypatch.setenv("LOOPLENS_WAREHOUSE_URL", f"duckdb:///{warehouse}")
    monkeypatch.setenv("LOOPLENS_APP_STATE_URL", state)
    f = Filters(dt.date(2026, 11, 1), dt.date(2026, 11, 14), segments=("enterprise",))
    at = run_page(query=f.to_query_params())
    assert not at.exception
    page_md = "\n".join(m.value for m in at.markdown)
    store = open_store(state)
    engine = open_engine(to_url(warehouse), read_only=True)
    try:
        data = collect(engine, f, store)
    finally:
        engine.dispose()
        store.close()
    assert data.highlights
    for item in data.highlights:
        assert f"- {item}" in page_md
    for h in data.loops:
        badge = rf"{h.loop.value.title()} :\w+-badge\[{re.escape(h.status.value)}\]"
        assert re.search(badge, page_md), (h.loop, h.status)
