"""Etsy Open API v3: shop receipts (orders, shipments, cancellations, refunds) and shop reviews.

Auth: OAuth 2.0 (authorization code + PKCE once, at set-up); each sync refreshes the access token with the
stored refresh token, and Etsy may hand back a new refresh token: it is saved to the account state before the
new access token is used (``sellerguard.oauth.refresh_rotating``). Every call, token calls included, carries
``x-api-key: <keystring>:<shared_secret>`` (required since 2026-01-18; the vendored spec still shows the
keystring alone).

Receipts are read incrementally by ``min_last_modified`` with offset paging. Etsy does NOT bump a receipt's
modified time for cancellations, refunds or ship-by changes (etsy/open-api#604, #232, #513), so each sync also
re-reads every receipt created in the last ``rescan_days`` (the still-open window). Reviews are filtered by
creation time only, so the last ``review_rescan_days`` are re-read to catch edits.

Not in the API, so not pulled: buyer conversations (import them with the canonical import), Star Seller and
customer-service figures (sellerguard computes them), cases, delivery times. See docs/connectors/etsy.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sellerguard.connectors.contract import Batch, SyncContext
from sellerguard.connectors.etsy_normalize import MAX_ID, MIN_TS, bad, normalize_receipt, normalize_review
from sellerguard.errors import ConnectorError
from sellerguard.http import AccessToken, ErrorRule, HttpClient
from sellerguard.oauth import load_access, post_token, refresh_rotating, save_access, token_reply
from sellerguard.paginate import offset_walk
from sellerguard.schema import Record

MARKETPLACE = "etsy"
STREAMS = ("receipts", "reviews")
API_URL = "https://api.etsy.com"  # the spec's servers entry is https://openapi.etsy.com: both serve v3
TOKEN_URL = "https://api.etsy.com/v3/public/oauth/token"
PAGE = 100  # the largest `limit` Etsy accepts
APP = "/v3/application"


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shop_id: int | None = Field(default=None, ge=1)  # default: the shop of the authorizing user (GET /users/me)
    backfill_days: int = Field(default=90, ge=1, le=3650)  # first sync reads receipts modified this far back
    rescan_days: int = Field(default=30, ge=0, le=365)  # receipts created this recently are re-read every sync
    # receipts created this recently that may still change state unseen: cancelled ones are asked for with
    # was_canceled=true (the plain list leaves them out), unshipped ones re-read with was_shipped=false
    open_days: int = Field(default=90, ge=1, le=365)
    timezone: str | None = None  # the shop's IANA zone, stored as seller_timezone (ship-by dates are UTC days)
    review_rescan_days: int = Field(default=14, ge=0, le=365)
    overlap_s: int = Field(default=300, ge=0)  # cursor overlap: receipts written late still get read
    rate_per_second: float = Field(default=5, gt=0)  # below the QPS on the app's "Your Apps" page

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"{v!r} is not an IANA time zone (e.g. America/New_York)") from None
        return v


ERRORS: dict[int | str, ErrorRule] = {
    400: ErrorRule("fail", "payload", "Etsy rejected the request as malformed"),
    401: ErrorRule("refresh", "config", "Etsy rejected the access token: re-authorize the app (OAuth)"),
    403: ErrorRule("fail", "config", "Etsy refused access: the app lacks the transactions_r scope, or x-api-key is"
                                     " not '<keystring>:<shared_secret>'"),
    404: ErrorRule("fail", "config", "Etsy does not know this shop: check options.shop_id"),
    429: ErrorRule("retry", "wait", "Etsy rate limit reached (per second or per day)"),
}


def token_errors(account: str) -> dict[int | str, ErrorRule]:
    """The token endpoint's refusals, naming the account to re-authorize."""
    return {
        400: ErrorRule("fail", "config", f"Etsy refused the refresh token of account {account} (invalid_grant:"
                                         " unused for 90 days, or the seller revoked the app): re-authorize it"
                                         " (docs/connectors/etsy.md, Set-up)"),
        401: ErrorRule("fail", "config", f"Etsy refused the app's keystring (account {account}): check credentials"
                                         " keystring and shared_secret"),
    }


def _classify(response: requests.Response) -> ErrorRule | None:
    """403s that name the API key problem get a message that says exactly what to fix."""
    if response.status_code != 403:
        return None
    try:
        text = str(response.json().get("error", ""))
    except (ValueError, AttributeError):
        return None
    if "shared secret" in text.lower() or "keystring" in text.lower() or "api key" in text.lower():
        return ErrorRule("fail", "config", "Etsy refused the x-api-key header: set credentials keystring and"
                                           " shared_secret from the app's Your Apps page")
    return None


def _on_response(client: HttpClient) -> Any:
    def follow(bucket: str | None, response: requests.Response) -> None:
        limit = response.headers.get("x-limit-per-second")
        if bucket in client.limits and limit and limit.isdigit():
            client.limits[bucket].set_rate(min(float(limit), client.limits[bucket].rate))

    return follow


def client(ctx: SyncContext) -> HttpClient:
    acc = ctx.account
    keystring = acc.secret("keystring").get_secret_value()
    api_key = f"{keystring}:{acc.secret('shared_secret').get_secret_value()}"
    http = HttpClient(base_url=acc.base_url or API_URL, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep,
                      errors=ERRORS, classify=_classify, headers={"x-api-key": api_key})
    token_url = acc.token_url or (acc.base_url.rstrip("/") + "/v3/public/oauth/token" if acc.base_url else TOKEN_URL)

    # the token endpoint's own refusals (a 400 there is a dead refresh token, not a malformed call)
    token_http = HttpClient(base_url=token_url, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep,
                            session=http.session, errors=token_errors(acc.id))

    def fetch_token() -> tuple[str, Any]:
        # a stored token is tried first, but never again after Etsy rejected one (401 -> refetch)
        if token.fetches == 0 and (cached := load_access(ctx, "access_token", margin_s=120)) is not None:
            return cached

        def exchange(refresh_token: str) -> dict[str, Any]:
            form = {"grant_type": "refresh_token", "client_id": keystring, "refresh_token": refresh_token}
            return post_token(token_http, token_url, form, headers={"x-api-key": api_key})

        payload = refresh_rotating(ctx, exchange)  # validated whole; a rotated refresh token is saved first
        reply = token_reply(payload, MARKETPLACE, ctx.now(), 3600)
        save_access(ctx, "access_token", reply.access_token, reply.expires_at)
        return reply.access_token, reply.expires_at

    token = AccessToken(fetch_token, ctx.clock)
    http.token = token
    http.auth = lambda headers: headers.update({"Authorization": f"Bearer {token.get()}"})
    options: Options = ctx.options or Options()
    http.limit("api", options.rate_per_second, options.rate_per_second)
    http.on_response = _on_response(http)
    return http


def shop_id(ctx: SyncContext, http: HttpClient) -> int:
    options: Options = ctx.options or Options()
    if options.shop_id:
        return options.shop_id
    if (known := ctx.state.get("shop_id")) and known.isdigit() and 0 < int(known) <= MAX_ID:
        return int(known)
    me = http.get_json(f"{APP}/users/me", bucket="api")
    found = me.get("shop_id") if isinstance(me, dict) else None
    if isinstance(me, dict) and isinstance(me.get("user_id"), int) and found is None:
        # the answer proves it: a user without a shop
        raise ConnectorError("this Etsy user has no shop: set options.shop_id", kind="config",
                             where=f"etsy: GET {APP}/users/me")
    if isinstance(found, bool) or not isinstance(found, int) or not 0 < found <= MAX_ID:
        raise bad(f"GET {APP}/users/me", "shop_id", f"not a shop id: {str(found)[:40]!r}")
    ctx.state.put("shop_id", str(found))
    return found


MAX_PAGES = 1000  # 100,000 receipts per list per run; a marketplace bug cannot loop forever


def _pages(http: HttpClient, path: str, params: dict[str, Any]) -> Iterator[tuple[list[Any], int]]:
    """Offset paging to the end (``paginate.offset_walk``): yields (results, offset of the first result).

    A body without ``results`` is a payload error (never "no receipts"); a short page while ``count`` says more
    remain is not the end; the same page twice (``offset`` ignored) is a payload error and after MAX_PAGES pages
    the run stops, saying where.
    """
    where = f"GET {path}"

    def fetch(at: int, limit: int) -> tuple[list[Any], int | None]:
        body = http.get_json(path, params={**params, "limit": limit, "offset": at}, bucket="api")
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise bad(where, "results", "missing or not a list")
        count = body.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise bad(where, "count", f"not a count: {str(count)[:40]!r}")
        last_count[0] = count
        return body["results"], count

    # Distinct results against the last page's count: one result gone from a page shifts the next offset by one,
    # so the next page serves a result again and offset_walk reaches the count with one never read (issue 18's
    # fuzz, seed 777: a receipt lost until the open-window re-scan). A result served twice is counted once.
    last_count: list[int | None] = [None]
    distinct: set[bytes] = set()
    for page in offset_walk(fetch, PAGE, marketplace=MARKETPLACE, where=where, max_pages=MAX_PAGES):
        distinct.update(hashlib.blake2b(json.dumps(item, sort_keys=True, default=str).encode("utf-8", "surrogatepass"),
                                        digest_size=16).digest() for item in page.items)  # 16 B each, not the JSON
        if page.next is None and last_count[0] is not None and len(distinct) < last_count[0]:
            raise bad(where, "results", f"{len(distinct)} distinct results in all pages, fewer than count "
                                        f"{last_count[0]} (a page lost one; nothing of this page is stored)")
        yield list(page.items), page.state or 0


def _receipt_batches(ctx: SyncContext, http: HttpClient, path: str, params: dict[str, Any],
                     cursor_of: Any) -> Iterator[Batch]:
    where = f"GET {path}"
    options: Options = ctx.options or Options()
    for results, offset in _pages(http, path, params):
        records: list[Record] = []
        for i, receipt in enumerate(results):
            records += normalize_receipt(ctx.account.id, receipt, where, f"results[{offset + i}]",
                                         buyer_key=ctx.buyer_key, zone_name=options.timezone)
        yield Batch(records, cursor=cursor_of(results), progress=1)


def fetch_receipts(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    options: Options = ctx.options or Options()
    now = ctx.now()
    shop = shop_id(ctx, http)
    path = f"{APP}/shops/{shop}/receipts"
    if cursor and cursor.isdigit() and MIN_TS <= int(cursor) <= int(now.timestamp()) + 86400:
        since = int(cursor) - options.overlap_s
    else:
        if cursor:
            ctx.log.warning("%s: receipts cursor %r is not a plausible time: re-reading the backfill window",
                            ctx.account.id, cursor[:40])
            cursor = None
        since = int((now - timedelta(days=options.backfill_days)).timestamp())
    newest = [int(cursor) if cursor else since]

    def advance(results: list[Any]) -> str:
        for r in results:
            ts = r.get("updated_timestamp", r.get("update_timestamp")) if isinstance(r, dict) else None
            if isinstance(ts, int) and not isinstance(ts, bool) and ts > newest[0]:
                newest[0] = ts
        return str(min(newest[0], int(now.timestamp())))

    params = {"min_last_modified": max(since, MIN_TS), "sort_on": "updated", "sort_order": "asc"}
    yield from _receipt_batches(ctx, http, path, params, advance)
    # State changes the modified-time list does not show (the cursor stays with the list above):
    # - refunds and ship-by changes leave updated_timestamp alone (etsy/open-api#604, #232, #513)
    rescan_from = int((now - timedelta(days=options.rescan_days)).timestamp())
    if options.rescan_days and since > rescan_from:
        params = {"min_created": max(rescan_from, MIN_TS), "sort_on": "created", "sort_order": "asc"}
        yield from _receipt_batches(ctx, http, path, params, lambda results: None)
    # - cancelled receipts are left out of the list unless asked for (etsy/open-api#153), and a receipt read
    #   as paid that is cancelled later never shows up again: ask for them, and re-read what is still open
    open_from = max(int((now - timedelta(days=options.open_days)).timestamp()), MIN_TS)
    for extra in ({"was_canceled": "true"}, {"was_shipped": "false", "was_canceled": "false"}):
        params = {"min_created": open_from, "sort_on": "created", "sort_order": "asc", **extra}
        yield from _receipt_batches(ctx, http, path, params, lambda results: None)


def fetch_reviews(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    options: Options = ctx.options or Options()
    now = ctx.now()
    shop = shop_id(ctx, http)
    path = f"{APP}/shops/{shop}/reviews"
    edits_from = int((now - timedelta(days=options.review_rescan_days)).timestamp())
    if cursor and not (cursor.isdigit() and MIN_TS <= int(cursor) <= int(now.timestamp()) + 86400):
        ctx.log.warning("%s: reviews cursor %r is not a plausible time: re-reading the backfill window",
                        ctx.account.id, cursor[:40])
        cursor = None
    if cursor and cursor.isdigit():
        since = min(int(cursor) - options.overlap_s, edits_from)
    else:
        since = int((now - timedelta(days=options.backfill_days)).timestamp())
    newest = int(cursor) if cursor and cursor.isdigit() else since
    for results, offset in _pages(http, path, {"min_created": max(since, 946684800)}):
        ratings = [normalize_review(ctx.account.id, r, f"GET {path}", f"results[{offset + i}]")
                   for i, r in enumerate(results)]
        newest = max([newest, *(int(r.rated_at.timestamp()) for r in ratings)])
        yield Batch(list(ratings), cursor=str(min(newest, int(now.timestamp()))), progress=1)


def fetch(ctx: SyncContext, stream: str, cursor: str | None) -> Iterator[Batch]:
    if stream not in STREAMS:
        raise ConnectorError(f"unknown stream '{stream}' (known: {', '.join(STREAMS)})", kind="config",
                             where="etsy")
    http = client(ctx)
    try:
        yield from (fetch_receipts if stream == "receipts" else fetch_reviews)(ctx, http, cursor)
    except ConnectorError as exc:
        # a shop id read from users/me that Etsy then refuses ("does not own this shop", no such shop) is dropped,
        # so the next sync reads it again instead of failing on it forever
        if exc.status in (403, 404) and ctx.state.get("shop_id") and not (ctx.options and ctx.options.shop_id):
            ctx.state.put("shop_id", None)
        raise


def sandbox_account(base_url: str, account_id: str) -> dict[str, Any]:
    """A config entry for the loopback sandbox (these credentials open nothing else)."""
    return {
        "id": account_id,
        "marketplace": MARKETPLACE,
        "base_url": base_url,
        "credentials": {"keystring": "sbxkeystring", "shared_secret": "sbxsecret",
                        "refresh_token": f"sbx-refresh-{account_id}"},
    }
