"""Walmart payloads -> normalized records. Pure functions: no HTTP, no clock.

One Walmart purchase order (PO, ``purchaseOrderId``) is one sellerguard order: the PO is Walmart's unit of
fulfilment and of its metrics. Order dates are epoch milliseconds; return dates are ISO 8601 strings.
Buyer names, addresses, phone numbers and e-mail relays in the payload are never copied: the buyer id becomes a
keyed hash (``buyer_key``), the ship-to address only its country.
Every enum value of the orders/returns specs is mapped (tests walk them); an unknown value is logged once and
kept recognisable (order status "unknown", return category None), never turned into a plausible state.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sellerguard.errors import ConnectorError
from sellerguard.paginate import dig
from sellerguard.payload import WARNED, object_list, ship_time
from sellerguard.payload import payload_error as shared_payload_error
from sellerguard.payload import warn_unknown as shared_warn_unknown
from sellerguard.schema import (
    Cancellation,
    Order,
    OrderLine,
    Party,
    Record,
    Return,
    ReturnReason,
    Shipment,
    payload_hash,
)

BUYER_REASONS = {"CUSTOMER_REQUESTED_SELLER_TO_CANCEL", "CUSTOMER_CANCEL", "BUYER_CANCEL"}
# orderLineStatus.status: the whole enum of the orders spec.
LINE_STATUSES = {"Created", "Acknowledged", "Shipped", "Delivered", "Cancelled", "Refund"}
SHIPPED = {"Shipped", "Delivered"}
# returnOrderLines[].returnReason: the reason codes the returns spec lists -> reason_category.
RETURN_REASONS: dict[str, ReturnReason] = {
    "NOT_AS_DESCRIBED": "not_as_described", "INCORRECT_ITEM": "not_as_described",
    "MISSING_PARTS": "not_as_described", "DEFECTIVE": "not_as_described", "INADEQUATE_QUALITY": "not_as_described",
    "WRONG_SIZE/POOR_FIT": "remorse", "BOUGHT_ANOTHER_SIZE_OR_COLOR": "remorse", "BOUGHT_SOMEWHERE_ELSE": "remorse",
    "DUPLICATE_ITEM": "remorse", "LOWER_PRICE": "remorse", "NO_LONGER_WANTED": "remorse",
    "TRIED_TO_CANCEL": "remorse",
    "DAMAGED": "damaged", "SHIPPING_BOX_DAMAGED": "damaged",
    "LOST_IN_TRANSIT": "not_received", "LOST_AFTER_DELIVERY": "not_received", "RETURN_TO_SENDER": "not_received",
    "ARRIVED_LATE": "other", "AUTO_RETURN": "other",
}
# orderLine.refund.refundCharges.refundCharge[].refundReason: the whole enum of the orders spec.
REFUND_REASONS: dict[str, ReturnReason] = {
    "ItemNotAsAdvertised": "not_as_described", "IncorrectItemReceived": "not_as_described",
    "DefectiveItem": "not_as_described", "Missing Parts / Instructions": "not_as_described",
    "Quality -> Missing Parts / Instructions": "not_as_described",
    "DamagedItem": "damaged", "Shipping & Delivery -> Damaged": "damaged",
    "ItemNotReceivedByCustomer": "not_received", "Merchandise not received": "not_received",
    "CustomerChangedMind": "remorse", "Buyer canceled": "remorse", "Customer returned item": "remorse",
    "CustomerReceivedItemLate": "other", "BillingError": "other", "TaxExemptCustomer": "other",
    "CancelledYetShipped": "other", "IncorrectShippingPrice": "other", "Finance -> Goodwill": "other",
    "Finance -> Rollback": "other", "General adjustment": "other", "Others": "other",
    "Shipping & Delivery -> Shipping Price Discrepancy": "other",
}
# shippingInfo.postalAddress.country is alpha-3 in Walmart's examples ("USA"); Walmart US ships to these.
COUNTRIES = {"USA": "US", "US": "US", "PRI": "PR", "PR": "PR", "GUM": "GU", "VIR": "VI", "ASM": "AS", "MNP": "MP"}
MAX_UNITS = 100_000
MAX_AMOUNT = Decimal("10000000")
_log = logging.getLogger("sellerguard.connectors.walmart")
_warned = WARNED  # shared with every connector (sellerguard.payload.warn_unknown)
BuyerKey = Callable[[str | None], str | None]


def warn_unknown(field: str, value: Any) -> None:
    """Log an unknown enum value once per process."""
    shared_warn_unknown("walmart", field, value)


def payload_error(endpoint: str, field: str, problem: str) -> ConnectorError:
    return shared_payload_error("walmart", endpoint, field, problem)


# epoch ms of 2000-01-01 and 2100-01-01: a Walmart time outside them is garbage, not a date
_MS_MIN, _MS_MAX = 946_684_800_000, 4_102_444_800_000


def epoch_ms(value: Any, field: str, endpoint: str = "/v3/orders") -> datetime:
    """Walmart's epoch-millisecond integers (an ISO string is accepted too: older docs show both)."""
    if isinstance(value, bool) or value is None:
        raise payload_error(endpoint, field, "missing")
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = float(value.strip())
    elif isinstance(value, str):
        return iso(value, field, endpoint)
    if number is None or not math.isfinite(number) or not _MS_MIN <= number <= _MS_MAX:
        raise payload_error(endpoint, field, f"not a time: {str(value)[:30]!r}")
    return datetime.fromtimestamp(number / 1000, UTC)


def iso(value: Any, field: str, endpoint: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise payload_error(endpoint, field, "missing")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise payload_error(endpoint, field, f"not a time: {value[:30]!r}") from None
    dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    if not 2000 <= dt.year < 2100:
        raise payload_error(endpoint, field, f"not a plausible time: {value[:30]!r}")
    return dt.astimezone(UTC)


def _qty(node: Any, field: str) -> int:
    if node is not None and not isinstance(node, dict):
        raise payload_error("/v3/orders", field, "not an object")
    amount = dig(node, "amount", default="1")
    try:
        number = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        number = Decimal("NaN")
    if isinstance(amount, bool) or not number.is_finite() or number != number.to_integral_value() \
            or not 0 <= number <= MAX_UNITS:
        raise payload_error("/v3/orders", field, f"not a quantity: {str(amount)[:20]!r}")
    return int(number)


def _money(value: Any, field: str, endpoint: str, *, signed: bool = False) -> Decimal:
    """An amount: finite, below 10 million; negative only where ``signed`` (refund charges are negative)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise payload_error(endpoint, field, f"not an amount: {str(value)[:20]!r}")
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise payload_error(endpoint, field, f"not an amount: {str(value)[:20]!r}") from None
    if not amount.is_finite() or abs(amount) >= MAX_AMOUNT or (amount < 0 and not signed):
        raise payload_error(endpoint, field, f"not a plausible amount: {str(value)[:20]!r}")
    return amount


def _objects(node: Any, endpoint: str, field: str) -> list[dict[str, Any]]:
    return object_list(node, "walmart", endpoint, field)


def _text(value: Any, limit: int = 200) -> str | None:
    """A short printable string, or None (ids and codes; never a nested object)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text[:limit] if text and text.isprintable() else None


def cancel_party(reason: str | None) -> tuple[Party, bool]:
    """Who cancelled, read from the reason code (Walmart has no initiator field)."""
    code = (reason if isinstance(reason, str) else "").upper()
    if code in BUYER_REASONS or code.startswith("CUSTOMER"):
        return "buyer", True
    if code.startswith("SELLER"):
        return "seller", False
    if "AUTO" in code or "WALMART" in code or "FRAUD" in code:
        return "marketplace", False  # auto-cancels (no valid tracking by ESD + 4 days) count against the seller
    return "unknown", False


def _status(lines: list[tuple[str, int]]) -> str:
    """The order status from (line status, quantity) pairs; an unknown line status makes it "unknown"."""
    if any(s not in LINE_STATUSES for s, _ in lines):
        return "unknown"
    live = [(s, q) for s, q in lines if s not in ("Cancelled", "Refund")]
    if not live:
        return "cancelled"
    statuses = {s for s, _ in live}
    if statuses == {"Delivered"}:
        return "delivered"
    if statuses <= SHIPPED:
        return "shipped"
    if statuses & SHIPPED:
        return "partially_shipped"
    return "unshipped"


def normalize_order(account: str, raw: Any, ship_node: str, site: str = "US",
                    buyer_key: BuyerKey | None = None) -> list[Record]:
    """One PO -> Order + one Shipment per tracking number + Cancellation + refund Returns.

    ``buyer_key``: ``ctx.buyer_key`` (the raw ``buyerId`` never leaves this function).
    """
    ep = "/v3/orders"
    if not isinstance(raw, dict):
        raise payload_error(ep, "list.elements.order[]", "not an object")
    po = _text(raw.get("purchaseOrderId"), 100)
    if not po:
        raise payload_error(ep, "purchaseOrderId", "missing or not an id")
    where = f"order {po}"
    lines = dig(raw, "orderLines", "orderLine", default=[])
    if not isinstance(lines, list) or not lines:
        raise payload_error(ep, f"{where}: orderLines.orderLine", "missing or empty")
    node_type = dig(raw, "shipNode", "type", default=ship_node)
    fulfilment = "marketplace" if node_type == "WFSFulfilled" else "seller"  # 3PL is the seller's own logistics
    statuses: list[tuple[str, int]] = []
    updated: list[datetime] = []
    total = subtotal = Decimal(0)
    currency: str | None = None
    items = 0
    order_lines: list[OrderLine] = []
    shipments: dict[str, dict[str, Any]] = {}
    cancelled: dict[str, Any] = {}
    refunds: list[Record] = []
    for i, line in enumerate(lines):
        lw = f"{where}: orderLine[{i}]"
        if not isinstance(line, dict):
            raise payload_error(ep, lw, "not an object")
        status_date = epoch_ms(line.get("statusDate"), f"{lw}.statusDate")
        updated.append(status_date)
        qty = _qty(line.get("orderLineQuantity"), f"{lw}.orderLineQuantity")
        items += qty
        # Walmart's orders API gives no product category (only productName and sku): category stays None
        order_lines.append(OrderLine(line_id=_text(line.get("lineNumber")), quantity=qty))
        for c, charge in enumerate(_objects(dig(line, "charges", "charge"), ep, f"{lw}.charges.charge")):
            if charge.get("chargeType") in ("PRODUCT", "SHIPPING"):
                amount = _money(dig(charge, "chargeAmount", "amount", default=0), f"{lw}.charges.charge[{c}]", ep)
                total += amount
                subtotal += amount if charge.get("chargeType") == "PRODUCT" else 0
                currency = currency or _text(dig(charge, "chargeAmount", "currency"), 3)
        line_statuses = dig(line, "orderLineStatuses", "orderLineStatus", default=[])
        if not isinstance(line_statuses, list) or not line_statuses:
            raise payload_error(ep, f"{lw}.orderLineStatuses.orderLineStatus", "missing or empty")
        for k, st in enumerate(line_statuses):
            if not isinstance(st, dict):
                raise payload_error(ep, f"{lw}.orderLineStatus[{k}]", "not an object")
            status = st.get("status")
            if not isinstance(status, str) or not status:
                raise payload_error(ep, f"{lw}.orderLineStatus.status", "missing")
            if status not in LINE_STATUSES:
                warn_unknown("orderLineStatus.status", status)
            qty = _qty(st.get("statusQuantity"), f"{lw}.statusQuantity")
            statuses.append((status, qty))
            info = st.get("trackingInfo")
            if info is not None and not isinstance(info, dict):
                raise payload_error(ep, f"{lw}.orderLineStatus[{k}].trackingInfo", "not an object")
            if isinstance(info, dict) and info and _text(info.get("trackingNumber")) is None:
                # required by the spec with trackingInfo, and it keys the shipment: never replaced by a guess
                raise payload_error(ep, f"{lw}.trackingInfo.trackingNumber",
                                    f"missing or not a tracking number: {str(info.get('trackingNumber'))[:30]!r}")
            # A line status not in the spec (logged above, the order's status "unknown") still ships what its
            # trackingInfo says: the tracking number is the shipment, whatever the status word (issue 18: a garbled
            # status dropped the shipment without an error). Its dates are not guessed: no confirmation, no delivery.
            if (status in SHIPPED or status not in LINE_STATUSES) and isinstance(info, dict) and info:
                number = str(_text(info.get("trackingNumber")))
                ship = shipments.setdefault(number, {"qty": 0, "delivered": [], "confirmed": []})
                ship["qty"] += qty
                ship["shipped_at"] = epoch_ms(info.get("shipDateTime"), f"{lw}.trackingInfo.shipDateTime")
                ship["carrier"] = _text(dig(info, "carrierName", "carrier")) or \
                    _text(dig(info, "carrierName", "otherCarrier"))
                ship["tracking"] = _text(info.get("trackingNumber"))
                # no delivered timestamp exists: the line's statusDate is when it moved to Delivered
                if status in SHIPPED:
                    (ship["delivered"] if status == "Delivered" else ship["confirmed"]).append(status_date)
            elif status == "Cancelled":
                cancelled.setdefault("qty", 0)
                cancelled["qty"] += qty
                cancelled["at"] = max(cancelled.get("at", status_date), status_date)
                cancelled["reason"] = cancelled.get("reason") or _text(st.get("cancellationReason"))
        if isinstance(line.get("refund"), dict):
            refunds.append(_line_refund(account, po, line, status_date, lw))
    summary_total = dig(raw, "orderSummary", "totalAmount", "currencyAmount")
    if summary_total is not None:
        total = _money(summary_total, f"{where}: orderSummary.totalAmount", ep)
        currency = _text(dig(raw, "orderSummary", "totalAmount", "currencyUnit"), 3) or currency
    buyer = _text(raw.get("buyerId")) or _text(raw.get("customerEmailId"))  # the relay address is per customer
    country = dig(raw, "shippingInfo", "postalAddress", "country")
    order_type = _text(raw.get("orderType"), 50)
    records: list[Record] = [Order(
        account=account, external_id=str(po), raw_hash=payload_hash(raw),
        purchased_at=epoch_ms(raw.get("orderDate"), f"{where}: orderDate"),
        updated_at=max(updated),
        ship_by=_opt_ms(dig(raw, "shippingInfo", "estimatedShipDate"), f"{where}: shippingInfo.estimatedShipDate"),
        deliver_by=_opt_ms(dig(raw, "shippingInfo", "estimatedDeliveryDate"),
                           f"{where}: shippingInfo.estimatedDeliveryDate"),
        fulfilment=fulfilment, status=_status(statuses), total=total, currency=currency, item_count=items, site=site,
        buyer_key=buyer_key(buyer) if buyer_key is not None and buyer else None,
        buyer_country=COUNTRIES.get(country.strip().upper()) if isinstance(country, str) else None,
        order_type=order_type, items_subtotal=subtotal if currency else None, lines=tuple(order_lines),
    )]
    for number, s in shipments.items():
        confirmed = min(s["confirmed"]) if s["confirmed"] else None
        delivered = min(s["delivered"]) if s["delivered"] else None
        shipped = ship_time(s["shipped_at"], delivered)  # shipDateTime is typed by the seller at ship confirmation
        records.append(Shipment(
            account=account, external_id=f"{po}-{number}", order_ref=str(po), shipped_at=shipped,
            confirmed_at=confirmed, carrier=s["carrier"],
            tracking_number=s["tracking"], tracking_validated=None,  # Walmart's VTR figure says it per order
            delivered_at=delivered, item_count=s["qty"],
            # the ship confirmation carries the tracking number: the line's Shipped statusDate is the upload
            tracking_uploaded_at=confirmed if s["tracking"] else None,
        ))
    if cancelled:
        party, buyer_asked = cancel_party(cancelled.get("reason"))
        records.append(Cancellation(
            account=account, external_id=f"{po}-c", order_ref=str(po), cancelled_at=cancelled["at"],
            initiated_by=party, buyer_requested=buyer_asked, reason=(cancelled.get("reason") or None),
            item_count=cancelled["qty"],
        ))
    return records + refunds


def _opt_ms(value: Any, field: str) -> datetime | None:
    return None if value is None else epoch_ms(value, field)


def _category(table: dict[str, ReturnReason], field: str, reason: str | None) -> ReturnReason | None:
    if reason is None:
        return None
    if reason in table:
        return table[reason]
    warn_unknown(field, reason)
    return None  # unknown: not guessed


def _line_refund(account: str, po: str, line: dict[str, Any], at: datetime, lw: str) -> Return:
    """A refund on an order line (partial refunds, refunds without a return): a resolved Return."""
    ep = "/v3/orders"
    charges = _objects(dig(line, "refund", "refundCharges", "refundCharge"), ep, f"{lw}.refund.refundCharges")
    amount = sum((_money(dig(c, "charge", "chargeAmount", "amount", default=0), f"{lw}.refund", ep, signed=True)
                  for c in charges), Decimal(0))
    currency = next((_text(dig(c, "charge", "chargeAmount", "currency"), 3) for c in charges), None)
    reason = next((_text(c.get("refundReason")) for c in charges if _text(c.get("refundReason"))), None)
    ref = _text(dig(line, "refund", "refundId")) or _text(line.get("lineNumber"))
    return Return(account=account, external_id=f"{po}-refund-{ref}", order_ref=str(po), requested_at=at,
                  resolved_at=at, refund_amount=abs(amount), currency=currency, dissatisfied=None,
                  reason=reason, reason_category=_category(REFUND_REASONS, "refundReason", reason))


def normalize_return(account: str, raw: Any) -> list[Record]:
    """One return order (RMA) -> one Return per purchase order it covers."""
    endpoint = "/v3/returns"
    if not isinstance(raw, dict) or not _text(raw.get("returnOrderId")):
        raise payload_error(endpoint, "returnOrders[].returnOrderId", "missing")
    rma = str(_text(raw.get("returnOrderId")))
    requested = iso(raw.get("returnOrderDate"), f"return {rma}: returnOrderDate", endpoint)
    lines = _objects(raw.get("returnOrderLines"), endpoint, f"return {rma}: returnOrderLines")
    by_po: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        po = _text(line.get("purchaseOrderId"), 100)
        if not po:
            raise payload_error(endpoint, f"return {rma}: returnOrderLines[].purchaseOrderId", "missing")
        by_po[po].append(line)
    if not by_po:
        raise payload_error(endpoint, f"return {rma}: returnOrderLines", "empty")
    total = dig(raw, "totalRefundAmount", "currencyAmount")
    currency = _text(dig(raw, "totalRefundAmount", "currencyUnit"), 3)
    out: list[Record] = []
    for po, po_lines in by_po.items():
        done = [iso(s.get("statusTime"), f"return {rma}: currentTrackingStatuses.statusTime", endpoint)
                for line in po_lines
                for s in _objects(line.get("currentTrackingStatuses"), endpoint,
                                  f"return {rma}: currentTrackingStatuses")
                if s.get("currentRefundStatus") == "REFUND_COMPLETED" and s.get("statusTime")]
        refunded = all(line.get("currentRefundStatus") == "REFUND_COMPLETED" for line in po_lines)
        resolved = max(done) if (refunded and done) else None
        amount = None
        if resolved is not None and total is not None:
            amount = _money(total, f"return {rma}: totalRefundAmount", endpoint) if len(by_po) == 1 else None
        reason = next((_text(line.get("returnReason")) for line in po_lines if _text(line.get("returnReason"))),
                      None)
        out.append(Return(
            account=account, external_id=rma if len(by_po) == 1 else f"{rma}:{po}", order_ref=po,
            raw_hash=payload_hash(raw), requested_at=requested, resolved_at=resolved, refund_amount=amount,
            currency=currency if amount is not None else None, dissatisfied=None,
            reason=reason, reason_category=_category(RETURN_REASONS, "returnReason", reason),
        ))
    return out
