"""Slack Block Kit building blocks: escaping, limits, and packing blocks into messages Slack accepts.

Limits (Slack docs, see docs/alerts.md): a header's plain_text <= 150 characters, a text object <= 3000, at most
50 blocks per message; Slack also rejects messages whose blocks hold much more than ~13,000 characters in total
(``msg_blocks_too_long``, slackapi/bolt-js#2509), so a message is cut at 12,000.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

HEADER_MAX = 150
TEXT_MAX = 3000
BLOCKS_MAX = 50
MESSAGE_CHARS_MAX = 12_000
FALLBACK_MAX = 3000

_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
# line breaks of every kind, other control characters and bidi overrides: foreign text stays on its one line
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+")
# Slack mrkdwn has no backslash escape: its formatting characters become look-alikes that format nothing
_MRKDWN = str.maketrans({"`": "\u02cb", "*": "\u2217", "_": "\uff3f", "~": "\u223c"})
TEXT_CAP = 200  # one piece of foreign text (a name, an order id, a reason) in a message


def one_line(text: object, limit: int = TEXT_CAP) -> str:
    """Foreign text on one line (every break and control character a space), at most ``limit`` characters."""
    out = " ".join(_BREAKS.sub(" ", str(text)).split())
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _inert(text: str) -> str:
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    out = out.replace("://", ":\u2060//")  # no client turns a bare URL into a link
    return _BROADCAST.sub(lambda m: "@\u2060" + m.group(1), out)


def escape(text: object, limit: int = TEXT_CAP) -> str:
    """Make any buyer-, marketplace- or pack-written text inert in Slack mrkdwn, on one line.

    ``&``, ``<`` and ``>`` are Slack's control characters (``<!channel>``, ``<@U123>``, ``<url|label>``), so they
    become entities; `` ` ``, ``*``, ``_`` and ``~`` (code, bold, italic, strike) become look-alikes; line breaks
    become spaces (a newline could start a line that looks like ours); a bare ``@channel`` gets a word joiner and
    ``://`` one too, so no client or legacy parser broadcasts or links. Text objects are also sent with
    ``verbatim: true``.
    """
    return _inert(one_line(text, limit).translate(_MRKDWN))


def code(text: object, limit: int = TEXT_CAP) -> str:
    """Foreign text inside a code span (`` `...` ``): only a backtick could end it, so only that is replaced."""
    return _inert(one_line(text, limit).replace("`", "\u02cb"))


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for ``<url|label>``: the characters that would end the link are percent-encoded."""
    if not url or urlsplit(url).scheme not in ("http", "https"):
        return None
    # "&" stays a query separator but is written as an entity, like every "&" Slack reads
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~-._").replace("&", "&amp;")


def link(url: str | None, label: str) -> str:
    target = safe_url(url)
    return f"<{target}|{escape(label)}>" if target else escape(label)


def truncate(text: str, limit: int) -> str:
    """Cut already-escaped text to ``limit`` characters without splitting an entity; prefer a line break."""
    if len(text) <= limit:
        return text
    cut = _PARTIAL_ENTITY.sub("", text[: limit - 1])
    newline = cut.rfind("\n")
    if newline > limit * 0.8:
        cut = cut[:newline]
    return cut + "…"


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": truncate(text, HEADER_MAX), "emoji": True}}


def section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(mrkdwn, TEXT_MAX), "verbatim": True}}


def context(mrkdwn: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(mrkdwn, TEXT_MAX), "verbatim": True}]}


def block_text(block: dict[str, Any]) -> str:
    if "text" in block:
        return str(block["text"]["text"])
    return "\n".join(str(e.get("text", "")) for e in block.get("elements", []))


def _fallback(blocks: list[dict[str, Any]]) -> str:
    """The plain ``text`` shown in notifications and by clients without Block Kit: headers and first lines."""
    lines = []
    for block in blocks:
        if block["type"] == "header":
            lines.append(block_text(block))
        elif block["type"] == "section":
            lines.append("  " + block_text(block).split("\n", 1)[0])
    return truncate("\n".join(lines), FALLBACK_MAX)


def pack(groups: list[list[dict[str, Any]]], footer: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Pack groups (a header followed by its sections) into as few messages as the limits allow.

    A group that does not fit is continued in the next message under a repeated "(continued)" header.
    """
    reserve = 1 if footer else 0
    reserve_chars = len(block_text(footer)) if footer else 0  # the footer counts toward the message's size
    messages: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    chars = 0

    def flush() -> None:
        nonlocal current, chars
        if current:
            messages.append(current)
        current, chars = [], 0

    for group in groups:
        head, body = group[0], group[1:]
        for i, block in enumerate([head, *body]):
            size = len(block_text(block))
            if len(current) + 1 + reserve > BLOCKS_MAX or chars + size + reserve_chars > MESSAGE_CHARS_MAX:
                flush()
                if i > 0:  # mid-group: repeat the header so the reader knows whose sections these are
                    cont = header(block_text(head) + " (continued)")
                    current.append(cont)
                    chars += len(block_text(cont))
            current.append(block)
            chars += size
    flush()
    out = []
    for blocks in messages:
        if footer:
            blocks = [*blocks, footer]
        out.append({"text": _fallback(blocks), "blocks": blocks, "unfurl_links": False, "unfurl_media": False})
    return out
