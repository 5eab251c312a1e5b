"""Shopify GraphQL Admin queries and their normalization. Pure: no HTTP, no clock.

The queries are checked field by field against the Admin schema of the pinned version by the tests
(tests/graphql_check.py). Nested connections are kept small so one page costs well under Shopify's 1,000-point
ceiling per query. Of the customer only the id (turned into a buyer key at once, never stored) and the ship-to
country are selected; ``ORDERS_QUERY_NO_CUSTOMER`` leaves both out for apps without customer data access.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sellerguard.errors import ConnectorError
from sellerguard.paginate import dig
from sellerguard.payload import payload_error as shared_payload_error
from sellerguard.payload import ship_time
from sellerguard.schema import (
    Cancellation,
    Claim,
    Order,
    OrderLine,
    OrderStatus,
    Party,
    Record,
    Return,
    Shipment,
    payload_hash,
)

ORDERS_QUERY = """
query SellerguardOrders($first: Int!, $after: String, $query: String) {
  shop { ianaTimezone }
  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id legacyResourceId createdAt processedAt updatedAt cancelledAt cancelReason closedAt test
      displayFulfillmentStatus subtotalLineItemsQuantity
      customer { id }
      shippingAddress { countryCodeV2 }
      totalPriceSet { shopMoney { amount currencyCode } }
      subtotalPriceSet { shopMoney { amount } }
      totalDiscountsSet { shopMoney { amount } }
      transactions(first: 2) { kind status processedAt }
      lineItems(first: 5) { pageInfo { hasNextPage } nodes { id quantity } }
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
          returnLineItems(first: 1) { nodes { returnReason } }
          refunds(first: 1) { nodes { createdAt totalRefundedSet { shopMoney { amount currencyCode } } } }
        }
      }
    }
  }
}
"""

ORDERS_QUERY_NO_CUSTOMER = ORDERS_QUERY.replace("      customer { id }\n", "").replace(
    "      shippingAddress { countryCodeV2 }\n", "")

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
# ReturnReason (2025-01) -> reason_category: the seller's fault (INAD) vs the buyer's change of mind
RETURN_REASONS = {
    "NOT_AS_DESCRIBED": "not_as_described", "WRONG_ITEM": "not_as_described", "DEFECTIVE": "damaged",
    "COLOR": "remorse", "SIZE_TOO_LARGE": "remorse", "SIZE_TOO_SMALL": "remorse", "STYLE": "remorse",
    "UNWANTED": "remorse", "OTHER": "other", "UNKNOWN": "other",
}
PAID_KINDS = {"SALE", "CAPTURE"}
DISPUTE_AT_FAULT = {"LOST": True, "ACCEPTED": True, "CHARGE_REFUNDED": True, "WON": False}
# Order.displayFulfillmentStatus (OrderDisplayFulfillmentStatus, 2025-01, whole enum) -> OrderStatus.
# RESTOCKED is deprecated ("replaced by UNFULFILLED"); ON_HOLD / SCHEDULED / REQUEST_DECLINED are still to ship.
DISPLAY_STATUSES: dict[str, OrderStatus] = {
    "UNFULFILLED": "unshipped", "PARTIALLY_FULFILLED": "partially_shipped", "FULFILLED": "shipped",
    "RESTOCKED": "unshipped", "PENDING_FULFILLMENT": "unshipped", "OPEN": "unshipped", "IN_PROGRESS": "unshipped",
    "ON_HOLD": "unshipped", "SCHEDULED": "unshipped", "REQUEST_DECLINED": "unshipped",
}
_warned: set[str] = set()
log = logging.getLogger("sellerguard.connectors.shopify")
TRACKED_STATUSES = {"IN_TRANSIT", "OUT_FOR_DELIVERY", "ATTEMPTED_DELIVERY", "DELIVERED", "DELAYED", "PICKED_UP"}


def payload_error(what: str, field: str, problem: str) -> ConnectorError:
    return shared_payload_error("shopify", what, field, problem)


def ts(value: Any, field: str, what: str = "orders") -> datetime:
    if not isinstance(value, str):
        raise payload_error(what, field, "missing" if value is None else f"not a time: {str(value)[:30]!r}")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise payload_error(what, field, f"not a time: {value[:30]!r}") from None


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
    """A ``Decimal`` scalar: finite, non-negative, below 10^12."""
    if value is None:
        return None
    try:
        amount = Decimal(str(value)) if isinstance(value, str | int | float) and not isinstance(value, bool) \
            else Decimal("NaN")
        if not amount.is_finite() or not 0 <= amount < 10**12:
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        raise payload_error(what, field, f"not an amount: {str(value)[:20]!r}") from None
    return amount


def objects(node: Any, field: str, what: str = "orders") -> list[dict[str, Any]]:
    """A list of objects (absent = empty); ``[null]`` or a non-list is a payload error naming the index."""
    if node is None:
        return []
    if not isinstance(node, list):
        raise payload_error(what, field, "not a list")
    for i, item in enumerate(node):
        if not isinstance(item, dict):
            raise payload_error(what, f"{field}[{i}]", f"expected an object, got {str(item)[:30]!r}")
    return node


def nodes(node: Any, field: str, what: str = "orders") -> list[dict[str, Any]]:
    """A connection's ``nodes`` (absent connection = empty)."""
    if node is None:
        return []
    if not isinstance(node, dict):
        raise payload_error(what, field, "not a connection object")
    return objects(node.get("nodes"), f"{field}.nodes", what)


def obj(node: Any, field: str, what: str = "orders") -> dict[str, Any]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise payload_error(what, field, f"expected an object, got {str(node)[:30]!r}")
    return node


def text(value: Any, field: str, what: str = "orders", limit: int = 200) -> str | None:
    """An optional id/name: a string without control characters (a number is read as its digits)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise payload_error(what, field, f"not a string: {str(value)[:30]!r}")
    out = str(value).strip()
    if not out or len(out) > limit or any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in out):
        raise payload_error(what, field, f"not a plausible value: {out[:30]!r}")
    return out


def quantity(value: Any, field: str, what: str = "orders") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000:
        raise payload_error(what, field, f"not a plausible quantity: {str(value)[:30]!r}")
    return value


def add_business_days(start: datetime, days: int) -> datetime:
    """``start`` plus ``days`` Monday-Friday days (UTC): the seller's own handling time when Shopify has none."""
    out = start
    left = days
    while left > 0:
        out += timedelta(days=1)
        if out.weekday() < 5:
            left -= 1
    return out


def gid_tail(gid: Any) -> str | None:
    """The numeric tail of a GID (``gid://shopify/Order/123`` -> ``123``); None when there is no id."""
    if not isinstance(gid, str):
        return None
    return gid.rsplit("/", 1)[-1] or None


def required_id(gid: Any, field: str, what: str = "orders") -> str:
    """A Shopify id (a GraphQL ``ID`` or ``UnsignedInt64``: a string of digits at the end of the GID)."""
    if gid is None:
        raise payload_error(what, field, "missing")
    found = gid_tail(gid)
    if found is None or not found.isascii() or not found.isdigit() or len(found) > 20:
        raise payload_error(what, field, f"not a Shopify id: {str(gid)[:40]!r}")
    return found


def _status(node: dict[str, Any], shipments: list[Shipment], where: str) -> str:
    """``displayFulfillmentStatus`` (whole 2025-01 enum in ``DISPLAY_STATUSES``) -> OrderStatus. A value this
    connector does not know is stored as ``unknown`` and logged once, never guessed as "unshipped"."""
    if node.get("cancelledAt"):
        return "cancelled"
    display = node.get("displayFulfillmentStatus")
    if not isinstance(display, str):
        raise payload_error("orders", f"{where}: displayFulfillmentStatus", f"not an enum value: {str(display)[:40]!r}")
    status = DISPLAY_STATUSES.get(display)
    if status is None:
        if display not in _warned:
            _warned.add(display)
            log.warning("shopify: unknown displayFulfillmentStatus %r: order kept as 'unknown'", display[:60])
        return "unknown"
    if status == "shipped" and shipments and all(s.delivered_at is not None for s in shipments):
        return "delivered"
    return status


BuyerKey = Callable[[str | None], str | None]
ORDER_FIELDS = ("id", "legacyResourceId", "createdAt", "processedAt", "updatedAt", "cancelledAt", "cancelReason",
                "displayFulfillmentStatus", "subtotalLineItemsQuantity", "totalPriceSet", "fulfillmentOrders",
                "fulfillments", "returns", "transactions", "lineItems")
FULFILLMENT_FIELDS = ("id", "createdAt", "inTransitAt", "deliveredAt", "displayStatus", "status", "trackingInfo")


def _present(node: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        if key not in node:
            raise payload_error("orders", f"{where}: {key}", "missing (the query selects it)")


def normalize_order(account: str, node: Any, handling_days: int | None = None, site: str | None = None, *,
                    buyer_key: BuyerKey | None = None, timezone: str | None = None) -> list[Record]:
    """One Shopify order -> Order + a Shipment per fulfillment + Cancellation + Returns.

    ``buyer_key`` turns ``customer.id`` into the pseudonymous key (the id is never stored); ``timezone`` is the
    shop's ``ianaTimezone``. Payment time: the earliest successful SALE/CAPTURE transaction.
    """
    if not isinstance(node, dict) or not node.get("id"):
        raise payload_error("orders", "orders.nodes[].id", "missing")
    oid = required_id(node.get("legacyResourceId") or node["id"], "orders.nodes[].legacyResourceId")
    where = f"order {oid}"
    # GraphQL answers every selected field (null when empty): a selected field that is absent is a damaged
    # answer, never "none" (a missing fulfillments list would make a shipped order look unshipped)
    _present(node, ORDER_FIELDS, where)
    purchased = ts(node.get("processedAt") or node.get("createdAt"), f"{where}: processedAt")
    fos = nodes(node.get("fulfillmentOrders"), f"{where}: fulfillmentOrders")
    # a CANCELLED fulfillment order (items removed by an order edit, or replaced when moved) has nothing left to
    # ship: its fulfillBy is no deadline of this order
    fulfil_by = [ts(fo["fulfillBy"], f"{where}: fulfillmentOrders.fulfillBy") for fo in fos
                 if fo.get("fulfillBy") and fo.get("status") != "CANCELLED"]
    latest = [ts(v, f"{where}: deliveryMethod.maxDeliveryDateTime") for fo in fos
              if (v := obj(fo.get("deliveryMethod"), f"{where}: deliveryMethod").get("maxDeliveryDateTime"))
              and fo.get("status") != "CANCELLED"]
    ship_by = min(fulfil_by) if fulfil_by else (
        add_business_days(purchased, handling_days) if handling_days is not None else None)
    shipments: list[Shipment] = []
    for i, f in enumerate(objects(node.get("fulfillments"), f"{where}: fulfillments")):
        _present(f, FULFILLMENT_FIELDS, f"{where}: fulfillments[{i}]")
        if f.get("status") in ("CANCELLED", "ERROR", "FAILURE"):
            continue
        infos = objects(f.get("trackingInfo"), f"{where}: fulfillments[{i}].trackingInfo")
        tracking = infos[0] if infos else {}
        display = f.get("displayStatus")
        created = ts(f.get("createdAt"), f"{where}: fulfillments.createdAt")
        number = text(tracking.get("number"), f"{where}: fulfillments[{i}].trackingInfo.number")
        in_transit = opt_ts(f.get("inTransitAt"), f"{where}: fulfillments.inTransitAt")
        delivered = opt_ts(f.get("deliveredAt"), f"{where}: fulfillments.deliveredAt")
        # a fulfilment recorded after its delivery (merchant or app back-filling events): hand-over time unknown
        shipped = ship_time(in_transit or created, delivered)
        shipments.append(Shipment(
            account=account, external_id=f"{oid}-{required_id(f.get('id'), f'{where}: fulfillments[{i}].id')}",
            order_ref=oid, shipped_at=shipped, confirmed_at=created,
            carrier=text(tracking.get("company"), f"{where}: fulfillments[{i}].trackingInfo.company"),
            tracking_number=number,
            tracking_validated=True if isinstance(display, str) and display in TRACKED_STATUSES else None,
            delivered_at=delivered,
            item_count=quantity(f.get("totalQuantity"), f"{where}: fulfillments[{i}].totalQuantity"),
            tracking_uploaded_at=created if number else None,  # the tracking came with the fulfilment
            first_scan_at=in_transit,  # the carrier's first in-transit event
        ))
    amount = dig(node, "totalPriceSet", "shopMoney", "amount")
    subtotal = money(dig(node, "subtotalPriceSet", "shopMoney", "amount"), f"{where}: subtotalPriceSet")
    discounts = money(dig(node, "totalDiscountsSet", "shopMoney", "amount"), f"{where}: totalDiscountsSet")
    paid = [ts(t.get("processedAt"), f"{where}: transactions[{i}].processedAt")
            for i, t in enumerate(objects(node.get("transactions"), f"{where}: transactions"))
            if isinstance(t.get("kind"), str) and t["kind"] in PAID_KINDS and t.get("status") == "SUCCESS"
            and t.get("processedAt")]
    line_conn = obj(node.get("lineItems"), f"{where}: lineItems")
    lines = tuple(
        OrderLine(line_id=text(gid_tail(li.get("id")), f"{where}: lineItems.nodes[{i}].id"),
                  quantity=quantity(li.get("quantity"), f"{where}: lineItems.nodes[{i}].quantity") or 0)
        for i, li in enumerate(nodes(line_conn, f"{where}: lineItems")))
    if dig(line_conn, "pageInfo", "hasNextPage"):
        lines = ()  # more lines than the query reads: no lines rather than some of them
    country = dig(node, "shippingAddress", "countryCodeV2")
    if country is not None and (not isinstance(country, str) or not re.fullmatch(r"[A-Z]{2}", country)):
        raise payload_error("orders", f"{where}: shippingAddress.countryCodeV2",
                            f"not a country code: {str(country)[:20]!r}")
    customer = text(dig(node, "customer", "id"), f"{where}: customer.id")
    records: list[Record] = [Order(
        account=account, external_id=oid, raw_hash=payload_hash(node), purchased_at=purchased,
        updated_at=opt_ts(node.get("updatedAt"), f"{where}: updatedAt"), ship_by=ship_by,
        deliver_by=min(latest) if latest else None, fulfilment="seller", status=_status(node, shipments, where),
        total=money(amount, f"{where}: totalPriceSet.shopMoney.amount"),
        currency=text(dig(node, "totalPriceSet", "shopMoney", "currencyCode"), f"{where}: currencyCode", limit=3),
        item_count=quantity(node.get("subtotalLineItemsQuantity"), f"{where}: subtotalLineItemsQuantity") or 0,
        site=site, buyer_key=buyer_key(customer) if buyer_key is not None and customer else None,
        buyer_country=country, paid_at=min(paid, default=None), handling_days=handling_days,
        seller_timezone=timezone, lines=lines,
        items_subtotal=subtotal + discounts if subtotal is not None and discounts is not None else subtotal,
    )]
    records.extend(shipments)
    if node.get("cancelledAt"):
        reason = text(node.get("cancelReason"), f"{where}: cancelReason", limit=50)
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
    for r in nodes(node.get("returns"), f"{where}: returns"):
        refunds = nodes(r.get("refunds"), f"{where}: returns.refunds")
        times = [ts(x["createdAt"], f"{where}: returns.refunds.createdAt") for x in refunds if x.get("createdAt")]
        amounts = [money(dig(x, "totalRefundedSet", "shopMoney", "amount"), f"{where}: returns.refunds")
                   for x in refunds]
        total = sum((a for a in amounts if a is not None), Decimal(0)) if refunds else None
        currency = next((dig(x, "totalRefundedSet", "shopMoney", "currencyCode") for x in refunds), None)
        requested = min(times) if times else updated
        if requested is None:
            raise payload_error("orders", f"{where}: returns", "no time to place the return")
        closed = r.get("status") in ("CLOSED", "DECLINED", "CANCELED")
        reasons = [li.get("returnReason") for li in nodes(r.get("returnLineItems"), f"{where}: returnLineItems")]
        reason = text(reasons[0], f"{where}: returnLineItems.returnReason", limit=50) if reasons else None
        out.append(Return(
            account=account, external_id=required_id(r.get("id"), f"{where}: returns.id"),
            order_ref=oid, requested_at=requested, resolved_at=(max(times) if times else updated) if closed else None,
            refund_amount=total, currency=text(currency, f"{where}: returns.currencyCode", limit=3)
            if total is not None else None, dissatisfied=r.get("status") == "DECLINED" or None,
            reason=reason, reason_category=RETURN_REASONS.get(str(reason), "other") if reason else None,  # type: ignore[arg-type]
        ))
    return out


def normalize_dispute(account: str, node: Any) -> Claim:
    """A Shopify Payments dispute: a chargeback, or an inquiry before one (a "case")."""
    if not isinstance(node, dict) or not node.get("id"):
        raise payload_error("disputes", "disputes.nodes[].id", "missing")
    did = required_id(node.get("legacyResourceId") or node["id"], "disputes.nodes[].legacyResourceId", "disputes")
    where = f"dispute {did}"
    status = node.get("status")
    final = day(node.get("finalizedOn"), f"{where}: finalizedOn", "disputes")
    ref = dig(node, "order", "legacyResourceId")
    return Claim(
        account=account, external_id=f"dispute-{did}",
        claim_kind="chargeback" if node.get("type") == "CHARGEBACK" else "case",
        order_ref=text(ref, f"{where}: order.legacyResourceId", "disputes"),
        opened_at=ts(node.get("initiatedAt"), f"{where}: initiatedAt", "disputes"),
        closed_at=final, outcome=(str(status).lower()[:100] if isinstance(status, str) else None),
        seller_at_fault=DISPUTE_AT_FAULT.get(str(status)),
        raw_hash=payload_hash(node),
    )
