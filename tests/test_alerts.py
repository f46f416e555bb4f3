"""Alerts against real receivers on 127.0.0.1: an HTTP server taking the webhook's POST, and a small SMTP server."""

from __future__ import annotations

import base64
import email
import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_status import AS_OF, BROKEN, DOWN, UNITS, broken_report, fill

from checks import Finding, check_report
from nianbao.alerts import AlertSettings, DeliveryFailure, send_alerts
from nianbao.config import load
from nianbao.status import evaluate, new_findings, record
from scheduler import check_and_report
from storage import Store


@dataclass
class Webhook:
    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    fail_first: int = 0  # answer 500 to this many requests first
    delay: float = 0.0  # seconds before answering


@contextmanager
def webhook_receiver(**behaviour: Any) -> Iterator[Webhook]:
    hook = Webhook("", **behaviour)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(hook.delay)
            if hook.fail_first:
                hook.fail_first -= 1
                self.send_response(500)
            else:
                assert self.headers["Content-Type"].startswith("application/json")
                hook.bodies.append(json.loads(body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/nianbao"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    port: int = 0
    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)  # (from, to, message)
    logins: list[tuple[str, str]] = field(default_factory=list)


@contextmanager
def smtp_receiver() -> Iterator[Mailbox]:
    """Just enough of RFC 5321 for smtplib: EHLO, AUTH PLAIN, MAIL, RCPT, DATA (dot-unstuffed), RSET, QUIT."""
    box = Mailbox()

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, *lines: str) -> None:
            self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())

        def handle(self) -> None:
            self.reply("220 127.0.0.1 test SMTP")
            sender, recipients = "", []
            while line := self.rfile.readline().decode().rstrip("\r\n"):
                verb, _, arg = line.partition(" ")
                verb = verb.upper()
                if verb in ("EHLO", "HELO"):
                    self.reply("250-127.0.0.1", "250-AUTH PLAIN", "250 8BITMIME")
                elif verb == "AUTH":
                    _, user, password = base64.b64decode(arg.split()[1]).decode().split("\0")
                    box.logins.append((user, password))
                    self.reply("235 2.7.0 accepted")
                elif verb == "MAIL":
                    sender, recipients = arg.split(":", 1)[1].split()[0].strip("<>"), []
                    self.reply("250 ok")
                elif verb == "RCPT":
                    recipients.append(arg.split(":", 1)[1].strip().strip("<>"))
                    self.reply("250 ok")
                elif verb == "DATA":
                    self.reply("354 go on")
                    data = b""
                    while (chunk := self.rfile.readline()) != b".\r\n":
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    message = email.message_from_bytes(data, _class=EmailMessage, policy=email.policy.default)
                    box.messages.append((sender, recipients, message))
                    self.reply("250 queued")
                elif verb in ("RSET", "NOOP"):
                    self.reply("250 ok")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("502 not implemented")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    box.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()


def settings(hook: Webhook | None = None, box: Mailbox | None = None, **more: Any) -> AlertSettings:
    mail = {}
    if box is not None:
        mail = {"smtp_host": "127.0.0.1", "smtp_port": box.port, "smtp_starttls": False, "smtp_from": "nianbao@example.org",
                "smtp_to": ("office@example.org", "desk@example.org")}
    return AlertSettings(webhook_url=hook.url if hook else None, webhook_retry_delay=0, **mail, **more)


def broken_finding() -> Finding:
    """One real finding: an H1 of a report whose section 三 does not balance."""
    return check_report(broken_report())[0]


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nightly(store: Store, night: str, config: AlertSettings, *, down: bool = True) -> tuple[list[Finding], list[DeliveryFailure]]:
    """What the nightly job does after its crawl: evaluate, record, announce what is new."""
    run = store.start_run(night)
    if down:
        store.record_error(run, "connection", "connection refused", unit_id=DOWN, url=UNITS[DOWN].portal_url)
    store.finish_run(run)
    findings = evaluate(store, as_of=AS_OF, years=[2020])
    record(store, run, findings)
    new = new_findings(store, run, findings)
    return new, send_alerts(config, new, as_of=AS_OF)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "a.db", tmp_path / "files") as store:
        fill(store)
        yield store


def test_exactly_the_new_findings_are_sent(db: Store) -> None:
    with webhook_receiver() as hook, smtp_receiver() as box:
        config = settings(hook, box, smtp_user="alerts", smtp_password="s3cret")
        new, failures = nightly(db, "2021-06-01", config)
        assert failures == [] and len(new) == 7
        assert [b["new_findings"] for b in hook.bodies] == [7]
        assert sorted(f["fingerprint"] for f in hook.bodies[0]["findings"]) == sorted(f.fingerprint for f in new)
        assert hook.bodies[0]["as_of"] == "2021-06-01" and hook.bodies[0]["errors"] == 5
        h1 = next(f for f in hook.bodies[0]["findings"] if f["rule"] == "H1")
        assert h1["unit_name"] == "石门乡人民政府" and h1["status"] == "new" and h1["section"] == "inconsistent"

        # The next night a unit the registry just gained has no report: the one new finding, alone.
        db.upsert_units([replace(UNITS[BROKEN], unit_id="360732105000", division_code="360732105000", name="高兴镇人民政府")])
        new, failures = nightly(db, "2021-06-02", config)
        assert failures == [] and [(f.rule, f.unit) for f in new] == [("not_published", "360732105000")]
        assert [[f["unit"] for f in b["findings"]] for b in hook.bodies[1:]] == [["360732105000"]]

        # A night with nothing new sends nothing.
        new, failures = nightly(db, "2021-06-03", config)
        assert new == [] and failures == []
        assert len(hook.bodies) == 2 and len(box.messages) == 2

    assert box.logins == [("alerts", "s3cret"), ("alerts", "s3cret")]
    sender, recipients, message = box.messages[1]
    assert sender == "nianbao@example.org" and recipients == ["office@example.org", "desk@example.org"]
    assert "1条新发现" in message["Subject"] and "2021-06-01" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    assert "[error] not_published 未按时发布年报 — 高兴镇人民政府 2020年度 (360732105000)" in text
    assert "石门乡" not in text  # only the new finding
    page = message.get_body(("html",)).get_content()
    assert page.count('<li class="finding') == 1 and "高兴镇人民政府" in page
    first = box.messages[0][2].get_body(("plain",)).get_content()
    assert first.count("\n[error]") + first.count("\n[warning]") == 7


def test_report_text_is_escaped_in_the_mail(db: Store) -> None:
    db.upsert_units([replace(UNITS[DOWN], name="<script>alert(1)</script>县")])
    with smtp_receiver() as box:
        _, failures = nightly(db, "2021-06-01", settings(None, box))
    assert failures == []
    page = box.messages[0][2].get_body(("html",)).get_content()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;县" in page


def test_nothing_is_sent_without_new_findings() -> None:
    with webhook_receiver() as hook, smtp_receiver() as box:
        assert send_alerts(settings(hook, box), [], as_of=AS_OF) == []
        assert hook.bodies == [] and box.messages == []


def test_a_dead_webhook_is_reported_not_raised(db: Store, caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{dead_port()}/hook"
    with smtp_receiver() as box:
        config = AlertSettings(webhook_url=url, webhook_retry_delay=0, smtp_host="127.0.0.1", smtp_port=box.port,
                               smtp_starttls=False, smtp_from="nianbao@example.org", smtp_to=("office@example.org",))
        new, failures = nightly(db, "2021-06-01", config)
    assert len(new) == 7
    assert [(f.channel, f.target) for f in failures] == [("webhook", url)]
    assert "Connection refused" in failures[0].error or "ConnectionRefused" in failures[0].error
    assert len(box.messages) == 1  # the other channel still delivers
    assert sum("attempt" in r.message for r in caplog.records) == 2  # tried, and retried once


def test_a_dead_mail_server_is_reported_not_raised() -> None:
    finding = broken_finding()
    config = AlertSettings(smtp_host="127.0.0.1", smtp_port=dead_port(), smtp_starttls=False, smtp_from="a@example.org",
                           smtp_to=("b@example.org",), smtp_timeout=2)
    failures = send_alerts(config, [finding], as_of=AS_OF)
    assert [f.channel for f in failures] == ["email"]


def test_the_webhook_is_retried_once() -> None:
    finding = broken_finding()
    with webhook_receiver(fail_first=1) as hook:
        assert send_alerts(settings(hook), [finding], as_of=AS_OF) == []
        assert len(hook.bodies) == 1
    with webhook_receiver(fail_first=2) as hook:
        failures = send_alerts(settings(hook), [finding], as_of=AS_OF)
        assert [(f.channel, f.error) for f in failures] == [("webhook", "HTTP 500 Internal Server Error")]
        assert hook.bodies == []


def test_a_slow_webhook_times_out() -> None:
    with webhook_receiver(delay=1.5) as hook:
        started = time.monotonic()
        failures = send_alerts(settings(hook, webhook_timeout=0.3), [broken_finding()], as_of=AS_OF)
        assert [f.channel for f in failures] == ["webhook"] and "timed out" in failures[0].error
        assert time.monotonic() - started < 1.4  # two attempts of 0.3 s, not the receiver's 1.5 s each


def test_settings_are_checked_when_read() -> None:
    with pytest.raises(ValueError, match="http"):
        AlertSettings(webhook_url="file:///etc/passwd")
    with pytest.raises(ValueError, match="smtp_to"):
        AlertSettings(smtp_host="mail.example.org", smtp_from="a@example.org")


def test_date_in_subject() -> None:
    with smtp_receiver() as box:
        send_alerts(settings(None, box), [broken_finding()], as_of=date(2025, 2, 20))
    assert box.messages[0][2]["Subject"].startswith("nianbao 年报监测 2025-02-20：1条新发现（1个错误）")


def test_the_nights_line_says_how_many_alerts_were_not_delivered(db: Store, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("nianbao.alerts.time.sleep", lambda seconds: None)  # the retry's pause
    flags = {"alerts.webhook_url": f"http://127.0.0.1:{dead_port()}/hook", "status.today": AS_OF.isoformat(),
             "status.html": tmp_path / "status.html", "status.json": tmp_path / "status.json"}
    config = load(environ={}).with_flags(flags)
    run = db.start_run(AS_OF.isoformat())
    db.finish_run(run)
    _, line = check_and_report(config, db, run)
    assert line == f"12 findings (12 new, 0 resolved); 1 alert not delivered; status in {tmp_path / 'status.html'}"
    config = load(environ={}).with_flags({**flags, "alerts.webhook_url": None})
    _, line = check_and_report(config, db, db.start_run(AS_OF.isoformat()))
    assert line == f"12 findings (0 new, 0 resolved); status in {tmp_path / 'status.html'}"
