"""Alerts on the night's new findings: a JSON webhook and an e-mail.

The nightly job calls `send_alerts` after `status.record`, with `status.new_findings`. A delivery that fails
is logged and returned, never raised: a mail server that is down must not fail the night's crawl.
"""

from __future__ import annotations

import http.client
import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage

from checks import ERROR, RULES, Finding
from nianbao.status import Entry, entries_html, esc, html_page, http_url, ordered

log = logging.getLogger("nianbao.alerts")


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go. No webhook URL: no webhook; no SMTP host: no e-mail."""

    webhook_url: str | None = None
    webhook_timeout: float = 10.0  # seconds, per attempt
    webhook_retry_delay: float = 5.0  # seconds before the one retry
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None
    smtp_to: tuple[str, ...] = ()
    smtp_timeout: float = 30.0

    def __post_init__(self) -> None:
        # A wrong setting is found when the settings are read, not at night when an alert is due.
        if self.webhook_url is not None and http_url(self.webhook_url) is None:
            raise ValueError(f"webhook_url {self.webhook_url!r} is not an http(s) URL")
        if self.smtp_host and not (self.smtp_from and self.smtp_to):
            raise ValueError("e-mail alerts need smtp_from and at least one address in smtp_to")
        if self.smtp_user and self.smtp_password is None:
            raise ValueError("smtp_user is set without smtp_password")


@dataclass(frozen=True)
class DeliveryFailure:
    channel: str  # "webhook" or "email"
    target: str  # the webhook URL or the SMTP server
    error: str


def _entries(findings: Sequence[Finding]) -> list[Entry]:
    return ordered(Entry(f, "new") for f in findings)


def subject_line(findings: Sequence[Finding], as_of: date) -> str:
    errors = sum(f.severity == ERROR for f in findings)
    return f"nianbao 年报监测 {as_of.isoformat()}：{len(findings)}条新发现（{errors}个错误） {len(findings)} new findings"


def webhook_body(findings: Sequence[Finding], as_of: date) -> bytes:
    data = {
        "source": "nianbao",
        "as_of": as_of.isoformat(),
        "new_findings": len(findings),
        "errors": sum(f.severity == ERROR for f in findings),
        "findings": [e.to_json() for e in _entries(findings)],
    }
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def post_webhook(settings: AlertSettings, body: bytes) -> str | None:
    """POST the body, once more after a pause if that fails; None when delivered, else the last error."""
    assert settings.webhook_url is not None
    error = ""
    for attempt in range(2):
        if attempt:
            time.sleep(settings.webhook_retry_delay)
        request = urllib.request.Request(
            settings.webhook_url,
            data=body,
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "nianbao-alerts"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.webhook_timeout) as response:
                response.read()
            return None
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code} {exc.reason}"
        except (OSError, http.client.HTTPException) as exc:  # refused, unresolvable, timed out, reset, garbled
            error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        log.warning("alert webhook %s: attempt %d failed: %s", settings.webhook_url, attempt + 1, error)
    return error


def text_body(findings: Sequence[Finding], as_of: date) -> str:
    lines = [subject_line(findings, as_of), ""]
    for e in _entries(findings):
        f = e.finding
        year = f" {f.year}年度" if f.year else ""
        lines += [f"[{f.severity}] {f.rule} {RULES[f.rule].title_zh} — {f.unit_name}{year} ({f.unit})", f"  {f.message_zh}",
                  f"  {f.message_en}"]
        if f.source_url:
            lines.append(f"  {f.source_url}")
        lines.append("")
    return "\n".join(lines)


def email_message(settings: AlertSettings, findings: Sequence[Finding], as_of: date) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject_line(findings, as_of)
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(settings.smtp_to)
    message.set_content(text_body(findings, as_of))
    title = subject_line(findings, as_of)
    message.add_alternative(html_page(title, f"<h1>{esc(title)}</h1>{entries_html(_entries(findings))}"), subtype="html")
    return message


def send_email(settings: AlertSettings, message: EmailMessage) -> str | None:
    """Deliver through the SMTP server; None when it accepted the message, else the error."""
    assert settings.smtp_host is not None
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.warning("alert e-mail via %s:%d failed: %s", settings.smtp_host, settings.smtp_port, error)
        return error
    return None


def send_alerts(settings: AlertSettings, findings: Sequence[Finding], *, as_of: date) -> list[DeliveryFailure]:
    """Announce `findings` (the night's new ones) on every configured channel; nothing when there are none.
    Returns the deliveries that failed."""
    if not findings:
        return []
    failures = []
    if settings.webhook_url:
        error = post_webhook(settings, webhook_body(findings, as_of))
        if error is not None:
            failures.append(DeliveryFailure("webhook", settings.webhook_url, error))
    if settings.smtp_host:
        error = send_email(settings, email_message(settings, findings, as_of))
        if error is not None:
            failures.append(DeliveryFailure("email", f"{settings.smtp_host}:{settings.smtp_port}", error))
    if not failures:
        log.info("alerts sent: %d new findings", len(findings))
    return failures
