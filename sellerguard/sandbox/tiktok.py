"""TikTok Shop Partner API in the sandbox: token refresh, authorized shops, orders, cancellations, returns,
product reviews and customer-service performance.

TikTok publishes no spec: shapes are hand-made from the official SDKs' field names (docs/connectors/tiktok-shop.md).
Like TikTok: the token host answers ``/api/v2/token/refresh`` with absolute ``*_expire_in`` unix times; every API
call must carry ``app_key``, ``timestamp`` and a valid HMAC-SHA256 ``sign`` over path + sorted query + the exact body,
the ``x-tts-access-token`` header and, on shop calls, the shop's ``shop_cipher``; failures come back as HTTP 200 with
``code != 0``; searches are POSTs paged with ``page_token``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sellerguard.sandbox.server import Reply, Request, Sandbox
from sellerguard.sandbox.world import WAccount, WOrder

MARKETPLACE = "tiktok"
APP_KEY, APP_SECRET = "sbxappkey", "sbxappsecret"
TOKEN_TTL_S = 7 * 86400
_ROLES = {"seller": "SELLER", "buyer": "BUYER", "marketplace": "SYSTEM"}
_RETURN_REASONS = {"DEFECTIVE": "ecom_order_delivered_refund_and_return_reason_damaged",
                   "NOT_AS_DESCRIBED": "ecom_order_delivered_refund_and_return_reason_not_as_described",
                   "NO_LONGER_NEEDED": "ecom_order_delivered_refund_and_return_reason_no_longer_needed"}


def ts(dt: datetime | None) -> int:
    return int(dt.timestamp()) if dt is not None else 0


def cipher(acc: WAccount) -> str:
    return f"SBX_{acc.id.upper().replace('-', '_')}"


def shop_id(acc: WAccount) -> str:
    return str(7_490_000_000_000_000_000 + sum(acc.id.encode()))


def _envelope(data: Any, code: int = 0, message: str = "Success") -> Reply:
    return Reply(200, {"code": code, "message": message, "request_id": secrets.token_hex(8).upper(), "data": data})


def _status(o: WOrder) -> str:
    if o.cancel is not None:
        return "CANCELLED"
    s = o.shipment
    if s is None or s.confirmed_at is None:
        return "AWAITING_SHIPMENT"
    if s.delivered_at is not None:
        return "DELIVERED"
    return "IN_TRANSIT"


def render_order(o: WOrder) -> dict[str, Any]:
    s = o.shipment
    shipped = s is not None and s.confirmed_at is not None
    package = f"11529215{o.seq:010d}" if shipped else None
    tracking = s.tracking if shipped else ""  # type: ignore[union-attr]
    lines = [{"id": f"{o.id}{i}", "sku_id": o.sku, "product_id": o.sku, "product_name": "Sandbox item",
              "seller_sku": o.sku, "sale_price": str(o.unit_price), "original_price": str(o.unit_price),
              "currency": o.currency, "display_status": _status(o), "package_id": package, "tracking_number":
              tracking or None, "shipping_provider_name": s.carrier if shipped else None, "is_gift": False}  # type: ignore[union-attr]
             for i in range(o.items)]
    c = o.cancel
    return {
        "id": o.id, "status": _status(o), "create_time": ts(o.purchased_at), "update_time": ts(o.updated_at),
        "paid_time": ts(o.purchased_at) + 30, "user_id": f"70214368{o.seq:011d}", "buyer_email": "",
        "buyer_message": "",
        "shipping_type": "TIKTOK" if o.fulfilment == "marketplace" else "SELLER",
        "fulfillment_type": "FULFILLMENT_BY_TIKTOK" if o.fulfilment == "marketplace" else "FULFILLMENT_BY_SELLER",
        "delivery_type": "HOME_DELIVERY", "payment": {"currency": o.currency, "sub_total": str(o.total),
                                                      "original_total_product_price": str(o.total),
                                                      "shipping_fee": "0", "total_amount": str(o.total), "tax": "0"},
        "order_type": "NORMAL", "recipient_address": {"region_code": "US", "full_address": "(masked)"},
        "rts_sla_time": ts(o.ship_by), "tts_sla_time": ts(o.ship_by + timedelta(days=1)),
        "delivery_due_time": ts(o.deliver_by), "rts_time": ts(s.confirmed_at) if shipped else 0,  # type: ignore[union-attr]
        "collection_time": ts(s.shipped_at) if shipped else 0,  # type: ignore[union-attr]
        "delivery_time": ts(s.delivered_at) if shipped else 0,  # type: ignore[union-attr]
        "tracking_number": tracking, "shipping_provider": s.carrier if shipped else "",  # type: ignore[union-attr]
        "packages": [{"id": package}] if package else [], "line_items": lines,
        "cancel_time": ts(c.at) if c else 0, "cancellation_initiator": _ROLES[c.by] if c else "",
        "cancel_reason": c.reason.replace("_", " ").title() if c else "", "is_buyer_request_cancel":
        bool(c and c.buyer_requested),
    }


def render_cancellation(o: WOrder) -> dict[str, Any]:
    c = o.cancel
    assert c is not None
    return {"cancel_id": f"40350{o.seq:08d}", "order_id": o.id, "cancel_type": "CANCEL",
            "cancel_status": "CANCELLATION_REQUEST_COMPLETE", "role": _ROLES[c.by], "cancel_reason": c.reason.lower(),
            "cancel_reason_text": c.reason.replace("_", " ").title(), "create_time": ts(c.at), "update_time": ts(c.at),
            "refund_amount": {"currency": o.currency, "refund_total": str(o.total)},
            "cancel_line_items": [{"cancel_line_item_id": f"{o.seq}{i}", "order_line_item_id": f"{o.id}{i}"}
                                  for i in range(o.items)]}


def render_return(o: WOrder) -> dict[str, Any]:
    r = o.ret
    assert r is not None
    done = r.resolved_at is not None
    return {"return_id": f"40359{o.seq:08d}", "order_id": o.id, "return_type": "RETURN_AND_REFUND",
            "return_status": "RETURN_OR_REFUND_REQUEST_COMPLETE" if done else "RETURN_OR_REFUND_REQUEST_PENDING",
            "role": "BUYER", "return_reason": _RETURN_REASONS.get(r.reason, r.reason.lower()),
            "create_time": ts(r.requested_at), "update_time": ts(r.resolved_at or r.requested_at),
            "refund_amount": {"currency": o.currency, "refund_total": str(r.refund or 0)}, "return_line_items": []}


def render_review(o: WOrder) -> dict[str, Any]:
    f = o.feedback
    assert f is not None
    return {"review_id": f"72{o.seq:010d}", "order_id": o.id, "tiktok_product_id": o.sku, "rating": f.score,
            "title": "", "content": "", "review_media": [], "create_time": ts(f.at)}


def valid_sign(req: Request) -> bool:
    query = {k: v[0] for k, v in req.query.items()}
    given = query.get("sign", "")
    joined = "".join(f"{k}{query[k]}" for k in sorted(query) if k not in ("sign", "access_token"))
    message = APP_SECRET.encode() + req.path.encode() + joined.encode() + req.body + APP_SECRET.encode()
    return hmac.compare_digest(given, hmac.new(APP_SECRET.encode(), message, hashlib.sha256).hexdigest())


def register(sandbox: Sandbox) -> None:
    route = sandbox.route
    refresh_tokens: dict[str, str] = {}
    pages: dict[str, list[dict[str, Any]]] = {}  # page token -> the rest of a search result
    lock = threading.Lock()

    def api(shop: bool) -> Callable[[Callable[[Request, WAccount], Reply]], Callable[[Request], Reply]]:
        def wrap(handler: Callable[[Request, WAccount], Reply]) -> Callable[[Request], Reply]:
            def wrapped(req: Request) -> Reply:
                if req.arg("app_key") != APP_KEY or not (req.arg("timestamp") or "").isdigit():
                    return _envelope(None, 106001, "app_key or timestamp is missing or invalid")
                if not valid_sign(req):
                    return _envelope(None, 106001, "Invalid signature, please check your sign")
                acc = sandbox.token_account(req.header("x-tts-access-token"))
                if acc is None or acc.marketplace != MARKETPLACE:
                    return _envelope(None, 105002, "access token is expired, please refresh it")
                if shop and req.arg("shop_cipher") != cipher(acc):
                    return _envelope(None, 36009004, "shop_cipher is invalid")
                return handler(req, acc)

            return wrapped

        return wrap

    @route(MARKETPLACE, "GET", r"/api/v2/token/refresh")
    def refresh(req: Request) -> Reply:
        if req.arg("app_key") != APP_KEY or req.arg("app_secret") != APP_SECRET \
                or req.arg("grant_type") != "refresh_token":
            return _envelope(None, 36004004, "app_key, app_secret or grant_type is invalid")
        given = req.arg("refresh_token") or ""
        with lock:
            account = refresh_tokens.get(given)
        if account is None and given.startswith("sbx-refresh-"):
            account = given.removeprefix("sbx-refresh-")
        acc = sandbox.world.accounts.get(account or "")
        if acc is None or acc.marketplace != MARKETPLACE:
            return _envelope(None, 36004005, "can not find related auth record")
        access, expires = sandbox.issue_token(MARKETPLACE, acc.id, TOKEN_TTL_S)
        rotated = f"TTP_{secrets.token_hex(16)}"
        with lock:
            refresh_tokens[rotated] = acc.id
        now = sandbox.clock.now()
        return _envelope({"access_token": access, "access_token_expire_in": ts(expires), "refresh_token": rotated,
                          "refresh_token_expire_in": ts(now + timedelta(days=365)), "open_id": acc.seller_id,
                          "seller_name": acc.display_name, "seller_base_region": acc.site, "user_type": 0,
                          "granted_scopes": ["seller.order.info", "seller.fulfillment.basic",
                                             "seller.return_refund.basic", "seller.customer_service"]})

    @route(MARKETPLACE, "GET", r"/authorization/202309/shops")
    @api(shop=False)
    def shops(req: Request, acc: WAccount) -> Reply:
        return _envelope({"shops": [{"id": shop_id(acc), "name": acc.display_name, "region": acc.site,
                                     "seller_type": "LOCAL", "cipher": cipher(acc), "code": f"{acc.site}LC{acc.id}"}]})

    def search(req: Request, acc: WAccount, key: str, rows: Callable[[WAccount], list[tuple[int, int, Any]]],
               render: Callable[[Any], dict[str, Any]]) -> Reply:
        size = int(req.arg("page_size") or 0)
        if not 1 <= size <= 100:
            return _envelope(None, 36009001, "page_size must be between 1 and 100")
        token = req.arg("page_token")
        if token:
            with lock:
                rest = pages.pop(token, None)
            if rest is None:
                return _envelope(None, 36009002, "page_token is invalid or expired")
        else:
            body = json.loads(req.body or b"{}")
            ge, lt = body.get("update_time_ge", 0), body.get("update_time_lt", 2**62)
            cge, clt = body.get("create_time_ge", 0), body.get("create_time_lt", 2**62)
            found = [(u, c, x) for u, c, x in rows(acc) if ge <= u < lt and cge <= c < clt]
            found.sort(key=lambda r: r[0 if req.arg("sort_field", "update_time") == "update_time" else 1],
                       reverse=req.arg("sort_order") == "DESC")
            rest = [render(x) for _, _, x in found]
        more = rest[size:]
        next_token = ""
        if more:
            next_token = secrets.token_urlsafe(12)
            with lock:
                pages[next_token] = more
        return _envelope({key: rest[:size], "total_count": len(rest), "next_page_token": next_token})

    @route(MARKETPLACE, "POST", r"/order/202309/orders/search")
    @api(shop=True)
    def orders(req: Request, acc: WAccount) -> Reply:
        return search(req, acc, "orders",
                      lambda a: [(ts(o.updated_at), ts(o.purchased_at), o) for o in a.orders], render_order)

    @route(MARKETPLACE, "POST", r"/return_refund/202309/cancellations/search")
    @api(shop=True)
    def cancellations(req: Request, acc: WAccount) -> Reply:
        return search(req, acc, "cancellations", lambda a: [(ts(o.cancel.at), ts(o.cancel.at), o) for o in a.orders
                                                             if o.cancel is not None], render_cancellation)

    @route(MARKETPLACE, "POST", r"/return_refund/202309/returns/search")
    @api(shop=True)
    def returns(req: Request, acc: WAccount) -> Reply:
        return search(req, acc, "return_orders",
                      lambda a: [(ts(o.ret.resolved_at or o.ret.requested_at), ts(o.ret.requested_at), o)
                                 for o in a.orders if o.ret is not None], render_return)

    @route(MARKETPLACE, "POST", r"/review_rating/202605/product_reviews/search")
    @api(shop=True)
    def reviews(req: Request, acc: WAccount) -> Reply:
        body = json.loads(req.body or b"{}")
        lo = _iso(body.get("review_start_time"), 0)
        hi = _iso(body.get("review_end_time"), 2**62)
        return search(req, acc, "reviews", lambda a: [
            (ts(o.feedback.at), ts(o.feedback.at), o) for o in a.orders
            if o.feedback is not None and not o.feedback.removed and lo <= ts(o.feedback.at) < hi], render_review)

    @route(MARKETPLACE, "GET", r"/customer_service/202407/performance")
    @api(shop=True)
    def performance(req: Request, acc: WAccount) -> Reply:
        try:
            start = datetime.fromisoformat(req.arg("support_date_ge") or "").replace(tzinfo=UTC)
            end = datetime.fromisoformat(req.arg("support_date_lt") or "").replace(tzinfo=UTC)
        except ValueError:
            return _envelope(None, 36009001, "support_date_ge and support_date_lt must be YYYY-MM-DD")
        chats = [m for m in acc.messages if start <= m.received_at < end]
        day = timedelta(hours=24)
        answered = [m for m in chats if m.replied_at is not None and m.replied_at - m.received_at <= day]
        share = 100.0 * len(answered) / len(chats) if chats else 100.0
        return _envelope({"performance": {"support_session_count": len(chats), "response_percentage": f"{share:.1f}",
                                          "response_time_mins": "45", "satisfaction_percentage": "91.0"}})


def _iso(value: Any, default: int) -> int:
    if not value:
        return default
    return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())
