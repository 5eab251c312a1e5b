"""Shopify (the seller's own store): orders, fulfilments, cancellations, returns and payment disputes.

GraphQL Admin API at a pinned version (``/admin/api/<version>/graphql.json``), header ``X-Shopify-Access-Token``.
The token is either a store-admin custom app token (``access_token``, never expires) or, for a Dev Dashboard app of
the store's own organisation, a 24-hour client-credentials token (``client_id`` + ``client_secret``).
Throttling is NOT a 429: Shopify answers HTTP 200 with ``errors[].extensions.code = THROTTLED`` and a cost bucket in
``extensions.cost``; the client paces itself by that bucket. Without the ``read_all_orders`` scope only the last
60 days of orders are visible. Facts and sources: docs/connectors/shopify.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from pydantic import BaseModel, ConfigDict, Field

from sellerguard.connectors.contract import Batch, SyncContext
from sellerguard.connectors.shopify_normalize import (
    DISPUTES_QUERY,
    ORDERS_QUERY,
    ORDERS_QUERY_NO_CUSTOMER,
    SCOPES_QUERY,
    normalize_dispute,
    normalize_order,
    objects,
    payload_error,
    text,
)
from sellerguard.errors import ConnectorError
from sellerguard.http import AccessToken, ErrorRule, ExpiredShape, HttpClient, body_codes
from sellerguard.oauth import load_access, post_token, save_access, token_reply
from sellerguard.paginate import by_token, dig
from sellerguard.schema import Record

MARKETPLACE = "shopify"
STREAMS = ("orders", "disputes")
STREAM_SWITCHES = {"disputes": ("disputes",)}  # option false -> stream not read
API_VERSION = "2025-01"  # the version whose schema the tests check the queries against; see docs (Quirks)
VISIBLE_DAYS_WITHOUT_READ_ALL_ORDERS = 60
TOKEN_STATE = "access_token"

ERRORS: dict[int | str, ErrorRule] = {
    401: ErrorRule("refresh", "config", "Shopify refused the access token: check it, or re-install the app"),
    402: ErrorRule("fail", "config", "the shop is frozen (unpaid Shopify bill)"),
    403: ErrorRule("fail", "config", "Shopify refused this app for the shop (scopes or app permissions)"),
    404: ErrorRule("fail", "config", "shop or API version not found: check options.shop and options.api_version"),
    423: ErrorRule("fail", "config", "the shop is locked"),
}
THROTTLED = ErrorRule("retry", "wait", "throttled by Shopify (query cost bucket empty)")
# errors[].extensions.code INTERNAL_SERVER_ERROR inside a 200 (with a requestId): Shopify's 5xx, retried like one
INTERNAL = ErrorRule("retry", "wait", "Shopify reported an internal error inside a 200 answer")
ACCESS_DENIED = ErrorRule("fail", "config", "access denied: the app lacks a scope this query needs (read_orders,"
                                            " read_returns, read_shopify_payments_disputes)")
CUSTOMER_DENIED = ErrorRule("fail", "config", "access denied to customer data (read_customers and, for public"
                                              " apps, Shopify's protected customer data approval): grant it, or"
                                              " set options.customer_facts = false")
TOO_COSTLY = ErrorRule("fail", "config",
                       "the query costs more than Shopify's 1,000-point limit: lower options.page_size")
GRAPHQL_ERROR = ErrorRule("fail", "payload", "Shopify refused the GraphQL query")
# 200-with-an-error codes, sorted like their HTTP equivalents (the first code of the body that is known wins)
BODY_CODES: dict[str | int, ErrorRule] = {
    "THROTTLED": THROTTLED, "INTERNAL_SERVER_ERROR": INTERNAL, "ACCESS_DENIED": ACCESS_DENIED,
    "MAX_COST_EXCEEDED": TOO_COSTLY,
}
# "token expired/revoked" as Shopify words it (401 body {"errors": "[API] Invalid API key or access token ..."})
EXPIRED = (ExpiredShape(status=401, text="invalid api key or access token"),)


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    shop: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*(\.myshopify\.com)?$")  # "my-store"
    api_version: str = Field(default=API_VERSION, pattern=r"^\d{4}-(01|04|07|10)$")
    backfill_days: int = Field(default=VISIBLE_DAYS_WITHOUT_READ_ALL_ORDERS, ge=1, le=3650)
    overlap_minutes: int = Field(default=10, ge=0)  # Shopify's search index lags the write a little
    page_size: int = Field(default=10, ge=1, le=250)  # 10 orders: a requested cost near 940 of 1,000
    handling_days: int | None = Field(default=None, ge=0, le=30)  # your promise: ship-by when Shopify has none
    disputes: bool = True  # Shopify Payments disputes (needs read_shopify_payments_disputes)
    dispute_days: int = Field(default=120, ge=1)  # re-read disputes this far back: their status changes later
    # customer.id (as a buyer key) and the ship-to country need customer data access (read_customers, and
    # Shopify's protected customer data approval for public apps): false leaves both out of the query
    customer_facts: bool = True
    # deliveries and other carrier events may not move the order's updatedAt [unverified]: once a day the
    # orders created this recently are read again
    rescan_days: int = Field(default=14, ge=0, le=60)
    rescan_every_hours: float = Field(default=24, gt=0)


def _options(ctx: SyncContext) -> Options:
    return ctx.options if isinstance(ctx.options, Options) else Options()


def _base(ctx: SyncContext, opts: Options) -> str:
    if ctx.account.base_url:
        return ctx.account.base_url.rstrip("/")
    shop = opts.shop or ctx.account.seller_id
    if not shop:
        raise ConnectorError("set options.shop to the store's myshopify name (my-store)", kind="config",
                             where=f"accounts[{ctx.account.id}].options.shop")
    return f"https://{shop.removesuffix('.myshopify.com')}.myshopify.com"


def _codes(body: Any) -> list[Any]:
    errors = body.get("errors") if isinstance(body, dict) else None
    return [dig(e, "extensions", "code") for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


_BY_CODE = body_codes(BODY_CODES, _codes)


def _customer_denied(response: requests.Response) -> bool:
    """An ACCESS_DENIED on the customer fields (protected customer data: "This app is not approved to access
    the Customer object"), told apart by the error's path or message."""
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return False
    for e in errors if isinstance(errors, list) else []:
        if isinstance(e, dict) and dig(e, "extensions", "code") == "ACCESS_DENIED":
            path = e.get("path") if isinstance(e.get("path"), list) else []
            if "customer" in path or "shippingAddress" in path or "customer" in str(e.get("message", "")).lower():
                return True
    return False


def classify(response: requests.Response) -> ErrorRule | None:
    """Shopify's GraphQL errors arrive with HTTP 200: THROTTLED waits, INTERNAL_SERVER_ERROR is retried like a
    5xx, ACCESS_DENIED fails; the ``requestId`` Shopify puts in the error is kept in the message (HttpClient)."""
    if response.status_code != 200:
        return None
    if (verdict := _BY_CODE(response)) is ACCESS_DENIED and _customer_denied(response):
        return CUSTOMER_DENIED
    if verdict is not None:
        return verdict
    try:
        body = response.json()
    except ValueError:
        return None  # HttpClient.json reports it
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors and body.get("data") is None:
        return GRAPHQL_ERROR
    return None  # partial data with field errors: the normalizer names what is missing


def cost_wait(body: Any, next_cost: float) -> float:
    """Seconds until the bucket holds ``next_cost`` points, from ``extensions.cost.throttleStatus``."""
    status = dig(body, "extensions", "cost", "throttleStatus")
    if not isinstance(status, dict):
        return 0.0
    try:
        available = float(status["currentlyAvailable"])
        restore = float(status["restoreRate"])
    except (KeyError, TypeError, ValueError):
        return 0.0
    if restore <= 0 or available >= next_cost:
        return 0.0
    return (next_cost - available) / restore


class Shopify:
    """One store's GraphQL endpoint with its token and cost-bucket pacing."""

    def __init__(self, ctx: SyncContext, opts: Options) -> None:
        self.ctx, self.opts = ctx, opts
        base = _base(ctx, opts)
        self.path = f"/admin/api/{opts.api_version}/graphql.json"
        self.token_url = ctx.account.token_url or f"{base}/admin/oauth/access_token"
        acc = ctx.account
        self.static = acc.credentials.get("access_token") is not None
        self.token = None if self.static else AccessToken(self._client_credentials, ctx.clock, margin_s=600)
        self.last_cost = 50.0  # the requested cost of the previous query, the best guess for the next
        self.last_data: dict[str, Any] = {}  # the whole ``data`` of the last page (``shop`` rides along)

        def auth(headers: dict[str, str]) -> None:
            secret = acc.secret("access_token").get_secret_value() if self.static else self.token.get()  # type: ignore[union-attr]
            headers["X-Shopify-Access-Token"] = secret

        self.http = HttpClient(base_url=base, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep, auth=auth,
                               token=self.token, errors=ERRORS, classify=classify, on_response=self._pace,
                               expired=EXPIRED,
                               headers={"Content-Type": "application/json", "Accept": "application/json"})

    def _client_credentials(self) -> tuple[str, datetime]:
        ctx = self.ctx
        if self.token is not None and self.token.fetches == 0 and \
                (saved := load_access(ctx, TOKEN_STATE, margin_s=600)) is not None:
            return saved  # a garbled saved token is dropped and fetched again
        acc = ctx.account
        token_http = HttpClient(base_url=self.token_url, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep,
                                session=self.http.session, errors={
                                    400: ErrorRule("fail", "config", f"Shopify refused the client id or secret of"
                                                   f" account {acc.id} (invalid_client, or shop_not_permitted: the"
                                                   " app and the store are in different organisations)"),
                                    401: ErrorRule("fail", "config", f"Shopify refused the client credentials of"
                                                   f" account {acc.id}: check client_id and client_secret")})
        body = post_token(token_http, self.token_url, {
            "grant_type": "client_credentials",
            "client_id": acc.secret("client_id").get_secret_value(),
            "client_secret": acc.secret("client_secret").get_secret_value(),
        })
        reply = token_reply(body, MARKETPLACE, ctx.now(), 86399)  # validated whole before it is saved
        save_access(ctx, TOKEN_STATE, reply.access_token, reply.expires_at)
        return reply.access_token, reply.expires_at

    def _pace(self, bucket: str | None, response: requests.Response) -> None:
        """Wait for the reported bucket: before a throttled retry, or when the next query would not fit."""
        if response.status_code != 200 or "json" not in response.headers.get("Content-Type", "json"):
            return
        try:
            body = response.json()
        except ValueError:
            return
        requested = dig(body, "extensions", "cost", "requestedQueryCost")
        if isinstance(requested, int | float) and requested > 0:
            self.last_cost = float(requested)
        wait = cost_wait(body, self.last_cost)
        if wait > 0:
            self.ctx.sleep(min(wait, self.http.max_wait))

    def query(self, query: str, variables: dict[str, Any], what: str) -> dict[str, Any]:
        body = self.http.json(self.http.request("POST", self.path, data=json.dumps(
            {"query": query, "variables": variables})), what)
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise payload_error(what, "data", "missing")
        return body["data"]

    def connection(self, query: str, root: str, variables: dict[str, Any]) -> Iterator[list[Any]]:
        """Relay paging: ``first`` + ``after`` until ``pageInfo.hasNextPage`` is false (``paginate.by_token``:
        a repeated ``endCursor`` (Shopify G6) or a repeated page is a payload error, and the page cap ends a run)."""

        def page(after: str | None) -> tuple[list[Any], str | None]:
            data = self.query(query, {**variables, "first": self.opts.page_size, "after": after}, root)
            self.last_data = data
            conn = data.get(root)
            if not isinstance(conn, dict) or not isinstance(conn.get("nodes"), list):
                raise payload_error(root, f"{root}.nodes", "missing")
            info = conn.get("pageInfo")
            if not isinstance(info, dict) or not isinstance(info.get("hasNextPage"), bool):
                raise payload_error(root, f"{root}.pageInfo.hasNextPage", "missing")
            end = info.get("endCursor")
            if info["hasNextPage"] and (not isinstance(end, str) or not end):
                raise payload_error(root, f"{root}.pageInfo.endCursor", "missing while hasNextPage is true")
            if info["hasNextPage"] and len(conn["nodes"]) < self.opts.page_size:
                raise payload_error(root, f"{root}.nodes", f"{len(conn['nodes'])} of {self.opts.page_size} on a"
                                                           " page that is not the last: nodes missing")
            return conn["nodes"], end if info["hasNextPage"] else None

        yield from (list(items) for items in by_token(page, marketplace=MARKETPLACE, where=root))

    def scopes(self) -> set[str]:
        data = self.query(SCOPES_QUERY, {}, "currentAppInstallation")
        scopes = objects(dig(data, "currentAppInstallation", "accessScopes"), "currentAppInstallation.accessScopes",
                         "currentAppInstallation")
        return {h for i, s in enumerate(scopes)
                if (h := text(s.get("handle"), f"accessScopes[{i}].handle", "currentAppInstallation"))}


def _since(ctx: SyncContext, cursor: str | None, opts: Options) -> datetime:
    if cursor:
        try:
            at = datetime.fromisoformat(cursor)
            if at.tzinfo is not None and at <= ctx.now() + timedelta(days=1):
                return at - timedelta(minutes=opts.overlap_minutes)
        except (ValueError, OverflowError):
            pass
        ctx.log.warning("%s: orders cursor %r is not a plausible time: reading the backfill window again",
                        ctx.account.id, cursor[:40])
    return ctx.now() - timedelta(days=opts.backfill_days)


def _search_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


RESCAN_STATE = "orders_rescanned_at"


def _zone(value: Any) -> bool:
    try:
        return isinstance(value, str) and 0 < len(value) < 64 and value.isprintable() and bool(ZoneInfo(value))
    except (ValueError, ZoneInfoNotFoundError):
        return False


def fetch_orders(ctx: SyncContext, cursor: str | None) -> Iterator[Batch]:
    """Orders by ``updated_at`` ascending; each page is stored with the newest ``updatedAt`` it holds as the
    cursor, so an interrupted backfill resumes there (the overlap re-reads ties)."""
    opts = _options(ctx)
    shop = Shopify(ctx, opts)
    now = ctx.now()
    since = _since(ctx, cursor, opts)
    wants_old = cursor is None and opts.backfill_days > VISIBLE_DAYS_WITHOUT_READ_ALL_ORDERS
    if wants_old and "read_all_orders" not in shop.scopes():
        ctx.log.warning("%s: the app lacks read_all_orders: Shopify shows only the last %d days of orders",
                        ctx.account.id, VISIBLE_DAYS_WITHOUT_READ_ALL_ORDERS)
    query = ORDERS_QUERY if opts.customer_facts else ORDERS_QUERY_NO_CUSTOMER
    newest = since

    def page_records(nodes: list[Any]) -> list[Record]:
        nonlocal newest
        zone = dig(shop.last_data, "shop", "ianaTimezone")  # the shop's clock, asked along with every page
        zone = zone if _zone(zone) else None
        records: list[Record] = []
        for node in nodes:
            if isinstance(node, dict) and node.get("test") is True:
                continue  # Bogus Gateway test orders are not sales
            found = normalize_order(ctx.account.id, node, opts.handling_days, site=opts.shop,
                                    buyer_key=ctx.buyer_key, timezone=zone)
            updated = found[0].updated_at  # type: ignore[union-attr]
            if updated is not None and updated > newest:
                newest = min(updated, now)
            records.extend(found)
        return records

    for nodes in shop.connection(query, "orders", {"query": f"updated_at:>='{_search_time(since)}'"}):
        records = page_records(nodes)
        yield Batch(records, newest.isoformat(), progress=len(nodes))
    # Once a day, orders created lately are read again: a delivery (a carrier event) may not move updatedAt
    last = ctx.state.get(RESCAN_STATE)
    try:
        due = last is None or now - datetime.fromisoformat(last) >= timedelta(hours=opts.rescan_every_hours)
    except (ValueError, TypeError, OverflowError):
        due = True  # a garbled value is dropped
    if opts.rescan_days and due:
        if cursor is not None:  # a backfill has just read them all
            created = _search_time(now - timedelta(days=opts.rescan_days))
            for nodes in shop.connection(query, "orders", {"query": f"created_at:>='{created}'"}):
                yield Batch(page_records(nodes), None, progress=len(nodes))
        ctx.state.put(RESCAN_STATE, now.isoformat())
    yield Batch([], now.isoformat())


def fetch_disputes(ctx: SyncContext, cursor: str | None) -> Iterator[Batch]:
    opts = _options(ctx)
    if not opts.disputes:
        return
    shop = Shopify(ctx, opts)
    now = ctx.now()
    since = now - timedelta(days=opts.dispute_days)
    for nodes in shop.connection(DISPUTES_QUERY, "disputes", {"query": f"initiated_at:>={since:%Y-%m-%d}"}):
        yield Batch([normalize_dispute(ctx.account.id, n) for n in nodes], None, progress=len(nodes))
    yield Batch([], now.isoformat())


def fetch(ctx: SyncContext, stream: str, cursor: str | None) -> Iterator[Batch]:
    if stream == "orders":
        return fetch_orders(ctx, cursor)
    if stream == "disputes":
        return fetch_disputes(ctx, cursor)
    raise ConnectorError(f"unknown stream '{stream}'", kind="config", where=MARKETPLACE)


def sandbox_account(base_url: str, account_id: str) -> dict[str, Any]:
    """A config entry for the loopback sandbox, with the seller's own targets switched on (they ship off)."""
    return {
        "id": account_id,
        "marketplace": MARKETPLACE,
        "base_url": base_url,
        "credentials": {"access_token": f"shpat_sandbox_{account_id}"},
        "options": {"shop": account_id, "handling_days": 2, "backfill_days": 90},
        # the pack holds no defaults (your own targets): the sandbox store sets two of its own
        "policy": {"shopify.ship_on_time": {"enabled": True, "threshold": 0.04, "warn": 0.03},
                   "shopify.cancellation_rate": {"enabled": True, "threshold": 0.025, "warn": 0.02}},
    }
