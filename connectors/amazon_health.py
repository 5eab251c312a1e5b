"""Amazon's own warnings in the seller performance report: account status, policy compliance, warning states.

Pure functions over a ``GET_V2_SELLER_PERFORMANCE_REPORT`` document (schema
``accountHealthReport-2020-11-18.json``, the same document ``amazon_normalize.normalize_performance`` reads for
the service metrics); no HTTP, no clock, no store. ``fetch_performance`` in ``amazon.py`` adds these records.

- ``accountStatuses[] {marketplaceId, status}`` -> ``amazon.account_status`` (status NORMAL / AT_RISK /
  DEACTIVATED; Amazon's own example also says SUSPENDED). The Sellers API ``getAccount`` has no status field, so
  this report is the one place the SP-API exposes it.
- the ten ``ListingLevelViolation`` blocks (``listingPolicyViolations`` ...) -> one metric per category, value
  = ``defectsCount``, status GOOD / BAD / NONE, window = ``reportingDateRange``. Amazon's target is
  ``targetValue`` 0 with ``targetCondition`` EQUALS for every category (the pack's threshold); a report that says
  otherwise is logged once, the pack still decides.
- ``warningStates[] {warningType, status}`` -> ``amazon.warning_states``, one row per warning type (scope); an
  empty list is one row with status NONE (no warning), an absent one is "not reported".

A block the report leaves out is stored with status NOT_REPORTED (never zero), as specs/NOTES.md asks.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sellerguard.errors import ConnectorError
from sellerguard.payload import count, iso_time, payload_error
from sellerguard.schema import ReportedMetric, payload_hash

# report block -> pack metric id (rules/packs/amazon.toml), in the order of the schema's ``required`` list
VIOLATIONS: dict[str, str] = {
    "listingPolicyViolations": "amazon.listing_policy_violations",
    "productAuthenticityCustomerComplaints": "amazon.product_authenticity_complaints",
    "productConditionCustomerComplaints": "amazon.product_condition_complaints",
    "productSafetyCustomerComplaints": "amazon.product_safety_complaints",
    "receivedIntellectualPropertyComplaints": "amazon.intellectual_property_complaints",
    "restrictedProductPolicyViolations": "amazon.restricted_product_violations",
    "suspectedIntellectualPropertyViolations": "amazon.suspected_ip_violations",
    "foodAndProductSafetyIssues": "amazon.food_product_safety_issues",
    "otherPolicyViolations": "amazon.other_policy_violations",
    "documentRequests": "amazon.document_requests",
}
ACCOUNT_STATUS = "amazon.account_status"
WARNING_STATES = "amazon.warning_states"
# the schema's own example spells these in the singular (specs NOTES: code against both spellings)
ALIASES: dict[str, str] = {"documentRequests": "documentRequest", "warningStates": "warningState"}
_TARGET = (0, "EQUALS")  # every category's published target: zero
_log = logging.getLogger("sellerguard.connectors.amazon")
_warned_targets: set[str] = set()
_warned_new: set[str] = set()


def _word(value: Any) -> str | None:
    """Amazon's status word, upper-cased and cut to the schema's 50 characters; None when absent."""
    return str(value).strip().upper()[:50] or None if value not in (None, "") else None


def _absent(account: str, metric_id: str, scope: str | None, as_of: datetime) -> ReportedMetric:
    return ReportedMetric(account=account, external_id=f"{metric_id}:{scope or '-'}:{as_of:%Y-%m-%d}",
                          metric_id=metric_id, scope=scope, as_of=as_of, status="NOT_REPORTED")


def _get(entry: dict[str, Any], key: str) -> Any:
    """``entry[key]``, or its singular spelling from Amazon's own example when the plural is absent."""
    value = entry.get(key)
    return entry.get(ALIASES[key]) if value is None and key in ALIASES else value


def _dict(node: Any, where: str, field: str) -> dict[str, Any]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise payload_error("amazon", where, field, "expected an object")
    return node


def when(value: Any, where: str, field: str, *, required: bool = True) -> datetime | None:
    """The report's dates (``2020-10-21T00:00Z``) -> aware UTC."""
    return iso_time(value, "amazon", where, field, required=required)


def _violation(account: str, block_name: str, metric_id: str, block: Any, where: str,
               as_of: datetime) -> ReportedMetric:
    """One ``ListingLevelViolation`` block -> its record; a payload ``ConnectorError`` naming the field if bad."""
    block = _dict(block, where, block_name)
    rng = _dict(block.get("reportingDateRange"), where, f"{block_name}.reportingDateRange")
    defects = count(block.get("defectsCount"), "amazon", where, f"{block_name}.defectsCount")
    target = (block.get("targetValue"), str(block.get("targetCondition") or "").upper())
    if target[0] is not None and (target[0] != _TARGET[0] or target[1] != _TARGET[1]) \
            and block_name not in _warned_targets:
        _warned_targets.add(block_name)
        _log.warning("amazon: %s: %s target is %s %s, not EQUALS 0 (the pack's threshold still decides)",
                     where, block_name, target[1] or "?", target[0])
    return ReportedMetric(
        account=account, external_id=f"{metric_id}:-:{as_of:%Y-%m-%d}", metric_id=metric_id,
        value=float(defects), numerator=float(defects), status=_word(block.get("status")),
        window_start=when(rng.get("reportingDateFrom"), where, f"{block_name}.reportingDateRange.reportingDateFrom",
                          required=False),
        window_end=when(rng.get("reportingDateTo"), where, f"{block_name}.reportingDateRange.reportingDateTo",
                        required=False),
        as_of=as_of, raw_hash=payload_hash(block),
    )


def normalize_health(account: str, document: Any, marketplace_id: str, as_of: datetime,
                     where: str) -> list[ReportedMetric]:
    """The report -> account status, one record per violation category, warning states (for one marketplace).

    A violation block that is not an object, or whose count is not a whole number >= 0, is logged (naming the
    field) and stored as not reported, so the rest of the report still counts. Raises a payload ``ConnectorError``
    for a document without ``performanceMetrics`` or a malformed ``warningStates``.
    """
    if not isinstance(document, dict) or not isinstance(document.get("performanceMetrics"), list):
        raise payload_error("amazon", where, "performanceMetrics", "missing or not a list")
    out: list[ReportedMetric] = []

    statuses = [s for s in document.get("accountStatuses") or [] if isinstance(s, dict)]
    mine = next((s for s in statuses if s.get("marketplaceId") == marketplace_id), None)
    if mine is None and len(statuses) == 1 and not statuses[0].get("marketplaceId"):
        mine = statuses[0]
    if mine is not None and _word(mine.get("status")):
        out.append(ReportedMetric(account=account, external_id=f"{ACCOUNT_STATUS}:{marketplace_id}:{as_of:%Y-%m-%d}",
                                  metric_id=ACCOUNT_STATUS, status=_word(mine.get("status")), scope=marketplace_id,
                                  as_of=as_of, raw_hash=payload_hash(mine)))
    else:
        out.append(_absent(account, ACCOUNT_STATUS, marketplace_id, as_of))

    entries = [m for m in document["performanceMetrics"] if isinstance(m, dict)]
    entry = next((m for m in entries if m.get("marketplaceId") == marketplace_id), None)
    if entry is None:
        entry = entries[0] if len(entries) == 1 and not entries[0].get("marketplaceId") else {}

    for block_name, metric_id in VIOLATIONS.items():
        block = _get(entry, block_name)
        if block is None:
            out.append(_absent(account, metric_id, None, as_of))
            continue
        try:
            out.append(_violation(account, block_name, metric_id, block, where, as_of))
        except ConnectorError as exc:
            # one malformed category must not cost the report's other records (ODR, LSR ... are in the same
            # batch): this category is not reported (unknown, never ok) and the log names the field
            _log.warning("%s (stored as not reported)", exc)
            out.append(_absent(account, metric_id, None, as_of))

    known = {*VIOLATIONS, *ALIASES.values()}
    for name, block in entry.items():  # a category Amazon added since: tolerated, but said once so it gets a metric
        if name not in known and isinstance(block, dict) and "defectsCount" in block and name not in _warned_new:
            _warned_new.add(name)
            _log.warning("amazon: %s: a violation category sellerguard does not read yet: %s (defectsCount %s)",
                         where, str(name)[:60], str(block.get("defectsCount"))[:20])

    warnings = _get(entry, "warningStates")
    if warnings is None:
        out.append(_absent(account, WARNING_STATES, None, as_of))
    elif not isinstance(warnings, list):
        raise payload_error("amazon", where, "warningStates", "not a list")
    elif not warnings:
        out.append(ReportedMetric(account=account, external_id=f"{WARNING_STATES}:-:{as_of:%Y-%m-%d}",
                                  metric_id=WARNING_STATES, status="NONE", as_of=as_of))
    else:
        seen: set[str] = set()
        for i, state in enumerate(warnings):
            state = _dict(state, where, f"warningStates[{i}]")
            kind = str(state.get("warningType") or "").strip()[:50]
            if not kind:
                raise payload_error("amazon", where, f"warningStates[{i}].warningType", "missing")
            if kind in seen:
                continue
            seen.add(kind)
            out.append(ReportedMetric(account=account, external_id=f"{WARNING_STATES}:{kind}:{as_of:%Y-%m-%d}",
                                      metric_id=WARNING_STATES, status=_word(state.get("status")), scope=kind,
                                      as_of=as_of, raw_hash=payload_hash(state)))
    return out
