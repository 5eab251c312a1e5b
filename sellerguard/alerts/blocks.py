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


def escape(text: object) -> str:
    """Make any buyer- or marketplace-written text inert in Slack.

    ``&``, ``<`` and ``>`` are Slack's control characters (``<!channel>``, ``<@U123>``, ``<url|label>``), so they
    become entities; a bare ``@channel`` gets a zero-width joiner so no client or legacy parser can treat it as a
    broadcast. Text objects are also sent with ``verbatim: true`` so Slack does not auto-link what is left.
    """
    out = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@\u2060" + m.group(1), out)


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
