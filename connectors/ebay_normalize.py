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

import logging
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sellerguard.errors import ConnectorError
from sellerguard.payload import iso_time, number, object_list, payload_error, show
from sellerguard.payload import warn_unknown as shared_warn_unknown
from sellerguard.schema import (
    Cancellation,
    Claim,
    Message,
    Order,
    OrderLine,
    Rating,
    Record,
    ReportedMetric,
    Return,
    Shipment,
    payload_hash,
)

log = logging.getLogger("sellerguard.connectors.ebay")


def unknown_value(field: str, value: str) -> None:
    """Log an enum value this connector does not know, once per (field, value) and process."""
    shared_warn_unknown("ebay", field, value)


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
# Post-Order ``creationInfo.reasonType`` (ReturnReasonTypeEnum) and, when absent, ``reason`` (ReturnReasonEnum):
# https://developer.ebay.com/Devzone/post-order/types/ReturnReasonTypeEnum.html and .../ReturnReasonEnum.html
REASON_TYPES = {"SNAD": "not_as_described", "REMORSE": "remorse", "CANCEL": "remorse", "INSTORE": "other"}
RETURN_REASONS = {
    "NOT_AS_DESCRIBED": "not_as_described", "DIFFERENT_FROM_LISTING": "not_as_described",
    "DEFECTIVE_ITEM": "not_as_described", "MISSING_PARTS": "not_as_described",
    "FAKE_OR_COUNTERFEIT": "not_as_described", "WRONG_ITEM": "not_as_described",
    "ARRIVED_DAMAGED": "damaged", "ARRIVED_LATE": "other",
    "NO_LONGER_NEED_ITEM": "remorse", "ORDERED_ACCIDENTALLY": "remorse", "ORDERED_DIFFERENT_ITEM": "remorse",
    "ORDERED_WRONG_ITEM": "remorse", "FOUND_BETTER_PRICE": "remorse", "CHANGED_MIND": "remorse",
    "WRONG_SIZE": "remorse", "RETURNING_GIFT": "remorse", "NO_REASON": "remorse",
    "BUYER_CANCEL_ORDER": "remorse", "OTHER": "other", "IN_STORE_RETURN": "other",
}
_COUNTRY = re.compile(r"[A-Z]{2}\Z")
BuyerKey = Callable[[str | None], str | None]
MAX_UNITS = 100_000  # more units on one line is not a plausible order
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


_QUANTUM, _CURRENCY = Decimal("0.0001"), re.compile(r"[A-Z]{3}")


def _amount(node: Any, where: str, field: str) -> tuple[Decimal | None, str | None]:
    """eBay ``Amount`` {value, currency}: a finite, non-negative decimal below 10^12 (else a payload error)."""
    if not isinstance(node, dict) or node.get("value") in (None, ""):
        return None, None
    try:
        value = Decimal(str(node["value"]))
        if not value.is_finite() or not 0 <= value < 10**12:
            raise InvalidOperation
        value = value.quantize(_QUANTUM)
    except InvalidOperation:
        raise bad(where, f"{field}.value", f"not a plausible amount: {str(node['value'])[:40]!r}") from None
    currency = node.get("currency")
    return value, currency if isinstance(currency, str) and _CURRENCY.fullmatch(currency) else None


def _count(value: Any, where: str, field: str, *, default: int = 0) -> int:
    """A unit count: a non-negative integer (eBay sends numbers); None is ``default``."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UNITS:
        raise bad(where, field, f"not a plausible quantity: {str(value)[:40]!r}")
    return value


_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._#-]*\Z")  # eBay ids: order 12-34567-89012, fulfillment, feedback
_CONTROL = re.compile("[\x00-\x1f\ud800-\udfff]")  # control characters and lone surrogates
_NULLS = ("nan", "null", "none")


def _text(value: Any, where: str, field: str, limit: int = 200, *, ident: bool = False) -> str | None:
    """An optional code or text: a non-empty string without control characters, else a payload error.
    ``ident``: an id, which keys a record, so it must look like one (letters, digits, ``.``, ``_``, ``-``)."""
    if type(value) is str:  # the usual case in one pass (~5 per order); anything it does not pass, below
        text = value.strip()
        if text and len(text) <= limit and not _CONTROL.search(text) and \
                (not ident or (_ID.match(text) and text.lower() not in _NULLS)):
            return text
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool) or (ident and not isinstance(value, str)):
        raise bad(where, field, f"not a string: {str(value)[:40]!r}")
    text = str(value).strip()
    if not text or len(text) > limit or _CONTROL.search(text):
        raise bad(where, field, f"not a plausible value: {text[:40]!r}")
    if ident and (not _ID.match(text) or text.lower() in _NULLS):
        raise bad(where, field, f"not an id: {text[:40]!r}")
    return text


def _obj(node: Any) -> dict[str, Any]:
    return node if isinstance(node, dict) else {}


def ship_to_country(order: dict[str, Any], where: str, field: str) -> str | None:
    """``fulfillmentStartInstructions[0].shippingStep.shipTo.contactAddress.countryCode`` (ISO alpha-2)."""
    steps = _list(order.get("fulfillmentStartInstructions"), where, f"{field}.fulfillmentStartInstructions")
    for i, step in enumerate(steps):
        code = _obj(_obj(_obj(step.get("shippingStep")).get("shipTo")).get("contactAddress")).get("countryCode")
        if code is None:
            continue
        if not isinstance(code, str) or not _COUNTRY.match(code):
            raise bad(where, f"{field}.fulfillmentStartInstructions[{i}].shippingStep.shipTo.contactAddress"
                             ".countryCode", f"not an ISO 3166 alpha-2 code: {str(code)[:20]!r}")
        return code
    return None


def normalize_order(account: str, order: Any, fulfillments: list[dict[str, Any]], where: str,
                    field: str, buyer_key: BuyerKey | None = None) -> list[Record]:
    """An ``Order`` (from getOrder when it has cancel requests) and its fulfillments -> records.

    ``buyer_key`` turns ``buyer.username`` into the pseudonymous key (``SyncContext.buyer_key``); the username
    itself is never stored. Payment time: the earliest ``paymentSummary.payments[].paymentDate``.
    """
    if not isinstance(order, dict):
        raise bad(where, field, "expected an order object")
    order_id = _text(order.get("orderId"), where, f"{field}.orderId", ident=True)
    if order_id is None:
        raise bad(where, f"{field}.orderId", "missing")
    purchased = when(order.get("creationDate"), where, f"{field}.creationDate")
    updated = when(order.get("lastModifiedDate"), where, f"{field}.lastModifiedDate", required=False)
    lines = _list(order.get("lineItems"), where, f"{field}.lineItems")
    ship_by: list[datetime] = []
    deliver_by: list[datetime] = []
    order_lines: list[OrderLine] = []
    for i, line in enumerate(lines):
        instructions = _obj(line.get("lineItemFulfillmentInstructions"))
        base = f"{field}.lineItems[{i}].lineItemFulfillmentInstructions"
        if (t := when(instructions.get("shipByDate"), where, f"{base}.shipByDate", required=False)) is not None:
            ship_by.append(t)
        if (t := when(instructions.get("maxEstimatedDeliveryDate"), where, f"{base}.maxEstimatedDeliveryDate",
                      required=False)) is not None:
            deliver_by.append(t)
        order_lines.append(OrderLine(
            line_id=_text(line.get("lineItemId"), where, f"{field}.lineItems[{i}].lineItemId", ident=True),
            quantity=_count(line.get("quantity"), where, f"{field}.lineItems[{i}].quantity"),
        ))
    cancel_status = _obj(order.get("cancelStatus"))
    state = cancel_status.get("cancelState")
    raw = order.get("orderFulfillmentStatus")
    if not isinstance(raw, str) or not raw:
        raise bad(where, f"{field}.orderFulfillmentStatus", f"not an enum value {str(raw)[:40]!r}")
    if raw not in STATUS:  # a value eBay adds later: recognisable, never a guess, and the sync goes on
        unknown_value("orderFulfillmentStatus", raw)
    status = "cancelled" if state == "CANCELED" else STATUS.get(raw, "unknown")
    pricing = _obj(order.get("pricingSummary"))
    total, currency = _amount(pricing.get("total"), where, f"{field}.pricingSummary.total")
    subtotal, _ = _amount(pricing.get("priceSubtotal"), where, f"{field}.pricingSummary.priceSubtotal")
    payments = _list(_obj(order.get("paymentSummary")).get("payments"), where, f"{field}.paymentSummary.payments")
    paid = [t for i, p in enumerate(payments)
            if (t := when(p.get("paymentDate"), where, f"{field}.paymentSummary.payments[{i}].paymentDate",
                          required=False)) is not None]
    instructions = _list(order.get("fulfillmentStartInstructions"), where, f"{field}.fulfillmentStartInstructions")
    username = _text(_obj(order.get("buyer")).get("username"), where, f"{field}.buyer.username")
    site = _text(lines[0].get("listingMarketplaceId"), where, f"{field}.lineItems[0].listingMarketplaceId") \
        if lines else None
    records: list[Record] = [Order(
        account=account, external_id=order_id, purchased_at=purchased, updated_at=updated,
        ship_by=min(ship_by) if ship_by else None, deliver_by=max(deliver_by) if deliver_by else None,
        fulfilment="seller", status=status, total=total, currency=currency,  # type: ignore[arg-type]
        item_count=sum(line.quantity for line in order_lines), site=site, raw_hash=payload_hash(order),
        buyer_key=buyer_key(username) if buyer_key is not None else None,
        buyer_country=ship_to_country(order, where, field), paid_at=min(paid) if paid else None,
        order_type=_text(instructions[0].get("fulfillmentInstructionsType"), where,
                         f"{field}.fulfillmentStartInstructions[0].fulfillmentInstructionsType", 50)
        if instructions else None,
        items_subtotal=subtotal, lines=tuple(order_lines),
    )]
    for i, f in enumerate(fulfillments):
        base = f"fulfillments[{i}]"
        if not isinstance(f, dict):
            raise bad(where, base, "expected a fulfillment object")
        fid = _text(f.get("fulfillmentId"), where, f"{base}.fulfillmentId", ident=True)
        if fid is None:
            raise bad(where, f"{base}.fulfillmentId", "missing")
        shipped = when(f.get("shippedDate"), where, f"{base}.shippedDate", required=False)
        units = sum(_count(li.get("quantity"), where, f"{base}.lineItems[{j}].quantity")
                    for j, li in enumerate(_list(f.get("lineItems"), where, f"{base}.lineItems")))
        # keyed per (fulfillment, order): a seller who ships two orders in one parcel gives both the same
        # fulfillmentId (the tracking number); keyed by it alone, only the last order would look shipped
        records.append(Shipment(
            account=account, external_id=f"{fid}:{order_id}", order_ref=order_id, shipped_at=shipped,
            confirmed_at=shipped,
            carrier=_text(f.get("shippingCarrierCode"), where, f"{base}.shippingCarrierCode"),
            tracking_number=_text(f.get("shipmentTrackingNumber"), where, f"{base}.shipmentTrackingNumber"),
            item_count=units or None, raw_hash=payload_hash(f),
        ))
    if state == "CANCELED":
        requests_ = _list(cancel_status.get("cancelRequests"), where, f"{field}.cancelStatus.cancelRequests")
        request = requests_[0] if requests_ else {}
        initiator = str(request.get("cancelInitiator") or "").lower()
        reason = _text(request.get("cancelReason"), where, f"{field}.cancelStatus.cancelRequests[0].cancelReason")
        at = when(cancel_status.get("cancelledDate") or request.get("cancelCompletedDate")
                  or request.get("cancelRequestedDate") or order.get("lastModifiedDate"), where,
                  f"{field}.cancelStatus.cancelledDate")
        records.append(Cancellation(
            account=account, external_id=f"{order_id}-c", order_ref=order_id, cancelled_at=at,
            initiated_by="buyer" if initiator == "buyer" else "seller" if initiator == "seller" else "unknown",
            buyer_requested=initiator == "buyer" or str(reason) in BUYER_REASONS,
            reason=reason, item_count=sum(line.quantity for line in order_lines) or None,
            processed_at=when(request.get("cancelCompletedDate"), where,
                              f"{field}.cancelStatus.cancelRequests[0].cancelCompletedDate", required=False),
        ))
    return records


# -- analytics --------------------------------------------------------------------------------------------


def _percent(value: Any, where: str, field: str) -> float | None:
    """eBay's rates are percent strings ("0.14" = 0.14%): stored as fractions. Absent (None or "") is "not
    reported"; text, NaN/Infinity or a percentage outside [0, 100] (a "-1" stored as -0.01 before) is a payload
    error naming the field and the value, never a rate. Rounded to 10 places: no binary noise in the store."""
    percent = number(value, "ebay", where, field, required=False, low=0, high=100)
    return None if percent is None else round(percent / 100, 10)  # 0.14 / 100 is 0.0014000000000000002


CYCLES = ("CURRENT", "PROJECTED")  # CycleTypeEnum, the whole of it (specs/ebay/sell_analytics_v1_oas3.json)
_PROGRAM = re.compile(r"[A-Z][A-Z0-9_]{0,49}")  # ProgramEnum: PROGRAM_US, PROGRAM_UK, PROGRAM_DE, PROGRAM_GLOBAL


def default_profiles(body: Any, where: str) -> list[tuple[int, dict[str, Any]]]:
    """(index in ``standardsProfiles``, profile) of the default program's profiles (the first two when none is
    flagged). Shared by the metric figures and the seller levels (``ebay_levels``): one answer, one reading."""
    if not isinstance(body, dict) or not isinstance(body.get("standardsProfiles"), list):
        raise bad(where, "standardsProfiles", "missing or not a list")
    profiles = list(enumerate(_list(body["standardsProfiles"], where, "standardsProfiles")))
    return [(n, p) for n, p in profiles if p.get("defaultProgram")] or profiles[:2]


def profile_cycle(profile: dict[str, Any], where: str, n: int) -> tuple[str, dict[str, Any]]:
    """(cycleType, cycle) of a default-program profile. A cycle that is not an object, or a cycleType other than
    CURRENT/PROJECTED, is a payload error: skipping the profile would store its figures and level as "not
    reported" (under other ids) while the answer holds them, a silent loss until the next daily read."""
    cycle = profile.get("cycle")
    if not isinstance(cycle, dict):
        raise bad(where, f"standardsProfiles[{n}].cycle", f"not an object: {show(cycle)}")
    kind = cycle.get("cycleType")
    if kind not in CYCLES:
        raise bad(where, f"standardsProfiles[{n}].cycle.cycleType", f"not CURRENT or PROJECTED: {show(kind)}")
    return kind, cycle


def profile_program(profile: dict[str, Any], where: str, n: int) -> str | None:
    """The profile's program code (it keys the records); absent is None, anything not shaped like a ProgramEnum
    value (blank, a number, text) is a payload error."""
    program = profile.get("program")
    if program is None:
        return None
    if not isinstance(program, str) or not _PROGRAM.fullmatch(program):
        raise bad(where, f"standardsProfiles[{n}].program", f"not a program code: {show(program)}")
    return program


def normalize_standards(account: str, body: Any, as_of: datetime, where: str) -> list[ReportedMetric]:
    """The default program's profiles: CURRENT under the pack ids, PROJECTED under ``<id>_projected``."""
    default = default_profiles(body, where)
    out: list[ReportedMetric] = []
    cycles_seen: set[str] = set()
    for n, profile in default:
        cycle, _ = profile_cycle(profile, where, n)
        program = profile_program(profile, where, n)
        level = str(profile.get("standardsLevel") or "")[:50] or None
        seen: set[str] = set()
        for i, metric in enumerate(_list(profile.get("metrics"), where, f"standardsProfiles[{n}].metrics")):
            key = _text(metric.get("metricKey"), where, f"standardsProfiles[{n}].metrics[{i}].metricKey", 100)
            if key is None:
                raise bad(where, f"standardsProfiles[{n}].metrics[{i}].metricKey", "missing")
            ids = STANDARDS.get(key)
            if not ids:
                continue
            field = f"standardsProfiles[{n}].metrics[{i}]"
            raw = metric.get("value")
            if isinstance(raw, dict):
                value = _percent(raw.get("value"), where, f"{field}.value.value")
                num, den = raw.get("numerator"), raw.get("denominator")
            else:
                value, num, den = _percent(raw, where, f"{field}.value"), None, None
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
        cycles_seen.add(cycle)
        for ids in STANDARDS.values():  # a metric the profile leaves out is "not reported", never zero
            for metric_id in ids:
                mid = metric_id if cycle == "CURRENT" else f"{metric_id}_projected"
                if mid not in seen:
                    out.append(ReportedMetric(account=account, external_id=f"{mid}:{program}:{as_of:%Y-%m-%d}",
                                              metric_id=mid, scope=program, as_of=as_of, status="NOT_REPORTED"))
    program = profile_program(default[0][1], where, default[0][0]) if default else None
    for cycle in CYCLES:  # a cycle the answer leaves out: "not reported" for each metric
        if cycle in cycles_seen:
            continue
        for ids in STANDARDS.values():
            for metric_id in ids:
                mid = metric_id if cycle == "CURRENT" else f"{metric_id}_projected"
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
    dims = _list(body.get("dimensionMetrics"), where, "dimensionMetrics")
    if not dims:  # eBay answers 404 when it has no figure; a 200 without one is a damaged answer
        raise bad(where, "dimensionMetrics", "missing or empty")
    for d, dim in enumerate(dims):
        # the category (or other dimension) the rate is for: it keys the record, so it must be there
        name = _text(_obj(dim.get("dimension")).get("value"), where, f"dimensionMetrics[{d}].dimension.value",
                     100, ident=True)
        if not name:
            raise bad(where, f"dimensionMetrics[{d}].dimension.value", "missing")
        metrics = _list(dim.get("metrics"), where, f"dimensionMetrics[{d}].metrics")
        for m, metric in enumerate(metrics):
            if not isinstance(metric.get("metricKey"), str):
                raise bad(where, f"dimensionMetrics[{d}].metrics[{m}].metricKey", "missing")
        if not any(metric["metricKey"] == "RATE" for metric in metrics):
            raise bad(where, f"dimensionMetrics[{d}].metrics", "no RATE metric")
        for m, metric in enumerate(metrics):
            if metric.get("metricKey") != "RATE":
                continue
            mid = SERVICE_METRICS[kind]
            out.append(ReportedMetric(
                account=account, external_id=f"{mid}:{name[:40]}:{as_of:%Y-%m-%d}", metric_id=mid,
                value=_percent(metric.get("value"), where, f"dimensionMetrics[{d}].metrics[{m}].value"),
                window_start=start, window_end=end,
                status=str(_obj(metric.get("benchmark")).get("rating") or "")[:50] or None, scope=name[:50],
                as_of=as_of, raw_hash=payload_hash(metric),
            ))
    return out


# -- messages, feedback -----------------------------------------------------------------------------------


def normalize_conversation(account: str, conversation: Any, messages: list[dict[str, Any]], seller: str,
                           where: str, field: str) -> Message | None:
    """A buyer conversation -> one Message: the first buyer message and the seller's first reply after it."""
    cid = _text(conversation.get("conversationId"), where, f"{field}.conversationId", ident=True) \
        if isinstance(conversation, dict) else None
    if cid is None:
        raise bad(where, f"{field}.conversationId", "missing")
    dated = []
    for i, m in enumerate(_list(messages, where, f"{field}.messages")):
        dated.append((when(m.get("createdDate"), where, f"{field}.messages[{i}].createdDate"),
                      _text(m.get("senderUsername"), where, f"{field}.messages[{i}].senderUsername") or ""))
        if not dated[-1][1]:
            raise bad(where, f"{field}.messages[{i}].senderUsername", "missing")
    dated.sort(key=lambda t: t[0])  # type: ignore[arg-type, return-value]
    first_buyer = next((t for t, who in dated if who and who.lower() != seller.lower()), None)
    if first_buyer is None:
        return None  # the seller wrote first and nobody answered: nothing owed
    reply = next((t for t, who in dated if who.lower() == seller.lower() and t > first_buyer), None)  # type: ignore[operator]
    reference = _text(conversation.get("referenceId"), where, f"{field}.referenceId", ident=True) \
        if conversation.get("referenceType") == "ORDER" else None
    return Message(account=account, external_id=cid, thread_id=cid, order_ref=reference or None,
                   received_at=first_buyer, first_reply_at=reply,
                   needs_reply=conversation.get("conversationStatus") != "ARCHIVE" or reply is not None,
                   raw_hash=payload_hash([conversation.get("conversationId"), [str(t) for t, _ in dated]]))


def normalize_feedback(account: str, entry: Any, where: str, field: str) -> Rating:
    if not isinstance(entry, dict) or not _text(entry.get("feedbackId"), where, f"{field}.feedbackId", ident=True):
        raise bad(where, f"{field}.feedbackId", "missing")
    kind = entry.get("commentType")
    if kind not in ("POSITIVE", "NEUTRAL", "NEGATIVE"):
        raise bad(where, f"{field}.commentType", f"unknown value {kind!r}")
    return Rating(
        account=account, external_id=str(entry["feedbackId"]).strip(), rating_kind="seller_feedback",
        score=kind.lower(),
        score_normalized={"POSITIVE": 5.0, "NEUTRAL": 3.0, "NEGATIVE": 1.0}[kind], negative=kind == "NEGATIVE",
        rated_at=when(entry.get("feedbackEnteredDate"), where, f"{field}.feedbackEnteredDate"),
        order_ref=None,  # feedback names an order line (item-transaction), not the order
        removed=str(entry.get("feedbackState") or "").upper() in ("REMOVED", "WITHDRAWN"), raw_hash=payload_hash(entry),
    )


# -- Post-Order (hand-made shapes, see tests/fixtures/ebay/README.md) ----------------------------------


def return_reason(creation: dict[str, Any]) -> tuple[str | None, str | None]:
    """(reason as eBay gives it, reason_category): ``reasonType`` decides when present (SNAD vs REMORSE),
    else the detailed ``reason``; a value not in either table is kept as text with category "other"."""
    reason = creation.get("reason")
    reason = str(reason)[:200] if isinstance(reason, str | int) and str(reason).strip() else None
    kind = creation.get("reasonType")
    category = REASON_TYPES.get(kind) if isinstance(kind, str) else None
    if category is None and reason is not None:
        category = RETURN_REASONS.get(reason, "other")
    return reason, category


def normalize_return(account: str, member: Any, where: str, field: str) -> Return:
    if not isinstance(member, dict) or not _text(member.get("returnId"), where, f"{field}.returnId", ident=True):
        raise bad(where, f"{field}.returnId", "missing")
    order_id = _text(member.get("orderId"), where, f"{field}.orderId", ident=True)
    if not order_id:
        raise bad(where, f"{field}.orderId", "missing")
    creation = _obj(member.get("creationInfo"))
    close = _obj(member.get("closeInfo"))
    refund = _obj(member.get("sellerTotalRefund"))
    amount, currency = _amount(refund.get("actualRefundAmount"), where, f"{field}.sellerTotalRefund")
    reason, category = return_reason(creation)
    return Return(
        account=account, external_id=str(member["returnId"]).strip(), order_ref=order_id,
        requested_at=when(creation.get("creationDate"), where, f"{field}.creationInfo.creationDate"),
        resolved_at=when(close.get("returnCloseDate"), where, f"{field}.closeInfo.returnCloseDate", required=False),
        refund_amount=amount, currency=currency, reason=reason,
        reason_category=category,  # type: ignore[arg-type]
        raw_hash=payload_hash(member),
    )


def normalize_case(account: str, member: Any, where: str, field: str) -> Claim:
    if not isinstance(member, dict) or not _text(member.get("caseId"), where, f"{field}.caseId", ident=True):
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
        account=account, external_id=str(member["caseId"]).strip(), claim_kind=kind,  # type: ignore[arg-type]
        order_ref=_text(member.get("orderId"), where, f"{field}.orderId", ident=True),
        opened_at=when(member.get("creationDate"), where, f"{field}.creationDate"), closed_at=closed,
        outcome=str(outcome)[:100] if outcome else None, seller_at_fault=fault, raw_hash=payload_hash(member),
    )
