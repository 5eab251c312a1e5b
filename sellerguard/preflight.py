"""``sellerguard check``'s core: will this account sync? Token, scopes, clock, one page per stream, expiry.

``check_account`` returns ``Finding``s, one line each: ``ok`` facts, ``warn`` (works now, will not for long: a
credential within ``EXPIRY_WARN_DAYS`` of its end, a clock off by more than ``SKEW_WARN_S``) and ``problem`` (the
next sync of that stream fails), every problem saying what to do. Nothing here prints.

Pages are read with the connector's own ``fetch`` (first batch of each stream, then the generator is closed) and
nothing is written to the records: cursors, resume points and report ids stay in memory (``_CheckState``), while
token rows go to the store as in a sync, because a rotated single-use refresh token must never be lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from sellerguard.clock import Clock
from sellerguard.config import AccountConfig
from sellerguard.consent import (
    EXPIRY_WARN_DAYS,
    PROVIDERS,
    STATE_CONNECTED,
    STATE_SCOPES,
    check_region,
    credential_expiry,
)
from sellerguard.errors import ConfigError

SKEW_WARN_S = 60.0  # signed requests (TikTok) and token lifetimes drift past this; NTP keeps a clock well inside
ACCESS_STATE = "access_token"  # where every connector caches its short-lived access token
_PERSIST = re.compile(r"token|oauth:")  # state a check writes for real (tokens rotate); the rest stays in memory


@dataclass(frozen=True)
class Finding:
    level: str  # ok | warn | problem
    topic: str  # token | scopes | clock | expiry | <stream> | config
    text: str


class _CheckState:
    """Connector state for a check: token rows read and written through, everything else kept in memory."""

    def __init__(self, store: Any, account: str, clock: Clock) -> None:
        self._store, self._account, self._clock = store, account, clock
        self._memory: dict[str, str | None] = {}
        self._fresh: set[str] = set()

    def get(self, key: str) -> str | None:
        if key in self._memory:
            return self._memory[key]
        if key == ACCESS_STATE and key not in self._fresh:
            return None  # a cached access token would hide a revoked or mistyped credential until it expires
        return self._store.state(self._account, key)

    def put(self, key: str, value: str | None) -> None:
        self._fresh.add(key)
        if _PERSIST.search(key):
            self._store.put_state(self._account, key, value, now=self._clock.now())
        else:
            self._memory[key] = value


def enabled_streams(acc: AccountConfig, module: Any) -> list[str]:
    """The streams a sync of ``acc`` reads: a connector's ``STREAM_SWITCHES`` (boolean option -> the streams it
    switches off when false; the option's default is the connector's ``Options`` model's) leave streams out."""
    off: set[str] = set()
    for option, streams in getattr(module, "STREAM_SWITCHES", {}).items():
        if not acc.options.get(option, module.Options.model_fields[option].default):
            off.update(streams)
    return [s for s in module.STREAMS if s not in off]


def clock_skew(url: str, now: Callable[[], datetime], session: Any = None) -> float | None:
    """Seconds the marketplace's clock (its ``Date`` header) is ahead of ours; None when none answered."""
    import requests

    http = session or requests
    try:
        before = now()
        reply = http.get(url, timeout=10, allow_redirects=False)
        after = now()
        stamp = parsedate_to_datetime(reply.headers["Date"])
    except (requests.RequestException, KeyError, TypeError, ValueError):
        return None
    mid = before + (after - before) / 2
    return (stamp - mid).total_seconds()


def _api_root(acc: AccountConfig) -> str | None:
    if acc.base_url:
        return acc.base_url
    from sellerguard.consent import token_url

    try:
        return token_url(acc)
    except ConfigError:
        return None


# app credentials only the consent uses: once the account has its token (from `connect`, or set by hand before),
# a sync does without them, so their absence is no problem (Amazon's App ID and TikTok's service id name the app in
# the consent URL; a Shopify store with an access token never asks for a client-credentials token)
CONSENT_ONLY = {"amazon": ("application_id",), "tiktok": ("service_id",), "shopify": ("client_id", "client_secret")}


def missing_credentials(acc: AccountConfig, p: Any) -> list[str]:
    """The app credentials the account lacks for its next sync (``p``: its ``consent.Provider``)."""
    spare = CONSENT_ONLY.get(acc.marketplace, ()) if p.produces and p.produces in acc.credentials else ()
    return [n for n in p.credentials if n not in acc.credentials and n not in spare]


def _exposed(acc: AccountConfig, name: str) -> list[Finding]:
    """A warning when the file behind a ``file:`` credential can be read by other users (a copied or hand-made
    token file; ``connect`` writes 0600)."""
    ref = acc.credentials[name].ref
    if not ref.startswith("file:"):
        return []
    path = Path(ref[5:]).expanduser()
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return []
    if not mode & 0o077:
        return []
    return [Finding("warn", "config", f"accounts[{acc.id}].credentials.{name}: {path} can be read by other users "
                                      f"(mode {mode:04o}): chmod 600 {path}")]


def check_account(acc: AccountConfig, store: Any, clock: Clock, *, pages: bool = True,
                  sleep: Callable[[float], None] | None = None) -> list[Finding]:
    """Every finding for one account, problems with what to do. Never raises for the account's own trouble."""
    import time

    from sellerguard import connectors
    from sellerguard.connectors.contract import SyncContext
    from sellerguard.sync import connector_options, describe_failure

    found: list[Finding] = []
    p = PROVIDERS.get(acc.marketplace)
    try:
        check_region(acc)
        module = connectors.get(acc.marketplace)
        options = connector_options(module, acc)
    except ConfigError as exc:
        return [Finding("problem", "config", f"{exc}: fix the account's block in the config")]
    if p is None:
        return [Finding("problem", "config", f"no authorization data for marketplace '{acc.marketplace}'")]

    missing = missing_credentials(acc, p)
    if p.produces and p.produces not in acc.credentials:
        found.append(Finding("problem", "token", f"no {p.produces} yet: run `sellerguard connect {acc.id}`"))
    for name in (n for n in [*p.credentials, p.produces] if n and n in acc.credentials):
        try:
            acc.secret(name)
        except ConfigError as exc:
            found.append(Finding("problem", "config", f"{exc}: set it, or point it elsewhere in the config"))
            continue
        found.extend(_exposed(acc, name))
    if missing:
        found.append(Finding("problem", "config", f"missing credentials {', '.join(missing)}: add them to"
                                                  f" accounts[{acc.id}].credentials ({p.where})"))
    if any(f.level == "problem" for f in found):
        return found

    streams = enabled_streams(acc, module)
    granted_raw = store.state(acc.id, STATE_SCOPES)
    if p.grant == "code" and p.scopes:
        granted = set(granted_raw.split()) if granted_raw is not None else None
        for stream in streams:
            needed = p.scopes.get(stream, ())
            if not needed:
                continue
            if any(s.startswith("role:") for s in needed):
                found.append(Finding("ok", "scopes", f"{stream}: needs the app role {', '.join(s[5:] for s in needed)}"
                                                     " (Amazon does not report roles; a missing one fails the read)"))
                continue
            if granted is None:
                found.append(Finding("warn", "scopes", f"{stream}: needs {', '.join(needed)}; granted scopes unknown"
                                                       f" (not connected here): run `sellerguard connect {acc.id}`"))
                continue
            lacking = [s for s in needed if s not in granted]
            if lacking:
                found.append(Finding("problem", "scopes", f"{stream}: missing scope {', '.join(lacking)}: grant it"
                                                          f" to the app, then `sellerguard connect {acc.id}` again"))
            else:
                found.append(Finding("ok", "scopes", f"{stream}: {', '.join(needed)} granted"))

    root = _api_root(acc)
    skew = clock_skew(root, clock.now) if root else None
    if skew is None:
        found.append(Finding("warn", "clock", f"could not read the time of {root or 'the API host'} (no Date header)"))
    elif abs(skew) > SKEW_WARN_S:
        found.append(Finding("warn", "clock", f"this machine's clock is {abs(skew):.0f} s "
                                              f"{'behind' if skew > 0 else 'ahead of'} the marketplace's: turn on"
                                              " time sync (e.g. `timedatectl set-ntp true`)"))
    else:
        found.append(Finding("ok", "clock", f"clock skew {skew:+.1f} s"))

    expiry = credential_expiry(store, acc)
    if expiry is not None:
        left = expiry - clock.now()
        if left <= timedelta(0):
            found.append(Finding("problem", "expiry", f"the {p.produces} expired on {expiry:%Y-%m-%d}: run"
                                                      f" `sellerguard connect {acc.id}`"))
        elif left <= timedelta(days=EXPIRY_WARN_DAYS):
            found.append(Finding("warn", "expiry", f"the {p.produces} expires on {expiry:%Y-%m-%d} (in {left.days}"
                                                   f" days): run `sellerguard connect {acc.id}` before then"))
        else:
            found.append(Finding("ok", "expiry", f"{p.produces} valid until {expiry:%Y-%m-%d}"))
    elif p.grant == "code" and p.produces == "refresh_token" and store.state(acc.id, STATE_CONNECTED) is None:
        found.append(Finding("warn", "expiry", f"expiry unknown (the {p.produces} was not obtained by `sellerguard"
                                               f" connect`): run `sellerguard connect {acc.id}` to track it"))

    ctx = SyncContext(account=acc, state=_CheckState(store, acc.id, clock), clock=clock,
                      sleep=sleep or time.sleep, options=options,
                      lock=lambda name: store.lock(f"{acc.id}:{name}"))
    tried = streams if pages else streams[:1]
    redeems = p.produces == "refresh_token" or p.grant == "client_credentials"  # each stream needs a fresh token
    failed: dict[str, int] = {}  # the same failure on several streams is one line naming them all (its index)
    for i, stream in enumerate(tried):
        batches = module.fetch(ctx, stream, None)
        try:
            batch = next(iter(batches), None)
        except Exception as exc:
            failure = describe_failure(exc, stream)
            advice = " (re-authorize: `sellerguard connect " + acc.id + "`)" if failure.kind == "config" \
                and p.grant == "code" and i == 0 else ""
            if i == 0 and failure.kind == "config" and redeems and not ctx.state.get(ACCESS_STATE):
                # the credential itself was refused (no token came back): every stream would ask again and be
                # refused the same way, so one line for the account, and no more requests to the token endpoint
                also = f" (every stream needs it: {', '.join(tried)})" if len(tried) > 1 else ""
                found.append(Finding("problem", "token", f"{failure.message}{advice}{also}"))
                break
            at = failed.get(failure.message)
            if at is not None:
                found[at] = replace(found[at], topic=f"{found[at].topic}, {stream}")
                continue
            failed[failure.message] = len(found)
            found.append(Finding("problem", stream, f"{failure.message}{advice}"))
            continue
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
        if i == 0:
            found.append(Finding("ok", "token", "the marketplace accepted the credentials"))
        count = len(batch.records) if batch is not None else 0
        found.append(Finding("ok", stream, f"first page read: {count} records"))
    return found
