"""The outbox: every message is written to the store before it is sent and marked sent only after a 2xx.

Per target, messages leave in creation order: the oldest undelivered message (the head) goes first, and while it
cannot be delivered nothing newer for that target is sent. Trouble pauses the TARGET, not one message:

    2xx                      sent; the next message follows (Slack: one per second)
    429                      the target waits Retry-After (seconds or HTTP date; 30 s when absent, at most 1 h);
                             not a failure: it does not lengthen the backoff
    5xx, 408, network error  the target backs off 15 s, 30 s, then 50 s for good, probing with the head message,
                             so a target that answers again is drained within a minute (daemon flushes every 10 s)
    other 4xx                that message failed for good (webhook revoked, payload refused); kept for
                             ``notify --retry-failed``; the next message is tried

Delivery is at-least-once: a sender claims the head (status ``sending``, claim valid ``CLAIM_S``) and commits the
claim before the POST, so a second sender (``notify --flush`` beside the daemon) skips it; a per-target store lock
keeps two senders from interleaving one target. A crash after the target accepted but before the row was marked
sent leaves the claim to expire and the message is sent again; a crash before the send loses nothing.

Folding (``fold``): a message still waiting is superseded by a newer one about the same alerts; the newer one
carries the older one's events ("fired 11:02, resolved 11:15, fired again 11:19") and the older is marked
``folded``, so after an outage the channel gets the true state once instead of a replay.

Webhook URLs are secrets: they are resolved from the config at send time, never stored, and never logged; a
network error is reported by its class name only, because ``requests`` puts the URL in its messages.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import requests
from sqlalchemy import func, or_, update
from sqlmodel import Session, select

from sellerguard import __version__
from sellerguard.alerts.tables import OutboxRow
from sellerguard.clock import Clock
from sellerguard.config import Config, TargetConfig
from sellerguard.errors import ConfigError
from sellerguard.redact import excerpt
from sellerguard.rules.report import AccountStatus, MetricStatus, StatusReport
from sellerguard.store import Store

log = logging.getLogger(__name__)

SLACK_INTERVAL_S = 1.0  # Slack: "no more than one message per second" per webhook
TIMEOUT_S = 10.0
BACKOFF_BASE_S = 15.0
BACKOFF_MAX_S = 50.0  # probed every 50 s; with the daemon flushing every 10 s, recovery drains within a minute
RETRY_AFTER_DEFAULT_S = 30.0
RETRY_AFTER_MAX_S = 3600.0
CLAIM_S = 120.0  # > TIMEOUT_S with margin: a claim older than this is a sender that died mid-send


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
    held: int = 0  # pending but not attempted: the target is paused, busy with another sender, or we stopped
    paused: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Event:
    """One thing a message tells about one alert key (``<account>/<item>``; a webhook's key is the account)."""

    key: str
    reason: str  # new / escalated / repeat / resolved / update
    at: datetime

    def as_json(self) -> dict[str, str]:
        return {"key": self.key, "reason": self.reason, "at": self.at.isoformat()}


def _events(row: OutboxRow) -> list[Event]:
    if not row.events:
        return []
    return [Event(e["key"], e["reason"], datetime.fromisoformat(e["at"])) for e in json.loads(row.events)]


def fold(session: Session, target: str, keys: set[str]) -> dict[str, list[Event]]:
    """Mark ``target``'s waiting messages that a new message about ``keys`` supersedes as folded; return their
    events per key, oldest first, for the new message to tell.

    A waiting message is folded when every key it speaks of is in ``keys`` and no newer waiting message that
    stays speaks of one of them (otherwise the channel would hear a key's events out of order).
    """
    rows = session.exec(
        select(OutboxRow).where(OutboxRow.target == target, OutboxRow.status == "pending")
        .order_by(OutboxRow.id.desc())  # type: ignore[union-attr]
    ).all()
    blocked: set[str] = set()
    folded: list[OutboxRow] = []
    for row in rows:
        evs = _events(row)
        row_keys = {e.key for e in evs}
        if row_keys and row_keys <= keys and not row_keys & blocked:
            folded.append(row)
        else:
            blocked |= row_keys if row_keys else set()
    history: dict[str, list[Event]] = {}
    seen: set[Event] = set()  # every body of a split message carries the same events: tell them once
    for row in reversed(folded):
        for e in _events(row):
            if e not in seen:
                seen.add(e)
                history.setdefault(e.key, []).append(e)
        row.status, row.last_error = "folded", "superseded by a newer message about the same alerts"
        session.add(row)
    return history


def target_pause(session: Session, target: str) -> tuple[datetime | None, int]:
    """The target's pause (the latest not-before among its waiting messages) and its failure count; read it
    before ``fold`` so that a message replacing a paused one stays paused."""
    when, attempts = session.exec(
        select(func.max(OutboxRow.next_attempt_at), func.max(OutboxRow.attempts))
        .where(OutboxRow.target == target, OutboxRow.status == "pending")
    ).one()
    return when, int(attempts or 0)


def enqueue(
    session: Session,
    target: str,
    kind: str,
    bodies: list[str],
    now: datetime,
    events: list[Event] | None = None,
    pause: tuple[datetime | None, int] = (None, 0),
) -> int:
    """Queue ``bodies`` for ``target`` (``pause`` from ``target_pause``: a paused target stays paused).

    ``events`` (this evaluation's events, folded history included) are stored on every body, so that a newer
    message folds all the parts of a message split at Slack's limits, not only its first.
    """
    not_before = max(now, pause[0]) if pause[0] is not None else now
    evs = json.dumps([e.as_json() for e in events]) if events else None
    for body in bodies:
        session.add(OutboxRow(target=target, kind=kind, body=body, created_at=now, next_attempt_at=not_before,
                              attempts=pause[1], events=evs))
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


def backoff_seconds(failures: int) -> float:
    """The target's pause after ``failures`` consecutive failures: 15 s, 30 s, then 50 s for good."""
    return min(BACKOFF_BASE_S * 2 ** max(failures - 1, 0), BACKOFF_MAX_S)


def _headers(target: TargetConfig, kind: str, key: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": f"sellerguard/{__version__}"}
    if target.type == "webhook":
        headers["X-Sellerguard-Event"] = kind
        headers["Idempotency-Key"] = key  # at-least-once: lets a receiver drop a repeat
    return headers


def send(http: requests.Session, target: TargetConfig, body: str, kind: str, key: str, now: datetime) -> SendResult:
    """POST one body; never raises for HTTP or network trouble. The error keeps the status line and a short,
    redacted excerpt of the answer (``redact.excerpt``): the URL is a secret and servers echo it.
    An ``email`` target is delivered by SMTP instead (``alerts/email.py``, the same outcomes)."""
    if target.type == "email":
        from sellerguard.alerts import email

        return email.send(target, body, kind, key, now)
    assert target.url is not None  # the config requires it for slack and webhook
    try:
        url = target.url.reveal(where=f"notify[{target.name}].url").get_secret_value()
    except ConfigError as exc:
        return SendResult("retry", error=exc.message)
    try:
        # no redirects: requests would turn the POST into a GET (a 301/302 "delivered" nothing) or carry the
        # alert to another host; a 3xx is refused for good and says so (fix the URL, then notify --retry-failed)
        resp = http.post(url, data=body.encode("utf-8"), headers=_headers(target, kind, key), timeout=TIMEOUT_S,
                         allow_redirects=False)
    except requests.RequestException as exc:
        return SendResult("retry", error=f"network error ({type(exc).__name__})")
    code = resp.status_code
    if 200 <= code < 300:
        return SendResult("sent", code)
    detail = excerpt(resp.text, [url])
    error = f"HTTP {code}: {detail}" if detail else f"HTTP {code}"
    if code == 429:
        wait = min(retry_after_seconds(resp.headers.get("Retry-After"), now), RETRY_AFTER_MAX_S)
        return SendResult("retry", code, wait, error)
    if code >= 500 or code == 408:
        return SendResult("retry", code, error=error)
    return SendResult("failed", code, error=error)


def _reclaim(session: Session, now: datetime) -> None:
    """Claims that outlived ``CLAIM_S`` belong to a sender that died: the message goes back to the queue."""
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.status == "sending", OutboxRow.next_attempt_at <= now)  # type: ignore[arg-type]
        .values(status="pending", next_attempt_at=now)
    )


def _head(session: Session, target: str) -> OutboxRow | None:
    return session.exec(
        select(OutboxRow)
        .where(OutboxRow.target == target, or_(OutboxRow.status == "pending", OutboxRow.status == "sending"))
        .order_by(OutboxRow.id)  # type: ignore[arg-type]
        .limit(1)
    ).first()


def _claim(store: Store, target: str, now: datetime, force: bool) -> tuple[int | None, str]:
    """Claim the target's head message: (row id, "") or (None, why not: empty / paused / busy)."""
    with Session(store.engine) as session, session.begin():
        head = _head(session, target)
        if head is None:
            return None, "empty"
        if head.status == "sending":
            return None, "busy"
        if head.next_attempt_at > now and not force:
            return None, "paused"
        claimed = session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == head.id, OutboxRow.status == "pending")  # type: ignore[arg-type]
            .values(status="sending", next_attempt_at=now + timedelta(seconds=CLAIM_S))
        )
        return (head.id, "") if claimed.rowcount == 1 else (None, "busy")  # type: ignore[attr-defined]


def _waiting(store: Store, target: str) -> int:
    with Session(store.engine) as session:
        return int(session.exec(
            select(func.count()).where(OutboxRow.target == target, OutboxRow.status == "pending")
        ).one())


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
    force: bool = False,
) -> FlushResult:
    """Deliver what is due, per target in creation order, one message per second per Slack webhook.

    ``force`` (``notify --flush``) also tries a target paused by failures: the operator asks for it now.
    ``last_sent`` (target -> time of its last post) lets a long-lived caller keep the pacing across flushes.
    """
    http = http or requests.Session()
    last_sent = {} if last_sent is None else last_sent
    targets = {t.name: t for t in config.notify}
    result = FlushResult()
    with Session(store.engine) as session, session.begin():
        _reclaim(session, clock.now())
    with Session(store.engine) as session:
        names = sorted(session.exec(
            select(OutboxRow.target).where(OutboxRow.status == "pending").distinct()
        ).all())
    budget = limit
    for name in names:
        release = store.try_lock(f"sellerguard-notify:{name}")
        if release is None:  # another process is delivering this target right now
            result.held += _waiting(store, name)
            continue
        try:
            budget -= _flush_target(store, name, targets.get(name), result, clock=clock, sleep=sleep, http=http,
                                    should_stop=should_stop, budget=budget, last_sent=last_sent, force=force)
        finally:
            release()
    return result


def _flush_target(
    store: Store,
    name: str,
    target: TargetConfig | None,
    result: FlushResult,
    *,
    clock: Clock,
    sleep: Callable[[float], None],
    http: requests.Session,
    should_stop: Callable[[], bool],
    budget: int,
    last_sent: dict[str, datetime],
    force: bool,
) -> int:
    tried = 0
    while tried < budget and not should_stop():
        row_id, why = _claim(store, name, clock.now(), force and tried == 0)
        if row_id is None:
            if why == "paused":
                result.paused.add(name)
            if why != "empty":
                result.held += _waiting(store, name)
            return tried
        if target is not None and target.type == "slack" and name in last_sent:
            wait = SLACK_INTERVAL_S - (clock.now() - last_sent[name]).total_seconds()
            if wait > 0:
                sleep(wait)
        with Session(store.engine) as session:
            row = session.get(OutboxRow, row_id)
            assert row is not None  # claimed by us: nobody else deletes it
            body, kind, created = row.body, row.kind, row.created_at
        now = clock.now()
        if target is None:
            outcome = SendResult("failed", error=f"target '{name}' is no longer in the config")
        else:
            outcome = send(http, target, body, kind, f"sellerguard-{row_id}-{int(created.timestamp())}", now)
            last_sent[name] = clock.now()
        tried += 1
        with Session(store.engine) as session, session.begin():
            row = session.get(OutboxRow, row_id)
            if row is None:
                continue
            _record(row, outcome, clock.now(), result)
            session.add(row)
            if outcome.status == "sent":
                _resume(session, name, clock.now())
        if outcome.status == "retry":
            result.paused.add(name)
            result.held += _waiting(store, name) - 1
            return tried
    if should_stop() or tried >= budget:
        result.held += _waiting(store, name)
    return tried


def _resume(session: Session, target: str, now: datetime) -> None:
    """The target answered: the pause its waiting messages inherited (``target_pause``: a Retry-After of up to
    an hour, a backoff) is over, so the rest of the queue follows now, in order, paced as usual."""
    session.execute(
        update(OutboxRow)
        .where(OutboxRow.target == target, OutboxRow.status == "pending",  # type: ignore[arg-type]
               OutboxRow.next_attempt_at > now)  # type: ignore[arg-type]
        .values(next_attempt_at=now, attempts=0)
    )


def _record(row: OutboxRow, outcome: SendResult, now: datetime, result: FlushResult) -> None:
    row.last_error = outcome.error
    if outcome.status == "sent":
        row.status, row.sent_at = "sent", now
        result.sent += 1
        log.info("notify target %s: message %d delivered (%s, queued %s)", row.target, row.id, row.kind,
                 row.created_at.strftime("%H:%M:%S"))
        return
    if outcome.status == "failed":
        row.status = "failed"
        result.failed += 1
        log.error("notify target %s refused message %d for good: %s", row.target, row.id, outcome.error)
        return
    row.status = "pending"
    if outcome.retry_after is not None:  # 429: wait as told; not a failure
        wait = outcome.retry_after
        log.info("notify target %s: rate limited (%s); waiting %.0f s as told", row.target, outcome.error, wait)
    else:
        row.attempts += 1
        wait = backoff_seconds(row.attempts)
        log.warning("notify target %s: message %d not delivered (%s); failure %d, target paused %.0f s",
                    row.target, row.id, outcome.error, row.attempts, wait)
    row.next_attempt_at = now + timedelta(seconds=wait)
    result.retried += 1


def retry_failed(store: Store, now: datetime) -> int:
    """Put failed messages back in the queue (after fixing a revoked webhook, say), in their original order."""
    with Session(store.engine) as session, session.begin():
        rows = session.exec(select(OutboxRow).where(OutboxRow.status == "failed")).all()
        for row in rows:
            row.status, row.next_attempt_at, row.attempts = "pending", now, 0
            session.add(row)
        return len(rows)


def prune(store: Store, older_than: datetime) -> int:
    """Drop messages sent (or folded) before ``older_than``; pending and failed ones are never dropped."""
    with Session(store.engine) as session, session.begin():
        sent = (OutboxRow.status == "sent") & (OutboxRow.sent_at < older_than)  # type: ignore[operator]
        folded = (OutboxRow.status == "folded") & (OutboxRow.created_at < older_than)  # type: ignore[operator]
        rows = session.exec(select(OutboxRow).where(sent | folded)).all()
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
        elif target.type == "email":
            from sellerguard.alerts import email

            body = email.render_test(target.name, now)
        else:
            body = sample_report(now).model_dump_json()
        results.append((target, send(http, target, body, "test", f"sellerguard-test-{int(now.timestamp())}", now)))
    return results
