"""Redaction of configured secrets in every shape a server or a library may echo them.

A secret is not only its exact value: a refused request may come back with the URL's last path segment, the path
upper-cased, percent-decoded or -encoded, JSON-escaped or split into a JSON array of segments, and a ``base_url``
with ``user:password@`` carries a password of its own. ``variants`` lists the significant substrings of a secret
(the value, a URL's user-info, password, path, path segments and query values that look like tokens) in their
encoded forms; ``redact`` replaces each, case-insensitively, by ``***``; ``excerpt`` is what may be kept of a
response body from a secret-bearing endpoint: whitespace-collapsed, redacted, then cut to ``EXCERPT_MAX``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
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


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message (and drops args) of every record it sees."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if self.redactor.pattern is None:
            return True
        message = self.redactor(record.getMessage())
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        record.msg, record.args = message, None
        return True
