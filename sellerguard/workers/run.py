"""One worker process: procrastinate's worker loop plus the stalled-job retrier, on one event loop.

Jobs are synchronous (requests, SQLAlchemy); procrastinate runs each in a thread of the loop's default
executor, which is sized to ``concurrency`` here (asyncio's default would cap at cores + 4).

A worker killed with SIGKILL stops sending heartbeats; after ``stalled_after_s`` every other worker's retrier sees
its running jobs as stalled and puts them back in the queue at once (procrastinate's ``get_stalled_jobs`` /
``retry_job``). Their account lock then lets exactly one worker take each.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sellerguard.workers.jobs import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 4  # account jobs at once in this process (each mostly waits on its marketplace)
    name: str | None = None
    heartbeat_s: float = 10.0  # procrastinate's update_heartbeat_interval
    stalled_after_s: float = 30.0  # a worker silent this long is dead: its jobs run again elsewhere
    check_stalled_every_s: float = 10.0
    graceful_s: float = 8.0  # on SIGTERM: running jobs may finish their batch this long, then stop between batches
    poll_s: float = 2.0  # a job scheduled for later is picked up at most this late (new jobs wake workers at once)
    plan_at_start: bool = True
    install_signal_handlers: bool = True


def serve(url: str, rt: Runtime, opts: WorkerOptions) -> None:
    """Run until SIGTERM/SIGINT (procrastinate's handlers); a crash of the loop propagates.

    Raises ``StoreError`` when the database goes away for longer than procrastinate waits (~30 s): the process
    ends (exit 3) and the service manager starts it again (``Restart=on-failure`` in the unit).
    """
    from procrastinate.exceptions import ConnectorException

    from sellerguard.errors import StoreError

    try:
        asyncio.run(_main(url, rt, opts))
    except ConnectorException as exc:
        cause = exc.__cause__ or exc
        detail = " ".join(str(cause).split())[:200] or type(cause).__name__
        raise StoreError(f"the worker lost its PostgreSQL connection ({detail}); it stops so that its service "
                         "manager starts it again") from exc


async def _main(url: str, rt: Runtime, opts: WorkerOptions) -> None:
    import signal

    from asgiref.sync import sync_to_async
    from procrastinate.worker import Worker

    from sellerguard.workers.app import QUEUE, make_app, plan

    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=opts.concurrency + 2, thread_name_prefix="sg-job"))
    app = make_app(url, rt, pool_max=4)  # fetch/finish, heartbeat, listener, deferrals
    async with app.open_async():
        if opts.plan_at_start:
            await sync_to_async(plan, thread_sensitive=False)(app, rt)
        # heartbeats stop as soon as a worker is asked to stop, so it must be done within stalled_after_s, or
        # the others would take its still-running jobs over (the store's sync lock would keep the syncs apart)
        worker = Worker(app, queues=[QUEUE], concurrency=opts.concurrency, name=opts.name, wait=True,
                        update_heartbeat_interval=opts.heartbeat_s, stalled_worker_timeout=opts.stalled_after_s,
                        shutdown_graceful_timeout=min(opts.graceful_s, opts.stalled_after_s / 2),
                        fetch_job_polling_interval=opts.poll_s, install_signal_handlers=False)
        retrier = asyncio.create_task(_retry_stalled(app, opts), name="sellerguard-stalled-retrier")

        def stop(why: str) -> None:
            if not rt.stop.is_set():
                log.info("%s: stopping; running syncs end after their current batch and are queued again", why)
            rt.stop.set()  # syncs stop between batches, rate-limit pauses end
            retrier.cancel()  # this worker's own jobs look stalled once its heartbeat stops: never retry them here
            worker.stop()

        if opts.install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop, sig.name)
        try:
            await worker.run()
        finally:
            stop("worker loop ended")
            await asyncio.gather(retrier, return_exceptions=True)


async def _retry_stalled(app: object, opts: WorkerOptions) -> None:
    while True:
        await asyncio.sleep(opts.check_stalled_every_s)
        try:
            await retry_stalled(app, opts.stalled_after_s)
        except Exception:  # the database away for a moment: the next round tries again
            log.warning("looking for stalled jobs failed", exc_info=True)


async def retry_stalled(app: object, stalled_after_s: float) -> int:
    """Queue again the running jobs of workers silent for ``stalled_after_s``; returns how many."""
    from procrastinate import jobs
    from procrastinate.exceptions import UniqueViolation

    from sellerguard.workers.app import QUEUE

    manager = app.job_manager  # type: ignore[attr-defined]
    count = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_s, queue=QUEUE):
        try:
            await manager.retry_job(job)
        except UniqueViolation:
            # the account's queueing lock: its next run is already queued, and queueing it is the job's last
            # step, so the worker died after the sync, the evaluation and the alerts, before procrastinate
            # recorded the success: the run is done
            log.info("stalled job %s (%s): it had finished (its next run is already queued); marked succeeded",
                     job.id, job.call_string)
            await manager.finish_job(job, status=jobs.Status.SUCCEEDED, delete_job=False)
            continue
        except Exception as exc:
            if "not found" in str(exc) or "invalid status" in str(exc):
                continue  # another worker's retrier was first
            raise  # the database away: the caller logs it and tries again next round
        count += 1
        log.warning("job %s (%s) was running on a worker that stopped answering; queued again", job.id,
                    job.call_string)
    return count
