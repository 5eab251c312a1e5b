"""Reading marketplace payloads: the one-line "bad payload" error and the readers every connector shares.

A connector that meets a field it cannot read raises ``payload_error``: kind "payload", naming the marketplace,
the endpoint and the field, so the user knows it is the marketplace's data (or our bug), not their config.

An empty answer is not "no data" unless it says so: ``require_list`` (the list key must be there),
``require_object`` (a body of ``123`` is not a page), ``parse_json`` (HTML with 200, truncated JSON, NaN),
``gunzip`` (empty or corrupt gzip) and ``check_header`` (a report whose header is not the report's) all raise a
payload error, so the sync runner keeps the cursor where it was. The scalar readers (``count``, ``number``,
``money``, ``ident``, ``iso_time``, ``epoch_time``) turn wrong types, NaN/Infinity, huge or negative numbers,
control characters and dates outside a sane range into the same one-line error instead of an exception.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from sellerguard.errors import ConnectorError
from sellerguard.schema import _CONTROL_OR_SURROGATE  # one id rule for connectors and the schema

MAX_COUNT = 10**9  # no marketplace count (orders, units, days) comes near this
EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)  # before any of these marketplaces existed


def payload_error(marketplace: str, where: str, field: str, problem: str,
                  request_id: str | None = None) -> ConnectorError:
    """``<marketplace>: <where>: bad payload: <field>: <problem>``, kind "payload"; ``problem`` is cut to 200."""
    return ConnectorError(f"bad payload: {field}: {_cut(problem, 200)}", kind="payload",
                          where=f"{marketplace}: {where}", request_id=request_id)


def show(value: Any, n: int = 40) -> str:
    """A value for an error message: repr, one line, unprintables escaped, at most ``n`` characters."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return _cut(text.encode("ascii", "backslashreplace").decode("ascii"), n)


def _cut(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


# -- whole documents --------------------------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(content: bytes | str | None, marketplace: str, where: str, *, request_id: str | None = None,
               message: str = "the marketplace sent a response that is not valid JSON") -> Any:
    """JSON that is really JSON: empty, HTML, truncated, NaN/Infinity or absurdly nested is a payload error."""
    refused: Exception | None = None
    if content:  # a good body is parsed as is: the emptiness check (a copy of every body) only after a refusal
        try:
            return json.loads(content, parse_constant=_no_constant)
        except (ValueError, RecursionError, UnicodeDecodeError) as exc:
            refused = exc
    if content is None or not content.strip():
        raise ConnectorError(f"{message}: the body is empty", kind="payload", where=f"{marketplace}: {where}",
                             request_id=request_id)
    head = content[:15] if isinstance(content, str) else content[:15].decode("utf-8", "replace")
    hint = "an HTML page" if head.lstrip().lower().startswith(("<!doctype", "<html", "<?xml", "<")) else (
        f"{type(refused).__name__}: {_cut(str(refused), 80)}")
    raise ConnectorError(f"{message} ({hint})", kind="payload", where=f"{marketplace}: {where}",
                         request_id=request_id)


def require_object(node: Any, marketplace: str, where: str, field: str = "(root)") -> dict[str, Any]:
    """A JSON object, or a payload error (a body of ``123``, a list, null)."""
    if not isinstance(node, dict):
        raise payload_error(marketplace, where, field, f"expected an object, got {type(node).__name__}")
    return node


def require_list(body: Any, key: str, marketplace: str, where: str, *, objects: bool = True) -> list[Any]:
    """``body[key]`` must be present and a list (of objects): a missing list key is not an empty page.

    ``key`` may be dotted (``"data.orders"``). An empty list is fine: the marketplace said "nothing".
    """
    node: Any = require_object(body, marketplace, where)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise payload_error(marketplace, where, key, "missing (a page without its list is not an empty page)")
        node = node[part]
    if not isinstance(node, list):
        raise payload_error(marketplace, where, key, f"expected a list, got {type(node).__name__}")
    if objects and not all(isinstance(i, dict) for i in node):
        raise payload_error(marketplace, where, f"{key}[]", "expected a list of objects")
    return node


def object_list(node: Any, marketplace: str, where: str, field: str) -> list[dict[str, Any]]:
    """A list of JSON objects where absent (None) legitimately means empty; anything else is a payload error."""
    if node is None:
        return []
    if not isinstance(node, list) or not all(isinstance(i, dict) for i in node):
        raise payload_error(marketplace, where, field, "expected a list of objects")
    return node


def gunzip(data: bytes | None, marketplace: str, where: str, *, allow_plain: bool = False) -> bytes:
    """Decompress a gzip document; empty, truncated or corrupt is a payload error (never an empty report).

    ``allow_plain`` passes a body that is not gzip at all through unchanged (hosts that decompress for you).
    """
    if not data:
        raise payload_error(marketplace, where, "document", "empty (0 bytes), expected gzip")
    if data[:2] != b"\x1f\x8b":
        if allow_plain:
            return data
        raise payload_error(marketplace, where, "document", "not gzip (bad magic bytes)")
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise payload_error(marketplace, where, "document", f"corrupt or truncated gzip ({_cut(str(exc), 60)})") \
            from None


def decode_text(data: bytes, marketplace: str, where: str, encodings: Sequence[str] = ("utf-8",)) -> str:
    """Bytes as text: a BOM is dropped, ``encodings`` tried in order, the error names the ones expected."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for enc in encodings:
        try:
            return data.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
    raise payload_error(marketplace, where, "document", f"not text in {' or '.join(encodings)}")


def check_header(header: Sequence[str], required: Iterable[str], marketplace: str, where: str,
                 document: str = "report") -> None:
    """A flat file's header must hold the report's columns: another document is a payload error, not 0 rows."""
    have = {h.strip().lstrip("\ufeff").lower() for h in header}
    missing = [c for c in required if c.lower() not in have]
    if missing:
        raise payload_error(marketplace, where, "header",
                            f"not the {document}'s header (missing {', '.join(missing[:5])}; got "
                            f"{show(list(header)[:6], 120)})")


# -- scalars ----------------------------------------------------------------------------------------------


def count(value: Any, marketplace: str, where: str, field: str, *, required: bool = True,
          maximum: int = MAX_COUNT) -> int | None:
    """A non-negative whole count (``3``, ``3.0``, ``"3"``); negative, fractional, NaN, bool or absurd is an error."""
    if value is None or value == "":
        if required:
            raise payload_error(marketplace, where, field, "missing")
        return None
    if isinstance(value, bool) or (isinstance(value, str) and not value.isascii()):  # Decimal('٤٧') is 47
        raise payload_error(marketplace, where, field, f"not a count: {show(value)}")
    try:
        number = Decimal(str(value).strip()) if isinstance(value, str | int | float | Decimal) else None
    except (InvalidOperation, ValueError):
        number = None
    if number is None or not number.is_finite() or number != number.to_integral_value():
        raise payload_error(marketplace, where, field, f"not a count: {show(value)}")
    if number < 0 or number > maximum:
        raise payload_error(marketplace, where, field, f"out of range (0..{maximum}): {show(value)}")
    return int(number)


def number(value: Any, marketplace: str, where: str, field: str, *, required: bool = True,
           low: float | None = None, high: float | None = None) -> float | None:
    """A finite number within [low, high] (a rate: ``low=0, high=1``); NaN, Infinity or text is an error."""
    if value is None or value == "":
        if required:
            raise payload_error(marketplace, where, field, "missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal) or \
            (isinstance(value, str) and not value.isascii()):  # float('٤٧') is 47.0: ASCII digits only
        raise payload_error(marketplace, where, field, f"not a number: {show(value)}")
    try:
        result = float(value)
    except (ValueError, OverflowError):
        raise payload_error(marketplace, where, field, f"not a number: {show(value)}") from None
    if not math.isfinite(result):
        raise payload_error(marketplace, where, field, f"not a finite number: {show(value)}")
    if (low is not None and result < low) or (high is not None and result > high):
        raise payload_error(marketplace, where, field, f"out of range ({low}..{high}): {show(value)}")
    return result


def money(value: Any, marketplace: str, where: str, field: str, *, required: bool = True,
          negative: bool = False, maximum: Decimal = Decimal(10) ** 12) -> Decimal | None:
    """An amount as Decimal: finite, below ``maximum``, and non-negative unless ``negative``."""
    if value is None or value == "":
        if required:
            raise payload_error(marketplace, where, field, "missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise payload_error(marketplace, where, field, f"not an amount: {show(value)}")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise payload_error(marketplace, where, field, f"not an amount: {show(value)}") from None
    if not amount.is_finite() or abs(amount) >= maximum or (amount < 0 and not negative):
        raise payload_error(marketplace, where, field, f"not a plausible amount: {show(value)}")
    return amount


def ident(value: Any, marketplace: str, where: str, field: str, *, required: bool = True,
          max_len: int = 200) -> str | None:
    """An id as a string: ints allowed (not bool, not floats), never empty, "nan"/"null", control characters."""
    if value is None or value == "":
        if required:
            raise payload_error(marketplace, where, field, "missing")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise payload_error(marketplace, where, field, f"not an id: {show(value)}")
    text = str(value) if isinstance(value, str) else (str(value) if abs(value) < 10**30 else "")
    if not text.strip() or text.strip().lower() in ("nan", "null", "none", "undefined") \
            or _CONTROL_OR_SURROGATE.search(text) \
            or len(text) > max_len or text != text.strip():
        raise payload_error(marketplace, where, field, f"not an id: {show(value)}")
    return text


def _in_range(parsed: datetime, marketplace: str, where: str, field: str, raw: Any, now: datetime | None,
              future: timedelta) -> datetime:
    if parsed < EARLIEST or (now is not None and parsed > now + future):
        raise payload_error(marketplace, where, field, f"date out of range: {show(raw)}")
    return parsed


def iso_time(value: Any, marketplace: str, where: str, field: str, *, required: bool = True,
             naive: tzinfo = UTC, now: datetime | None = None,
             future: timedelta = timedelta(days=7)) -> datetime | None:
    """An ISO 8601 date-time (``Z`` allowed) as aware UTC; ``naive`` is the zone of a value without offset.

    Empty or missing is None, or a payload error when ``required``. Before 1995, or (given ``now``) more than
    ``future`` after it, is a payload error: no marketplace record is dated there.
    """
    if value is None or value == "":
        if required:
            raise payload_error(marketplace, where, field, "missing")
        return None
    if not isinstance(value, str):
        raise payload_error(marketplace, where, field, f"not a date-time: {show(value)}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = (parsed if parsed.tzinfo else parsed.replace(tzinfo=naive)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise payload_error(marketplace, where, field, f"not an ISO 8601 date-time: {show(value)}") from None
    return _in_range(parsed, marketplace, where, field, value, now, future)


def epoch_time(value: Any, marketplace: str, where: str, field: str, *, required: bool = True,
               millis: bool = False, now: datetime | None = None,
               future: timedelta = timedelta(days=7)) -> datetime | None:
    """Unix seconds (or ``millis``) as aware UTC; huge, negative, NaN or text is a payload error."""
    if value is None or value == "":
        if required:
            raise payload_error(marketplace, where, field, "missing")
        return None
    seconds = number(value, marketplace, where, field)
    assert seconds is not None
    if millis:
        seconds /= 1000
    try:
        parsed = datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        raise payload_error(marketplace, where, field, f"not a Unix time: {show(value)}") from None
    return _in_range(parsed, marketplace, where, field, value, now, future)


def ship_time(shipped: datetime | None, delivered: datetime | None) -> datetime | None:
    """A seller-given ship time, or None when it is later than the delivery: a typing slip or a back-filled
    event, not a fact (the schema refuses a delivery before shipping; unknown for that shipment only, so one
    record does not fail the stream)."""
    return None if shipped is not None and delivered is not None and shipped > delivered else shipped


WARNED: set[tuple[str, str, str]] = set()  # (marketplace, field, value) already logged by warn_unknown


def warn_unknown(marketplace: str, field: str, value: Any, *, outcome: str = "kept as 'unknown'") -> None:
    """Log an enum value a connector does not know, once per (marketplace, field, value) and process.

    Issue 17 kind 8: the record keeps the value recognisable (``outcome`` says how), never a plausible wrong state.
    """
    text = str(value)[:60]
    if (marketplace, field, text) in WARNED:
        return
    WARNED.add((marketplace, field, text))
    logging.getLogger(f"sellerguard.connectors.{marketplace}").warning(
        "%s: unknown %s %r: %s (tell the sellerguard developers)", marketplace, field, text, outcome)
