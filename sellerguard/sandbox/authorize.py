"""The sandbox's consent pages and authorization-code exchanges, for the six marketplaces that have them.

``GET`` of a marketplace's authorize path (Amazon ``/apps/authorize/consent``, eBay ``/oauth2/authorize``, Etsy
``/oauth/connect``, TikTok Shop ``/open/authorize``, Mercado Libre ``/authorization``, Shopify
``/admin/oauth/authorize``) is a seller who logs in and consents at once: a 302 to the request's ``redirect_uri``
with a single-use code (5 minutes) and the ``state``, in that marketplace's own shape (Amazon's
``spapi_oauth_code`` + ``selling_partner_id``, Shopify's ``hmac``/``shop``/``timestamp``). Refused, as the real
pages refuse: a missing client id, ``state`` or (Etsy) PKCE challenge, an unknown app, a ``redirect_uri`` that is
not a loopback URL (the sandbox's stand-in for "registered": any port on localhost/127.0.0.1, RFC 8252).

Which seller consents: for Mercado Libre and Shopify the client id names the sandbox account (``sandbox-<id>``, as
their token endpoints already read it); elsewhere ``login_hint=<account id>`` if given, else the marketplace's
first world account.

The exchange (``grant_type=authorization_code``; TikTok's ``GET /api/v2/token/get``) checks the client, the code
(unused, unexpired, of that marketplace), the ``redirect_uri`` and the PKCE verifier (S256), then answers with a
refresh token that marketplace's own refresh route (``sandbox/<marketplace>.py``) accepts. These routes are
registered ``first``: a token POST with another grant falls through to the marketplace module.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from sellerguard.sandbox import amazon, ebay, etsy, mercadolibre, tiktok
from sellerguard.sandbox.clients import CLIENT_SECRET, secret_ok
from sellerguard.sandbox.server import Reply, Request, Sandbox
from sellerguard.sandbox.world import WAccount

CODE_TTL_S = 300
SHOPIFY_SECRET = CLIENT_SECRET  # the client secret Shopify signs its redirect with (any sandbox-<id> app)
ACCESS_SCOPES = {
    "shopify": "read_orders,read_all_orders,read_merchant_managed_fulfillment_orders,read_shopify_payments_disputes",
    "mercadolibre": "offline_access read",
}


@dataclass
class _Code:
    marketplace: str
    account: str
    client_id: str
    redirect_uri: str
    challenge: str | None
    expires_at: datetime


def _loopback(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1") and parts.port is not None


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _bad(status: int, error: str, description: str) -> Reply:
    return Reply(status, {"error": error, "error_description": description})


def register(sandbox: Sandbox) -> None:
    codes: dict[str, _Code] = {}
    lock = threading.Lock()

    def seller(marketplace: str, req: Request, client_id: str) -> WAccount | None:
        if marketplace in ("mercadolibre", "shopify"):
            acc = sandbox.world.accounts.get(client_id.removeprefix("sandbox-"))
        elif hint := req.arg("login_hint"):
            acc = sandbox.world.accounts.get(hint)
        else:
            acc = next(iter(sandbox.world.of(marketplace)), None)
        return acc if acc is not None and acc.marketplace == marketplace else None

    def consent(marketplace: str, client_key: str, *, pkce: bool = False) -> None:
        def page(req: Request) -> Reply:
            client_id = req.arg(client_key) or ""
            state, redirect = req.arg("state") or "", req.arg("redirect_uri") or ""
            if not client_id:
                return _bad(400, "invalid_request", f"{client_key} is missing")
            if not state:
                return _bad(400, "invalid_request", "state is missing (the sandbox insists on CSRF protection)")
            if not _loopback(redirect):
                return _bad(400, "invalid_request", "redirect_uri is not registered (the sandbox accepts loopback"
                                                    " http://localhost:PORT/... or http://127.0.0.1:PORT/...)")
            challenge = req.arg("code_challenge")
            if pkce and (not challenge or req.arg("code_challenge_method") != "S256"):
                return _bad(400, "invalid_request", "code_challenge with code_challenge_method=S256 is required")
            acc = seller(marketplace, req, client_id)
            if acc is None:
                return _bad(400, "invalid_client", "no sandbox seller for this app")
            code = secrets.token_urlsafe(24)
            now = sandbox.clock.now()
            with lock:
                codes[code] = _Code(marketplace, acc.id, client_id, redirect, challenge,
                                    now + timedelta(seconds=CODE_TTL_S))
            params: dict[str, Any] = {"code": code, "state": state}
            if marketplace == "amazon":
                params = {"spapi_oauth_code": code, "state": state, "selling_partner_id": acc.seller_id}
            elif marketplace == "ebay":
                params["expires_in"] = CODE_TTL_S
            elif marketplace == "shopify":
                params = {"code": code, "host": base64.b64encode(b"admin.shopify.com/store/x").decode(),
                          "shop": f"{acc.id}.myshopify.com", "state": state, "timestamp": str(int(now.timestamp()))}
                message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
                params["hmac"] = hmac.new(SHOPIFY_SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
            sep = "&" if "?" in redirect else "?"
            return Reply(302, b"", {"Location": f"{redirect}{sep}{urlencode(params)}"}, content_type="text/plain")

        sandbox.route(marketplace, "GET", _AUTHORIZE[marketplace], first=True)(page)

    def take(marketplace: str, code: str, client_id: str, redirect: str | None,
             verifier: str | None) -> WAccount | Reply:
        with lock:
            found = codes.pop(code, None)  # single use, whatever happens next
        if found is None or found.marketplace != marketplace or found.expires_at <= sandbox.clock.now():
            return _bad(400, "invalid_grant", "the authorization code is invalid, expired or already used")
        if found.client_id != client_id:
            return _bad(400, "invalid_grant", "the code was issued to another client")
        if redirect is not None and redirect != found.redirect_uri:
            return _bad(400, "invalid_grant", "redirect_uri does not match the authorization request")
        if found.challenge is not None and (not verifier or _s256(verifier) != found.challenge):
            return _bad(400, "invalid_grant", "code_verifier does not match the code_challenge")
        return sandbox.world.accounts[found.account]

    def exchange(marketplace: str) -> Any:
        def handler(req: Request) -> Reply | None:
            form = req.form()
            if form.get("grant_type") != "authorization_code":
                return None  # refresh and client-credentials grants: the marketplace module answers
            code = form.get("code", "")
            redirect = form.get("redirect_uri")
            if marketplace == "ebay":
                expected = "Basic " + base64.b64encode(f"{ebay.CLIENT[0]}:{ebay.CLIENT[1]}".encode()).decode()
                if req.header("authorization") != expected:
                    return _bad(401, "invalid_client", "client authentication failed")
                client_id = ebay.CLIENT[0]
            elif marketplace == "amazon":
                if form.get("client_id") != amazon.CLIENT_ID or form.get("client_secret") != amazon.CLIENT_SECRET:
                    return _bad(401, "invalid_client", "Client authentication failed")
                with lock:
                    client_id = codes[code].client_id if code in codes else ""  # consent named the application id
            elif marketplace == "etsy":
                if req.header("x-api-key") != etsy.API_KEY or form.get("client_id") != etsy.API_KEY.split(":")[0]:
                    return _bad(401, "invalid_client", "x-api-key or client_id")
                client_id = form["client_id"]
            else:  # mercadolibre, shopify: sandbox-<account id> with a secret
                client_id = form.get("client_id", "")
                secret = form.get("client_secret")
                if not secret_ok(secret):  # both apps' one secret, like the real exchange checks it
                    return _bad(401, "invalid_client", "invalid client_id or client_secret")
            acc = take(marketplace, code, client_id, redirect, form.get("code_verifier"))
            if isinstance(acc, Reply):
                return acc
            return Reply(200, _tokens(sandbox, marketplace, acc))

        sandbox.route(marketplace, "POST", _TOKEN[marketplace], first=True)(handler)

    for mp, key, pkce in (("amazon", "application_id", False), ("ebay", "client_id", False),
                          ("etsy", "client_id", True), ("tiktok", "service_id", False),
                          ("mercadolibre", "client_id", False), ("shopify", "client_id", False)):
        consent(mp, key, pkce=pkce)
        if mp != "tiktok":
            exchange(mp)

    @sandbox.route("tiktok", "GET", r"/api/v2/token/get", first=True)
    def tiktok_get(req: Request) -> Reply:
        if req.arg("app_key") != tiktok.APP_KEY or req.arg("app_secret") != tiktok.APP_SECRET \
                or req.arg("grant_type") != "authorized_code":
            return tiktok._envelope(None, 36004004, "app_key, app_secret or grant_type is invalid")
        code = req.arg("auth_code") or ""
        with lock:
            client_id = codes[code].client_id if code in codes else ""
        acc = take("tiktok", code, client_id, None, None)
        if isinstance(acc, Reply):
            return tiktok._envelope(None, 36004005, "auth_code is invalid or expired")
        return tiktok._envelope(_tokens(sandbox, "tiktok", acc))


_AUTHORIZE = {"amazon": r"/apps/authorize/consent", "ebay": r"/oauth2/authorize", "etsy": r"/oauth/connect",
              "tiktok": r"/open/authorize", "mercadolibre": r"/authorization", "shopify": r"/admin/oauth/authorize"}
_TOKEN = {"amazon": r"/auth/o2/token", "ebay": r"/identity/v1/oauth2/token", "etsy": r"/v3/public/oauth/token",
          "mercadolibre": r"/oauth/token", "shopify": r"/admin/oauth/access_token"}


def _tokens(sandbox: Sandbox, marketplace: str, acc: WAccount) -> dict[str, Any]:
    """A token reply in the marketplace's shape, with a refresh token its own refresh route accepts."""
    now = sandbox.clock.now()
    if marketplace == "amazon":
        access, _ = sandbox.issue_token(marketplace, acc.id, amazon.TOKEN_TTL_S)
        return {"access_token": access, "token_type": "bearer", "expires_in": amazon.TOKEN_TTL_S,
                "refresh_token": f"Atzr|sbx-{acc.id}"}
    if marketplace == "ebay":
        access, _ = sandbox.issue_token(marketplace, acc.id, ebay.TOKEN_TTL_S, prefix="v^1.1#i^1")
        return {"access_token": access, "expires_in": ebay.TOKEN_TTL_S, "refresh_token": f"v^1.1#sbx-{acc.id}",
                "refresh_token_expires_in": 47304000, "token_type": "User Access Token"}
    if marketplace == "etsy":
        user_id, _ = etsy.ids(acc)
        access, _ = sandbox.issue_token(marketplace, acc.id, etsy.TOKEN_TTL_S)
        return {"access_token": f"{user_id}.{access}", "token_type": "Bearer", "expires_in": etsy.TOKEN_TTL_S,
                "refresh_token": f"sbx-refresh-{acc.id}"}
    if marketplace == "tiktok":
        access, expires = sandbox.issue_token(marketplace, acc.id, tiktok.TOKEN_TTL_S)
        return {"access_token": access, "access_token_expire_in": int(expires.timestamp()),
                "refresh_token": f"sbx-refresh-{acc.id}",
                "refresh_token_expire_in": int((now + timedelta(days=365)).timestamp()), "open_id": acc.seller_id,
                "seller_name": acc.display_name, "seller_base_region": acc.site, "user_type": 0,
                "granted_scopes": ["seller.order.info", "seller.fulfillment.basic", "seller.return_refund.basic"]}
    if marketplace == "mercadolibre":
        access, _ = sandbox.issue_token(marketplace, acc.id, mercadolibre.TOKEN_TTL_S, prefix="APP_USR")
        return {"access_token": access, "token_type": "Bearer", "expires_in": mercadolibre.TOKEN_TTL_S,
                "scope": ACCESS_SCOPES["mercadolibre"], "user_id": mercadolibre.user_id(acc),
                "refresh_token": f"TG-sandbox-{acc.id}-{secrets.token_hex(8)}"}
    # shopify: an offline access token, which does not expire
    access, _ = sandbox.issue_token(marketplace, acc.id, 10 * 365 * 86400, prefix="shpua")
    return {"access_token": access, "scope": ACCESS_SCOPES["shopify"]}
