"""The outbox: every message is written to the store before it is sent and marked sent only after a 2xx.

Delivery is therefore at-least-once: a crash after Slack accepted a message but before the row was marked sent
repeats that message on the next flush; a crash before the send loses nothing. Failures are sorted like an
error table:

    2xx                      sent
    429                      retry after Retry-After (seconds or HTTP date; 30 s when absent); target paused
    5xx, 408, network error  retry with exponential backoff (30 s doubling, capped at 1 h); target paused
    other 4xx                failed: the webhook was revoked or the payload refused; kept for ``notify --retry-failed``

Webhook URLs are secrets: they are resolved from the config at send time, never stored, and never logged; a
network error is reported by its class name only, because ``requests`` puts the URL in its messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from sqlalchemy import func
from sqlmodel import Session, select

from sellerguard import __version__
from sellerguard.alerts.tables import OutboxRow
from sellerguard.clock import Clock
from sellerguard.config import Config, TargetConfig
from sellerguard.errors import ConfigError
from sellerguard.rules.report import AccountStatus, MetricStatus, StatusReport
from sellerguard.store import Store

log = logging.getLogger(__name__)

SLACK_INTERVAL_S = 1.0  # Slack: "no more than one message per second" per webhook
TIMEOUT_S = 10.0
BACKOFF_BASE_S = 30.0
BACKOFF_MAX_S = 3600.0
RETRY_AFTER_DEFAULT_S = 30.0


@dataclass
class SendResult:
    status: str  # sent / retry / failed
    http_status: int | None = None
    retry_after: float | None = None
    error: str | None = None


@dataclass
class FlushResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    paused: set[str] = field(default_factory=set)


def enqueue(session: Session, target: str, kind: str, bodies: list[str], now: datetime) -> int:
    for body in bodies:
        session.add(OutboxRow(target=target, kind=kind, body=body, created_at=now, next_attempt_at=now))
    return len(bodies)


def retry_after_seconds(value: str | None, now: datetime) -> float:
    if not value:
        return RETRY_AFTER_DEFAULT_S
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return RETRY_AFTER_DEFAULT_S
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_seconds(attempts: int) -> float:
    return min(BACKOFF_BASE_S * 2 ** max(attempts - 1, 0), BACKOFF_MAX_S)


def _headers(target: TargetConfig, kind: str, key: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": f"sellerguard/{__version__}"}
    if target.type == "webhook":
        headers["X-Sellerguard-Event"] = kind
        headers["Idempotency-Key"] = key  # at-least-once: lets a receiver drop a repeat
    return headers


def _without_url(text: str, url: str) -> str:
    """The response body with the webhook URL and its secret path cut out: many servers echo the path in a 404."""
    parts = urlsplit(url)
    for secret in (url, parts.path, parts.query):
        if len(secret) > 1:
            text = text.replace(secret, "***")
    return text


def send(http: requests.Session, target: TargetConfig, body: str, kind: str, key: str, now: datetime) -> SendResult:
    """POST one body; never raises for HTTP or network trouble, and never puts the URL in an error."""
    try:
        url = target.url.reveal(where=f"notify[{target.name}].url").get_secret_value()
    except ConfigError as exc:
        return SendResult("retry", error=exc.message)
    try:
        resp = http.post(url, data=body.encode("utf-8"), headers=_headers(target, kind, key), timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        return SendResult("retry", error=f"network error ({type(exc).__name__})")
    code = resp.status_code
    if 200 <= code < 300:
        return SendResult("sent", code)
    detail = " ".join(_without_url(resp.text, url).split())[:200]
    error = f"HTTP {code}: {detail}" if detail else f"HTTP {code}"
    if code == 429:
        return SendResult("retry", code, retry_after_seconds(resp.headers.get("Retry-After"), now), error)
    if code >= 500 or code == 408:
        return SendResult("retry", code, error=error)
    return SendResult("failed", code, error=error)


def flush(
    store: Store,
    config: Config,
    *,
    clock: Clock,
    sleep: Callable[[float], None],
    http: requests.Session | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    limit: int = 500,
    last_sent: dict[str, datetime] | None = None,
) -> FlushResult:
    """Send what is due, oldest first, one message per second per Slack webhook; commit after each message.

    ``last_sent`` (target -> time of its last post) lets a long-lived caller keep the pacing across flushes.
    """
    http = http or requests.Session()
    last_sent = {} if last_sent is None else last_sent
    targets = {t.name: t for t in config.notify}
    result = FlushResult()
    now = clock.now()
    with Session(store.engine) as session:
        due = session.exec(
            select(OutboxRow.id, OutboxRow.target)
            .where(OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now)
            .order_by(OutboxRow.id)  # type: ignore[arg-type]
            .limit(limit)
        ).all()
    for row_id, target_name in due:
        if should_stop():
            break
        if target_name in result.paused:
            continue
        target = targets.get(target_name)
        if target is not None and target.type == "slack" and target_name in last_sent:
            wait = SLACK_INTERVAL_S - (clock.now() - last_sent[target_name]).total_seconds()
            if wait > 0:
                sleep(wait)
        with Session(store.engine) as session, session.begin():
            row = session.get(OutboxRow, row_id)
            if row is None or row.status != "pending":
                continue
            now = clock.now()
            if target is None:
                outcome = SendResult("failed", error=f"target '{target_name}' is no longer in the config")
            else:
                key = f"sellerguard-{row.id}-{int(row.created_at.timestamp())}"
                outcome = send(http, target, row.body, row.kind, key, now)
                last_sent[target_name] = clock.now()
            _record(row, outcome, now, result)
            session.add(row)
    return result


def _record(row: OutboxRow, outcome: SendResult, now: datetime, result: FlushResult) -> None:
    row.attempts += 1
    row.last_error = outcome.error
    if outcome.status == "sent":
        row.status, row.sent_at = "sent", now
        result.sent += 1
        return
    if outcome.status == "failed":
        row.status = "failed"
        result.failed += 1
        log.error("notify target %s refused message %d for good: %s", row.target, row.id, outcome.error)
        return
    wait = outcome.retry_after if outcome.retry_after is not None else backoff_seconds(row.attempts)
    row.next_attempt_at = now + timedelta(seconds=min(wait, BACKOFF_MAX_S))
    result.retried += 1
    result.paused.add(row.target)  # one failure pauses that target for this flush; others carry on
    log.warning(
        "notify target %s: message %d not delivered (%s); attempt %d, retrying in %.0f s",
        row.target, row.id, outcome.error, row.attempts, wait,
    )


def retry_failed(store: Store, now: datetime) -> int:
    """Put failed messages back in the queue (after fixing a revoked webhook, say)."""
    with Session(store.engine) as session, session.begin():
        rows = session.exec(select(OutboxRow).where(OutboxRow.status == "failed")).all()
        for row in rows:
            row.status, row.next_attempt_at = "pending", now
            session.add(row)
        return len(rows)


def prune(store: Store, older_than: datetime) -> int:
    """Drop sent messages delivered before ``older_than``; pending and failed ones are never dropped."""
    with Session(store.engine) as session, session.begin():
        rows = session.exec(
            select(OutboxRow).where(OutboxRow.status == "sent", OutboxRow.sent_at < older_than)  # type: ignore[operator]
        ).all()
        for row in rows:
            session.delete(row)
        return len(rows)


def counts(store: Store) -> dict[str, int]:
    with Session(store.engine) as session:
        rows = session.exec(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all()
    return {status: int(n) for status, n in rows}


def sample_report(now: datetime) -> StatusReport:
    """What ``notify --test`` sends to a generic webhook: a valid status document about a sample account."""
    metric = MetricStatus(id="sample.defect_rate", name="Sample defect rate", value=0.004, numerator=4,
                          denominator=1000, window_days=60, threshold=0.01, warn=0.0075, comparator="<",
                          level="ok", source="https://github.com/sellerguard", reason="test notification")
    return StatusReport(as_of=now, accounts=[AccountStatus(marketplace="sample", account="sample", level="ok",
                                                           metrics=[metric], deadlines=[])])


def send_test(config: Config, http: requests.Session, now: datetime) -> list[tuple[TargetConfig, SendResult]]:
    """Send a sample message to every target right away (not through the outbox) and say how each went."""
    import json

    from sellerguard.alerts.slack import render_test

    results = []
    for target in config.notify:
        if target.type == "slack":
            body = json.dumps(render_test(target.name, now)[0], ensure_ascii=False)
        else:
            body = sample_report(now).model_dump_json()
        results.append((target, send(http, target, body, "test", f"sellerguard-test-{int(now.timestamp())}", now)))
    return results
