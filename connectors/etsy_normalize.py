"""Etsy Open API v3 payloads -> normalized records. Pure functions: no HTTP, no clock, no store.

A receipt (``ShopReceipt``) carries its transactions, shipments and refunds, so one receipt gives the order,
its shipments, a cancellation (status ``canceled``) and its refunds. A ``TransactionReview`` gives a rating.
Buyer names, addresses and e-mails on the receipt are never read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sellerguard.errors import ConnectorError
from sellerguard.payload import payload_error
from sellerguard.schema import Cancellation, Order, Rating, Record, Return, Shipment, payload_hash

MIN_TS = 946684800  # the spec's minimum for every timestamp (2000-01-01)


def bad(where: str, field: str, problem: str) -> ConnectorError:
    return payload_error("etsy", where, field, problem)


def timestamp(value: Any, where: str, field: str, *, required: bool = True) -> datetime | None:
    """Etsy unix seconds -> aware UTC datetime (Etsy judges ship-by dates in UTC too)."""
    if value is None:
        if required:
            raise bad(where, field, "missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < MIN_TS:
        raise bad(where, field, f"not a unix timestamp: {value!r}")
    return datetime.fromtimestamp(value, UTC)


def money(value: Any, where: str, field: str) -> tuple[Decimal | None, str | None]:
    """``Money`` {amount, divisor, currency_code} -> (Decimal, currency)."""
    if value is None:
        return None, None
    try:
        amount = Decimal(value["amount"]) / Decimal(value["divisor"] or 1)
        currency = str(value["currency_code"]).upper()
    except (KeyError, TypeError, InvalidOperation, ValueError, ZeroDivisionError):
        raise bad(where, field, "not a Money object {amount, divisor, currency_code}") from None
    return amount.quantize(Decimal("0.0001")), currency if len(currency) == 3 else None


def _list(receipt: dict[str, Any], key: str, where: str, field: str) -> list[dict[str, Any]]:
    items = receipt.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise bad(where, f"{field}.{key}", "expected a list of objects")
    return items


def _status(receipt: dict[str, Any]) -> str:
    status = str(receipt.get("status") or "").lower()
    if status == "canceled":
        return "cancelled"
    if receipt.get("is_shipped") or status == "completed":
        return "shipped"  # v3 has no delivery timestamp: "delivered" is never known
    if status == "payment processing" or receipt.get("is_paid") is False:
        return "pending"
    return "unshipped"


def normalize_receipt(account: str, receipt: Any, where: str, field: str) -> list[Record]:
    """One ``ShopReceipt`` -> Order + Shipments + Cancellation/Returns."""
    if not isinstance(receipt, dict):
        raise bad(where, field, "expected an object")
    rid = receipt.get("receipt_id")
    if not isinstance(rid, int) or isinstance(rid, bool):
        raise bad(where, f"{field}.receipt_id", "missing or not an integer")
    order_id = str(rid)
    created = timestamp(receipt.get("created_timestamp", receipt.get("create_timestamp")), where,
                        f"{field}.created_timestamp")
    updated = timestamp(receipt.get("updated_timestamp", receipt.get("update_timestamp")), where,
                        f"{field}.updated_timestamp", required=False)
    transactions = _list(receipt, "transactions", where, field)
    # ship-by is per line item (expected_ship_date); the order is due when its first physical line is
    ship_dates = [
        timestamp(t.get("expected_ship_date"), where, f"{field}.transactions[{i}].expected_ship_date",
                  required=False)
        for i, t in enumerate(transactions) if not t.get("is_digital")
    ]
    ship_by = min((d for d in ship_dates if d is not None), default=None)
    items = sum(int(t.get("quantity") or 0) for t in transactions)
    total, currency = money(receipt.get("grandtotal"), where, f"{field}.grandtotal")
    raw = payload_hash(receipt)
    status = _status(receipt)
    out: list[Record] = [Order(
        account=account, external_id=order_id, purchased_at=created, updated_at=updated, ship_by=ship_by,
        fulfilment="seller", status=status, total=total, currency=currency,  # type: ignore[arg-type]
        item_count=items if transactions else 1, raw_hash=raw,
    )]
    shipments = _list(receipt, "shipments", where, field)
    for i, s in enumerate(shipments):
        at = timestamp(s.get("shipment_notification_timestamp"), where,
                       f"{field}.shipments[{i}].shipment_notification_timestamp")
        sid = s.get("receipt_shipping_id") or i + 1
        out.append(Shipment(
            account=account, external_id=f"{order_id}-{sid}", order_ref=order_id, shipped_at=at, confirmed_at=at,
            carrier=s.get("carrier_name") or None, tracking_number=s.get("tracking_code") or None, raw_hash=raw,
        ))
    if not shipments and receipt.get("is_shipped"):
        # marked shipped without a tracking statement: the line items still say when
        shipped = [timestamp(t.get("shipped_timestamp"), where, f"{field}.transactions[{i}].shipped_timestamp",
                             required=False) for i, t in enumerate(transactions)]
        at = max((d for d in shipped if d is not None), default=None)
        out.append(Shipment(account=account, external_id=f"{order_id}-shipped", order_ref=order_id,
                            shipped_at=at, confirmed_at=at, raw_hash=raw))
    refunds = _list(receipt, "refunds", where, field)
    refund_times = [timestamp(r.get("created_timestamp"), where, f"{field}.refunds[{i}].created_timestamp")
                    for i, r in enumerate(refunds)]
    if status == "cancelled":
        # Only the seller (or Etsy) cancels an Etsy order; who asked for it is not exposed by the API.
        reason = next((str(r["reason"])[:200] for r in refunds if r.get("reason")), None)
        out.append(Cancellation(
            account=account, external_id=f"{order_id}-c", order_ref=order_id,
            cancelled_at=min(refund_times, default=None) or updated or created,  # type: ignore[type-var]
            initiated_by="seller", reason=reason, item_count=items or None, raw_hash=raw,
        ))
    else:
        for i, (r, at) in enumerate(zip(refunds, refund_times, strict=True)):
            amount, cur = money(r.get("amount"), where, f"{field}.refunds[{i}].amount")
            out.append(Return(account=account, external_id=f"{order_id}-r{i + 1}", order_ref=order_id,
                              requested_at=at, resolved_at=at, refund_amount=amount,  # type: ignore[arg-type]
                              currency=cur, raw_hash=raw))
    return out


def normalize_review(account: str, review: Any, where: str, field: str) -> Rating:
    """One ``TransactionReview`` -> Rating. Etsy's standards count 1-3 stars as low, so those are negative."""
    if not isinstance(review, dict):
        raise bad(where, field, "expected an object")
    rating = review.get("rating")
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise bad(where, f"{field}.rating", f"expected 1 to 5, got {rating!r}")
    tid = review.get("transaction_id")
    if not isinstance(tid, int) or isinstance(tid, bool):
        raise bad(where, f"{field}.transaction_id", "missing or not an integer")
    created = timestamp(review.get("created_timestamp", review.get("create_timestamp")), where,
                        f"{field}.created_timestamp")
    return Rating(
        account=account, external_id=f"t{tid}", rating_kind="shop_review", score=str(rating),
        score_normalized=float(rating), negative=rating <= 3, rated_at=created,  # type: ignore[arg-type]
        raw_hash=payload_hash(review),
    )
