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

import requests
from pydantic import BaseModel, ConfigDict, Field

from sellerguard.connectors.contract import Batch, SyncContext
from sellerguard.connectors.shopify_normalize import (
    DISPUTES_QUERY,
    ORDERS_QUERY,
    SCOPES_QUERY,
    normalize_dispute,
    normalize_order,
    payload_error,
)
from sellerguard.errors import ConnectorError
from sellerguard.http import AccessToken, ErrorRule, HttpClient
from sellerguard.oauth import expires_at, post_token
from sellerguard.paginate import by_token, dig
from sellerguard.schema import Record

MARKETPLACE = "shopify"
STREAMS = ("orders", "disputes")
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
ACCESS_DENIED = ErrorRule("fail", "config", "access denied: the app lacks a scope this query needs (read_orders,"
                                            " read_returns, read_shopify_payments_disputes)")
TOO_COSTLY = ErrorRule("fail", "config",
                       "the query costs more than Shopify's 1,000-point limit: lower options.page_size")
GRAPHQL_ERROR = ErrorRule("fail", "payload", "Shopify refused the GraphQL query")


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    shop: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*(\.myshopify\.com)?$")  # "my-store"
    api_version: str = Field(default=API_VERSION, pattern=r"^\d{4}-(01|04|07|10)$")
    backfill_days: int = Field(default=VISIBLE_DAYS_WITHOUT_READ_ALL_ORDERS, ge=1, le=3650)
    overlap_minutes: int = Field(default=10, ge=0)  # Shopify's search index lags the write a little
    page_size: int = Field(default=20, ge=1, le=250)  # 20 orders: a requested cost near 860 of 1,000
    handling_days: int | None = Field(default=None, ge=0, le=30)  # your promise: ship-by when Shopify has none
    disputes: bool = True  # Shopify Payments disputes (needs read_shopify_payments_disputes)
    dispute_days: int = Field(default=120, ge=1)  # re-read disputes this far back: their status changes later


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


def classify(response: requests.Response) -> ErrorRule | None:
    """Shopify's GraphQL errors arrive with HTTP 200: THROTTLED, ACCESS_DENIED, query errors."""
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None  # HttpClient.json reports it
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return None
    codes = {dig(e, "extensions", "code") for e in errors if isinstance(e, dict)}
    if "THROTTLED" in codes:
        return THROTTLED
    if "ACCESS_DENIED" in codes:
        return ACCESS_DENIED
    if "MAX_COST_EXCEEDED" in codes:
        return TOO_COSTLY
    if body.get("data") is None:
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

        def auth(headers: dict[str, str]) -> None:
            secret = acc.secret("access_token").get_secret_value() if self.static else self.token.get()  # type: ignore[union-attr]
            headers["X-Shopify-Access-Token"] = secret

        self.http = HttpClient(base_url=base, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep, auth=auth,
                               token=self.token, errors=ERRORS, classify=classify, on_response=self._pace,
                               headers={"Content-Type": "application/json", "Accept": "application/json"})

    def _client_credentials(self) -> tuple[str, datetime]:
        ctx = self.ctx
        saved = ctx.state.get(TOKEN_STATE)
        if self.token is not None and self.token.fetches == 0 and saved and " " in saved:
            when, value = saved.split(" ", 1)
            expiry = datetime.fromisoformat(when)
            if (expiry - ctx.now()).total_seconds() > 600:
                return value, expiry
        body = post_token(self.http, self.token_url, {
            "grant_type": "client_credentials",
            "client_id": ctx.account.secret("client_id").get_secret_value(),
            "client_secret": ctx.account.secret("client_secret").get_secret_value(),
        })
        value, expiry = str(body["access_token"]), expires_at(ctx.now(), body.get("expires_in"), default_s=86399)
        ctx.state.put(TOKEN_STATE, f"{expiry.isoformat()} {value}")
        return value, expiry

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
        """Relay paging: ``first`` + ``after`` until ``pageInfo.hasNextPage`` is false."""

        def page(after: str | None) -> tuple[list[Any], str | None]:
            data = self.query(query, {**variables, "first": self.opts.page_size, "after": after}, root)
            conn = data.get(root)
            if not isinstance(conn, dict) or not isinstance(conn.get("nodes"), list):
                raise payload_error(root, f"{root}.nodes", "missing")
            info = conn.get("pageInfo") or {}
            more = info.get("hasNextPage")
            if more and not info.get("endCursor"):
                raise payload_error(root, f"{root}.pageInfo.endCursor", "missing while hasNextPage is true")
            return conn["nodes"], info["endCursor"] if more else None

        try:
            yield from by_token(page)
        except RuntimeError as exc:  # the same endCursor twice (Shopify G6): stop with a clear line
            raise payload_error(root, f"{root}.pageInfo.endCursor", str(exc)) from None

    def scopes(self) -> set[str]:
        data = self.query(SCOPES_QUERY, {}, "currentAppInstallation")
        return {s.get("handle") for s in dig(data, "currentAppInstallation", "accessScopes", default=[])}


def _since(ctx: SyncContext, cursor: str | None, opts: Options) -> datetime:
    if cursor:
        try:
            return datetime.fromisoformat(cursor) - timedelta(minutes=opts.overlap_minutes)
        except ValueError:
            raise ConnectorError(f"stored cursor {cursor[:40]!r} is not a time; reset it with a full re-sync",
                                 kind="config", where=f"{MARKETPLACE}: {ctx.account.id}") from None
    return ctx.now() - timedelta(days=opts.backfill_days)


def _search_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def fetch_orders(ctx: SyncContext, cursor: str | None) -> Iterator[Batch]:
    opts = _options(ctx)
    shop = Shopify(ctx, opts)
    now = ctx.now()
    since = _since(ctx, cursor, opts)
    wants_old = cursor is None and opts.backfill_days > VISIBLE_DAYS_WITHOUT_READ_ALL_ORDERS
    if wants_old and "read_all_orders" not in shop.scopes():
        ctx.log.warning("%s: the app lacks read_all_orders: Shopify shows only the last %d days of orders",
                        ctx.account.id, VISIBLE_DAYS_WITHOUT_READ_ALL_ORDERS)
    search = f"updated_at:>='{_search_time(since)}'"
    for nodes in shop.connection(ORDERS_QUERY, "orders", {"query": search}):
        records: list[Record] = []
        for node in nodes:
            if isinstance(node, dict) and node.get("test"):
                continue  # Bogus Gateway test orders are not sales
            records.extend(normalize_order(ctx.account.id, node, opts.handling_days, site=opts.shop))
        yield Batch(records, None, progress=len(nodes))
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
        "policy": {"shopify.ship_on_time": {"enabled": True}, "shopify.cancellation_rate": {"enabled": True}},
    }
