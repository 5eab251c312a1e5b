"""TikTok Shop Partner API (202309+ paths): orders, packages/tracking, cancellations, returns, reviews, CS figures.

Auth: the app key and secret from Partner Center plus the seller's refresh token. Access tokens come from
``GET auth.tiktok-shops.com/api/v2/token/refresh`` (a different host from the API); its ``*_expire_in`` fields
are absolute unix times, not durations. A refresh token handed back by TikTok is saved before the new access
token is used. Every API call is signed (``connectors/tiktok_sign.py``) and shop calls carry ``shop_cipher``
(from ``GET /authorization/202309/shops`` unless configured).

TikTok answers most failures with HTTP 200 and ``code != 0`` in the body: ``classify`` sorts those like any
other error (fix the config / wait / bad payload). Orders, cancellations and returns are read incrementally
by update time (``update_time_ge``/``update_time_lt``) with cursor paging (``page_token``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field

from sellerguard.connectors.contract import Batch, SyncContext
from sellerguard.connectors.tiktok_normalize import (
    bad,
    normalize_cancellation,
    normalize_order,
    normalize_return,
    normalize_review,
)
from sellerguard.connectors.tiktok_sign import SignedRequest
from sellerguard.errors import ConnectorError
from sellerguard.http import AccessToken, ErrorRule, HttpClient
from sellerguard.oauth import load_state, refresh_rotating, valid_token
from sellerguard.paginate import walk
from sellerguard.payload import count
from sellerguard.schema import Record, ReportedMetric

MARKETPLACE = "tiktok"
STREAMS = ("orders", "cancellations", "returns", "reviews", "performance")
STREAM_SWITCHES = {"performance": ("performance",), "reviews": ("reviews",)}  # option false -> streams not read
API_URL = "https://open-api.tiktokglobalshop.com"
AUTH_URL = "https://auth.tiktok-shops.com"
PAGE = 100  # page_size maximum of the search calls
SEARCHES = {  # stream -> (path, list key in data)
    "orders": ("/order/202309/orders/search", "orders"),
    "cancellations": ("/return_refund/202309/cancellations/search", "cancellations"),
    "returns": ("/return_refund/202309/returns/search", "return_orders"),
}
REVIEWS_PATH = "/review_rating/202605/product_reviews/search"  # [unverified] third-party use only
PERFORMANCE_PATH = "/customer_service/202407/performance"


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shop_cipher: str | None = None  # default: looked up with GET /authorization/202309/shops
    shop_id: str | None = None  # picks the shop when the authorization covers several
    backfill_days: int = Field(default=90, ge=1, le=3650)
    overlap_s: int = Field(default=300, ge=0)  # search indexes lag writes: re-read this much before the cursor
    reviews: bool = True  # needs the "Reviews and ratings" API package
    performance: bool = False  # needs the customer-service scope (seller.customer_service)
    rate_per_second: float = Field(default=5, gt=0)  # per-endpoint QPS is listed only in Partner Center
    # what "dispatched" means for the late-dispatch rate: US counts the carrier handover, the UK (since
    # 2024-11-04) the Ready-To-Ship mark; default from the account's region
    dispatch_event: Literal["rts", "handover"] | None = None

    def dispatch(self, region: str | None) -> str:
        if self.dispatch_event:
            return self.dispatch_event
        return "handover" if (region or "").upper() == "US" else "rts"


def _code_rule(code: int, message: str, request_id: str, account: str | None = None) -> ErrorRule:
    text = f"TikTok code {code}: {message[:120]}" + (f" (request_id {request_id})" if request_id else "")
    low = message.lower()
    shop = f"the shop of account '{account}'" if account else "the shop"
    if code in (36004001, 36004005) or "refresh_token" in low or "refresh token" in low:  # the refresh token
        return ErrorRule("fail", "config", f"{text}: the refresh token is expired, revoked or unknown;"
                                           f" re-authorize {shop}")
    if code == 36004004:  # the auth host refusing app_key/app_secret, the grant or the code (integrators see all three)
        return ErrorRule("fail", "config", f"{text}: TikTok refused the credentials; check app_key and app_secret,"
                                           f" or re-authorize {shop}")
    token = "access token" in low or "access_token" in low or "token" in low.split()
    if code in (105001, 105002) or (token and ("expired" in low or "invalid" in low or "revoked" in low)):
        return ErrorRule("refresh", "config", f"{text}: the access token was refused; re-authorize {shop} if"
                                              " this persists")
    if code in (105005, 32002017) or "auth pkg" in low or "permission" in low or "scope" in low:
        return ErrorRule("fail", "config", f"{text}: the app lacks the API package (scope) for this call;"
                                           " add it in Partner Center")
    if "sign" in low:
        return ErrorRule("fail", "config", f"{text}: the signature was refused; check app_key and app_secret")
    if "cipher" in low or ("shop" in low and "invalid" in low):
        return ErrorRule("fail", "config", f"{text}: check options.shop_cipher / shop_id")
    if "timestamp" in low:  # the signed timestamp is off by more than TikTok allows (not the token's expiry)
        return ErrorRule("fail", "config", f"{text}: TikTok refused the request time; check this machine's clock")
    if "too many" in low or "rate limit" in low or "frequen" in low or "busy" in low or "timeout" in low \
            or "internal" in low or "system error" in low or "throttl" in low or "qps" in low \
            or "limit exceeded" in low or "unavailable" in low or "try again" in low or "retry later" in low:
        return ErrorRule("retry", "wait", text)
    return ErrorRule("fail", "payload", f"{text}: TikTok refused the request")


def classify(response: requests.Response, account: str | None = None) -> ErrorRule | None:
    """HTTP 200 with ``code != 0`` is an error; 429 and 5xx are left to the status table (retries)."""
    if response.status_code == 429 or response.status_code >= 500:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("code") in (0, "0", None):
        return None
    try:
        code = int(body["code"])
    except (TypeError, ValueError, OverflowError):
        code = -1
    return _code_rule(code, str(body.get("message") or "")[:500], str(body.get("request_id") or "")[:80], account)


def _data(http: HttpClient, response: requests.Response, where: str) -> dict[str, Any]:
    body = http.json(response, where)
    if not isinstance(body, dict):
        raise bad(where, "(root)", f"expected an object, got {type(body).__name__}")
    data = body.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise bad(where, "data", "expected an object")
    return data


def _valid_cached(value: str) -> bool:
    until, _, token = value.partition(":")
    return until.isdigit() and len(until) <= 11 and valid_token(token)


def _cached_token(ctx: SyncContext) -> tuple[str, datetime] | None:
    """``"<unix expiry>:<token>"`` saved by an earlier sync; a garbled value is dropped (fetched again)."""
    saved = load_state(ctx, "access_token", _valid_cached)
    if saved is None:
        return None
    until, _, token = saved.partition(":")
    expires = datetime.fromtimestamp(int(until), UTC)
    return (token, expires) if (expires - ctx.now()).total_seconds() > 300 else None


def _absolute(value: Any, field: str, now: datetime, *, years: int) -> datetime:
    """A ``*_expire_in`` of the token reply: an absolute unix time (G3) in (now, now + ``years``], else a payload
    error (a date string, 1e308, a duration mistaken for a time): nothing of the reply is saved."""
    low, high = now.timestamp(), now.timestamp() + years * 366 * 86400
    ok = isinstance(value, int | float | str) and not isinstance(value, bool)
    try:
        number = float(value) if ok else math.nan
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number) or not low < number <= high:
        raise bad("GET /api/v2/token/refresh", f"data.{field}", f"not a unix time ahead of now: {str(value)[:30]!r}")
    return datetime.fromtimestamp(int(number), UTC)


def _token_fetcher(ctx: SyncContext, app_key: str, app_secret: str, holder: list[AccessToken]) -> Callable[[], Any]:
    acc = ctx.account
    auth = HttpClient(base_url=acc.token_url or acc.base_url or AUTH_URL, marketplace=MARKETPLACE, clock=ctx.clock,
                      sleep=ctx.sleep, classify=lambda r: classify(r, acc.id), max_attempts=3)

    def fetch() -> tuple[str, datetime]:
        cached = _cached_token(ctx) if holder[0].fetches == 0 else None  # never reuse a refused token
        if cached is not None:
            return cached
        found: dict[str, datetime] = {}

        def exchange(refresh_token: str) -> dict[str, Any]:
            params = {"app_key": app_key, "app_secret": app_secret, "refresh_token": refresh_token,
                      "grant_type": "refresh_token"}
            try:
                data = _data(auth, auth.request("GET", "/api/v2/token/refresh", params=params), "token refresh")
            except ConnectorError as exc:
                # TikTok refuses a revoked refresh token or a wrong app secret with a code of kind "config": asking
                # again this run is refused the same way (sync ends the account's other streams; oauth.post_token
                # marks the same for the marketplaces that use it). Kind "wait" (busy, 5xx) is never marked.
                if exc.kind == "config":
                    exc.credential_refused = True  # type: ignore[attr-defined]
                raise
            if not data.get("access_token"):
                raise bad("GET /api/v2/token/refresh", "data.access_token", "missing (nothing was saved)")
            # validated before refresh_rotating saves anything: absolute unix times, not durations (G3)
            found["access"] = _absolute(data.get("access_token_expire_in"), "access_token_expire_in", ctx.now(),
                                        years=1)
            if data.get("refresh_token_expire_in") not in (None, "", 0):
                found["refresh"] = _absolute(data["refresh_token_expire_in"], "refresh_token_expire_in",
                                             ctx.now(), years=200)
            return data

        data = refresh_rotating(ctx, exchange)  # a new refresh token is stored before we use the access token
        if "refresh" in found:
            ctx.state.put("refresh_token_expires_at", str(int(found["refresh"].timestamp())))
        token, expires = str(data["access_token"]), found["access"]
        ctx.state.put("access_token", f"{int(expires.timestamp())}:{token}")
        return token, expires

    return fetch


class Session:
    """One account's signed API access: the HTTP client and the two signers (with and without shop_cipher)."""

    def __init__(self, ctx: SyncContext) -> None:
        acc = ctx.account
        self.ctx = ctx
        self.options: Options = ctx.options or Options()
        app_key = acc.secret("app_key").get_secret_value()
        app_secret = acc.secret("app_secret").get_secret_value()
        base = acc.base_url or API_URL
        self.http = HttpClient(base_url=base, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep,
                               classify=lambda r: classify(r, acc.id))
        holder: list[AccessToken] = []
        token = AccessToken(_token_fetcher(ctx, app_key, app_secret, holder), ctx.clock, margin_s=300)
        holder.append(token)
        self.http.token = token
        self.http.limit("api", self.options.rate_per_second, self.options.rate_per_second)
        base_path = urlsplit(base).path
        self.plain = SignedRequest(app_key, app_secret, ctx.clock, base_path=base_path, access_token=token.get)
        self.shop = SignedRequest(app_key, app_secret, ctx.clock, base_path=base_path, access_token=token.get,
                                  shop_cipher=self.shop_cipher())

    def get(self, path: str, params: dict[str, Any], signer: SignedRequest) -> dict[str, Any]:
        response = self.http.request("GET", path, params=params, auth=signer, bucket="api")
        return _data(self.http, response, f"GET {path}")

    def post(self, path: str, params: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        raw = json.dumps(body, separators=(",", ":")).encode()  # serialised once: these bytes are signed and sent
        response = self.http.request("POST", path, params=params, data=raw, auth=self.shop, bucket="api",
                                     headers={"Content-Type": "application/json"})
        return _data(self.http, response, f"POST {path}")

    def shop_cipher(self) -> str:
        if self.options.shop_cipher:
            return self.options.shop_cipher
        if cached := load_state(self.ctx, "shop_cipher", _valid_cipher):
            return cached
        path = "/authorization/202309/shops"
        shops = self.get(path, {}, self.plain).get("shops")
        if not isinstance(shops, list) or not all(isinstance(s, dict) for s in shops):
            raise bad(f"GET {path}", "data.shops", "expected a list of shops")
        for i, shop in enumerate(shops):  # a garbled entry proves nothing about which shops are authorized
            if not isinstance(shop.get("id"), str | int) or isinstance(shop.get("id"), bool) or shop["id"] == "":
                raise bad(f"GET {path}", f"data.shops[{i}].id", "missing or not an id (nothing was saved)")
            if not _valid_cipher(shop.get("cipher")):
                raise bad(f"GET {path}", f"data.shops[{i}].cipher", "missing or not a shop cipher (nothing was saved)")
        wanted = self.options.shop_id or self.ctx.account.seller_id
        found = [s for s in shops if not wanted or str(s.get("id")) == wanted]
        if len(found) != 1 or not found[0].get("cipher"):
            problem = "no shop matches options.shop_id" if wanted else f"{len(shops)} shops are authorized"
            raise ConnectorError(f"{problem}: set options.shop_id (or options.shop_cipher)", kind="config",
                                 where=f"tiktok: GET {path}")
        cipher = str(found[0]["cipher"])
        self.ctx.state.put("shop_cipher", cipher)
        return cipher

    def search(self, path: str, body: dict[str, Any], sort_field: str = "update_time") -> Iterator[
            tuple[dict[str, Any], bool]]:
        """Cursor paging to the end through the guarded loop (a repeated token or page is a payload error, at most
        ``MAX_PAGES`` pages a run): yields (data, more pages follow)."""
        def fetch_page(token: str | None) -> tuple[list[dict[str, Any]], str | None]:
            params: dict[str, Any] = {"page_size": PAGE, "sort_field": sort_field, "sort_order": "ASC"}
            if token:
                params["page_token"] = token
            data = self.post(path, params, body)
            nxt = data.get("next_page_token")
            if nxt not in (None, "") and (not isinstance(nxt, str) or len(nxt) > 2000):
                raise bad(f"POST {path}", "data.next_page_token", "not a page token")
            return [data], (nxt or None)

        for page in walk(fetch_page, None, marketplace=MARKETPLACE, where=f"POST {path}"):
            yield page.items[0], page.next is not None


def _valid_cipher(value: Any) -> bool:
    """A shop cipher we may save and send: printable ASCII without whitespace, at most 200 characters."""
    return isinstance(value, str) and len(value) <= 200 and valid_token(value)


def _items(data: dict[str, Any], key: str, where: str) -> list[Any]:
    """``data[key]``: TikTok leaves the list out when a search finds nothing (``total_count`` 0), so a missing
    list is empty only when the page says so; otherwise it is a payload error, never an empty page."""
    if key not in data or data[key] is None:
        total = data.get("total_count")
        if total in (0, "0") and not data.get("next_page_token"):
            return []
        raise bad(where, f"data.{key}", "missing (a page without its list is not an empty page)")
    items = data[key]
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise bad(where, f"data.{key}", "expected a list of objects")
    return items


def _check_total(data: dict[str, Any], seen: int, key: str, where: str) -> None:
    """At the last page: fewer records than the search's ``total_count`` is a payload error (the cursor stays), not
    a finished scan. A record gone from a page of an answer that counts them was read as "done" and the cursor moved
    past it for good (issue 18's fuzz, seed 777). More than the count is not checked (records may arrive)."""
    total = count(data.get("total_count"), MARKETPLACE, where, "data.total_count", required=False)
    if total is not None and seen < total:
        raise bad(where, f"data.{key}", f"{seen} records in all pages, fewer than data.total_count {total}")


def fetch_updates(session: Session, stream: str, cursor: str | None) -> Iterator[Batch]:
    """orders / cancellations / returns changed in [cursor - overlap, now)."""
    ctx, options = session.ctx, session.options
    path, key = SEARCHES[stream]
    now = int(ctx.now().timestamp())
    since = int(cursor) - options.overlap_s if cursor and cursor.isdigit() else \
        now - options.backfill_days * 86400
    body = {"update_time_ge": since, "update_time_lt": now}
    newest = since
    where = f"POST {path}"
    offset = 0
    for data, more in session.search(path, body):
        records: list[Record] = []
        for i, item in enumerate(_items(data, key, where)):
            field = f"data.{key}[{offset + i}]"
            if stream == "orders":
                records += normalize_order(ctx.account.id, item, where, field,
                                           dispatch=options.dispatch(ctx.account.region), buyer_key=ctx.buyer_key)
            elif stream == "cancellations":
                if (c := normalize_cancellation(ctx.account.id, item, where, field)) is not None:
                    records.append(c)
            else:
                records.append(normalize_return(ctx.account.id, item, where, field))
            if isinstance(item, dict) and str(item.get("update_time") or "").isdigit():
                newest = max(newest, int(item["update_time"]))
        offset += len(data.get(key) or [])
        if not more:
            _check_total(data, offset, key, where)
        # mid-scan the newest update seen is a safe resume point (results come oldest first); at the end, now
        yield Batch(records, cursor=str(min(newest, now)) if more else str(now), progress=1)


def fetch_reviews(session: Session, cursor: str | None) -> Iterator[Batch]:
    ctx, options = session.ctx, session.options
    if not options.reviews:
        return
    now = ctx.now()
    since = datetime.fromtimestamp(int(cursor), UTC) - timedelta(seconds=options.overlap_s) \
        if cursor and cursor.isdigit() else now - timedelta(days=options.backfill_days)
    body = {"review_start_time": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "review_end_time": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
    newest = int(since.timestamp())
    where = f"POST {REVIEWS_PATH}"
    offset = 0
    try:
        for data, more in session.search(REVIEWS_PATH, body, sort_field="create_time"):
            items = _items(data, "reviews", where)
            ratings = [normalize_review(ctx.account.id, r, where, f"data.reviews[{offset + i}]")
                       for i, r in enumerate(items)]
            offset += len(items)
            if not more:
                _check_total(data, offset, "reviews", where)
            newest = max([newest, *(int(r.rated_at.timestamp()) for r in ratings)])
            yield Batch(list(ratings), cursor=str(newest) if more else str(int(now.timestamp())), progress=1)
    except ConnectorError as exc:
        if exc.kind == "config":
            exc.message += " (or set options.reviews = false)"
            exc.args = (f"{exc.where}: {exc.message}",)
        raise


def _percent(value: Any, where: str, field: str) -> float | None:
    """A percentage ("93.5") as a fraction; absent is "not reported". Text, NaN/Infinity or a value outside
    [0, 100] is a payload error naming the field and the value (cut), never a rate (issue 18)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise bad(where, field, f"not a percentage: {str(value)[:40]!r}")
    try:
        percent = float(value)
    except (ValueError, OverflowError):
        raise bad(where, field, f"not a percentage: {str(value)[:40]!r}") from None
    if not math.isfinite(percent) or not 0 <= percent <= 100:
        raise bad(where, field, f"not a percentage (0..100): {str(value)[:40]!r}")
    return round(percent / 100, 10)


def fetch_performance(session: Session) -> Iterator[Batch]:
    """The customer-service figures TikTok reports (30 days to yesterday), as ReportedMetric records."""
    ctx = session.ctx
    if not session.options.performance:
        return
    today = ctx.now().date()
    start = today - timedelta(days=30)
    data = session.get(PERFORMANCE_PATH, {"support_date_ge": start.isoformat(), "support_date_lt": today.isoformat()},
                       session.shop)
    perf = data.get("performance")
    where = f"GET {PERFORMANCE_PATH}"
    if not isinstance(perf, dict):
        raise bad(where, "data.performance", "expected an object")
    sessions = perf.get("support_session_count")
    window = {"window_start": datetime.combine(start, datetime.min.time(), UTC),
              "window_end": datetime.combine(today, datetime.min.time(), UTC)}
    records: list[Record] = []
    for metric, field in (("tiktok.cs_response_rate", "response_percentage"),
                          ("tiktok.cs_satisfaction_rate", "satisfaction_percentage")):
        value = _percent(perf.get(field), where, f"data.performance.{field}")
        records.append(ReportedMetric(
            account=ctx.account.id, external_id=f"{metric}:{today.isoformat()}", metric_id=metric, value=value,
            denominator=float(sessions) if isinstance(sessions, int | float) else None, as_of=ctx.now(),
            scope="customer_service", **window,
        ))
    yield Batch(records, cursor=None, progress=1)


def fetch(ctx: SyncContext, stream: str, cursor: str | None) -> Iterator[Batch]:
    if stream not in STREAMS:
        raise ConnectorError(f"unknown stream '{stream}' (known: {', '.join(STREAMS)})", kind="config",
                             where="tiktok")
    opts: Options = ctx.options or Options()
    if (stream == "reviews" and not opts.reviews) or (stream == "performance" and not opts.performance):
        return
    session = Session(ctx)
    try:
        if stream in SEARCHES:
            yield from fetch_updates(session, stream, cursor)
        elif stream == "reviews":
            yield from fetch_reviews(session, cursor)
        else:
            yield from fetch_performance(session)
    except ConnectorError as exc:
        # a looked-up shop cipher that TikTok refuses is never kept: the next sync looks it up again
        if exc.kind == "config" and "cipher" in exc.message.lower() and not opts.shop_cipher:
            ctx.state.put("shop_cipher", None)
        raise


def sandbox_account(base_url: str, account_id: str) -> dict[str, Any]:
    """A config entry for the loopback sandbox (these credentials open nothing else)."""
    return {
        "id": account_id,
        "marketplace": MARKETPLACE,
        "region": "US",
        "base_url": base_url,
        "credentials": {"app_key": "sbxappkey", "app_secret": "sbxappsecret",
                        "refresh_token": f"sbx-refresh-{account_id}"},
        "options": {"performance": True},
    }
