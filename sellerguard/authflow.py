"""``sellerguard connect``'s core: one authorization-code consent, from the browser to a stored credential.

The flow (RFC 6749 section 4.1, PKCE RFC 7636 where the marketplace takes it) runs on Authlib's ``OAuth2Session``:
authorize URL with a random ``state`` (and an S256 ``code_challenge``), a loopback listener on 127.0.0.1 that takes
the one redirect, the state compared in constant time, the code exchanged at the connector's own token endpoint.
Marketplaces that bend OAuth are handled here, by name: Amazon's consent page takes ``application_id`` and
answers ``spapi_oauth_code``; TikTok Shop's exchange is a GET answering inside an envelope with absolute expiry
times; Shopify signs its redirect with an HMAC of the client secret, checked before the code is used.

What is kept (``save``): the produced credential (a refresh token, or Shopify's offline access token) in a 0600
file under ``tokens/`` beside the config, referenced from the account's ``credentials`` as ``"file:PATH"`` (the
config's comments stay: it is edited with tomlkit); stale token state of the account is dropped so the connector
uses the new credential; the granted scopes and expiry go to the store's sealed connector state. Nothing here
prints a token: errors name the marketplace, the step and the marketplace's own error code.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from sellerguard.config import AccountConfig
from sellerguard.consent import (
    STATE_CONNECTED,
    STATE_EXPIRES,
    STATE_SCOPES,
    Grant,
    Provider,
    authorize_url,
    check_region,
    provider,
    token_url,
)
from sellerguard.errors import ConfigError

CALLBACK_PATH = "/callback"
DEFAULT_PORT = 8765  # the redirect URL registered with the marketplace must match exactly: keep it fixed
TIMEOUT_S = 300.0
# connector-state keys that hold tokens or the identity they belong to: dropped at a new consent, which may be
# another seller's (cursors live elsewhere and stay)
_TOKEN_STATE = ("token", "shop_cipher", "shop_id", "username", "marketplace_ids", "user_id", "oauth:")


@dataclass
class Consent:
    """An authorization request in flight: the URL to open and what the redirect must carry back."""

    account: AccountConfig
    provider: Provider
    url: str
    state: str
    redirect_uri: str  # what the authorize request named (eBay: the RuName)
    verifier: str | None  # PKCE code_verifier


class Loopback:
    """A one-shot HTTP listener on 127.0.0.1 that takes the marketplace's redirect to ``/callback``."""

    def __init__(self, port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> None:
        got: list[str] = []
        done = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if urlsplit(self.path).path != CALLBACK_PATH:
                    self.send_error(404)
                    return
                got.append(self.path)
                body = b"sellerguard: authorization received. You can close this window and return to the terminal.\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                done.set()

            def log_message(self, format: str, *args: Any) -> None:  # the query holds the code: never logged
                pass

        try:
            self._server = HTTPServer((host, port), Handler)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} for the redirect ({exc.strerror}); pick another"
                              " with --port (and register that redirect URL with the marketplace)",
                              where="connect") from None
        self._got, self._done = got, done
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sellerguard-connect-listener", daemon=True)
        self._thread.start()

    @property
    def redirect_uri(self) -> str:
        return f"http://localhost:{self._server.server_address[1]}{CALLBACK_PATH}"

    def wait(self, timeout_s: float) -> str:
        """The path and query the browser was redirected to; a ConfigError after ``timeout_s``."""
        try:
            if not self._done.wait(timeout_s):
                raise ConfigError(f"no redirect arrived within {timeout_s:g} s (was the consent finished in the"
                                  " browser, and is the redirect URL registered exactly as printed?)", where="connect")
            return self._got[0]
        finally:
            self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _session(acc: AccountConfig, p: Provider, redirect_uri: str | None) -> Any:
    from authlib.integrations.requests_client import OAuth2Session

    secret = acc.secret(p.client_secret_key).get_secret_value() if p.client_secret_key else None
    return OAuth2Session(
        acc.secret(p.client_id_key).get_secret_value(), secret, scope=p.scope_sep.join(p.all_scopes) or None,
        redirect_uri=redirect_uri, token_endpoint_auth_method=p.auth_method,
        code_challenge_method="S256" if p.pkce else None, default_timeout=30,
    )


def begin(acc: AccountConfig, redirect_uri: str, extra: dict[str, str] | None = None) -> Consent:
    """Build the consent URL for ``acc`` (state, PKCE) with ``redirect_uri`` as the loopback or registered URL."""
    from authlib.common.security import generate_token

    p = provider(acc.marketplace)
    check_region(acc)
    if p.grant != "code":
        raise ConfigError(f"{p.name} uses client credentials (client id and secret): there is no consent to give;"
                          " run `sellerguard check` to verify them", where=f"accounts[{acc.id}]")
    state = generate_token(32)
    verifier = generate_token(64) if p.pkce else None
    url = authorize_url(acc)
    extra = dict(extra or {})
    sent_redirect = redirect_uri
    if p.marketplace == "amazon":  # website authorization: application_id, not the LWA client id
        params = {"application_id": acc.secret("application_id").get_secret_value(), "state": state,
                  "redirect_uri": redirect_uri, **extra}
        return Consent(acc, p, f"{url}?{urlencode(params)}", state, redirect_uri, None)
    if p.marketplace == "tiktok":  # the redirect is registered with the service; sent too for test hosts
        params = {"service_id": acc.secret("service_id").get_secret_value(), "state": state,
                  "redirect_uri": redirect_uri, **extra}
        return Consent(acc, p, f"{url}?{urlencode(params)}", state, redirect_uri, None)
    if p.marketplace == "ebay" and "ru_name" in acc.credentials:
        sent_redirect = acc.secret("ru_name").get_secret_value()  # eBay redirects by RuName to its accept URL
    session = _session(acc, p, sent_redirect)
    uri, _ = session.create_authorization_url(url, state=state, code_verifier=verifier, **extra)
    return Consent(acc, p, uri, state, sent_redirect, verifier)


def finish(consent: Consent, callback: str, now: datetime) -> tuple[str, Grant]:
    """Check the redirect (state, error, Shopify's HMAC), exchange the code; returns (credential, grant).

    ``callback`` is the path+query (or full URL) the browser was sent to. Raises ConfigError, one line, no token.
    """
    acc, p = consent.account, consent.provider
    query = dict(parse_qsl(urlsplit(callback).query, keep_blank_values=True))
    where = f"connect {acc.id}"
    if "error" in query:
        raise ConfigError(f"{p.name} refused the authorization: {query['error']}"
                          f"{': ' + query['error_description'] if query.get('error_description') else ''}", where=where)
    if not secrets.compare_digest(query.get("state", ""), consent.state):
        raise ConfigError("the redirect's state does not match this request (a stale or forged redirect);"
                          " nothing was stored: run connect again", where=where)
    code = query.get("spapi_oauth_code" if p.marketplace == "amazon" else "code")
    if not code:
        raise ConfigError(f"the redirect carries no authorization code ({', '.join(sorted(query)) or 'no'}"
                          " parameters)", where=where)
    if p.marketplace == "shopify":
        _check_shopify_hmac(acc, query, where)
    body = _tiktok_exchange(acc, code, where) if p.marketplace == "tiktok" else _exchange(consent, code, where)
    return _grant(consent, body, now, where, seller=query.get("selling_partner_id"))


def _check_shopify_hmac(acc: AccountConfig, query: dict[str, str], where: str) -> None:
    expected = shopify_hmac(acc.secret("client_secret").get_secret_value(), query)
    if not secrets.compare_digest(query.get("hmac", ""), expected):
        raise ConfigError("Shopify's redirect signature (hmac) does not match the client secret: not from Shopify,"
                          " or the wrong client_secret; nothing was stored", where=where)


def _exchange(consent: Consent, code: str, where: str) -> dict[str, Any]:
    import requests
    from authlib.integrations.base_client import OAuthError

    acc, p = consent.account, consent.provider
    session = _session(acc, p, consent.redirect_uri)
    headers = {"Accept": "application/json"}
    if p.marketplace == "etsy":  # every Etsy call, token calls included, carries the key and shared secret
        headers["x-api-key"] = (f"{acc.secret('keystring').get_secret_value()}:"
                                f"{acc.secret('shared_secret').get_secret_value()}")
    kwargs: dict[str, Any] = {"code": code, "headers": headers}
    if consent.verifier:
        kwargs["code_verifier"] = consent.verifier
    try:
        token = session.fetch_token(token_url(acc), **kwargs)
    except OAuthError as exc:
        raise ConfigError(f"{p.name} refused the code exchange: {exc.error}"
                          f"{': ' + exc.description if exc.description else ''}", where=where) from None
    except requests.RequestException as exc:
        raise ConfigError(f"cannot reach {p.name}'s token endpoint: {type(exc).__name__}", where=where) from None
    except ValueError:  # not JSON (an HTML error page)
        raise ConfigError(f"{p.name}'s token endpoint answered something that is not a token reply",
                          where=where) from None
    return dict(token)


def _tiktok_exchange(acc: AccountConfig, code: str, where: str) -> dict[str, Any]:
    """TikTok Shop: GET /api/v2/token/get?app_key&app_secret&auth_code&grant_type=authorized_code."""
    import requests

    params = {"app_key": acc.secret("app_key").get_secret_value(),
              "app_secret": acc.secret("app_secret").get_secret_value(),
              "auth_code": code, "grant_type": "authorized_code"}
    try:
        reply = requests.get(token_url(acc), params=params, timeout=30)
        body = reply.json()
    except requests.RequestException as exc:
        raise ConfigError(f"cannot reach TikTok Shop's token endpoint: {type(exc).__name__}", where=where) from None
    except ValueError:
        raise ConfigError(f"TikTok Shop's token endpoint answered HTTP {reply.status_code} without JSON",
                          where=where) from None
    if not isinstance(body, dict) or body.get("code") != 0 or not isinstance(body.get("data"), dict):
        code_ = body.get("code") if isinstance(body, dict) else None
        text = str(body.get("message", ""))[:200] if isinstance(body, dict) else ""
        raise ConfigError(f"TikTok Shop refused the code exchange: code {code_}: {text}", where=where)
    data = dict(body["data"])
    now = datetime.now(UTC).timestamp()
    for key in ("access_token_expire_in", "refresh_token_expire_in"):  # absolute unix times (TikTok's G3)
        try:
            data[key] = int(data[key])
        except (KeyError, TypeError, ValueError):
            data.pop(key, None)
    if "access_token_expire_in" in data:
        data["expires_in"] = max(1, int(data["access_token_expire_in"] - now))
    return data


def _grant(consent: Consent, body: dict[str, Any], now: datetime, where: str, seller: str | None) -> tuple[str, Grant]:
    from sellerguard.oauth import token_reply, valid_token

    acc, p = consent.account, consent.provider
    try:
        reply = token_reply(body, acc.marketplace, now, 86400 * 3650 if p.marketplace == "shopify" else 3600)
    except Exception as exc:
        raise ConfigError(f"{p.name}'s token reply is unusable: {exc}", where=where) from None
    credential = reply.access_token if p.produces == "access_token" else reply.refresh_token
    if not credential or not valid_token(credential):
        hint = " (grant the offline_access scope to the app)" if p.marketplace == "mercadolibre" else ""
        raise ConfigError(f"{p.name} answered without a {p.produces}{hint}; nothing was stored", where=where)
    raw_scopes = body.get("granted_scopes") if p.marketplace == "tiktok" else body.get("scope")
    if isinstance(raw_scopes, list):
        scopes = tuple(str(s) for s in raw_scopes)
    elif isinstance(raw_scopes, str) and raw_scopes.strip():
        scopes = tuple(s for s in raw_scopes.replace(",", " ").split() if s)
    else:  # eBay, Etsy and Amazon do not repeat them: a consent grants what was asked or fails
        scopes = tuple(p.all_scopes)
    expires: datetime | None = None
    if p.marketplace == "tiktok" and body.get("refresh_token_expire_in"):
        expires = datetime.fromtimestamp(int(body["refresh_token_expire_in"]), UTC)
    elif p.marketplace == "ebay" and str(body.get("refresh_token_expires_in", "")).isdigit():
        expires = now + timedelta(seconds=int(body["refresh_token_expires_in"]))
    elif p.lifetime_days:
        expires = now + timedelta(days=p.lifetime_days)
    access_expiry = None if p.marketplace == "shopify" and "expires_in" not in body else reply.expires_at
    user = body.get("user_id") or body.get("open_id") or seller
    return credential, Grant(scopes, access_expiry, expires, str(user) if user is not None else None)


# -- keeping it ---------------------------------------------------------------------------------------------------


def token_path(config_path: Path, account_id: str, name: str) -> Path:
    return config_path.parent / "tokens" / f"{account_id}.{name}"


def save(config_path: Path, store: Any, acc: AccountConfig, credential: str, grant: Grant, now: datetime) -> Path:
    """Keep the credential (0600 file + ``file:`` reference in the config) and the grant's facts (sealed state)."""
    from sellerguard.starter import write_text_atomic

    p = provider(acc.marketplace)
    assert p.produces is not None
    path = token_path(config_path, acc.id, p.produces)
    new_text = set_credential(config_path, acc.id, p.produces, f"file:{path}")
    write_text_atomic(path, credential + "\n", mode=0o600)
    write_text_atomic(config_path, new_text, mode=config_path.stat().st_mode & 0o777)
    clear_token_state(store, acc.id)
    store.put_state(acc.id, STATE_CONNECTED, now.isoformat(), now=now)
    store.put_state(acc.id, STATE_SCOPES, " ".join(grant.scopes), now=now)
    store.put_state(acc.id, STATE_EXPIRES, grant.expires_at.isoformat() if grant.expires_at else None, now=now)
    return path


def set_credential(config_path: Path, account_id: str, name: str, ref: str) -> str:
    """The config text with ``accounts[id].credentials.<name> = ref``, comments kept; validated before returned."""
    import tomllib

    import tomlkit

    from sellerguard.config import parse_config

    doc = tomlkit.parse(config_path.read_text(encoding="utf-8"))
    for table in doc.get("accounts", []):
        if table.get("id") == account_id:
            creds = table.get("credentials")
            if creds is None:
                creds = tomlkit.inline_table()
                table["credentials"] = creds
            creds[name] = ref
            break
    else:
        raise ConfigError(f"no [[accounts]] block with id = \"{account_id}\"", where=str(config_path))
    text = tomlkit.dumps(doc)
    parse_config(tomllib.loads(text), where=str(config_path))
    return text


def clear_token_state(store: Any, account: str) -> int:
    """Drop the account's stored tokens and the identity found with them (a new consent may be another seller's)."""
    from sqlalchemy import delete, or_
    from sqlmodel import Session

    from sellerguard.store.tables import ConnectorState

    col = ConnectorState.key
    with Session(store.engine) as session, session.begin():
        result = session.execute(delete(ConnectorState).where(
            ConnectorState.account == account,  # type: ignore[arg-type]
            or_(*(col.contains(part) for part in _TOKEN_STATE))))  # type: ignore[attr-defined]
        return int(result.rowcount or 0)


def run(acc: AccountConfig, *, port: int, open_browser: Callable[[str], Any], now: Callable[[], datetime],
        timeout_s: float = TIMEOUT_S, extra: dict[str, str] | None = None,
        paste: Callable[[], str] | None = None, redirect_uri: str | None = None) -> tuple[Consent, str, Grant]:
    """The whole consent: listen (or take a pasted URL), open the browser, check and exchange."""
    listener = None if paste else Loopback(port)
    try:
        consent = begin(acc, redirect_uri or (listener.redirect_uri if listener else ""), extra)
    except BaseException:
        if listener:
            listener.close()
        raise
    open_browser(consent.url)
    callback = paste() if paste else listener.wait(timeout_s)  # type: ignore[union-attr]
    credential, grant = finish(consent, callback, now())
    return consent, credential, grant


def shopify_hmac(secret: str, query: dict[str, str]) -> str:
    """Shopify's redirect signature: HMAC-SHA256 (client secret) hex of the sorted ``k=v`` pairs but ``hmac``."""
    message = "&".join(f"{k}={v}" for k, v in sorted(query.items()) if k not in ("hmac", "signature"))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()

