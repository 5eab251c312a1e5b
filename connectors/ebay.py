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
- ``standards``: ``seller_standards_profile`` and ``customer_service_metric`` once a day (100-400 calls/day);
  the seller level now and projected for the next evaluation on the 20th (``ebay_levels``).
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field

from sellerguard.config import AccountConfig
from sellerguard.connectors import ebay_levels as levels
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
from sellerguard.http import AccessToken, ErrorRule, ExpiredShape, HttpClient
from sellerguard.oauth import load_access, load_state, post_token, save_access, token_reply
from sellerguard.paginate import walk
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

    marketplace_id: str | None = None  # X-EBAY-C-MARKETPLACE-ID and evaluation_marketplace_id; default: region
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
    404: ErrorRule("fail", "config", "eBay does not know this resource (HTTP 404)"),
    429: ErrorRule("retry", "wait", "eBay call limit reached (daily quota per app)"),
}


# eBay's "access token expired/revoked": 401 errorId 1001 "Invalid access token" (the default shapes catch the
# text too); Post-Order answers the same with its own body
EXPIRED = (ExpiredShape(status=401, code=1001), ExpiredShape(status=401, text="invalid access token"),
           ExpiredShape(status=401, text="token is expired"))


def token_errors(account: str) -> dict[int | str, ErrorRule]:
    """The token endpoint's refusals, naming the account to re-authorize."""
    return {
        400: ErrorRule("fail", "config", f"eBay refused the refresh token of account {account} (invalid_grant:"
                                         " expired after about 18 months, or revoked by the seller): re-authorize"
                                         " it with the OAuth consent flow (docs/connectors/ebay.md, Set-up)"),
        401: ErrorRule("fail", "config", f"eBay refused the app's client id or secret (account {account}):"
                                         " check credentials client_id and client_secret"),
    }


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def hosts(ctx: SyncContext) -> tuple[str, str]:
    acc = ctx.account
    if acc.base_url:
        return acc.base_url, acc.base_url
    return (API_SANDBOX, APIZ_SANDBOX) if acc.sandbox else (API, APIZ)


# API path -> (API name, the OAuth scope its calls need): a 403, or a 404 on a call that cannot be "not found"
# for any other reason, means the seller's consent lacks this scope (eBay answers Identity with 404 then)
API_SCOPES = (
    ("/commerce/identity/", "the Identity API", "commerce.identity.readonly"),
    ("/commerce/message/", "the Message API", "commerce.message"),
    ("/commerce/feedback/", "the Feedback API", "commerce.feedback.readonly"),
    ("/sell/analytics/", "the Analytics API", "sell.analytics.readonly"),
    ("/sell/fulfillment/", "the Fulfillment API", "sell.fulfillment.readonly"),
    ("/post-order/", "the Post-Order API", "sell.fulfillment.readonly"),
)
# 404s that are a real "no such thing", not a missing scope: one order, one conversation, a metric eBay has
# no benchmark for yet (handled by the caller)
_REAL_404 = re.compile(r"/order/[^/]+$|/conversation/[^/]+$|/customer_service_metric/")


def scope_for(url: str) -> tuple[str, str] | None:
    path = urlsplit(url).path
    for prefix, api, scope in API_SCOPES:
        if prefix in path:
            return api, scope
    return None


def _classify(response: requests.Response) -> ErrorRule | None:
    """eBay's 429 says which quota ran out; a 403 (or a 404 from an API-level path) is a missing scope."""
    if response.status_code == 429:
        return ErrorRule("retry", "wait", "eBay call limit reached (daily quota per app; resets at midnight"
                                          " US Pacific)")
    if response.status_code in (403, 404) and (found := scope_for(response.url or "")):
        if response.status_code == 404 and _REAL_404.search(urlsplit(response.url).path):
            return None
        api, scope = found
        return ErrorRule("fail", "config", f"eBay refused {api}: the seller's consent"
                                           f" lacks the scope {SCOPE}{scope}; re-consent with it, or leave it out"
                                           " of options.scopes (this stream then fails alone)")
    return None


def marketplace_id(acc: AccountConfig, options: Options) -> str:
    """The eBay site the seller is evaluated on: ``options.marketplace_id``, else the account's ``region``
    (EBAY_GB, EBAY_DE...; an unknown one is refused naming it), else EBAY_US. A UK seller is never read as US."""
    if options.marketplace_id:
        return options.marketplace_id
    from sellerguard.consent import EBAY_SITES, check_region

    return EBAY_SITES[check_region(acc)][0] if acc.region else "EBAY_US"


def client(ctx: SyncContext) -> tuple[HttpClient, HttpClient]:
    """(REST client for api/apiz hosts, Post-Order client with the IAF header)."""
    acc = ctx.account
    options: Options = ctx.options or Options()
    api, _ = hosts(ctx)
    http = HttpClient(base_url=api, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep, errors=ERRORS,
                      classify=_classify, expired=EXPIRED)
    token_url = acc.token_url or api.rstrip("/") + TOKEN_PATH

    # the token endpoint's own refusals (eBay's 400 on a REST call means a malformed request, not this)
    token_http = HttpClient(base_url=token_url, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep,
                            session=http.session, errors=token_errors(acc.id))

    def fetch_token() -> tuple[str, datetime]:
        # a stored token is tried first, never after eBay refused one (a garbled stored value is dropped)
        if token.fetches == 0 and (saved := load_access(ctx, "access_token", margin_s=300)) is not None:
            return saved
        basic = base64.b64encode(f"{acc.secret('client_id').get_secret_value()}:"
                                 f"{acc.secret('client_secret').get_secret_value()}".encode()).decode()
        form = {"grant_type": "refresh_token", "refresh_token": acc.secret("refresh_token").get_secret_value(),
                "scope": " ".join(options.scopes)}
        payload = post_token(token_http, token_url, form, headers={"Authorization": f"Basic {basic}"})
        reply = token_reply(payload, MARKETPLACE, ctx.now(), 7200)  # validated whole before anything is saved
        save_access(ctx, "access_token", reply.access_token, reply.expires_at)
        return reply.access_token, reply.expires_at

    token = AccessToken(fetch_token, ctx.clock, margin_s=300)
    http.token = token
    http.auth = lambda headers: headers.update({"Authorization": f"Bearer {token.get()}"})
    if options.rate_per_second:
        http.limit("api", options.rate_per_second, options.rate_per_second)
    post_order = HttpClient(base_url=api, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep, errors=ERRORS,
                            classify=_classify, token=token, session=http.session, expired=EXPIRED,
                            headers={"X-EBAY-C-MARKETPLACE-ID": marketplace_id(ctx.account, options),
                                     "Content-Type": "application/json"})
    post_order.auth = lambda headers: headers.update({"Authorization": f"IAF {token.get()}"})
    post_order.limits = http.limits
    return http, post_order


_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._*-]{0,63}\Z")  # eBay user ids: letters, digits, . _ - *


def seller(ctx: SyncContext, http: HttpClient) -> str:
    """The seller's username (messages and feedback are matched on it), from the Identity API once."""
    if known := load_state(ctx, "username", lambda v: bool(_USERNAME.match(v))):
        return known
    _, apiz = hosts(ctx)
    body = http.get_json(apiz.rstrip("/") + IDENTITY, bucket="api")
    name = body.get("username") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name:
        raise bad(f"GET {IDENTITY}", "username", "missing")
    if not _USERNAME.match(name):
        raise bad(f"GET {IDENTITY}", "username", f"not a username: {name[:40]!r}")
    ctx.state.put("username", name)
    return name


def _since(cursor: str | None, now: datetime, backfill_days: int, back_s: float) -> datetime:
    if cursor:
        return when(cursor, "cursor", "cursor") - timedelta(seconds=back_s)  # type: ignore[operator]
    return now - timedelta(days=backfill_days)


MAX_PAGES = 2000  # per list per run: 400,000 orders at 200 a page; a marketplace bug cannot loop forever
MESSAGE_PAGES = 200  # 10,000 conversations with activity in one window
THREAD_PAGES = 20  # 1,000 messages in one conversation


def offset_pages(page: Any, limit: int, *, start: int = 0, where: str,
                 max_pages: int = MAX_PAGES) -> Iterator[tuple[list[Any], int | None, bool]]:
    """Offset paging to the end over the shared guarded loop (``paginate.walk``): (items, total, last page?).

    Ends on a short or empty page or when ``total`` is reached; the same page twice (full pages, no total: a
    marketplace that ignores ``offset``) is a payload error and after ``max_pages`` pages the run stops (kind
    "wait", saying where): callers write their cursor per page where they can resume.
    """
    totals: dict[str, int | None] = {}

    def fetch(offset: int | None) -> tuple[list[Any], int | None]:
        at = offset or 0
        items, total = page(at, limit)
        totals["total"] = total
        nxt = at + len(items)
        if not items or len(items) < limit or (total is not None and nxt >= total):
            return items, None
        return items, nxt

    for p in walk(fetch, start, marketplace=MARKETPLACE, where=where, max_pages=max_pages):
        yield list(p.items), totals.get("total"), p.next is None


# -- orders ------------------------------------------------------------------------------------------------

RECENT_STATE = "orders_recent"  # {orderId: lastModifiedDate} of orders read inside the overlap window


def _recent(ctx: SyncContext) -> dict[str, str]:
    """Orders already read at their current ``lastModifiedDate`` (a garbled value is dropped, not trusted)."""
    raw = ctx.state.get(RECENT_STATE)
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        ctx.log.warning("%s: dropped an unreadable %s state value", ctx.account.id, RECENT_STATE)
        return {}
    return data


def _backfill_cursor(cursor: str | None) -> dict[str, Any] | None:
    """A resumable backfill's cursor: {"from": iso, "to": iso, "offset": n}; None for a time cursor."""
    if not cursor or not cursor.startswith("{"):
        return None
    try:
        data = json.loads(cursor)
        when(data["from"], "cursor", "cursor.from")
        when(data["to"], "cursor", "cursor.to")
        if not isinstance(data["offset"], int) or data["offset"] < 0:
            raise ValueError
    except (ValueError, KeyError, TypeError, ConnectorError):
        raise ConnectorError(f"stored orders cursor {cursor[:60]!r} is unreadable; reset it with a full re-sync",
                             kind="config", where="ebay: orders cursor") from None
    return data


def fetch_orders(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    """Backfill by creation date (stable set: resumable per page), then incremental by lastModifiedDate.

    A backfill's cursor is written after every page (``{"from", "to", "offset"}``), so an interrupted backfill
    resumes at its page. Incremental reads skip the orders read before at the same ``lastModifiedDate`` (the
    overlap re-reads them): no getOrder and no shipping_fulfillment call for an unchanged order.
    """
    options: Options = ctx.options or Options()
    now = ctx.now()
    recent, seen = _recent(ctx), {}
    keep_from = now - timedelta(seconds=options.overlap_s)
    backfill = _backfill_cursor(cursor)
    if cursor is None:
        backfill = {"from": iso(now - timedelta(days=options.backfill_days)), "to": iso(now), "offset": 0}
    if backfill is not None:
        crit = f"creationdate:[{backfill['from']}..{backfill['to']}]"
        for orders, offset, last, pages in _order_pages(http, crit, backfill["offset"]):
            records = _page_records(ctx, http, orders, offset, {}, seen, keep_from)
            resume = backfill["to"] if last else json.dumps({**backfill, "offset": offset + len(orders)})
            yield Batch(records, cursor=resume, progress=1, total=pages)
        since = when(backfill["to"], "cursor", "cursor.to") - timedelta(seconds=options.overlap_s)  # type: ignore[operator]
    else:
        since = _since(cursor, now, options.backfill_days, options.overlap_s)
    # lastmodifieddate only: with creationdate in the same filter eBay silently drops it
    for orders, offset, last, pages in _order_pages(http, f"lastmodifieddate:[{iso(since)}..]", 0):
        records = _page_records(ctx, http, orders, offset, {**recent, **seen}, seen, keep_from)
        yield Batch(records, cursor=iso(now) if last else None, progress=1, total=pages)
    ctx.state.put(RECENT_STATE, json.dumps(seen, separators=(",", ":")))


def _order_pages(http: HttpClient, crit: str, start: int) -> Iterator[tuple[list[Any], int, bool, int | None]]:
    """getOrders pages from ``start``: (orders, offset, last page?, total pages when known)."""
    where = f"GET {ORDERS}"

    def page(offset: int, limit: int) -> tuple[list[Any], int | None]:
        body = http.get_json(ORDERS, params={"filter": crit, "limit": limit, "offset": offset}, bucket="api")
        if not isinstance(body, dict) or ("orders" not in body and not isinstance(body.get("total"), int)):
            raise bad(where, "orders", "missing (the page has neither orders nor a total)")
        orders = _objects(body.get("orders"), where, "orders")
        total = body.get("total")
        if total is not None and (not isinstance(total, int) or isinstance(total, bool) or total < 0):
            raise bad(where, "total", f"not a count: {str(total)[:40]!r}")
        _check_total(orders, limit, offset, total, where, "orders")
        return orders, total

    offset = start
    for orders, total, last in offset_pages(page, PAGE, start=start, where=where):
        pages = math.ceil(total / PAGE) if total else None
        yield orders, offset, last, pages
        offset += len(orders)


DETAIL_WORKERS = 4  # eBay's limits are daily quotas, not per second: a few detail calls at once per page


def _page_records(ctx: SyncContext, http: HttpClient, orders: list[Any], offset: int, recent: dict[str, str],
                  seen: dict[str, str], keep_from: datetime) -> list[Record]:
    """One page's records. An order is read further (getOrder, shipping_fulfillment) only when it changed:
    not at the ``lastModifiedDate`` read before in the overlap (``recent``), nor at the ``updated_at`` already
    stored (a resumed or repeated backfill). Unchanged orders give no record (the store has them)."""
    where = f"GET {ORDERS}"
    listed: list[tuple[dict[str, Any], str, str | None, datetime | None]] = []
    for i, order in enumerate(orders):
        field = f"orders[{offset + i}]"
        oid, modified = order.get("orderId"), order.get("lastModifiedDate")
        if not isinstance(oid, str) or not oid:
            raise bad(where, f"{field}.orderId", "missing")
        at = when(modified, where, f"{field}.lastModifiedDate") if isinstance(modified, str) else None
        listed.append((order, field, modified if isinstance(modified, str) else None, at))
        if at is not None and at >= keep_from:
            seen[oid] = modified  # type: ignore[assignment]
    fresh = [(o, f, m, at) for o, f, m, at in listed if m is None or recent.get(o["orderId"]) != m]
    stored = ctx.stored_updates("order", [o["orderId"] for o, _, m, _ in fresh if m is not None])
    changed = [(o, f) for o, f, _, at in fresh if at is None or stored.get(o["orderId"]) != at]
    return _order_records(ctx, http, changed, where)


def _order_records(ctx: SyncContext, http: HttpClient, changed: list[tuple[dict[str, Any], str]],
                   where: str) -> list[Record]:
    """The changed orders of a page: getOrder for those with a cancellation (cancel requests are only there),
    then shipping fulfillments only for those whose ``fulfillmentHrefs`` lists some; both kinds of calls run
    ``DETAIL_WORKERS`` at a time over the keep-alive session, results kept in page order."""
    def cancelled(order: dict[str, Any]) -> bool:
        state = order["cancelStatus"].get("cancelState") if isinstance(order.get("cancelStatus"), dict) else None
        return state not in (None, "NONE_REQUESTED")

    detail_where, detail_field = f"GET {ORDERS}/{{orderId}}", "order"
    wanted = [i for i, (order, _) in enumerate(changed) if cancelled(order)]
    details = http.get_each([f"{ORDERS}/{quote(changed[i][0]['orderId'], safe='')}" for i in wanted],
                            bucket="api", workers=DETAIL_WORKERS)
    orders = [(order, where, field) for order, field in changed]
    for i, detail in zip(wanted, details, strict=True):
        if not isinstance(detail, dict):
            raise bad(detail_where, detail_field, "expected an order object")
        orders[i] = (detail, detail_where, detail_field)
    hrefs_of: list[list[str]] = []
    for order, owhere, field in orders:
        hrefs = order.get("fulfillmentHrefs")
        if hrefs is not None and (not isinstance(hrefs, list) or not all(isinstance(h, str) for h in hrefs)):
            raise bad(owhere, f"{field}.fulfillmentHrefs", "expected a list of URLs")
        hrefs_of.append(hrefs or [])
    shipped = [i for i, hrefs in enumerate(hrefs_of) if hrefs]
    bodies = http.get_each([f"{ORDERS}/{quote(orders[i][0]['orderId'], safe='')}/shipping_fulfillment"
                            for i in shipped], bucket="api", workers=DETAIL_WORKERS)
    fulfilled: dict[int, list[dict[str, Any]]] = {}
    fwhere = f"GET {ORDERS}/{{orderId}}/shipping_fulfillment"
    for i, body in zip(shipped, bodies, strict=True):
        if not isinstance(body, dict) or "fulfillments" not in body:
            raise bad(fwhere, "fulfillments", "missing")
        fulfillments = _objects(body.get("fulfillments"), fwhere, "fulfillments")
        total = body.get("total")
        if total is not None and total != len(fulfillments):
            raise bad(fwhere, "total", f"{str(total)[:20]!r} but {len(fulfillments)} fulfillments listed")
        # each fulfillment is one of the order's fulfillmentHrefs (…/shipping_fulfillment/<fulfillmentId>)
        listed = {h.rstrip("/").rsplit("/", 1)[-1] for h in hrefs_of[i]}
        got = {str(f.get("fulfillmentId")) for f in fulfillments}
        if not listed <= got:
            raise bad(fwhere, "fulfillments", f"{len(listed - got)} of the order's fulfillmentHrefs missing"
                                              f" ({sorted(listed - got)[0][:40]!r})")
        fulfilled[i] = fulfillments
    records: list[Record] = []
    for i, (order, owhere, field) in enumerate(orders):
        records += normalize_order(ctx.account.id, order, fulfilled.get(i, []), owhere, field,
                                   buyer_key=ctx.buyer_key)
    return records


def _check_total(items: list[Any], limit: int, offset: int, total: int | None, where: str, key: str) -> None:
    """A short (last) page must reach the total it reports: fewer items means some were lost on the way."""
    if total is not None and len(items) < limit and offset + len(items) < total:
        raise bad(where, key, f"{len(items)} items at offset {offset} but the total is {total}: items missing")


def _objects(node: Any, where: str, field: str) -> list[dict[str, Any]]:
    """A list of objects; a null entry or a non-list is a payload error naming the index."""
    if node is None:
        return []
    if not isinstance(node, list):
        raise bad(where, field, "not a list")
    for i, item in enumerate(node):
        if not isinstance(item, dict):
            raise bad(where, f"{field}[{i}]", f"expected an object, got {str(item)[:40]!r}")
    return node


# -- messages, feedback ------------------------------------------------------------------------------------


def _offset_pages(http: HttpClient, path: str, params: dict[str, Any], key: str, limit: int,
                  total_key: str = "total", max_pages: int = MAX_PAGES) -> Iterator[tuple[list[Any], int]]:
    """(items, offset of the first) per page; a body without ``key`` and without a total is a payload error."""
    where = f"GET {path.split('/conversation/')[0] + '/conversation/{id}' if '/conversation/' in path else path}"

    def page(offset: int, size: int) -> tuple[list[Any], int | None]:
        body = http.get_json(path, params={**params, "limit": size, "offset": offset}, bucket="api")
        if not isinstance(body, dict):
            raise bad(where, key, "missing (the body is not an object)")
        total = body["pagination"].get("total") if isinstance(body.get("pagination"), dict) else body.get(total_key)
        if total is not None and (not isinstance(total, int) or isinstance(total, bool) or total < 0):
            raise bad(where, total_key, f"not a count: {str(total)[:40]!r}")
        items = _objects(body.get(key), where, key)
        if not items and total != 0 and (key not in body or (total is not None and total > offset)):
            raise bad(where, key, f"missing or empty while the total is {total!r}")  # never "no more items"
        _check_total(items, size, offset, total, where, key)
        return items, total

    offset = 0
    for items, _, _ in offset_pages(page, limit, where=where, max_pages=max_pages):
        yield items, offset
        offset += len(items)


def fetch_messages(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    options: Options = ctx.options or Options()
    now = ctx.now()
    since = _since(cursor, now, options.backfill_days, options.message_rescan_days * 86400)
    me = seller(ctx, http)
    params = {"conversation_type": "FROM_MEMBERS", "start_time": iso(since), "end_time": iso(now)}
    for conversations, offset in _offset_pages(http, CONVERSATIONS, params, "conversations", 50,
                                               max_pages=MESSAGE_PAGES):
        records: list[Record] = []
        for i, conv in enumerate(conversations):
            cid = conv.get("conversationId")
            if not isinstance(cid, str | int) or isinstance(cid, bool) or not str(cid).strip():
                raise bad(f"GET {CONVERSATIONS}", f"conversations[{offset + i}].conversationId", "missing")
            path = f"{CONVERSATIONS}/{quote(str(cid), safe='')}"
            messages: list[Any] = []
            for items, _ in _offset_pages(http, path, {"conversation_type": "FROM_MEMBERS"}, "messages", 50,
                                          max_pages=THREAD_PAGES):
                messages += items
            msg = normalize_conversation(ctx.account.id, conv, messages, me, f"GET {CONVERSATIONS}/{{id}}",
                                         f"conversations[{offset + i}]")
            if msg is not None:
                records.append(msg)
        yield Batch(records, cursor=None, progress=1)
    yield Batch([], cursor=iso(now))


def fetch_feedback(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    options: Options = ctx.options or Options()
    now = ctx.now()
    since = _since(cursor, now, options.backfill_days, options.feedback_rescan_days * 86400)
    params = {"user_id": seller(ctx, http), "feedback_type": "FEEDBACK_RECEIVED", "sort": "TIME"}
    try:
        first = next(pages := _offset_pages(http, FEEDBACK, params, "feedbackEntries", PAGE), None)
    except ConnectorError as exc:
        if exc.status in (400, 404):  # eBay refuses the stored username: drop it, read it again next time
            ctx.state.put("username", None)
        raise
    for entries, offset in itertools.chain([first] if first else [], pages):
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
    where = f"GET {path}"

    def fetch(page: int | None) -> tuple[list[Any], int | None]:
        number = page or 1
        body = http.get_json(path, params={**params, "limit": PAGE, "offset": number}, bucket="api")
        if not isinstance(body, dict):
            raise bad(where, "members", "missing (the body is not an object)")
        info = body.get("paginationOutput")
        pages = info.get("totalPages") if isinstance(info, dict) else None
        if pages is not None and (not isinstance(pages, int) or isinstance(pages, bool) or pages < 0):
            raise bad(where, "paginationOutput.totalPages", f"not a count: {str(pages)[:40]!r}")
        entries = info.get("totalEntries") if isinstance(info, dict) else None
        if "members" not in body and pages is None:
            raise bad(where, "members", "missing (neither the list nor paginationOutput)")
        if body.get("members") is None and (entries or pages):
            raise bad(where, "members", f"missing while paginationOutput counts {entries or pages}")
        members = _objects(body.get("members"), where, "members")
        if isinstance(entries, int) and not isinstance(entries, bool) and (pages is None or number >= pages):
            _check_total(members, PAGE, (number - 1) * PAGE, entries, where, "members")
        return members, (number + 1 if members and pages is not None and number < pages else None)

    for p in walk(fetch, 1, marketplace=MARKETPLACE, where=where, max_pages=MAX_PAGES):
        yield list(p.items)


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
    profile = http.get_json(STANDARDS, bucket="api")
    records: list[Record] = list(normalize_standards(ctx.account.id, profile, now, f"GET {STANDARDS}"))
    records += levels.normalize_levels(ctx.account.id, profile, now, f"GET {STANDARDS}")  # current + projected
    for kind in ("ITEM_NOT_AS_DESCRIBED", "ITEM_NOT_RECEIVED"):
        path = f"{SERVICE_METRIC}/{kind}/CURRENT"
        try:
            body = http.get_json(path, params={"evaluation_marketplace_id": marketplace_id(ctx.account, options)},
                                 bucket="api")
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
