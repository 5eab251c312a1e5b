"""TikTok Shop Partner API payloads -> normalized records. Pure functions: no HTTP, no clock, no store.

TikTok publishes no machine-readable spec: field names follow the official SDKs' model classes (see
docs/connectors/tiktok-shop.md). All times are unix seconds. Buyer e-mail, name, address and message are never read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sellerguard.errors import ConnectorError
from sellerguard.payload import payload_error
from sellerguard.schema import Cancellation, Order, Party, Rating, Record, Return, Shipment, payload_hash

# cancellation_initiator (orders) and role (cancellations, returns): who asked
PARTIES: dict[str, Party] = {"BUYER": "buyer", "SELLER": "seller", "SYSTEM": "marketplace",
                             "OPERATOR": "marketplace", "PLATFORM": "marketplace"}
STATUSES = {
    "UNPAID": "pending", "ON_HOLD": "pending", "AWAITING_SHIPMENT": "unshipped",
    "PARTIALLY_SHIPPING": "partially_shipped", "AWAITING_COLLECTION": "shipped", "IN_TRANSIT": "shipped",
    "DELIVERED": "delivered", "COMPLETED": "delivered", "CANCELLED": "cancelled",
}
DONE_CANCEL = {"CANCELLATION_REQUEST_SUCCESS", "CANCELLATION_REQUEST_COMPLETE"}
DONE_RETURN = {"RETURN_OR_REFUND_REQUEST_SUCCESS", "RETURN_OR_REFUND_REQUEST_COMPLETE",
               "RETURN_OR_REFUND_REQUEST_REJECT", "RETURN_OR_REFUND_REQUEST_CANCEL", "REJECT_RECEIVE_PACKAGE"}
# return reasons that are the seller's or the carrier's fault (the seller-fault return & refund rate)
SELLER_FAULT_HINTS = ("damaged", "defective", "wrong", "missing", "not_as_described", "not_received",
                      "quality", "counterfeit", "expired", "late")


def bad(where: str, field: str, problem: str) -> ConnectorError:
    return payload_error("tiktok", where, field, problem)


def seconds(value: Any, where: str, field: str, *, required: bool = False) -> datetime | None:
    """Unix seconds -> aware UTC datetime; 0 and missing mean "not yet"."""
    if value in (None, 0, "0", ""):
        if required:
            raise bad(where, field, "missing")
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise bad(where, field, f"not unix seconds: {value!r}") from None
    if number < 946684800 or number > 10**10:  # milliseconds or garbage would land far off
        raise bad(where, field, f"not unix seconds: {value!r}")
    return datetime.fromtimestamp(number, UTC)


def text_id(obj: dict[str, Any], key: str, where: str, field: str) -> str:
    value = obj.get(key)
    if value in (None, "") or isinstance(value, bool | dict | list):
        raise bad(where, f"{field}.{key}", "missing")
    return str(value)


def amount(value: Any, where: str, field: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.0001"))
    except InvalidOperation:
        raise bad(where, field, f"not an amount: {value!r}") from None


def _object(value: Any, where: str, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(where, field, "expected an object")
    return value


def normalize_order(account: str, order: Any, where: str, field: str, *, dispatch: str = "rts") -> list[Record]:
    """One order of ``orders/search`` -> Order + Shipments (one per package) + Cancellation.

    ``dispatch`` says which event counts as the dispatch the late-dispatch rate judges: ``rts`` (UK since
    2024-11-04: the seller marks the order Ready To Ship) or ``handover`` (US: the carrier has the parcel, i.e.
    ``collection_time``). It becomes the shipment's ``confirmed_at``.
    """
    o = _object(order, where, field)
    oid = text_id(o, "id", where, field)
    status = str(o.get("status") or "")
    if status not in STATUSES:
        raise bad(where, f"{field}.status", f"unknown order status {status!r}")
    by_tiktok = o.get("fulfillment_type") == "FULFILLMENT_BY_TIKTOK"
    payment = o.get("payment") if isinstance(o.get("payment"), dict) else {}
    lines = o.get("line_items") or []
    if not isinstance(lines, list) or not all(isinstance(x, dict) for x in lines):
        raise bad(where, f"{field}.line_items", "expected a list of objects")
    currency = str(payment.get("currency") or "") or None
    raw = payload_hash(o)
    out: list[Record] = [Order(
        account=account, external_id=oid,
        purchased_at=seconds(o.get("create_time"), where, f"{field}.create_time", required=True),  # type: ignore[arg-type]
        updated_at=seconds(o.get("update_time"), where, f"{field}.update_time"),
        # rts_sla_time: ready-to-ship deadline, the late-dispatch clock for seller-shipped orders
        ship_by=seconds(o.get("rts_sla_time") or o.get("shipping_due_time"), where, f"{field}.rts_sla_time"),
        deliver_by=seconds(o.get("delivery_due_time") or o.get("delivery_sla_time"), where,
                           f"{field}.delivery_due_time"),
        fulfilment="marketplace" if by_tiktok else "seller", status=STATUSES[status],  # type: ignore[arg-type]
        total=amount(payment.get("total_amount"), where, f"{field}.payment.total_amount"),
        currency=currency if currency and len(currency) == 3 else None,
        item_count=len(lines) or 1, raw_hash=raw,
    )]
    rts = seconds(o.get("rts_time"), where, f"{field}.rts_time")
    collected = seconds(o.get("collection_time"), where, f"{field}.collection_time")
    delivered = seconds(o.get("delivery_time"), where, f"{field}.delivery_time")
    packages: dict[str, dict[str, Any]] = {}
    for line in lines:  # tracking lives on the line items, grouped by package
        pid = str(line.get("package_id") or "")
        if pid or line.get("tracking_number"):
            packages.setdefault(pid or "1", {"tracking": line.get("tracking_number"),
                                             "carrier": line.get("shipping_provider_name"), "items": 0})
            packages[pid or "1"]["items"] += 1
    if not packages and (o.get("tracking_number") or rts):
        packages["1"] = {"tracking": o.get("tracking_number"), "carrier": o.get("shipping_provider"), "items": None}
    if rts or collected or delivered:
        for pid, p in packages.items():
            out.append(Shipment(
                account=account, external_id=f"{oid}-{pid}", order_ref=oid, shipped_at=collected or rts,
                confirmed_at=collected if dispatch == "handover" else rts,
                carrier=p["carrier"] or o.get("shipping_provider") or None,
                tracking_number=p["tracking"] or o.get("tracking_number") or None, delivered_at=delivered,
                item_count=p["items"], raw_hash=raw,
            ))
    if status == "CANCELLED":
        initiator = str(o.get("cancellation_initiator") or "").upper()
        out.append(Cancellation(
            account=account, external_id=f"{oid}-c", order_ref=oid,
            cancelled_at=seconds(o.get("cancel_time"), where, f"{field}.cancel_time")  # type: ignore[arg-type]
            or seconds(o.get("update_time"), where, f"{field}.update_time", required=True),
            initiated_by=PARTIES.get(initiator, "unknown"), buyer_requested=bool(o.get("is_buyer_request_cancel")),
            reason=(str(o["cancel_reason"])[:200] if o.get("cancel_reason") else None), raw_hash=raw,
        ))
    return out


def normalize_cancellation(account: str, item: Any, where: str, field: str) -> Cancellation | None:
    """One ``cancellations/search`` record; None while the request is pending, rejected or withdrawn."""
    c = _object(item, where, field)
    text_id(c, "cancel_id", where, field)
    oid = text_id(c, "order_id", where, field)
    if str(c.get("cancel_status") or "") not in DONE_CANCEL:
        return None
    role = str(c.get("role") or "").upper()
    return Cancellation(
        account=account, external_id=f"{oid}-c", order_ref=oid,  # same key as the order's own cancellation
        cancelled_at=seconds(c.get("update_time") or c.get("create_time"), where, f"{field}.update_time",
                             required=True),  # type: ignore[arg-type]
        initiated_by=PARTIES.get(role, "unknown"), buyer_requested=role == "BUYER",
        reason=(str(c.get("cancel_reason_text") or c.get("cancel_reason"))[:200]
                if c.get("cancel_reason_text") or c.get("cancel_reason") else None),
        item_count=len(c.get("cancel_line_items") or []) or None, raw_hash=payload_hash(c),
    )


def normalize_return(account: str, item: Any, where: str, field: str) -> Return:
    """One ``returns/search`` record (a refund-only request is a return without goods)."""
    r = _object(item, where, field)
    rid = text_id(r, "return_id", where, field)
    oid = text_id(r, "order_id", where, field)
    status = str(r.get("return_status") or "")
    refund = r.get("refund_amount") if isinstance(r.get("refund_amount"), dict) else {}
    reason = str(r.get("return_reason") or "").lower()
    currency = str(refund.get("currency") or "") or None
    return Return(
        account=account, external_id=rid, order_ref=oid,
        requested_at=seconds(r.get("create_time"), where, f"{field}.create_time", required=True),  # type: ignore[arg-type]
        resolved_at=seconds(r.get("update_time"), where, f"{field}.update_time") if status in DONE_RETURN else None,
        refund_amount=amount(refund.get("refund_total"), where, f"{field}.refund_amount.refund_total"),
        currency=currency if currency and len(currency) == 3 else None,
        # dissatisfied marks a seller- or carrier-fault reason: what TikTok's seller-fault R/R rate counts
        dissatisfied=any(h in reason for h in SELLER_FAULT_HINTS) if reason else None,
        raw_hash=payload_hash(r),
    )


def normalize_review(account: str, item: Any, where: str, field: str) -> Rating:
    """One product review. TikTok's Negative Review Rate counts 1-2 stars."""
    r = _object(item, where, field)
    r = r.get("review") if isinstance(r.get("review"), dict) else r
    rid = text_id(r, "review_id", where, field)
    rating = r.get("rating")
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise bad(where, f"{field}.rating", f"expected 1 to 5, got {rating!r}")
    return Rating(
        account=account, external_id=rid, rating_kind="product_review", score=str(rating),
        score_normalized=float(rating), negative=rating <= 2,
        rated_at=seconds(r.get("create_time"), where, f"{field}.create_time", required=True),  # type: ignore[arg-type]
        order_ref=str(r["order_id"]) if r.get("order_id") else None, raw_hash=payload_hash(r),
    )
