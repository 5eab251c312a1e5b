"""``sellerguard run``: sync each account on its schedule, evaluate, notify; one channel's trouble stays its own.

Jobs (on the daemon's own ``schedule.Scheduler``, never the module default):

    sync:<account>   every ``sync_every`` +/- ``daemon.jitter``: submitted to a thread pool, so accounts sync
                     concurrently, each paced by its own marketplace (sync.py's per-account lock and the
                     store-shared rate buckets); one slow account never holds up the rest
    evaluate         every loop pass (about once a second): the accounts whose sync finished since the last pass
                     are evaluated together, so each target gets one message set per pass (busy shops batch)
    outbox           after each evaluation and every 10 s: deliver what is due (``alerts.outbox``)
    digest           every minute: queue the daily digest when ``daemon.digest_at`` has passed

``sync_every`` below what a marketplace's quota sustains (``MIN_SYNC_EVERY``) is raised to that limit with a
warning naming it: syncing faster would only queue behind the marketplace's rate limit.

Every job runs inside a ``Guard``: an exception or a failed sync is logged once (repeats go to debug), the
channel backs off exponentially, the stale-data alert surfaces it once it lasts longer than the account's
``stale_after``, and the other jobs carry on. ``schedule`` does not catch up on missed runs: after a suspend
each job simply runs at its next due time (the first loop pass after waking).

Stopping (SIGTERM/SIGINT sets ``stop``): the running sync finishes its current batch (records + cursor commit
together), the pipeline and the outbox stop between messages, and the loop exits; a watchdog exits the
process after ``STOP_GRACE_S`` if something still hangs, which loses nothing because every write is a
transaction.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import requests
import schedule
from sqlalchemy import func
from sqlmodel import Session, select

from sellerguard.alerts import outbox
from sellerguard.alerts.pipeline import digest_targets_due, enqueue_digests, process_report
from sellerguard.alerts.tables import AlertStateRow
from sellerguard.clock import Clock
from sellerguard.config import AccountConfig, Config
from sellerguard.errors import SellerguardError, StoreError
from sellerguard.health import AccountHealth, MetricPoint, Notifier, Snapshot
from sellerguard.rules.report import StatusReport
from sellerguard.store import Store
from sellerguard.store.tables import SyncRun

log = logging.getLogger(__name__)

LOCK_NAME = "sellerguard-daemon"
STOP_GRACE_S = 9.0
OUTBOX_EVERY_S = 10  # + a target's longest pause (50 s) = a recovered target is drained within a minute
OUTBOX_KEEP = timedelta(days=30)  # sent messages are kept this long (the digest reads yesterday's)
BACKOFF_CAP = timedelta(hours=6)

MAX_WORKERS = 8  # concurrent account syncs; each mostly waits on its marketplace

# The shortest sync interval a marketplace's default quota sustains for the calls every sync makes (from
# /work/shared/reference/apis/*.md, the operations' usage plans); a connector may declare MIN_SYNC_EVERY instead.
MIN_SYNC_EVERY: dict[str, tuple[timedelta, str]] = {
    "amazon": (timedelta(minutes=3), "Amazon searchOrders usage plan: 0.0056 requests/s, one page per 180 s"),
    "walmart": (timedelta(minutes=1), "Walmart seller performance reports: 1 call per minute per seller"),
}

SyncFn = Callable[..., list[Any]]  # sellerguard.sync.sync_accounts
EvaluateFn = Callable[[Config, Store, datetime, tuple[str, ...]], StatusReport]


def default_evaluate(config: Config, store: Store, as_of: datetime, accounts: tuple[str, ...]) -> StatusReport:
    from sellerguard.clock import FixedClock
    from sellerguard.status import build_status

    return build_status(config, store, FixedClock(as_of), accounts=accounts)


def default_sync(config: Config, store: Store, **kw: Any) -> list[Any]:
    from sellerguard.sync import sync_accounts

    return sync_accounts(config, store, **kw)


def app_scope_for(store: Store, acc: AccountConfig) -> Any:
    """The marketplace app ``acc`` syncs with (``http.AppScope``), so its calls spend the app's quotas shared
    through ``store`` with every other account and process of that app; None when the marketplace has none.
    (``sync_account`` makes the same scope for each sync; this is for code that calls marketplaces outside one.)"""
    from sellerguard.http import AppScope

    return AppScope.of(store, acc.marketplace, lambda name: acc.secret(name).get_secret_value())


def check_app_quotas(config: Config) -> None:
    """A malformed ``SELLERGUARD_APP_QUOTAS`` is one ConfigError at start, not a failure in every sync."""
    from sellerguard.errors import ConfigError
    from sellerguard.http import app_quotas

    for marketplace in sorted({a.marketplace for a in config.accounts}):
        try:
            app_quotas(marketplace)
        except ValueError as exc:
            raise ConfigError(str(exc), where="environment") from None


@dataclass
class Channel:
    failures: int = 0
    blocked_until: datetime | None = None
    errors_total: int = 0
    last_error: str | None = None


@dataclass
class Guard:
    """Per-channel containment: log once, back off, count; never let one job stop the loop."""

    clock: Clock
    channels: dict[str, Channel] = field(default_factory=dict)

    def channel(self, name: str) -> Channel:
        return self.channels.setdefault(name, Channel())

    def ready(self, name: str) -> bool:
        ch = self.channel(name)
        return ch.blocked_until is None or self.clock.now() >= ch.blocked_until

    def failed(self, name: str, error: str, *, base: timedelta, retry_after: float | None = None,
               exc_info: bool = False) -> None:
        ch = self.channel(name)
        ch.failures += 1
        ch.errors_total += 1
        # the first failure retries at the next normal run; then base, 2x base, ... capped
        delay = timedelta(0) if ch.failures == 1 else min(base * 2 ** (ch.failures - 2), BACKOFF_CAP)
        if retry_after:
            delay = max(delay, timedelta(seconds=retry_after))
        ch.blocked_until = self.clock.now() + delay if delay else None
        if ch.failures == 1:
            log.error("%s failing: %s", name, error, exc_info=exc_info)  # a crash's traceback, once
        elif error != ch.last_error:
            log.warning("%s still failing (%d times), now: %s; next try after %s", name, ch.failures, error,
                        f"{delay.total_seconds():.0f} s")
        else:
            log.debug("%s still failing (%d times): %s", name, ch.failures, error)
        ch.last_error = error

    def succeeded(self, name: str) -> None:
        ch = self.channel(name)
        if ch.failures:
            log.info("%s recovered after %d failure(s)", name, ch.failures)
        ch.failures, ch.blocked_until, ch.last_error = 0, None, None

    def run(self, name: str, fn: Callable[[], Any], *, base: timedelta = timedelta(minutes=1)) -> Any:
        """Call ``fn``; a crash is contained (traceback logged the first time only)."""
        if not self.ready(name):
            return None
        try:
            result = fn()
        except Exception as exc:  # the guard's whole point: one job's bug must not stop the daemon
            self.failed(name, f"{type(exc).__name__}: {exc}", base=base, exc_info=True)
            return None
        return result


def min_sync_every(marketplace: str) -> tuple[timedelta, str] | None:
    """The quota limit on how often ``marketplace`` can be synced: (interval, why), or None when unknown."""
    try:
        from sellerguard import connectors

        declared = getattr(connectors.registry().get(marketplace), "MIN_SYNC_EVERY", None)
    except Exception:  # a connector that fails to import is reported by its sync, not here
        declared = None
    if isinstance(declared, timedelta):
        return declared, f"the {marketplace} connector's MIN_SYNC_EVERY"
    return MIN_SYNC_EVERY.get(marketplace)


def sync_intervals(accounts: list[AccountConfig]) -> dict[str, timedelta]:
    """Each account's effective interval: ``sync_every`` raised to its marketplace's limit, with a warning."""
    out: dict[str, timedelta] = {}
    for acc in accounts:
        every = acc.sync_every
        limit = min_sync_every(acc.marketplace)
        if limit is not None and every < limit[0]:
            log.warning("accounts[%s].sync_every = %s is below what the marketplace's quota allows (%s: at least "
                        "%s); syncing every %s instead", acc.id, _human(every), limit[1], _human(limit[0]),
                        _human(limit[0]))
            every = limit[0]
        out[acc.id] = every
    return out


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


class Daemon:
    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Clock,
        stop: threading.Event | None = None,
        sync: SyncFn = default_sync,
        evaluate: EvaluateFn = default_evaluate,
        http: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.config, self.store, self.clock = config, store, clock
        self._sleep = sleep
        self.stop = stop or threading.Event()
        self.sync_fn, self.evaluate_fn = sync, evaluate
        self.http = http or requests.Session()
        self.guard = Guard(clock)
        self.scheduler = schedule.Scheduler()
        self.last_sent: dict[str, datetime] = {}
        self._snapshot = Snapshot(started_at=clock.now(), accounts={
            a.id: AccountHealth(a.marketplace, a.stale_limit) for a in config.accounts if a.enabled
        })
        self.notifier = Notifier()
        self._snap_lock = threading.Lock()
        self._release: Callable[[], None] | None = None
        self._watchdog: threading.Timer | None = None
        self._pruned_on: date | None = None
        self._history_pruned_on: date | None = None
        self.intervals = sync_intervals(self.accounts)
        self.pool = ThreadPoolExecutor(max_workers=max(1, min(MAX_WORKERS, len(self.accounts))),
                                       thread_name_prefix="sync")
        self.running: dict[str, Future[None]] = {}
        self._done: list[str] = []  # accounts to evaluate at the next loop pass
        self._done_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def accounts(self) -> list[AccountConfig]:
        return [a for a in self.config.accounts if a.enabled]

    def sleep(self, seconds: float) -> None:
        """Waits that end early on stop: rate-limit pauses, Slack pacing, the idle loop (tests inject theirs)."""
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self.stop.wait(seconds)

    def acquire(self) -> None:
        """One daemon per store: PostgreSQL advisory lock or a file lock beside the SQLite file."""
        release = self.store.try_lock(LOCK_NAME)
        if release is None:
            raise StoreError(
                "another sellerguard daemon is already running on this database; stop it first, "
                "or give this one its own database with --db"
            )
        self._release = release

    def release(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None

    def schedule_jobs(self) -> None:
        jitter = int(self.config.daemon.jitter.total_seconds())
        for acc in self.accounts:
            every = int(self.intervals[acc.id].total_seconds())
            low, high = max(every - jitter, 30), max(every + jitter, 31)
            self.scheduler.every(low).to(high).seconds.do(self.submit, acc.id).tag("sync", acc.id)
        self.scheduler.every(OUTBOX_EVERY_S).seconds.do(self.outbox_job).tag("outbox")
        self.scheduler.every(60).seconds.do(self.digest_job).tag("digest")

    def cycle(self) -> None:
        """Every job once: all accounts sync concurrently, then one evaluation of them all, the digest and the
        outbox; what ``run --once`` does (the loop does the same, job by job, as each falls due)."""
        for acc in self.accounts:
            if self.stop.is_set():
                break
            self.submit(acc.id)
        self.wait_syncs()
        self.evaluate_done()
        self.digest_job()
        self.outbox_job()
        self.tick()

    def run_forever(self) -> None:
        log.info("daemon started: %d account(s), %d notify target(s)", len(self.accounts), len(self.config.notify))
        self.schedule_jobs()
        for acc in self.accounts:  # the first syncs start at once; the loop ticks while they run
            self.submit(acc.id)
        self.notifier.send("READY=1")
        while not self.stop.is_set():
            self.pass_once()
            idle = self.scheduler.idle_seconds
            self.sleep(min(max(idle if idle is not None else 1.0, 0.05), 1.0))
        self.wait_syncs()
        self.pool.shutdown(wait=False)
        log.info("daemon stopped")

    def pass_once(self) -> None:
        """One loop pass: start due syncs, evaluate the accounts that finished, deliver; the liveness tick."""
        self.scheduler.run_pending()
        self.evaluate_done()
        self.tick()

    def submit(self, account_id: str) -> None:
        """Start ``account_id``'s sync in the pool unless its previous one is still running."""
        running = self.running.get(account_id)
        if running is not None and not running.done():
            log.debug("sync:%s still running; this run is skipped", account_id)
            return
        self.running[account_id] = self.pool.submit(self.sync_job, account_id)

    def wait_syncs(self) -> None:
        for future in list(self.running.values()):
            future.result()  # sync_job never raises: the guard contains everything

    def request_stop(self, exit_fn: Callable[[int], None] = os._exit) -> None:
        """Called from the signal handler: ask jobs to stop, and make sure the process ends in time."""
        if self.stop.is_set():
            return
        log.info("stopping: finishing the current batch")
        self.notifier.send("STOPPING=1")
        self.stop.set()

        def watchdog() -> None:
            log.error("could not stop within %.0f s; exiting (committed work is safe)", STOP_GRACE_S)
            exit_fn(1)

        self._watchdog = threading.Timer(STOP_GRACE_S, watchdog)
        self._watchdog.daemon = True
        self._watchdog.start()

    def cancel_watchdog(self) -> None:
        """The shutdown finished in time."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    # -- jobs -----------------------------------------------------------------------------------------

    def sync_job(self, account_id: str) -> None:
        """Sync one account (unless it is backing off; in a pool thread), then mark it for evaluation: a
        backing-off account is still evaluated, so its stale-data alert and repeats arrive on time."""
        name = f"sync:{account_id}"
        try:
            if self.guard.ready(name):
                self._sync(name, self.config.account(account_id))
            else:
                log.debug("%s backing off", name)
        except Exception as exc:  # _sync is guarded; this is the last line of defence of a pool thread
            log.error("%s crashed outside its guard: %s", name, type(exc).__name__, exc_info=True)
        with self._done_lock:
            self._done.append(account_id)

    def evaluate_done(self) -> None:
        """Evaluate every account whose sync finished since the last pass, together, then deliver."""
        with self._done_lock:
            done, self._done = tuple(dict.fromkeys(self._done)), []
        if not done or self.stop.is_set():
            return
        self.guard.run("evaluate", lambda: self.evaluate_and_queue(done))
        self.outbox_job()

    def _sync(self, name: str, acc: AccountConfig) -> None:
        started = self.clock.now()
        # the sync spends the account's app quotas itself (sync_account sets http.app_scope)
        outcomes = self.guard.run(name, lambda: self.sync_fn(
            self.config, self.store, clock=self.clock, sleep=self.sleep, accounts=[acc.id],
            should_stop=self.stop.is_set,
        ), base=acc.sync_every)
        if outcomes is None:
            self._record_crash(acc.id, started)  # a crash left no sync run: the stale alert needs one
            self._note_sync(acc.id, SimpleNamespace(ok=False, error_kind="internal"))
        for outcome in outcomes or []:
            if getattr(outcome, "stopped", False) or getattr(outcome, "busy", False):
                continue  # stopped on purpose, or another process holds the account: neither ok nor failed
            if outcome.ok:
                self.guard.succeeded(name)
            else:
                self.guard.failed(name, outcome.error or "sync failed", base=acc.sync_every,
                                  retry_after=outcome.retry_after)
            self._note_sync(acc.id, outcome)

    def evaluate_and_queue(self, accounts: tuple[str, ...]) -> None:
        now = self.clock.now()
        report = self.evaluate_fn(self.config, self.store, now, accounts)
        process_report(self.store, self.config, report, now=now)
        self._note_report(report)
        self.guard.succeeded("evaluate")
        self.guard.run("history", lambda: self.record_history(report, now))

    def record_history(self, report: StatusReport, now: datetime) -> None:
        """The metric history (sellerguard/history): today's row per metric, pruned to the retention daily."""
        from sellerguard.history.record import prune_older_than, record

        record(self.store, report)
        if self._history_pruned_on != now.date():
            prune_older_than(self.store, self.config.history.retention, now)
            self._history_pruned_on = now.date()

    def outbox_job(self) -> None:
        if not self.config.notify:
            return

        def flush() -> None:
            today = self.clock.now().date()
            if self._pruned_on != today:  # once a day
                outbox.prune(self.store, self.clock.now() - OUTBOX_KEEP)
                self._pruned_on = today
            result = outbox.flush(self.store, self.config, clock=self.clock, sleep=self.sleep, http=self.http,
                                  should_stop=self._tick_and_stop, last_sent=self.last_sent)
            if result.retried or result.failed:
                self.guard.channel("outbox").errors_total += result.retried + result.failed
            self._note_store()

        self.guard.run("outbox", flush)

    def _tick_and_stop(self) -> bool:
        """Between two messages: still alive; stop when asked."""
        self.tick()
        return self.stop.is_set()

    def digest_job(self) -> None:
        def digest() -> None:
            now = self.clock.now()
            if not digest_targets_due(self.store, self.config, now):
                return
            report = self.evaluate_fn(self.config, self.store, now, tuple(a.id for a in self.accounts))
            sent = enqueue_digests(self.store, self.config, report, now=now)
            log.info("daily digest queued for %s", ", ".join(sent))

        self.guard.run("digest", digest)

    # -- health snapshot ------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        with self._snap_lock:
            snap = self._snapshot
            errors = {n: c.errors_total for n, c in self.guard.channels.items()}
            accounts = {a: replace(h) for a, h in snap.accounts.items()}
            return Snapshot(snap.started_at, snap.last_tick, accounts, dict(snap.metrics), dict(snap.alerts),
                            errors, dict(snap.outbox))

    def tick(self) -> None:
        """Liveness: the loop is turning (and, under systemd with WatchdogSec=, WATCHDOG=1)."""
        with self._snap_lock:
            self._snapshot.last_tick = self.clock.now()
        self.notifier.watchdog(time.monotonic())

    def _note_sync(self, account: str, outcome: Any) -> None:
        now = self.clock.now()
        with self._snap_lock:
            h = self._snapshot.accounts[account]
            h.last_finished, h.ok = now, bool(outcome.ok)
            if outcome.ok:
                h.last_ok, h.failures, h.error_kind = now, 0, None
            else:
                h.failures += 1
                h.error_kind = getattr(outcome, "error_kind", None) or "internal"

    def _note_report(self, report: StatusReport) -> None:
        from sellerguard.alerts.units import unit

        with self._snap_lock:
            for acc in report.accounts:
                for m in acc.metrics:
                    self._snapshot.metrics[(acc.account, m.id)] = MetricPoint(
                        acc.marketplace, unit(m), m.value, m.threshold, m.headroom, m.breach_forecast, m.level)
        self._note_store()

    def _note_store(self) -> None:
        with Session(self.store.engine) as session:
            rows = session.exec(
                select(AlertStateRow.target, AlertStateRow.notified_level, func.count())
                .where(AlertStateRow.notified_level != "ok")
                .group_by(AlertStateRow.target, AlertStateRow.notified_level)
            ).all()
        counts = outbox.counts(self.store)
        with self._snap_lock:
            self._snapshot.alerts = {(t, lv): int(n) for t, lv, n in rows}
            self._snapshot.outbox = counts

    def _record_crash(self, account_id: str, started: datetime) -> None:
        error = self.guard.channel(f"sync:{account_id}").last_error or "sync crashed"
        try:
            self.store.record_sync(SyncRun(account=account_id, started_at=started, finished_at=self.clock.now(),
                                           ok=False, error_kind="internal", error=error[:500]))
        except SellerguardError as exc:
            log.debug("could not record the crashed sync of %s: %s", account_id, exc)


def serve(
    daemon: Daemon,
    *,
    once: bool = False,
    health_host: str = "127.0.0.1",
    health_port: int | None = None,
    exit_fn: Callable[[int], None] = os._exit,
) -> dict[str, str]:
    """Take the store's daemon lock, start the health server, trap SIGTERM/SIGINT, and run.

    Returns the channels that failed (name -> last error): with ``once`` the caller exits non-zero on them.
    """
    import signal

    from sellerguard.errors import ConfigError
    from sellerguard.health import HealthServer

    check_app_quotas(daemon.config)
    daemon.acquire()
    server = None
    try:
        if health_port is not None:
            try:
                server = HealthServer(daemon.snapshot, daemon.clock.now, health_host, health_port).start()
            except OSError as exc:
                raise ConfigError(f"cannot listen on {health_host}:{health_port}: {exc.strerror}",
                                  where="--health-port") from None
            log.info("health and metrics on http://%s:%d/healthz and /metrics", health_host, server.port)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: daemon.request_stop(exit_fn))
        if once:
            daemon.cycle()
        else:
            daemon.run_forever()
        return {name: ch.last_error or "failed" for name, ch in daemon.guard.channels.items() if ch.errors_total}
    finally:
        if server is not None:
            server.stop()
        daemon.pool.shutdown(wait=False)
        daemon.release()
        daemon.cancel_watchdog()
