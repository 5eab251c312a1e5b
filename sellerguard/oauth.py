"""Token endpoint helpers shared by connectors: one POST, errors sorted, rotating refresh tokens saved first.

Nothing bad is kept in connector state: a token reply is validated whole (``token_reply``) before anything is
saved, a stored value is validated when read (``load_state``) and dropped when it fails, so the connector
fetches it again once instead of failing on every later sync.

Two rules that marketplaces punish when broken:
- a rotating (single-use) refresh token is saved to ``ctx.state`` before the new access token is used, so a
  crash between refresh and save cannot strand the account with a spent token;
- refreshes of one account never run in parallel: the exchange runs under ``ctx.lock("oauth")``, and the
  current refresh token is re-read inside the lock because another process may just have rotated it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sellerguard.connectors.contract import SyncContext
from sellerguard.errors import ConnectorError
from sellerguard.http import ErrorRule, HttpClient
from sellerguard.payload import payload_error

_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}")  # printable ASCII, no whitespace
_ID = re.compile(r"[\x21-\x7e]{1,100}")
MAX_EXPIRES_S = 400 * 86400  # no access token lives longer than a year and a bit (refresh tokens: see callers)

TOKEN_ERRORS: dict[int | str, ErrorRule] = {
    400: ErrorRule(
        "fail", "config",
        "the token endpoint refused the credentials (expired or revoked refresh token, or wrong client id/secret):"
        " re-authorize the app",
    ),
    401: ErrorRule("fail", "config", "the token endpoint refused the client id or secret"),
    403: ErrorRule("fail", "config", "the token endpoint refused this app for this seller"),
}


def post_token(http: HttpClient, url: str, data: dict[str, str], **kw: Any) -> dict[str, Any]:
    """POST a form to a token endpoint and return its JSON; errors come out as one-line ConnectorErrors."""
    errors = {**TOKEN_ERRORS, **http.errors}
    client = HttpClient(
        base_url=url, marketplace=http.marketplace, clock=http.clock, sleep=http.sleep, errors=errors,
        session=http.session, max_attempts=3, timeout=http.timeout,
    )
    try:
        body = client.json(client.request("POST", url, data=data, **kw), "token endpoint")
    except ConnectorError as exc:
        # a 4xx the rules call "config" (invalid_grant, invalid_client): asking again in this run is refused the
        # same way; 5xx, 408, 429 and timeouts are kind "wait" and never marked (the next stream may try)
        if exc.kind == "config" and exc.status is not None and 400 <= exc.status < 500 \
                and exc.status not in (408, 429):
            exc.credential_refused = True  # type: ignore[attr-defined]
        raise
    if not isinstance(body, dict) or not body.get("access_token"):
        raise ConnectorError("the token endpoint answered without an access_token", kind="payload",
                             where=f"{http.marketplace}: token endpoint")
    return body


def credential_refused(exc: BaseException) -> bool:
    """True when ``exc`` (or an error it was raised from or while handling: connectors re-word the token
    endpoint's refusals ``from None``) is a token endpoint refusing the credential itself (``post_token``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if getattr(current, "credential_refused", False):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def valid_token(value: Any) -> bool:
    """A token we may save and send: a non-empty string of printable ASCII without whitespace (<= 4096)."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def valid_id(value: Any) -> bool:
    """An id we may save (shop id, seller id, user id): printable ASCII without whitespace, <= 100 characters,
    and a number only when it fits a signed 64-bit integer (a database column or an API path may need it)."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or _ID.fullmatch(text) is None or text.lower() in ("nan", "null", "none"):
        return False
    return not text.lstrip("-").isdigit() or abs(int(text)) < 2**63


def expires_at(now: datetime, expires_in: Any, default_s: int = 3600, *, marketplace: str = "marketplace",
               field: str = "expires_in") -> datetime:
    """Expiry from a relative ``expires_in`` (seconds). Missing: ``default_s``; present but not a number of
    seconds between 1 and ~400 days (a date, 1e308, NaN, negative) is a payload error: nothing is saved."""
    if expires_in is None or expires_in == "":
        return now + timedelta(seconds=default_s)
    try:
        seconds = float(expires_in) if not isinstance(expires_in, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        seconds = math.nan
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_EXPIRES_S:
        raise payload_error(marketplace, "token endpoint", field,
                            f"not a lifetime in seconds: {str(expires_in)[:30]!r}")
    return now + timedelta(seconds=seconds)


@dataclass(frozen=True)
class TokenReply:
    access_token: str
    expires_at: datetime
    refresh_token: str | None  # a new (rotated) refresh token, when the endpoint sent one


def token_reply(body: Any, marketplace: str, now: datetime, default_s: int = 3600, *,
                access_key: str = "access_token", refresh_key: str = "refresh_token",
                expires_key: str = "expires_in") -> TokenReply:
    """A token endpoint's JSON, validated whole before anything is saved.

    The access token must be there and valid; ``expires_in`` sane (``expires_at``); a refresh token, when
    present, valid too. Otherwise a payload error, and the caller saves nothing: a single-use refresh token is
    only replaced together with a working access token. Never puts a token value in a message.
    """
    if not isinstance(body, dict):
        raise payload_error(marketplace, "token endpoint", "(root)", "not an object")
    access = body.get(access_key)
    if access is None or access == "":
        raise payload_error(marketplace, "token endpoint", access_key, "missing (nothing was saved)")
    if not valid_token(access):
        raise payload_error(marketplace, "token endpoint", access_key,
                            "not a token (empty, whitespace, control or non-ASCII characters; nothing was saved)")
    refresh = body.get(refresh_key)
    if refresh is not None and refresh != "" and not valid_token(refresh):
        raise payload_error(marketplace, "token endpoint", refresh_key, "not a token (nothing was saved)")
    expiry = expires_at(now, body.get(expires_key), default_s, marketplace=marketplace, field=expires_key)
    return TokenReply(access, expiry, refresh or None)


def load_state(ctx: SyncContext, key: str, valid: Callable[[str], bool]) -> str | None:
    """A stored state value, or None when absent or when it fails ``valid``: then it is dropped (logged by key,
    never by value), so the caller fetches it again once instead of failing on every sync."""
    value = ctx.state.get(key)
    if value is None:
        return None
    ok = False
    try:
        ok = bool(valid(value))
    except Exception:
        ok = False
    if not ok:
        ctx.log.warning("%s: the stored %s was unusable; dropped, fetching it again", ctx.account.id, key)
        ctx.state.put(key, None)
        return None
    return value


def save_access(ctx: SyncContext, key: str, token: str, expiry: datetime) -> None:
    """Persist an access token as ``"<ISO expiry> <token>"`` (the format ``load_access`` reads back)."""
    if not valid_token(token):
        raise payload_error(ctx.account.marketplace, "token endpoint", "access_token", "not a token (not saved)")
    ctx.state.put(key, f"{expiry.isoformat()} {token}")


def load_access(ctx: SyncContext, key: str, *, margin_s: float = 300) -> tuple[str, datetime] | None:
    """The stored access token when valid and not within ``margin_s`` of expiry; a garbled value is dropped."""

    def parse(raw: str) -> tuple[str, datetime] | None:
        stamp, _, token = raw.partition(" ")
        expiry = datetime.fromisoformat(stamp)
        if expiry.tzinfo is None or not valid_token(token):
            return None
        return token, expiry

    raw = load_state(ctx, key, lambda v: parse(v) is not None)
    if raw is None:
        return None
    found = parse(raw)
    assert found is not None
    if (found[1] - ctx.now()).total_seconds() <= margin_s:
        return None
    return found


def drop_access(ctx: SyncContext, key: str) -> None:
    """Forget a stored access token (the marketplace refused it): never kept cached."""
    ctx.state.put(key, None)


def refresh_rotating(
    ctx: SyncContext,
    exchange: Callable[[str], dict[str, Any]],
    *,
    credential: str = "refresh_token",
    state_key: str = "refresh_token",
) -> dict[str, Any]:
    """Run ``exchange(current_refresh_token)`` under the account's lock; persist a rotated token first.

    The reply is validated (``token_reply``) before the new refresh token is saved: a reply without a valid
    access token (or with a garbled refresh token) saves nothing and is a payload error. A stored refresh token
    that is not a valid token is dropped and the configured one used instead.
    """
    lock = ctx.lock("oauth") if ctx.lock is not None else nullcontext()
    with lock:
        current = load_state(ctx, state_key, valid_token) or ctx.account.secret(credential).get_secret_value()
        payload = exchange(current)
        reply = token_reply(payload, ctx.account.marketplace, ctx.now())
        if reply.refresh_token and reply.refresh_token != current:
            ctx.state.put(state_key, reply.refresh_token)
        return payload
