"""TikTok Shop Partner API payloads -> normalized records. Pure functions: no HTTP, no clock, no store.

TikTok publishes no machine-readable spec: field names follow the official SDKs' model classes (see
docs/connectors/tiktok-shop.md). All times are unix seconds. Buyer e-mail, name, address and message are never read.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sellerguard.errors import ConnectorError
from sellerguard.payload import payload_error
from sellerguard.payload import warn_unknown as shared_warn_unknown
from sellerguard.schema import (
    Cancellation,
    Order,
    OrderLine,
    Party,
    Rating,
    Record,
    Return,
    ReturnReason,
    Shipment,
    payload_hash,
)

log = logging.getLogger("sellerguard.connectors.tiktok")
BuyerKey = Callable[[str | None], str | None]  # SyncContext.buyer_key: raw buyer id -> pseudonymous key

# cancellation_initiator (orders) and role (cancellations, returns): who asked
PARTIES: dict[str, Party] = {"BUYER": "buyer", "SELLER": "seller", "SYSTEM": "marketplace",
                             "OPERATOR": "marketplace", "PLATFORM": "marketplace"}
STATUSES = {
    "UNPAID": "pending", "ON_HOLD": "pending", "AWAITING_SHIPMENT": "unshipped",
    "PARTIALLY_SHIPPING": "partially_shipped", "AWAITING_COLLECTION": "shipped", "IN_TRANSIT": "shipped",
    "DELIVERED": "delivered", "COMPLETED": "delivered", "CANCELLED": "cancelled",
}
DONE_CANCEL = {"CANCELLATION_REQUEST_SUCCESS", "CANCELLATION_REQUEST_COMPLETE"}
# cancel_status values that are not (yet) a cancellation: pending, refused or withdrawn requests
OPEN_CANCEL = {"CANCELLATION_REQUEST_PENDING", "CANCELLATION_REQUEST_REJECT", "CANCELLATION_REQUEST_CANCEL"}
DONE_RETURN = {"RETURN_OR_REFUND_REQUEST_SUCCESS", "RETURN_OR_REFUND_REQUEST_COMPLETE",
               "RETURN_OR_REFUND_REQUEST_REJECT", "RETURN_OR_REFUND_REQUEST_CANCEL", "REJECT_RECEIVE_PACKAGE"}
OPEN_RETURN = {"RETURN_OR_REFUND_REQUEST_PENDING", "AWAITING_BUYER_SHIP", "BUYER_SHIPPED_ITEM",
               "RETURN_OR_REFUND_REQUEST_REJECT_APPEAL", "REPLACEMENT_REQUEST_PENDING"}
# return reasons that are the seller's or the carrier's fault (the seller-fault return & refund rate)
SELLER_FAULT_HINTS = ("damaged", "defective", "wrong", "missing", "not_as_described", "not_received",
                      "quality", "counterfeit", "expired", "late")
# return_reason code fragments -> reason category (first match wins; no match: "other", no reason: None)
REASON_CATEGORIES: tuple[tuple[str, ReturnReason], ...] = (
    ("damaged", "damaged"), ("broken", "damaged"),
    ("not_received", "not_received"), ("missing_package", "not_received"), ("lost", "not_received"),
    ("not_as_described", "not_as_described"), ("wrong", "not_as_described"), ("defective", "not_as_described"),
    ("quality", "not_as_described"), ("counterfeit", "not_as_described"), ("missing", "not_as_described"),
    ("expired", "not_as_described"), ("no_longer_needed", "remorse"), ("changed_mind", "remorse"),
    ("change_of_mind", "remorse"), ("mistake", "remorse"), ("better_price", "remorse"), ("size", "remorse"),
)


def unknown_value(field: str, value: str) -> None:
    """Log an enum value this connector does not know, once per (field, value) and process."""
    shared_warn_unknown("tiktok", field, value)


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
    except (TypeError, ValueError, OverflowError):
        raise bad(where, field, f"not unix seconds: {value!r}") from None
    if number < 946684800 or number > 10**10:  # milliseconds or garbage would land far off
        raise bad(where, field, f"not unix seconds: {value!r}")
    return datetime.fromtimestamp(number, UTC)


def currency_code(value: Any) -> str | None:
    """ISO 4217 (three ASCII letters, upper-cased); anything else is not a currency TikTok sends: None."""
    return value.upper() if isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha() \
        else None


def text_id(obj: dict[str, Any], key: str, where: str, field: str) -> str:
    """A TikTok id: a decimal number as a string (orders, packages, returns, cancellations, reviews), at most
    30 digits; anything else is a payload error (a record stored under a garbled id would orphan the real one)."""
    value = obj.get(key)
    if value in (None, "") or isinstance(value, bool | dict | list):
        raise bad(where, f"{field}.{key}", "missing")
    text = str(value) if isinstance(value, str | int) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 20 and int(text) < 2**64):  # 64-bit ids
        raise bad(where, f"{field}.{key}", f"not a TikTok id: {str(value)[:30]!r}")
    return text


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


def _country(o: dict[str, Any]) -> str | None:
    """``recipient_address.region_code`` (ISO alpha-2, e.g. ``US``); nothing else of the address is read."""
    addr = o.get("recipient_address")
    code = addr.get("region_code") if isinstance(addr, dict) else None
    return code.upper() if isinstance(code, str) and len(code) == 2 and code.isalpha() and code.isascii() else None


def normalize_order(account: str, order: Any, where: str, field: str, *, dispatch: str = "rts",
                    buyer_key: BuyerKey | None = None) -> list[Record]:
    """One order of ``orders/search`` -> Order + Shipments (one per package) + Cancellation.

    ``dispatch`` says which event counts as the dispatch the late-dispatch rate judges: ``rts`` (UK since
    2024-11-04: the seller marks the order Ready To Ship) or ``handover`` (US: the carrier has the parcel, i.e.
    ``collection_time``). It becomes the shipment's ``confirmed_at``. ``buyer_key`` turns ``user_id`` into the
    pseudonymous key (the raw id is never stored). An order status this module does not know is stored as
    ``unknown`` (and logged once), never guessed.
    """
    o = _object(order, where, field)
    oid = text_id(o, "id", where, field)
    status = str(o.get("status") or "")
    if status not in STATUSES:
        unknown_value("order status", status)
    by_tiktok = o.get("fulfillment_type") == "FULFILLMENT_BY_TIKTOK"
    payment = o.get("payment") if isinstance(o.get("payment"), dict) else {}
    if "line_items" not in o:  # every order carries its lines; without them its packages cannot be keyed
        raise bad(where, f"{field}.line_items", "missing")
    lines = o.get("line_items")
    if not isinstance(lines, list) or not all(isinstance(x, dict) for x in lines):
        raise bad(where, f"{field}.line_items", "expected a list of objects")
    if not lines:  # an order sells at least one item: an empty list lost the lines that key its packages (fuzz)
        raise bad(where, f"{field}.line_items", "empty (an order has at least one line item)")
    currency = str(payment.get("currency") or "") or None
    raw = payload_hash(o)
    order_type = o.get("order_type")
    out: list[Record] = [Order(
        account=account, external_id=oid,
        purchased_at=seconds(o.get("create_time"), where, f"{field}.create_time", required=True),  # type: ignore[arg-type]
        updated_at=seconds(o.get("update_time"), where, f"{field}.update_time"),
        # rts_sla_time: ready-to-ship deadline, the late-dispatch clock for seller-shipped orders
        ship_by=seconds(o.get("rts_sla_time") or o.get("shipping_due_time"), where, f"{field}.rts_sla_time"),
        deliver_by=seconds(o.get("delivery_due_time") or o.get("delivery_sla_time"), where,
                           f"{field}.delivery_due_time"),
        fulfilment="marketplace" if by_tiktok else "seller",
        status=STATUSES.get(status, "unknown"),  # type: ignore[arg-type]
        total=amount(payment.get("total_amount"), where, f"{field}.payment.total_amount"),
        currency=currency_code(currency),
        item_count=len(lines) or 1, raw_hash=raw,
        buyer_key=buyer_key(_buyer_id(o, where, field)) if buyer_key else None,
        buyer_country=_country(o),
        paid_at=seconds(o.get("paid_time"), where, f"{field}.paid_time"),
        order_type=str(order_type)[:50] if isinstance(order_type, str) and order_type.strip() else None,
        # before seller and platform discounts [field name from the SDK model]
        items_subtotal=amount(payment.get("original_total_product_price"), where,
                              f"{field}.payment.original_total_product_price"),
        # 202309 line items are one unit each (no quantity field); no category on the order
        lines=tuple(OrderLine(line_id=text_id(x, "id", where, f"{field}.line_items[{i}]") if x.get("id") else None,
                              quantity=1) for i, x in enumerate(lines)),
    )]
    rts = seconds(o.get("rts_time"), where, f"{field}.rts_time")
    collected = seconds(o.get("collection_time"), where, f"{field}.collection_time")
    delivered = seconds(o.get("delivery_time"), where, f"{field}.delivery_time")
    packages: dict[str, dict[str, Any]] = {}
    listed = o.get("packages")
    listed = bool(listed) and isinstance(listed, list)
    for i, line in enumerate(lines):  # tracking lives on the line items, grouped by package
        pid = text_id(line, "package_id", where, f"{field}.line_items[{i}]") if line.get("package_id") else ""
        if not pid and listed and line.get("tracking_number"):  # the order lists packages: a shipped line has one
            raise bad(where, f"{field}.line_items[{i}].package_id", "missing on a shipped line")
        if pid or line.get("tracking_number"):
            packages.setdefault(pid or "1", {"tracking": line.get("tracking_number"),
                                             "carrier": line.get("shipping_provider_name"), "items": 0})
            packages[pid or "1"]["items"] += 1
    if not packages and (o.get("tracking_number") or rts):
        packages["1"] = {"tracking": o.get("tracking_number"), "carrier": o.get("shipping_provider"), "items": None}
    if rts or collected or delivered:
        # a package may hold several orders (combined) and an order several packages (split): one record per
        # (order, package), so every order sees its own
        for pid, p in packages.items():
            out.append(Shipment(
                # US (handover): only the carrier's collection dispatches; an order marked Ready To Ship but not
                # collected is not shipped yet (its RTS time would stand in for the dispatch: counted on time)
                account=account, external_id=f"{oid}-{pid}", order_ref=oid,
                shipped_at=collected if dispatch == "handover" else collected or rts,
                confirmed_at=collected if dispatch == "handover" else rts,
                carrier=_text(p["carrier"] or o.get("shipping_provider"), where, f"{field}.shipping_provider"),
                tracking_number=_text(p["tracking"] or o.get("tracking_number"), where, f"{field}.tracking_number"),
                delivered_at=delivered,
                item_count=p["items"], raw_hash=raw,
                first_scan_at=collected,  # the carrier's collection scan
            ))
    if status == "CANCELLED":
        initiator = str(o.get("cancellation_initiator") or "").upper()
        # TikTok's system also cancels orders the buyer never paid for: the buyer's doing, not a seller fault
        # (the SFCR counts seller-side reasons: out of stock, pricing error, a missed shipping SLA)
        unpaid = initiator == "SYSTEM" and not o.get("paid_time")
        out.append(Cancellation(
            account=account, external_id=f"{oid}-c", order_ref=oid,
            cancelled_at=seconds(o.get("cancel_time"), where, f"{field}.cancel_time")  # type: ignore[arg-type]
            or seconds(o.get("update_time"), where, f"{field}.update_time", required=True),
            initiated_by="buyer" if unpaid else PARTIES.get(initiator, "unknown"),
            buyer_requested=o.get("is_buyer_request_cancel") is True or unpaid,
            reason=_text(o.get("cancel_reason"), where, f"{field}.cancel_reason"), raw_hash=raw,
        ))
    return out


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _text(value: Any, where: str, field: str) -> str | None:
    """A short text field (carrier, tracking, reason): None when absent or blank, cut to 200; another type,
    control characters or a lone surrogate is not text TikTok sends (a payload error, never stored)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int) or _CONTROL.search(str(value)):
        raise bad(where, field, f"not a text: {str(value)[:30]!r}")
    text = str(value).strip()
    return text[:200] if text else None


def _buyer_id(o: dict[str, Any], where: str, field: str) -> str | None:
    value = o.get("user_id")
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad(where, f"{field}.user_id", f"not an id: {str(value)[:30]!r}")
    return str(value)


def normalize_cancellation(account: str, item: Any, where: str, field: str) -> Cancellation | None:
    """One ``cancellations/search`` record; None while the request is pending, rejected or withdrawn."""
    c = _object(item, where, field)
    text_id(c, "cancel_id", where, field)
    oid = text_id(c, "order_id", where, field)
    cancel_status = str(c.get("cancel_status") or "")
    if cancel_status not in DONE_CANCEL:
        if cancel_status not in OPEN_CANCEL:
            unknown_value("cancel_status", cancel_status)  # not counted until TikTok says it is done
        return None
    role = str(c.get("role") or "").upper()
    return Cancellation(
        account=account, external_id=f"{oid}-c", order_ref=oid,  # same key as the order's own cancellation
        cancelled_at=seconds(c.get("update_time") or c.get("create_time"), where, f"{field}.update_time",
                             required=True),  # type: ignore[arg-type]
        initiated_by=PARTIES.get(role, "unknown"), buyer_requested=role == "BUYER",
        reason=_text(c.get("cancel_reason_text") or c.get("cancel_reason"), where, f"{field}.cancel_reason"),
        item_count=len(c.get("cancel_line_items") or []) or None, raw_hash=payload_hash(c),
    )


def normalize_return(account: str, item: Any, where: str, field: str) -> Return:
    """One ``returns/search`` record (a refund-only request is a return without goods)."""
    r = _object(item, where, field)
    rid = text_id(r, "return_id", where, field)
    oid = text_id(r, "order_id", where, field)
    status = str(r.get("return_status") or "")
    if status not in DONE_RETURN and status not in OPEN_RETURN:
        unknown_value("return_status", status)  # kept open: never resolved by a guess
    refund = r.get("refund_amount") if isinstance(r.get("refund_amount"), dict) else {}
    code = _text(r.get("return_reason"), where, f"{field}.return_reason")
    reason = (code or "").lower()
    currency = str(refund.get("currency") or "") or None
    return Return(
        account=account, external_id=rid, order_ref=oid,
        requested_at=seconds(r.get("create_time"), where, f"{field}.create_time", required=True),  # type: ignore[arg-type]
        resolved_at=seconds(r.get("update_time"), where, f"{field}.update_time") if status in DONE_RETURN else None,
        refund_amount=amount(refund.get("refund_total"), where, f"{field}.refund_amount.refund_total"),
        currency=currency_code(currency),
        # dissatisfied marks a seller- or carrier-fault reason: what TikTok's seller-fault R/R rate counts
        dissatisfied=any(h in reason for h in SELLER_FAULT_HINTS) if reason else None,
        reason=code, reason_category=reason_category(reason),
        raw_hash=payload_hash(r),
    )


def reason_category(code: str) -> ReturnReason | None:
    """A TikTok return reason code (``ecom_order_delivered_refund_and_return_reason_damaged``) -> category."""
    if not code:
        return None
    return next((cat for hint, cat in REASON_CATEGORIES if hint in code), "other")


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
        order_ref=text_id(r, "order_id", where, field) if r.get("order_id") else None, raw_hash=payload_hash(r),
    )
