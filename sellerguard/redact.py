"""Redaction of configured secrets in every shape a server or a library may echo them.

A secret is not only its exact value: a refused request may come back with the URL's last path segment, the path
upper-cased, percent-decoded or -encoded, JSON-escaped or split into a JSON array of segments, and a ``base_url``
with ``user:password@`` carries a password of its own; and a password sent base64-encoded (SMTP AUTH PLAIN
``NUL user NUL password``, AUTH LOGIN, HTTP Basic ``client_id:secret``) may come back in that form, embedded at any
byte offset of a longer base64 text. ``variants`` lists the significant substrings of a secret (the value, a URL's
user-info, password, path, path segments and query values that look like tokens) in their encoded forms, base64
included (``base64_forms``, widened to the whole base64 token they sit in); ``basic_auth`` and ``smtp_auth`` give the
exact encoded blobs of a pair; ``redact`` replaces each, case-insensitively, by ``***``; ``excerpt`` is what may be
kept of a response body from a secret-bearing endpoint: whitespace-collapsed, redacted, then cut to ``EXCERPT_MAX``.

``install(config)`` makes the configured secrets (webhook URLs, SMTP passwords, credentials, the user-info of
``base_url`` and ``token_url``) the process-wide redaction set, applied where text leaves the process or is kept:

- every log record, whatever logger or handler (a log record factory redacts the message and the traceback);
- every stored sync error (``sync_run.error``) and outbox error (``notify_outbox.last_error``): ORM insert and
  update hooks, so no writer can forget;
- ``current(text)`` for the rest: CLI error lines, the stale-data alert.
"""

from __future__ import annotations

import base64
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
_MIN_B64 = 8  # a base64 run shorter than this (6 bytes) is not searched for: it would match ordinary words


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


def base64_forms(secret: str) -> set[str]:
    """The base64 text that ``secret`` becomes inside any base64 stream, standard and URL-safe alphabets.

    A base64 stream encodes 3 bytes as 4 characters, so the secret lands at one of three byte offsets; at each, the
    characters of the groups made of the secret's bytes alone are fixed whatever surrounds it (the edge groups mix
    in neighbouring bytes and are left out). The secret encoded alone, with its padding, is a form too (AUTH LOGIN).
    Embedded runs shorter than ``_MIN_B64`` are skipped. ``s3cret-pass`` at offset 2 (AUTH PLAIN of user ``u``) ->
    the characters of its complete groups at that offset."""
    raw = secret.encode()
    found = {base64.b64encode(raw).decode()}  # alone, padded: distinctive at any length
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        whole = (offset + len(raw)) // 3 * 4  # characters of complete groups
        run = encoded[4 if offset else 0:whole]
        if len(run) >= _MIN_B64:
            found.add(run)
    return found | {form.translate(str.maketrans("+/", "-_")) for form in found}


_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
_MARK = "\ue000"  # a private-use character: where a base64 form of a secret was found, before widening


def _widen(text: str) -> str:
    """Each ``_MARK`` and the base64 token around it (alphabet characters either side, padding after) -> ``MASK``.

    ``base64_forms`` finds the characters fixed by the secret alone; the edge characters beside them still carry up
    to 2 bytes of it mixed with the neighbours' bits, so the whole token is masked. Linear: one scan per mark."""
    out: list[str] = []
    pos = 0
    while (at := text.find(_MARK, pos)) >= 0:
        start = at
        while start > pos and text[start - 1] in _B64_CHARS:
            start -= 1
        end = at + 1
        while end < len(text) and (text[end] in _B64_CHARS or text[end] in ("=", _MARK)):
            end += 1
        out += [text[pos:start], MASK]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def basic_auth(user: str, secret: str) -> str:
    """The HTTP Basic credential of a pair, as sent (``base64("user:secret")``)."""
    return base64.b64encode(f"{user}:{secret}".encode()).decode()


def smtp_auth(user: str, password: str) -> list[str]:
    """What smtplib sends for a login, as it may be echoed: AUTH PLAIN (``NUL user NUL password``, and the
    user NUL user NUL password form other clients use) and AUTH LOGIN (user and password, each alone)."""
    blobs = (f"\0{user}\0{password}", f"{user}\0{user}\0{password}", password)
    return [base64.b64encode(b.encode()).decode() for b in blobs]


def variants(secret: str) -> set[str]:
    """Every form of every significant substring of ``secret`` (>= 4 characters), base64 ones included."""
    out: set[str] = set()
    for part in _significant(secret):
        for form in (part, unquote(part), quote(part, safe=""), quote(part), quote_plus(part),
                     json.dumps(part)[1:-1], json.dumps(part)[1:-1].replace("/", "\\/")):
            if len(form) >= _MIN_SECRET:
                out.add(form)
        out.update(base64_forms(part))
    return out


class Redactor:
    """One compiled pattern for a set of secrets; empty when there are none."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        kept = [s for s in secrets if s and len(s) >= _MIN_SECRET]
        forms = {v for s in kept for v in variants(s)}
        ordered = sorted(forms, key=len, reverse=True)  # the longest first: a path before its segment
        self.pattern = re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE) if ordered else None
        # base64 forms are widened to their whole token (``_widen``): the edge characters hold secret bits too
        self._base64 = {f.lower() for s in kept for part in _significant(s) for f in base64_forms(part)}

    def __call__(self, text: str) -> str:
        if self.pattern is None:
            return text
        widen = False

        def mask(match: re.Match[str]) -> str:
            nonlocal widen
            if match.group(0).lower() in self._base64:
                widen = True
                return _MARK
            return MASK

        out = self.pattern.sub(mask, text)
        return _widen(out) if widen else out


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
        smtp = getattr(target, "smtp", None)
        if smtp is not None and smtp.password is not None:
            before = len(out)
            reveal(smtp.password, f"notify[{target.name}].smtp.password")
            if len(out) > before and smtp.username:
                out.extend(smtp_auth(smtp.username, out[-1]))  # the AUTH PLAIN / LOGIN blobs, whole
    for acc in getattr(config, "accounts", []):
        for name, ref in acc.credentials.items():
            reveal(ref, f"accounts[{acc.id}].credentials.{name}")
        pair = [None, None]
        with contextlib.suppress(SellerguardError, AttributeError, KeyError):
            pair = [acc.credentials[k].reveal(f"accounts[{acc.id}].credentials.{k}").get_secret_value()
                    for k in ("client_id", "client_secret")]
        if all(pair):
            out.append(basic_auth(*pair))  # the token request's Authorization header, whole (eBay, Walmart, bol)
        for url in (acc.base_url, acc.token_url):
            parts = urlsplit(url or "")
            if "@" in parts.netloc:
                out.append(parts.netloc.rsplit("@", 1)[0])  # user:password
                if parts.password:
                    out.append(parts.password)
    # an account's id is printed by design (logs, tables, alerts): a credential equal to one (the sandbox's client ids)
    # hides nothing by being masked, and masking it made accounts indistinguishable ("***: synced 85 records")
    public = {acc.id for acc in getattr(config, "accounts", [])}
    return [secret for secret in out if secret not in public]


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
    base_factory = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return scrub(base_factory(*args, **kwargs), _current)

    logging.setLogRecordFactory(factory)


def scrub_column(model: Any, field: str) -> None:
    """Redact ``model.field`` (a string column that may hold an error text) with the process-wide set on every
    insert and update. Called by the table modules themselves (SyncRun.error, OutboxRow.last_error), so a command
    that never writes them never imports them."""
    from sqlalchemy import event

    def hook(mapper: Any, connection: Any, target: Any) -> None:
        value = getattr(target, field, None)
        if isinstance(value, str):
            setattr(target, field, _current(value))

    event.listen(model, "before_insert", hook)
    event.listen(model, "before_update", hook)
