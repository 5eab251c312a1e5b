"""Reading marketplace payloads: the one-line "bad payload" error and time parsing every connector shares.

A connector that meets a field it cannot read raises ``payload_error``: kind "payload", naming the marketplace,
the endpoint and the field, so the user knows it is the marketplace's data (or our bug), not their config.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from sellerguard.errors import ConnectorError


def payload_error(marketplace: str, where: str, field: str, problem: str) -> ConnectorError:
    return ConnectorError(f"bad payload: {field}: {problem}", kind="payload", where=f"{marketplace}: {where}")


def iso_time(value: Any, marketplace: str, where: str, field: str, *, required: bool = True,
             naive: tzinfo = UTC) -> datetime | None:
    """An ISO 8601 date-time (``Z`` allowed) as aware UTC; ``naive`` is the zone of a value without offset.

    Empty or missing is None, or a payload error when ``required``.
    """
    if value is None or value == "":
        if required:
            raise payload_error(marketplace, where, field, "missing")
        return None
    if not isinstance(value, str):
        raise payload_error(marketplace, where, field, f"not a date-time: {str(value)[:40]!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise payload_error(marketplace, where, field, f"not an ISO 8601 date-time: {value[:40]!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=naive)).astimezone(UTC)


def object_list(node: Any, marketplace: str, where: str, field: str) -> list[dict[str, Any]]:
    """A list of JSON objects; absent means empty, anything else is a payload error."""
    if node is None:
        return []
    if not isinstance(node, list) or not all(isinstance(i, dict) for i in node):
        raise payload_error(marketplace, where, field, "expected a list of objects")
    return node
