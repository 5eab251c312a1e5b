"""Etsy Open API v3 payloads -> normalized records. Pure functions: no HTTP, no clock, no store.

A receipt (``ShopReceipt``) carries its transactions, shipments and refunds, so one receipt gives the order,
its shipments, a cancellation (status ``canceled``) and its refunds. A ``TransactionReview`` gives a rating.
Buyer names, addresses and e-mails on the receipt are never read; ``buyer_user_id`` only through the buyer key.

Dates, not times: Etsy judges dispatch by the ship-by **date**, and ``shipment_notification_timestamp`` has been
seen at a fixed hour of the shipment's day whatever the real time (etsy/open-api#553: 18:00 Paris for a
shipment marked at 12:09). So ``ship_by`` is the END of the expected ship date in UTC, the clock Etsy judges
ship-by dates in (Etsy staff, ../shared/reference/policies/etsy.md E7: "Etsy evaluates in UTC"; the shop's own zone,
``seller_timezone``, is only shown), and a shipment's time is kept as Etsy gives it: the rules compare UTC dates.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sellerguard.errors import ConnectorError
from sellerguard.payload import payload_error
from sellerguard.schema import Cancellation, Order, OrderLine, Rating, Record, Return, Shipment, payload_hash

MIN_TS = 946684800  # the spec's minimum for every timestamp (2000-01-01)
MAX_TS = 4102444800  # 2100-01-01: anything later is not a real Etsy time
MAX_ID = 2**63 - 1
MAX_UNITS = 100_000
END_OF_DAY = time(23, 59, 59)
BuyerKey = Callable[[str | None], str | None]


def bad(where: str, field: str, problem: str) -> ConnectorError:
    return payload_error("etsy", where, field, problem)


def timestamp(value: Any, where: str, field: str, *, required: bool = True) -> datetime | None:
    """Etsy unix seconds -> aware UTC datetime."""
    if value is None:
        if required:
            raise bad(where, field, "missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not MIN_TS <= value < MAX_TS:
        raise bad(where, field, f"not a unix timestamp: {str(value)[:40]!r}")
    return datetime.fromtimestamp(value, UTC)


def end_of_date(at: datetime) -> datetime:
    """The last second of ``at``'s UTC calendar date (a date-only value as a deadline)."""
    return datetime.combine(at.astimezone(UTC).date(), END_OF_DAY, UTC)


def processing_deadline(start: datetime, days: int) -> datetime:
    """End of the ``days``-th business day (Mon-Fri, UTC dates, as Etsy judges) after ``start`` (at least 1): the
    ship-by Etsy derives from the processing time, used when a shipped line no longer carries ``expected_ship_date``."""
    day = start.astimezone(UTC).date()
    left = max(days, 1)
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return datetime.combine(day, END_OF_DAY, UTC)


def identifier(value: Any, where: str, field: str, *, required: bool = True) -> int | None:
    """A positive Etsy id (integer below 2^63)."""
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise bad(where, field, f"missing or not a positive integer id: {str(value)[:40]!r}")
    return value


def money(value: Any, where: str, field: str) -> tuple[Decimal | None, str | None]:
    """``Money`` {amount, divisor, currency_code} -> (Decimal, currency): finite, non-negative, below 10^12."""
    if value is None:
        return None, None
    try:
        amount, divisor = value["amount"], value["divisor"]  # 0 or missing is garbage, never "cents as units"
        if any(isinstance(v, bool) or not isinstance(v, int) for v in (amount, divisor)) or divisor <= 0:
            raise TypeError
        result = Decimal(amount) / Decimal(divisor)
        currency = str(value["currency_code"]).upper()
        if not 0 <= result < 10**12:
            raise ValueError
    except (KeyError, TypeError, InvalidOperation, ValueError, ZeroDivisionError):
        raise bad(where, field, "not a Money object {amount >= 0, divisor > 0, currency_code}") from None
    return result.quantize(Decimal("0.0001")), currency if re.fullmatch(r"[A-Z]{3}", currency) else None


def _list(receipt: dict[str, Any], key: str, where: str, field: str) -> list[dict[str, Any]]:
    items = receipt.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise bad(where, f"{field}.{key}", "expected a list of objects")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad(where, f"{field}.{key}[{i}]", f"expected an object, got {str(item)[:40]!r}")
    return items


def _count(value: Any, where: str, field: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UNITS:
        raise bad(where, field, f"not a plausible quantity: {str(value)[:40]!r}")
    return value


def _text(value: Any, where: str, field: str, limit: int = 200) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise bad(where, field, f"not a string: {str(value)[:40]!r}")
    text = value.strip()
    if not text or len(text) > limit or any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise bad(where, field, f"not a plausible value: {text[:40]!r}")
    return text


log = logging.getLogger("sellerguard.connectors.etsy")
_warned: set[str] = set()
STATUSES = {"paid", "completed", "open", "payment processing", "canceled", "fully refunded", "partially refunded"}


def _status(receipt: dict[str, Any], where: str, field: str) -> str:
    raw = receipt.get("status")
    status = raw.lower() if isinstance(raw, str) else ""
    if raw is not None and not isinstance(raw, str):
        raise bad(where, f"{field}.status", f"not a status: {str(raw)[:40]!r}")
    if status == "canceled":
        return "cancelled"
    if receipt.get("is_shipped") is True or status == "completed":
        return "shipped"  # v3 has no delivery timestamp: "delivered" is never known
    if status == "payment processing" or receipt.get("is_paid") is False:
        return "pending"
    if status and status not in STATUSES:  # a value Etsy adds later: recognisable, never a guess; sync goes on
        if status not in _warned:
            _warned.add(status)
            log.warning("etsy: unknown receipt status %r: kept as 'unknown'", status[:60])
        return "unknown"
    return "unshipped"


def normalize_receipt(account: str, receipt: Any, where: str, field: str, *, buyer_key: BuyerKey | None = None,
                      zone_name: str | None = None) -> list[Record]:
    """One ``ShopReceipt`` -> Order + Shipments + Cancellation/Returns.

    ``zone_name`` is the shop's IANA zone, stored as ``seller_timezone`` when the seller set it; ship-by dates are
    UTC dates whatever it is (Etsy evaluates in UTC).
    """
    if not isinstance(receipt, dict):
        raise bad(where, field, "expected an object")
    rid = identifier(receipt.get("receipt_id"), where, f"{field}.receipt_id")
    order_id = str(rid)
    created = timestamp(receipt.get("created_timestamp", receipt.get("create_timestamp")), where,
                        f"{field}.created_timestamp")
    updated = timestamp(receipt.get("updated_timestamp", receipt.get("update_timestamp")), where,
                        f"{field}.updated_timestamp", required=False)
    transactions = _list(receipt, "transactions", where, field)
    # ship-by is per line item (expected_ship_date, a date); the order is due when its first physical line is
    ship_dates, paid, handling, lines = [], [], [], []
    for i, t in enumerate(transactions):
        base = f"{field}.transactions[{i}]"
        lines.append(OrderLine(line_id=str(identifier(t.get("transaction_id"), where, f"{base}.transaction_id")),
                               quantity=_count(t.get("quantity"), where, f"{base}.quantity")))
        if (p := timestamp(t.get("paid_timestamp"), where, f"{base}.paid_timestamp", required=False)) is not None:
            paid.append(p)
        if t.get("is_digital") is True:
            continue
        days = t.get("max_processing_days")
        if days is not None:
            if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 60:
                raise bad(where, f"{base}.max_processing_days", f"not a plausible day count: {str(days)[:40]!r}")
            handling.append(days)
        if (d := timestamp(t.get("expected_ship_date"), where, f"{base}.expected_ship_date",
                           required=False)) is not None:
            ship_dates.append(end_of_date(d))
        elif days is not None:
            # Etsy empties expected_ship_date once the line has shipped (etsy/open-api#204): without this the
            # re-read shipped receipt would lose its ship-by and a late shipment would drop out of the rate
            start = p or created
            ship_dates.append(processing_deadline(start, days))
    items = sum(line.quantity for line in lines)
    total, currency = money(receipt.get("grandtotal"), where, f"{field}.grandtotal")
    subtotal, _ = money(receipt.get("total_price"), where, f"{field}.total_price")  # before coupons
    country = receipt.get("country_iso")
    if country is not None and (not isinstance(country, str) or not re.fullmatch(r"[A-Z]{2}", country)):
        raise bad(where, f"{field}.country_iso", f"not an ISO 3166 alpha-2 code: {str(country)[:20]!r}")
    buyer = identifier(receipt.get("buyer_user_id"), where, f"{field}.buyer_user_id", required=False)
    raw = payload_hash(receipt)
    status = _status(receipt, where, field)
    out: list[Record] = [Order(
        account=account, external_id=order_id, purchased_at=created, updated_at=updated,
        ship_by=min(ship_dates, default=None), fulfilment="seller", status=status,  # type: ignore[arg-type]
        total=total, currency=currency, item_count=items if transactions else 1, raw_hash=raw,
        buyer_key=buyer_key(str(buyer)) if buyer_key is not None and buyer is not None else None,
        buyer_country=country, paid_at=min(paid, default=None), handling_days=max(handling, default=None),
        seller_timezone=zone_name, items_subtotal=subtotal, lines=tuple(lines),
    )]
    shipments = _list(receipt, "shipments", where, field)
    for i, s in enumerate(shipments):
        base = f"{field}.shipments[{i}]"
        # the time of day is not real (#553): only its date counts, against ship_by = the end of the ship-by date
        at = timestamp(s.get("shipment_notification_timestamp"), where, f"{base}.shipment_notification_timestamp")
        sid = identifier(s.get("receipt_shipping_id"), where, f"{base}.receipt_shipping_id", required=False) or i + 1
        out.append(Shipment(
            account=account, external_id=f"{order_id}-{sid}", order_ref=order_id, shipped_at=at, confirmed_at=at,
            tracking_uploaded_at=at, carrier=_text(s.get("carrier_name"), where, f"{base}.carrier_name"),
            tracking_number=_text(s.get("tracking_code"), where, f"{base}.tracking_code"), raw_hash=raw,
        ))
    if not shipments and receipt.get("is_shipped") is True:
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
        reason = next((_text(r.get("reason"), where, f"{field}.refunds[{i}].reason")
                       for i, r in enumerate(refunds) if r.get("reason")), None)
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
                              currency=cur, reason=_text(r.get("reason"), where, f"{field}.refunds[{i}].reason"),
                              raw_hash=raw))
    return out


def normalize_review(account: str, review: Any, where: str, field: str) -> Rating:
    """One ``TransactionReview`` -> Rating. Etsy's standards count 1-3 stars as low, so those are negative."""
    if not isinstance(review, dict):
        raise bad(where, field, "expected an object")
    rating = review.get("rating")
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise bad(where, f"{field}.rating", f"expected 1 to 5, got {rating!r}")
    tid = identifier(review.get("transaction_id"), where, f"{field}.transaction_id")
    created = timestamp(review.get("created_timestamp", review.get("create_timestamp")), where,
                        f"{field}.created_timestamp")
    return Rating(
        account=account, external_id=f"t{tid}", rating_kind="shop_review", score=str(rating),
        score_normalized=float(rating), negative=rating <= 3, rated_at=created,  # type: ignore[arg-type]
        raw_hash=payload_hash(review),
    )
