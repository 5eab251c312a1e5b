"""Computed first, the marketplace's figure when nothing can be computed (pack key ``reported_fallback``).

Walmart's Seller Response Rate and Negative Feedback Rate are computed from stored messages and ratings like on
every other marketplace, with Walmart's own figure beside them. A seller whose messages are not imported still has
Walmart's figure: then that figure is judged (same threshold, comparator and gate) and the reason says so. With
neither, the metric stays ``unknown`` with the engine's reason. Used by one hook in ``engine.Engine._metric``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from sellerguard.rules.report import MetricStatus

if TYPE_CHECKING:
    from sellerguard.rules.packs import Metric

MAX_AGE = timedelta(days=7)  # an older marketplace figure is not a verdict about today


def judge_reported(session: Session, account: str, metric: Metric, computed: MetricStatus,
                   as_of: datetime) -> MetricStatus:
    """``computed`` (which has no value) judged on the marketplace's newest figure instead, when one is fresh."""
    from sellerguard.rules import assess  # assess -> calculators -> packs: imported when used
    from sellerguard.rules.calculators import latest_reported

    ref = metric.reported_ref
    row = latest_reported(session, account, ref.metric_id, ref.scope, as_of)
    if row is None or row.value is None:
        why = computed.reason or "no eligible events in the window"
        return computed.model_copy(update={"reason": f"{why}; not reported by the marketplace either"})
    at = row.as_of if row.as_of.tzinfo else row.as_of.replace(tzinfo=UTC)
    if as_of - at > MAX_AGE:
        return computed.model_copy(update={
            "reason": f"no events stored to compute it; the marketplace's figure is from {at:%Y-%m-%d}"})
    count = row.numerator or 0
    level = assess.level_of(metric, row.value, count, None)
    if assess.breached(metric, row.value, count):
        verdict = "threshold crossed"
    elif level == "warn":
        verdict = "in the warning band" + (" (sellerguard default)" if metric.warn_suggested else "")
    else:
        verdict = "within the limit"
    said = f" ({row.status})" if row.status else ""
    reason = f"no events stored to compute it: the marketplace's own figure{said}, {verdict}"
    return computed.model_copy(update={
        "value": row.value, "numerator": row.numerator, "denominator": row.denominator,
        "reported_value": row.value, "drift": None, "level": level, "reason": reason,
        "marketplace_status": row.status,
        "window_start": row.window_start or computed.window_start, "window_end": row.window_end or computed.window_end,
    })
