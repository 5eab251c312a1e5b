"""Computed first, the marketplace's figure when nothing can be computed (pack key ``reported_fallback``).

Walmart's Seller Response Rate and Negative Feedback Rate are computed from stored messages and ratings like on
every other marketplace, with Walmart's own figure beside them. A seller whose messages or ratings are not stored
(Walmart has no API for either: they come from the canonical import) still has Walmart's figure: then that figure is
judged (same threshold, comparator and gate) and the reason says so. Orders without any stored rating are not
"orders without a negative rating": with no rating stored for the account at all, the computed rate is not used.
With neither, the metric is ``unknown``. Used by one hook in ``engine.Engine._metric``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from sellerguard.rules.events import CLAIMS, MESSAGES, RATINGS
from sellerguard.rules.report import MetricStatus

if TYPE_CHECKING:
    from sellerguard.rules.packs import Metric

MAX_AGE = timedelta(days=7)  # an older marketplace figure is not a verdict about today


# where a defect's evidence lives: a store with none of these rows for the account cannot compute the rate (an
# order with no rating stored is not a good order when ratings are never synced: Walmart has no ratings API)
EVIDENCE = {"negative_feedback": RATINGS, "negative_review": RATINGS, "first_review_negative": RATINGS,
            "claim": CLAIMS, "chargeback": CLAIMS,
            "late_reply": MESSAGES}


def _evidence(session: Session, account: str, metric: Metric) -> tuple[bool, str]:
    """Whether the account has any stored row of the metric's evidence, and what that evidence is called."""
    if metric.calculator == "response_time":
        tables = [MESSAGES]
    else:
        tables = list(dict.fromkeys(EVIDENCE[d] for d in metric.params.get("defects", []) if d in EVIDENCE))
    if not tables:
        return True, "events"
    names = {RATINGS.name: "ratings", CLAIMS.name: "claims", MESSAGES.name: "buyer messages"}
    what = " or ".join(names[t.name] for t in tables)
    for t in tables:
        if session.execute(select(t.c.id).where(t.c.account == account).limit(1)).first() is not None:
            return True, what
    return False, what


def judge_reported(session: Session, account: str, metric: Metric, computed: MetricStatus,
                   as_of: datetime) -> MetricStatus:
    """``computed`` when it stands on stored evidence; else the marketplace's newest figure, when fresh; else
    unknown. Evidence: the metric has eligible events and the account has stored rows of what its defects read
    (ratings, messages, claims) at all."""
    from sellerguard.rules import assess  # assess -> calculators -> packs: imported when used
    from sellerguard.rules.calculators import latest_reported

    has_rows, what = _evidence(session, account, metric)
    if computed.value is not None and has_rows:
        return computed
    missing = f"no {what} stored to compute it" if not has_rows else (
        computed.reason or "no eligible events in the window")
    ref = metric.reported_ref
    row = latest_reported(session, account, ref.metric_id, ref.scope, as_of)
    if row is None or row.value is None:
        return computed.model_copy(update={
            "level": "unknown", "reason": f"{missing}; not reported by the marketplace either",
            "value": None if not has_rows else computed.value, "headroom": None, "breach_forecast": None})
    at = row.as_of if row.as_of.tzinfo else row.as_of.replace(tzinfo=UTC)
    if as_of - at > MAX_AGE:
        return computed.model_copy(update={
            "level": "unknown", "value": None if not has_rows else computed.value, "headroom": None,
            "breach_forecast": None, "reason": f"{missing}; the marketplace's figure is from {at:%Y-%m-%d}"})
    count = row.numerator or 0
    level = assess.level_of(metric, row.value, count, None)
    if assess.breached(metric, row.value, count):
        verdict = "threshold crossed"
    elif level == "warn":
        verdict = "in the warning band" + (" (sellerguard default)" if metric.warn_suggested else "")
    else:
        verdict = "within the limit"
    said = f" ({row.status})" if row.status else ""
    reason = f"{missing}: the marketplace's own figure{said}, {verdict}"
    return computed.model_copy(update={
        "value": row.value, "numerator": row.numerator, "denominator": row.denominator,
        "reported_value": row.value, "drift": None, "level": level, "reason": reason, "headroom": None,
        "breach_forecast": None,
        "marketplace_status": row.status,
        "window_start": row.window_start or computed.window_start, "window_end": row.window_end or computed.window_end,
    })
