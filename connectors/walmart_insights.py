"""Walmart's Seller Performance summaries (Insights API, US only) -> ReportedMetric records.

``GET /v3/insights/performance/{metric}/summary?reportDuration=N`` (N = 14, 30, 60 or 90 days; refreshed every
24 h; 1 call per minute per seller). These endpoints are newer than the mirrored Insights spec, so the payload
keys below are UNCONFIRMED against an official schema: Walmart's pages name ``cumulativeRateTrend``, impacted
orders/customers, a risk level and the standard; the rate keys (``sellerAccountableRate``, ``overallRate``,
``cumulativeRate``, in percent) come from a public client of these endpoints. See docs/connectors/walmart.md.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sellerguard.connectors.walmart_normalize import payload_error
from sellerguard.schema import ReportedMetric, payload_hash

# (path under /v3/insights/performance, sellerguard metric id, reportDuration, rate keys in order of preference)
# Durations follow the standards' windows: 30 days, except the 2026 metrics (returns, INR, negative feedback): 60.
INSIGHTS: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    ("cancellations", "walmart.cancellation_rate", 30, ("sellerAccountableRate", "cumulativeRate", "overallRate")),
    ("otd", "walmart.on_time_delivery_rate", 30, ("sellerAccountableRate", "overallRate", "cumulativeRate")),
    ("vtr", "walmart.valid_tracking_rate", 30, ("sellerAccountableRate", "cumulativeRate", "overallRate")),
    ("srr", "walmart.seller_response_rate", 30, ("overallRate", "sellerAccountableRate", "cumulativeRate")),
    ("refunds", "walmart.refund_rate", 30, ("sellerAccountableRate", "cumulativeRate", "overallRate")),
    ("returns", "walmart.return_rate", 60, ("cumulativeRate", "sellerAccountableRate", "overallRate")),
    ("itemNotReceived", "walmart.item_not_received_rate", 60, ("cumulativeRate", "sellerAccountableRate",
                                                                "overallRate")),
    ("negativeFeedback", "walmart.negative_feedback_rate", 60, ("cumulativeRate", "sellerAccountableRate",
                                                                 "overallRate")),
)


def _number(value: Any, field: str, endpoint: str) -> float | None:
    """A finite number (a trailing % allowed); None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise payload_error(endpoint, field, f"not a number: {str(value)[:20]!r}")
    try:
        number = float(str(value).strip().rstrip("%"))
    except ValueError:
        raise payload_error(endpoint, field, f"not a number: {str(value)[:20]!r}") from None
    if not math.isfinite(number):
        raise payload_error(endpoint, field, f"not a number: {str(value)[:20]!r}")
    return number


def parse_summary(account: str, metric_id: str, endpoint: str, body: Any, duration: int,
                  rate_keys: tuple[str, ...], now: datetime) -> ReportedMetric:
    """One summary -> ReportedMetric (rate as a fraction); value None, status NOT_REPORTED when the rate key is
    there but empty (Walmart has no figure yet). A summary without any rate key is a payload error."""
    if not isinstance(body, dict):
        raise payload_error(endpoint, "(root)", "not an object")
    p = body.get("payload", body)
    if not isinstance(p, dict):
        raise payload_error(endpoint, "payload", "not an object")
    if not any(key in p for key in rate_keys):  # a summary without its rate is not "no figure yet": 204 says that
        raise payload_error(endpoint, "payload", f"none of {', '.join(rate_keys)} in the summary")
    percent = None
    for key in rate_keys:
        if (percent := _number(p.get(key), f"payload.{key}", endpoint)) is not None:
            if not 0 <= percent <= 100:  # named by its key and value, like every other rate parser
                raise payload_error(endpoint, f"payload.{key}", f"not a percentage (0..100): {str(p.get(key))[:40]!r}")
            break
    days = _number(p.get("reportDuration"), "payload.reportDuration", endpoint) or duration
    if days not in (14, 30, 60, 90):  # the durations Walmart offers; anything else is not this summary
        raise payload_error(endpoint, "payload.reportDuration", f"not 14, 30, 60 or 90: {days}")
    days = int(days)
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)  # datasets refresh daily
    status = next((v for k in ("cumulativeRateTrend", "overallTrend", "performanceRiskLevel", "riskLevel")
                   if isinstance(v := p.get(k), str) and v.strip() and v.isprintable()), None)
    impacted = _number(p.get("ordersImpacted", p.get("impactedOrders")), "payload.ordersImpacted", endpoint)
    if impacted is not None and not 0 <= impacted <= 10_000_000:
        raise payload_error(endpoint, "payload.ordersImpacted", f"not a plausible count: {impacted}")
    return ReportedMetric(
        account=account, external_id=f"{metric_id}:{days}d:{end:%Y-%m-%d}", raw_hash=payload_hash(body),
        metric_id=metric_id, value=round(percent / 100, 6) if percent is not None else None, numerator=impacted,
        denominator=None, window_start=end - timedelta(days=days), window_end=end,
        # a rate key present but empty: Walmart has no figure yet; stored as "not reported", never as 0 or skipped
        status=(str(status)[:50] if status else None) if percent is not None else "NOT_REPORTED", scope=None,
        as_of=now,
    )
