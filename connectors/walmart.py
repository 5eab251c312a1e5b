"""Walmart Marketplace (US): orders, shipments, cancellations, returns/refunds and Walmart's own performance figures.

Auth is a client-credentials token (15 minutes) sent as ``WM_SEC.ACCESS_TOKEN`` with a fresh
``WM_QOS.CORRELATION_ID`` and ``WM_SVC.NAME`` on every call; it is cached and renewed a minute before it runs out.
Orders are read incrementally by last-modified time, once per ship-node type (the API's default leaves WFS out),
with ``nextCursor`` appended to the path exactly as Walmart sends it. Walmart keeps 180 days of orders.
Normalization lives in ``walmart_normalize``, the Seller Performance (Insights) summaries in ``walmart_insights``,
Walmart's unpublished-item counts in ``walmart_unpublished``.
Facts and sources: docs/connectors/walmart.md.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field

from sellerguard.connectors import walmart_unpublished as unpublished
from sellerguard.connectors.contract import Batch, SyncContext
from sellerguard.connectors.walmart_insights import INSIGHTS, parse_summary
from sellerguard.connectors.walmart_normalize import (
    normalize_order,
    normalize_return,
    payload_error,
)
from sellerguard.errors import ConnectorError
from sellerguard.http import (
    INSIDE_5XX,
    INSIDE_AUTH,
    INSIDE_EXPIRED,
    INSIDE_THROTTLED,
    AccessToken,
    ErrorRule,
    ExpiredShape,
    HttpClient,
    PooledSession,
    body_codes,
)
from sellerguard.oauth import post_token
from sellerguard.paginate import dig, walk
from sellerguard.schema import Record

MARKETPLACE = "walmart"
# "unpublished" is a stream of its own: a failing unpublished-items call must not cost the performance summaries
# (sync runs each stream apart: one failure is reported, the other streams still run and keep their cursors)
STREAMS = ("orders", "returns", "performance", "unpublished")
STREAM_SWITCHES = {"performance": ("performance", "unpublished")}  # option false -> streams not read (check lists them)
PRODUCTION = "https://marketplace.walmartapis.com"
SANDBOX = "https://sandbox.walmartapis.com"
SVC_NAME = "Walmart Marketplace"
MAX_HISTORY_DAYS = 180  # Walmart returns no orders older than this
TOKEN_STATE = "access_token"  # "<expiry ISO> <token>" in the account's connector state
ShipNode = Literal["SellerFulfilled", "WFSFulfilled", "3PLFulfilled"]

ERRORS: dict[int | str, ErrorRule] = {
    400: ErrorRule("fail", "payload", "Walmart rejected the request (check the date window: at most 180 days back)"),
    401: ErrorRule("refresh", "config", "Walmart refused the access token: check the client id and secret"),
    403: ErrorRule("fail", "config", "access denied: the API key lacks permission for this API (Seller Center > API Key"
                                     " Management)"),
    404: ErrorRule("fail", "config", "not found"),
    429: ErrorRule("retry", "wait", "rate limited by Walmart"),
    520: ErrorRule("retry", "wait", "Walmart had an internal error"),
}


NO_ROWS = ErrorRule("fail", "config", "nothing matches the query (404 CONTENT_NOT_FOUND)")


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ship_node_types: list[ShipNode] = Field(default=["SellerFulfilled", "WFSFulfilled"], min_length=1)
    backfill_days: int = Field(default=90, ge=1, le=MAX_HISTORY_DAYS)  # first sync reaches this far back
    overlap_minutes: int = Field(default=15, ge=0)  # re-read this much before the cursor: late index updates
    page_size: int = Field(default=200, ge=1, le=200)
    performance: bool = True  # the Seller Performance summaries and the unpublished-item counts (US only)
    performance_every_hours: float = Field(default=12, gt=0)  # Walmart refreshes them every 24 h
    svc_name: str = SVC_NAME
    channel_type: str | None = None  # WM_CONSUMER.CHANNEL.TYPE, if Walmart gave you one


def _options(ctx: SyncContext) -> Options:
    return ctx.options if isinstance(ctx.options, Options) else Options()


def _ms(dt: datetime) -> str:
    """Walmart's query dates: ISO 8601 UTC with milliseconds."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def make_client(ctx: SyncContext, opts: Options | None = None) -> HttpClient:
    opts = opts or _options(ctx)
    acc = ctx.account
    base = acc.base_url or (SANDBOX if acc.sandbox else PRODUCTION)
    token_url = acc.token_url or base.rstrip("/") + "/v3/token"
    session = PooledSession()  # keep-alive, proxies resolved once per host (issue 21)

    def common(headers: dict[str, str]) -> None:
        headers["WM_QOS.CORRELATION_ID"] = str(uuid.uuid4())  # Walmart support asks for it per call
        headers["WM_SVC.NAME"] = opts.svc_name
        headers["Accept"] = "application/json"
        if opts.channel_type:
            headers["WM_CONSUMER.CHANNEL.TYPE"] = opts.channel_type

    def fetch_token() -> tuple[str, datetime]:
        # A token from an earlier sync of this account is reused while it has a minute left; after a refusal
        # (the AccessToken refetches) or near expiry, a new one is fetched and saved.
        if token.fetches == 0 and (cached := _cached_token(ctx)) is not None:
            return cached
        ctx.state.put(TOKEN_STATE, None)  # a refused or expiring token is never kept, even if the refresh fails
        client_id = acc.secret("client_id").get_secret_value()
        secret = acc.secret("client_secret").get_secret_value()
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}"}
        common(headers)
        try:
            body = post_token(http, token_url, {"grant_type": "client_credentials"}, headers=headers)
        except ConnectorError as exc:
            raise _token_refused(ctx, exc) from None
        value = body["access_token"]
        if not isinstance(value, str) or not _TOKEN.fullmatch(value):
            raise ConnectorError("bad payload: access_token: not a token (empty, too long or not printable)",
                                 kind="payload", where=f"{MARKETPLACE}: POST /v3/token")
        expiry = ctx.now() + timedelta(seconds=_seconds(body.get("expires_in")))
        ctx.state.put(TOKEN_STATE, f"{expiry.isoformat()} {value}")
        return value, expiry

    token = AccessToken(fetch_token, ctx.clock, margin_s=60)

    def auth(headers: dict[str, str]) -> None:
        common(headers)
        headers["WM_SEC.ACCESS_TOKEN"] = token.get()

    def on_response(bucket: str | None, response: requests.Response) -> None:
        # Walmart's usage headers: when the window is spent, wait for its refill instead of burning retries.
        left, refill = response.headers.get("x-current-token-count"), response.headers.get("x-next-replenishment-time")
        if refill and (left == "0" or response.status_code == 429):
            wait = _replenish_wait(refill, ctx.now())
            if wait is not None and 0 < wait <= http.max_wait:
                ctx.sleep(wait)

    http = HttpClient(base_url=base, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep, auth=auth,
                      token=token, errors=ERRORS, classify=classify, on_response=on_response, session=session,
                      expired=EXPIRED)
    for path, *_ in INSIGHTS:
        http.limit(f"insights:{path}", rate=1 / 60, burst=1)  # 1 call per minute per seller and endpoint
    http.limit("insights:unpublished", rate=1 / 60, burst=1)  # no published limit: paced like the summaries
    return http


_TOKEN = re.compile(r"[\x21-\x7e]{1,8192}")  # printable ASCII without spaces (Walmart tokens are JWT-like)


def _seconds(value: Any) -> float:
    """``expires_in``: seconds within a day; anything else counts as the documented 15 minutes."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 900
    try:
        seconds = float(value)
    except ValueError:
        return 900
    return seconds if math.isfinite(seconds) and 60 <= seconds <= 86400 else 900


def _token_refused(ctx: SyncContext, exc: ConnectorError) -> ConnectorError:
    """The token endpoint's refusals, naming the account: the client id/secret were reset or revoked."""
    if exc.status in (400, 401, 403):
        return ConnectorError(f"Walmart refused the client id/secret of account '{ctx.account.id}' (reset, revoked"
                              " or mistyped): re-authorize by generating new keys in Seller Center > Settings > API"
                              " Key Management and put them in credentials.client_id/client_secret",
                              kind="config", where=exc.where, status=exc.status)
    return exc


def _cached_token(ctx: SyncContext) -> tuple[str, datetime] | None:
    """The token saved by an earlier sync while it has a minute left; a garbled one is dropped."""
    saved = ctx.state.get(TOKEN_STATE)
    if not saved:
        return None
    when, _, value = saved.partition(" ")
    try:
        expiry = datetime.fromisoformat(when)
        valid = expiry.tzinfo is not None and bool(_TOKEN.fullmatch(value))
    except ValueError:
        valid = False
    if not valid:
        ctx.state.put(TOKEN_STATE, None)
        return None
    return (value, expiry) if (expiry - ctx.now()).total_seconds() > 60 else None


# Walmart's "this token is dead" answers (the HTTP core reads every string of the body): any 401
# (UNAUTHORIZED.GMP_GATEWAY_API), and 400/403 whose code or description names the token (integrators report 400
# as well as 401 for an expired token: fulfilio/python-walmart#19). A 403 that names no token is a missing API
# permission: never refreshed.
EXPIRED = (
    ExpiredShape(status=401),
    *(ExpiredShape(status=st, code="UNAUTHORIZED.GMP_GATEWAY_API") for st in (400, 403)),
    *(ExpiredShape(status=st, code="INVALID_TOKEN.GMP_GATEWAY_API") for st in (400, 403)),
    *(ExpiredShape(status=st, text="access token") for st in (400, 403)),
)


# "200 with an error inside" (issue 17 item 6), classified like its HTTP equivalent; codes carry an API suffix
# (SYSTEM_ERROR.GMP_ORDER_API), compared without it.
_INSIDE = body_codes({"SYSTEM_ERROR": INSIDE_5XX, "INTERNAL_SERVER_ERROR": INSIDE_5XX,
                      "SERVICE_UNAVAILABLE": INSIDE_5XX, "REQUEST_THRESHOLD_VIOLATED": INSIDE_THROTTLED,
                      "TOO_MANY_REQUESTS": INSIDE_THROTTLED,
                      "UNAUTHORIZED": INSIDE_EXPIRED, "INVALID_TOKEN": INSIDE_EXPIRED, "FORBIDDEN": INSIDE_AUTH},
                     lambda body: (str(e.get("code") or "").split(".")[0] for e in _error_list(body)))


def classify(response: requests.Response) -> ErrorRule | None:
    """404 CONTENT_NOT_FOUND on a list -> "no rows", sorted apart from a wrong path; errors inside a 200."""
    if response.status_code == 404 and "NOT_FOUND" in (_error_code(response) or ""):
        return NO_ROWS
    if response.status_code == 200:
        return _INSIDE(response)
    return None


def _error_list(body: Any) -> list[dict[str, Any]]:
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, dict):  # XML-to-JSON renderings wrap the list: {"errors": {"error": [...]}}
        errors = errors.get("error")
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _errors(response: requests.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []
    return _error_list(body)


def _error_code(response: requests.Response) -> str | None:
    errors = _errors(response)
    return str(errors[0].get("code") or "") if errors else None


def _replenish_wait(value: str, now: datetime) -> float | None:
    """``x-next-replenishment-time``: epoch milliseconds (seen) or seconds; None when unreadable."""
    try:
        number = float(value)
    except ValueError:
        return None
    when = number / 1000 if number > 1e11 else number
    return when - now.timestamp()


def _window_start(ctx: SyncContext, cursor: str | None, opts: Options) -> datetime:
    now = ctx.now()
    oldest = now - timedelta(days=MAX_HISTORY_DAYS) + timedelta(minutes=5)
    if cursor:
        parsed = _time(cursor)
        if parsed is None:
            raise ConnectorError(f"stored cursor {cursor[:40]!r} is not a time; reset it with a full re-sync",
                                 kind="config", where=f"{MARKETPLACE}: {ctx.account.id}")
        start = min(parsed, now) - timedelta(minutes=opts.overlap_minutes)
    else:
        start = now - timedelta(days=opts.backfill_days)
    return max(start, oldest)


def _time(value: str) -> datetime | None:
    """A cursor this connector wrote (aware ISO 8601), or None."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _pages(ctx: SyncContext, http: HttpClient, path: str, params: dict[str, str],
           items: Callable[[Any], tuple[list[Any], str | None]], *, empty_on_404: bool = False,
           start: str | None = None) -> Iterator[tuple[list[Any], str | None]]:
    """GET ``path`` then ``path + nextCursor`` (unchanged) until Walmart sends no cursor: (rows, next URL).

    conn-core's guarded loop (``walk``) refuses a cursor that comes back and a page that repeats, and stops at
    the per-run page cap. ``start``: a saved next URL to go on from; if Walmart refuses it, it is forgotten and the
    next sync restarts the window.
    """

    def fetch(url: str | None) -> tuple[list[Any], str | None]:
        try:
            body = http.get_json(path, params=params) if url is None else http.get_json(url)
        except ConnectorError as exc:
            # Walmart answers an empty order list with 404 CONTENT_NOT_FOUND: that is "no rows", not a failure.
            if empty_on_404 and exc.status == 404 and exc.message.startswith(NO_ROWS.message):
                return [], None
            if url is not None and url == start and exc.status in (400, 401, 403, 404):
                ctx.state.put(RESUME, None)
                raise ConnectorError(f"the saved page position was refused ({exc.message}); the next sync reads"
                                     " the window from its first page", kind="wait", where=exc.where,
                                     status=exc.status) from None
            raise
        rows, next_cursor = items(body)
        if not next_cursor:
            return rows, None
        next_cursor = html.unescape(next_cursor)  # one API was seen sending &amp; inside nextCursor
        return rows, path + (next_cursor if next_cursor.startswith("?") else "?" + next_cursor)

    for page in walk(fetch, start, marketplace=MARKETPLACE, where=f"GET {path}"):
        yield list(page.items), page.next


RESUME = "orders:resume"  # {"stream", "start", "end", "done", "node", "next", "at"}: a window stopped mid-way
RESUME_LIFE_S = 6 * 3600  # how long a saved nextCursor is trusted (Walmart documents no lifetime)


def _resume(ctx: SyncContext, stream: str, start: str | None) -> dict[str, Any] | None:
    """The window of ``stream`` starting at ``start`` that an earlier sync did not finish, or None.

    ``start`` None (a backfill, whose start moves with the clock): any unfinished backfill window of ``stream``.
    """
    saved = ctx.state.get(RESUME)
    if not saved:
        return None
    try:
        entry = json.loads(saved)
        fresh = 0 <= ctx.now().timestamp() - float(entry["at"]) < RESUME_LIFE_S
        end = _time(entry["end"])
        ok = end is not None and isinstance(entry["done"], list) and all(isinstance(n, str) for n in entry["done"]) \
            and (entry["next"] is None or (isinstance(entry["next"], str) and entry["next"].startswith("/v3/")))
    except (ValueError, TypeError, KeyError, OverflowError, AttributeError):
        fresh = ok = False
    if not (ok and fresh):
        ctx.state.put(RESUME, None)
        return None
    if not isinstance(entry.get("start"), str) or _time(entry["start"].replace("Z", "+00:00")) is None:
        ctx.state.put(RESUME, None)
        return None
    return entry if entry.get("stream") == stream and start in (None, entry["start"]) else None


def _save_resume(ctx: SyncContext, stream: str, start: str, end: datetime, done: list[str], node: str,
                 nxt: str | None) -> None:
    ctx.state.put(RESUME, json.dumps({"stream": stream, "start": start, "end": end.isoformat(), "done": done,
                                      "node": node, "next": nxt, "at": ctx.now().timestamp()}))


def _cursor(meta: dict[str, Any], endpoint: str) -> str | None:
    cursor = meta.get("nextCursor")
    if cursor is None or cursor == "":
        return None
    if not isinstance(cursor, str) or len(cursor) > 4000 or not cursor.isprintable():
        raise payload_error(endpoint, "meta.nextCursor", f"not a query string: {str(cursor)[:40]!r}")
    return cursor


def _counted(items: Callable[[Any], tuple[list[Any], str | None]], endpoint: str, meta_path: tuple[str, ...], *,
             whole: bool) -> Callable[[Any], tuple[list[Any], str | None]]:
    """``items`` that also checks, on the last page of a pass read from its first page, that Walmart sent as many
    rows as ``meta.totalCount`` announced: a page that lost rows is not a complete window."""
    seen = {"rows": 0, "total": None}

    def read(body: Any) -> tuple[list[Any], str | None]:
        rows, cursor = items(body)
        total = dig(body, *meta_path, "totalCount")
        if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
            seen["total"] = total if seen["total"] is None else seen["total"]
        seen["rows"] += len(rows)
        if whole and cursor is None and seen["total"] is not None and seen["rows"] < seen["total"]:
            raise ConnectorError(f"Walmart announced {seen['total']} rows (meta.totalCount) and sent {seen['rows']}:"
                                 " the list changed while paging or a page lost rows; the next sync reads the window"
                                 " again", kind="wait", where=f"{MARKETPLACE}: GET {endpoint}")
        return rows, cursor

    return read


def _declared_empty(meta: dict[str, Any]) -> bool:
    """Only a page that says it has nothing (totalCount 0) may lack its list: anything else is not "no rows"."""
    total = meta.get("totalCount")
    return not isinstance(total, bool) and total in (0, "0")


def _order_page(body: Any) -> tuple[list[Any], str | None]:
    lst = body.get("list") if isinstance(body, dict) else None
    if not isinstance(lst, dict) or not isinstance(lst.get("meta"), dict):
        raise payload_error("/v3/orders", "list.meta", "missing")
    elements = lst.get("elements")
    orders = elements.get("order") if isinstance(elements, dict) else None
    if orders is None:
        if not _declared_empty(lst["meta"]):
            raise payload_error("/v3/orders", "list.elements.order", "missing while meta.totalCount is not 0")
        orders = []
    if not isinstance(orders, list):
        raise payload_error("/v3/orders", "list.elements.order", "not a list")
    return orders, _cursor(lst["meta"], "/v3/orders")


def _return_page(body: Any) -> tuple[list[Any], str | None]:
    if not isinstance(body, dict) or not isinstance(body.get("meta"), dict):
        raise payload_error("/v3/returns", "meta", "missing")
    rows = body.get("returnOrders")
    if rows is None:
        if not _declared_empty(body["meta"]):
            raise payload_error("/v3/returns", "returnOrders", "missing while meta.totalCount is not 0")
        rows = []
    if not isinstance(rows, list):
        raise payload_error("/v3/returns", "returnOrders", "not a list")
    return rows, _cursor(body["meta"], "/v3/returns")


def fetch_orders(ctx: SyncContext, cursor: str | None, http: HttpClient | None = None) -> Iterator[Batch]:
    """One window (cursor - overlap .. now), one pass per ship-node type; the cursor moves when all are stored.

    After each stored page the position is saved (``RESUME``): a sync stopped mid-window (page cap, crash, outage)
    goes on from that page next time, with the same window end, instead of from zero.
    """
    opts = _options(ctx)
    http = http or make_client(ctx, opts)
    now = ctx.now()
    start = _ms(_window_start(ctx, cursor, opts))
    resumed = _resume(ctx, "orders", start if cursor else None)
    start = resumed["start"] if resumed else start
    end = _time(resumed["end"]) if resumed else now
    assert end is not None
    done: list[str] = list(resumed["done"]) if resumed else []
    created_from = now - timedelta(days=MAX_HISTORY_DAYS) + timedelta(minutes=5)
    for node in opts.ship_node_types:
        if node in done:
            continue
        params = {
            "lastModifiedStartDate": start,
            "lastModifiedEndDate": _ms(end),
            # without it Walmart silently limits the query to orders created in the last 7 days
            "createdStartDate": _ms(created_from),
            "shipNodeType": node,
            "limit": str(opts.page_size),
        }
        first = resumed["next"] if resumed and resumed.get("node") == node else None
        items = _counted(_order_page, "/v3/orders", ("list", "meta"), whole=first is None)
        for page, nxt in _pages(ctx, http, "/v3/orders", params, items, empty_on_404=True, start=first):
            records: list[Record] = []
            for raw in page:
                records.extend(normalize_order(ctx.account.id, raw, node, site=ctx.account.region or "US",
                                               buyer_key=ctx.buyer_key))
            yield Batch(records, None, progress=len(page))
            _save_resume(ctx, "orders", start, end, done if nxt else [*done, node], node, nxt)  # once stored
        done.append(node)
    yield Batch([], end.isoformat())  # the window is complete: resume from its end next time
    ctx.state.put(RESUME, None)


def fetch_returns(ctx: SyncContext, cursor: str | None, http: HttpClient | None = None) -> Iterator[Batch]:
    opts = _options(ctx)
    http = http or make_client(ctx, opts)
    now = ctx.now()
    start = _ms(_window_start(ctx, cursor, opts))
    resumed = _resume(ctx, "returns", start if cursor else None)
    start = resumed["start"] if resumed else start
    end = _time(resumed["end"]) if resumed else now
    assert end is not None
    params = {"returnLastModifiedStartDate": start, "returnLastModifiedEndDate": _ms(end),
              "limit": str(opts.page_size)}
    first = resumed["next"] if resumed else None
    items = _counted(_return_page, "/v3/returns", ("meta",), whole=first is None)
    for page, nxt in _pages(ctx, http, "/v3/returns", params, items, empty_on_404=True, start=first):
        records: list[Record] = []
        for raw in page:
            records.extend(normalize_return(ctx.account.id, raw))
        yield Batch(records, None, progress=len(page))
        _save_resume(ctx, "returns", start, end, [], "returns", nxt)
    yield Batch([], end.isoformat())
    ctx.state.put(RESUME, None)


def _performance_due(opts: Options, cursor: str | None, now: datetime) -> bool:
    """The Insights figures are read at most every ``performance_every_hours`` (they refresh daily)."""
    if not opts.performance:
        return False
    last = _time(cursor) if cursor else None  # an unreadable cursor just means: fetch now
    return last is None or not timedelta(0) <= now - last < timedelta(hours=opts.performance_every_hours)


def fetch_performance(ctx: SyncContext, cursor: str | None, http: HttpClient | None = None) -> Iterator[Batch]:
    """Walmart's own figures, at most every ``performance_every_hours`` (they refresh daily)."""
    opts = _options(ctx)
    now = ctx.now()
    if not _performance_due(opts, cursor, now):
        return
    http = http or make_client(ctx, opts)
    records: list[Record] = []
    for path, metric_id, duration, rate_keys in INSIGHTS:
        endpoint = f"/v3/insights/performance/{path}/summary"
        response = http.request("GET", endpoint, bucket=f"insights:{path}", params={"reportDuration": str(duration)})
        if response.status_code == 204:
            continue  # no data accumulated yet (new seller, too few orders); an empty 200 is a payload error
        body = http.json(response, endpoint)
        records.append(parse_summary(ctx.account.id, metric_id, endpoint, body, duration, rate_keys, now))
    yield Batch(records, now.isoformat(), progress=len(INSIGHTS))


def fetch_unpublished(ctx: SyncContext, cursor: str | None, http: HttpClient | None = None) -> Iterator[Batch]:
    """Walmart's unpublished-item counts (issue 26), on the performance figures' cadence and switch, with a cursor
    of their own: one failing call fails this stream only."""
    opts = _options(ctx)
    now = ctx.now()
    if not _performance_due(opts, cursor, now):
        return
    http = http or make_client(ctx, opts)
    yield Batch(list(unpublished.fetch_counts(ctx.account.id, http, now)), now.isoformat(), progress=1)


def fetch(ctx: SyncContext, stream: str, cursor: str | None) -> Iterator[Batch]:
    if stream == "orders":
        return fetch_orders(ctx, cursor)
    if stream == "returns":
        return fetch_returns(ctx, cursor)
    if stream == "performance":
        return fetch_performance(ctx, cursor)
    if stream == "unpublished":
        return fetch_unpublished(ctx, cursor)
    raise ConnectorError(f"unknown stream '{stream}'", kind="config", where=MARKETPLACE)


def sandbox_account(base_url: str, account_id: str) -> dict[str, Any]:
    """A config entry for the loopback sandbox (its client id and secret open only the sandbox)."""
    return {
        "id": account_id,
        "marketplace": MARKETPLACE,
        "region": "US",
        "base_url": base_url,
        "credentials": {"client_id": f"sandbox-{account_id}", "client_secret": "sandbox-secret"},
    }
