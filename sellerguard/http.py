"""The shared HTTP core every connector uses: one requests Session, retries, rate limits, token refresh.

- Each response is sorted once through the connector's error table into an ``ErrorRule``: retry (429, 5xx,
  connection errors), refresh the token once then retry (401, or what the connector says means "expired"),
  or fail with a ConnectorError whose kind tells the user to fix the config, wait, or report a bad payload.
- Retries are tenacity's, with the sleep injected: Retry-After (seconds or an HTTP date) is honoured when
  given, jittered exponential backoff otherwise. A Retry-After longer than ``max_wait`` is not slept on: the
  call fails with kind "wait" and the delay, so the daemon can come back later.
- A token bucket per operation ("bucket") keeps a full sync under the marketplace's documented limits.
- Messages name the method and the path, never a token: query values of secret-looking names are masked.
"""

from __future__ import annotations

import email.utils
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from sellerguard import __version__
from sellerguard.clock import Clock
from sellerguard.errors import ConnectorError, FailureKind

Action = Literal["retry", "refresh", "fail"]
USER_AGENT = f"sellerguard/{__version__} (+https://github.com/sellerguard/sellerguard)"
_SECRET_PARAM = re.compile(r"token|secret|sign|password|key|code|auth", re.I)


@dataclass(frozen=True)
class ErrorRule:
    action: Action
    kind: FailureKind
    message: str


# The defaults every connector starts from; a connector's table overrides entries by status code.
DEFAULT_ERRORS: dict[int | str, ErrorRule] = {
    400: ErrorRule("fail", "payload", "the marketplace rejected the request as malformed"),
    401: ErrorRule("refresh", "config", "credentials were rejected: check the client id, secret and refresh token"),
    403: ErrorRule("fail", "config", "access denied: the app lacks a role or scope for this call"),
    404: ErrorRule("fail", "config", "not found: check the account's region, site and seller id"),
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


def mask_url(url: str) -> str:
    """The URL with secret-looking query values replaced by ***."""
    parts = urlsplit(url)
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

    def _refill(self) -> None:
        now = self._clock.now()
        self._tokens = min(self.burst, self._tokens + (now - self._at).total_seconds() * self.rate)
        self._at = now

    def acquire(self) -> None:
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


class AccessToken:
    """An OAuth access token cached until shortly before it expires.

    ``fetch`` returns (token, expires_at); connectors implement it (client credentials, refresh token, ...).
    """

    def __init__(self, fetch: Callable[[], tuple[str, datetime]], clock: Clock, margin_s: float = 120) -> None:
        self._fetch = fetch
        self._clock = clock
        self._margin = margin_s
        self._token: str | None = None
        self._expires: datetime | None = None
        self.fetches = 0

    def get(self) -> str:
        now = self._clock.now()
        if self._token is None or self._expires is None or (self._expires - now).total_seconds() <= self._margin:
            self._token, self._expires = self._fetch()
            self.fetches += 1
        return self._token

    def invalidate(self) -> None:
        self._token = None


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
    limits: dict[str, TokenBucket] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    max_attempts: int = 5
    max_wait: float = 120.0
    timeout: tuple[float, float] = (10.0, 60.0)
    session: requests.Session = field(default_factory=requests.Session)
    calls: int = 0

    def limit(self, bucket: str, rate: float, burst: float) -> None:
        self.limits[bucket] = TokenBucket(rate, burst, self.clock, self.sleep)

    def rule(self, key: int | str) -> ErrorRule | None:
        return self.errors.get(key) or DEFAULT_ERRORS.get(key)

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def request(self, method: str, path: str, *, bucket: str | None = None, **kw: Any) -> requests.Response:
        """Send with retries; return the successful response or raise ConnectorError."""
        refreshed = False

        def attempt() -> requests.Response:
            nonlocal refreshed
            response, rule = self._send(method, path, bucket, kw)
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
            error = ConnectorError(message, kind=rule.kind, where=where, retry_after=retry_after, status=status)
            if rule.action == "refresh" and not refreshed and self.token is not None:
                refreshed = True
                self.token.invalidate()
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
            ) from None

    def get_json(self, path: str, **kw: Any) -> Any:
        return self.json(self.request("GET", path, **kw), path)

    def json(self, response: requests.Response, path: str) -> Any:
        try:
            return response.json()
        except ValueError:
            rule = self.rule("json")
            assert rule is not None
            raise ConnectorError(rule.message, kind=rule.kind, where=f"{self.marketplace}: {path}") from None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.error.retry_after is not None:
            return exc.error.retry_after
        # full jitter: a random wait up to 2^n seconds, capped
        return random.uniform(0, min(60.0, 2.0 ** state.attempt_number))

    def _send(
        self, method: str, path: str, bucket: str | None, kw: dict[str, Any]
    ) -> tuple[requests.Response | None, ErrorRule | None]:
        if bucket and bucket in self.limits:
            self.limits[bucket].acquire()
        headers = {"User-Agent": USER_AGENT, **self.headers, **kw.get("headers", {})}
        if self.auth is not None:
            self.auth(headers)
        rest = {k: v for k, v in kw.items() if k != "headers"}
        self.calls += 1
        try:
            response = self.session.request(method, self.url(path), headers=headers, timeout=self.timeout, **rest)
        except requests.Timeout:
            return None, self.rule("timeout")
        except requests.ConnectionError:
            return None, self.rule("connection")
        if self.on_response is not None:
            self.on_response(bucket, response)
        if self.classify is not None and (verdict := self.classify(response)) is not None:
            return response, verdict
        if response.ok:
            return response, None
        rule = self.rule(response.status_code)
        if rule is None:
            kind: FailureKind = "wait" if response.status_code >= 500 else "payload"
            action: Action = "retry" if response.status_code >= 500 else "fail"
            rule = ErrorRule(action, kind, "unexpected answer from the marketplace")
        return response, rule
