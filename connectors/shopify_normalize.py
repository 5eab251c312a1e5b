"""Shopify GraphQL Admin queries and their normalization. Pure: no HTTP, no clock.

The queries are checked field by field against the Admin schema of the pinned version by the tests
(tests/graphql_check.py). Nested connections are kept small so one page costs well under Shopify's 1,000-point
ceiling per query. No customer fields are selected at all: the store never sees buyer names or addresses.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sellerguard.errors import ConnectorError
from sellerguard.paginate import dig
from sellerguard.payload import payload_error as shared_payload_error
from sellerguard.schema import Cancellation, Claim, Order, Party, Record, Return, Shipment, payload_hash

ORDERS_QUERY = """
query SellerguardOrders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id legacyResourceId createdAt processedAt updatedAt cancelledAt cancelReason closedAt test
      displayFulfillmentStatus subtotalLineItemsQuantity
      totalPriceSet { shopMoney { amount currencyCode } }
      fulfillmentOrders(first: 2) {
        nodes { id status fulfillBy deliveryMethod { methodType maxDeliveryDateTime } }
      }
      fulfillments(first: 2) {
        id createdAt inTransitAt deliveredAt estimatedDeliveryAt displayStatus status totalQuantity
        trackingInfo(first: 1) { company number }
      }
      returns(first: 2) {
        nodes {
          id status totalQuantity
          refunds(first: 1) { nodes { createdAt totalRefundedSet { shopMoney { amount currencyCode } } } }
        }
      }
    }
  }
}
"""

DISPUTES_QUERY = """
query SellerguardDisputes($first: Int!, $after: String, $query: String) {
  disputes(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id legacyResourceId initiatedAt finalizedOn status type
      reasonDetails { reason }
      amount { amount currencyCode }
      order { legacyResourceId }
    }
  }
}
"""

SCOPES_QUERY = "query SellerguardScopes { currentAppInstallation { accessScopes { handle } } }"

# cancelReason -> (who, at the buyer's request). A merchant or staff member always performs a Shopify
# cancellation; the reason says why. DECLINED = the buyer's payment was declined (not the seller's doing).
CANCEL_PARTIES: dict[str, tuple[Party, bool]] = {
    "CUSTOMER": ("buyer", True),
    "DECLINED": ("buyer", False),
    "FRAUD": ("seller", False),
    "INVENTORY": ("seller", False),
    "STAFF": ("seller", False),
    "OTHER": ("seller", False),
}
DISPUTE_AT_FAULT = {"LOST": True, "ACCEPTED": True, "CHARGE_REFUNDED": True, "WON": False}
TRACKED_STATUSES = {"IN_TRANSIT", "OUT_FOR_DELIVERY", "ATTEMPTED_DELIVERY", "DELIVERED", "DELAYED", "PICKED_UP"}


def payload_error(what: str, field: str, problem: str) -> ConnectorError:
    return shared_payload_error("shopify", what, field, problem)


def ts(value: Any, field: str, what: str = "orders") -> datetime:
    if not isinstance(value, str):
        raise payload_error(what, field, "missing")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise payload_error(what, field, f"not a time: {value[:30]!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def opt_ts(value: Any, field: str, what: str = "orders") -> datetime | None:
    return None if value is None else ts(value, field, what)


def day(value: Any, field: str, what: str) -> datetime | None:
    """A GraphQL ``Date`` (evidence and finalization days) as midnight UTC."""
    if value is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(str(value)), time(), UTC)
    except ValueError:
        raise payload_error(what, field, f"not a date: {str(value)[:20]!r}") from None


def money(value: Any, field: str, what: str = "orders") -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise payload_error(what, field, f"not an amount: {str(value)[:20]!r}") from None


def add_business_days(start: datetime, days: int) -> datetime:
    """``start`` plus ``days`` Monday-Friday days (UTC): the seller's own handling time when Shopify has none."""
    out = start
    left = days
    while left > 0:
        out += timedelta(days=1)
        if out.weekday() < 5:
            left -= 1
    return out


def gid_tail(gid: Any) -> str:
    return str(gid).rsplit("/", 1)[-1]


def _status(node: dict[str, Any], shipments: list[Shipment]) -> str:
    if node.get("cancelledAt"):
        return "cancelled"
    display = node.get("displayFulfillmentStatus")
    if display == "FULFILLED":
        delivered = shipments and all(s.delivered_at is not None for s in shipments)
        return "delivered" if delivered else "shipped"
    if display == "PARTIALLY_FULFILLED":
        return "partially_shipped"
    return "unshipped"


def normalize_order(account: str, node: Any, handling_days: int | None = None, site: str | None = None) -> list[Record]:
    """One Shopify order -> Order + a Shipment per fulfillment + Cancellation + Returns."""
    if not isinstance(node, dict) or not node.get("id"):
        raise payload_error("orders", "orders.nodes[].id", "missing")
    oid = str(node.get("legacyResourceId") or gid_tail(node["id"]))
    where = f"order {oid}"
    purchased = ts(node.get("processedAt") or node.get("createdAt"), f"{where}: processedAt")
    fos = dig(node, "fulfillmentOrders", "nodes", default=[])
    if not isinstance(fos, list):
        raise payload_error("orders", f"{where}: fulfillmentOrders.nodes", "not a list")
    fulfil_by = [ts(fo["fulfillBy"], f"{where}: fulfillmentOrders.fulfillBy") for fo in fos if fo.get("fulfillBy")]
    latest = [ts(v, f"{where}: deliveryMethod.maxDeliveryDateTime") for fo in fos
              if (v := dig(fo, "deliveryMethod", "maxDeliveryDateTime"))]
    ship_by = min(fulfil_by) if fulfil_by else (
        add_business_days(purchased, handling_days) if handling_days is not None else None)
    shipments: list[Shipment] = []
    fulfillments = node.get("fulfillments") or []
    if not isinstance(fulfillments, list):
        raise payload_error("orders", f"{where}: fulfillments", "not a list")
    for f in fulfillments:
        if f.get("status") in ("CANCELLED", "ERROR", "FAILURE"):
            continue
        tracking = (f.get("trackingInfo") or [{}])[0] or {}
        display = f.get("displayStatus")
        created = ts(f.get("createdAt"), f"{where}: fulfillments.createdAt")
        shipments.append(Shipment(
            account=account, external_id=f"{oid}-{gid_tail(f.get('id'))}", order_ref=oid,
            shipped_at=opt_ts(f.get("inTransitAt"), f"{where}: fulfillments.inTransitAt") or created,
            confirmed_at=created, carrier=tracking.get("company"), tracking_number=tracking.get("number"),
            tracking_validated=True if display in TRACKED_STATUSES else None,  # a carrier event = a scan
            delivered_at=opt_ts(f.get("deliveredAt"), f"{where}: fulfillments.deliveredAt"),
            item_count=f.get("totalQuantity"),
        ))
    amount = dig(node, "totalPriceSet", "shopMoney", "amount")
    records: list[Record] = [Order(
        account=account, external_id=oid, raw_hash=payload_hash(node), purchased_at=purchased,
        updated_at=opt_ts(node.get("updatedAt"), f"{where}: updatedAt"), ship_by=ship_by,
        deliver_by=min(latest) if latest else None, fulfilment="seller", status=_status(node, shipments),
        total=money(amount, f"{where}: totalPriceSet.shopMoney.amount"),
        currency=dig(node, "totalPriceSet", "shopMoney", "currencyCode"),
        item_count=int(node.get("subtotalLineItemsQuantity") or 0), site=site,
    )]
    records.extend(shipments)
    if node.get("cancelledAt"):
        reason = node.get("cancelReason")
        party, buyer = CANCEL_PARTIES.get(str(reason), ("unknown", False))
        records.append(Cancellation(
            account=account, external_id=f"{oid}-c", order_ref=oid,
            cancelled_at=ts(node["cancelledAt"], f"{where}: cancelledAt"), initiated_by=party,
            buyer_requested=buyer, reason=reason,
        ))
    records.extend(_returns(account, oid, node, where))
    return records


def _returns(account: str, oid: str, node: dict[str, Any], where: str) -> list[Record]:
    """Returns of the order. The 2025-01 ``Return`` has no creation time: the first refund's time, else the
    order's ``updatedAt``, stands in for it (approximate; documented as a quirk)."""
    out: list[Record] = []
    updated = opt_ts(node.get("updatedAt"), f"{where}: updatedAt")
    for r in dig(node, "returns", "nodes", default=[]):
        refunds = dig(r, "refunds", "nodes", default=[])
        times = [ts(x["createdAt"], f"{where}: returns.refunds.createdAt") for x in refunds if x.get("createdAt")]
        amounts = [money(dig(x, "totalRefundedSet", "shopMoney", "amount"), f"{where}: returns.refunds")
                   for x in refunds]
        total = sum((a for a in amounts if a is not None), Decimal(0)) if refunds else None
        currency = next((dig(x, "totalRefundedSet", "shopMoney", "currencyCode") for x in refunds), None)
        requested = min(times) if times else updated
        if requested is None:
            raise payload_error("orders", f"{where}: returns", "no time to place the return")
        closed = r.get("status") in ("CLOSED", "DECLINED", "CANCELED")
        out.append(Return(
            account=account, external_id=gid_tail(r.get("id")), order_ref=oid, requested_at=requested,
            resolved_at=(max(times) if times else updated) if closed else None, refund_amount=total,
            currency=currency if total is not None else None, dissatisfied=r.get("status") == "DECLINED" or None,
        ))
    return out


def normalize_dispute(account: str, node: Any) -> Claim:
    """A Shopify Payments dispute: a chargeback, or an inquiry before one (a "case")."""
    if not isinstance(node, dict) or not node.get("id"):
        raise payload_error("disputes", "disputes.nodes[].id", "missing")
    did = str(node.get("legacyResourceId") or gid_tail(node["id"]))
    where = f"dispute {did}"
    status = node.get("status")
    final = day(node.get("finalizedOn"), f"{where}: finalizedOn", "disputes")
    return Claim(
        account=account, external_id=f"dispute-{did}",
        claim_kind="chargeback" if node.get("type") == "CHARGEBACK" else "case",
        order_ref=str(ref) if (ref := dig(node, "order", "legacyResourceId")) is not None else None,
        opened_at=ts(node.get("initiatedAt"), f"{where}: initiatedAt", "disputes"),
        closed_at=final, outcome=(str(status).lower() if status else None),
        seller_at_fault=DISPUTE_AT_FAULT.get(str(status)),
        raw_hash=payload_hash(node),
    )
