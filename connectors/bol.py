"""bol.com Retailer API v10 (Netherlands, Belgium): orders, shipments with transport events, cancellations,
returns, and bol's own weekly performance indicators.

Auth is OAuth2 client credentials at login.bol.com; the token (a JWT, about 5 minutes) is cached in the
account's state and reused by every sync until shortly before it expires: bol blocks addresses that ask for
tokens too often (a blocked address sees 404 from login.bol.com). The API version is chosen by media type
(``Accept: application/vnd.retailer.v10+json``). Rate limits are per endpoint: 429 carries Retry-After, and
the ``x-ratelimit-*`` budget headers are followed. bol has **no API for customer messages or cases**; its own
figures for them arrive as the RESPONSE_TIME and CASE_ITEM_RATIO indicators.
Normalization lives in ``bol_normalize``. Facts and sources: docs/connectors/bol.md.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import date, datetime, timedelta
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field

from sellerguard.connectors.bol_normalize import (
    AMSTERDAM,
    INDICATORS,
    ident,
    normalize_indicator,
    normalize_order,
    normalize_return,
    normalize_shipment,
    payload_error,
    when,
)
from sellerguard.connectors.contract import Batch, SyncContext
from sellerguard.errors import ConnectorError
from sellerguard.http import AccessToken, ErrorRule, ExpiredShape, HttpClient, PooledSession
from sellerguard.oauth import load_access, post_token, save_access, token_reply
from sellerguard.paginate import by_page
from sellerguard.schema import Record

MARKETPLACE = "bol"
STREAMS = ("orders", "shipments", "returns", "performance")
API = "https://api.bol.com"
TOKEN_URL = "https://login.bol.com/token"
PAGE_SIZE = 50  # fixed by bol
HISTORY_DAYS = 90  # orders and shipments go back 3 months
TOKEN_STATE = "access_token"  # "<expiry ISO> <token>"

ERRORS: dict[int | str, ErrorRule] = {
    400: ErrorRule("fail", "payload", "bol rejected the request"),
    401: ErrorRule("refresh", "config", "bol refused the access token: check the client id and secret"),
    403: ErrorRule("fail", "config", "access denied: the API credentials lack access to this part of the Retailer API"),
    404: ErrorRule("fail", "config", "not found"),
    406: ErrorRule("fail", "config", "bol refused the media type: check the api_version option"),
    429: ErrorRule("retry", "wait", "rate limited by bol"),
}
# bol's "this token is dead": 401 "JWT expired at <t>. Current time: <t>" (ho-nl/BolCom_RetailerApi#30; also
# after clock skew); the same words on a 403 are treated alike
EXPIRED = (ExpiredShape(status=401), ExpiredShape(status=403, text="JWT expired"),
           ExpiredShape(status=403, text="invalid_token"))


def token_errors(account: str) -> dict[int | str, ErrorRule]:
    """login.bol.com's refusals, naming the account whose credentials to renew."""
    return {
        400: ErrorRule("fail", "config", f"login.bol.com refused the credentials of account '{account}': re-create"
                                         " the API client credentials in the seller dashboard"),
        401: ErrorRule("fail", "config", f"login.bol.com refused the client id or secret of account '{account}'"
                                         " (revoked or wrong): re-create the API client credentials in the seller"
                                         " dashboard"),
        404: ErrorRule("fail", "config", "login.bol.com answered 404: this address may be blocked for asking for"
                                         " tokens too often; wait and contact bol partner support if it persists"),
    }


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_version: int = Field(default=10, ge=10)  # the media-type version; bol retires versions on a schedule
    backfill_days: int = Field(default=HISTORY_DAYS, ge=1, le=HISTORY_DAYS)
    transport_days: int = Field(default=10, ge=0, le=HISTORY_DAYS)  # re-read recent shipments for new events
    performance_every_hours: float = Field(default=12, gt=0)
    indicators: list[str] = Field(default_factory=lambda: list(INDICATORS))
    pace: float = Field(default=1.0, gt=0)  # multiplies the per-endpoint request rates below


def _options(ctx: SyncContext) -> Options:
    return ctx.options if isinstance(ctx.options, Options) else Options()


def stored_token(ctx: SyncContext, *, not_this: str | None = None) -> tuple[str, datetime] | None:
    """The token saved by any sync of this client id while it has 30 s left; a garbled one is dropped."""
    found = load_access(ctx, TOKEN_STATE, margin_s=30)
    if found is None or found[0] == not_this:
        return None
    return found


def make_client(ctx: SyncContext, opts: Options | None = None) -> HttpClient:
    opts = opts or _options(ctx)
    acc = ctx.account
    base = acc.base_url or API
    token_url = acc.token_url or (base.rstrip("/") + "/token" if acc.base_url else TOKEN_URL)
    media = f"application/vnd.retailer.v{opts.api_version}+json"
    session = PooledSession()  # keep-alive, proxies resolved once per host (issue 21)
    used: dict[str, str | None] = {"last": None}

    def new_token(rejected: str | None) -> tuple[str, datetime]:
        # one token request per client id at a time; whoever waited reuses the token just fetched
        lock = ctx.lock("token") if ctx.lock is not None else nullcontext()
        with lock:
            if (fresh := stored_token(ctx, not_this=rejected)) is not None:
                return fresh
            client_id = acc.secret("client_id").get_secret_value()
            secret = acc.secret("client_secret").get_secret_value()
            basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
            token_http = HttpClient(base_url=token_url, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep,
                                    errors=token_errors(acc.id), session=session)
            body = post_token(token_http, token_url + "?grant_type=client_credentials", {},
                              headers={"Authorization": f"Basic {basic}", "Accept": "application/json"})
            reply = token_reply(body, MARKETPLACE, ctx.now(), default_s=299)  # validated before it is saved
            save_access(ctx, TOKEN_STATE, reply.access_token, reply.expires_at)
            return reply.access_token, reply.expires_at

    def fetch_token() -> tuple[str, datetime]:
        rejected = used["last"] if token.fetches else None
        found = stored_token(ctx, not_this=rejected) or new_token(rejected)
        used["last"] = found[0]
        return found

    token = AccessToken(fetch_token, ctx.clock, margin_s=30)

    def auth(headers: dict[str, str]) -> None:
        headers["Authorization"] = f"Bearer {token.get()}"
        headers["Accept"] = media

    def on_response(bucket: str | None, response: requests.Response) -> None:
        # budget headers: when this endpoint's budget is spent, wait for the refill instead of earning 429s
        left, reset = response.headers.get("x-ratelimit-remaining"), response.headers.get("x-ratelimit-reset")
        if response.status_code != 429 and left == "0" and reset:
            try:
                wait = float(reset)
            except ValueError:
                return
            if 0 < wait <= http.max_wait:
                ctx.sleep(wait)

    http = HttpClient(base_url=base, marketplace=MARKETPLACE, clock=ctx.clock, sleep=ctx.sleep, auth=auth,
                      token=token, errors=ERRORS, on_response=on_response, session=session, expired=EXPIRED)
    # documented per-endpoint limits are not public in numbers; these stay well below what bol grants by default
    http.limit("orders", rate=5 * opts.pace, burst=10)
    http.limit("shipments", rate=5 * opts.pace, burst=10)
    http.limit("returns", rate=3 * opts.pace, burst=5)
    http.limit("insights", rate=1 * opts.pace, burst=4)
    return http


def _list(http: HttpClient, path: str, key: str, params: dict[str, str], bucket: str,
          first: int = 1) -> Iterator[list[Any]]:
    """Pages of 50 until a short page; bol answers an empty list as ``{}`` (any other body without the list
    key is a payload error, never an empty page)."""
    def fetch_page(page: int) -> tuple[list[Any], bool]:
        body = http.get_json(path, params={**params, "page": str(page)}, bucket=bucket)
        if not isinstance(body, dict):
            raise payload_error(path, "(root)", "not an object")
        if body == {}:
            return [], False
        rows = body.get(key)
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise payload_error(path, key, "missing or not a list of objects (a page without its list is not empty)")
        return rows, len(rows) >= PAGE_SIZE

    yield from (list(p) for p in by_page(fetch_page, first, marketplace=MARKETPLACE, where=path))


def _local_today(ctx: SyncContext) -> date:
    return ctx.now().astimezone(AMSTERDAM).date()


DETAIL_WORKERS = 4  # detail reads in flight per page; the endpoint's bucket still paces every one


def _changed_at(reduced: dict[str, Any]) -> datetime | None:
    """The latest ``orderItems[].latestChangedDateTime`` of a listed order (what the stored order's
    ``updated_at`` holds); None when a line lacks a readable one (the detail read then says what is wrong)."""
    items = reduced.get("orderItems")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        return None
    try:
        times = [when(i.get("latestChangedDateTime"), "orders[].orderItems[].latestChangedDateTime",
                      "/retailer/orders", required=False) for i in items]
    except ConnectorError:
        return None
    return max(times) if all(t is not None for t in times) else None  # type: ignore[type-var]


def fetch_orders(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    """One query per day of latest change (the filter takes a date, not a time), from the cursor's day
    (re-read: it was not over when last read) to today; each changed order is read in full for its dates,
    ``DETAIL_WORKERS`` at a time. An order already stored at its latest change (the cursor's day is re-read
    every sync) is not read again."""
    opts = _options(ctx)
    today = _local_today(ctx)
    oldest = today - timedelta(days=HISTORY_DAYS - 1)
    try:
        day = date.fromisoformat(cursor) if cursor else today - timedelta(days=opts.backfill_days - 1)
    except ValueError:
        raise ConnectorError(f"stored cursor {cursor[:40]!r} is not a date; reset it with a full re-sync",
                             kind="config", where=f"{MARKETPLACE}: {ctx.account.id}") from None
    day = max(day, oldest)
    while day <= today:
        params = {"status": "ALL", "fulfilment-method": "ALL", "latest-change-date": day.isoformat()}
        for page in _list(http, "/retailer/orders", "orders", params, "orders"):
            ids = [ident(reduced, "orderId", "/retailer/orders", "orders[].") for reduced in page]
            stored = ctx.stored_updates("order", ids)
            todo = [oid for oid, reduced in zip(ids, page, strict=True)
                    if (at := _changed_at(reduced)) is None or stored.get(oid) != at]
            details = http.get_each([f"/retailer/orders/{oid}" for oid in todo], bucket="orders",
                                    workers=DETAIL_WORKERS)
            records: list[Record] = [r for detail in details for r in normalize_order(ctx.account.id, detail)]
            yield Batch(records, None, progress=len(page))
        yield Batch([], day.isoformat())
        day += timedelta(days=1)


def _shipment_cursor(cursor: str | None) -> tuple[datetime | None, datetime | None, datetime | None]:
    """(known, pass_top, pass_low). ``known``: every shipment up to it is stored. An interrupted pass also
    left (pass_top, pass_low): shipments dated between them were already read in full. An old cursor is a
    plain ISO time (= known); an unreadable one means: read all three months again."""
    if not cursor:
        return None, None, None
    try:
        if not cursor.startswith("{"):
            return datetime.fromisoformat(cursor), None, None
        data = json.loads(cursor)
        known, top, low = (datetime.fromisoformat(data[k]) if data.get(k) else None for k in ("known", "top", "low"))
        return known, top, low
    except (ValueError, TypeError, AttributeError):
        return None, None, None


def fetch_shipments(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    """Newest first, down to the cursor less ``transport_days`` (recent shipments get new transport events);
    each is read in full for its transport events. Only seller-shipped (FBR) shipments have events to judge.
    The cursor is written per page: an interrupted backfill skips what it already read in full."""
    opts = _options(ctx)
    recent = ctx.now() - timedelta(days=opts.transport_days)
    known, done_top, done_low = _shipment_cursor(cursor)
    newest: datetime | None = None
    oldest: datetime | None = None
    ep = "/retailer/shipments"
    for page in _list(http, ep, "shipments", {"fulfilment-method": "FBR"}, "shipments"):
        wanted: list[str] = []
        reached = False
        for reduced in page:
            sid = ident(reduced, "shipmentId", ep, "shipments[].")
            at = when(reduced.get("shipmentDateTime"), "shipments[].shipmentDateTime", ep, required=False)
            if at is not None and known is not None and at <= known and at < recent:
                reached = True  # neither new nor recent enough to get transport events: older ones neither
                break
            if at is not None:
                newest = at if newest is None or at > newest else newest
                oldest = at if oldest is None or at < oldest else oldest
            if at is not None and done_top is not None and done_low is not None and done_low <= at <= done_top \
                    and at < recent:
                continue  # read in full by the interrupted pass
            wanted.append(sid)
        details = http.get_each([f"/retailer/shipments/{sid}" for sid in wanted], bucket="shipments",
                                workers=DETAIL_WORKERS)
        records: list[Record] = [normalize_shipment(ctx.account.id, detail) for detail in details]
        top = max((t for t in (newest, done_top) if t), default=None)
        progress = {"known": known.isoformat() if known else None, "top": top.isoformat() if top else None,
                    "low": oldest.isoformat() if oldest else None}
        yield Batch(records, json.dumps(progress) if oldest else None, progress=len(page))
        if reached:
            break
    done = max((t for t in (newest, known, done_top) if t), default=None)
    yield Batch([], done.isoformat() if done else None)


def _returns_cursor(cursor: str | None, fallback: datetime) -> tuple[datetime, int, datetime | None]:
    """(since, handled page to resume at, the pass's start time) from ``{"since", "page", "top"}`` or an old
    plain ISO cursor; unreadable: the backfill window from page 1."""
    if not cursor:
        return fallback, 1, None
    try:
        if not cursor.startswith("{"):
            return datetime.fromisoformat(cursor) - timedelta(days=2), 1, None
        data = json.loads(cursor)
        page = int(data.get("page") or 1)
        return datetime.fromisoformat(data["since"]), max(1, min(page, 10_000)), datetime.fromisoformat(data["top"])
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return fallback, 1, None


def fetch_returns(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    """Every unhandled return (oldest first), then handled ones newest first down to the cursor. The handled
    pass writes its page to the cursor: an interrupted backfill resumes a page before where it stopped (new
    handled returns push older ones down), and the next pass starts at this pass's start time."""
    opts = _options(ctx)
    now = ctx.now()
    since, resume, top = _returns_cursor(cursor, now - timedelta(days=opts.backfill_days))
    top = top or now
    for page in _list(http, "/retailer/returns", "returns", {"handled": "false"}, "returns"):
        records = [r for raw in page for r in normalize_return(ctx.account.id, raw)]
        yield Batch(records, None, progress=len(page))
    number = max(1, resume - 1)
    for page in _list(http, "/retailer/returns", "returns", {"handled": "true"}, "returns", first=number):
        records: list[Record] = []
        older = False
        for raw in page:
            found = normalize_return(ctx.account.id, raw)
            if found and found[0].requested_at < since:
                older = True
                break
            records.extend(found)
        number += 1
        state = {"since": since.isoformat(), "page": number, "top": top.isoformat()}
        yield Batch(records, json.dumps(state), progress=len(page))
        if older:
            break
    yield Batch([], top.isoformat())  # the next pass reads handled returns down to two days before this one


def fetch_performance(ctx: SyncContext, http: HttpClient, cursor: str | None) -> Iterator[Batch]:
    """The last complete ISO week (final once bol has calculated it) and the running week's estimate."""
    opts = _options(ctx)
    now = ctx.now()
    if cursor:
        try:
            if now - datetime.fromisoformat(cursor) < timedelta(hours=opts.performance_every_hours):
                return
        except ValueError:
            pass
    today = now.astimezone(AMSTERDAM).date()
    current = today.isocalendar()
    last = (today - timedelta(days=7)).isocalendar()
    records: list[Record] = []
    for name in opts.indicators:
        for (year, week, _), final in ((last, True), (current, False)):
            params = {"name": name, "year": str(year), "week": str(week)}
            body = http.get_json("/retailer/insights/performance/indicator", params=params, bucket="insights")
            records.extend(normalize_indicator(ctx.account.id, body, final=final, as_of=now, expected=name))
    yield Batch(records, now.isoformat(), progress=len(opts.indicators))


_FETCHERS = {"orders": fetch_orders, "shipments": fetch_shipments, "returns": fetch_returns,
             "performance": fetch_performance}


def fetch(ctx: SyncContext, stream: str, cursor: str | None) -> Iterator[Batch]:
    if stream not in _FETCHERS:
        raise ConnectorError(f"unknown stream '{stream}'", kind="config", where=MARKETPLACE)
    return _FETCHERS[stream](ctx, make_client(ctx), cursor)


def sandbox_account(base_url: str, account_id: str) -> dict[str, Any]:
    """A config entry for the loopback sandbox (these credentials open only the sandbox)."""
    return {
        "id": account_id,
        "marketplace": MARKETPLACE,
        "region": "NL",
        "base_url": base_url,
        "options": {"pace": 200},  # loopback: no need to pace like the real API
        "credentials": {"client_id": f"sandbox-{account_id}", "client_secret": "sandbox-secret"},
    }
