"""Mercado Libre in the sandbox: the token endpoint with single-use refresh tokens, orders search, shipments,
claims, post-sale messages, questions and the seller reputation.

Mercado Libre publishes no schema: shapes are hand-made from its pages (docs/connectors/mercadolibre.md). Like
Mercado Libre: the filter ``order.last_updated.from`` is silently ignored (only ``order.date_last_updated.*``
filters), offsets past 10,000 are refused, shipments answer the new format only with ``x-format-new: true``,
every refresh token works once, and a token in the query string is refused.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sellerguard.sandbox.clients import CLIENT_PREFIX, secret_ok
from sellerguard.sandbox.server import Reply, Request, Sandbox
from sellerguard.sandbox.world import WAccount, WOrder

MARKETPLACE = "mercadolibre"
TOKEN_TTL_S = 21600
MAX_OFFSET = 10_000
# MLB limits per colour (green, yellow, orange; above: red) for claims, cancellations, delayed handling
_LIMITS = {"claims": (0.02, 0.045, 0.08), "cancellations": (0.015, 0.035, 0.04),
           "delayed_handling_time": (0.10, 0.18, 0.22)}
_COLOURS = ("5_green", "3_yellow", "2_orange", "1_red")


def user_status(acc: WAccount) -> dict[str, Any]:
    """The private ``status`` block of ``/users/{id}``: a critical seller may still sell but no longer list (a code
    Mercado Libre's own docs show); every other seller is unrestricted."""
    blocked = acc.profile == "critical"
    return {"site_status": "active",
            "sell": {"allow": True, "codes": [], "immediate_payment": {"reasons": [], "required": False}},
            "list": {"allow": not blocked, "codes": ["rejected_by_regulations"] if blocked else [],
                     "immediate_payment": {"reasons": [], "required": False}},
            "billing": {"allow": True, "codes": []}, "required_action": ""}


def user_id(acc: WAccount) -> int:
    return 100_000_000 + int(hashlib.sha1(acc.id.encode()).hexdigest()[:6], 16)


def _ts(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds")


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _shipment_id(o: WOrder) -> int:
    """A pack's orders share one shipment: the cart's first order's (``shipping.id`` is the same on each)."""
    return 40_000_000_000 + (o.cart if o.cart is not None else o.seq)


PACK_BASE = 2_000_009_000_000_000


def _pack_id(o: WOrder) -> int | None:
    return PACK_BASE + o.cart if o.cart is not None else None


def _buyer(o: WOrder) -> int:
    return 300_000_000 + (o.cart if o.cart is not None else o.seq)  # one buyer per pack


def _order_changed(o: WOrder) -> datetime:
    """Like Mercado Libre, a shipment being handed to the carrier does not touch the order's
    ``date_last_updated`` (its delivery does: the order gets the ``delivered`` tag)."""
    s = o.shipment
    times = [o.purchased_at, o.cancel and o.cancel.at, s and s.delivered_at, o.claim and o.claim.opened_at,
             o.claim and o.claim.closed_at, o.feedback and o.feedback.at]
    return min(max(t for t in times if t), o.updated_at)


def render_order(acc: WAccount, o: WOrder) -> dict[str, Any]:
    cancelled = o.cancel is not None
    detail = None
    if o.cancel is not None:
        detail = {"group": o.cancel.by, "code": o.cancel.reason.lower(), "description": o.cancel.reason,
                  "requested_by": {"marketplace": "mediator"}.get(o.cancel.by, o.cancel.by),
                  "date": _ts(o.cancel.at)}
    return {
        "id": int(o.id), "status": "cancelled" if cancelled else "paid", "status_detail": None,
        "date_created": _ts(o.purchased_at), "date_closed": _ts(o.purchased_at + timedelta(minutes=1)),
        "date_last_updated": _ts(_order_changed(o)), "last_updated": _ts(_order_changed(o)), "pack_id": _pack_id(o),
        "total_amount": float(o.total), "paid_amount": float(o.total), "currency_id": o.currency,
        "order_items": [{"item": {"id": f"{acc.site}{o.sku[4:]}000", "title": o.sku,
                                  "category_id": f"{acc.site}{1000 + int(o.sku[4:])}"}, "quantity": o.items,
                         "unit_price": float(o.unit_price), "full_unit_price": float(o.unit_price),
                         "currency_id": o.currency}],
        "shipping": {"id": None if cancelled else _shipment_id(o)},
        "seller": {"id": user_id(acc)}, "buyer": {"id": _buyer(o)},
        "tags": ["paid"] + (["delivered"] if o.status == "delivered" else []) + (["pack_order"] if o.cart else []),
        "cancel_detail": detail,
    }


def render_shipment(o: WOrder, new_format: bool) -> dict[str, Any]:
    s = o.shipment
    status = o.status if o.status in ("shipped", "delivered") else "ready_to_ship"
    base: dict[str, Any] = {"id": _shipment_id(o), "order_id": int(o.id), "status": status, "substatus": None,
                            "tracking_number": s.tracking if s else None, "tracking_method": s.carrier if s else None,
                            "receiver_address": {"country": {"id": "BR", "name": "Brasil"}}}  # the world: MLB
    if not new_format:  # the legacy shape: no lead time, no status history
        return {**base, "mode": "me2", "shipping_option": {"name": "Normal"}}
    return {
        **base,
        "logistic": {"mode": "me2", "type": "fulfillment" if o.fulfilment == "marketplace" else "drop_off",
                     "direction": "forward"},
        "lead_time": {"estimated_handling_limit": {"date": _ts(o.ship_by)},
                      "estimated_delivery_time": {"date": _ts(o.deliver_by), "type": "known_frame"},
                      "estimated_delivery_limit": {"date": _ts(o.deliver_by)}},
        "status_history": {
            "date_handling": _ts(o.purchased_at + timedelta(minutes=1)),
            "date_ready_to_ship": _ts(s.confirmed_at) if s and s.confirmed_at else None,
            "date_shipped": _ts(s.shipped_at) if s and s.shipped_at else None,
            "date_delivered": _ts(s.delivered_at) if s and s.delivered_at else None,
            # the world has no failed visits: the first visit is the delivery
            "date_first_visit": _ts(s.delivered_at) if s and s.delivered_at else None,
            "date_cancelled": None, "date_not_delivered": None,
        },
        "date_created": _ts(o.purchased_at), "last_updated": _ts(o.updated_at),
    }


def render_claim(acc: WAccount, o: WOrder) -> dict[str, Any]:
    c = o.claim
    assert c is not None
    reason = "PNR3430" if c.kind == "item_not_received" else "PDD9939"
    resolution = None
    if c.closed_at is not None:
        resolution = {"reason": c.outcome or "closed", "date_created": _ts(c.closed_at),
                      "benefited": ["complainant"] if c.seller_at_fault else ["respondent"], "closed_by": "mediator"}
    return {
        "id": 5_000_000_000 + o.seq, "type": "mediations", "stage": "dispute" if c.kind == "a_to_z" else "claim",
        "status": "closed" if c.closed_at else "opened", "resource": "order", "resource_id": int(o.id),
        "reason_id": reason, "parent_id": None, "site_id": acc.site,
        "players": [{"role": "complainant", "type": "buyer", "user_id": _buyer(o), "available_actions": []},
                    {"role": "respondent", "type": "seller", "user_id": user_id(acc), "available_actions": []}],
        "resolution": resolution, "date_created": _ts(c.opened_at), "last_updated": _ts(c.closed_at or c.opened_at),
    }


def reputation(acc: WAccount, now: datetime) -> dict[str, Any]:
    """The thermometer from the world: 60 days, or 365 (all the world has) below 40 sales."""
    recent = [o for o in acc.orders if o.purchased_at >= now - timedelta(days=60)]
    days = 60 if len(recent) >= 40 else 365
    window = recent if days == 60 else acc.orders
    sales = len(window)
    claims = sum(1 for o in window if o.claim is not None)
    cancels = sum(1 for o in window if o.cancel is not None and o.cancel.by != "buyer")
    shipped = [o for o in window if o.shipment is not None and o.shipment.shipped_at is not None
               and o.fulfilment == "seller"]
    late = sum(1 for o in shipped if o.shipment and o.shipment.shipped_at and o.shipment.shipped_at > o.ship_by)
    period = f"{days} days"

    def block(value: int, base: int) -> dict[str, Any]:
        rate = round(value / base, 4) if base else 0.0
        return {"period": period, "rate": rate, "value": value, "excluded": {"real_value": value, "real_rate": rate}}

    rates = {"claims": claims / sales if sales else 0.0, "cancellations": cancels / sales if sales else 0.0,
             "delayed_handling_time": late / len(shipped) if shipped else 0.0}
    # the worst rate decides the colour; no colour below 10 sales
    worst = max(sum(rate > limit for limit in _LIMITS[key]) for key, rate in rates.items())
    level = _COLOURS[worst] if sales >= 10 else None
    return {
        "level_id": level, "power_seller_status": None,
        "transactions": {"canceled": cancels, "completed": sales - cancels, "total": sales, "period": "historic",
                         "ratings": {"positive": 0.95, "neutral": 0.02, "negative": 0.03}},
        "metrics": {"sales": {"period": period, "completed": sales - cancels},
                    "claims": block(claims, sales), "cancellations": block(cancels, sales),
                    "delayed_handling_time": block(late, len(shipped))},
    }


def register(sandbox: Sandbox) -> None:
    route = sandbox.route
    spent: set[str] = set()
    lock = threading.Lock()

    def error(status: int, code: str, message: str) -> Reply:
        return Reply(status, {"message": message, "error": code, "status": status, "cause": []})

    def authed(handler: Callable[[Request, WAccount], Reply]) -> Callable[[Request], Reply]:
        def wrapped(req: Request) -> Reply:
            if "access_token" in req.query:
                return error(401, "invalid_token", "the access token must be sent in the Authorization header")
            auth = req.header("Authorization") or ""
            acc = sandbox.token_account(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
            if acc is None or acc.marketplace != MARKETPLACE:
                return error(401, "invalid_token", "invalid access token")
            return handler(req, acc)

        return wrapped

    @route(MARKETPLACE, "POST", r"/oauth/token")
    def token(req: Request) -> Reply:
        form = req.form()
        acc = sandbox.world.accounts.get(form.get("client_id", "").removeprefix(CLIENT_PREFIX))
        if acc is None or acc.marketplace != MARKETPLACE or not secret_ok(form.get("client_secret")):
            return error(401, "invalid_client", "invalid client_id or client_secret")
        if form.get("grant_type") != "refresh_token":
            return error(400, "unsupported_grant_type", "only refresh_token is served by the sandbox")
        presented = form.get("refresh_token", "")
        with lock:
            # single use: a refresh token this sandbox has seen spent is refused (others of the account's form pass,
            # so a store that outlives one sandbox run still works)
            if presented in spent or not presented.startswith(f"TG-sandbox-{acc.id}"):
                return error(400, "invalid_grant", "invalid_grant: the refresh token is invalid or was already used")
            spent.add(presented)
        access, _ = sandbox.issue_token(MARKETPLACE, acc.id, TOKEN_TTL_S, prefix="APP_USR")
        return Reply(200, {"access_token": access, "token_type": "Bearer", "expires_in": TOKEN_TTL_S,
                           "scope": "offline_access read write", "user_id": user_id(acc),
                           "refresh_token": f"TG-sandbox-{acc.id}-{secrets.token_hex(8)}"})

    @route(MARKETPLACE, "GET", r"/users/me")
    @authed
    def me(req: Request, acc: WAccount) -> Reply:
        return Reply(200, {"id": user_id(acc), "nickname": acc.display_name.upper().replace(" ", "_"),
                           "site_id": acc.site, "user_type": "normal"})

    @route(MARKETPLACE, "GET", r"/users/(?P<uid>\d+)")
    @authed
    def user(req: Request, acc: WAccount) -> Reply:
        assert req.match is not None
        if int(req.match["uid"]) != user_id(acc):
            return error(403, "forbidden", "the user does not belong to this token")
        return Reply(200, {"id": user_id(acc), "site_id": acc.site,
                           "seller_reputation": reputation(acc, sandbox.clock.now()), "status": user_status(acc)})

    @route(MARKETPLACE, "GET", r"/orders/search")
    @authed
    def search(req: Request, acc: WAccount) -> Reply:
        seller = req.arg("seller")
        if seller is not None and seller != str(user_id(acc)):
            return error(403, "forbidden", "the seller does not belong to this token")
        offset, limit = int(req.arg("offset", "0") or 0), min(int(req.arg("limit", "50") or 50), 51)
        if offset > MAX_OFFSET:
            return error(400, "bad_request", f"offset must be at most {MAX_OFFSET}")
        rows = acc.orders
        for field, attr in (("date_last_updated", "updated_at"), ("date_created", "purchased_at")):
            lo, hi = _time(req.arg(f"order.{field}.from")), _time(req.arg(f"order.{field}.to"))
            when = _order_changed if attr == "updated_at" else (lambda o: o.purchased_at)
            rows = [o for o in rows if (lo is None or when(o) >= lo) and (hi is None or when(o) <= hi)]
        rows = sorted(rows, key=lambda o: o.purchased_at, reverse=req.arg("sort") == "date_desc")
        page = rows[offset:offset + limit]
        return Reply(200, {"query": "", "results": [render_order(acc, o) for o in page],
                           "sort": {"id": req.arg("sort", "date_asc")},
                           "paging": {"total": len(rows), "offset": offset, "limit": limit}})

    @route(MARKETPLACE, "GET", r"/orders/(?P<oid>\d+)")
    @authed
    def one_order(req: Request, acc: WAccount) -> Reply:
        assert req.match is not None
        o = sandbox.world.order(acc.id, req.match["oid"])
        if o is None:
            return error(404, "not_found", "order not found")
        return Reply(200, render_order(acc, o))

    def by_shipment(acc: WAccount, sid: int) -> WOrder | None:
        seq = sid - 40_000_000_000
        return next((o for o in acc.orders if o.seq == seq), None)

    @route(MARKETPLACE, "GET", r"/shipments/(?P<sid>\d+)")
    @authed
    def shipment(req: Request, acc: WAccount) -> Reply:
        assert req.match is not None
        o = by_shipment(acc, int(req.match["sid"]))
        if o is None or o.cancel is not None:
            return error(404, "not_found", "shipment not found")
        return Reply(200, render_shipment(o, req.header("x-format-new") == "true"))

    @route(MARKETPLACE, "GET", r"/post-purchase/v1/claims/search")
    @authed
    def claims(req: Request, acc: WAccount) -> Reply:
        if req.arg("players.user_id") not in (None, str(user_id(acc))):
            return error(403, "forbidden", "the user does not belong to this token")
        rows = [render_claim(acc, o) for o in acc.orders if o.claim is not None]
        rng = req.arg("range") or ""
        if rng.startswith("last_updated:after:"):
            after = _time(rng.removeprefix("last_updated:after:"))
            rows = [c for c in rows if after is None or _time(c["last_updated"]) >= after]  # type: ignore[operator]
        rows.sort(key=lambda c: c["last_updated"], reverse=True)
        offset, limit = int(req.arg("offset", "0") or 0), min(int(req.arg("limit", "30") or 30), 30)
        return Reply(200, {"paging": {"offset": offset, "limit": limit, "total": len(rows)},
                           "data": rows[offset:offset + limit]})

    @route(MARKETPLACE, "GET", r"/messages/packs/(?P<pack>\d+)/sellers/(?P<seller>\d+)")
    @authed
    def messages(req: Request, acc: WAccount) -> Reply:
        assert req.match is not None
        if req.arg("tag") != "post_sale":
            return error(400, "bad_request", "tag=post_sale is required")
        me_id = user_id(acc)
        rows: list[dict[str, Any]] = []
        pack = int(req.match["pack"])
        members = {o.id: o for o in acc.orders
                   if (o.cart is not None and PACK_BASE + o.cart == pack) or (o.cart is None and o.id == str(pack))}
        for m in (x for x in acc.messages if x.order_id in members):
            order = members[m.order_id]  # type: ignore[index]
            buyer = _buyer(order) if order else 1
            rows.append({"id": m.id, "from": {"user_id": buyer}, "to": {"user_id": me_id}, "status": "available",
                         "text": "(buyer text)", "message_date": {"created": _ts(m.received_at)},
                         "message_moderation": {"status": "clean"}})
            if m.replied_at is not None:
                rows.append({"id": f"{m.id}R", "from": {"user_id": me_id}, "to": {"user_id": buyer},
                             "status": "available", "text": "(seller reply)",
                             "message_date": {"created": _ts(m.replied_at)}, "message_moderation": {"status": "clean"}})
        return Reply(200, {"paging": {"limit": 50, "offset": 0, "total": len(rows)},
                           "conversation_status": {"status": "active"}, "messages": rows})

    @route(MARKETPLACE, "GET", r"/questions/search")
    @authed
    def questions(req: Request, acc: WAccount) -> Reply:
        return Reply(200, {"total": 0, "limit": 50, "questions": []})  # the world has no pre-sale questions
