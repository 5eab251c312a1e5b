"""Walmart Marketplace (US) in the sandbox: the token endpoint, orders, returns and the performance summaries.

Shapes follow Walmart's OpenAPI files (orders, returns, authentication; the tests validate them against the
specs). The Seller Performance summaries have no public schema: their JSON is hand-made from Walmart's pages.
Client ids are ``sandbox-<account id>``. Like Walmart: epoch-millisecond order dates, ``nextCursor`` as a ready-made
query string, WFS orders only when ``shipNodeType=WFSFulfilled`` is asked for, 404 CONTENT_NOT_FOUND for an
empty order list, 180 days of history, and every call needs the three WM_* headers.
Quirks reproduced (docs/connectors/walmart.md): an expired or unknown token is a 401
UNAUTHORIZED.GMP_GATEWAY_API; buyers repeat (``buyerId``); return reasons are Walmart's codes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sellerguard.sandbox.clients import CLIENT_PREFIX, basic_client, secret_ok
from sellerguard.sandbox.server import Reply, Request, Sandbox
from sellerguard.sandbox.world import WAccount, WOrder

MARKETPLACE = "walmart"
TOKEN_TTL_S = 900
HISTORY_DAYS = 180
_CARRIERS = {"UPS": "UPS", "USPS": "USPS", "FedEx": "FedEx", "DHL": "DHL"}
_RETURN_REASONS = {"NO_LONGER_NEEDED": "NO_LONGER_WANTED"}  # the world's words -> Walmart's reason codes
_CANCEL_REASONS = {"seller": "SELLER_CANCEL_OUT_OF_STOCK", "buyer": "CUSTOMER_REQUESTED_SELLER_TO_CANCEL",
                   "marketplace": "AUTO_CANCELLED_NO_VALID_TRACKING"}


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _error(status: int, code: str, description: str) -> Reply:
    return Reply(status, {"errors": [{"code": code, "description": description, "severity": "ERROR",
                                      "category": "APPLICATION"}]})


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _relay(order_id: str) -> str:
    return hashlib.sha1(order_id.encode()).hexdigest()[:32].upper() + "@relay.walmart.com"


def render_order(o: WOrder) -> dict[str, Any]:
    """A world order as a Walmart purchase order (buyer details are placeholders, as in Walmart's own sandbox)."""
    status: dict[str, Any] = {"status": "Acknowledged",
                              "statusQuantity": {"unitOfMeasurement": "EACH", "amount": str(o.items)}}
    status_date = o.purchased_at + timedelta(minutes=20)
    s = o.shipment
    if o.cancel is not None:
        status["status"] = "Cancelled"
        status["cancellationReason"] = _CANCEL_REASONS.get(o.cancel.by, "SELLER_CANCEL_OUT_OF_STOCK")
        status_date = o.cancel.at
    elif s is not None and s.shipped_at is not None and s.confirmed_at is not None:
        carrier = {"carrier": _CARRIERS[s.carrier]} if s.carrier in _CARRIERS else {"otherCarrier": s.carrier}
        status["trackingInfo"] = {
            "shipDateTime": ms(s.shipped_at), "carrierName": carrier, "methodCode": "Standard",
            "trackingNumber": s.tracking, "trackingURL": f"https://track.example.com/{s.tracking}",
        }
        status["status"] = "Delivered" if s.delivered_at is not None else "Shipped"
        status_date = s.delivered_at or s.confirmed_at
    return {
        "purchaseOrderId": o.id,
        "customerOrderId": str(int(o.id) + 4_000_000_000_000) if o.id.isdigit() else o.id,
        "customerEmailId": _relay(o.id),
        "orderType": "REPLACEMENT" if o.seq % 97 == 0 else "REGULAR",
        "orderDate": ms(o.purchased_at),
        "buyerId": f"sbx-buyer-{o.account}-{(o.seq * 7) % 211:04d}",  # repeat buyers, as in a real shop
        "shippingInfo": {
            "phone": "0000000000", "estimatedDeliveryDate": ms(o.deliver_by), "estimatedShipDate": ms(o.ship_by),
            "methodCode": "Standard",
            "postalAddress": {"name": "Sandbox Buyer", "address1": "702 SW 8th St", "city": "Bentonville",
                              "state": "AR", "postalCode": "72716", "country": "USA", "addressType": "RESIDENTIAL"},
        },
        "orderLines": {"orderLine": [{
            "lineNumber": "1",
            "item": {"productName": f"Sandbox product {o.sku}", "sku": o.sku},
            "charges": {"charge": [{"chargeType": "PRODUCT", "chargeName": "ItemPrice",
                                    "chargeAmount": {"currency": o.currency, "amount": float(o.total)}}]},
            "orderLineQuantity": {"unitOfMeasurement": "EACH", "amount": str(o.items)},
            "statusDate": ms(status_date),
            "orderLineStatuses": {"orderLineStatus": [status]},
            "fulfillment": {"fulfillmentOption": "S2H", "shipMethod": "STANDARD"},
        }]},
        "shipNode": {"type": "WFSFulfilled" if o.fulfilment == "marketplace" else "SellerFulfilled"},
    }


def render_return(o: WOrder) -> dict[str, Any]:
    r = o.ret
    assert r is not None
    done = r.resolved_at is not None
    refund = "REFUND_COMPLETED" if done else "REFUND_PENDING"
    tracking = {"status": "COMPLETED" if done else "INITIATED", "statusTime": _iso(r.resolved_at or r.requested_at),
                "currentRefundStatus": refund, "quantity": {"unitOfMeasure": "EACH", "measurementValue": o.items}}
    return {
        "returnOrderId": r.id,
        "customerEmailId": _relay(o.id),
        "customerName": {"firstName": "Sandbox", "lastName": "Buyer"},
        "customerOrderId": o.id,
        "returnOrderDate": _iso(r.requested_at),
        "returnByDate": _iso(r.requested_at + timedelta(days=30)),
        "refundMode": "POST_DELIVERY",
        "totalRefundAmount": {"currencyAmount": float(r.refund if r.refund is not None else o.total),
                              "currencyUnit": o.currency},
        "returnOrderLines": [{
            "returnOrderLineNumber": 1, "salesOrderLineNumber": 1,
            "returnReason": _RETURN_REASONS.get(r.reason, r.reason),
            "purchaseOrderId": o.id, "purchaseOrderLineNumber": 1,
            "item": {"sku": o.sku, "productName": f"Sandbox product {o.sku}"},
            "currentDeliveryStatus": "DELIVERED" if done else "IN_TRANSIT", "currentRefundStatus": refund,
            "currentTrackingStatuses": [tracking],
        }],
    }


def _return_modified(o: WOrder) -> datetime:
    r = o.ret
    assert r is not None
    return r.resolved_at or r.requested_at


# -- the performance summaries, computed from the world ------------------------------------------------


def _rate(hits: int, total: int) -> float:
    return round(100.0 * hits / total, 2) if total else 0.0


def _summaries(acc: WAccount, now: datetime, days: int) -> dict[str, tuple[str, float, int]]:
    """path -> (rate key, percent, impacted orders) over the last ``days`` days."""
    start = now - timedelta(days=days)
    seller = [o for o in acc.orders if o.fulfilment == "seller" and start <= o.purchased_at <= now]
    placed = [o for o in acc.orders if start <= o.purchased_at <= now]
    cancels = [o for o in seller if o.cancel is not None and o.cancel.by != "buyer"]
    # Walmart's OTD: delivered seller-fulfilled orders whose EDD fell in the window; late if delivered after it
    due = [o for o in acc.orders if o.fulfilment == "seller" and start <= o.deliver_by <= now and o.cancel is None
           and o.shipment is not None and o.shipment.delivered_at is not None]
    late = [o for o in due if o.shipment is not None and o.shipment.delivered_at is not None
            and _eastern(o.shipment.delivered_at) > _eastern(o.deliver_by)]  # the EDD is a date (policy S6)
    shipped = [o for o in seller if o.shipment is not None]
    invalid = [o for o in shipped if o.shipment is not None and not o.shipment.tracking_valid]
    msgs = [m for m in acc.messages if start <= m.received_at <= now - timedelta(hours=48)]
    slow = [m for m in msgs if m.replied_at is None or m.replied_at - m.received_at > timedelta(hours=48)]
    delivered = [o for o in placed if o.shipment is not None and o.shipment.delivered_at is not None]
    returned = [o for o in delivered if o.ret is not None]
    refunded = [o for o in placed if o.ret is not None and o.ret.refund is not None]
    inr = [o for o in placed if o.claim is not None and o.claim.kind == "item_not_received"]
    negative = [o for o in placed if o.feedback is not None and o.feedback.score <= 2]
    return {
        "cancellations": ("cumulativeRate", _rate(len(cancels), len(seller)), len(cancels)),
        "otd": ("sellerAccountableRate", _rate(len(due) - len(late), len(due)), len(late)),
        "vtr": ("cumulativeRate", _rate(len(shipped) - len(invalid), len(shipped)), len(invalid)),
        "srr": ("overallRate", _rate(len(msgs) - len(slow), len(msgs)), len(slow)),
        "refunds": ("cumulativeRate", _rate(len(refunded), len(placed)), len(refunded)),
        "returns": ("cumulativeRate", _rate(len(returned), len(delivered)), len(returned)),
        "itemNotReceived": ("cumulativeRate", _rate(len(inr), len(placed)), len(inr)),
        "negativeFeedback": ("cumulativeRate", _rate(len(negative), len(placed)), len(negative)),
    }


# -- routes ----------------------------------------------------------------------------------------------


def register(sandbox: Sandbox) -> None:
    route = sandbox.route

    def headers_ok(req: Request) -> Reply | None:
        for name in ("WM_QOS.CORRELATION_ID", "WM_SVC.NAME"):
            if not req.header(name):
                return _error(400, "MISSING_HEADER", f"header {name} is required")
        return None

    def authed(handler: Callable[[Request, WAccount], Reply]) -> Callable[[Request], Reply]:
        def wrapped(req: Request) -> Reply:
            if (bad := headers_ok(req)) is not None:
                return bad
            acc = sandbox.token_account(req.header("WM_SEC.ACCESS_TOKEN"))
            if acc is None or acc.marketplace != MARKETPLACE:
                return _error(401, "UNAUTHORIZED.GMP_GATEWAY_API", "Unauthorized: the access token is invalid"
                                                                   " or expired")
            return handler(req, acc)

        return wrapped

    @route(MARKETPLACE, "POST", r"/v3/token")
    def token(req: Request) -> Reply:
        if (bad := headers_ok(req)) is not None:
            return bad
        client_id, secret = basic_client(req.header("Authorization"))
        account = client_id.removeprefix(CLIENT_PREFIX)
        acc = sandbox.world.accounts.get(account)
        if acc is None or acc.marketplace != MARKETPLACE or not secret_ok(secret):  # the id AND its secret
            return _error(401, "UNAUTHORIZED.GMP_GATEWAY_API", "invalid client id or secret")
        if req.form().get("grant_type") != "client_credentials":
            return _error(400, "INVALID_REQUEST", "grant_type must be client_credentials")
        access, _ = sandbox.issue_token(MARKETPLACE, account, TOKEN_TTL_S, prefix="wm")
        return Reply(200, {"access_token": access, "token_type": "Bearer", "expires_in": TOKEN_TTL_S})

    @route(MARKETPLACE, "GET", r"/v3/orders")
    @authed
    def orders(req: Request, acc: WAccount) -> Reply:
        now = sandbox.clock.now()
        node = req.arg("shipNodeType", "SellerFulfilled")
        fulfilment = "marketplace" if node == "WFSFulfilled" else "seller"
        created_from = _parse_time(req.arg("createdStartDate")) or now - timedelta(days=7)  # Walmart's default
        created_from = max(created_from, now - timedelta(days=HISTORY_DAYS))
        lm_from = _parse_time(req.arg("lastModifiedStartDate"))
        lm_to = _parse_time(req.arg("lastModifiedEndDate")) or now
        limit = min(int(req.arg("limit", "100") or 100), 200)
        offset = int(req.arg("poIndex", "0") or 0)
        rows = [o for o in acc.orders
                if o.fulfilment == fulfilment and o.purchased_at >= created_from
                and (lm_from is None or lm_from <= o.updated_at) and o.updated_at <= lm_to]
        if not rows:
            return _error(404, "CONTENT_NOT_FOUND.GMP_ORDER_API", "No orders found for the given criteria")
        page = rows[offset:offset + limit]
        meta: dict[str, Any] = {"totalCount": len(rows), "limit": len(page)}
        if offset + limit < len(rows):
            keep = {k: req.arg(k) for k in ("createdStartDate", "lastModifiedStartDate", "lastModifiedEndDate",
                                            "shipNodeType") if req.arg(k)}
            meta["nextCursor"] = "?" + urlencode({"limit": limit, "hasMoreElements": "true", "soIndex": len(rows),
                                                  "poIndex": offset + limit, **keep})
        return Reply(200, {"list": {"meta": meta, "elements": {"order": [render_order(o) for o in page]}}})

    @route(MARKETPLACE, "GET", r"/v3/returns")
    @authed
    def returns(req: Request, acc: WAccount) -> Reply:
        now = sandbox.clock.now()
        lm_from = _parse_time(req.arg("returnLastModifiedStartDate"))
        lm_to = _parse_time(req.arg("returnLastModifiedEndDate")) or now
        limit = min(int(req.arg("limit", "100") or 100), 200)
        offset = int(req.arg("offset", "0") or 0)
        rows = [o for o in acc.orders if o.ret is not None
                and (lm_from is None or lm_from <= _return_modified(o)) and _return_modified(o) <= lm_to]
        page = rows[offset:offset + limit]
        cursor = ""
        if offset + limit < len(rows):
            keep = {k: req.arg(k) for k in ("returnLastModifiedStartDate", "returnLastModifiedEndDate") if req.arg(k)}
            cursor = "?" + urlencode({"limit": limit, "offset": offset + limit, **keep})
        return Reply(200, {"meta": {"totalCount": len(rows), "limit": len(page), "nextCursor": cursor},
                           "returnOrders": [render_return(o) for o in page]})

    @route(MARKETPLACE, "GET", r"/v3/insights/items/unpublished/counts")
    @authed
    def unpublished(req: Request, acc: WAccount) -> Reply:
        """getUnpublishedItemCount: every seller has items past their own end date; a seller that is not healthy
        also has items Walmart unpublished for its price rule (the reason codes of the spec's example)."""
        if not req.arg("fromDate"):
            return _error(400, "INVALID_REQUEST", "fromDate is required")
        rows = [{"unpublishedCount": "12", "unpublishedValue": "240.0", "unpublishedReasonCode": "END_DATE"}]
        if acc.profile != "healthy":
            rows.append({"unpublishedCount": "4", "unpublishedValue": "187.6",
                         "unpublishedReasonCode": "REASONABLE_PRICE_NOT_SATISFIED"})
        return Reply(200, {"payload": rows})

    @route(MARKETPLACE, "GET", r"/v3/insights/performance/(?P<metric>[A-Za-z/]+)/summary")
    @authed
    def summary(req: Request, acc: WAccount) -> Reply:
        assert req.match is not None
        days = int(req.arg("reportDuration", "30") or 30)
        if days not in (14, 30, 60, 90):
            return _error(400, "INVALID_REQUEST", "reportDuration must be 14, 30, 60 or 90")
        figures = _summaries(acc, sandbox.clock.now(), days)
        metric = req.match["metric"]
        if metric not in figures:
            return _error(404, "NOT_FOUND", f"unknown metric {metric}")
        key, percent, impacted = figures[metric]
        trend = "RED_UP" if acc.profile != "healthy" else "GREEN_UP"
        return Reply(200, {"payload": {
            "reportDuration": days, key: percent, "cumulativeRateTrend": trend, "ordersImpacted": impacted,
            "impactedCustomerCount": impacted, "gmvLoss": float(Decimal(impacted) * Decimal("31.5")),
            "updatedTimestamp": _iso(sandbox.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)),
        }})


def _eastern(moment: datetime) -> date:
    """The calendar date of ``moment`` on Walmart's clock (US Eastern, as the pack reads the EDD)."""
    return moment.astimezone(ZoneInfo("America/New_York")).date()
