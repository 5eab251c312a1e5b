"""Token endpoint helpers shared by connectors: one POST, errors sorted, rotating refresh tokens saved first.

Two rules that marketplaces punish when broken:
- a rotating (single-use) refresh token is saved to ``ctx.state`` before the new access token is used, so a
  crash between refresh and save cannot strand the account with a spent token;
- refreshes of one account never run in parallel: the exchange runs under ``ctx.lock("oauth")``, and the
  current refresh token is re-read inside the lock because another process may just have rotated it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from sellerguard.connectors.contract import SyncContext
from sellerguard.errors import ConnectorError
from sellerguard.http import ErrorRule, HttpClient

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
    body = client.json(client.request("POST", url, data=data, **kw), "token endpoint")
    if not isinstance(body, dict) or not body.get("access_token"):
        raise ConnectorError("the token endpoint answered without an access_token", kind="payload",
                             where=f"{http.marketplace}: token endpoint")
    return body


def expires_at(now: datetime, expires_in: Any, default_s: int = 3600) -> datetime:
    """Expiry from a relative ``expires_in`` (seconds)."""
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        seconds = default_s
    return now + timedelta(seconds=seconds)


def refresh_rotating(
    ctx: SyncContext,
    exchange: Callable[[str], dict[str, Any]],
    *,
    credential: str = "refresh_token",
    state_key: str = "refresh_token",
) -> dict[str, Any]:
    """Run ``exchange(current_refresh_token)`` under the account's lock; persist a rotated token first."""
    lock = ctx.lock("oauth") if ctx.lock is not None else nullcontext()
    with lock:
        current = ctx.state.get(state_key) or ctx.account.secret(credential).get_secret_value()
        payload = exchange(current)
        new = payload.get("refresh_token")
        if new and new != current:
            ctx.state.put(state_key, str(new))
        return payload
