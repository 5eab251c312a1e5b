"""Walmart's own verdict on listings: items it unpublished, counted per reason code (Insights API).

``GET /v3/insights/items/unpublished/counts?fromDate=YYYY-MM-DD`` (``getUnpublishedItemCount``, in the mirrored
Insights spec) answers ``{"payload": [{"unpublishedCount": "94", "unpublishedValue": "1900.89",
"unpublishedReasonCode": "REASONABLE_PRICE_NOT_SATISFIED"}, ...]}``: counts as strings, a reason code that may
join several codes with commas. Read with the ``performance`` stream (same cadence as the summaries).

Stored as ``walmart.unpublished_items``, one row per reason code (scope, cut to 50 characters): value = the count.
A row whose codes are all the seller's own doing (``END_DATE``: the listing's end date passed) is not Walmart's
verdict: it keeps its count as the numerator but no value, status ``SELLER_ENDED``, so only Walmart's reasons
(price rules, compliance, ...) can warn. No row at all (nothing unpublished since ``fromDate``) is one row with
value 0. Pure parsing here; the call itself is ``fetch_counts``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sellerguard.connectors.walmart_normalize import payload_error
from sellerguard.payload import count
from sellerguard.schema import ReportedMetric, payload_hash

PATH = "/v3/insights/items/unpublished/counts"
METRIC = "walmart.unpublished_items"
DAYS = 30  # fromDate: the last 30 days, like the performance summaries
SELLER_REASONS = frozenset({"END_DATE"})  # unpublished by the seller's own settings, not by Walmart
# one reason code, as Walmart writes them (END_DATE, REASONABLE_PRICE_NOT_SATISFIED): anything else (a 5,000-character
# value, a sentence) was cut to 50 characters and stored as a code of its own while the real one was missing (fuzz)
_CODE = re.compile(r"[A-Z0-9][A-Z0-9_]{0,63}\Z")


def normalize_counts(account: str, body: Any, now: datetime, since: datetime) -> list[ReportedMetric]:
    """The answer -> one ReportedMetric per reason code (see the module docstring); payload errors name the field."""
    if not isinstance(body, dict) or not isinstance(body.get("payload"), list):  # a 200 without its list is not "none"
        raise payload_error(PATH, "payload", "missing or not a list")
    rows: dict[str, int] = {}
    for i, entry in enumerate(body.get("payload") or []):
        if not isinstance(entry, dict):
            raise payload_error(PATH, f"payload[{i}]", "not an object")
        reason = entry.get("unpublishedReasonCode")
        if not isinstance(reason, str) or not reason.strip() or not reason.isprintable():
            raise payload_error(PATH, f"payload[{i}].unpublishedReasonCode", "missing or not text")
        n = count(entry.get("unpublishedCount"), "walmart", PATH, f"payload[{i}].unpublishedCount")
        codes = {c.strip().upper() for c in reason.split(",") if c.strip()}
        if not codes or not all(_CODE.match(c) for c in codes):
            raise payload_error(PATH, f"payload[{i}].unpublishedReasonCode", f"not reason codes: {reason[:60]!r}")
        key = ",".join(sorted(codes))[:50]
        rows[key] = rows.get(key, 0) + (n or 0)
    day = f"{now:%Y-%m-%d}"
    common = {"account": account, "metric_id": METRIC, "window_start": since, "window_end": now, "as_of": now}
    if not rows:
        return [ReportedMetric(external_id=f"{METRIC}:-:{day}", value=0, numerator=0, **common)]
    out = []
    for key, n in sorted(rows.items()):
        seller_only = set(key.split(",")) <= SELLER_REASONS
        out.append(ReportedMetric(
            external_id=f"{METRIC}:{key}:{day}", scope=key, numerator=n, raw_hash=payload_hash([key, n]),
            value=None if seller_only else float(n), status="SELLER_ENDED" if seller_only else None, **common,
        ))
    return out


def fetch_counts(account: str, http: Any, now: datetime) -> list[ReportedMetric]:
    """One call (``http``: the connector's ``HttpClient``); 204 or an empty payload: nothing unpublished."""
    since = (now - timedelta(days=DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    response = http.request("GET", PATH, bucket="insights:unpublished", params={"fromDate": f"{since:%Y-%m-%d}"})
    body = {"payload": []} if response.status_code == 204 else http.json(response, PATH)
    return normalize_counts(account, body, now, since)
