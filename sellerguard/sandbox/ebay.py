"""eBay in the sandbox: OAuth refresh, Identity, Sell Fulfillment, Sell Analytics, Commerce Message and Feedback,
and the Post-Order return/case searches.

Shapes follow eBay's OpenAPI contracts in ../shared/specs/ebay (tests validate them); the seller standards
metrics follow eBay's documented example (specs/NOTES.md) and Post-Order has no published contract (hand-made
from eBay's HTML reference). Like eBay: Basic client auth and a ``scope`` on refresh (no refresh-token
rotation), 2-hour user tokens, ``filter=lastmodifieddate:[from..]`` (``creationdate`` silently wins when both
are sent), ``limit`` <= 200 with offset paging, ``cancelRequests`` empty in getOrders and filled in getOrder,
rates as percent strings, ``Authorization: IAF`` for Post-Order, whose ``offset`` is a page number.
"""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from sellerguard.sandbox.server import Reply, Request, Sandbox
from sellerguard.sandbox.world import WAccount, WOrder

MARKETPLACE = "ebay"
TOKEN_TTL_S = 7200
CLIENT = ("SandboxApp-sellergu-SBX-0000", "SBX-secret")
SCOPE = "https://api.ebay.com/oauth/api_scope/"
_CANCEL = {"seller": ("Seller", "OUT_OF_STOCK_OR_CANNOT_FULFILL"), "buyer": ("Buyer", "BUYER_ASKED_CANCEL"),
           "marketplace": ("eBay", "ADDRESS_ISSUES")}
# world return reasons -> eBay's ReturnReasonEnum and its ReturnReasonTypeEnum
_RETURN = {"DEFECTIVE": ("DEFECTIVE_ITEM", "SNAD"), "NO_LONGER_NEEDED": ("NO_LONGER_NEED_ITEM", "REMORSE"),
           "NOT_AS_DESCRIBED": ("NOT_AS_DESCRIBED", "SNAD")}
_CASE = {"a_to_z": "INR", "item_not_received": "INR", "not_as_described": "SNAD", "chargeback": "INR"}


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _error(status: int, error_id: int, message: str, category: str = "REQUEST") -> Reply:
    return Reply(status, {"errors": [{"errorId": error_id, "domain": "API_FULFILLMENT", "category": category,
                                      "message": message}]})


def username(acc: WAccount) -> str:
    return f"sbx_{acc.id.replace('-', '_')}"


def _money(value: Any, currency: str) -> dict[str, str]:
    return {"value": f"{value:.2f}", "currency": currency}


def buyer(o: WOrder) -> str:
    """A stable buyer per order; some buyers order more than once (eBay's unique-buyer gates need that)."""
    return f"sbx_buyer_{o.seq * 7919 % 4000:04d}"


def ship_to(acc: WAccount, o: WOrder) -> str:
    home = {"EBAY_US": "US", "EBAY_GB": "GB", "EBAY_DE": "DE"}.get(acc.site, "US")
    return "CA" if o.seq % 12 == 5 else home  # a few international buyers (US-only metrics leave them out)


def render_order(acc: WAccount, o: WOrder, with_cancel_requests: bool) -> dict[str, Any]:
    s = o.shipment
    status = "FULFILLED" if s is not None else "NOT_STARTED"
    cancel: dict[str, Any] = {"cancelState": "NONE_REQUESTED", "cancelRequests": []}
    if o.cancel is not None:
        who, reason = _CANCEL[o.cancel.by]
        cancel = {"cancelState": "CANCELED", "cancelledDate": iso(o.cancel.at), "cancelRequests": []}
        if with_cancel_requests:
            cancel["cancelRequests"] = [{
                "cancelRequestId": f"5{o.seq:09d}", "cancelInitiator": who, "cancelReason": reason,
                "cancelRequestedDate": iso(o.cancel.at - timedelta(minutes=5)), "cancelCompletedDate": iso(o.cancel.at),
                "cancelRequestState": "COMPLETED"}]
    line = {
        "lineItemId": f"1{o.seq:011d}", "legacyItemId": f"3{o.seq % 10**11:011d}", "sku": o.sku,
        "title": f"Sandbox item {o.sku}", "quantity": o.items, "soldFormat": "FIXED_PRICE",
        "lineItemCost": _money(o.total, o.currency), "total": _money(o.total, o.currency),
        "lineItemFulfillmentStatus": status, "listingMarketplaceId": acc.site, "purchaseMarketplaceId": acc.site,
        "lineItemFulfillmentInstructions": {"shipByDate": iso(o.ship_by), "minEstimatedDeliveryDate": iso(o.ship_by),
                                            "maxEstimatedDeliveryDate": iso(o.deliver_by), "guaranteedDelivery": False},
    }
    body: dict[str, Any] = {
        "orderId": o.id, "creationDate": iso(o.purchased_at), "lastModifiedDate": iso(o.updated_at),
        "orderFulfillmentStatus": status, "orderPaymentStatus": "PAID", "sellerId": username(acc),
        "buyer": {"username": buyer(o)}, "cancelStatus": cancel, "lineItems": [line],
        "pricingSummary": {"priceSubtotal": _money(o.total, o.currency), "total": _money(o.total, o.currency)},
        "paymentSummary": {"payments": [{"paymentMethod": "EBAY", "paymentReferenceId": f"P{o.seq:09d}",
                                         "paymentDate": iso(o.purchased_at + timedelta(seconds=40)),
                                         "amount": _money(o.total, o.currency), "paymentStatus": "PAID"}],
                           "refunds": [], "totalDueSeller": _money(o.total, o.currency)},
        "fulfillmentStartInstructions": [{
            "fulfillmentInstructionsType": "SHIP_TO", "ebaySupportedFulfillment": False,
            "minEstimatedDeliveryDate": iso(o.ship_by), "maxEstimatedDeliveryDate": iso(o.deliver_by),
            "shippingStep": {"shippingCarrierCode": "USPS", "shippingServiceCode": "USPSPriority",
                             "shipTo": {"fullName": "Sandbox Buyer",
                                        "contactAddress": {"countryCode": ship_to(acc, o)}}}}],
        "salesRecordReference": str(o.seq), "fulfillmentHrefs": [],
    }
    if s is not None:
        body["fulfillmentHrefs"] = [f"https://api.ebay.com/sell/fulfillment/v1/order/{o.id}/shipping_fulfillment/"
                                    f"{s.tracking}"]
    return body


def render_fulfillments(o: WOrder) -> dict[str, Any]:
    s = o.shipment
    rows = [] if s is None else [{"fulfillmentId": s.tracking, "shipmentTrackingNumber": s.tracking,
                                  "shippingCarrierCode": s.carrier, "shippedDate": iso(s.shipped_at),  # type: ignore[arg-type]
                                  "lineItems": [{"lineItemId": f"1{o.seq:011d}", "quantity": o.items}]}]
    return {"fulfillments": rows, "total": len(rows)}


def _rate_metric(key: str, name: str, num: int, den: int, upper: str, start: datetime, end: datetime) -> dict[str, Any]:
    pct = 100 * num / den if den else 0.0
    return {"metricKey": key, "name": name, "type": "RATE",
            "value": {"value": f"{pct:.2f}", "numerator": num, "denominator": den},
            "level": "TOP_RATED" if pct <= float(upper) else "BELOW_STANDARD",
            "lookbackStartDate": iso(start), "lookbackEndDate": iso(end), "thresholdUpperBound": {"value": upper},
            "thresholdMetaData": "(LOWER,UPPER]"}


def standards(acc: WAccount, now: datetime) -> dict[str, Any]:
    """Both cycles of the seller's program, in eBay's documented shape (specs/NOTES.md)."""
    start = now - timedelta(days=90)
    orders = [o for o in acc.orders if o.purchased_at >= start]
    defects = sum(1 for o in orders if (o.cancel and o.cancel.by == "seller") or (o.claim and o.claim.seller_at_fault))
    cases = sum(1 for o in orders if o.claim and o.claim.seller_at_fault)
    shipped = [o for o in orders if o.shipment and o.shipment.shipped_at]
    late = sum(1 for o in shipped if o.shipment.shipped_at > o.ship_by and o.shipment.delivered_at  # type: ignore[union-attr, operator]
               and o.shipment.delivered_at > o.deliver_by)  # type: ignore[union-attr]
    tracked = sum(1 for o in shipped if o.shipment.tracking_valid and o.shipment.shipped_at <= o.ship_by)  # type: ignore[union-attr, operator]
    metrics = [
        {"metricKey": "MIN_TXN_COUNT", "name": "Transactions", "type": "NUMBER", "value": len(orders),
         "level": "TOP_RATED", "lookbackStartDate": iso(start), "lookbackEndDate": iso(now),
         "thresholdLowerBound": 100, "thresholdMetaData": "(UPPER,LOWER]"},
        _rate_metric("DEFECTIVE_TRANSACTION_RATE", "Transaction defect rate", defects, len(orders), "0.50", start, now),
        _rate_metric("CLAIMS_SAF_RATE", "Cases closed without seller resolution", cases, len(orders), "0.30", start,
                     now),
        _rate_metric("SHIPPING_MISS_RATE", "Late shipment rate", late, len(shipped), "3.00", start, now),
        _rate_metric("VALID_TRACKING_UPLOADED_WITHIN_HANDLING_RATE", "Tracking uploaded on time and validated",
                     tracked, len(shipped), "100.00", start, now),
    ]
    level = "TOP_RATED" if all(m["level"] == "TOP_RATED" for m in metrics[1:4]) else "ABOVE_STANDARD"
    if orders and (defects / len(orders) > 0.02 or cases / len(orders) > 0.003):  # eBay's Below Standard bounds
        level = "BELOW_STANDARD"
    # eBay's programs: US, UK and DE sellers have their own; every other site is evaluated under PROGRAM_GLOBAL
    program = {"EBAY_US": "PROGRAM_US", "EBAY_MOTORS_US": "PROGRAM_US", "EBAY_GB": "PROGRAM_UK",
               "EBAY_DE": "PROGRAM_DE"}.get(acc.site, "PROGRAM_GLOBAL")
    # eBay evaluates on the 20th: CURRENT is the last evaluation, PROJECTED the month of the next one
    last = now.replace(day=20, hour=19, minute=30, second=0, microsecond=0)
    if last > now:
        last = (last.replace(day=1) - timedelta(days=1)).replace(day=20)
    upcoming = (last.replace(day=1) + timedelta(days=32)).replace(day=20)
    cycles = {"CURRENT": (last, last.strftime("%Y-%m")), "PROJECTED": (now, upcoming.strftime("%Y-%m"))}
    return {"standardsProfiles": [
        {"program": program, "cycle": {"cycleType": cycle, "evaluationDate": iso(when),
                                       "evaluationMonth": month},
         "standardsLevel": level, "defaultProgram": True,
         "evaluationReason": "Seller level generated by standards monthly evaluation cycle", "metrics": metrics}
        for cycle, (when, month) in cycles.items()]}


def service_metric(acc: WAccount, kind: str, now: datetime) -> dict[str, Any]:
    start = now - timedelta(days=90)
    orders = [o for o in acc.orders if o.purchased_at >= start]
    wanted = "not_as_described" if kind == "ITEM_NOT_AS_DESCRIBED" else "item_not_received"
    count = sum(1 for o in orders if o.claim and (o.claim.kind == wanted or (wanted == "item_not_received"
                                                                               and o.claim.kind == "a_to_z")))
    pct = 100 * count / len(orders) if orders else 0.0
    return {"marketplaceId": acc.site,
            "evaluationCycle": {"evaluationType": "CURRENT", "evaluationDate": iso(now), "startDate": iso(start),
                                "endDate": iso(now)},
            "dimensionMetrics": [{"dimension": {"dimensionKey": "LISTING_CATEGORY", "name": "Everything Else",
                                                "value": "99"},
                                  "metrics": [{"metricKey": "COUNT", "value": str(count)},
                                              {"metricKey": "RATE", "value": f"{pct:.2f}",
                                               "benchmark": {"rating": "AVERAGE" if pct < 1 else "HIGH",
                                                             "metadata": {"average": "0.50"}}}]}]}


def register(sandbox: Sandbox) -> None:
    route = sandbox.route

    def authed(handler: Callable[[Request, WAccount], Reply], scheme: str = "Bearer") -> Callable[[Request], Reply]:
        def wrapped(req: Request) -> Reply:
            header = req.header("authorization") or ""
            if not header.startswith(f"{scheme} "):
                return _error(401, 1001, "Invalid access token")
            acc = sandbox.token_account(header.removeprefix(f"{scheme} "))
            if acc is None or acc.marketplace != MARKETPLACE:
                return _error(401, 1001, "Invalid access token")
            try:
                return handler(req, acc)
            except ValueError as exc:
                return _error(400, 30700, f"Invalid request: {exc}")
        return wrapped

    def page(req: Request, items: list[Any], key: str, *, max_limit: int = 200, default: int = 50) -> Reply:
        limit, offset = int(req.arg("limit") or default), int(req.arg("offset") or 0)
        if not 1 <= limit <= max_limit or offset < 0:
            return _error(400, 30700, f"'limit' must be between 1 and {max_limit}")
        body: dict[str, Any] = {"href": req.path, "limit": limit, "offset": offset, "total": len(items),
                                key: items[offset:offset + limit]}
        if offset + limit < len(items):
            body["next"] = f"{req.path}?limit={limit}&offset={offset + limit}"
        return Reply(200, body)

    @route(MARKETPLACE, "POST", r"/identity/v1/oauth2/token")
    def token(req: Request) -> Reply:
        expected = "Basic " + base64.b64encode(f"{CLIENT[0]}:{CLIENT[1]}".encode()).decode()
        if req.header("authorization") != expected:
            return Reply(401, {"error": "invalid_client", "error_description": "client authentication failed"})
        form = req.form()
        acc = sandbox.world.accounts.get(form.get("refresh_token", "").removeprefix("v^1.1#sbx-"))
        if form.get("grant_type") != "refresh_token" or acc is None or acc.marketplace != MARKETPLACE:
            return Reply(400, {"error": "invalid_grant", "error_description": "the provided authorization refresh"
                                                                              " token is invalid"})
        if any(not s.startswith(SCOPE) for s in form.get("scope", "").split()):
            return Reply(400, {"error": "invalid_scope", "error_description": "the requested scope is invalid"})
        access, _ = sandbox.issue_token(MARKETPLACE, acc.id, TOKEN_TTL_S, prefix="v^1.1#i^1")
        return Reply(200, {"access_token": access, "expires_in": TOKEN_TTL_S, "token_type": "User Access Token"})

    @route(MARKETPLACE, "GET", r"/commerce/identity/v1/user/?")
    @authed
    def user(req: Request, acc: WAccount) -> Reply:
        return Reply(200, {"userId": f"u{zlib.crc32(acc.id.encode())}", "username": username(acc),
                           "accountType": "BUSINESS", "registrationMarketplaceId": acc.site, "status": "CONFIRMED"})

    @route(MARKETPLACE, "GET", r"/sell/fulfillment/v1/order")
    @authed
    def orders(req: Request, acc: WAccount) -> Reply:
        raw = unquote(req.arg("filter") or "")
        # eBay: with both date filters, creationdate wins and lastmodifieddate is ignored
        crit = re.search(r"creationdate:\[([^\]]*)\]", raw) or re.search(r"lastmodifieddate:\[([^\]]*)\]", raw)
        field = "purchased_at" if crit and crit.re.pattern.startswith("creation") else "updated_at"
        lo = hi = None
        if crit:
            lo_s, _, hi_s = crit.group(1).partition("..")
            lo, hi = _parse(lo_s), _parse(hi_s)
        else:
            lo, field = sandbox.clock.now() - timedelta(days=90), "purchased_at"
        rows = [o for o in acc.orders if (lo is None or getattr(o, field) >= lo)
                and (hi is None or getattr(o, field) <= hi)]
        rows.sort(key=lambda o: o.purchased_at)
        return page(req, [render_order(acc, o, False) for o in rows], "orders")

    @route(MARKETPLACE, "GET", r"/sell/fulfillment/v1/order/(?P<oid>[^/]+)")
    @authed
    def one_order(req: Request, acc: WAccount) -> Reply:
        o = sandbox.world.order(acc.id, unquote(req.match["oid"]))  # type: ignore[index]
        if o is None:
            return _error(404, 32100, "Order not found", "REQUEST")
        return Reply(200, render_order(acc, o, True))

    @route(MARKETPLACE, "GET", r"/sell/fulfillment/v1/order/(?P<oid>[^/]+)/shipping_fulfillment")
    @authed
    def fulfillments(req: Request, acc: WAccount) -> Reply:
        o = sandbox.world.order(acc.id, unquote(req.match["oid"]))  # type: ignore[index]
        if o is None:
            return _error(404, 32100, "Order not found", "REQUEST")
        return Reply(200, render_fulfillments(o))

    @route(MARKETPLACE, "GET", r"/sell/analytics/v1/seller_standards_profile")
    @authed
    def profiles(req: Request, acc: WAccount) -> Reply:
        return Reply(200, standards(acc, sandbox.clock.now()))

    @route(MARKETPLACE, "GET", r"/sell/analytics/v1/customer_service_metric/(?P<kind>[A-Z_]+)/(?P<cycle>[A-Z]+)")
    @authed
    def service(req: Request, acc: WAccount) -> Reply:
        kind = req.match["kind"]  # type: ignore[index]
        if kind not in ("ITEM_NOT_AS_DESCRIBED", "ITEM_NOT_RECEIVED") or not req.arg("evaluation_marketplace_id"):
            return _error(400, 54401, "Invalid customer_service_metric_type or missing evaluation_marketplace_id")
        return Reply(200, service_metric(acc, kind, sandbox.clock.now()))

    def messages_of(acc: WAccount) -> dict[str, Any]:
        return {m.thread_id: m for m in acc.messages}

    @route(MARKETPLACE, "GET", r"/commerce/message/v1/conversation")
    @authed
    def conversations(req: Request, acc: WAccount) -> Reply:
        if req.arg("conversation_type") not in ("FROM_MEMBERS", "FROM_EBAY"):
            return _error(400, 355001, "conversation_type is required")
        lo, hi = _parse(req.arg("start_time")), _parse(req.arg("end_time"))
        rows = []
        for m in acc.messages if req.arg("conversation_type") == "FROM_MEMBERS" else []:
            last = m.replied_at or m.received_at
            if (lo and last < lo) or (hi and m.received_at > hi):
                continue
            rows.append({"conversationId": m.thread_id, "conversationStatus": "ACTIVE" if m.replied_at is None
                         else "READ", "conversationTitle": "Question about your item", "conversationType":
                         "FROM_MEMBERS", "createdDate": iso(m.received_at), "referenceId": m.order_id,
                         "referenceType": "ORDER", "unreadCount": 0 if m.replied_at else 1,
                         "latestMessage": {"messageId": m.id, "createdDate": iso(last), "senderUsername":
                                           username(acc) if m.replied_at else "sandbox_buyer"}})
        return page(req, rows, "conversations", max_limit=50, default=10)

    @route(MARKETPLACE, "GET", r"/commerce/message/v1/conversation/(?P<cid>[^/]+)")
    @authed
    def conversation(req: Request, acc: WAccount) -> Reply:
        m = messages_of(acc).get(unquote(req.match["cid"]))  # type: ignore[index]
        if m is None:
            return _error(404, 355004, "Conversation not found")
        rows = [{"messageId": f"{m.id}-1", "createdDate": iso(m.received_at), "senderUsername": "sandbox_buyer",
                 "recipientUsername": username(acc), "messageBody": "Sandbox question", "readStatus": True}]
        if m.replied_at is not None:
            rows.append({"messageId": f"{m.id}-2", "createdDate": iso(m.replied_at), "senderUsername": username(acc),
                         "recipientUsername": "sandbox_buyer", "messageBody": "Sandbox answer", "readStatus": True})
        reply = page(req, rows, "messages", max_limit=50, default=50)
        if isinstance(reply.body, dict):
            reply.body.update(conversationStatus="ACTIVE", conversationType="FROM_MEMBERS")
        return reply

    @route(MARKETPLACE, "GET", r"/commerce/feedback/v1/feedback")
    @authed
    def feedback(req: Request, acc: WAccount) -> Reply:
        if req.arg("user_id") != username(acc) or req.arg("feedback_type") != "FEEDBACK_RECEIVED":
            return _error(400, 370001, "user_id and feedback_type are required")
        rated = sorted((o for o in acc.orders if o.feedback is not None and not o.feedback.removed),
                       key=lambda o: o.feedback.at, reverse=True)  # type: ignore[union-attr]
        rows = [{"feedbackId": f.id, "commentType": "NEGATIVE" if f.score <= 2 else "NEUTRAL" if f.score == 3
                 else "POSITIVE", "feedbackEnteredDate": iso(f.at), "feedbackState": "ACTIVE",
                 "feedbackComment": {"commentText": "Sandbox feedback"},
                 "orderLineItemSummary": {"orderLineItemId": f"3{o.seq % 10**11:011d}-1{o.seq:011d}",
                                          "listingId": f"3{o.seq % 10**11:011d}", "listingTitle": o.sku}}
                for o in rated for f in [o.feedback] if f is not None]
        limit, offset = int(req.arg("limit") or 25), int(req.arg("offset") or 0)
        if not 25 <= limit <= 200:
            return _error(400, 370002, "limit must be between 25 and 200")
        return Reply(200, {"feedbackEntries": rows[offset:offset + limit],
                           "pagination": {"count": len(rows[offset:offset + limit]), "limit": limit,
                                          "offset": offset, "total": len(rows)}})

    def search(req: Request, items: list[dict[str, Any]]) -> Reply:
        limit, number = int(req.arg("limit") or 25), int(req.arg("offset") or 1)
        pages = max(1, -(-len(items) // limit))
        return Reply(200, {"members": items[(number - 1) * limit:number * limit], "total": len(items),
                           "paginationOutput": {"limit": limit, "offset": number, "totalEntries": len(items),
                                                "totalPages": pages}})

    def window(req: Request, prefix: str) -> tuple[datetime, datetime]:
        now = sandbox.clock.now()
        lo = _parse(req.arg(f"{prefix}creation_date_range_from")) or now - timedelta(days=90)
        return lo, _parse(req.arg(f"{prefix}creation_date_range_to")) or now

    @route(MARKETPLACE, "GET", r"/post-order/v2/return/search")
    def returns(req: Request) -> Reply:
        return authed(lambda r, acc: _returns(r, acc), "IAF")(req)

    def _returns(req: Request, acc: WAccount) -> Reply:
        lo, hi = window(req, "")
        rows = []
        for o in acc.orders:
            r = o.ret
            if r is None or not lo <= r.requested_at <= hi:
                continue
            member: dict[str, Any] = {"returnId": r.id.removeprefix("RT"), "orderId": o.id, "state": "CLOSED"
                                      if r.resolved_at else "RETURN_REQUESTED", "currentType": "MONEY_BACK",
                                      "creationInfo": {"creationDate": {"value": iso(r.requested_at)},
                                                       "reason": _RETURN.get(r.reason, (r.reason, ""))[0],
                                                       "reasonType": _RETURN.get(r.reason, ("", "UNKNOWN"))[1],
                                                       "type": "MONEY_BACK"}}
            if r.resolved_at is not None:
                member["closeInfo"] = {"returnCloseDate": {"value": iso(r.resolved_at)}}
                member["sellerTotalRefund"] = {"actualRefundAmount": _money(r.refund or 0, o.currency)}
            rows.append(member)
        return search(req, rows)

    @route(MARKETPLACE, "GET", r"/post-order/v2/casemanagement/search")
    def cases(req: Request) -> Reply:
        return authed(lambda r, acc: _cases(r, acc), "IAF")(req)

    def _cases(req: Request, acc: WAccount) -> Reply:
        lo, hi = window(req, "case_")
        rows = []
        for o in acc.orders:
            c = o.claim
            if c is None or not lo <= c.opened_at <= hi:
                continue
            member: dict[str, Any] = {"caseId": c.id.removeprefix("CL"), "caseType": _CASE[c.kind],
                                      "caseStatusEnum": "CLOSED" if c.closed_at else "OPEN", "orderId": o.id,
                                      "creationDate": {"value": iso(c.opened_at)}}
            if c.closed_at is not None:
                member["caseClosedDate"] = {"value": iso(c.closed_at)}
                member["closedReason"] = "BUYER_REFUNDED_BY_EBAY" if c.seller_at_fault else "CLOSED_FOR_SELLER"
            rows.append(member)
        return search(req, rows)
