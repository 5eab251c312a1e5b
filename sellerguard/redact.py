"""Redaction of configured secrets in every shape a server or a library may echo them.

A secret is not only its exact value: a refused request may come back with the URL's last path segment, the path
upper-cased, percent-decoded or -encoded, JSON-escaped or split into a JSON array of segments, and a ``base_url``
with ``user:password@`` carries a password of its own. ``variants`` lists the significant substrings of a secret
(the value, a URL's user-info, password, path, path segments and query values that look like tokens) in their
encoded forms; ``redact`` replaces each, case-insensitively, by ``***``; ``excerpt`` is what may be kept of a
response body from a secret-bearing endpoint: whitespace-collapsed, redacted, then cut to ``EXCERPT_MAX``.

``install(config)`` makes the configured secrets (webhook URLs, SMTP passwords, credentials, the user-info of
``base_url`` and ``token_url``) the process-wide redaction set, applied where text leaves the process or is kept:

- every log record, whatever logger or handler (a log record factory redacts the message and the traceback);
- every stored sync error (``sync_run.error``) and outbox error (``notify_outbox.last_error``): ORM insert and
  update hooks, so no writer can forget;
- ``current(text)`` for the rest: CLI error lines, the stale-data alert.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

MASK = "***"
EXCERPT_MAX = 120
_MIN_SECRET = 4  # shorter values are not redacted (they would blank ordinary words); config refuses none


def _token_like(part: str) -> bool:
    """A path segment or query value worth hiding: long, or with digits (``T0123ABCD``, a 24-char key)."""
    return len(part) >= 12 or (len(part) >= 6 and any(c.isdigit() for c in part))


def _significant(secret: str) -> set[str]:
    parts = {secret}
    try:
        url = urlsplit(secret)
    except ValueError:
        return parts
    if url.scheme and url.netloc:
        if "@" in url.netloc:
            userinfo = url.netloc.rsplit("@", 1)[0]
            parts.add(userinfo)
            if url.password:
                parts.add(url.password)
        if len(url.path) > 1:
            parts.add(url.path)
            parts.update(seg for seg in url.path.split("/") if _token_like(seg))
        if url.query:
            parts.add(url.query)
            parts.update(v for _, v in parse_qsl(url.query) if _token_like(v))
    return parts


def variants(secret: str) -> set[str]:
    """Every form of every significant substring of ``secret`` (>= 4 characters)."""
    out: set[str] = set()
    for part in _significant(secret):
        for form in (part, unquote(part), quote(part, safe=""), quote(part), quote_plus(part),
                     json.dumps(part)[1:-1], json.dumps(part)[1:-1].replace("/", "\\/")):
            if len(form) >= _MIN_SECRET:
                out.add(form)
    return out


class Redactor:
    """One compiled pattern for a set of secrets; empty when there are none."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        forms = {v for s in secrets if s and len(s) >= _MIN_SECRET for v in variants(s)}
        ordered = sorted(forms, key=len, reverse=True)  # the longest first: a path before its segment
        self.pattern = re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE) if ordered else None

    def __call__(self, text: str) -> str:
        return self.pattern.sub(MASK, text) if self.pattern is not None else text


def redact(text: str, secrets: Iterable[str | None]) -> str:
    return Redactor(secrets)(text)


def excerpt(body: str, secrets: Iterable[str | None], limit: int = EXCERPT_MAX) -> str:
    """The part of a response body that may be logged or stored: one line, redacted, at most ``limit`` chars."""
    text = " ".join(body.split())
    text = redact(text, secrets)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def scrub(record: logging.LogRecord, redactor: Redactor) -> logging.LogRecord:
    """Redact a log record's message and traceback in place (args are merged into the message)."""
    if redactor.pattern is None:
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it itself later
        return record
    record.msg, record.args = redactor(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redactor(record.exc_text)
    return record


_current = Redactor(())
_lock = threading.Lock()
_installed = False


def current(text: str) -> str:
    """``text`` with the installed secrets redacted."""
    return _current(text)


def config_secrets(config: Any) -> list[str]:
    """Every secret value a config holds, resolved where it can be (an unset variable is simply skipped)."""
    from urllib.parse import urlsplit

    from sellerguard.errors import SellerguardError

    out: list[str] = []

    def reveal(ref: Any, where: str) -> None:
        with contextlib.suppress(SellerguardError, AttributeError):
            out.append(ref.reveal(where).get_secret_value())

    for target in getattr(config, "notify", []):
        if getattr(target, "url", None) is not None:
            reveal(target.url, f"notify[{target.name}].url")
        if getattr(target, "smtp", None) is not None and target.smtp.password is not None:
            reveal(target.smtp.password, f"notify[{target.name}].smtp.password")
    for acc in getattr(config, "accounts", []):
        for name, ref in acc.credentials.items():
            reveal(ref, f"accounts[{acc.id}].credentials.{name}")
        for url in (acc.base_url, acc.token_url):
            parts = urlsplit(url or "")
            if "@" in parts.netloc:
                out.append(parts.netloc.rsplit("@", 1)[0])  # user:password
                if parts.password:
                    out.append(parts.password)
    return out


def install(config: Any = None, extra: Iterable[str] = ()) -> Redactor:
    """Make ``config``'s secrets (plus ``extra``) the process-wide redaction set; hooks are set up once."""
    global _current, _installed
    redactor = Redactor([*config_secrets(config), *extra])
    with _lock:
        _current = redactor
        if not _installed:
            _install_hooks()
            _installed = True
    return redactor


def _install_hooks() -> None:
    from sqlalchemy import event

    from sellerguard.alerts.tables import OutboxRow
    from sellerguard.store.tables import SyncRun

    base_factory = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return scrub(base_factory(*args, **kwargs), _current)

    logging.setLogRecordFactory(factory)

    def clean(field: str) -> Any:
        def hook(mapper: Any, connection: Any, target: Any) -> None:
            value = getattr(target, field, None)
            if isinstance(value, str):
                setattr(target, field, _current(value))

        return hook

    for model, field in ((SyncRun, "error"), (OutboxRow, "last_error")):
        event.listen(model, "before_insert", clean(field))
        event.listen(model, "before_update", clean(field))
