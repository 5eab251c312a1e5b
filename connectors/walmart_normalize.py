"""Walmart payloads -> normalized records. Pure functions: no HTTP, no clock.

One Walmart purchase order (PO, ``purchaseOrderId``) is one sellerguard order: the PO is Walmart's unit of
fulfilment and of its metrics. Order dates are epoch milliseconds; return dates are ISO 8601 strings.
Buyer names, addresses, phone numbers and e-mail relays in the payload are never copied.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sellerguard.errors import ConnectorError
from sellerguard.paginate import dig
from sellerguard.payload import payload_error as shared_payload_error
from sellerguard.schema import Cancellation, Order, Party, Record, Return, Shipment, payload_hash

BUYER_REASONS = {"CUSTOMER_REQUESTED_SELLER_TO_CANCEL", "CUSTOMER_CANCEL", "BUYER_CANCEL"}
SHIPPED = {"Shipped", "Delivered"}


def payload_error(endpoint: str, field: str, problem: str) -> ConnectorError:
    return shared_payload_error("walmart", endpoint, field, problem)


def epoch_ms(value: Any, field: str, endpoint: str = "/v3/orders") -> datetime:
    """Walmart's epoch-millisecond integers (an ISO string is accepted too: older docs show both)."""
    if isinstance(value, bool) or value is None:
        raise payload_error(endpoint, field, "missing")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        try:
            return datetime.fromtimestamp(int(value) / 1000, UTC)
        except ValueError:
            return iso(value, field, endpoint)
    raise payload_error(endpoint, field, f"not a time: {str(value)[:30]!r}")


def iso(value: Any, field: str, endpoint: str) -> datetime:
    if not isinstance(value, str):
        raise payload_error(endpoint, field, "missing")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise payload_error(endpoint, field, f"not a time: {value[:30]!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _qty(node: Any, field: str) -> int:
    amount = dig(node, "amount", default="1")
    try:
        return int(Decimal(str(amount)))
    except (InvalidOperation, ValueError):
        raise payload_error("/v3/orders", field, f"not a quantity: {str(amount)[:20]!r}") from None


def _money(value: Any, field: str, endpoint: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise payload_error(endpoint, field, f"not an amount: {str(value)[:20]!r}") from None


def cancel_party(reason: str | None) -> tuple[Party, bool]:
    """Who cancelled, read from the reason code (Walmart has no initiator field)."""
    code = (reason or "").upper()
    if code in BUYER_REASONS or code.startswith("CUSTOMER"):
        return "buyer", True
    if code.startswith("SELLER"):
        return "seller", False
    if "AUTO" in code or "WALMART" in code or "FRAUD" in code:
        return "marketplace", False  # auto-cancels (no valid tracking by ESD + 4 days) count against the seller
    return "unknown", False


def _status(lines: list[tuple[str, int]]) -> str:
    """The order status from (line status, quantity) pairs."""
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


def normalize_order(account: str, raw: Any, ship_node: str, site: str = "US") -> list[Record]:
    """One PO -> Order + one Shipment per tracking number + Cancellation + refund Returns."""
    if not isinstance(raw, dict):
        raise payload_error("/v3/orders", "list.elements.order[]", "not an object")
    po = raw.get("purchaseOrderId")
    if not po:
        raise payload_error("/v3/orders", "purchaseOrderId", "missing")
    where = f"order {po}"
    lines = dig(raw, "orderLines", "orderLine", default=[])
    if not isinstance(lines, list) or not lines:
        raise payload_error("/v3/orders", f"{where}: orderLines.orderLine", "missing or empty")
    node_type = dig(raw, "shipNode", "type", default=ship_node)
    fulfilment = "marketplace" if node_type == "WFSFulfilled" else "seller"  # 3PL is the seller's own logistics
    statuses: list[tuple[str, int]] = []
    updated: list[datetime] = []
    total = Decimal(0)
    currency: str | None = None
    items = 0
    shipments: dict[str, dict[str, Any]] = {}
    cancelled: dict[str, Any] = {}
    refunds: list[Record] = []
    for i, line in enumerate(lines):
        lw = f"{where}: orderLine[{i}]"
        status_date = epoch_ms(line.get("statusDate"), f"{lw}.statusDate")
        updated.append(status_date)
        items += _qty(line.get("orderLineQuantity"), f"{lw}.orderLineQuantity")
        for charge in dig(line, "charges", "charge", default=[]):
            if charge.get("chargeType") in ("PRODUCT", "SHIPPING"):
                total += _money(dig(charge, "chargeAmount", "amount", default=0), f"{lw}.charges", "/v3/orders")
                currency = currency or dig(charge, "chargeAmount", "currency")
        line_statuses = dig(line, "orderLineStatuses", "orderLineStatus", default=[])
        if not isinstance(line_statuses, list) or not line_statuses:
            raise payload_error("/v3/orders", f"{lw}.orderLineStatuses.orderLineStatus", "missing or empty")
        for st in line_statuses:
            status = st.get("status")
            if not isinstance(status, str):
                raise payload_error("/v3/orders", f"{lw}.orderLineStatus.status", "missing")
            qty = _qty(st.get("statusQuantity"), f"{lw}.statusQuantity")
            statuses.append((status, qty))
            if status in SHIPPED and (info := st.get("trackingInfo")):
                number = info.get("trackingNumber") or f"line-{line.get('lineNumber', i)}"
                ship = shipments.setdefault(number, {"qty": 0, "delivered": [], "confirmed": []})
                ship["qty"] += qty
                ship["shipped_at"] = epoch_ms(info.get("shipDateTime"), f"{lw}.trackingInfo.shipDateTime")
                ship["carrier"] = dig(info, "carrierName", "carrier") or dig(info, "carrierName", "otherCarrier")
                ship["tracking"] = info.get("trackingNumber")
                # no delivered timestamp exists: the line's statusDate is when it moved to Delivered
                (ship["delivered"] if status == "Delivered" else ship["confirmed"]).append(status_date)
            elif status == "Cancelled":
                cancelled.setdefault("qty", 0)
                cancelled["qty"] += qty
                cancelled["at"] = max(cancelled.get("at", status_date), status_date)
                cancelled["reason"] = cancelled.get("reason") or st.get("cancellationReason")
        if isinstance(line.get("refund"), dict):
            refunds.append(_line_refund(account, po, line, status_date, lw))
    summary_total = dig(raw, "orderSummary", "totalAmount", "currencyAmount")
    if summary_total is not None:
        total = _money(summary_total, f"{where}: orderSummary.totalAmount", "/v3/orders")
        currency = dig(raw, "orderSummary", "totalAmount", "currencyUnit") or currency
    records: list[Record] = [Order(
        account=account, external_id=str(po), raw_hash=payload_hash(raw),
        purchased_at=epoch_ms(raw.get("orderDate"), f"{where}: orderDate"),
        updated_at=max(updated),
        ship_by=_opt_ms(dig(raw, "shippingInfo", "estimatedShipDate"), f"{where}: shippingInfo.estimatedShipDate"),
        deliver_by=_opt_ms(dig(raw, "shippingInfo", "estimatedDeliveryDate"),
                           f"{where}: shippingInfo.estimatedDeliveryDate"),
        fulfilment=fulfilment, status=_status(statuses), total=total, currency=currency, item_count=items, site=site,
    )]
    for number, s in shipments.items():
        records.append(Shipment(
            account=account, external_id=f"{po}-{number}", order_ref=str(po), shipped_at=s["shipped_at"],
            confirmed_at=min(s["confirmed"]) if s["confirmed"] else None, carrier=s["carrier"],
            tracking_number=s["tracking"], tracking_validated=None,  # Walmart's VTR figure says it per order
            delivered_at=min(s["delivered"]) if s["delivered"] else None, item_count=s["qty"],
        ))
    if cancelled:
        party, buyer = cancel_party(cancelled.get("reason"))
        records.append(Cancellation(
            account=account, external_id=f"{po}-c", order_ref=str(po), cancelled_at=cancelled["at"],
            initiated_by=party, buyer_requested=buyer, reason=(cancelled.get("reason") or None),
            item_count=cancelled["qty"],
        ))
    return records + refunds


def _opt_ms(value: Any, field: str) -> datetime | None:
    return None if value is None else epoch_ms(value, field)


def _line_refund(account: str, po: str, line: dict[str, Any], at: datetime, lw: str) -> Return:
    """A refund on an order line (partial refunds, refunds without a return): a resolved Return."""
    charges = dig(line, "refund", "refundCharges", "refundCharge", default=[])
    amount = sum((_money(dig(c, "charge", "chargeAmount", "amount", default=0), f"{lw}.refund", "/v3/orders")
                  for c in charges), Decimal(0))
    currency = next((dig(c, "charge", "chargeAmount", "currency") for c in charges), None)
    ref = dig(line, "refund", "refundId") or line.get("lineNumber")
    return Return(account=account, external_id=f"{po}-refund-{ref}", order_ref=str(po), requested_at=at,
                  resolved_at=at, refund_amount=abs(amount), currency=currency, dissatisfied=None)


def normalize_return(account: str, raw: Any) -> list[Record]:
    """One return order (RMA) -> one Return per purchase order it covers."""
    endpoint = "/v3/returns"
    if not isinstance(raw, dict) or not raw.get("returnOrderId"):
        raise payload_error(endpoint, "returnOrders[].returnOrderId", "missing")
    rma = str(raw["returnOrderId"])
    requested = iso(raw.get("returnOrderDate"), f"return {rma}: returnOrderDate", endpoint)
    lines = raw.get("returnOrderLines") or []
    by_po: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        po = line.get("purchaseOrderId") if isinstance(line, dict) else None
        if not po:
            raise payload_error(endpoint, f"return {rma}: returnOrderLines[].purchaseOrderId", "missing")
        by_po[str(po)].append(line)
    if not by_po:
        raise payload_error(endpoint, f"return {rma}: returnOrderLines", "empty")
    total = dig(raw, "totalRefundAmount", "currencyAmount")
    currency = dig(raw, "totalRefundAmount", "currencyUnit")
    out: list[Record] = []
    for po, po_lines in by_po.items():
        done = [iso(s.get("statusTime"), f"return {rma}: currentTrackingStatuses.statusTime", endpoint)
                for line in po_lines for s in (line.get("currentTrackingStatuses") or [])
                if s.get("currentRefundStatus") == "REFUND_COMPLETED" and s.get("statusTime")]
        refunded = all(line.get("currentRefundStatus") == "REFUND_COMPLETED" for line in po_lines)
        resolved = max(done) if (refunded and done) else None
        amount = None
        if resolved is not None and total is not None:
            amount = _money(total, f"return {rma}: totalRefundAmount", endpoint) if len(by_po) == 1 else None
        out.append(Return(
            account=account, external_id=rma if len(by_po) == 1 else f"{rma}:{po}", order_ref=po,
            raw_hash=payload_hash(raw), requested_at=requested, resolved_at=resolved, refund_amount=amount,
            currency=currency if amount is not None else None, dissatisfied=None,
        ))
    return out
