"""Hostile or mistaken e-mail setups (sellerguard/alerts/email.py, config.TargetConfig): an address list hidden in
one address, a server that never speaks, and one that drips its greeting to hold the sender past the outbox claim.

Plain sockets on loopback, no SMTP server library; each test is well under a second of CPU.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from sellerguard.alerts import email, outbox
from sellerguard.config import parse_config
from sellerguard.errors import ConfigError

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def config(port: int = 25, *, sender: str = "sg <alerts@example.com>", to: list[str] | None = None):
    return parse_config({
        "accounts": [{"id": "acme-us", "marketplace": "amazon"}],
        "notify": [{"name": "mail", "type": "email", "sender": sender, "to": to or ["ops@example.com"],
                    "smtp": {"host": "127.0.0.1", "port": port, "security": "none"}}],
    }, where="test")


@pytest.mark.parametrize("bad", ["a@example.com, b@example.org", "a@example.com <b@example.org>",
                                 "a@example.com;b@example.org"])
@pytest.mark.parametrize("field", ["to", "sender"])
def test_one_address_field_cannot_carry_a_second_recipient(field, bad):
    kwargs = {"to": [bad]} if field == "to" else {"sender": bad}
    with pytest.raises(ConfigError, match="not one e-mail address"):
        config(**kwargs)


def test_display_names_with_commas_are_still_one_address():
    target = config(sender='"Shop, EU" <alerts@example.com>', to=["Ops <ops@example.com>"]).notify[0]
    assert target.sender == '"Shop, EU" <alerts@example.com>'


@pytest.fixture
def server() -> Iterator[Callable[[Callable[[socket.socket], None]], int]]:
    """``start(behaviour)`` -> port of a one-connection loopback server running ``behaviour(conn)``."""
    done = threading.Event()
    threads: list[threading.Thread] = []

    def start(behaviour: Callable[[socket.socket], None]) -> int:
        listener = socket.create_server(("127.0.0.1", 0))

        def run() -> None:
            with listener:
                conn, _ = listener.accept()
                with conn:
                    with contextlib.suppress(OSError):  # the client hung up
                        behaviour(conn)
                    done.wait(5)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        return listener.getsockname()[1]

    yield start
    done.set()
    for thread in threads:
        thread.join(5)


def body() -> str:
    return email.render_test("mail", NOW)


def test_a_server_that_never_greets_is_a_retry_after_the_timeout(server):
    port = server(lambda conn: None)  # accepts, says nothing
    started = time.monotonic()
    result = email.send(config(port).notify[0], body(), "test", "k1", NOW, timeout=0.3)
    assert result.status == "retry"  # smtplib reports the timeout as SMTPServerDisconnected
    assert time.monotonic() - started < 3


def test_a_dripping_server_is_cut_at_the_deadline_under_the_outbox_claim(server):
    def drip(conn: socket.socket) -> None:  # each byte inside the per-wait timeout: only a deadline ends it
        for char in b"220 slow.example ESMTP" * 10:
            conn.sendall(bytes([char]))
            time.sleep(0.05)

    port = server(drip)
    started = time.monotonic()
    result = email.send(config(port).notify[0], body(), "test", "k2", NOW, timeout=0.3, deadline=0.6)
    assert result.status == "retry" and "within 0.6 s" in (result.error or "")
    assert time.monotonic() - started < 3
    assert email.DEADLINE_S < outbox.CLAIM_S  # a slow send never outlives its claim


def test_markup_inside_a_code_span_stays_literal_in_html():
    """A buyer's thread id inside `code` keeps its asterisks (Slack shows them literally), and our own bold around
    a code span still works."""
    from sellerguard.alerts.blocks import code

    html = email.mrkdwn_html(f"*Reply* to `{code('thread-*b*_i_')}` and *x `y` z*")
    assert "<code>thread-*b*_i_</code>" in html and "<strong>b</strong>" not in html
    assert html.startswith("<strong>Reply</strong>") and "<strong>x <code>y</code> z</strong>" in html
