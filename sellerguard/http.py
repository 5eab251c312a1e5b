"""The shared HTTP core every connector uses: one requests Session, retries, rate limits, token refresh.

- Each response is sorted once through the connector's error table into an ``ErrorRule``: retry (429, 5xx,
  connection errors), refresh the token once then retry (401, or what the connector says means "expired"),
  or fail with a ConnectorError whose kind tells the user to fix the config, wait, or report a bad payload.
- Retries are tenacity's, with the sleep injected: Retry-After (seconds or an HTTP date) is honoured when
  given, jittered exponential backoff otherwise. A Retry-After longer than ``max_wait`` is not slept on: the
  call fails with kind "wait" and the delay, so the daemon can come back later.
- A token bucket per operation ("bucket") keeps a full sync under the marketplace's documented limits. During a
  sync the buckets live in the store (``shared_buckets``), so a CLI sync beside the daemon never double-spends.
- "Token expired/revoked" has many shapes (403 + a details text on Amazon, 200 + a code on TikTok): a connector
  lists its own in ``expired`` (``ExpiredShape``); a match invalidates the token, refreshes once and retries.
- "200 with an error inside" is sorted by ``classify`` (``body_codes`` builds one from a code table) like its
  HTTP equivalent; the marketplace's request id (headers or body) is kept in the error message and the log.
- Messages name the method and the path, never a token: query values of secret-looking names are masked.
"""

from __future__ import annotations

import contextvars
import email.utils
import logging
import os
import random
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from sellerguard import __version__
from sellerguard.clock import Clock
from sellerguard.errors import ConnectorError, FailureKind
from sellerguard.payload import parse_json

log = logging.getLogger("sellerguard.http")
Action = Literal["retry", "refresh", "fail"]
USER_AGENT = f"sellerguard/{__version__} (+https://github.com/sellerguard/sellerguard)"
_SECRET_PARAM = re.compile(r"token|secret|sign|password|key|code|auth", re.I)
T = TypeVar("T")
R = TypeVar("R")
MAX_WORKERS = 8  # concurrent calls per client: a keep-alive connection each (requests pools 10 per host)
BLOCK_SECONDS = 0.02  # a shared bucket takes at most this much of its quota per store round trip


@dataclass(frozen=True)
class ErrorRule:
    action: Action
    kind: FailureKind
    message: str


# The defaults every connector starts from; a connector's table overrides entries by status code.
DEFAULT_ERRORS: dict[int | str, ErrorRule] = {
    400: ErrorRule("fail", "payload", "the marketplace rejected the request as malformed"),
    401: ErrorRule("refresh", "config", "credentials were rejected: check the client id, secret and refresh token"),
    403: ErrorRule("fail", "config", "access denied: the app lacks a role or scope for this call"),  # what 403 means
    # no advice here: a 404 or 403 proves no particular setting wrong; a connector adds a hint only where the
    # response proves it (an error code naming the scope, the marketplace id ...)
    404: ErrorRule("fail", "config", "not found: the marketplace does not know this resource"),
    408: ErrorRule("retry", "wait", "the marketplace timed out"),
    409: ErrorRule("retry", "wait", "the marketplace reported a conflict; retrying"),
    429: ErrorRule("retry", "wait", "rate limited by the marketplace"),
    500: ErrorRule("retry", "wait", "the marketplace had an internal error"),
    502: ErrorRule("retry", "wait", "the marketplace's gateway failed"),
    503: ErrorRule("retry", "wait", "the marketplace is unavailable"),
    504: ErrorRule("retry", "wait", "the marketplace's gateway timed out"),
    "connection": ErrorRule("retry", "wait", "cannot reach the marketplace (network down or host unknown)"),
    "timeout": ErrorRule("retry", "wait", "the marketplace did not answer in time"),
    "json": ErrorRule("fail", "payload", "the marketplace sent a response that is not valid JSON"),
}


@dataclass(frozen=True)
class ExpiredShape:
    """One way a marketplace says "this access token is expired or revoked"; all given parts must match.

    ``status``: the HTTP status (None: any). ``code``: equal (case-insensitive) to a string or number anywhere in
    the JSON body (``errors[].code``, ``code``, ``error``...). ``text``: a case-insensitive substring of any string
    in the body (``message``, ``details``, ``error_description``...). Example, Amazon SP-API:
    ``ExpiredShape(status=403, text="access token you provided has expired")``.
    """

    status: int | None = None
    code: str | int | None = None
    text: str | None = None

    def matches(self, status: int, strings: list[str]) -> bool:
        if self.status is not None and status != self.status:
            return False
        if self.code is not None and str(self.code).lower() not in (s.lower() for s in strings):
            return False
        return self.text is None or any(self.text.lower() in s.lower() for s in strings)


# Shapes every marketplace uses on its error statuses (400/401/403 only: a 200 body may quote anything).
DEFAULT_EXPIRED: tuple[ExpiredShape, ...] = tuple(
    ExpiredShape(status=st, text=t)
    for st in (400, 401, 403)
    for t in ("invalid_token", "expired_token", "token has expired", "token is expired", "token expired",
              "access token you provided has expired", "access token is invalid", "invalid access token",
              "token has been revoked", "token was revoked")
)
EXPIRED_RULE = ErrorRule("refresh", "config", "the marketplace refused the access token as expired or revoked")
REQUEST_ID_HEADERS = ("x-amzn-RequestId", "x-amz-request-id", "x-request-id", "X-EBAY-C-REQUEST-ID", "rlogid",
                      "WM_QOS.CORRELATION_ID", "x-tt-logid", "X-Request-ID", "x-shopify-request-id",
                      "x-etsy-request-uuid", "x-bol-request-id")
_REQUEST_ID_KEYS = {"request_id", "requestid", "requestId", "RequestId", "x-request-id", "correlationId", "log_id"}
_HEADER_OK = re.compile(r"([\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?)?")  # visible ASCII, inner spaces only


def body_strings(body: Any, *, limit: int = 200) -> list[str]:
    """Every string and number in a JSON body (keys excluded), breadth-first, at most ``limit``."""
    found: list[str] = []
    queue = [body]
    while queue and len(found) < limit:
        node = queue.pop(0)
        if isinstance(node, dict):
            queue.extend(node.values())
        elif isinstance(node, list):
            queue.extend(node[:50])
        elif isinstance(node, str | int | float) and not isinstance(node, bool):
            found.append(str(node))
    return found


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json() if response.content and len(response.content) < 1_000_000 else None
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None


def request_id(response: requests.Response | None) -> str | None:
    """The marketplace's own id of a request (to quote to its support): common headers, then the body."""
    if response is None:
        return None
    for name in REQUEST_ID_HEADERS:
        if value := response.headers.get(name):
            return _clean_id(value)
    body = _json_or_none(response)
    queue, seen = [body], 0
    while queue and seen < 200:
        node, seen = queue.pop(0), seen + 1
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _REQUEST_ID_KEYS and isinstance(value, str | int) and not isinstance(value, bool):
                    return _clean_id(str(value))
                if isinstance(value, dict | list):
                    queue.append(value)
        elif isinstance(node, list):
            queue.extend(node[:20])
    return None


_MESSAGE_KEYS = ("message", "error_description", "errorMessage", "longMessage", "error_message", "msg", "detail",
                 "details", "description", "error")


def marketplace_message(response: requests.Response | None) -> str | None:
    """The marketplace's own error text from a JSON body (first ``message``-like string), one line, <= 120 chars:
    errors name what the marketplace said, not a guess."""
    body = _json_or_none(response) if response is not None else None
    queue, seen = [body], 0
    while queue and seen < 50:
        node, seen = queue.pop(0), seen + 1
        if isinstance(node, dict):
            for key in _MESSAGE_KEYS:
                value = node.get(key)
                if isinstance(value, str) and value.strip():
                    text = " ".join(value.split())
                    text = text.encode("ascii", "backslashreplace").decode("ascii")
                    return text if len(text) <= 120 else text[:117] + "..."
            queue.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            queue.extend(node[:10])
    return None


def _clean_id(value: str) -> str | None:
    value = value.strip()[:80]
    return value if value and value.isprintable() else None


def body_codes(codes: Mapping[str | int, ErrorRule], find: Callable[[Any], Iterable[Any]]) -> Callable[
        [requests.Response], ErrorRule | None]:
    """A ``classify`` hook from a code table: ``find(json_body)`` yields the body's error codes (any status).

    Shopify GraphQL, for instance: ``body_codes({"THROTTLED": THROTTLED, "INTERNAL_SERVER_ERROR": INTERNAL},
    lambda b: (e.get("extensions", {}).get("code") for e in b.get("errors") or []))``. A body that is not JSON,
    or whose shape ``find`` does not expect (it may raise), gives None: the status table decides.
    """
    table = {str(k).lower(): v for k, v in codes.items()}

    def classify(response: requests.Response) -> ErrorRule | None:
        body = _json_or_none(response)
        if body is None:
            return None
        try:
            found = [str(c).lower() for c in find(body) if c is not None]
        except Exception:  # a body of an unexpected shape: not an error table
            return None
        for code in found:
            if code in table:
                return table[code]
        return None

    return classify


# Verdicts for "200 with an error inside", by what the HTTP equivalent would be
INSIDE_5XX = ErrorRule("retry", "wait", "the marketplace reported an internal error inside a 200 answer")
INSIDE_THROTTLED = ErrorRule("retry", "wait", "the marketplace reported throttling inside a 200 answer")
INSIDE_AUTH = ErrorRule("fail", "config", "the marketplace refused access inside a 200 answer (scope or permission)")
INSIDE_EXPIRED = ErrorRule("refresh", "config", "the marketplace refused the access token inside a 200 answer")


class PooledSession(requests.Session):
    """A keep-alive session that reads the environment (``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``,
    ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``) once per scheme and host, not on every call.

    Plain requests re-resolves them per request (17 % of an eBay ingest on loopback, issue 21). Explicit
    ``proxies=``/``verify=`` arguments and the session's own settings still win, as in requests; a variable
    changed after the first call to a host is not seen by this session (a new sync makes a new session).
    """

    def __init__(self) -> None:
        super().__init__()
        self._environ: dict[tuple[str, str, str | None], tuple[dict[str, str], str | None]] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
                                   ) -> dict[str, Any]:
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        scheme, host = urlsplit(str(url))[:2]
        no_proxy = proxies.get("no_proxy") if proxies else None
        env = self._environ.get((scheme, host, no_proxy))
        if env is None:  # a race only computes the same value twice
            env = (requests.utils.get_environ_proxies(str(url), no_proxy=no_proxy),
                   os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE"))
            self._environ[(scheme, host, no_proxy)] = env
        if (verify is True or verify is None) and env[1]:
            verify = env[1]
        merge = requests.sessions.merge_setting
        return {"proxies": merge({**env[0], **(proxies or {})}, self.proxies), "stream": merge(stream, self.stream),
                "verify": merge(verify, self.verify), "cert": merge(cert, self.cert)}


def mask_url(url: str) -> str:
    """The URL with secret-looking query values replaced by *** and any user-info (``user:password@``) dropped."""
    parts = urlsplit(url)
    if "@" in parts.netloc:  # a base_url with credentials in it: never in an error, a log or the store (alerts)
        parts = parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1])
        url = urlunsplit(parts)
    if not parts.query:
        return url
    query = [(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*:,")))


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Parse Retry-After: delta seconds or an HTTP date. None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class TokenBucket:
    """``rate`` requests per second with bursts up to ``burst``; waits through the injected sleep."""

    def __init__(self, rate: float, burst: float, clock: Clock, sleep: Callable[[float], None]) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._clock = clock
        self._sleep = sleep
        self._at = clock.now()
        self.waited = 0.0
        self._lock = threading.Lock()  # concurrent detail calls share the bucket; a waiter holds it while it sleeps

    def _refill(self) -> None:
        now = self._clock.now()
        self._tokens = min(self.burst, self._tokens + (now - self._at).total_seconds() * self.rate)
        self._at = now

    def acquire(self) -> None:
        with self._lock:
            self._refill()
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.rate
                self.waited += wait
                self._sleep(wait)
                self._refill()
            self._tokens -= 1

    def set_rate(self, rate: float) -> None:
        """Follow the marketplace's own rate header (it may lower or raise the documented limit)."""
        if rate > 0:
            self._refill()
            self.rate = rate

    def drain(self) -> None:
        """Empty the bucket (after a 429 without Retry-After: wait a full refill)."""
        self._refill()
        self._tokens = 0


class BucketBackend:
    """Where shared bucket state lives: ``take(key, rate, burst, now, drain)`` returns the seconds to wait.

    ``take_block(key, rate, burst, now, want)`` -> (seconds to wait, tokens granted): up to ``want`` tokens when
    that many are there now (no wait), else one token reserved with its wait. Implemented over the store by
    ``sellerguard.sync.StoreBuckets`` (a lock plus one state row per bucket).
    """

    def take(self, key: str, rate: float, burst: float, now: datetime, *, drain: bool = False) -> float:
        raise NotImplementedError

    def take_block(self, key: str, rate: float, burst: float, now: datetime, want: int) -> tuple[float, int]:
        return self.take(key, rate, burst, now), 1


# Set by the sync runner for the duration of one account's sync (per thread): buckets created by
# ``HttpClient.limit`` then live in the store under "<prefix>:<marketplace>:<bucket>".
shared_buckets: contextvars.ContextVar[tuple[BucketBackend, str] | None] = contextvars.ContextVar(
    "sellerguard_shared_buckets", default=None)


class SharedBucket(TokenBucket):
    """A TokenBucket whose level lives in a ``BucketBackend`` (the store), so processes share one quota.

    Each acquire reserves a token under the backend's lock (the level may go negative: a reservation) and
    sleeps its wait outside the lock, so two processes never both spend the last token.

    Fast buckets take tokens in blocks (issue 21: a store round trip per request was ~7 s of a 43 s loopback bol
    sync): ``block`` = rate x ``BLOCK_SECONDS`` tokens, at most half the burst, and only when that many are there
    now; the rest waits in this process for its next calls and is dropped with the client. To stay within the
    limit, the shared level is capped at ``burst - (block - 1)``: whatever a holder keeps plus what the shared
    level allows never exceeds ``burst + rate x t`` over any t (one holder per bucket at a time: the account's
    sync lock). Slow buckets (rate < 2 / BLOCK_SECONDS a second, every real marketplace limit here) take one
    token per call, exactly as before.
    """

    def __init__(self, backend: BucketBackend, key: str, rate: float, burst: float, clock: Clock,
                 sleep: Callable[[float], None]) -> None:
        super().__init__(rate, burst, clock, sleep)
        self._backend, self._key = backend, key
        self._kept = 0  # tokens granted with the last block, not yet spent

    @property
    def block(self) -> int:
        return max(1, min(int(self.rate * BLOCK_SECONDS), int(self.burst // 2)))

    def acquire(self) -> None:
        with self._lock:
            if self._kept > 0:
                self._kept -= 1
                return
            block = self.block
            wait, granted = self._backend.take_block(self._key, self.rate, self.burst - (block - 1),
                                                     self._clock.now(), block)
            self._kept = max(0, granted - 1)
        if wait > 0:
            self.waited += wait
            self._sleep(wait)

    def drain(self) -> None:
        with self._lock:
            self._kept = 0
        self._backend.take(self._key, self.rate, self.burst, self._clock.now(), drain=True)


# -- quotas per marketplace application (issue 24) ---------------------------------------------------------------
#
# Some limits are on the APPLICATION (one API key / client id), whatever seller a call is for: many accounts on
# one app, synced by many workers, spend ONE quota. ``SharedBucket`` above is per account; these are per app,
# shared through the store in one state row per app (``AppScope``), so N workers on any machines stay within it.


@dataclass(frozen=True)
class AppQuota:
    """``limit`` calls per ``window_s`` for one application, on the calls tagged ``bucket`` or whose URL contains
    ``path`` (neither: every call of the marketplace's clients).

    Kept as a token bucket of ``burst`` calls refilled at ``(limit - burst) / window_s`` per second: any window of
    ``window_s`` seconds, sliding or calendar, holds at most ``burst + rate x window = limit`` calls. ``burst`` is
    half the limit for windows of an hour or more (a day's quota is mostly spent by once-a-day calls that arrive
    together when workers start: half of it at once, the rest spread over the day) and a tenth for short windows
    (per second, per minute: smooth pacing); at least 1."""

    name: str
    limit: int
    window_s: float
    source: str
    bucket: str | None = None
    path: str | None = None

    @property
    def burst(self) -> float:
        return float(max(1, self.limit // (2 if self.window_s >= 3600 else 10)))

    @property
    def rate(self) -> float:
        return (self.limit - self.burst) / self.window_s

    def applies(self, bucket: str | None, url: str) -> bool:
        return (self.bucket is None or self.bucket == bucket) and (self.path is None or self.path in url)


_ETSY_LIMITS = "https://developers.etsy.com/documentation/essentials/rate-limits"
_EBAY_LIMITS = "https://developer.ebay.com/develop/api/sell/api_call_limits"
APP_QUOTAS: dict[str, tuple[AppQuota, ...]] = {
    # a new Etsy app's QPS and QPD (the app's page shows its own; raise them with SELLERGUARD_APP_QUOTAS)
    "etsy": (AppQuota("qps", 10, 1.0, _ETSY_LIMITS), AppQuota("day", 10_000, 86_400.0, _ETSY_LIMITS)),
    # eBay's daily call limits per application, on the methods the connector calls that have one published
    "ebay": (AppQuota("seller-standards-day", 100, 86_400.0, _EBAY_LIMITS,
                      path="/sell/analytics/v1/seller_standards_profile"),
             AppQuota("customer-service-metric-day", 400, 86_400.0, _EBAY_LIMITS,
                      path="/sell/analytics/v1/customer_service_metric"),
             AppQuota("token-day", 50_000, 86_400.0, "https://developer.ebay.com/api-docs/static/oauth-rate-limits.html",
                      path="/identity/v1/oauth2/token")),
    # Mercado Libre: message GETs share 500 a minute per app
    "mercadolibre": (AppQuota("messages-minute", 500, 60.0, "https://developers.mercadolivre.com.br/en_us/"
                              "messaging-after-sale/", bucket="messages"),),
}
APP_CREDENTIAL = {"etsy": "keystring", "ebay": "client_id", "mercadolibre": "client_id"}  # what names the app


def app_quotas(marketplace: str, setting: str | None = None) -> tuple[AppQuota, ...]:
    """The quotas in force for ``marketplace``'s apps: ``APP_QUOTAS`` changed by ``setting`` (default: the
    ``SELLERGUARD_APP_QUOTAS`` environment variable): ``off`` (none: e.g. an app whose quotas the marketplace
    lifted), or ``<marketplace>.<name>=<limit>`` pairs separated by commas (``etsy.qps=150,etsy.day=100000``: the
    figures an app's page shows). Raises ValueError naming a malformed pair or an unknown quota."""
    setting = os.environ.get("SELLERGUARD_APP_QUOTAS", "") if setting is None else setting
    quotas = {q.name: q for q in APP_QUOTAS.get(marketplace, ())}
    for part in (p.strip() for p in setting.split(",")):
        if not part:
            continue
        if part == "off":
            return ()
        key, _, value = part.partition("=")
        mp, _, name = key.strip().partition(".")
        known = {f"{m}.{q.name}" for m, qs in APP_QUOTAS.items() for q in qs}
        if f"{mp}.{name}" not in known or not value.strip().isdigit():
            raise ValueError(f"SELLERGUARD_APP_QUOTAS: {part!r} is not <quota>=<calls per window> with a quota of "
                             f"{', '.join(sorted(known))}")
        if mp == marketplace:
            quotas[name] = replace(quotas[name], limit=int(value))
    return tuple(quotas.values())


class SharedState(Protocol):
    """What app buckets need from the store: ``update_state(scope, key, update)``, a read-modify-write of one value
    atomic across processes (``sellerguard.store.Store.update_state``)."""

    def update_state(self, account: str, key: str, update: Callable[[str | None], Any]) -> Any: ...


@dataclass(frozen=True)
class AppScope:
    """The application one account's calls are made with, and where its shared quota state lives.

    ``app`` is a digest of the app's client id (never the id itself: Etsy's keystring is half its API key); the
    state row is ``(scope "app:<marketplace>:<app>", "quota")``, so every account of one app shares it."""

    state: SharedState  # the Store
    marketplace: str
    app: str

    @classmethod
    def of(cls, state: SharedState, marketplace: str, credential: Callable[[str], str]) -> AppScope | None:
        """The scope of the app named by the account's credential (``credential(name) -> value``); None when the
        marketplace has no per-app quota here or the credential is missing (the connector reports that itself)."""
        import hashlib

        name = APP_CREDENTIAL.get(marketplace)
        if name is None or marketplace not in APP_QUOTAS:
            return None
        try:
            client_id = credential(name)
        except Exception:  # missing or unset: not ours to report
            return None
        return cls(state, marketplace, hashlib.sha256(f"{marketplace}\0{client_id}".encode()).hexdigest()[:16])

    @property
    def scope(self) -> str:
        return f"app:{self.marketplace}:{self.app}"


# Set around one account's sync (per thread) by whoever runs it (workers, the daemon): every HttpClient of that
# marketplace made meanwhile spends the app's quotas too.
app_scope: contextvars.ContextVar[AppScope | None] = contextvars.ContextVar("sellerguard_app_scope", default=None)


class AppBuckets:
    """The quotas of one app in its shared state row: ``"<level> <level> ... <ISO time>"``, a level per quota.

    ``acquire(bucket, url)`` takes one call from every quota that applies, reserving it (levels may go negative)
    and sleeping its wait outside the lock, as ``SharedBucket`` does. A wait longer than ``max_wait`` is not
    reserved: the call fails with a ``wait`` ConnectorError whose ``retry_after`` says when the app has room, so
    a job gives its slot back instead of sleeping for hours (the worker honours retry_after)."""

    KEY = "quota"

    def __init__(self, scope: AppScope, quotas: tuple[AppQuota, ...], clock: Clock, sleep: Callable[[float], None],
                 max_wait: float) -> None:
        self.scope, self.quotas, self._clock, self._sleep, self.max_wait = scope, quotas, clock, sleep, max_wait
        self.waited = 0.0

    def _update(self, applies: list[bool], now: datetime) -> Callable[[str | None], tuple[str, tuple[float, bool]]]:
        def update(raw: str | None) -> tuple[str, tuple[float, bool]]:
            levels, at = [q.burst for q in self.quotas], now
            if raw:
                try:
                    *parts, stamp = raw.split(" ")
                    old, at = [float(p) for p in parts], datetime.fromisoformat(stamp)
                    if len(old) == len(levels):
                        levels = old
                except ValueError:
                    levels, at = [q.burst for q in self.quotas], now  # unreadable: start full, never fail a sync
            elapsed = max(0.0, (now - at).total_seconds())
            levels = [min(q.burst, lv + elapsed * q.rate) for q, lv in zip(self.quotas, levels, strict=True)]
            # the levels are as of the later of the two stamps: a taker whose clock is behind (another machine's)
            # waits for that moment too, so reservations never come due early
            behind = max(0.0, (at - now).total_seconds())
            wait = max([(1 - lv) / q.rate if q.rate > 0 else 0.0
                        for q, lv, on in zip(self.quotas, levels, applies, strict=True) if on and lv < 1] or [0.0])
            wait = wait + behind if wait > 0 else 0.0
            granted = wait <= self.max_wait
            if granted:
                levels = [lv - 1 if on else lv for lv, on in zip(levels, applies, strict=True)]
            return " ".join([*(repr(lv) for lv in levels), max(now, at).isoformat()]), (wait, granted)

        return update

    def acquire(self, bucket: str | None, url: str) -> None:
        applies = [q.applies(bucket, url) for q in self.quotas]
        if not any(applies):
            return
        wait, granted = self.scope.state.update_state(self.scope.scope, self.KEY,
                                                      self._update(applies, self._clock.now()))
        if not granted:
            names = ", ".join(f"{q.name} ({q.limit} per {q.window_s:g} s)"
                              for q, on in zip(self.quotas, applies, strict=True) if on)
            raise ConnectorError(f"the {self.scope.marketplace} app's quota is used up by all its accounts together:"
                                 f" {names}; room again in {wait:.0f} s", kind="wait",
                                 where=f"{self.scope.marketplace}: app quota", retry_after=wait)
        if wait > 0:
            self.waited += wait
            self._sleep(wait)


class AccessToken:
    """An OAuth access token cached until shortly before it expires.

    ``fetch`` returns (token, expires_at); connectors implement it (client credentials, refresh token, ...).
    ``on_invalidate`` runs when the marketplace refused the token, so a copy kept in connector state is dropped
    too (``lambda: oauth.drop_access(ctx, "access_token")``): a dead token is never kept cached.
    """

    def __init__(self, fetch: Callable[[], tuple[str, datetime]], clock: Clock, margin_s: float = 120,
                 on_invalidate: Callable[[], None] | None = None) -> None:
        self._fetch = fetch
        self._clock = clock
        self._margin = margin_s
        self._on_invalidate = on_invalidate
        self._token: str | None = None
        self._expires: datetime | None = None
        self.fetches = 0
        self._lock = threading.RLock()  # concurrent calls fetch one token, not one each

    def get(self) -> str:
        with self._lock:
            now = self._clock.now()
            if self._token is None or self._expires is None or \
                    (self._expires - now).total_seconds() <= self._margin:
                self._token, self._expires = self._fetch()
                self.fetches += 1
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None
        if self._on_invalidate is not None:
            self._on_invalidate()


def concurrently(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[fn(item) for item in items]`` with up to ``workers`` (at most ``MAX_WORKERS``) running at once; results
    in the order of ``items``. The first failure (in that order) is raised once the calls in flight end; calls
    not started yet are cancelled. ``workers`` <= 1 runs them one by one in this thread."""
    workers = min(workers, MAX_WORKERS, len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sellerguard-http")
    try:
        futures = [pool.submit(fn, item) for item in items]
        return [f.result() for f in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Retry(Exception):
    def __init__(self, error: ConnectorError) -> None:
        self.error = error


@dataclass
class HttpClient:
    """One marketplace host. ``auth(headers)`` adds credentials to each request (and may fetch a token)."""

    base_url: str
    marketplace: str
    clock: Clock
    sleep: Callable[[float], None]
    auth: Callable[[dict[str, str]], None] | None = None
    token: AccessToken | None = None  # invalidated and refetched once on a "refresh" rule
    errors: Mapping[int | str, ErrorRule] = field(default_factory=dict)
    # classify(response) -> ErrorRule | None: a marketplace-specific verdict read from the body
    # ("200 with an error inside", "403 that means expired"); None falls back to the status table.
    classify: Callable[[requests.Response], ErrorRule | None] | None = None
    on_response: Callable[[str | None, requests.Response], None] | None = None
    # the connector's "access token expired/revoked" shapes, on top of DEFAULT_EXPIRED: refresh once, retry
    expired: tuple[ExpiredShape, ...] = ()
    limits: dict[str, TokenBucket] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    max_attempts: int = 5
    max_wait: float = 120.0
    timeout: tuple[float, float] = (10.0, 60.0)
    session: requests.Session = field(default_factory=lambda: PooledSession())
    calls: int = 0
    _count_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    app: AppBuckets | None = None  # the app's quotas (from ``app_scope`` when made inside one)

    def __post_init__(self) -> None:
        scope = app_scope.get()
        if self.app is None and scope is not None and scope.marketplace == self.marketplace and \
                (quotas := app_quotas(self.marketplace)):
            self.app = AppBuckets(scope, quotas, self.clock, self.sleep, self.max_wait)

    def limit(self, bucket: str, rate: float, burst: float) -> None:
        """Pace calls tagged ``bucket=``; shared through the store when a sync runner set ``shared_buckets``."""
        shared = shared_buckets.get()
        if shared is not None:
            backend, prefix = shared
            self.limits[bucket] = SharedBucket(backend, f"{prefix}:{self.marketplace}:{bucket}", rate, burst,
                                               self.clock, self.sleep)
        else:
            self.limits[bucket] = TokenBucket(rate, burst, self.clock, self.sleep)

    def rule(self, key: int | str) -> ErrorRule | None:
        return self.errors.get(key) or DEFAULT_ERRORS.get(key)

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def request(self, method: str, path: str, *, bucket: str | None = None, **kw: Any) -> requests.Response:
        """Send through the session with retries; return the successful response or raise ConnectorError.

        ``bucket`` names the rate limit the call spends (none: unpaced); ``kw`` goes to ``Session.request``
        (``params``, ``json``, ``headers`` merged over the client's)."""
        refreshed = False
        # the first attempt outside tenacity: most calls succeed at once, and its machinery was ~0.1 ms of CPU
        # per call (issue 21); any other outcome is handed to the retry loop as its first attempt, unchanged
        first = [self._send(method, path, bucket, kw)]
        if first[0][1] is None:
            return first[0][0]  # type: ignore[return-value]

        def attempt() -> requests.Response:
            nonlocal refreshed
            response, rule = first.pop() if first else self._send(method, path, bucket, kw)
            if rule is None:
                return response  # type: ignore[return-value]
            where = f"{self.marketplace}: {method} {mask_url(self.url(path)).split('?')[0]}"
            status = response.status_code if response is not None else None
            retry_after = None
            if response is not None:
                retry_after = retry_after_seconds(response.headers.get("Retry-After"), self.clock.now())
            # a Retry-After too long to sleep on ends the call: the caller comes back later, told when
            too_long = rule.action == "retry" and retry_after is not None and retry_after > self.max_wait
            message = rule.message + (f" (HTTP {status})" if status else "")
            if too_long:
                message += f"; the marketplace asks to retry in {retry_after:.0f} s"
            rid = request_id(response)
            said = marketplace_message(response) if rule.kind != "wait" else None
            if said and said.lower() not in message.lower():
                message += f"; the marketplace said: {said!r}"
            if rule.action == "refresh" and refreshed:
                message += "; refused again after a fresh token: re-authorize this account"
            error = ConnectorError(message, kind=rule.kind, where=where, retry_after=retry_after, status=status,
                                   request_id=rid)
            log.info("%s: %s%s", where, message, f" (request id {rid})" if rid else "")
            if rule.action == "refresh" and self.token is not None:
                self.token.invalidate()  # a dead token is never kept, refreshed or not
                if not refreshed:
                    refreshed = True
                    error.retry_after = 0
                    raise _Retry(error)
            if rule.action == "retry" and not too_long:
                raise _Retry(error)
            raise error

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retry),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Retry as exc:
            err = exc.error
            raise ConnectorError(
                f"{err.message}; gave up after {self.max_attempts} attempts",
                kind=err.kind,
                where=err.where,
                retry_after=err.retry_after,
                status=err.status,
                request_id=err.request_id,
            ) from None

    def get_json(self, path: str, **kw: Any) -> Any:
        return self.json(self.request("GET", path, **kw), path)

    def get_each(self, paths: Sequence[str], *, workers: int = 1, **kw: Any) -> list[Any]:
        """``get_json`` of each path, ``workers`` at a time over the keep-alive session (``concurrently``); the
        buckets pace every call as usual. Per-order detail calls use it (issue 21)."""
        return concurrently(lambda path: self.get_json(path, **kw), paths, workers)

    def json(self, response: requests.Response, path: str) -> Any:
        """The body as JSON; not JSON (HTML with 200, truncated, NaN) is a payload error naming the request id."""
        message = (self.rule("json") or DEFAULT_ERRORS["json"]).message
        try:
            return parse_json(response.content, self.marketplace, mask_url(path).split("?")[0], message=message)
        except ConnectorError as exc:
            # the request id only now: without a header it is looked for in the body, a second decode that every
            # good page paid before (issue 21: ~15 % of an eBay order page's CPU)
            rid = request_id(response)
            if rid is None:
                raise
            raise ConnectorError(exc.message, kind=exc.kind, where=exc.where, retry_after=exc.retry_after,
                                 status=exc.status, request_id=rid) from None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.error.retry_after is not None:
            return exc.error.retry_after
        # full jitter: a random wait up to 2^n seconds, capped
        return random.uniform(0, min(60.0, 2.0 ** state.attempt_number))

    def _send(
        self, method: str, path: str, bucket: str | None, kw: dict[str, Any]
    ) -> tuple[requests.Response | None, ErrorRule | None]:
        if self.app is not None:  # the app's quota first: a refusal spends none of the account's own bucket
            self.app.acquire(bucket, self.url(path))
        if bucket and bucket in self.limits:
            self.limits[bucket].acquire()
        headers = {"User-Agent": USER_AGENT, **self.headers, **kw.get("headers", {})}
        if self.auth is not None:
            self.auth(headers)
        if bad := [k for k, v in headers.items() if isinstance(v, str) and not _HEADER_OK.fullmatch(v)]:
            # a garbled credential (whitespace, a lone surrogate, non-ASCII) would crash deep inside http.client
            if "Authorization" in bad and self.token is not None:
                return None, ErrorRule("refresh", "config", "the access token holds characters HTTP cannot send")
            return None, ErrorRule("fail", "config", f"the {bad[0]} header (a credential or option) holds characters"
                                   " HTTP cannot send (whitespace, control or non-ASCII): re-enter it")
        rest = {k: v for k, v in kw.items() if k != "headers"}
        with self._count_lock:
            self.calls += 1
        try:
            response = self.session.request(method, self.url(path), headers=headers, timeout=self.timeout, **rest)
        except requests.Timeout:
            return None, self.rule("timeout")
        except (requests.exceptions.ContentDecodingError, requests.exceptions.InvalidJSONError):
            return None, ErrorRule("fail", "payload", "the marketplace sent a body that cannot be decoded"
                                   " (corrupt gzip/deflate encoding)")
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            return None, self.rule("connection")
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema, ValueError, UnicodeError):
            return None, ErrorRule("fail", "config", "the request URL is not valid (check base_url and ids)")
        except requests.RequestException:
            return None, self.rule("connection")
        if self.on_response is not None:
            self.on_response(bucket, response)
        if self.classify is not None and (verdict := self.classify(response)) is not None:
            return response, verdict
        if response.status_code in (400, 401, 403) or \
                any(shape.status in (None, response.status_code) for shape in self.expired):
            # the body is decoded only where a shape can match: eBay's are all 401, so a 200 page is not read
            # twice (issue 21: ~10 % of an eBay backfill's CPU)
            strings = body_strings(_json_or_none(response)) if response.content else []
            if response.reason:
                strings.append(response.reason)
            for shape in (*self.expired, *DEFAULT_EXPIRED):
                if shape.matches(response.status_code, strings):
                    return response, EXPIRED_RULE
        if response.ok:
            return response, None
        rule = self.rule(response.status_code)
        if rule is None:
            kind: FailureKind = "wait" if response.status_code >= 500 else "payload"
            action: Action = "retry" if response.status_code >= 500 else "fail"
            rule = ErrorRule(action, kind, "unexpected answer from the marketplace")
        return response, rule
