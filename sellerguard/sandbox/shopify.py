"""Shopify in the sandbox: the GraphQL Admin endpoint (orders, disputes, access scopes) and the token endpoint.

Answers are projected onto the query's own selection, shaped like the Admin schema (the tests check them against
the 2025-01 introspection). Like Shopify: ``X-Shopify-Access-Token``; Relay cursors; ``updated_at:>=`` search;
a leaky cost bucket per shop (20,000 points, 2,000 restored per second) reported in ``extensions.cost``, and a
throttled query is HTTP 200 with ``errors[].extensions.code = THROTTLED``, never a 429.
Tokens: ``shpat_sandbox_<account id>`` (a store-admin app token) or a client-credentials token for
client id ``sandbox-<account id>``.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sellerguard.sandbox._graphql import Field, GraphQLSyntaxError, arg, parse, project
from sellerguard.sandbox.clients import CLIENT_PREFIX, secret_ok
from sellerguard.sandbox.server import Reply, Request, Sandbox
from sellerguard.sandbox.world import WAccount, WOrder

MARKETPLACE = "shopify"
# The sandbox store is on a large plan (Shopify's Enterprise restore rate, 2,000 points/s; bucket size assumed), so the
# demo stays quick on a real clock; a backfill still drains the bucket and the connector still has to pace itself.
BUCKET_MAX = 20000.0
RESTORE_RATE = 2000.0
TOKEN_TTL_S = 86399
MAX_QUERY_COST = 1000.0
_CANCEL = {"buyer": "CUSTOMER", "seller": "INVENTORY", "marketplace": "DECLINED"}
_DISPUTE = {"item_not_received": ("CHARGEBACK", "PRODUCT_NOT_RECEIVED"),
            "not_as_described": ("CHARGEBACK", "PRODUCT_UNACCEPTABLE"), "a_to_z": ("INQUIRY", "GENERAL"),
            "chargeback": ("CHARGEBACK", "FRAUDULENT")}
_SEARCH = re.compile(r"(updated_at|initiated_at|created_at):>=\s*'?([0-9T:\-.Z+]+)'?")
_RETURN = {"DEFECTIVE": "DEFECTIVE", "NO_LONGER_NEEDED": "UNWANTED", "NOT_AS_DESCRIBED": "NOT_AS_DESCRIBED"}
TIMEZONE = "America/New_York"


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _gid(kind: str, value: Any) -> str:
    return f"gid://shopify/{kind}/{value}"


def _money(amount: Any, currency: str) -> dict[str, Any]:
    return {"shopMoney": {"amount": str(amount), "currencyCode": currency}}


def render_order(o: WOrder) -> dict[str, Any]:
    """Every field a query may select; ``project`` keeps the asked-for ones."""
    s = o.shipment
    fulfillments = []
    display = "UNFULFILLED"
    if s is not None and s.confirmed_at is not None:
        display = "FULFILLED"
        fulfillments.append({
            "id": _gid("Fulfillment", 5_000_000 + o.seq), "createdAt": _iso(s.confirmed_at),
            "inTransitAt": _iso(s.shipped_at), "deliveredAt": _iso(s.delivered_at),
            "estimatedDeliveryAt": _iso(o.deliver_by),
            "displayStatus": "DELIVERED" if s.delivered_at else ("IN_TRANSIT" if s.tracking_valid else "FULFILLED"),
            "status": "SUCCESS", "totalQuantity": o.items,
            "trackingInfo": [{"company": s.carrier, "number": s.tracking,
                              "url": f"https://track.example.com/{s.tracking}"}],
        })
    returns = []
    if (r := o.ret) is not None:
        refunds = [{"createdAt": _iso(r.resolved_at), "totalRefundedSet": _money(r.refund, o.currency)}] \
            if r.resolved_at is not None and r.refund is not None else []
        returns.append({"id": _gid("Return", 7_000_000 + o.seq), "name": f"#{1000 + o.seq}-R1",
                        "status": "CLOSED" if r.resolved_at else "OPEN", "totalQuantity": o.items,
                        "returnLineItems": {"nodes": [{"returnReason": _RETURN.get(r.reason, "OTHER")}]},
                        "refunds": {"nodes": refunds}})
    fo_status = "CLOSED" if display == "FULFILLED" else ("CANCELLED" if o.cancel else "OPEN")
    return {
        "id": _gid("Order", o.id), "legacyResourceId": o.id, "name": f"#{1000 + o.seq}",
        "createdAt": _iso(o.purchased_at), "processedAt": _iso(o.purchased_at), "updatedAt": _iso(o.updated_at),
        "cancelledAt": _iso(o.cancel.at) if o.cancel else None,
        "cancelReason": _CANCEL.get(o.cancel.by, "OTHER") if o.cancel else None,
        "closedAt": _iso(s.delivered_at) if s is not None and s.delivered_at else None, "closed": False, "test": False,
        "displayFulfillmentStatus": display, "subtotalLineItemsQuantity": o.items,
        "currencyCode": o.currency, "totalPriceSet": _money(o.total, o.currency),
        "customer": {"id": _gid("Customer", 600_000 + o.seq * 7919 % 2500)},
        "shippingAddress": {"countryCodeV2": "CA" if o.seq % 15 == 4 else "US"},
        "subtotalPriceSet": _money(o.total, o.currency), "totalDiscountsSet": _money(0, o.currency),
        "transactions": [{"kind": "SALE", "status": "SUCCESS", "processedAt": _iso(o.purchased_at)}],
        "lineItems": {"pageInfo": {"hasNextPage": False, "hasPreviousPage": False},
                      "nodes": [{"id": _gid("LineItem", 9_000_000 + o.seq), "quantity": o.items}]},
        "fulfillmentOrders": {"nodes": [{
            "id": _gid("FulfillmentOrder", 6_000_000 + o.seq), "status": fo_status, "fulfillBy": _iso(o.ship_by),
            "deliveryMethod": {"methodType": "SHIPPING", "maxDeliveryDateTime": _iso(o.deliver_by)},
        }]},
        "fulfillments": fulfillments,
        "returns": {"nodes": returns},
    }


def render_dispute(o: WOrder) -> dict[str, Any]:
    c = o.claim
    assert c is not None
    kind, reason = _DISPUTE.get(c.kind, ("CHARGEBACK", "GENERAL"))
    status = "NEEDS_RESPONSE" if c.closed_at is None else ("LOST" if c.seller_at_fault else "WON")
    return {
        "id": _gid("ShopifyPaymentsDispute", 8_000_000 + o.seq), "legacyResourceId": str(8_000_000 + o.seq),
        "initiatedAt": _iso(c.opened_at), "finalizedOn": c.closed_at.date().isoformat() if c.closed_at else None,
        "evidenceDueBy": (c.opened_at + timedelta(days=7)).date().isoformat(), "status": status, "type": kind,
        "reasonDetails": {"reason": reason, "networkReasonCode": "13.1"},
        "amount": {"amount": str(o.total), "currencyCode": o.currency},
        "order": {"legacyResourceId": o.id, "id": _gid("Order", o.id)},
    }


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: Any) -> int:
    if not cursor:
        return 0
    return int(base64.b64decode(str(cursor)).decode().split(":", 1)[1])


def _since(search: Any) -> datetime | None:
    m = _SEARCH.search(str(search or ""))
    if not m:
        return None
    text = m.group(2).replace("Z", "+00:00")
    dt = datetime.fromisoformat(text if "T" in text else text + "T00:00:00+00:00")
    return dt


class _Bucket:
    def __init__(self, now: datetime) -> None:
        self.available, self.at = BUCKET_MAX, now

    def take(self, cost: float, now: datetime) -> bool:
        self.available = min(BUCKET_MAX, self.available + (now - self.at).total_seconds() * RESTORE_RATE)
        self.at = now
        if self.available < cost:
            return False
        self.available -= cost
        return True


def _cost(fields: list[Field], variables: dict[str, Any]) -> float:
    """A requested cost in Shopify's manner: one point per object, a paged field multiplies by ``first``."""
    total = 0.0
    for f in fields:
        if not f.fields:
            continue  # scalars and enums are free
        inner = 1 + _cost(f.fields, variables)
        first = arg(f, "first", variables, None)
        total += inner * first + (2 if "nodes" in {c.name for c in f.fields} else 0) if first else inner
    return max(total, 1.0)


def register(sandbox: Sandbox) -> None:
    buckets: dict[str, _Bucket] = {}
    lock = threading.Lock()

    def account_for(req: Request) -> WAccount | None:
        token = req.header("X-Shopify-Access-Token") or ""
        if token.startswith("shpat_sandbox_"):
            acc = sandbox.world.accounts.get(token.removeprefix("shpat_sandbox_"))
        else:
            acc = sandbox.token_account(token)
        return acc if acc is not None and acc.marketplace == MARKETPLACE else None

    @sandbox.route(MARKETPLACE, "POST", r"/admin/oauth/access_token")
    def token(req: Request) -> Reply:
        form = req.form() if b"=" in req.body and not req.body.startswith(b"{") else (req.json() or {})
        account = str(form.get("client_id", "")).removeprefix(CLIENT_PREFIX)
        acc = sandbox.world.accounts.get(account)
        secret = form.get("client_secret")
        if form.get("grant_type") != "client_credentials" or acc is None or acc.marketplace != MARKETPLACE \
                or not secret_ok(secret if isinstance(secret, str) else None):  # the id AND its secret
            return Reply(400, {"error": "invalid_client", "error_description": "unknown client id or secret"})
        value, _ = sandbox.issue_token(MARKETPLACE, account, TOKEN_TTL_S, prefix="shpca")
        return Reply(200, {"access_token": value, "scope": "read_orders,read_returns", "expires_in": TOKEN_TTL_S})

    @sandbox.route(MARKETPLACE, "POST", r"/admin/api/(?P<version>\d{4}-\d\d)/graphql\.json")
    def graphql(req: Request) -> Reply:
        acc = account_for(req)
        if acc is None:
            return Reply(401, {"errors": "[API] Invalid API key or access token"
                                         " (unrecognized login or wrong password)"})
        body = req.json() or {}
        variables = body.get("variables") or {}
        try:
            fields = parse(body.get("query") or "")
        except GraphQLSyntaxError as exc:
            return Reply(200, {"errors": [{"message": str(exc), "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}]})
        now = sandbox.clock.now()
        cost = _cost(fields, variables)
        if cost > MAX_QUERY_COST:
            return Reply(200, {"errors": [{"message": f"Query cost is {cost:g}, which exceeds the single query max"
                                                      f" cost limit ({MAX_QUERY_COST:g}).",
                                           "extensions": {"code": "MAX_COST_EXCEEDED", "cost": cost,
                                                          "maxCost": MAX_QUERY_COST}}]})
        with lock:
            bucket = buckets.setdefault(acc.id, _Bucket(now))
            ok = bucket.take(cost, now)
            available = bucket.available
        extensions = {"cost": {"requestedQueryCost": cost, "actualQueryCost": cost if ok else None,
                               "throttleStatus": {"maximumAvailable": BUCKET_MAX, "currentlyAvailable": available,
                                                  "restoreRate": RESTORE_RATE}}}
        if not ok:
            return Reply(200, {"errors": [{"message": "Throttled", "extensions": {
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits"}}], "extensions": extensions})
        data: dict[str, Any] = {}
        for f in fields:
            if f.name == "shop":
                data["shop"] = project({"ianaTimezone": TIMEZONE, "name": acc.display_name}, f.fields)
            elif f.name == "orders":
                search = str(arg(f, "query", variables) or "")
                since = _since(search)
                field = "purchased_at" if search.startswith("created_at") else "updated_at"
                rows = sorted((o for o in acc.orders if since is None or getattr(o, field) >= since),
                              key=lambda o: (getattr(o, field), o.seq))
                data["orders"] = _page(f, variables, rows, render_order)
            elif f.name == "disputes":
                since = _since(arg(f, "query", variables))
                rows = [o for o in acc.orders if o.claim is not None and (since is None or o.claim.opened_at >= since)]
                data["disputes"] = _page(f, variables, rows, render_dispute)
            elif f.name == "currentAppInstallation":
                scopes = [{"handle": h} for h in ("read_orders", "read_all_orders", "read_returns",
                                                  "read_shopify_payments_disputes")]
                data[f.name] = project({"accessScopes": scopes}, f.fields)
            else:
                return Reply(200, {"errors": [{"message": f"Field '{f.name}' doesn't exist on type 'QueryRoot'",
                                               "extensions": {"code": "undefinedField"}}]})
        return Reply(200, {"data": data, "extensions": extensions})


def _page(f: Field, variables: dict[str, Any], rows: list[WOrder],
          render: Callable[[WOrder], dict[str, Any]]) -> dict[str, Any]:
    first = min(int(arg(f, "first", variables, 50) or 50), 250)
    start = _offset(arg(f, "after", variables))
    chunk = [render(o) for o in rows[start:start + first]]
    more = start + first < len(rows)
    conn = {"nodes": chunk, "edges": [{"node": n, "cursor": _cursor(start + i + 1)} for i, n in enumerate(chunk)],
            "pageInfo": {"hasNextPage": more, "hasPreviousPage": start > 0,
                         "startCursor": _cursor(start + 1) if chunk else None,
                         "endCursor": _cursor(start + len(chunk)) if chunk else None}}
    return project(conn, f.fields)
