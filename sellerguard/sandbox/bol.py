"""bol.com Retailer API v10 in the sandbox: the client-credentials token, orders, shipments with transport
events, returns and the weekly performance indicators.

Shapes follow bol's OpenAPI spec (``retailer-v10.json``; a test validates the answers against it). Like bol:
the version is chosen by ``Accept: application/vnd.retailer.v10+json`` (anything else gets 406), pages hold 50,
an empty list is ``{}``, orders filter on the (Dutch) date of their latest change, every answer carries
``x-ratelimit-*`` budget headers, and a client asking for tokens too often is blocked (404 from the token URL).
Client ids are ``sandbox-<account id>``. Customer details are placeholders.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sellerguard.sandbox.clients import CLIENT_PREFIX, basic_client, secret_ok
from sellerguard.sandbox.server import Reply, Request, Sandbox
from sellerguard.sandbox.world import WAccount, WOrder

MARKETPLACE = "bol"
MEDIA = "application/vnd.retailer.v10+json"
TOKEN_TTL_S = 299
PAGE = 50
TOKENS_PER_5_MIN = 20  # more token requests than this in five minutes: the address is blocked
NL = ZoneInfo("Europe/Amsterdam")
_CARRIERS = {"UPS": "UPS", "DHL": "DHL", "PostNL": "TNT", "FedEx": "FEDEX_NL", "USPS": "OTHER"}


def _ts(dt: datetime) -> str:
    return dt.astimezone(NL).isoformat(timespec="seconds")


def _day(dt: datetime) -> str:
    return dt.astimezone(NL).date().isoformat()


def _problem(status: int, title: str, detail: str) -> Reply:
    return Reply(status, {"type": "https://api.bol.com/problems", "title": title, "status": status, "detail": detail,
                          "host": "sandbox", "instance": "https://api.bol.com/retailer", "violations": []},
                 content_type="application/vnd.retailer.v10+json")


_PLACEHOLDER = {"salutation": "UNKNOWN", "firstName": "Placeholder", "surname": "Placeholder",
                "streetName": "Placeholder", "houseNumber": "1", "zipCode": "1234AB", "city": "Utrecht",
                "countryCode": "NL"}


def _fulfilment(o: WOrder) -> dict[str, Any]:
    return {"method": "FBB" if o.fulfilment == "marketplace" else "FBR",
            "distributionParty": "BOL" if o.fulfilment == "marketplace" else "RETAILER",
            "latestDeliveryDate": _day(o.deliver_by), "expiryDate": _day(o.ship_by), "timeFrameType": "REGULAR"}


def _quantities(o: WOrder) -> tuple[int, int]:
    shipped = o.items if o.shipment is not None else 0
    cancelled = o.items if o.cancel is not None else 0
    return shipped, cancelled


def render_reduced(o: WOrder) -> dict[str, Any]:
    shipped, cancelled = _quantities(o)
    return {"orderId": o.id, "orderPlacedDateTime": _ts(o.purchased_at), "orderItems": [{
        "orderItemId": f"{o.id}1", "ean": f"87{o.seq % 10**11:011d}", "fulfilmentMethod": _fulfilment(o)["method"],
        "fulfilmentStatus": "HANDLED" if shipped or cancelled else "OPEN", "quantity": o.items,
        "quantityShipped": shipped, "quantityCancelled": cancelled,
        "cancellationRequest": bool(o.cancel and o.cancel.buyer_requested),
        "latestChangedDateTime": _ts(o.updated_at)}]}


def render_order(o: WOrder) -> dict[str, Any]:
    shipped, cancelled = _quantities(o)
    return {"orderId": o.id, "pickupPoint": False, "orderPlacedDateTime": _ts(o.purchased_at),
            "shipmentDetails": {**_PLACEHOLDER, "language": "nl"},
            "orderItems": [{
                "orderItemId": f"{o.id}1", "cancellationRequest": bool(o.cancel and o.cancel.buyer_requested),
                "fulfilment": _fulfilment(o), "product": {"ean": f"87{o.seq % 10**11:011d}", "title": o.sku},
                "quantity": o.items, "quantityShipped": shipped, "quantityCancelled": cancelled,
                "unitPrice": float(o.unit_price), "totalPrice": float(o.total), "discounts": [],
                "commission": round(float(o.total) * 0.15, 2), "latestChangedDateTime": _ts(o.updated_at)}]}


def _shipment_id(o: WOrder) -> str:
    return str(500_000_000 + o.seq)


def render_shipment(o: WOrder, full: bool) -> dict[str, Any]:
    s = o.shipment
    assert s is not None and s.shipped_at is not None
    base: dict[str, Any] = {"shipmentId": _shipment_id(o), "shipmentDateTime": _ts(s.confirmed_at or s.shipped_at),
                            "shipmentReference": f"SH-{o.seq}",
                            "order": {"orderId": o.id, "orderPlacedDateTime": _ts(o.purchased_at)}}
    if not full:
        return {**base, "shipmentItems": [{"orderItemId": f"{o.id}1", "ean": f"87{o.seq % 10**11:011d}"}],
                "transport": {"transportId": str(300_000_000 + o.seq)}}
    events = [{"eventCode": "PRE_ANNOUNCED", "eventDateTime": _ts(s.confirmed_at or s.shipped_at)}]
    if s.tracking_valid:
        events.append({"eventCode": "AT_TRANSPORTER", "eventDateTime": _ts(s.shipped_at)})
    if s.delivered_at is not None and o.seq % 9 == 0 and s.delivered_at - timedelta(days=1) > s.shipped_at:
        # nobody home: the carrier leaves it at a pick-up point, the buyer collects it a day later (bol judges
        # on-time delivery by this first attempt)
        events.append({"eventCode": "AT_PICK_UP_POINT", "eventDateTime": _ts(s.delivered_at - timedelta(days=1))})
        events.append({"eventCode": "PICKED_UP_AT_PICK_UP_POINT", "eventDateTime": _ts(s.delivered_at)})
    elif s.delivered_at is not None:
        events.append({"eventCode": "DELIVERED_AT_CUSTOMER", "eventDateTime": _ts(s.delivered_at)})
    return {**base, "pickupPoint": False, "shipmentDetails": _PLACEHOLDER,
            "shipmentItems": [{"orderItemId": f"{o.id}1", "fulfilment": {"method": "FBR"},
                               "product": {"ean": f"87{o.seq % 10**11:011d}", "title": o.sku},
                               "quantity": o.items, "quantityShipped": o.items, "unitPrice": float(o.unit_price),
                               "commission": round(float(o.total) * 0.15, 2)}],
            "transport": {"transportId": str(300_000_000 + o.seq), "transporterCode": _CARRIERS.get(s.carrier, "OTHER"),
                          "trackAndTrace": s.tracking if s.tracking_valid else "", "transportEvents": events}}


# the world's reasons as bol's Dutch main/detailed reasons (the spec's ReturnReason table)
_REASONS = {
    "DEFECTIVE": {"mainReason": "Artikel werkt niet"},
    "NO_LONGER_NEEDED": {"mainReason": "Verkeerd besteld", "detailedReason": "Artikel had ik toch niet nodig"},
    "NOT_AS_DESCRIBED": {"mainReason": "Klacht over artikel", "detailedReason": "Artikel doet niet wat het belooft"},
}


def render_return(o: WOrder) -> dict[str, Any]:
    r = o.ret
    assert r is not None
    results = []
    if r.resolved_at is not None:
        results = [{"quantity": 1, "processingResult": "ACCEPTED", "handlingResult": "RETURN_RECEIVED",
                    "processingDateTime": _ts(r.resolved_at)}]
    return {"returnId": str(7_000_000 + o.seq), "registrationDateTime": _ts(r.requested_at), "fulfilmentMethod": "FBR",
            "returnItems": [{"rmaId": str(31_000_000 + o.seq), "orderId": o.id, "ean": f"87{o.seq % 10**11:011d}",
                             "expectedQuantity": 1,
                             "returnReason": {**_REASONS.get(r.reason, {"mainReason": "Anders"}),
                                              "customerComments": ""},
                             "handled": r.resolved_at is not None, "processingResults": results}]}


def week_figures(acc: WAccount, name: str, year: int, week: int, now: datetime) -> dict[str, Any] | None:
    """(numerator, denominator, value, higher_is_better) of one indicator over one ISO week, in items."""
    start = datetime.combine(date.fromisocalendar(year, week, 1), datetime.min.time(), tzinfo=NL)
    end = min(start + timedelta(days=7), now)

    def within(dt: datetime | None) -> bool:
        return dt is not None and start <= dt < end

    mine = [o for o in acc.orders if o.fulfilment == "seller"]
    if name == "FULFILMENT":
        due = [o for o in mine if within(o.deliver_by) and o.cancel is None]
        good = sum(o.items for o in due if o.shipment and o.shipment.delivered_at and
                   o.shipment.delivered_at <= o.deliver_by)
        return {"num": good, "den": sum(o.items for o in due), "norm": (">=", 0.93)}
    if name == "CANCELLATIONS":
        placed = [o for o in mine if within(o.purchased_at)]
        bad = sum(o.items for o in placed if o.cancel is not None and not o.cancel.buyer_requested)
        return {"num": bad, "den": sum(o.items for o in placed), "norm": ("<=", 0.02)}
    if name == "RESPONSE_TIME":
        msgs = [m for m in acc.messages if within(m.received_at)]
        good = sum(1 for m in msgs if m.replied_at and m.replied_at - m.received_at <= timedelta(hours=24))
        return {"num": good, "den": len(msgs), "norm": (">=", 0.9)}
    if name == "TRACK_AND_TRACE":
        sent = [o for o in mine if o.shipment and within(o.shipment.shipped_at)]
        good = sum(1 for o in sent if o.shipment and o.shipment.tracking_valid)
        return {"num": good, "den": len(sent), "norm": (">=", 1.0)}
    if name == "CASE_ITEM_RATIO":
        placed = [o for o in acc.orders if within(o.purchased_at)]
        asked = sum(1 for m in acc.messages if within(m.received_at))
        return {"num": asked, "den": len(placed), "norm": ("<=", 0.05)}
    return None  # REVIEWS, PHONE_AVAILABILITY, RETURNS: no score in the sandbox world


def register(sandbox: Sandbox) -> None:
    route = sandbox.route
    lock = threading.Lock()
    asked: dict[str, list[datetime]] = {}

    def limited(reply: Reply, limit: int) -> Reply:
        reply.headers.update({"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(limit - 1),
                              "x-ratelimit-reset": "1"})
        return reply

    def authed(limit: int) -> Callable[[Callable[[Request, WAccount], Reply]], Callable[[Request], Reply]]:
        def wrap(handler: Callable[[Request, WAccount], Reply]) -> Callable[[Request], Reply]:
            def wrapped(req: Request) -> Reply:
                auth = req.header("Authorization") or ""
                acc = sandbox.token_account(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
                if acc is None or acc.marketplace != MARKETPLACE:
                    return _problem(401, "Unauthorized", "the access token is invalid or expired")
                if req.header("Accept") != MEDIA:
                    return _problem(406, "Not Acceptable", f"use Accept: {MEDIA}")
                reply = handler(req, acc)
                reply.content_type = MEDIA
                return limited(reply, limit)

            return wrapped

        return wrap

    @route(MARKETPLACE, "POST", r"/token")
    def token(req: Request) -> Reply:
        client_id, secret = basic_client(req.header("Authorization"))
        acc = sandbox.world.accounts.get(client_id.removeprefix(CLIENT_PREFIX))
        now = sandbox.clock.now()
        with lock:
            recent = [t for t in asked.get(client_id, []) if now - t < timedelta(minutes=5)] + [now]
            asked[client_id] = recent
        if len(recent) > TOKENS_PER_5_MIN:
            return Reply(404, b"", content_type="text/html")  # what a blocked address sees
        if acc is None or acc.marketplace != MARKETPLACE or not secret_ok(secret):  # the id AND its secret
            return Reply(401, {"error": "invalid_client"})
        if req.arg("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type"})
        access, _ = sandbox.issue_token(MARKETPLACE, acc.id, TOKEN_TTL_S, prefix="jwt")
        return Reply(200, {"access_token": access, "token_type": "Bearer", "expires_in": TOKEN_TTL_S,
                           "scope": "RETAILER"})

    def page_of(req: Request, rows: list[Any]) -> tuple[list[Any], int]:
        page = max(int(req.arg("page", "1") or 1), 1)
        return rows[(page - 1) * PAGE: page * PAGE], page

    @route(MARKETPLACE, "GET", r"/retailer/orders")
    @authed(25)
    def orders(req: Request, acc: WAccount) -> Reply:
        now = sandbox.clock.now()
        rows = [o for o in acc.orders if o.purchased_at >= now - timedelta(days=90)]
        method = req.arg("fulfilment-method", "FBR")
        if method != "ALL":
            rows = [o for o in rows if _fulfilment(o)["method"] == method]
        status = req.arg("status", "OPEN")
        if status == "OPEN":
            rows = [o for o in rows if o.shipment is None and o.cancel is None]
        elif status == "SHIPPED":
            rows = [o for o in rows if o.shipment is not None]
        if day := req.arg("latest-change-date"):
            rows = [o for o in rows if _day(o.updated_at) == day]
        chunk, _ = page_of(req, rows)
        return Reply(200, {"orders": [render_reduced(o) for o in chunk]} if chunk else {})

    @route(MARKETPLACE, "GET", r"/retailer/orders/(?P<oid>\d+)")
    @authed(25)
    def order(req: Request, acc: WAccount) -> Reply:
        assert req.match is not None
        o = sandbox.world.order(acc.id, req.match["oid"])
        if o is None:
            return _problem(404, "Not Found", f"order {req.match['oid']} not found")
        return Reply(200, render_order(o))

    def shipped(acc: WAccount) -> list[WOrder]:
        now = sandbox.clock.now()
        rows = [o for o in acc.orders if o.shipment is not None and o.shipment.shipped_at is not None
                and o.shipment.shipped_at >= now - timedelta(days=90)]
        return sorted(rows, key=lambda o: o.shipment.confirmed_at or o.shipment.shipped_at,  # type: ignore[union-attr]
                      reverse=True)

    @route(MARKETPLACE, "GET", r"/retailer/shipments")
    @authed(25)
    def shipments(req: Request, acc: WAccount) -> Reply:
        method = req.arg("fulfilment-method", "FBR")
        rows = [o for o in shipped(acc) if _fulfilment(o)["method"] == method]
        chunk, _ = page_of(req, rows)
        return Reply(200, {"shipments": [render_shipment(o, False) for o in chunk]} if chunk else {})

    @route(MARKETPLACE, "GET", r"/retailer/shipments/(?P<sid>\d+)")
    @authed(25)
    def shipment(req: Request, acc: WAccount) -> Reply:
        assert req.match is not None
        seq = int(req.match["sid"]) - 500_000_000
        o = next((x for x in acc.orders if x.seq == seq and x.shipment is not None and x.shipment.shipped_at), None)
        if o is None:
            return _problem(404, "Not Found", "shipment not found")
        return Reply(200, render_shipment(o, True))

    @route(MARKETPLACE, "GET", r"/retailer/returns")
    @authed(10)
    def returns(req: Request, acc: WAccount) -> Reply:
        handled = req.arg("handled", "false") == "true"
        rows = [o for o in acc.orders if o.ret is not None and (o.ret.resolved_at is not None) == handled]
        rows.sort(key=lambda o: o.ret.requested_at, reverse=handled)  # type: ignore[union-attr]
        chunk, _ = page_of(req, rows)
        return Reply(200, {"returns": [render_return(o) for o in chunk]} if chunk else {})

    @route(MARKETPLACE, "GET", r"/retailer/insights/performance/indicator")
    @authed(10)
    def indicator(req: Request, acc: WAccount) -> Reply:
        name, year, week = req.arg("name"), req.arg("year"), req.arg("week")
        if not name or not (year or "").isdigit() or not (week or "").isdigit():
            return _problem(400, "Bad Request", "name, year and week are required")
        figures = week_figures(acc, name, int(year), int(week), sandbox.clock.now())  # type: ignore[arg-type]
        kind = "PERCENTAGE"
        details: dict[str, Any] = {"period": {"week": str(int(week)), "year": str(int(year))},  # type: ignore[arg-type]
                                   "norm": {"condition": ">=", "value": 0.0}}
        if figures is not None:
            condition, norm = figures["norm"]
            value = round(figures["num"] / figures["den"], 4) if figures["den"] else 0.0
            conforms = value >= norm if condition == ">=" else value <= norm
            details["norm"] = {"condition": condition, "value": norm}
            details["score"] = {"conforms": conforms, "numerator": figures["num"], "denominator": figures["den"],
                                "value": value, "distanceToNorm": round(abs(value - norm), 4)}
        return Reply(200, {"performanceIndicators": [{"name": name, "type": kind, "details": details}]})
