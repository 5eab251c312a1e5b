"""E-mail target (sellerguard/alerts/email.py) against real SMTP servers on loopback (aiosmtpd).

One module-scoped CA (trustme) and three servers: STARTTLS with AUTH, implicit TLS, and one that refuses; a port
with nothing listening is the server that is down. The lifecycle (dedup, outbox, quiet hours, digest) is the
pipeline's and is exercised through ``process_report`` / ``flush``, as for Slack.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import warnings
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from alert_builders import account, at, metric, report
from pg import store_on
from sqlmodel import Session, select

from sellerguard.alerts import email, outbox
from sellerguard.alerts.pipeline import enqueue_digests, process_report
from sellerguard.alerts.tables import OutboxRow
from sellerguard.clock import FixedClock
from sellerguard.config import Config, parse_config

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
trustme = pytest.importorskip("trustme")
from aiosmtpd.smtp import AuthResult  # noqa: E402

# aiosmtpd warns per connection (in its server thread) when AUTH is required without STARTTLS; the implicit-TLS
# server is TLS from the first byte, so the warning does not apply there
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

PASSWORD = "smtp-pass-7f3k9q"
USER = "alerts@example.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps what it accepts; ``refuse`` makes RCPT answer with that reply."""

    def __init__(self) -> None:
        self.mails: list[Any] = []
        self.refuse: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.mails.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


def _auth(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[Any, Path]:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca.issue_cert("127.0.0.1"), path


def server_context(cert: Any) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


@pytest.fixture(scope="module")
def servers(tls) -> Iterator[dict[str, Any]]:
    starttls, implicit = Inbox(), Inbox()
    c1 = aiosmtpd_controller.Controller(starttls, hostname="127.0.0.1", port=free_port(),
                                       tls_context=server_context(tls[0]),
                                       require_starttls=True, authenticator=_auth, auth_required=True)
    # implicit TLS: the whole connection is TLS, aiosmtpd only counts STARTTLS, hence auth_require_tls=False
    c2 = aiosmtpd_controller.Controller(implicit, hostname="127.0.0.1", port=free_port(),
                                       ssl_context=server_context(tls[0]),
                                       authenticator=_auth, auth_required=True, auth_require_tls=False)
    c1.start()
    with warnings.catch_warnings():  # "Requiring AUTH while not requiring TLS": it is TLS from the first byte
        warnings.simplefilter("ignore", UserWarning)
        c2.start()
    try:
        yield {"starttls": (starttls, c1.port), "tls": (implicit, c2.port)}
    finally:
        c1.stop()
        c2.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    """SQLite only: the outbox and alert state are exercised on PostgreSQL by test_outbox / test_lifecycle; what
    is new here is the SMTP side."""
    yield from store_on("sqlite", tmp_path, "sg_email")


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_SMTP_PASSWORD", PASSWORD)


def mail_config(port: int, ca: Path, *, security: str = "starttls", **target: Any) -> Config:
    smtp = {"host": "127.0.0.1", "port": port, "security": security, "username": USER,
            "password": "env:SG_TEST_SMTP_PASSWORD", "ca_file": str(ca)}
    return parse_config({
        "accounts": [{"id": "acme-us", "marketplace": "amazon", "sync_every": "30m"}],
        "daemon": {"repeat_interval": "24h", "digest_at": "09:00"},
        "notify": [{"name": "mail", "type": "email", "sender": "sellerguard <alerts@example.com>",
                    "to": ["ops@example.com", "owner@example.com"], "smtp": smtp, **target}],
    }, where="test")


HOSTILE = "<script>alert(1)</script> *bold* `x` @channel http://evil.example/a?b=1&c=2\nSubject: hi"


def firing(now):
    bad = metric("amazon.listing_policy_violations", "critical", 2.0, name="Listing policy violations",
                 numerator=2, denominator=None, threshold=0, warn=None, comparator="<=",
                 reason=f"the marketplace says BAD ({HOSTILE})")
    return report(now, account("acme-us", bad))


def deliver(store, config, now) -> outbox.FlushResult:
    clock = FixedClock(now)
    return outbox.flush(store, config, clock=clock, sleep=clock.sleep)


def test_starttls_with_auth_delivers_plain_text_and_html_once(store, servers, tls, caplog):
    inbox, port = servers["starttls"]
    inbox.mails.clear()
    config = mail_config(port, tls[1])
    caplog.set_level(logging.DEBUG)
    process_report(store, config, firing(at(0)), now=at(0))
    assert deliver(store, config, at(0)).sent == 1
    (mail,) = inbox.mails
    assert mail["Subject"].startswith("sellerguard CRITICAL: acme-us (amazon)")
    assert mail["From"] == "sellerguard <alerts@example.com>" and "owner@example.com" in mail["To"]
    assert mail["Auto-Submitted"] == "auto-generated" and mail["Message-ID"].endswith("@sellerguard.invalid>")
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Listing policy violations" in text and "amazon.listing_policy_violations" in text
    assert "Listing policy violations" in html
    # buyer / marketplace text is inert: no markup of its own, no link, no broadcast, one line
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "http://evil" not in html and "http://evil" not in text
    assert "\nSubject: hi" not in text
    assert 'href="https://sellercentral.amazon.com' in html  # our own link stays a link
    # the same evaluation again: deduplicated, nothing new queued or sent
    process_report(store, config, firing(at(1)), now=at(1))
    assert deliver(store, config, at(1)).sent == 0 and len(inbox.mails) == 1
    assert PASSWORD not in caplog.text


def test_implicit_tls_delivers_and_the_digest_is_an_email(store, servers, tls):
    inbox, port = servers["tls"]
    inbox.mails.clear()
    config = mail_config(port, tls[1], security="tls")
    assert enqueue_digests(store, config, firing(at(-2.5)), now=at(-2.5)) == ["mail"]  # 09:30 UTC
    assert deliver(store, config, at(-2.5)).sent == 1
    (mail,) = inbox.mails
    assert mail["Subject"].startswith("sellerguard daily digest") and mail["X-Sellerguard-Event"] == "digest"
    assert "acme-us" in mail.get_body(("plain",)).get_content()


def test_quiet_hours_hold_a_warning_and_critical_news_goes_at_once(store, servers, tls):
    inbox, port = servers["starttls"]
    inbox.mails.clear()
    config = mail_config(port, tls[1], quiet_hours="11:00-13:00")
    warn = report(at(0), account("acme-us", metric(level="warn", value=0.008)))
    process_report(store, config, warn, now=at(0))
    assert deliver(store, config, at(0)).sent == 0
    process_report(store, config, firing(at(0.5)), now=at(0.5))
    assert deliver(store, config, at(0.5)).sent == 1


def test_a_refusing_server_fails_for_good_and_a_wrong_password_too(servers, tls, monkeypatch):
    inbox, port = servers["starttls"]
    config = mail_config(port, tls[1])
    inbox.refuse = "550 5.1.1 mailbox unavailable"
    try:
        body = email.render_test("mail", at(0))
        result = email.send(config.notify[0], body, "test", "k1", at(0), timeout=5)
        assert (result.status, result.http_status) == ("failed", 550)
        assert "every recipient refused" in result.error
        inbox.refuse = "451 4.3.0 try later"
        assert email.send(config.notify[0], body, "test", "k2", at(0), timeout=5).status == "retry"
    finally:
        inbox.refuse = None
    monkeypatch.setenv("SG_TEST_SMTP_PASSWORD", "wrong-password")
    result = email.send(config.notify[0], body, "test", "k3", at(0), timeout=5)
    assert (result.status, result.http_status) == ("failed", 535) and "login refused" in result.error
    assert "wrong-password" not in result.error


def test_a_server_that_is_down_pauses_the_target_and_it_drains_when_up(store, servers, tls):
    inbox, port = servers["starttls"]
    inbox.mails.clear()
    down = mail_config(free_port(), tls[1])
    process_report(store, down, firing(at(0)), now=at(0))
    r = deliver(store, down, at(0))
    assert (r.sent, r.retried, r.paused) == (0, 1, {"mail"})
    with Session(store.engine) as s:
        (row,) = s.exec(select(OutboxRow)).all()
        assert row.status == "pending" and "network error (ConnectionRefusedError)" in row.last_error
    up = mail_config(port, tls[1])  # the server is back (same target name, same queue)
    assert deliver(store, up, at(0) + timedelta(seconds=5)).sent == 0  # still backing off (15 s)
    assert deliver(store, up, at(0) + timedelta(seconds=20)).sent == 1
    assert len(inbox.mails) == 1


def test_an_untrusted_certificate_is_not_sent_to(servers, tls, tmp_path):
    _, port = servers["starttls"]
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    result = email.send(mail_config(port, other).notify[0], email.render_test("mail", at(0)), "test", "k", at(0),
                        timeout=5)
    assert result.status == "retry" and "certificate not trusted" in result.error


def test_the_body_is_json_with_subject_text_and_html():
    data = json.loads(email.render_test("mail", at(0)))
    assert set(data) == {"subject", "text", "html"} and "\n" not in data["subject"]
    assert data["html"].startswith("<!DOCTYPE html>")


def test_the_demo_alerts_reach_a_loopback_smtp_server(tmp_path, servers, tls):
    """End to end: the demo's drifting Amazon seller in the sandbox, the real connector, one daemon cycle (sync,
    evaluate, queue, deliver) and the e-mail at a real SMTP server with STARTTLS and AUTH."""
    from sellerguard.daemon import Daemon
    from sellerguard.demo import demo_config
    from sellerguard.sandbox import Sandbox, World
    from sellerguard.sandbox.world import DEFAULT_ACCOUNTS
    from sellerguard.store import Store

    inbox, port = servers["starttls"]
    inbox.mails.clear()
    clock = FixedClock(at(0))
    amazon_us = next(a for a in DEFAULT_ACCOUNTS if a[0] == "amazon-us")  # the demo's drifting seller
    with Sandbox(World(at(0), scale=0.1, accounts=[amazon_us]), clock=clock) as box:
        config = demo_config(box).model_copy(update={"notify": mail_config(port, tls[1]).notify})
        store = Store(f"sqlite:///{tmp_path / 'demo.db'}")
        Daemon(config, store, clock=clock, sleep=clock.sleep).cycle()
    assert inbox.mails, "the demo's alerts should have been e-mailed"
    text = "\n".join(m.get_body(("plain",)).get_content() for m in inbox.mails)
    html = "\n".join(m.get_body(("html",)).get_content() for m in inbox.mails)
    for signal in ("amazon.listing_policy_violations", "amazon.account_status"):
        assert signal in text and signal in html  # a policy violation and Amazon's own account warning
    with Session(store.engine) as s:
        assert {r.status for r in s.exec(select(OutboxRow)).all()} == {"sent"}


def test_notify_test_sends_the_sample_to_an_email_target(servers, tls):
    import requests

    inbox, port = servers["starttls"]
    inbox.mails.clear()
    [(target, result)] = outbox.send_test(mail_config(port, tls[1]), requests.Session(), at(0))
    assert (target.name, result.status) == ("mail", "sent")
    assert inbox.mails[-1]["Subject"] == "sellerguard test notification to mail"
