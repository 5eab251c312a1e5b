"""Amazon Selling Partner API: orders (Orders API 2026-01-01), Amazon's own performance figures, negative feedback.

Auth: Login with Amazon (LWA) refresh-token grant, one token URL for every region; the access token goes in
``x-amz-access-token``. No AWS SigV4 since 2023-10-02. The token is cached in the account state for its hour.

Streams:
- ``orders``: ``searchOrders`` with ``lastUpdatedAfter`` = the cursor and ``lastUpdatedBefore`` = now - 3 min
  (Amazon refuses a bound closer than 2 minutes to now), ``includedData=FULFILLMENT,PACKAGES,CANCELLATION``,
  paged by ``paginationToken``; the cursor becomes the window's end once every page is stored. The first sync
  is a backfill: order-level history from the All Orders report, then pages only for the recent
  seller-fulfilled orders whose packages and ship windows the metrics need (``amazon_reports.plan``).
  searchOrders allows 0.0056 req/s with a burst of 20: the bucket's level is kept in the account state, so
  consecutive syncs never spend the same burst twice.
- ``performance``: ``GET_V2_SELLER_PERFORMANCE_REPORT`` (once a day) -> ReportedMetric: service metrics, and
  account status, policy violations and warning states (``amazon_health``).
- ``feedback``: ``GET_SELLER_FEEDBACK_DATA`` (once a day, 90 days) -> 1-3 star ratings; CANCELLED = no data.

Amazon exposes no buyer messages, no individual A-to-z claims or chargebacks, no delivery time: see
docs/connectors/amazon.md.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from contextlib import closing, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field

from sellerguard.connectors import amazon_catalog as catalog
from sellerguard.connectors import amazon_health as health
from sellerguard.connectors import amazon_reports as reports
from sellerguard.connectors.amazon_normalize import (
    bad,
    normalize_feedback_rows,
    normalize_order,
    normalize_order_rows,
    normalize_performance,
)
from sellerguard.connectors.contract import Batch, SyncContext
from sellerguard.errors import ConnectorError
from sellerguard.http import (
    INSIDE_5XX,
    INSIDE_THROTTLED,
    AccessToken,
    ErrorRule,
    ExpiredShape,
    HttpClient,
    body_codes,
    body_strings,
)
from sellerguard.oauth import expires_at, post_token
from sellerguard.paginate import walk
from sellerguard.schema import Record

MARKETPLACE = "amazon"
STREAMS = ("orders", "performance", "feedback")
TOKEN_URL = "https://api.amazon.com/auth/o2/token"
HOSTS = {"na": "sellingpartnerapi-na.amazon.com", "eu": "sellingpartnerapi-eu.amazon.com",
         "fe": "sellingpartnerapi-fe.amazon.com"}
ORDERS = "/orders/2026-01-01/orders"
PARTICIPATIONS = "/sellers/v1/marketplaceParticipations"
INCLUDED = "FULFILLMENT,PACKAGES,CANCELLATION"
ORDER_REPORT = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
PERFORMANCE_REPORT = "GET_V2_SELLER_PERFORMANCE_REPORT"
FEEDBACK_REPORT = "GET_SELLER_FEEDBACK_DATA"
BATCH = 1000  # report rows are stored 1,000 orders at a time


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    marketplace_ids: list[str] | None = None  # default: the participating marketplaces (Sellers API)
    backfill_days: int = Field(default=90, ge=1, le=730)  # Amazon keeps 2 years of orders
    package_days: int = Field(default=35, ge=1, le=730)  # backfill pages this far back for packages/ship-by
    backfill: Literal["report", "pages"] = "report"
    settle_s: int = Field(default=180, ge=120)  # lastUpdatedBefore must be >= 2 min before now
    report_every_hours: float = Field(default=24, gt=0)  # performance and feedback reports
    report_wait_s: float = Field(default=900, ge=0)  # then the next sync resumes the pending report
    report_poll_s: float = Field(default=15, gt=0)
    feedback_days: int = Field(default=90, ge=7, le=365)  # short windows often end CANCELLED
    feedback_day_first: bool = False  # EU feedback reports write dates day first
    categories: bool = True  # product categories of seller-fulfilled orders (Catalog Items API, Product Listing role)


ERRORS: dict[int | str, ErrorRule] = {
    400: ErrorRule("fail", "payload", "Amazon rejected the request (InvalidInput)"),
    403: ErrorRule("fail", "config", "Amazon refused access: the app lacks a role (Inventory and Order Tracking,"
                                     " Selling Partner Insights) or the seller revoked it"),
    404: ErrorRule("fail", "config", "Amazon does not know this resource: check the region and marketplace ids"),
    429: ErrorRule("retry", "wait", "Amazon usage plan exceeded (QuotaExceeded)"),
}


# Amazon's "this access token is dead" answers (code, message and details are all read by the HTTP core): 403
# Unauthorized with details "The access token you provided has expired." or "... is revoked, malformed or
# invalid." (amzn/selling-partner-api-models#4122, #2333), "The security token included in the request is
# expired" (#2595), a token missing altogether (MissingAuthenticationToken), any 401. "Access to requested
# resource is denied." with empty details is a missing role: never refreshed (the 403 rule below says so).
# "200 with an error inside" (issue 17 item 6): SP-API's own codes, classified like their HTTP equivalents.
_INSIDE = body_codes({"InternalFailure": INSIDE_5XX, "ServiceUnavailable": INSIDE_5XX,
                      "QuotaExceeded": INSIDE_THROTTLED},
                     lambda body: (e.get("code") for e in body.get("errors") or [] if isinstance(e, dict)))


PAGE_TOKEN_REFUSED = ErrorRule("fail", "payload", "Amazon refused the page token (expired or invalid)")


def _classify(response: requests.Response) -> ErrorRule | None:
    if response.status_code == 400:
        # "Invalid paginationToken. The token has expired": about the page token, not the access token (the
        # generic "token has expired" shape would otherwise refresh and then say "re-authorize")
        try:
            text = " ".join(body_strings(response.json())).lower()
        except ValueError:
            return None
        return PAGE_TOKEN_REFUSED if "paginationtoken" in text or "pagination token" in text \
            or "nexttoken" in text else None
    return _INSIDE(response) if response.status_code == 200 else None


EXPIRED = (
    ExpiredShape(status=403, text="access token you provided"),
    ExpiredShape(status=403, text="security token included in the request is expired"),
    ExpiredShape(status=403, code="MissingAuthenticationToken"),
    ExpiredShape(status=401),
)


def host(ctx: SyncContext) -> str:
    acc = ctx.account
    if acc.base_url:
        return acc.base_url
    region = (acc.region or "na").lower()
    if region not in HOSTS:
        raise ConnectorError(f"unknown region '{acc.region}' (known: na, eu, fe)", kind="config",
                             where=f"accounts[{acc.id}].region")
    return f"https://{'sandbox.' if acc.sandbox else ''}{HOSTS[region]}"


def _follow_rate(http: HttpClient) -> Any:
    def follow(bucket: str | None, response: requests.Response) -> None:
        if bucket not in http.limits:
            return
        limit = response.headers.get("x-amzn-RateLimit-Limit")
        try:
            rate = float(limit) if limit else 0
        except ValueError:
            rate = 0
        if rate:
            http.limits[bucket].set_rate(min(rate, http.limits[bucket].rate))  # lower only, never above the plan
        if response.status_code == 429:
            http.limits[bucket].drain()  # no Retry-After on SP-API: wait a full refill period
    return follow


def client(ctx: SyncContext) -> HttpClient:
    acc = ctx.account
    base = host(ctx)
    http = HttpClient(base_url=base, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep, errors=ERRORS,
                      expired=EXPIRED, classify=_classify)
    token_url = acc.token_url or (base.rstrip("/") + "/auth/o2/token" if acc.base_url else TOKEN_URL)

    def fetch_token() -> tuple[str, datetime]:
        if token.fetches == 0 and (cached := cached_token(ctx)) is not None:
            return cached
        ctx.state.put("access_token", None)  # a refused or expiring token is never kept, even if the refresh fails
        form = {"grant_type": "refresh_token", "refresh_token": acc.secret("refresh_token").get_secret_value(),
                "client_id": acc.secret("client_id").get_secret_value(),
                "client_secret": acc.secret("client_secret").get_secret_value()}
        try:
            payload = post_token(http, token_url, form)
        except ConnectorError as exc:
            raise _token_refused(ctx, exc) from None
        fresh = payload["access_token"]
        if not isinstance(fresh, str) or not _TOKEN.fullmatch(fresh):
            raise ConnectorError("bad payload: access_token: not a token (empty, too long or not printable)",
                                 kind="payload", where="amazon: token endpoint")
        expires = expires_at(ctx.now(), _seconds(payload.get("expires_in")))
        ctx.state.put("access_token", f"{int(expires.timestamp())}:{fresh}")
        return fresh, expires

    token = AccessToken(fetch_token, ctx.clock, margin_s=300)
    http.token = token
    http.auth = lambda headers: headers.update({"x-amz-access-token": token.get()})
    http.limit("searchOrders", 0.0056, 20)
    http.limit("getMarketplaceParticipations", 0.016, 15)
    for name, (rate, burst) in reports.LIMITS.items():
        http.limit(name, rate, burst)
    http.on_response = _follow_rate(http)  # bucket levels are shared through the store by the sync runner
    return http


_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}")  # an LWA access token: printable ASCII, no spaces (Atza|...)


def _seconds(value: Any) -> float:
    """``expires_in``: a number of seconds within a day; anything else counts as the documented hour."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 3600
    try:
        seconds = float(value)
    except ValueError:
        return 3600
    return seconds if math.isfinite(seconds) and 60 <= seconds <= 86400 else 3600


def _token_refused(ctx: SyncContext, exc: ConnectorError) -> ConnectorError:
    """LWA's refusals, naming the account: 400 invalid_grant = the refresh token is revoked or expired."""
    acc = ctx.account.id
    if exc.status == 400:
        return ConnectorError(f"Amazon refused the refresh token of account '{acc}' (revoked, expired or from"
                              " another app): re-authorize sellerguard in Seller Central and put the new refresh"
                              " token in credentials.refresh_token", kind="config", where=exc.where,
                              status=exc.status)
    if exc.status in (401, 403):
        return ConnectorError(f"Amazon refused the LWA client id or secret of account '{acc}' (rotated or wrong):"
                              " copy them again from the app's LWA credentials", kind="config", where=exc.where,
                              status=exc.status)
    return exc


def cached_token(ctx: SyncContext) -> tuple[str, datetime] | None:
    """The access token saved by an earlier sync while it has 5 minutes left; a garbled one is dropped."""
    saved = ctx.state.get("access_token")
    if not saved:
        return None
    until, _, value = saved.partition(":")
    if not until.isdigit() or len(until) > 11 or not _TOKEN.fullmatch(value):
        ctx.state.put("access_token", None)
        return None
    expires = datetime.fromtimestamp(int(until), UTC)
    return (value, expires) if (expires - ctx.now()).total_seconds() > 300 else None


def _report(ctx: SyncContext, http: HttpClient, report_type: str, ids: list[str], **kw: Any) -> reports.Report:
    options: Options = ctx.options or Options()
    with _forget_on_payload_error(ctx, report_type):  # a DONE report without a document is not polled forever
        return reports.run(ctx, http, report_type, ids, max_wait_s=options.report_wait_s,
                           poll_s=options.report_poll_s, **kw)


def marketplace_ids(ctx: SyncContext, http: HttpClient) -> list[str]:
    options: Options = ctx.options or Options()
    if options.marketplace_ids:
        return options.marketplace_ids
    if known := ctx.state.get("marketplace_ids"):
        ids = known.split(",")
        if all(_MARKETPLACE_ID.fullmatch(i) for i in ids):
            return ids
        ctx.state.put("marketplace_ids", None)  # garbled: asked again
    body = http.get_json(PARTICIPATIONS, bucket="getMarketplaceParticipations")
    rows = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(rows, list):  # a body without its list proves nothing about the seller's marketplaces
        raise bad(f"GET {PARTICIPATIONS}", "payload", "missing or not a list")
    for i, p in enumerate(rows):  # only well-formed rows prove anything (a garbled one is not "no marketplace")
        if not (isinstance(p, dict) and isinstance(p.get("participation"), dict)
                and isinstance(p["participation"].get("isParticipating"), bool)
                and isinstance(p.get("marketplace"), dict) and isinstance(p["marketplace"].get("id"), str)
                and _MARKETPLACE_ID.fullmatch(p["marketplace"]["id"])):  # a number is no id (str() let it in)
            raise bad(f"GET {PARTICIPATIONS}", f"payload[{i}]", "not a participation with a marketplace id and"
                      " isParticipating")
    found = [p["marketplace"]["id"] for p in rows if p["participation"]["isParticipating"] is True]
    if not found:
        raise ConnectorError("this seller participates in no marketplace: set options.marketplace_ids",
                             kind="config", where=f"amazon: GET {PARTICIPATIONS}")
    ctx.state.put("marketplace_ids", ",".join(found))
    return found


_MARKETPLACE_ID = re.compile(r"[A-Z0-9]{8,20}")  # ATVPDKIKX0DER, A1PA6795UKMFR9


# -- orders ------------------------------------------------------------------------------------------------


RESUME = "orders:resume"  # {"kind", "params", "token", "at"}: where an interrupted window goes on
TOKEN_LIFE_S = 23 * 3600  # Amazon's pagination tokens last 24 h (migration guide)


def _pages(ctx: SyncContext, http: HttpClient, params: dict[str, Any],
           token: str | None = None) -> Iterator[tuple[list[Any], str | None]]:
    """searchOrders pages to the end (or the per-run page cap): (orders, next token). The token goes with the
    same filters; conn-core's guarded loop refuses a token that comes back and a page that repeats."""
    where = f"GET {ORDERS}"

    def fetch(token: str | None) -> tuple[list[Any], str | None]:
        query = {**params, **({"paginationToken": token} if token else {})}
        try:
            body = http.get_json(ORDERS, params=query, bucket="searchOrders")
        except ConnectorError as exc:
            if token is not None and exc.status == 400:  # a (saved) page token Amazon no longer takes
                ctx.state.put(RESUME, None)
                raise ConnectorError(f"the saved page position was refused ({exc.message}); the next sync reads"
                                     " the window from its first page", kind="wait", where=exc.where,
                                     status=exc.status) from None
            raise
        if not isinstance(body, dict) or not isinstance(body.get("orders"), list):
            raise bad(where, "orders", "missing or not a list")
        pagination = body.get("pagination")
        nxt = pagination.get("nextToken") if isinstance(pagination, dict) else None
        if nxt is not None and nxt != "" and not (isinstance(nxt, str) and _TOKEN.fullmatch(nxt)):
            raise bad(where, "pagination.nextToken", "not a token")
        return body["orders"], nxt or None

    for page in walk(fetch, token, marketplace=MARKETPLACE, where=where):
        yield list(page.items), page.next


def _resume(ctx: SyncContext, kind: str) -> tuple[dict[str, Any], str] | None:
    """The window an earlier sync was paging when it stopped (interrupted, page cap), while its token lives."""
    saved = ctx.state.get(RESUME)
    if not saved:
        return None
    try:
        entry = json.loads(saved)
        fresh = 0 <= ctx.now().timestamp() - float(entry["at"]) < TOKEN_LIFE_S
        ok = entry["kind"] in ("window", "backfill") and isinstance(entry["params"], dict) \
            and isinstance(entry["token"], str) and bool(_TOKEN.fullmatch(entry["token"]))
    except (ValueError, TypeError, KeyError, OverflowError):
        fresh = ok = False
    if not (ok and fresh):
        ctx.state.put(RESUME, None)
        return None
    return (entry["params"], entry["token"]) if entry["kind"] == kind else None


def _window(ctx: SyncContext, http: HttpClient, params: dict[str, Any], end: datetime, *,
            total: int | None = None, done: int = 0, kind: str = "window", token: str | None = None) -> Iterator[Batch]:
    """Every page of one closed window; the last batch carries the window's end as the cursor.

    After each page is stored, its next token is saved (``RESUME``): a sync stopped mid-window (page cap, crash)
    goes on from there next time instead of from the first page. Progress is one unit per page; ``total`` (with
    ``done`` units before the first page) feeds the ETA.
    """
    where = f"GET {ORDERS}"
    options: Options = ctx.options or Options()
    for page, (orders, nxt) in enumerate(_pages(ctx, http, params, token), start=1):
        records: list[Record] = []
        found = catalog.categories(ctx, http, params["marketplaceIds"].split(",")[0], _mfn_asins(orders)) \
            if options.categories else {}
        for i, order in enumerate(orders):
            records += normalize_order(ctx.account.id, order, where, f"page {page}.orders[{i}]", found)
        yield Batch(records, cursor=None if nxt else reports.iso(end), progress=1,
                    total=max(total, done + page) if total else None)
        # runs once the batch above is stored: a resumed sync never skips a page it did not store
        ctx.state.put(RESUME, json.dumps({"kind": kind, "params": params, "token": nxt,
                                          "at": ctx.now().timestamp()}) if nxt else None)


def _mfn_asins(orders: list[Any]) -> set[str]:
    """ASINs of the seller-fulfilled orders of a page: the only ones a per-category metric counts."""
    out: set[str] = set()
    for order in orders:
        fulfillment = order.get("fulfillment") if isinstance(order, dict) else None
        if not isinstance(fulfillment, dict) or fulfillment.get("fulfilledBy") == "AMAZON":
            continue
        for item in order.get("orderItems") or []:
            asin = item.get("product", {}).get("asin") if isinstance(item, dict) and isinstance(
                item.get("product"), dict) else None
            if isinstance(asin, str):
                out.add(asin)
    return out


def fetch_orders(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    options: Options = ctx.options or Options()
    now = ctx.now()
    end = now - timedelta(seconds=options.settle_s)
    ids = marketplace_ids(ctx, http)
    base = {"marketplaceIds": ",".join(ids), "includedData": INCLUDED, "maxResultsPerPage": 100,
            "lastUpdatedBefore": reports.iso(end)}
    if cursor:
        since = _cursor_time(ctx, cursor)
        resumed = _resume(ctx, "window")
        if resumed is not None and resumed[0].get("lastUpdatedAfter") == cursor:
            params, token = resumed  # the window an earlier sync did not finish, with its own end
            yield from _window(ctx, http, params, _cursor_time(ctx, params["lastUpdatedBefore"]), token=token)
            return
        if since >= end:
            return
        yield from _window(ctx, http, {**base, "lastUpdatedAfter": cursor}, end)
        return
    resumed = _resume(ctx, "backfill")
    if resumed is not None:  # the report part was stored; the paged part goes on from its token
        params, token = resumed
        yield from _window(ctx, http, params, _cursor_time(ctx, params["lastUpdatedBefore"]), kind="backfill",
                           token=token)
        return
    start = now - timedelta(days=options.backfill_days)
    if options.backfill == "pages":
        yield from _window(ctx, http, {**base, "lastUpdatedAfter": reports.iso(start)}, end, kind="backfill")
        return
    # Backfill: order-level history from the report (a handful of calls), then pages only for what needs packages.
    report = _report(ctx, http, ORDER_REPORT, ids, start=start, end=end)
    package_from = now - timedelta(days=min(options.package_days, options.backfill_days))
    where, site = f"{ORDER_REPORT} {report.report_id}", ids[0] if len(ids) == 1 else None
    recent_mfn, units = 0, 0  # progress: one unit per 1,000 report orders, then one per page
    with closing(report.document) if report.document is not None else nullcontext(), \
            _forget_on_payload_error(ctx, ORDER_REPORT):
        batch: list[Any] = []
        group: list[dict[str, str]] = []
        rows = reports.flat_file(report.document, ORDER_REPORT, where).rows if report.document is not None else ()
        for row in rows:
            if group and row.get("amazon-order-id") != group[0].get("amazon-order-id"):
                batch += normalize_order_rows(ctx.account.id, group, where, site)
                group = []
                if len(batch) >= BATCH:
                    recent_mfn += _recent_mfn(batch, package_from)
                    units += 1
                    yield Batch(batch, cursor=None, progress=1)
                    batch = []
            group.append(row)
        if group:
            batch += normalize_order_rows(ctx.account.id, group, where, site)
        recent_mfn += _recent_mfn(batch, package_from)
        units += 1
        total = units + max(1, -(-recent_mfn // 100))  # the pages still to read are known now
        yield Batch(batch, cursor=None, progress=1, total=total)
    reports.done(ctx, ORDER_REPORT)
    params = {**base, "lastUpdatedAfter": reports.iso(package_from), "fulfilledBy": "MERCHANT"}
    yield from _window(ctx, http, params, end, total=total, done=units, kind="backfill")


def _cursor_time(ctx: SyncContext, value: Any) -> datetime:
    """A stored cursor (aware ISO 8601, written by this connector); anything else is one clear config error."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        ctx.state.put(RESUME, None)
        raise ConnectorError(f"stored cursor {str(value)[:40]!r} is not a time; reset it with a full re-sync",
                             kind="config", where=f"{MARKETPLACE}: {ctx.account.id}")
    return parsed


def _recent_mfn(orders: list[Any], since: datetime) -> int:
    return sum(1 for o in orders if o.fulfilment == "seller" and (o.updated_at or o.purchased_at) >= since)


# -- reports -----------------------------------------------------------------------------------------------


@contextmanager
def _forget_on_payload_error(ctx: SyncContext, report_type: str) -> Iterator[None]:
    """A document that cannot be read is dropped with the error: the next sync requests a new report instead of
    re-reading the same broken document forever (issue 17 item 7)."""
    try:
        yield
    except ConnectorError as exc:
        if exc.kind != "payload":
            raise
        reports.done(ctx, report_type)
        raise ConnectorError(f"{exc.message}; the next sync requests a new report", kind="payload",
                             where=exc.where, status=exc.status) from None


def _due(ctx: SyncContext, cursor: str | None, report_type: str) -> bool:
    options: Options = ctx.options or Options()
    if ctx.state.get(f"report:{report_type}"):
        return True  # a pending report is always resumed
    if not cursor:
        return True
    try:
        last = datetime.fromisoformat(cursor.replace("Z", "+00:00"))
    except ValueError:
        return True  # an unreadable cursor just means: request the report now
    if last.tzinfo is None or last > ctx.now():
        return True
    return ctx.now() - last >= timedelta(hours=options.report_every_hours)


def fetch_performance(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    if not _due(ctx, cursor, PERFORMANCE_REPORT):
        return
    ids = marketplace_ids(ctx, http)
    report = _report(ctx, http, PERFORMANCE_REPORT, ids)
    now = ctx.now()
    records: list[Record] = []
    if report.document is not None:
        with _forget_on_payload_error(ctx, PERFORMANCE_REPORT):
            try:
                with closing(report.document) as raw:
                    document = json.loads(raw.read())
            except (ValueError, RecursionError):
                raise bad(f"{PERFORMANCE_REPORT} {report.report_id}", "(document)", "not valid JSON") from None
            if not isinstance(document, dict) or not isinstance(document.get("performanceMetrics"), list):
                raise bad(f"{PERFORMANCE_REPORT} {report.report_id}", "performanceMetrics",
                          "missing: not an Account Health document")
            records += normalize_performance(ctx.account.id, document, ids[0], now,
                                             f"{PERFORMANCE_REPORT} {report.report_id}")
            # account status, policy compliance and warning states (amazon_health.py)
            records += health.normalize_health(ctx.account.id, document, ids[0], now,
                                               f"{PERFORMANCE_REPORT} {report.report_id}")
    yield Batch(records, cursor=reports.iso(now), progress=1)
    reports.done(ctx, PERFORMANCE_REPORT)


def fetch_feedback(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    options: Options = ctx.options or Options()
    if not _due(ctx, cursor, FEEDBACK_REPORT):
        return
    ids = marketplace_ids(ctx, http)
    now = ctx.now()
    # a wide window with no end: short windows and explicit ends often come back CANCELLED
    report = _report(ctx, http, FEEDBACK_REPORT, ids, start=now - timedelta(days=options.feedback_days))
    records: list[Record] = []
    if report.document is not None:  # CANCELLED: no data, which is not "no negative feedback"
        where = f"{FEEDBACK_REPORT} {report.report_id}"
        with closing(report.document) as raw, _forget_on_payload_error(ctx, FEEDBACK_REPORT):
            flat = reports.flat_file(raw, FEEDBACK_REPORT, where)
            rows = list(flat.rows)
            # dates follow the language too: German 03.11.26 is 3 November
            records += normalize_feedback_rows(ctx.account.id, rows, where,
                                               options.feedback_day_first or flat.language != "en")
    yield Batch(records, cursor=reports.iso(now), progress=1)
    reports.done(ctx, FEEDBACK_REPORT)


def fetch(ctx: SyncContext, stream: str, cursor: str | None) -> Iterator[Batch]:
    http = client(ctx)
    try:
        if stream == "orders":
            yield from fetch_orders(ctx, http, cursor)
        elif stream == "performance":
            yield from fetch_performance(ctx, http, cursor)
        elif stream == "feedback":
            yield from fetch_feedback(ctx, http, cursor)
        else:
            raise ConnectorError(f"unknown stream '{stream}' (known: {', '.join(STREAMS)})", kind="config",
                                 where="amazon")
    except ConnectorError as exc:
        if exc.kind == "config" and exc.status in (401, 403):
            # a refusal the token may be behind (a role revoked with it, a token Amazon garbled): the next sync
            # starts from a fresh token instead of failing on the same one until it expires
            ctx.state.put("access_token", None)
        raise


def sandbox_account(base_url: str, account_id: str) -> dict[str, Any]:
    """A config entry for the loopback sandbox (these credentials open nothing else)."""
    return {
        "id": account_id,
        "marketplace": MARKETPLACE,
        "base_url": base_url,
        "credentials": {"client_id": "amzn1.application-oa2-client.sandbox", "client_secret": "sbx-secret",
                        "refresh_token": f"Atzr|sbx-{account_id}"},
    }
