"""What one account job does, independent of the job engine: sync, evaluate, alert; and when to come back.

``run_account`` never raises for a failed sync: it returns ``AccountRun``, whose ``retry_in`` says when the job
should run again (None: it succeeded, the next run is the regular one). The engine turns that into a retry.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests

from sellerguard.clock import Clock, FixedClock
from sellerguard.config import AccountConfig, Config
from sellerguard.rules.report import StatusReport
from sellerguard.store import Store

log = logging.getLogger(__name__)

BACKOFF_CAP = timedelta(hours=6)  # as the daemon's Guard
WAIT_BASE = timedelta(seconds=30)  # a rate limit or outage without Retry-After, another process syncing it
LOCK_WAIT_S = 5.0  # the store's sync lock: a worker does not sit on a job slot while `sellerguard sync` runs


@dataclass
class Runtime:
    """What a worker process shares between its jobs (one per process)."""

    config: Config
    store: Store
    clock: Clock
    stop: threading.Event = field(default_factory=threading.Event)
    http: requests.Session = field(default_factory=requests.Session)
    rng: random.Random = field(default_factory=random.Random)
    intervals: dict[str, timedelta] = field(default_factory=dict)  # account -> effective sync_every
    last_sent: dict[str, datetime] = field(default_factory=dict)  # outbox pacing per target (Slack 1/s)
    sync: Callable[..., Any] | None = None  # tests: a stand-in for sellerguard.sync.sync_account

    def __post_init__(self) -> None:
        if not self.intervals:
            from sellerguard.daemon import sync_intervals

            self.intervals = sync_intervals([a for a in self.config.accounts if a.enabled])

    def account(self, account_id: str) -> AccountConfig | None:
        """The enabled account of that id, or None (removed from the config or disabled since it was queued)."""
        for acc in self.config.accounts:
            if acc.id == account_id:
                return acc if acc.enabled else None
        return None

    def every(self, acc: AccountConfig) -> timedelta:
        return self.intervals.get(acc.id, acc.sync_every)

    def sleep(self, seconds: float) -> None:
        """Rate-limit pauses end early when the worker stops."""
        self.stop.wait(seconds)


@dataclass
class AccountRun:
    account: str
    ok: bool
    records: int = 0
    error_kind: str | None = None
    error: str | None = None
    retry_in: timedelta | None = None  # run again this soon (a failure or an interrupted sync)
    next_in: timedelta | None = None  # the next regular run (after a success)
    queued: int = 0  # alert messages queued by this evaluation
    stopped: bool = False  # interrupted between two batches (the worker is stopping)

    def summary(self) -> str:
        if self.stopped:
            return f"{self.account}: interrupted between two batches (the worker is stopping); queued again"
        if self.ok:
            return f"{self.account}: ok, {self.records} records, {self.queued} message(s) queued"
        return f"{self.account}: {self.error_kind}: {self.error}"


def jittered(every: timedelta, jitter: timedelta, rng: random.Random) -> timedelta:
    """``every`` +/- ``jitter`` (uniform), never below half of ``every``: syncs of many accounts spread out."""
    spread = min(jitter, every / 2).total_seconds()
    return every + timedelta(seconds=rng.uniform(-spread, spread))


def retry_delay(kind: str | None, retry_after: float | None, attempts: int, every: timedelta,
                rng: random.Random) -> timedelta:
    """When a failed account job runs again: at least the marketplace's Retry-After; otherwise exponential
    backoff (``attempts`` = earlier failed runs of this job), from 30 s for transient trouble (kinds ``wait`` and
    ``store``: a rate limit, an outage, the database out of connections) or
    from ``sync_every`` for the rest, capped at 6 h, with 10 % jitter so retries of many accounts spread out."""
    base = WAIT_BASE if kind in ("wait", "store") else every  # store: "too many clients", a lock, a full disk
    delay = min(base * 2 ** min(attempts, 20), BACKOFF_CAP)
    if retry_after:
        delay = max(delay if kind != "wait" else timedelta(0), timedelta(seconds=retry_after))
    return delay * rng.uniform(1.0, 1.1)


def run_account(rt: Runtime, account_id: str, *, attempts: int = 0,
                should_stop: Callable[[], bool] = lambda: False) -> AccountRun | None:
    """Sync one account, then evaluate it and queue (and try to deliver) its alerts. None: no such enabled
    account any more (nothing done, no next run). Never raises for a failed sync; the evaluation's own errors
    (a database gone) propagate so the engine retries the job."""
    from sellerguard.sync import sync_account

    acc = rt.account(account_id)
    if acc is None:
        log.info("%s: not an enabled account in the config any more; its job ends", account_id)
        return None
    every = rt.every(acc)
    stop = lambda: rt.stop.is_set() or should_stop()  # noqa: E731
    # sync_account spends the account's app quotas itself (http.app_scope), shared with every worker
    outcome = (rt.sync or sync_account)(acc, rt.store, clock=rt.clock, sleep=rt.sleep, should_stop=stop,
                                        lock_wait_s=LOCK_WAIT_S)
    run = AccountRun(account_id, bool(outcome.ok), outcome.records, outcome.error_kind, outcome.error)
    if outcome.stopped:
        run.stopped, run.retry_in = True, timedelta(0)  # interrupted between batches: go on at once
        return run
    if outcome.busy:
        run.retry_in = retry_delay("wait", None, attempts, every, rt.rng)
    elif not outcome.ok:
        run.retry_in = retry_delay(outcome.error_kind, outcome.retry_after, attempts, every, rt.rng)
    run.queued = evaluate(rt, acc)  # a failed sync is evaluated too: its stale-data alert must arrive on time
    if run.retry_in is None:
        run.next_in = jittered(every, rt.config.daemon.jitter, rt.rng)
    return run


def evaluate(rt: Runtime, acc: AccountConfig) -> int:
    """Evaluate one account and queue its alerts (``alerts.pipeline``), then deliver what is due; returns the
    number of messages queued. Alerts once across workers: the pipeline decides under a store lock per target
    (``pipeline.decision_locks``), whichever process evaluates."""
    from sellerguard.alerts import outbox
    from sellerguard.status import build_status

    now = rt.clock.now()
    report = build_status(rt.config, rt.store, FixedClock(now), accounts=(acc.id,))
    queued = queue_alerts(rt, report, now)
    if queued:
        outbox.flush(rt.store, rt.config, clock=rt.clock, sleep=rt.sleep, http=rt.http,
                     should_stop=rt.stop.is_set, last_sent=rt.last_sent)
    return queued


def queue_alerts(rt: Runtime, report: StatusReport, now: datetime) -> int:
    """``process_report`` (which takes the per-target locks itself); returns the messages queued."""
    from sellerguard.alerts.pipeline import process_report

    result = process_report(rt.store, rt.config, report, now=now)
    return sum(result.queued.values())


def size_pool(store: Store, jobs: int, *, name: str | None = None) -> None:
    """Give the store's connection pool room for ``jobs`` account jobs at once (PostgreSQL).

    Each running sync holds one connection for its account lock, plus short ones for writes, rate buckets and
    the alert locks; SQLAlchemy's default pool (5 + 10 overflow) made the ninth job wait 30 s and fail. The
    engine is made again with the store's own connect hook (``jit = off``). ``name`` (the worker's) becomes the
    sessions' ``application_name``, so ``pg_stat_activity`` and ``pg_locks`` show which worker holds which
    account lock (bench/workers_bench.py kills workers that are mid-sync by it).
    """
    from sqlalchemy import event
    from sqlmodel import create_engine

    from sellerguard.store import db

    old = store.engine
    extra = {"connect_args": {"application_name": f"sellerguard-worker {name}"[:63]}} if name else {}
    store.engine = create_engine(store.url, pool_pre_ping=True, pool_size=jobs + 2, max_overflow=jobs + 2, **extra)
    event.listen(store.engine, "connect", db._postgres_settings)
    old.dispose()


def deliver(rt: Runtime, *, prune_before: datetime | None = None) -> None:
    """The outbox's periodic part: retries after a pause, the daily digest, pruning old sent messages."""
    from sellerguard.alerts import outbox
    from sellerguard.alerts.pipeline import digest_targets_due, enqueue_digests
    from sellerguard.status import build_status

    if not rt.config.notify:
        return
    now = rt.clock.now()
    if digest_targets_due(rt.store, rt.config, now):  # cheap check first; enqueue_digests checks again, locked
        accounts = tuple(a.id for a in rt.config.accounts if a.enabled)
        report = build_status(rt.config, rt.store, FixedClock(now), accounts=accounts)
        enqueue_digests(rt.store, rt.config, report, now=now)
    if prune_before is not None:
        outbox.prune(rt.store, prune_before)
    outbox.flush(rt.store, rt.config, clock=rt.clock, sleep=rt.sleep, http=rt.http, should_stop=rt.stop.is_set,
                 last_sent=rt.last_sent)
