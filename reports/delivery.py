"""Delivery of reports: e-mail over SMTP and Slack-compatible webhooks (standard library only).

SMTP settings come from ``[smtp]`` in ``.streamlit/secrets.toml`` (keys ``host``, ``port``,
``user``, ``password``, ``from``, ``starttls``) or, for keys missing there, from the
environment variables ``LOOPLENS_SMTP_HOST``, ``_PORT``, ``_USER``, ``_PASSWORD``, ``_FROM``,
``_STARTTLS``. Every failure raises :class:`DeliveryError` with a message fit to print (no
password, no traceback).
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import tomllib
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

from data.warehouse import SECRETS_PATH

ENV_PREFIX = "LOOPLENS_SMTP_"
SMTP_TIMEOUT_S = 15.0


class DeliveryError(RuntimeError):
    """A message or webhook could not be delivered; the message says where and why."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send e-mail. ``password`` is never shown (``repr`` hides it)."""

    host: str
    port: int = 587
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "looplens@localhost"
    starttls: bool = True

    @classmethod
    def load(
        cls, secrets_path: Path | None = None, env: Mapping[str, str] | None = None
    ) -> SmtpSettings:
        """Read ``[smtp]`` from the secrets file, then ``LOOPLENS_SMTP_*``; raise
        :class:`DeliveryError` when no host is configured or a value is malformed."""
        env = os.environ if env is None else env
        path = SECRETS_PATH if secrets_path is None else secrets_path
        table: dict[str, object] = {}
        if path.exists():
            try:
                with path.open("rb") as fh:
                    table = dict(tomllib.load(fh).get("smtp", {}))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise DeliveryError(f"cannot read [smtp] from {path}: {exc}") from None

        def get(key: str) -> str | None:
            value = table.get(key)
            if value is None:
                value = env.get(ENV_PREFIX + key.upper())
            return None if value is None or str(value).strip() == "" else str(value).strip()

        host = get("host")
        if host is None:
            raise DeliveryError(
                "no SMTP server configured: set host (and port, user, password, from) under "
                f"[smtp] in {path} or {ENV_PREFIX}HOST etc. in the environment"
            )
        try:
            port = int(get("port") or 587)
        except ValueError:
            raise DeliveryError(f"the SMTP port must be a number, got {get('port')!r}") from None
        if not 0 < port < 65536:
            raise DeliveryError(f"the SMTP port must be 1–65535, got {port}")
        tls = (get("starttls") or "true").lower()
        if tls not in ("true", "false", "1", "0", "yes", "no"):
            raise DeliveryError(f"starttls must be true or false, got {tls!r}")
        return cls(
            host=host,
            port=port,
            user=get("user"),
            password=get("password"),
            sender=get("from") or "looplens@localhost",
            starttls=tls in ("true", "1", "yes"),
        )


def send_message(settings: SmtpSettings, message: EmailMessage) -> None:
    """Send ``message`` (its ``From`` defaults to ``settings.sender``) through the server.

    STARTTLS when ``settings.starttls`` (the server must offer it); login when a user is set.
    Raises :class:`DeliveryError` on any failure (unreachable, refused, authentication).
    """
    if "From" not in message:
        message["From"] = settings.sender
    where = f"SMTP server {settings.host}:{settings.port}"
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT_S) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            refused = smtp.send_message(message)
    except smtplib.SMTPAuthenticationError:
        raise DeliveryError(f"{where} refused the login for {settings.user!r}") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(f"{where}: {exc} (set starttls = false for a plain server)") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"{where} refused every recipient: {sorted(exc.recipients)}") from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        reason = str(exc).strip() or type(exc).__name__
        raise DeliveryError(f"cannot send through {where}: {reason}") from None
    if refused:
        raise DeliveryError(f"{where} refused some recipients: {sorted(refused)}")


def post_webhook(url: str, payload: dict, timeout_s: float = 10.0) -> None:
    """POST ``payload`` as JSON to ``url`` (Slack-compatible: ``{"text", "blocks"}``).

    Raises :class:`DeliveryError` unless the server answers 2xx. The URL's query (often a
    token) is not shown in errors.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryError("a webhook URL must be http(s)://host/...")
    shown = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"
    body = json.dumps(payload, allow_nan=False).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"webhook {shown} answered HTTP {exc.code}") from None
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"cannot reach webhook {shown}: {reason}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"webhook {shown} answered HTTP {status}")


def slack_payload(title: str, lines: list[str]) -> dict:
    """A Slack-compatible payload: ``text`` (fallback) and a header + section ``blocks``."""
    text = title + "\n" + "\n".join(lines)
    return {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}},
        ],
    }
