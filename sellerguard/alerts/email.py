"""E-mail notifications: the Slack messages as one plain-text + HTML e-mail, sent over SMTP (stdlib smtplib).

Rendering reuses the Slack renderer (``slack.render_alerts`` / ``render_digest`` / ``render_test``), so an e-mail
says exactly what a Slack message says, with the same neutralising: every foreign text (buyer, marketplace, pack)
went through ``blocks.escape``, which entity-escapes ``& < >``, turns mrkdwn characters into look-alikes, puts it
on one line and breaks ``://`` and ``@channel``. What is left that looks like markup is ours: ``*bold*``,
`` `code` ``, ``_italic_`` and ``<url|label>`` links (http(s) only, built by ``blocks.link``). ``to_text`` and
``to_html`` turn that into a plain-text and an HTML body; nothing foreign is ever interpreted as HTML.

An outbox body for an e-mail target is JSON ``{"subject": str, "text": str, "html": str}`` (one e-mail per
evaluation, however many Slack messages the same alerts would need). Sender and recipients are read from the
config at send time, like webhook URLs.

``send`` delivers one body and maps SMTP outcomes onto the outbox's (``outbox.SendResult``):

    250 for at least one recipient            sent (recipients refused beside it are logged)
    4xx reply, connection refused / reset,    retry: the target backs off like a webhook's 5xx
    timeout, TLS failure, server gone
    5xx reply (auth refused, sender or every  failed for good: kept for ``notify --retry-failed``
    recipient refused, no STARTTLS offered)

The password is resolved at send time (``env:`` / ``file:``) and never logged; server replies are kept only as a
redacted excerpt (``redact.excerpt``) with the reply code: the password in every shape, including the base64 of
AUTH PLAIN / LOGIN a server may echo in its refusal (``redact.smtp_auth``, ``redact.base64_forms``).
"""

from __future__ import annotations

import contextlib
import html as html_lib
import json
import logging
import re
import smtplib
import socket
import ssl
import threading
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from sellerguard.alerts.blocks import block_text, one_line
from sellerguard.errors import ConfigError
from sellerguard.redact import excerpt, smtp_auth

if TYPE_CHECKING:
    from sellerguard.alerts.outbox import SendResult
    from sellerguard.alerts.slack import Notice
    from sellerguard.config import TargetConfig
    from sellerguard.rules.report import StatusReport

log = logging.getLogger(__name__)

TIMEOUT_S = 20.0  # each socket wait
DEADLINE_S = 90.0  # the whole exchange; under outbox.CLAIM_S (120 s), so no other sender takes the row meanwhile
SUBJECT_MAX = 150
# our own header icons (slack.ICONS and the digest/test headers) -> the characters mail clients show
EMOJI = {":red_circle:": "\U0001F534", ":large_orange_circle:": "\U0001F7E0", ":white_check_mark:": "\u2705",
         ":bar_chart:": "\U0001F4CA", ":wave:": "\U0001F44B"}
_LINK = re.compile(r"<(https?://[^|>\s]+)\|([^>]*)>")
_BOLD = re.compile(r"\*([^*\n]+)\*")
_CODE = re.compile(r"`([^`\n]+)`")
_ITALIC = re.compile(r"(?<![\w])_([^_\n]+)_(?![\w])")


# -- rendering ----------------------------------------------------------------------------------------------------

def _icons(text: str) -> str:
    for code, char in EMOJI.items():
        text = text.replace(code, char)
    return text


def _unescape(text: str) -> str:
    """Slack's three entities back to characters (the only ones ``blocks`` writes)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mrkdwn_text(text: str) -> str:
    """Our mrkdwn as plain text: links as ``label (url)``, markers dropped, entities decoded."""
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    text = _BOLD.sub(r"\1", _CODE.sub(r"\1", _ITALIC.sub(r"\1", text)))
    return _icons(_unescape(text))


def mrkdwn_html(text: str) -> str:
    """Our mrkdwn as HTML. The text is already entity-escaped for ``& < >`` (``blocks.escape``); quotes are escaped
    here too, and only our own ``<https://...|label>`` links become anchors."""
    parts: list[str] = []
    pos = 0
    for m in _LINK.finditer(text):
        parts.append(_inline_html(text[pos:m.start()]))
        href = m.group(1).replace('"', "%22")  # safe_url already percent-encoded what would end the link
        parts.append(f'<a href="{href}">{_inline_html(m.group(2))}</a>')
        pos = m.end()
    parts.append(_inline_html(text[pos:]))
    return "".join(parts).replace("\n", "<br>\n")


def _inline_html(text: str) -> str:
    text = text.replace('"', "&quot;").replace("'", "&#x27;")
    spans: list[str] = []

    def hold(m: re.Match[str]) -> str:  # a code span is literal, as in Slack: no bold or italic inside it
        spans.append(f"<code>{m.group(1)}</code>")
        return f"\x00{len(spans) - 1}\x00"  # text from outside has no NUL (blocks.one_line)

    text = _ITALIC.sub(r"<em>\1</em>", _BOLD.sub(r"<strong>\1</strong>", _CODE.sub(hold, text)))
    return _icons(re.sub("\x00(\\d+)\x00", lambda m: spans[int(m.group(1))], text))


def _blocks(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """All blocks of the Slack messages in order, without the "(continued)" headers a split added."""
    out: list[dict[str, Any]] = []
    footer: dict[str, Any] | None = None
    for message in messages:
        for block in message.get("blocks", []):
            if block["type"] == "header" and block_text(block).endswith(" (continued)"):
                continue
            if block["type"] == "context":
                footer = block  # every message carries the same footer: keep it once, at the end
                continue
            out.append(block)
    return [*out, footer] if footer else out


def to_text(messages: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for block in _blocks(messages):
        text = block_text(block)
        if block["type"] == "header":
            heading = _icons(_unescape(text))
            lines += ["", heading, "=" * min(len(heading), 72)]
        elif block["type"] == "context":
            lines += ["", "-- ", mrkdwn_text(text)]
        else:
            lines += ["", mrkdwn_text(text)]
    return "\n".join(lines).strip() + "\n"


def to_html(messages: list[dict[str, Any]], title: str) -> str:
    body: list[str] = []
    for block in _blocks(messages):
        text = block_text(block)
        if block["type"] == "header":
            # header text is plain_text with foreign parts escaped by ``blocks.escape``: still entity-safe
            body.append(f"<h2 style=\"font-size:16px;margin:18px 0 6px\">{_icons(_inline_html(text))}</h2>")
        elif block["type"] == "context":
            body.append(f"<p style=\"color:#666;font-size:12px;margin-top:18px\">{mrkdwn_html(text)}</p>")
        else:
            body.append(f"<p style=\"margin:6px 0 12px\">{mrkdwn_html(text)}</p>")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
            f"{html_lib.escape(title)}</title></head>\n<body style=\"font-family:sans-serif;font-size:14px\">\n"
            + "\n".join(body) + "\n</body></html>\n")


def subject_for(notices: list[Notice], report: StatusReport) -> str:
    """``sellerguard: CRITICAL amazon-us (amazon), 3 alerts``: the worst news first, on one line."""
    from sellerguard.alerts.dedup import Reason

    names = {a.account: (a.display_name or a.account) for a in report.accounts}
    firing = [n for n in notices if n.reason is not Reason.RESOLVED]
    word = "resolved"
    if any(n.alert.level == "critical" for n in firing):
        word = "CRITICAL"
    elif firing:
        word = "warning"
    accounts: list[str] = []
    for n in notices:
        label = f"{names.get(n.alert.account, n.alert.account)} ({n.alert.marketplace})"
        if label not in accounts:
            accounts.append(label)
    shown = ", ".join(accounts[:3]) + (f" and {len(accounts) - 3} more" if len(accounts) > 3 else "")
    count = f"{len(notices)} alert" + ("s" if len(notices) != 1 else "")
    return one_line(f"sellerguard {word}: {shown}, {count}", SUBJECT_MAX)


def body(subject: str, messages: list[dict[str, Any]]) -> str:
    """The outbox body of one e-mail: JSON with the subject and both renderings of the Slack ``messages``."""
    subject = one_line(_icons(_unescape(subject)), SUBJECT_MAX)
    return json.dumps({"subject": subject, "text": to_text(messages), "html": to_html(messages, subject)},
                      ensure_ascii=False)


def render_alerts(notices: list[Notice], report: StatusReport, pages: dict[str, str | None],
                  held_since: datetime | None = None, cap: int = 6) -> list[str]:
    from sellerguard.alerts import slack

    messages = slack.render_alerts(notices, report, pages, held_since=held_since, cap=cap)
    return [body(subject_for(notices, report), messages)]


def render_digest(report: StatusReport, pages: dict[str, str | None], now: datetime) -> list[str]:
    from sellerguard.alerts import slack

    return [body(f"sellerguard daily digest {now:%Y-%m-%d}", slack.render_digest(report, pages, now))]


def render_test(target: str, now: datetime) -> str:
    from sellerguard.alerts import slack

    return body(f"sellerguard test notification to {target}", slack.render_test(target, now))


# -- sending ------------------------------------------------------------------------------------------------------

def message(target: TargetConfig, stored: str, kind: str, key: str, now: datetime) -> EmailMessage:
    """The e-mail for one outbox body. ``key`` (stable per outbox row) makes the Message-ID, so a repeat after a
    crash (at-least-once) carries the same Message-ID and a mail client can drop it."""
    data = json.loads(stored)
    msg = EmailMessage()
    msg["Subject"] = one_line(data["subject"], SUBJECT_MAX)
    msg["From"] = target.sender
    msg["To"] = ", ".join(target.to or [])
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{re.sub(r'[^A-Za-z0-9.-]', '-', key)}@sellerguard.invalid>"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies back to us
    msg["X-Sellerguard-Event"] = kind
    msg.set_content(data["text"])
    msg.add_alternative(data["html"], subtype="html")
    return msg


def _reply(exc: smtplib.SMTPResponseException, secrets: list[str | None]) -> str:
    raw = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    text = excerpt(raw, secrets)
    return f"SMTP {exc.smtp_code}: {text}" if text else f"SMTP {exc.smtp_code}"


def _cut(client: smtplib.SMTP, expired: threading.Event) -> None:
    """The deadline ran out: shut the socket, so the wait in progress ends at once (closing would not wake it)."""
    expired.set()
    sock = getattr(client, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


def send(target: TargetConfig, stored: str, kind: str, key: str, now: datetime,
         timeout: float = TIMEOUT_S, deadline: float = DEADLINE_S) -> SendResult:
    """Deliver one outbox body by SMTP; never raises for SMTP or network trouble (see the module docstring)."""
    from sellerguard.alerts.outbox import SendResult

    smtp = target.smtp
    assert smtp is not None  # the config requires it for type = "email"
    try:
        password = smtp.password.reveal(f"notify[{target.name}].smtp.password").get_secret_value() \
            if smtp.password is not None else None
    except ConfigError as exc:
        return SendResult("retry", error=exc.message)
    # the password as typed and as AUTH PLAIN / LOGIN sent it (base64), whole: a server may echo either
    secrets = [password, smtp.username, *(smtp_auth(smtp.username, password) if smtp.username and password else [])]
    try:
        msg = message(target, stored, kind, key, now)
    except (ValueError, KeyError, TypeError) as exc:  # a body that is not ours: refusing it is final
        return SendResult("failed", error=f"not an e-mail body ({type(exc).__name__})")
    where = f"{smtp.host}:{smtp.effective_port}"
    try:
        context = ssl.create_default_context(cafile=str(smtp.ca_file) if smtp.ca_file else None)
    except OSError as exc:
        return SendResult("failed", error=f"cannot read smtp.ca_file: {exc.strerror or type(exc).__name__}")
    # ``timeout`` bounds each socket wait; a server that answers slowly or drips its replies byte by byte could
    # still hold the sender for many times that, past the outbox claim (CLAIM_S), and another sender would then
    # send the same mail again. ``deadline`` bounds the whole exchange: the socket is shut when it runs out.
    client: smtplib.SMTP = (smtplib.SMTP_SSL(timeout=timeout, context=context) if smtp.security == "tls"
                            else smtplib.SMTP(timeout=timeout))
    client._host = smtp.host  # the TLS server name; the constructor only sets it when it also connects
    expired = threading.Event()
    timer = threading.Timer(deadline, _cut, (client, expired))
    timer.daemon = True
    timer.start()
    try:
        with client:
            code, greeting = client.connect(smtp.host, smtp.effective_port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, greeting)
            if smtp.security == "starttls":
                client.ehlo()
                if not client.has_extn("starttls"):
                    return SendResult("failed", error=f"{where} does not offer STARTTLS (security = \"starttls\")")
                client.starttls(context=context)
                client.ehlo()
            if smtp.username is not None and password is not None:
                client.login(smtp.username, password)
            refused = client.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        status = "retry" if all(400 <= c < 500 for c in codes) else "failed"
        return SendResult(status, codes[0] if codes else None,
                          error=f"{where}: every recipient refused (SMTP {', '.join(map(str, codes))})")
    except smtplib.SMTPResponseException as exc:
        what = "login refused" if isinstance(exc, smtplib.SMTPAuthenticationError) else "refused"
        status = "retry" if 400 <= exc.smtp_code < 500 else "failed"
        return SendResult(status, exc.smtp_code, error=f"{where}: {what}: {_reply(exc, secrets)}")
    except smtplib.SMTPNotSupportedError:
        return SendResult("failed", error=f"{where}: the server does not support what the config asks (AUTH?)")
    except ssl.SSLCertVerificationError:
        return SendResult("retry", error=f"{where}: TLS certificate not trusted (see smtp.ca_file)")
    except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timeout, TLS, server gone
        if expired.is_set():
            return SendResult("retry", error=f"{where}: no complete answer within {deadline:g} s")
        return SendResult("retry", error=f"{where}: network error ({type(exc).__name__})")
    finally:
        timer.cancel()
    if refused:
        log.warning("notify target %s: %d of %d recipient(s) refused the message", target.name, len(refused),
                    len(target.to or []))
    return SendResult("sent", 250)
