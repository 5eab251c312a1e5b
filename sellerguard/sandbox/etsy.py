"""Etsy Open API v3 in the sandbox: the OAuth token endpoint, users/me, shop receipts and shop reviews.

Shapes follow Etsy's OpenAPI spec (``ShopReceipts``, ``TransactionReviews``, ``Self``; the tests validate them
against it). Like Etsy: every call needs ``x-api-key: <keystring>:<shared_secret>`` (403 with Etsy's own message
otherwise), access tokens start with the user id and a dot and last an hour, each refresh hands back a new
refresh token, offset paging with ``limit`` <= 100, rate headers on every success, and a receipt's
``updated_timestamp`` does NOT move when it is cancelled or refunded (etsy/open-api#604). Also like Etsy as
integrators report it: cancelled receipts are left out of the list unless ``was_canceled=true``
(etsy/open-api#153), and ship-by dates and shipment notifications are days at a fixed hour, not real times
(etsy/open-api#553): ``expected_ship_date`` at 07:00 UTC, ``shipment_notification_timestamp`` at 16:00 UTC.
"""

from __future__ import annotations

import secrets
import threading
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any

from sellerguard.sandbox.server import Reply, Request, Sandbox
from sellerguard.sandbox.world import WAccount, WOrder

MARKETPLACE = "etsy"
TOKEN_TTL_S = 3600
API_KEY = "sbxkeystring:sbxsecret"
RATE_HEADERS = {"x-limit-per-second": "10", "x-remaining-this-second": "9", "x-limit-per-day": "10000",
                "x-remaining-today": "9500"}


def ts(dt: datetime) -> int:
    return int(dt.timestamp())


def ids(acc: WAccount) -> tuple[int, int]:
    """(user id, shop id): stable per account."""
    n = zlib.crc32(acc.id.encode()) % 9_000_000
    return 10_000_000 + n, 20_000_000 + n


def _money(amount: Any, currency: str) -> dict[str, Any]:
    return {"amount": round(amount * 100), "divisor": 100, "currency_code": currency}


SHIP_BY_HOUR, NOTIFIED_HOUR = 7, 16


def at_hour(dt: datetime, hour: int) -> int:
    """A day as Etsy sends it: the UTC date of ``dt`` at a fixed hour, whatever the real time."""
    return ts(datetime.combine(dt.astimezone(UTC).date(), time(hour), UTC))


def _receipt_updated(o: WOrder) -> datetime:
    """Etsy's updated_timestamp: moves on payment and shipping, not on cancellation or refund."""
    s = o.shipment
    return max([o.purchased_at, *([s.confirmed_at] if s is not None and s.confirmed_at else [])])


def buyer(o: WOrder) -> int:
    """A stable buyer id per order; some buyers come back."""
    return 90_000_000 + o.seq * 7919 % 3000


def render_receipt(acc: WAccount, o: WOrder) -> dict[str, Any]:
    user_id, _ = ids(acc)
    created = ts(o.purchased_at)
    s = o.shipment
    shipped = s is not None and s.confirmed_at is not None
    status = "canceled" if o.cancel else "completed" if shipped else "paid"
    refunds = []
    if o.cancel is not None:
        refunds.append({"amount": _money(o.total, o.currency), "created_timestamp": ts(o.cancel.at),
                        "reason": o.cancel.reason.replace("_", " ").lower(), "note_from_issuer": None,
                        "status": "complete"})
    elif o.ret is not None and o.ret.resolved_at is not None and o.ret.refund is not None:
        status = "fully refunded"
        refunds.append({"amount": _money(o.ret.refund, o.currency), "created_timestamp": ts(o.ret.resolved_at),
                        "reason": o.ret.reason.replace("_", " ").lower(), "note_from_issuer": None,
                        "status": "complete"})
    transactions = [{
        "transaction_id": 4_000_000_000 + o.seq, "title": f"Item {o.sku}", "description": "", "seller_user_id": user_id,
        "buyer_user_id": buyer(o), "create_timestamp": created, "created_timestamp": created,
        "paid_timestamp": created + 60, "shipped_timestamp": ts(s.confirmed_at) if shipped else None,  # type: ignore[union-attr]
        "quantity": o.items, "listing_image_id": None, "receipt_id": int(o.id), "is_digital": False, "file_data": "",
        "listing_id": 1_000_000 + int(o.sku[-3:]), "transaction_type": "listing", "product_id": None, "sku": o.sku,
        "price": _money(o.unit_price, o.currency), "shipping_cost": _money(0, o.currency), "variations": [],
        "product_data": [], "shipping_profile_id": None, "min_processing_days": 1, "max_processing_days": 2,
        "shipping_method": None, "shipping_upgrade": None, "expected_ship_date": at_hour(o.ship_by, SHIP_BY_HOUR),
        "buyer_coupon": 0, "shop_coupon": 0,
    }]
    updated = ts(_receipt_updated(o))
    return {
        "receipt_id": int(o.id), "receipt_type": 0, "seller_user_id": user_id, "seller_email": None,
        "buyer_user_id": buyer(o), "buyer_email": None, "name": "Sandbox Buyer", "first_line": None,
        "second_line": None, "city": None, "state": None, "zip": None, "status": status, "formatted_address": None,
        "country_iso": acc.site, "payment_method": "cc", "payment_email": None, "message_from_seller": None,
        "message_from_buyer": None, "message_from_payment": None, "is_paid": True, "is_shipped": shipped,
        "create_timestamp": created, "created_timestamp": created, "update_timestamp": updated,
        "updated_timestamp": updated, "is_gift": False, "gift_message": "", "gift_sender": "",
        "grandtotal": _money(o.total, o.currency), "subtotal": _money(o.total, o.currency),
        "total_price": _money(o.total, o.currency), "total_shipping_cost": _money(0, o.currency),
        "total_tax_cost": _money(0, o.currency), "total_vat_cost": _money(0, o.currency),
        "discount_amt": _money(0, o.currency), "gift_wrap_price": _money(0, o.currency),
        "shipments": [{"receipt_shipping_id": 7_000_000 + o.seq, "shipment_notification_timestamp":
                       at_hour(s.confirmed_at, NOTIFIED_HOUR), "carrier_name": s.carrier,  # type: ignore[union-attr, arg-type]
                       "tracking_code": s.tracking}]  # type: ignore[union-attr]
        if shipped else [],
        "transactions": transactions, "refunds": refunds,
    }


def render_review(acc: WAccount, o: WOrder) -> dict[str, Any]:
    _, shop_id = ids(acc)
    f = o.feedback
    assert f is not None
    return {"shop_id": shop_id, "listing_id": 1_000_000 + int(o.sku[-3:]), "transaction_id": 4_000_000_000 + o.seq,
            "buyer_user_id": None, "rating": f.score, "review": "", "language": "en", "image_url_fullxfull": None,
            "create_timestamp": ts(f.at), "created_timestamp": ts(f.at), "update_timestamp": ts(f.at),
            "updated_timestamp": ts(f.at)}


def _error(status: int, message: str) -> Reply:
    return Reply(status, {"error": message})


def _int(req: Request, name: str, default: int | None = None) -> int | None:
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    return int(raw)


def register(sandbox: Sandbox) -> None:
    route = sandbox.route
    refresh_tokens: dict[str, str] = {}  # every refresh token handed out -> account id
    lock = threading.Lock()

    def key_ok(req: Request) -> Reply | None:
        key = req.header("x-api-key") or ""
        if ":" not in key:
            return _error(403, "Shared secret is required in x-api-key header.")
        if key != API_KEY:
            return _error(403, "Invalid API key: should be in the format 'keystring:shared_secret'.")
        return None

    def authed(handler: Callable[[Request, WAccount], Reply]) -> Callable[[Request], Reply]:
        def wrapped(req: Request) -> Reply:
            if (refused := key_ok(req)) is not None:
                return refused
            bearer = (req.header("authorization") or "").removeprefix("Bearer ")
            acc = sandbox.token_account(bearer.split(".", 1)[-1])
            if acc is None or acc.marketplace != MARKETPLACE:
                return _error(401, "invalid_token")
            if req.match is not None and "shop" in req.match.groupdict() and int(req.match["shop"]) != ids(acc)[1]:
                return _error(403, "The user does not own this shop")
            try:
                reply = handler(req, acc)
            except ValueError as exc:
                return _error(400, f"Invalid parameter: {exc}")
            reply.headers.update(RATE_HEADERS)
            return reply

        return wrapped

    @route(MARKETPLACE, "POST", r"/v3/public/oauth/token")
    def token(req: Request) -> Reply:
        if (refused := key_ok(req)) is not None:
            return refused
        form = req.form()
        if form.get("grant_type") != "refresh_token" or form.get("client_id") != API_KEY.split(":")[0]:
            return Reply(400, {"error": "invalid_request", "error_description": "grant_type or client_id"})
        given = form.get("refresh_token", "")
        with lock:
            account = refresh_tokens.get(given)
        if account is None and given.startswith("sbx-refresh-"):
            account = given.removeprefix("sbx-refresh-")
        acc = sandbox.world.accounts.get(account or "")
        if acc is None or acc.marketplace != MARKETPLACE:
            return Reply(400, {"error": "invalid_grant", "error_description": "refresh token not found"})
        user_id, _ = ids(acc)
        access, _ = sandbox.issue_token(MARKETPLACE, acc.id, TOKEN_TTL_S)
        rotated = f"{user_id}.{secrets.token_hex(16)}"
        with lock:
            refresh_tokens[rotated] = acc.id
        return Reply(200, {"access_token": f"{user_id}.{access}", "token_type": "Bearer", "expires_in": TOKEN_TTL_S,
                           "refresh_token": rotated})

    @route(MARKETPLACE, "GET", r"/v3/application/users/me")
    @authed
    def me(req: Request, acc: WAccount) -> Reply:
        user_id, shop_id = ids(acc)
        return Reply(200, {"user_id": user_id, "shop_id": shop_id})

    def page(req: Request, items: list[dict[str, Any]]) -> Reply:
        limit = _int(req, "limit", 25) or 25
        offset = _int(req, "offset", 0) or 0
        if not 1 <= limit <= 100 or offset < 0:
            return _error(400, "limit must be between 1 and 100, offset at least 0")
        return Reply(200, {"count": len(items), "results": items[offset:offset + limit]})

    @route(MARKETPLACE, "GET", r"/v3/application/shops/(?P<shop>\d+)/receipts")
    @authed
    def receipts(req: Request, acc: WAccount) -> Reply:
        bounds = {k: _int(req, k) for k in ("min_created", "max_created", "min_last_modified", "max_last_modified")}
        canceled = req.arg("was_canceled") == "true"  # without it, cancelled receipts are left out (#153)
        shipped = {"true": True, "false": False}.get(req.arg("was_shipped") or "")
        rows = []
        for o in acc.orders:
            s = o.shipment
            if (o.cancel is not None) != canceled or (
                    shipped is not None and (s is not None and s.confirmed_at is not None) != shipped):
                continue
            created, updated = ts(o.purchased_at), ts(_receipt_updated(o))
            if (bounds["min_created"] and created < bounds["min_created"]) or \
                    (bounds["max_created"] and created > bounds["max_created"]) or \
                    (bounds["min_last_modified"] and updated < bounds["min_last_modified"]) or \
                    (bounds["max_last_modified"] and updated > bounds["max_last_modified"]):
                continue
            rows.append((created, updated, o))
        sort_on = req.arg("sort_on", "created")
        key = {"created": 0, "updated": 1}.get(sort_on or "created")
        rows.sort(key=(lambda r: r[key]) if key is not None else (lambda r: int(r[2].id)),  # type: ignore[index]
                  reverse=(req.arg("sort_order", "desc") or "desc") in ("desc", "descending", "down"))
        return page(req, [render_receipt(acc, o) for _, _, o in rows])

    @route(MARKETPLACE, "GET", r"/v3/application/shops/(?P<shop>\d+)/reviews")
    @authed
    def reviews(req: Request, acc: WAccount) -> Reply:
        lo, hi = _int(req, "min_created"), _int(req, "max_created")
        rated = [o for o in acc.orders if o.feedback is not None and not o.feedback.removed
                 and (lo is None or ts(o.feedback.at) >= lo) and (hi is None or ts(o.feedback.at) <= hi)]
        rated.sort(key=lambda o: o.feedback.at, reverse=True)  # type: ignore[union-attr]
        return page(req, [render_review(acc, o) for o in rated])
