"""``python -m reports alerts run`` end to end, against REAL local servers: an aiosmtpd SMTP
server and an http.server webhook receiver on free ports, on the demo warehouse (with its
planted paid-social spend spike on 2026-11-15/16) and app-state stores on SQLite and
PostgreSQL. References: the demo manifest and what the servers actually received."""

from __future__ import annotations

import datetime as dt
import email
import json
import socket
import threading
from collections.abc import Iterator
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from data.app_state import alerts as store_alerts
from data.app_state.store import open_store
from data.app_state.targets import record_target
from data.demo import generator as demo
from reports import delivery
from reports.cli import main

END = dt.date(2026, 11, 27)
AFTER_SPIKE = "2026-11-17T06:00"  # evaluates 2026-11-16, the spike's second day


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
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setattr(delivery, "SECRETS_PATH", tmp_path / "no-secrets.toml")
    monkeypatch.setenv("LOOPLENS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("LOOPLENS_SMTP_PORT", str(port))
    monkeypatch.setenv("LOOPLENS_SMTP_FROM", "alerts@looplens.test")
    monkeypatch.setenv("LOOPLENS_SMTP_STARTTLS", "false")
    yield inbox
    controller.stop()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook?token=s3cret", received
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("alerts") / "demo.duckdb"
    demo.generate(path, end_date=END, seed=7, customers=8000)
    return str(path)


@pytest.fixture(params=["sqlite_url", pytest.param("pg_url", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(request.param)


def _rule(url: str, recipients: list[str], **kw: object) -> store_alerts.AlertRule:
    store = open_store(url)
    try:
        args = dict(name="Paid spend anomaly", kpi="paid_spend", condition="outside_band")
        args.update(kw)
        return store_alerts.save_rule(store, recipients=recipients, created_by="ana", **args)  # type: ignore[arg-type]
    finally:
        store.close()


def _run(warehouse: str, state_url: str, *extra: str) -> int:
    return main(["alerts", "run", "--url", warehouse, "--app-state-url", state_url, *extra])


def _episodes(url: str) -> list[store_alerts.Episode]:
    store = open_store(url)
    try:
        return store_alerts.open_episodes(store)
    finally:
        store.close()


def test_planted_anomaly_fires_once_by_mail_and_webhook(
    warehouse: str, state_url: str, smtp: _Inbox, webhook, capsys
) -> None:
    hook_url, received = webhook
    _rule(state_url, ["cmo@example.com", hook_url])
    assert _run(warehouse, state_url, "--now", AFTER_SPIKE) == 0
    assert len(smtp.messages) == 1 and len(received) == 1
    msg = smtp.messages[0]
    assert smtp.envelopes[0] == ("alerts@looplens.test", ["cmo@example.com"])
    assert "Paid media spend" in msg["Subject"]
    body = msg.get_content()
    assert "paid social" in body.lower() and "Driver: channel" in body
    assert "2026" in body
    payload = received[0]
    assert set(payload) == {"text", "blocks"} and "paid social" in payload["text"].lower()
    assert payload["blocks"][0]["type"] == "header"
    (episode,) = _episodes(state_url)
    assert episode.started_on == dt.date(2026, 11, 15) and episode.delivered_at is not None
    # idempotent: the same run again, and a run on the episode's first day, deliver nothing
    assert _run(warehouse, state_url, "--now", AFTER_SPIKE) == 0
    assert _run(warehouse, state_url, "--now", "2026-11-16T06:00") == 0
    assert len(smtp.messages) == 1 and len(received) == 1
    assert len(_episodes(state_url)) == 1
    assert "already delivered" in capsys.readouterr().out


def test_a_quiet_day_fires_nothing(warehouse: str, sqlite_url: str, smtp: _Inbox) -> None:
    _rule(sqlite_url, ["cmo@example.com"])
    assert _run(warehouse, sqlite_url, "--now", "2026-11-25T06:00") == 0
    assert smtp.messages == [] and _episodes(sqlite_url) == []


def test_unreachable_smtp_is_a_clear_error_and_the_episode_stays_undelivered(
    warehouse: str, sqlite_url: str, smtp: _Inbox, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    _rule(sqlite_url, ["cmo@example.com"])
    good_port = delivery.SmtpSettings.load().port
    monkeypatch.setenv("LOOPLENS_SMTP_PORT", str(_free_port()))  # nobody listens there
    assert _run(warehouse, sqlite_url, "--now", AFTER_SPIKE) == 1
    err = capsys.readouterr().err
    assert "cannot send through SMTP server 127.0.0.1" in err and "Traceback" not in err
    (episode,) = _episodes(sqlite_url)
    assert episode.delivered_at is None and "SMTP" in (episode.last_error or "")
    # the next run, with the server reachable, delivers it (once)
    monkeypatch.setenv("LOOPLENS_SMTP_PORT", str(good_port))
    assert _run(warehouse, sqlite_url, "--now", AFTER_SPIKE) == 0
    assert len(smtp.messages) == 1
    assert _episodes(sqlite_url)[0].delivered_at is not None


def test_dry_run_sends_and_stores_nothing(
    warehouse: str, sqlite_url: str, smtp: _Inbox, capsys
) -> None:
    _rule(sqlite_url, ["cmo@example.com"])
    assert _run(warehouse, sqlite_url, "--now", AFTER_SPIKE, "--dry-run") == 0
    assert "would fire" in capsys.readouterr().out
    assert smtp.messages == [] and _episodes(sqlite_url) == []


def test_change_and_target_conditions(
    warehouse: str, sqlite_url: str, webhook, smtp: _Inbox
) -> None:
    hook_url, received = webhook
    _rule(sqlite_url, [hook_url], name="jump", condition="change_pct", threshold=0.5)
    store = open_store(sqlite_url)
    record_target(store, kpi="paid_spend", value=1000.0, direction="lower",
                  deadline=dt.date(2026, 12, 31), owner="CFO", changed_by="ana",
                  set_on=dt.date(2026, 11, 1))  # fmt: skip
    store.close()
    _rule(sqlite_url, [hook_url], name="budget", condition="crosses_target")
    # evaluating 2026-11-15: spend tripled vs the day before, and is above the 1,000 target
    assert _run(warehouse, sqlite_url, "--now", "2026-11-16T06:00") == 0
    texts = sorted(p["text"] for p in received)
    assert len(texts) == 2
    assert any("changed sharply" in t for t in texts)
    assert any("misses its target" in t and "CFO" in t for t in texts)


def test_bad_warehouse_or_store_is_a_message_not_a_traceback(
    sqlite_url: str, tmp_path: Path, capsys
) -> None:
    _rule(sqlite_url, ["cmo@example.com"])
    assert _run("postgresql+psycopg://nobody@127.0.0.1:1/nope", sqlite_url, "--now",
                AFTER_SPIKE) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "error: cannot read the warehouse" in err and "Traceback" not in err
    # a missing warehouse file is reported even before any rule is evaluated
    assert _run(str(tmp_path / "missing.duckdb"), sqlite_url) == 2
    assert "cannot read the warehouse" in capsys.readouterr().err
    assert _run(str(tmp_path / "w.duckdb"), "nosuchdb://x", "--now", AFTER_SPIKE) == 2
    assert "app-state" in capsys.readouterr().err
    assert main(["alerts", "run", "--now", "yesterday-ish"]) == 2
    assert "--now must be an ISO" in capsys.readouterr().err


def test_rules_validate_recipients(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    with pytest.raises(store_alerts.AlertRuleError) as err:
        store_alerts.save_rule(store, name="x", kpi="cac", condition="change_pct",
                               recipients=["not-an-address", "ftp://host/x"],
                               created_by="ana")  # fmt: skip
    assert len(err.value.issues) == 3  # threshold missing, two bad recipients
    store.close()


def test_webhook_errors_are_clear(webhook) -> None:
    with pytest.raises(delivery.DeliveryError, match="cannot reach webhook"):
        delivery.post_webhook(f"http://127.0.0.1:{_free_port()}/x?token=hide", {"text": "t"})
    with pytest.raises(delivery.DeliveryError) as err:
        delivery.post_webhook("http://127.0.0.1:1/x?token=hide", {"text": "t"}, timeout_s=2)
    assert "hide" not in str(err.value)


def test_smtp_settings_from_secrets_then_environment(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[smtp]\nhost = "mail.internal"\nport = 2525\nuser = "ll"\n'
                       'password = "pw"\nstarttls = false\n')  # fmt: skip
    env = {"LOOPLENS_SMTP_HOST": "ignored", "LOOPLENS_SMTP_FROM": "alerts@example.com"}
    s = delivery.SmtpSettings.load(secrets, env)
    assert (s.host, s.port, s.user, s.password, s.sender, s.starttls) == (
        "mail.internal", 2525, "ll", "pw", "alerts@example.com", False
    )  # fmt: skip
    assert "pw" not in repr(s)
    with pytest.raises(delivery.DeliveryError, match="no SMTP server configured"):
        delivery.SmtpSettings.load(tmp_path / "none.toml", {})
    with pytest.raises(delivery.DeliveryError, match="port must be a number"):
        bad = {"LOOPLENS_SMTP_HOST": "h", "LOOPLENS_SMTP_PORT": "x"}
        delivery.SmtpSettings.load(tmp_path / "none.toml", bad)


def test_send_message_keeps_the_summary_signature(smtp: _Inbox) -> None:
    msg = email.message.EmailMessage()
    msg["Subject"] = "Weekly summary"
    msg["To"] = "ceo@example.com"
    msg.set_content("hello")
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="s.pdf")
    delivery.send_message(delivery.SmtpSettings.load(), msg)
    (got,) = smtp.messages
    assert got["Subject"] == "Weekly summary" and got["From"] == "alerts@looplens.test"
    assert [p.get_filename() for p in got.iter_attachments()] == ["s.pdf"]
