"""eBay REST payloads -> normalized records. Pure functions: no HTTP, no clock, no store.

- Sell Fulfillment ``Order`` (+ its ``getOrder`` cancel requests and ``shipping_fulfillment`` list) -> Order,
  Shipments, Cancellation. eBay fulfils nothing itself: every order is seller-fulfilled.
- Sell Analytics ``seller_standards_profile`` (eBay's documented shape, specs/NOTES.md: rates are **percent**
  strings) and ``customer_service_metric`` -> ReportedMetric with the ids of ``rules/packs/ebay.toml``.
- Commerce Message conversations -> Messages; Commerce Feedback -> Ratings.
- Post-Order return and case searches (no published spec: shapes from eBay's HTML reference) -> Return, Claim.

Buyer usernames, addresses and message bodies are never stored.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sellerguard.errors import ConnectorError
from sellerguard.payload import iso_time, object_list, payload_error
from sellerguard.schema import (
    Cancellation,
    Claim,
    Message,
    Order,
    Rating,
    Record,
    ReportedMetric,
    Return,
    Shipment,
    payload_hash,
)

STATUS = {"NOT_STARTED": "unshipped", "IN_PROGRESS": "partially_shipped", "FULFILLED": "shipped"}
# seller standards metricKey -> pack metric ids (the same figure is compared with both seller levels)
STANDARDS = {
    "DEFECTIVE_TRANSACTION_RATE": ("ebay.transaction_defect_rate", "ebay.top_rated_transaction_defect_rate"),
    "CLAIMS_SAF_RATE": ("ebay.cases_closed_without_seller_resolution",),
    "SHIPPING_MISS_RATE": ("ebay.late_shipment_rate", "ebay.top_rated_late_shipment_rate"),
    "VALID_TRACKING_UPLOADED_WITHIN_HANDLING_RATE": ("ebay.tracking_uploaded_on_time_validated",),
}
SERVICE_METRICS = {"ITEM_NOT_AS_DESCRIBED": "ebay.inad_rate", "ITEM_NOT_RECEIVED": "ebay.inr_rate"}
BUYER_REASONS = {"BUYER_ASKED_CANCEL", "BUYER_CANCEL_OR_ADDRESS_ISSUE", "BUYER_REQUESTED"}
CASE_KIND = {"INR": "item_not_received", "SNAD": "not_as_described", "ITEM_NOT_RECEIVED": "item_not_received",
             "NOT_AS_DESCRIBED": "not_as_described"}


def bad(where: str, field: str, problem: str) -> ConnectorError:
    return payload_error("ebay", where, field, problem)


def when(value: Any, where: str, field: str, *, required: bool = True) -> datetime | None:
    if isinstance(value, dict):  # Post-Order wraps dates: {"value": "2026-01-02T03:04:05.000Z"}
        value = value.get("value")
    return iso_time(value, "ebay", where, field, required=required)


def _list(node: Any, where: str, field: str) -> list[dict[str, Any]]:
    return object_list(node, "ebay", where, field)


def _amount(node: Any, where: str, field: str) -> tuple[Decimal | None, str | None]:
    if not isinstance(node, dict) or node.get("value") in (None, ""):
        return None, None
    try:
        value = Decimal(str(node["value"])).quantize(Decimal("0.0001"))
    except InvalidOperation:
        raise bad(where, f"{field}.value", f"not a decimal: {node['value']!r}") from None
    currency = node.get("currency")
    return value, currency if isinstance(currency, str) and len(currency) == 3 else None


def normalize_order(account: str, order: Any, fulfillments: list[dict[str, Any]], where: str,
                    field: str) -> list[Record]:
    """An ``Order`` (from getOrder when it has cancel requests) and its fulfillments -> records."""
    if not isinstance(order, dict):
        raise bad(where, field, "expected an order object")
    order_id = order.get("orderId")
    if not isinstance(order_id, str) or not order_id:
        raise bad(where, f"{field}.orderId", "missing")
    purchased = when(order.get("creationDate"), where, f"{field}.creationDate")
    updated = when(order.get("lastModifiedDate"), where, f"{field}.lastModifiedDate", required=False)
    lines = _list(order.get("lineItems"), where, f"{field}.lineItems")
    ship_by: list[datetime] = []
    deliver_by: list[datetime] = []
    for i, line in enumerate(lines):
        instructions = line.get("lineItemFulfillmentInstructions") or {}
        base = f"{field}.lineItems[{i}].lineItemFulfillmentInstructions"
        if (t := when(instructions.get("shipByDate"), where, f"{base}.shipByDate", required=False)) is not None:
            ship_by.append(t)
        if (t := when(instructions.get("maxEstimatedDeliveryDate"), where, f"{base}.maxEstimatedDeliveryDate",
                      required=False)) is not None:
            deliver_by.append(t)
    cancel_status = order.get("cancelStatus") if isinstance(order.get("cancelStatus"), dict) else {}
    state = cancel_status.get("cancelState")
    raw = order.get("orderFulfillmentStatus")
    if raw not in STATUS:
        raise bad(where, f"{field}.orderFulfillmentStatus", f"unknown value {raw!r}")
    status = "cancelled" if state == "CANCELED" else STATUS[raw]
    total, currency = _amount((order.get("pricingSummary") or {}).get("total"), where, f"{field}.pricingSummary.total")
    hashed = payload_hash([order, fulfillments])
    records: list[Record] = [Order(
        account=account, external_id=order_id, purchased_at=purchased, updated_at=updated,
        ship_by=min(ship_by) if ship_by else None, deliver_by=max(deliver_by) if deliver_by else None,
        fulfilment="seller", status=status, total=total, currency=currency,  # type: ignore[arg-type]
        item_count=sum(int(line.get("quantity") or 0) for line in lines),
        site=(lines[0].get("listingMarketplaceId") if lines else None), raw_hash=hashed,
    )]
    for i, f in enumerate(fulfillments):
        fid = f.get("fulfillmentId")
        if not isinstance(fid, str) or not fid:
            raise bad(where, f"fulfillments[{i}].fulfillmentId", "missing")
        shipped = when(f.get("shippedDate"), where, f"fulfillments[{i}].shippedDate", required=False)
        records.append(Shipment(
            account=account, external_id=fid, order_ref=order_id, shipped_at=shipped, confirmed_at=shipped,
            carrier=f.get("shippingCarrierCode") or None, tracking_number=f.get("shipmentTrackingNumber") or None,
            item_count=sum(int(li.get("quantity") or 0) for li in _list(f.get("lineItems"), where,
                                                                         f"fulfillments[{i}].lineItems")) or None,
            raw_hash=hashed,
        ))
    if state == "CANCELED":
        requests_ = _list(cancel_status.get("cancelRequests"), where, f"{field}.cancelStatus.cancelRequests")
        request = requests_[0] if requests_ else {}
        initiator = str(request.get("cancelInitiator") or "").lower()
        reason = request.get("cancelReason")
        at = when(cancel_status.get("cancelledDate") or request.get("cancelCompletedDate")
                  or request.get("cancelRequestedDate") or order.get("lastModifiedDate"), where,
                  f"{field}.cancelStatus.cancelledDate")
        records.append(Cancellation(
            account=account, external_id=f"{order_id}-c", order_ref=order_id, cancelled_at=at,
            initiated_by="buyer" if initiator == "buyer" else "seller" if initiator == "seller" else "unknown",
            buyer_requested=initiator == "buyer" or str(reason) in BUYER_REASONS,
            reason=str(reason)[:200] if reason else None,
        ))
    return records


# -- analytics --------------------------------------------------------------------------------------------


def _percent(value: Any) -> float | None:
    """eBay's rates are percent strings ("0.14" = 0.14%): stored as fractions."""
    try:
        return float(value) / 100
    except (TypeError, ValueError):
        return None


def normalize_standards(account: str, body: Any, as_of: datetime, where: str) -> list[ReportedMetric]:
    """The default program's profiles: CURRENT under the pack ids, PROJECTED under ``<id>_projected``."""
    if not isinstance(body, dict) or not isinstance(body.get("standardsProfiles"), list):
        raise bad(where, "standardsProfiles", "missing or not a list")
    profiles = [p for p in body["standardsProfiles"] if isinstance(p, dict)]
    default = [p for p in profiles if p.get("defaultProgram")] or profiles[:2]
    out: list[ReportedMetric] = []
    for n, profile in enumerate(default):
        cycle = (profile.get("cycle") or {}).get("cycleType")
        if cycle not in ("CURRENT", "PROJECTED"):
            continue
        program = str(profile.get("program") or "")[:50] or None
        level = str(profile.get("standardsLevel") or "")[:50] or None
        seen: set[str] = set()
        for i, metric in enumerate(_list(profile.get("metrics"), where, f"standardsProfiles[{n}].metrics")):
            ids = STANDARDS.get(str(metric.get("metricKey")))
            if not ids:
                continue
            field = f"standardsProfiles[{n}].metrics[{i}]"
            raw = metric.get("value")
            if isinstance(raw, dict):
                value, num, den = _percent(raw.get("value")), raw.get("numerator"), raw.get("denominator")
            else:
                value, num, den = _percent(raw), None, None
            for metric_id in ids:
                mid = metric_id if cycle == "CURRENT" else f"{metric_id}_projected"
                seen.add(mid)
                out.append(ReportedMetric(
                    account=account, external_id=f"{mid}:{program}:{as_of:%Y-%m-%d}", metric_id=mid, value=value,
                    numerator=float(num) if isinstance(num, int | float) else None,
                    denominator=float(den) if isinstance(den, int | float) else None,
                    window_start=when(metric.get("lookbackStartDate"), where, f"{field}.lookbackStartDate",
                                      required=False),
                    window_end=when(metric.get("lookbackEndDate"), where, f"{field}.lookbackEndDate",
                                    required=False),
                    status=str(metric.get("level") or level or "")[:50] or None, scope=program, as_of=as_of,
                    raw_hash=payload_hash(metric),
                ))
        for ids in STANDARDS.values():  # a metric the profile leaves out is "not reported", never zero
            for metric_id in ids:
                mid = metric_id if cycle == "CURRENT" else f"{metric_id}_projected"
                if mid not in seen:
                    out.append(ReportedMetric(account=account, external_id=f"{mid}:{program}:{as_of:%Y-%m-%d}",
                                              metric_id=mid, scope=program, as_of=as_of, status="NOT_REPORTED"))
    return out


def normalize_service_metric(account: str, kind: str, body: Any, as_of: datetime, where: str) -> list[ReportedMetric]:
    """customer_service_metric (INAD / INR vs peers): the seller's rate per dimension, eBay's rating as status."""
    if not isinstance(body, dict):
        raise bad(where, "(body)", "expected an object")
    cycle = body.get("evaluationCycle") if isinstance(body.get("evaluationCycle"), dict) else {}
    start = when(cycle.get("startDate"), where, "evaluationCycle.startDate", required=False)
    end = when(cycle.get("endDate"), where, "evaluationCycle.endDate", required=False)
    out = []
    for d, dim in enumerate(_list(body.get("dimensionMetrics"), where, "dimensionMetrics")):
        name = str((dim.get("dimension") or {}).get("value") or (dim.get("dimension") or {}).get("name") or "all")
        for metric in _list(dim.get("metrics"), where, f"dimensionMetrics[{d}].metrics"):
            if metric.get("metricKey") != "RATE":
                continue
            mid = SERVICE_METRICS[kind]
            out.append(ReportedMetric(
                account=account, external_id=f"{mid}:{name[:40]}:{as_of:%Y-%m-%d}", metric_id=mid,
                value=_percent(metric.get("value")), window_start=start, window_end=end,
                status=str((metric.get("benchmark") or {}).get("rating") or "")[:50] or None, scope=name[:50],
                as_of=as_of, raw_hash=payload_hash(metric),
            ))
    return out


# -- messages, feedback -----------------------------------------------------------------------------------


def normalize_conversation(account: str, conversation: Any, messages: list[dict[str, Any]], seller: str,
                           where: str, field: str) -> Message | None:
    """A buyer conversation -> one Message: the first buyer message and the seller's first reply after it."""
    if not isinstance(conversation, dict) or not conversation.get("conversationId"):
        raise bad(where, f"{field}.conversationId", "missing")
    cid = str(conversation["conversationId"])
    dated = []
    for i, m in enumerate(messages):
        dated.append((when(m.get("createdDate"), where, f"{field}.messages[{i}].createdDate"),
                      str(m.get("senderUsername") or "")))
    dated.sort(key=lambda t: t[0])  # type: ignore[arg-type, return-value]
    first_buyer = next((t for t, who in dated if who and who.lower() != seller.lower()), None)
    if first_buyer is None:
        return None  # the seller wrote first and nobody answered: nothing owed
    reply = next((t for t, who in dated if who.lower() == seller.lower() and t > first_buyer), None)  # type: ignore[operator]
    reference = conversation.get("referenceId") if conversation.get("referenceType") == "ORDER" else None
    return Message(account=account, external_id=cid, thread_id=cid, order_ref=reference or None,
                   received_at=first_buyer, first_reply_at=reply,
                   needs_reply=conversation.get("conversationStatus") != "ARCHIVE" or reply is not None,
                   raw_hash=payload_hash([conversation.get("conversationId"), [str(t) for t, _ in dated]]))


def normalize_feedback(account: str, entry: Any, where: str, field: str) -> Rating:
    if not isinstance(entry, dict) or not entry.get("feedbackId"):
        raise bad(where, f"{field}.feedbackId", "missing")
    kind = entry.get("commentType")
    if kind not in ("POSITIVE", "NEUTRAL", "NEGATIVE"):
        raise bad(where, f"{field}.commentType", f"unknown value {kind!r}")
    return Rating(
        account=account, external_id=str(entry["feedbackId"]), rating_kind="seller_feedback", score=kind.lower(),
        score_normalized={"POSITIVE": 5.0, "NEUTRAL": 3.0, "NEGATIVE": 1.0}[kind], negative=kind == "NEGATIVE",
        rated_at=when(entry.get("feedbackEnteredDate"), where, f"{field}.feedbackEnteredDate"),
        order_ref=None,  # feedback names an order line (item-transaction), not the order
        removed=str(entry.get("feedbackState") or "").upper() in ("REMOVED", "WITHDRAWN"), raw_hash=payload_hash(entry),
    )


# -- Post-Order (hand-made shapes, see tests/fixtures/ebay/README.md) ----------------------------------


def normalize_return(account: str, member: Any, where: str, field: str) -> Return:
    if not isinstance(member, dict) or not member.get("returnId"):
        raise bad(where, f"{field}.returnId", "missing")
    if not member.get("orderId"):
        raise bad(where, f"{field}.orderId", "missing")
    creation = member.get("creationInfo") if isinstance(member.get("creationInfo"), dict) else {}
    close = member.get("closeInfo") if isinstance(member.get("closeInfo"), dict) else {}
    refund = member.get("sellerTotalRefund") if isinstance(member.get("sellerTotalRefund"), dict) else {}
    amount, currency = _amount(refund.get("actualRefundAmount"), where, f"{field}.sellerTotalRefund")
    return Return(
        account=account, external_id=str(member["returnId"]), order_ref=str(member["orderId"]),
        requested_at=when(creation.get("creationDate"), where, f"{field}.creationInfo.creationDate"),
        resolved_at=when(close.get("returnCloseDate"), where, f"{field}.closeInfo.returnCloseDate", required=False),
        refund_amount=amount, currency=currency, raw_hash=payload_hash(member),
    )


def normalize_case(account: str, member: Any, where: str, field: str) -> Claim:
    if not isinstance(member, dict) or not member.get("caseId"):
        raise bad(where, f"{field}.caseId", "missing")
    kind = CASE_KIND.get(str(member.get("caseType")))
    if kind is None:
        raise bad(where, f"{field}.caseType", f"unknown value {member.get('caseType')!r}")
    status = str(member.get("caseStatusEnum") or "")
    closed = when(member.get("caseClosedDate"), where, f"{field}.caseClosedDate", required=False)
    outcome = member.get("closedReason")
    fault = None
    if closed is not None or status.startswith("CLOSED"):
        # "closed without seller resolution": eBay stepped in and refunded the buyer (seller at fault)
        fault = str(outcome or "") in ("BUYER_REFUNDED_BY_EBAY", "SELLER_FAULT", "CLOSED_FOR_BUYER")
    return Claim(
        account=account, external_id=str(member["caseId"]), claim_kind=kind,  # type: ignore[arg-type]
        order_ref=str(member["orderId"]) if member.get("orderId") else None,
        opened_at=when(member.get("creationDate"), where, f"{field}.creationDate"), closed_at=closed,
        outcome=str(outcome)[:100] if outcome else None, seller_at_fault=fault, raw_hash=payload_hash(member),
    )
