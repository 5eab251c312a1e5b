"""Mercado Libre (all sites: MLA, MLB, MLM, MLC, MCO, MLU, ...): orders, shipments, cancellations, claims,
buyer questions and post-sale messages, and the seller reputation Mercado Libre computes itself (with the account
status: may the seller sell and list, ``mercadolibre_status``).

Auth is OAuth 2.0 with single-use refresh tokens: every refresh returns a new refresh token and kills the
old one. So a refresh runs under the account's lock (``ctx.lock``, which holds across processes), re-reads
the stored tokens inside the lock (another process may just have refreshed: then its access token is used),
and saves the new refresh token before the new access token is used. Access tokens (6 hours) are cached
in the account's state and shared by every sync.

Orders are searched by ``order.date_last_updated.from/.to`` (the look-alike ``order.last_updated.from`` is
silently ignored by the API) with offset paging; a window with more orders than the deepest offset is split
in two. Normalization lives in ``mercadolibre_normalize``. Facts and sources: docs/connectors/mercadolibre.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sellerguard.connectors import mercadolibre_status as account_status
from sellerguard.connectors.contract import Batch, SyncContext
from sellerguard.connectors.mercadolibre_normalize import (
    normalize_claim,
    normalize_order,
    normalize_pack_messages,
    normalize_question,
    normalize_reputation,
    pack_id,
    payload_error,
    shipment_id,
    when,
)
from sellerguard.errors import ConnectorError
from sellerguard.http import AccessToken, ErrorRule, ExpiredShape, HttpClient, PooledSession, concurrently
from sellerguard.oauth import (
    expires_at,
    load_access,
    load_state,
    post_token,
    save_access,
    token_reply,
    valid_id,
    valid_token,
)
from sellerguard.paginate import DeepOffset, by_offset, dig
from sellerguard.payload import count
from sellerguard.schema import Order, Record

MARKETPLACE = "mercadolibre"
STREAMS = ("orders", "claims", "messages", "reputation")
API = "https://api.mercadolibre.com"
MAX_OFFSET = 10_000  # /orders/search refuses deeper offsets: split the date window instead
QUESTIONS_MAX_OFFSET = 1000  # /questions/search is read newest first to this depth (no date filter is known)
ACCESS_STATE = "access_token"  # "<expiry ISO> <token>"
REFRESH_STATE = "refresh_token"
OPEN_STATE = "open_orders"  # {order id: ship-by ISO} of orders stored unshipped, read again near their deadline

ERRORS: dict[int | str, ErrorRule] = {
    400: ErrorRule("fail", "payload", "Mercado Libre rejected the request"),
    401: ErrorRule("refresh", "config", "Mercado Libre refused the access token (invalid_token): re-authorize the"
                                        " app if this persists"),
    403: ErrorRule("fail", "config", "access denied: the app lacks a scope, or the resource belongs to another"
                                     " seller"),
    404: ErrorRule("fail", "config", "Mercado Libre does not know this resource (HTTP 404 on the path named)"),
    429: ErrorRule("retry", "wait", "rate limited by Mercado Libre"),
}
# How Mercado Libre says "this access token is dead" (besides any 401): integrators report
# 401 {"message": "invalid_token", "error": "not_found"} (mercadolibre/api#69, iphousehq/mercadolibre-net-sdk#6),
# 401 {"code": "unauthorized", "message": "invalid access token"} (ctmil/meli_oerp#112) and the same words on 403.
EXPIRED = (ExpiredShape(status=401), ExpiredShape(status=403, text="invalid access token"),
           ExpiredShape(status=403, text="invalid_token"), ExpiredShape(status=403, text="expired_token"))


def token_errors(account: str) -> dict[int | str, ErrorRule]:
    """The token endpoint's refusals, naming the account to re-authorize."""
    return {
        400: ErrorRule("fail", "config", f"the refresh token of account '{account}' was refused (invalid_grant:"
                                         " expired, revoked or already used): re-authorize the app for this seller"),
        401: ErrorRule("fail", "config", f"the client id or secret of account '{account}' was refused"
                                         " (invalid_client)"),
        403: ErrorRule("fail", "config", f"the app may not act for account '{account}' (unauthorized_client):"
                                         " re-authorize the app for this seller"),
        429: ErrorRule("retry", "wait", "the token endpoint is rate limited (local_rate_limited)"),
    }


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backfill_days: int = Field(default=90, ge=1, le=365)  # the first sync reaches this far back
    overlap_minutes: int = Field(default=10, ge=0)  # re-read before the cursor: late index updates
    page_size: int = Field(default=50, ge=1, le=50)
    seller_filter: bool = True  # send seller=<id> with date filters (some integrators report 400/403 with it)
    slice_days: int = Field(default=7, ge=1, le=365)  # a backfill is read (and checkpointed) this many days at a time
    reread_hours: float = Field(default=12, ge=0)  # open orders due within this many hours are read again
    reread_max: int = Field(default=300, ge=0, le=5000)  # at most this many order re-reads per sync
    message_days: int = Field(default=14, ge=0, le=90)  # post-sale messages of orders bought this recently
    questions: bool = True  # buyers' pre-sale questions count as messages to answer
    reputation_every_hours: float = Field(default=6, gt=0)  # Mercado Libre recomputes it daily
    requests_per_second: float = Field(default=10, gt=0)  # own pacing; limits are per app and mostly unpublished
    messages_per_minute: float = Field(default=500, gt=0)  # GET /messages/*: 500 rpm per app (documented)


def _options(ctx: SyncContext) -> Options:
    return ctx.options if isinstance(ctx.options, Options) else Options()


def _iso(dt: datetime) -> str:
    """Mercado Libre's query dates: ISO 8601 with milliseconds and an offset."""
    return dt.isoformat(timespec="milliseconds")


def stored_access(ctx: SyncContext, *, not_this: str | None = None) -> tuple[str, datetime] | None:
    """The access token saved by any sync of this account, if it has a few minutes left (a garbled one is
    dropped and fetched again)."""
    found = load_access(ctx, ACCESS_STATE, margin_s=300)
    if found is None or found[0] == not_this:
        return None
    return found


def _lifetime_or_default(ctx: SyncContext, body: Any) -> Any:
    """A reply whose ``expires_in`` is not a number of seconds (a date, 1e308, NaN) still carries the single-use
    chain: keep its tokens and assume the documented 6 hours rather than lose the new refresh token."""
    if not isinstance(body, dict) or body.get("expires_in") in (None, ""):
        return body
    try:
        expires_at(ctx.now(), body["expires_in"], marketplace=MARKETPLACE)
    except ConnectorError:
        ctx.log.warning("%s: Mercado Libre sent expires_in %r; assuming 6 hours", ctx.account.id,
                        str(body["expires_in"])[:30])
        return {**body, "expires_in": None}
    return body


def refresh_access(ctx: SyncContext, http: HttpClient, token_url: str, rejected: str | None) -> tuple[str, datetime]:
    """One refresh for this account at a time, across processes. The reply is validated whole before anything is
    saved; then the new (single-use) refresh token is saved, then the access token, before either is used."""
    lock = ctx.lock("oauth") if ctx.lock is not None else nullcontext()
    with lock:
        fresh = stored_access(ctx, not_this=rejected)
        if fresh is not None:  # another sync refreshed while we waited for the lock
            return fresh
        acc = ctx.account
        current = load_state(ctx, REFRESH_STATE, valid_token) or acc.secret("refresh_token").get_secret_value()
        form = {
            "grant_type": "refresh_token",
            "client_id": acc.secret("client_id").get_secret_value(),
            "client_secret": acc.secret("client_secret").get_secret_value(),
            "refresh_token": current,
        }
        token_http = HttpClient(base_url=token_url, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep,
                                errors=token_errors(acc.id), session=http.session)
        body = post_token(token_http, token_url, form, headers={"Accept": "application/json"})
        # a reply without a valid access token (or with a garbled refresh token) saves nothing: the single-use
        # refresh token is only replaced together with a working access token
        reply = token_reply(_lifetime_or_default(ctx, body), MARKETPLACE, ctx.now(), default_s=21600)
        if reply.refresh_token and reply.refresh_token != current:
            ctx.state.put(REFRESH_STATE, reply.refresh_token)  # before anything uses the new access token
        elif not reply.refresh_token:
            ctx.log.warning("%s: Mercado Libre sent no new refresh token (is offline_access granted?)", acc.id)
        save_access(ctx, ACCESS_STATE, reply.access_token, reply.expires_at)
        return reply.access_token, reply.expires_at


def make_client(ctx: SyncContext) -> HttpClient:
    opts = _options(ctx)
    acc = ctx.account
    base = acc.base_url or API
    token_url = acc.token_url or base.rstrip("/") + "/oauth/token"
    session = PooledSession()  # keep-alive, proxies resolved once per host (issue 21)
    used: dict[str, str | None] = {"last": None}

    def fetch_token() -> tuple[str, datetime]:
        # First use: a token saved by an earlier sync. After a 401 the rejected token is never reused.
        rejected = used["last"] if token.fetches else None
        cached = stored_access(ctx, not_this=rejected)
        if cached is None:
            cached = refresh_access(ctx, http, token_url, rejected)
        used["last"] = cached[0]
        return cached

    token = AccessToken(fetch_token, ctx.clock, margin_s=300)

    def auth(headers: dict[str, str]) -> None:
        headers["Authorization"] = f"Bearer {token.get()}"  # the query-string form is no longer accepted
        headers.setdefault("Accept", "application/json")

    http = HttpClient(base_url=base, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep, auth=auth,
                      token=token, errors=ERRORS, session=session, expired=EXPIRED)
    http.limit("messages", rate=opts.messages_per_minute / 60, burst=20)
    http.limit("default", rate=opts.requests_per_second, burst=20)  # integrators see throttling at ~5-7 writes/s
    return http


def seller(ctx: SyncContext, http: HttpClient) -> tuple[str, str | None]:
    """(seller id, site id): from the config when given, else ``/users/me``."""
    if ctx.account.seller_id and ctx.account.region:
        return ctx.account.seller_id, ctx.account.region
    me = http.get_json("/users/me", bucket="default")
    if not isinstance(me, dict) or me.get("id") in (None, ""):
        raise payload_error("/users/me", "id", "missing")
    if not valid_id(me["id"]) or not str(me["id"]).isdigit():  # a user id is a 64-bit whole number
        raise payload_error("/users/me", "id", f"not a user id: {str(me['id'])[:30]!r}")
    site = me.get("site_id")
    if site is not None and not (isinstance(site, str) and site.isascii() and site.isalpha() and len(site) <= 4):
        raise payload_error("/users/me", "site_id", f"not a site id: {str(site)[:30]!r}")
    return ctx.account.seller_id or str(me["id"]), ctx.account.region or site


def _window_start(ctx: SyncContext, cursor: str | None, opts: Options) -> datetime:
    if not cursor:
        return ctx.now() - timedelta(days=opts.backfill_days)
    try:
        return datetime.fromisoformat(cursor) - timedelta(minutes=opts.overlap_minutes)
    except ValueError:
        raise ConnectorError(f"stored cursor {cursor[:40]!r} is not a time; reset it with a full re-sync",
                             kind="config", where=f"{MARKETPLACE}: {ctx.account.id}") from None


def _search_page(http: HttpClient, params: dict[str, str], offset: int, limit: int) -> tuple[list[Any], int | None]:
    body = http.get_json("/orders/search", params={**params, "offset": str(offset), "limit": str(limit)},
                         bucket="default")
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise payload_error("/orders/search", "results", "missing or not a list")
    return results, count(dig(body, "paging", "total"), MARKETPLACE, "/orders/search", "paging.total",
                          required=False)


class _WindowMoved(Exception):
    """``paging.total`` of a later page is below the first page's: orders left the window while it was paged."""


def search_orders(http: HttpClient, seller_id: str, opts: Options, start: datetime, end: datetime,
                  field: str = "date_last_updated", *, again: bool = True) -> Iterator[list[Any]]:
    """Pages of orders whose ``field`` falls in [start, end]; a window deeper than MAX_OFFSET is halved.

    An order updated while the window is paged leaves it (its ``date_last_updated`` moves past ``end``) and every
    later order shifts one offset down: one would be skipped and the cursor would move past it. A shrinking
    ``paging.total`` therefore restarts the window once (records are upserted, so pages read twice are harmless);
    shrinking again is a ``wait`` error and the cursor stays at the window's start.
    """
    params = {f"order.{field}.from": _iso(start), f"order.{field}.to": _iso(end), "sort": "date_asc"}
    if opts.seller_filter:
        params["seller"] = seller_id
    first, total = _search_page(http, params, 0, opts.page_size)
    if total is not None and total > MAX_OFFSET and end - start > timedelta(minutes=1):
        middle = start + (end - start) / 2
        yield from search_orders(http, seller_id, opts, start, middle, field)
        yield from search_orders(http, seller_id, opts, middle, end, field)
        return
    pages = iter([first])

    def fetch_page(offset: int, limit: int) -> tuple[list[Any], int | None]:
        if offset == 0:
            return next(pages), total
        items, now_total = _search_page(http, params, offset, limit)
        if total is not None and now_total is not None and now_total < total:
            raise _WindowMoved
        return items, now_total

    try:
        yield from (list(p) for p in by_offset(fetch_page, opts.page_size, max_offset=MAX_OFFSET,
                                                     marketplace=MARKETPLACE, where="/orders/search"))
    except _WindowMoved:
        if not again:
            raise ConnectorError(f"orders changed while {_iso(start)}..{_iso(end)} was paged (paging.total fell"
                                 f" below {total}); the next sync reads this window again", kind="wait",
                                 where=f"{MARKETPLACE}: /orders/search") from None
        yield from search_orders(http, seller_id, opts, start, end, field, again=False)


def _shipment(http: HttpClient, order: Any, cache: dict[str, dict[str, Any] | None] | None = None
              ) -> dict[str, Any] | None:
    """The order's shipment (``x-format-new``); ``cache`` keeps one read per shipment for the orders of a pack."""
    sid = shipment_id(order) if isinstance(order, dict) else None
    if sid is None:
        return None
    if cache is not None and sid in cache:
        return cache[sid]
    body = _read_shipment(http, sid)
    if cache is not None:
        if len(cache) >= 1000:  # bounded: pack orders are bought together and arrive close to each other
            cache.clear()
        cache[sid] = body
    return body


DETAIL_WORKERS = 4  # shipment reads in flight per page; the "default" bucket still paces every call


def _read_shipments(http: HttpClient, orders: list[Any], cache: dict[str, dict[str, Any] | None]) -> None:
    """Read the shipments of ``orders`` not in ``cache`` yet, once each (a pack's orders share one), up to
    ``DETAIL_WORKERS`` at a time; ``_shipment`` then finds them in the cache."""
    wanted: list[str] = []
    for raw in orders:
        sid = shipment_id(raw) if isinstance(raw, dict) else None
        if sid is not None and sid not in cache and sid not in wanted:
            wanted.append(sid)
    if len(cache) + len(wanted) > 1000:  # bounded: pack orders are bought together and arrive close together
        cache.clear()
    cache.update(zip(wanted, concurrently(lambda sid: _read_shipment(http, sid), wanted, DETAIL_WORKERS),
                     strict=True))


def _unchanged(raw: Any, stored: dict[str, datetime]) -> bool:
    """A listed order stored at its ``date_last_updated`` (the window's overlap lists it again): nothing to read."""
    if not isinstance(raw, dict) or str(raw.get("id")) not in stored:
        return False
    updated = raw.get("date_last_updated") or raw.get("last_updated")
    try:
        return when(updated, "date_last_updated", "/orders/search", required=False) == stored[str(raw["id"])]
    except ConnectorError:
        return False  # normalize_order names what is wrong with it


def _read_shipment(http: HttpClient, sid: str) -> dict[str, Any] | None:
    try:
        body = http.get_json(f"/shipments/{sid}", headers={"x-format-new": "true"}, bucket="default")
    except ConnectorError as exc:
        if exc.status == 404:  # a shipment withdrawn with its cancelled order: the order stands alone
            return None
        raise
    if not isinstance(body, dict):
        raise payload_error("/shipments/{id}", "(root)", "not an object")
    return body


def _slices(start: datetime, end: datetime, days: int) -> Iterator[tuple[datetime, datetime]]:
    """[start, end] cut into windows of ``days``: each finished window is a safe resume point."""
    while start < end:
        stop = min(start + timedelta(days=days), end)
        yield start, stop
        start = stop


def _open_orders(ctx: SyncContext) -> dict[str, str]:
    """State ``open_orders``: {order id: ship-by ISO} of seller orders stored unshipped; garbled -> dropped."""
    def valid(raw: str) -> bool:
        data = json.loads(raw)
        return isinstance(data, dict) and all(isinstance(k, str) and k.isdigit() and len(k) < 30 and
                                              isinstance(v, str) and datetime.fromisoformat(v).tzinfo
                                              for k, v in data.items())
    raw = load_state(ctx, OPEN_STATE, valid)
    return json.loads(raw) if raw else {}


def _track(open_: dict[str, str], records: list[Record]) -> None:
    for r in records:
        if isinstance(r, Order):
            if r.status in ("unshipped", "pending") and r.fulfilment == "seller" and r.ship_by is not None:
                open_[r.external_id] = r.ship_by.isoformat()
            else:
                open_.pop(r.external_id, None)


def fetch_orders(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    """Orders changed since the cursor, a window of ``slice_days`` at a time (each finished window is the
    cursor: an interrupted backfill resumes there); an order already stored at its ``date_last_updated`` is
    skipped, the others' shipments read ``DETAIL_WORKERS`` at a time. Then the orders still open whose ship-by
    is near or past are read again one by one: a shipment's progress does not always change the order's
    ``date_last_updated``."""
    opts = _options(ctx)
    seller_id, site = seller(ctx, http)
    now = ctx.now()
    shipments: dict[str, dict[str, Any] | None] = {}  # a pack's orders share one shipment: read it once
    open_ = _open_orders(ctx)
    seen: set[str] = set()
    for lo, hi in _slices(_window_start(ctx, cursor, opts), now, opts.slice_days):
        for page in search_orders(http, seller_id, opts, lo, hi):
            stored = ctx.stored_updates("order", [str(raw.get("id")) for raw in page if isinstance(raw, dict)])
            changed = [raw for raw in page if not _unchanged(raw, stored)]
            _read_shipments(http, changed, shipments)
            records: list[Record] = []
            for raw in changed:
                records.extend(normalize_order(ctx.account.id, raw, _shipment(http, raw, shipments), site,
                                               buyer_key=ctx.buyer_key))
            _track(open_, records)
            seen.update(r.external_id for r in records if isinstance(r, Order))
            yield Batch(records, None, progress=len(page))
        yield Batch([], hi.isoformat())  # this window is complete: resume from its end
    due = sorted((at, oid) for oid, at in open_.items()
                 if oid not in seen and datetime.fromisoformat(at) <= now + timedelta(hours=opts.reread_hours))
    for at, oid in due[-opts.reread_max:]:  # the most recent deadlines first to go, when there are too many
        if datetime.fromisoformat(at) < now - timedelta(days=14):
            open_.pop(oid, None)  # long overdue: the search shows it when it finally changes
            continue
        try:
            raw = http.get_json(f"/orders/{oid}", bucket="default")
        except ConnectorError as exc:
            if exc.status in (403, 404):  # gone or no longer this seller's: nothing left to watch
                open_.pop(oid, None)
                continue
            raise
        records = normalize_order(ctx.account.id, raw, _shipment(http, raw, shipments), site,
                                  buyer_key=ctx.buyer_key)
        _track(open_, records)
        yield Batch(records, None, progress=1)
    if len(open_) > 5000:  # bounded state: keep the latest deadlines
        open_ = dict(sorted(open_.items(), key=lambda kv: kv[1])[-5000:])
    ctx.state.put(OPEN_STATE, json.dumps(open_, separators=(",", ":")))


def fetch_claims(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    """Claims where this seller is the respondent, newest change first, down to the cursor."""
    opts = _options(ctx)
    seller_id, _ = seller(ctx, http)
    now, start = ctx.now(), _window_start(ctx, cursor, opts)
    ep = "/post-purchase/v1/claims/search"
    params = {"players.role": "respondent", "players.user_id": seller_id, "sort": "last_updated:desc",
              "range": f"last_updated:after:{_iso(start)}"}
    done = False

    def fetch_page(offset: int, limit: int) -> tuple[list[Any], int | None]:
        body = http.get_json(ep, params={**params, "offset": str(offset), "limit": str(limit)}, bucket="default")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise payload_error(ep, "data", "missing or not a list")
        return data, count(dig(body, "paging", "total"), MARKETPLACE, ep, "paging.total", required=False)

    for page in by_offset(fetch_page, 30, marketplace=MARKETPLACE, where=ep):
        records: list[Record] = []
        for raw in page:
            claim = normalize_claim(ctx.account.id, raw)
            changed = when(raw.get("last_updated"), "last_updated", ep, required=False) or claim.opened_at
            if changed < start:
                done = True  # the range filter is unverified: stop at the cursor ourselves
                break
            records.append(claim)
        yield Batch(records, None, progress=len(page))
        if done:
            break
    yield Batch([], now.isoformat())


def fetch_messages(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    """Post-sale messages of recent orders' packs, and pre-sale questions. Re-read each time: answers arrive
    after the question, and the API has no "changed since" filter for either."""
    opts = _options(ctx)
    seller_id, _ = seller(ctx, http)
    now = ctx.now()
    since = now - timedelta(days=opts.message_days)
    seen: set[str] = set()
    for page in search_orders(http, seller_id, opts, since, now, field="date_created"):
        records: list[Record] = []
        for order in page:
            if not isinstance(order, dict) or order.get("id") is None:
                raise payload_error("/orders/search", "results[].id", "missing")
            pack = pack_id(order)
            if pack in seen:
                continue
            seen.add(pack)
            order_ref = None if order.get("pack_id") else str(order["id"])
            records.extend(normalize_pack_messages(ctx.account.id, pack, order_ref, seller_id,
                                                   _pack_messages(http, pack, seller_id)))
        yield Batch(records, None, progress=len(page))
    if opts.questions:
        yield from _questions(ctx, http, seller_id, since)
    yield Batch([], now.isoformat())


def _pack_messages(http: HttpClient, pack: str, seller_id: str) -> dict[str, Any]:
    """Every message of one pack conversation: offset pages of 50 until ``paging.total`` (a long conversation
    has more than one page; its first page alone would hide later buyer messages), as one ``{"messages": [...]}``."""
    path = f"/messages/packs/{pack}/sellers/{seller_id}"

    def fetch_page(offset: int, limit: int) -> tuple[list[Any], int | None]:
        body = http.get_json(path, params={"tag": "post_sale", "mark_as_read": "false", "limit": str(limit),
                                           "offset": str(offset)}, bucket="messages")
        rows = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise payload_error("/messages/packs/{pack_id}/sellers/{seller_id}", "messages", "missing or not a list")
        return rows, count(dig(body, "paging", "total"), MARKETPLACE, "/messages/packs/{pack_id}", "paging.total",
                           required=False)

    return {"messages": [m for page in by_offset(fetch_page, 50, marketplace=MARKETPLACE,
                                                   where="/messages/packs/{pack_id}") for m in page]}


def _questions(ctx: SyncContext, http: HttpClient, seller_id: str, since: datetime) -> Iterator[Batch]:
    ep = "/questions/search"
    params = {"seller_id": seller_id, "api_version": "4", "sort_fields": "date_created", "sort_types": "DESC"}
    older = False

    def fetch_page(offset: int, limit: int) -> tuple[list[Any], int | None]:
        body = http.get_json(ep, params={**params, "offset": str(offset), "limit": str(limit)}, bucket="default")
        rows = body.get("questions") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise payload_error(ep, "questions", "missing or not a list")
        return rows, count(body.get("total"), MARKETPLACE, ep, "total", required=False)

    pages = by_offset(fetch_page, 50, max_offset=QUESTIONS_MAX_OFFSET, marketplace=MARKETPLACE, where=ep)
    try:
        for page in pages:
            records: list[Record] = []
            for raw in page:
                msg = normalize_question(ctx.account.id, raw)
                if msg is not None and msg.received_at < since:
                    older = True
                    break
                if msg is not None:
                    records.append(msg)
            yield Batch(records, None, progress=len(page))
            if older:
                return
    except DeepOffset as exc:  # newer than `since` and still not all read: the window holds too many questions
        left = f"{exc.total:,} in total" if exc.total is not None else "the last page was full"
        raise ConnectorError(f"stopped at offset {exc.offset:,} with questions still newer than {_iso(since)}"
                             f" unread ({left}): lower options.message_days so the window holds fewer",
                             kind="config", where=exc.where) from None


def fetch_reputation(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    opts = _options(ctx)
    now = ctx.now()
    if cursor:
        try:
            if now - datetime.fromisoformat(cursor) < timedelta(hours=opts.reputation_every_hours):
                return
        except ValueError:
            pass  # an unreadable cursor just means: fetch now
    seller_id, _ = seller(ctx, http)
    user = http.get_json(f"/users/{seller_id}", bucket="default")
    records: list[Record] = list(normalize_reputation(ctx.account.id, user, now))
    records += account_status.normalize_status(ctx.account.id, user, now)  # may it sell and list (status block)
    yield Batch(records, now.isoformat(), progress=1)


_FETCHERS = {"orders": fetch_orders, "claims": fetch_claims, "messages": fetch_messages,
             "reputation": fetch_reputation}


def fetch(ctx: SyncContext, stream: str, cursor: str | None) -> Iterator[Batch]:
    if stream not in _FETCHERS:
        raise ConnectorError(f"unknown stream '{stream}'", kind="config", where=MARKETPLACE)
    return _FETCHERS[stream](ctx, make_client(ctx), cursor)


def sandbox_account(base_url: str, account_id: str) -> dict[str, Any]:
    """A config entry for the loopback sandbox (these credentials open only the sandbox)."""
    return {
        "id": account_id,
        "marketplace": MARKETPLACE,
        "region": "MLB",
        "base_url": base_url,
        "options": {"requests_per_second": 1000, "messages_per_minute": 60000},  # loopback: no real limits
        "credentials": {"client_id": f"sandbox-{account_id}", "client_secret": "sandbox-secret",
                        "refresh_token": f"TG-sandbox-{account_id}"},
    }
