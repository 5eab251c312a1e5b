"""eBay REST APIs: orders (Sell Fulfillment), eBay's own standards figures (Sell Analytics), buyer messages,
feedback, and Post-Order returns and cases.

Auth: OAuth 2 user token, refreshed with ``grant_type=refresh_token`` and the scopes the streams need (Basic auth
with the app's client id and secret); eBay does not rotate the refresh token (it lasts ~18 months). The access
token (2 h) is kept in the account state. REST calls send ``Authorization: Bearer``; Post-Order sends
``Authorization: IAF <token>`` and ``X-EBAY-C-MARKETPLACE-ID``.

Streams:
- ``orders``: ``getOrders`` with ``filter=lastmodifieddate:[from..]`` only (with ``creationdate`` eBay silently
  ignores it), offset/limit 200 to the end; ``getOrder`` for orders with a cancellation (getOrders returns
  ``cancelRequests`` empty) and ``shipping_fulfillment`` for shipped ones. The cursor moves to the sync's start
  once every page is stored; the next sync reads from ``overlap_s`` before it.
- ``messages``: Commerce Message conversations (FROM_MEMBERS) with activity in the window, each read to find the
  first buyer message and the seller's first reply.
- ``feedback``: Commerce Feedback received, newest first, down to the cursor (minus a re-scan for edits).
- ``returns`` / ``cases``: Post-Order searches by creation date over a sliding window (no modified filter).
- ``standards``: ``seller_standards_profile`` and ``customer_service_metric`` once a day (100-400 calls/day).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests
from pydantic import BaseModel, ConfigDict, Field

from sellerguard.connectors.contract import Batch, SyncContext
from sellerguard.connectors.ebay_normalize import (
    bad,
    normalize_case,
    normalize_conversation,
    normalize_feedback,
    normalize_order,
    normalize_return,
    normalize_service_metric,
    normalize_standards,
    when,
)
from sellerguard.errors import ConnectorError
from sellerguard.http import AccessToken, ErrorRule, HttpClient
from sellerguard.oauth import expires_at, post_token
from sellerguard.schema import Record

MARKETPLACE = "ebay"
STREAMS = ("orders", "messages", "feedback", "returns", "cases", "standards")
API, API_SANDBOX = "https://api.ebay.com", "https://api.sandbox.ebay.com"
APIZ, APIZ_SANDBOX = "https://apiz.ebay.com", "https://apiz.sandbox.ebay.com"
TOKEN_PATH = "/identity/v1/oauth2/token"
ORDERS = "/sell/fulfillment/v1/order"
STANDARDS = "/sell/analytics/v1/seller_standards_profile"
SERVICE_METRIC = "/sell/analytics/v1/customer_service_metric"
CONVERSATIONS = "/commerce/message/v1/conversation"
FEEDBACK = "/commerce/feedback/v1/feedback"
IDENTITY = "/commerce/identity/v1/user/"
RETURNS = "/post-order/v2/return/search"
CASES = "/post-order/v2/casemanagement/search"
SCOPE = "https://api.ebay.com/oauth/api_scope/"
SCOPES = [f"{SCOPE}sell.fulfillment.readonly", f"{SCOPE}sell.analytics.readonly",
          f"{SCOPE}commerce.feedback.readonly", f"{SCOPE}commerce.message", f"{SCOPE}commerce.identity.readonly"]
PAGE = 200


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    marketplace_id: str = "EBAY_US"  # X-EBAY-C-MARKETPLACE-ID and evaluation_marketplace_id
    scopes: list[str] = Field(default_factory=lambda: list(SCOPES))  # a subset of what the seller consented to
    backfill_days: int = Field(default=90, ge=1, le=730)  # getOrders reaches 2 years back
    overlap_s: int = Field(default=900, ge=0)  # getOrders' index lags: re-read the last 15 minutes
    message_rescan_days: int = Field(default=3, ge=0, le=30)  # replies arrive after the first message
    feedback_rescan_days: int = Field(default=14, ge=0, le=90)
    claim_rescan_days: int = Field(default=60, ge=1, le=540)  # Post-Order: no modified filter, cases stay open
    standards_every_hours: float = Field(default=24, gt=0)  # Analytics: 100 calls/day per app
    rate_per_second: float | None = Field(default=None, gt=0)  # eBay's limits are daily quotas, not per second


ERRORS: dict[int | str, ErrorRule] = {
    400: ErrorRule("fail", "payload", "eBay rejected the request as malformed"),
    401: ErrorRule("refresh", "config", "eBay rejected the access token: re-authorize the app (OAuth consent)"),
    403: ErrorRule("fail", "config", "eBay refused access: the token lacks a scope for this call (see"
                                     " docs/connectors/ebay.md) or the seller is not registered for it"),
    404: ErrorRule("fail", "config", "eBay does not know this resource: check options.marketplace_id"),
    429: ErrorRule("retry", "wait", "eBay call limit reached (daily quota per app)"),
}


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def hosts(ctx: SyncContext) -> tuple[str, str]:
    acc = ctx.account
    if acc.base_url:
        return acc.base_url, acc.base_url
    return (API_SANDBOX, APIZ_SANDBOX) if acc.sandbox else (API, APIZ)


def _classify(response: requests.Response) -> ErrorRule | None:
    """eBay's 429 body says which quota ran out; a 403 with errorId 1100 is a missing scope, not an outage."""
    if response.status_code == 429:
        return ErrorRule("retry", "wait", "eBay call limit reached (daily quota per app; resets at midnight"
                                          " US Pacific)")
    return None


def client(ctx: SyncContext) -> tuple[HttpClient, HttpClient]:
    """(REST client for api/apiz hosts, Post-Order client with the IAF header)."""
    acc = ctx.account
    options: Options = ctx.options or Options()
    api, _ = hosts(ctx)
    http = HttpClient(base_url=api, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep, errors=ERRORS,
                      classify=_classify)
    token_url = acc.token_url or api.rstrip("/") + TOKEN_PATH

    def fetch_token() -> tuple[str, datetime]:
        saved = ctx.state.get("access_token") if token.fetches == 0 else None
        if saved and ":" in saved and saved.split(":", 1)[0].isdigit():
            until, value = saved.split(":", 1)
            expires = datetime.fromtimestamp(int(until), UTC)
            if (expires - ctx.now()).total_seconds() > 300:
                return value, expires
        basic = base64.b64encode(f"{acc.secret('client_id').get_secret_value()}:"
                                 f"{acc.secret('client_secret').get_secret_value()}".encode()).decode()
        form = {"grant_type": "refresh_token", "refresh_token": acc.secret("refresh_token").get_secret_value(),
                "scope": " ".join(options.scopes)}
        payload = post_token(http, token_url, form, headers={"Authorization": f"Basic {basic}"})
        fresh, expires = str(payload["access_token"]), expires_at(ctx.now(), payload.get("expires_in"), 7200)
        ctx.state.put("access_token", f"{int(expires.timestamp())}:{fresh}")
        return fresh, expires

    token = AccessToken(fetch_token, ctx.clock, margin_s=300)
    http.token = token
    http.auth = lambda headers: headers.update({"Authorization": f"Bearer {token.get()}"})
    if options.rate_per_second:
        http.limit("api", options.rate_per_second, options.rate_per_second)
    post_order = HttpClient(base_url=api, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep, errors=ERRORS,
                            classify=_classify, token=token, session=http.session,
                            headers={"X-EBAY-C-MARKETPLACE-ID": options.marketplace_id,
                                     "Content-Type": "application/json"})
    post_order.auth = lambda headers: headers.update({"Authorization": f"IAF {token.get()}"})
    post_order.limits = http.limits
    return http, post_order


def seller(ctx: SyncContext, http: HttpClient) -> str:
    """The seller's username (messages and feedback are matched on it), from the Identity API once."""
    if known := ctx.state.get("username"):
        return known
    _, apiz = hosts(ctx)
    body = http.get_json(apiz.rstrip("/") + IDENTITY, bucket="api")
    name = body.get("username") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name:
        raise bad(f"GET {IDENTITY}", "username", "missing")
    ctx.state.put("username", name)
    return name


def _since(cursor: str | None, now: datetime, backfill_days: int, back_s: float) -> datetime:
    if cursor:
        return when(cursor, "cursor", "cursor") - timedelta(seconds=back_s)  # type: ignore[operator]
    return now - timedelta(days=backfill_days)


# -- orders ------------------------------------------------------------------------------------------------


def fetch_orders(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    options: Options = ctx.options or Options()
    now = ctx.now()
    since = _since(cursor, now, options.backfill_days, options.overlap_s)
    # lastmodifieddate only: with creationdate in the same filter eBay silently drops it
    params = {"filter": f"lastmodifieddate:[{iso(since)}..]", "limit": PAGE}
    offset = 0
    while True:
        where = f"GET {ORDERS}"
        body = http.get_json(ORDERS, params={**params, "offset": offset}, bucket="api")
        if not isinstance(body, dict) or not isinstance(body.get("orders", []), list):
            raise bad(where, "orders", "not a list")
        orders = body.get("orders") or []
        total = body.get("total") if isinstance(body.get("total"), int) else None
        records: list[Record] = []
        for i, order in enumerate(orders):
            records += _order_records(ctx, http, order, where, f"orders[{offset + i}]")
        offset += len(orders)
        last = len(orders) < PAGE or (total is not None and offset >= total)
        yield Batch(records, cursor=iso(now) if last else None, progress=1,
                    total=math.ceil(total / PAGE) if total else None)
        if last:
            return


def _order_records(ctx: SyncContext, http: HttpClient, order: Any, where: str, field: str) -> list[Record]:
    if not isinstance(order, dict) or not isinstance(order.get("orderId"), str):
        raise bad(where, f"{field}.orderId", "missing")
    oid = quote(order["orderId"], safe="")
    state = (order.get("cancelStatus") or {}).get("cancelState") if isinstance(order.get("cancelStatus"), dict) \
        else None
    if state not in (None, "NONE_REQUESTED"):
        order = http.get_json(f"{ORDERS}/{oid}", bucket="api")  # cancel requests are only here
        where, field = f"GET {ORDERS}/{{orderId}}", "order"
    fulfillments: list[dict[str, Any]] = []
    if isinstance(order, dict) and order.get("orderFulfillmentStatus") in ("IN_PROGRESS", "FULFILLED"):
        path = f"{ORDERS}/{oid}/shipping_fulfillment"
        body = http.get_json(path, bucket="api")
        if not isinstance(body, dict) or not isinstance(body.get("fulfillments", []), list):
            raise bad(f"GET {ORDERS}/{{orderId}}/shipping_fulfillment", "fulfillments", "not a list")
        fulfillments = body.get("fulfillments") or []
    return normalize_order(ctx.account.id, order, fulfillments, where, field)


# -- messages, feedback ------------------------------------------------------------------------------------


def _offset_pages(http: HttpClient, path: str, params: dict[str, Any], key: str, limit: int,
                  total_key: str = "total") -> Iterator[tuple[list[Any], int]]:
    offset = 0
    while True:
        body = http.get_json(path, params={**params, "limit": limit, "offset": offset}, bucket="api")
        if not isinstance(body, dict) or not isinstance(body.get(key, []), list):
            raise bad(f"GET {path}", key, "not a list")
        items = body.get(key) or []
        yield items, offset
        offset += len(items)
        total = body.get(total_key)
        if isinstance(body.get("pagination"), dict):
            total = body["pagination"].get("total")
        if len(items) < limit or (isinstance(total, int) and offset >= total):
            return


def fetch_messages(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    options: Options = ctx.options or Options()
    now = ctx.now()
    since = _since(cursor, now, options.backfill_days, options.message_rescan_days * 86400)
    me = seller(ctx, http)
    params = {"conversation_type": "FROM_MEMBERS", "start_time": iso(since), "end_time": iso(now)}
    pages = list(_offset_pages(http, CONVERSATIONS, params, "conversations", 50))
    for n, (conversations, offset) in enumerate(pages):
        records: list[Record] = []
        for i, conv in enumerate(conversations):
            cid = conv.get("conversationId") if isinstance(conv, dict) else None
            if not cid:
                raise bad(f"GET {CONVERSATIONS}", f"conversations[{offset + i}].conversationId", "missing")
            path = f"{CONVERSATIONS}/{quote(str(cid), safe='')}"
            messages: list[Any] = []
            for items, _ in _offset_pages(http, path, {"conversation_type": "FROM_MEMBERS"}, "messages", 50):
                messages += items
            msg = normalize_conversation(ctx.account.id, conv, messages, me, f"GET {CONVERSATIONS}/{{id}}",
                                         f"conversations[{offset + i}]")
            if msg is not None:
                records.append(msg)
        yield Batch(records, cursor=iso(now) if n == len(pages) - 1 else None, progress=1, total=len(pages))


def fetch_feedback(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    options: Options = ctx.options or Options()
    now = ctx.now()
    since = _since(cursor, now, options.backfill_days, options.feedback_rescan_days * 86400)
    params = {"user_id": seller(ctx, http), "feedback_type": "FEEDBACK_RECEIVED", "sort": "TIME"}
    for entries, offset in _offset_pages(http, FEEDBACK, params, "feedbackEntries", PAGE):
        ratings = [normalize_feedback(ctx.account.id, e, f"GET {FEEDBACK}", f"feedbackEntries[{offset + i}]")
                   for i, e in enumerate(entries)]
        kept = [r for r in ratings if r.rated_at >= since]
        older = len(kept) < len(ratings)  # newest first: the rest is already stored
        yield Batch(list(kept), cursor=None, progress=1)
        if older:
            break
    yield Batch([], cursor=iso(now))


# -- Post-Order ---------------------------------------------------------------------------------------------


def _post_order_pages(http: HttpClient, path: str, params: dict[str, Any]) -> Iterator[list[Any]]:
    """Post-Order pages: ``offset`` is the page number (from 1), ``paginationOutput.totalPages`` ends it."""
    page = 1
    while True:
        body = http.get_json(path, params={**params, "limit": PAGE, "offset": page}, bucket="api")
        if not isinstance(body, dict) or not isinstance(body.get("members", []), list):
            raise bad(f"GET {path}", "members", "not a list")
        members = body.get("members") or []
        yield members
        pages = (body.get("paginationOutput") or {}).get("totalPages") if isinstance(
            body.get("paginationOutput"), dict) else None
        if not members or not isinstance(pages, int) or page >= pages:
            return
        page += 1


def _window_stream(ctx: SyncContext, post_order: HttpClient, cursor: str | None, path: str, prefix: str,
                   normalize: Any) -> Iterator[Batch]:
    options: Options = ctx.options or Options()
    now = ctx.now()
    since = now - timedelta(days=options.backfill_days if not cursor else options.claim_rescan_days)
    params = {f"{prefix}creation_date_range_from": iso(since), f"{prefix}creation_date_range_to": iso(now)}
    n = 0
    for members in _post_order_pages(post_order, path, params):
        yield Batch([normalize(ctx.account.id, m, f"GET {path}", f"members[{n + i}]") for i, m in enumerate(members)],
                    cursor=None, progress=1)
        n += len(members)
    yield Batch([], cursor=iso(now))


# -- standards ---------------------------------------------------------------------------------------------


def fetch_standards(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    options: Options = ctx.options or Options()
    now = ctx.now()
    if cursor and now - when(cursor, "cursor", "cursor") < timedelta(hours=options.standards_every_hours):  # type: ignore[operator]
        return
    records: list[Record] = list(normalize_standards(ctx.account.id, http.get_json(STANDARDS, bucket="api"), now,
                                                     f"GET {STANDARDS}"))
    for kind in ("ITEM_NOT_AS_DESCRIBED", "ITEM_NOT_RECEIVED"):
        path = f"{SERVICE_METRIC}/{kind}/CURRENT"
        try:
            body = http.get_json(path, params={"evaluation_marketplace_id": options.marketplace_id}, bucket="api")
        except ConnectorError as exc:
            if exc.status == 404:  # no peer benchmark for this seller yet: not reported
                continue
            raise
        records += normalize_service_metric(ctx.account.id, kind, body, now, f"GET {path}")
    yield Batch(records, cursor=iso(now), progress=1)


def fetch(ctx: SyncContext, stream: str, cursor: str | None) -> Iterator[Batch]:
    http, post_order = client(ctx)
    if stream == "orders":
        yield from fetch_orders(ctx, http, cursor)
    elif stream == "messages":
        yield from fetch_messages(ctx, http, cursor)
    elif stream == "feedback":
        yield from fetch_feedback(ctx, http, cursor)
    elif stream == "returns":
        yield from _window_stream(ctx, post_order, cursor, RETURNS, "", normalize_return)
    elif stream == "cases":
        yield from _window_stream(ctx, post_order, cursor, CASES, "case_", normalize_case)
    elif stream == "standards":
        yield from fetch_standards(ctx, http, cursor)
    else:
        raise ConnectorError(f"unknown stream '{stream}' (known: {', '.join(STREAMS)})", kind="config",
                             where="ebay")


def sandbox_account(base_url: str, account_id: str) -> dict[str, Any]:
    """A config entry for the loopback sandbox (these credentials open nothing else)."""
    return {
        "id": account_id,
        "marketplace": MARKETPLACE,
        "base_url": base_url,
        "credentials": {"client_id": "SandboxApp-sellergu-SBX-0000", "client_secret": "SBX-secret",
                        "refresh_token": f"v^1.1#sbx-{account_id}"},
    }
