"""The procrastinate App over the store's PostgreSQL database, and sellerguard's tasks on it.

Task names are fixed strings (``sellerguard.sync_account`` ...), so deferring needs only ``make_app(url)`` and
running needs the same App with a ``Runtime`` (config + store) attached by ``make_app(url, runtime)``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from procrastinate import App, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from sqlalchemy import text
from sqlalchemy.engine import make_url

from sellerguard.workers.jobs import Runtime, jittered, run_account

log = logging.getLogger(__name__)

SYNC_TASK = "sellerguard.sync_account"
PLAN_TASK = "sellerguard.plan"
DELIVER_TASK = "sellerguard.deliver"
QUEUE = "sellerguard"
OUTBOX_KEEP = timedelta(days=30)
JOBS_KEEP_HOURS = 24  # finished jobs are deleted after a day (the store's sync_run keeps the history)


def conninfo(url: str) -> str:
    """The store's SQLAlchemy URL as a libpq URI (same host, database, user, password and options, such as a
    ``search_path``), for procrastinate's psycopg pool."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        raise ValueError(f"not a PostgreSQL URL: {parsed.drivername}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def account_lock(account: str) -> str:
    return f"account:{account}"


class Retry(Exception):
    """Raised by a job to run again in ``delay`` (Retry-After, backoff, or at once after an interruption)."""

    def __init__(self, delay: timedelta, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay


class AccountRetry(BaseRetryStrategy):
    """``Retry`` says when; anything else (a bug, the database gone mid-job) backs off 1 min, 2, 4 ... 6 h.

    Never gives up: an account keeps its one job until it succeeds, so nothing else needs to notice it stopped.
    """

    def get_retry_decision(self, *, exception: BaseException, job: Any) -> RetryDecision | None:
        if isinstance(exception, Retry):
            delay = exception.delay
        else:
            delay = min(timedelta(minutes=1) * 2 ** min(job.attempts, 20), timedelta(hours=6))
        return RetryDecision(retry_in={"seconds": max(0, int(delay.total_seconds()))})


def make_app(url: str, runtime: Runtime | None = None, *, pool_max: int = 4) -> App:
    """The App on ``url`` (the store's URL); with ``runtime`` its tasks can run (a worker), without it they
    can only be deferred."""
    app = App(connector=PsycopgConnector(conninfo=conninfo(url), min_size=1, max_size=pool_max),
              worker_defaults={"queues": [QUEUE]})

    def need() -> Runtime:
        if runtime is None:
            raise RuntimeError("this App only defers jobs; a worker builds it with a Runtime")
        return runtime

    @app.task(name=SYNC_TASK, queue=QUEUE, pass_context=True, retry=AccountRetry())
    def sync_account(context: Any, account: str) -> str:
        rt = need()
        log.info("%s: job %s started on worker %s (attempt %d)", account, context.job.id, context.worker_name,
                 context.job.attempts + 1)
        try:
            run = run_account(rt, account, attempts=context.job.attempts, should_stop=context.should_abort)
        except Exception as exc:  # the evaluation or the store failed (a sync never raises): retried with backoff
            log.warning("%s: job failed: %s: %s; retried with backoff", account, type(exc).__name__,
                        str(exc).split("\n", 1)[0][:300], exc_info=log.isEnabledFor(logging.DEBUG))
            raise
        if run is None:
            return "no such enabled account"
        if run.retry_in is not None:
            (log.info if run.stopped else log.warning)("%s; again in %.0f s", run.summary(),
                                                      run.retry_in.total_seconds())
            raise Retry(run.retry_in, run.summary())
        defer_sync(app, account, in_=run.next_in or timedelta(0))
        return run.summary()

    @app.periodic(cron="* * * * *", periodic_id="plan")
    @app.task(name=PLAN_TASK, queue=QUEUE, queueing_lock="plan", lock="plan")
    def plan_task(timestamp: int) -> int:
        return plan(app, need())

    @app.periodic(cron="* * * * * */30", periodic_id="deliver")
    @app.task(name=DELIVER_TASK, queue=QUEUE, queueing_lock="deliver", lock="deliver")
    def deliver_task(timestamp: int) -> None:
        from asgiref.sync import async_to_sync

        from sellerguard.workers.jobs import deliver

        rt = need()
        moment = datetime.fromtimestamp(timestamp).astimezone()
        daily = moment.hour == 3 and moment.minute == 0 and moment.second < 30
        deliver(rt, prune_before=rt.clock.now() - OUTBOX_KEEP if daily else None)
        if daily:
            async_to_sync(app.job_manager.delete_old_jobs)(nb_hours=JOBS_KEEP_HOURS, queue=QUEUE, include_failed=True)

    return app


def defer_sync(app: App, account: str, *, in_: timedelta = timedelta(0)) -> bool:
    """Queue ``account``'s next sync job; False when one is already waiting (its queueing lock)."""
    try:
        app.configure_task(SYNC_TASK, queue=QUEUE, lock=account_lock(account), queueing_lock=account_lock(account),
                           schedule_in={"seconds": max(0.0, in_.total_seconds())}).defer(account=account)
    except AlreadyEnqueued:
        return False
    return True


def pending_accounts(rt: Runtime) -> set[str]:
    """Accounts with a sync job waiting or running (the queueing lock names the account)."""
    with rt.store.engine.connect() as conn:
        rows = conn.execute(text("SELECT DISTINCT queueing_lock FROM procrastinate_jobs WHERE task_name = :t "
                                 "AND status IN ('todo', 'doing')"), {"t": SYNC_TASK}).scalars().all()
    return {r.removeprefix("account:") for r in rows if r}


PLAN_BATCH = 500  # account jobs queued per INSERT when planning (1,000 accounts: 2 round trips, not 1,000)


def plan(app: App, rt: Runtime, *, spread: timedelta | None = None) -> int:
    """Give every enabled account without a waiting or running job one, due within ``spread`` (default: at
    once); returns how many were queued. Run at each worker's start and every minute (a new account in the
    config, or a job that ended without queueing its successor).

    Queued ``PLAN_BATCH`` at a time in one statement (procrastinate's batch defer); when a batch meets a job
    another process queued meanwhile (the account's queueing lock), nothing of it is queued and its accounts
    are queued one by one instead, skipping those."""
    busy = pending_accounts(rt)
    todo = [acc.id for acc in rt.config.accounts if acc.enabled and acc.id not in busy]
    queued = 0
    for at in range(0, len(todo), PLAN_BATCH):
        chunk = todo[at:at + PLAN_BATCH]
        delays = [jittered(spread, spread, rt.rng) if spread else timedelta(0) for _ in chunk]
        try:
            queued += len(_batch_defer(app, chunk, delays))
        except AlreadyEnqueued:
            queued += sum(defer_sync(app, account, in_=delay) for account, delay in zip(chunk, delays, strict=True))
    if queued:
        log.info("planned %d account job(s)", queued)
    return queued


def _batch_defer(app: App, accounts: list[str], delays: list[timedelta]) -> list[int]:
    """One INSERT of the accounts' sync jobs, each with its own account lock and due time (all or none: raises
    AlreadyEnqueued when one of them already has a job waiting)."""
    template = app.configure_task(SYNC_TASK, queue=QUEUE).job
    now = datetime.now(UTC)
    jobs = [template.evolve(task_kwargs={"account": account}, lock=account_lock(account),
                            queueing_lock=account_lock(account), scheduled_at=now + delay)
            for account, delay in zip(accounts, delays, strict=True)]
    return [job.id for job in app.job_manager.batch_defer_jobs(jobs=jobs)]
