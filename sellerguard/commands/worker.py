"""``sellerguard worker``: one worker process of a multi-worker deployment on PostgreSQL (docs/deploy.md)."""

from __future__ import annotations

import click

from sellerguard.cli import Ctx, handle_errors, pass_ctx


@click.command()
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Account jobs at once in this process (each mostly waits on its marketplace).")
@click.option("--stalled-after", type=click.FloatRange(1, 3600), default=30, show_default=True, metavar="SECONDS",
              help="A worker silent this long is taken for dead and its running jobs are run again elsewhere.")
@click.option("--name", help="This worker's name in logs and procrastinate's worker table (default: host:pid).")
@click.option("--log-format", type=click.Choice(["human", "json"]), default="human", show_default=True)
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              default="INFO", show_default=True)
@pass_ctx
@handle_errors
def command(ctx: Ctx, concurrency: int, stalled_after: float, name: str | None, log_format: str,
            log_level: str) -> None:
    """Run account jobs from the PostgreSQL queue: sync, evaluate, alert (docs/deploy.md).

    Start as many as you like, on one machine or many, against one PostgreSQL store: each account is synced by
    one worker at a time, on its sync_every with jitter; a worker killed mid-job has its job taken over by
    another after --stalled-after seconds. SIGTERM finishes running jobs (at most 8 s, then they stop between
    batches and are taken over). SQLite stores use `sellerguard run` instead.
    """
    import logging
    import os
    import socket

    from sellerguard.clock import SystemClock
    from sellerguard.logs import configure_logging
    from sellerguard.workers import schema
    from sellerguard.workers.jobs import Runtime, size_pool
    from sellerguard.workers.run import WorkerOptions, serve

    handler = configure_logging(log_format, log_level)  # type: ignore[arg-type]
    engine_log = logging.getLogger("procrastinate")  # the engine's own lines: warnings, or all with DEBUG
    engine_log.addHandler(handler)
    engine_log.setLevel("DEBUG" if log_level.upper() == "DEBUG" else "WARNING")
    engine_log.propagate = False
    from sqlalchemy.engine import make_url

    from sellerguard.errors import StoreError

    if not make_url(ctx.db_url).drivername.startswith("postgresql"):  # before opening: no SQLite file is made
        raise StoreError(f"workers need a PostgreSQL store (this one is {make_url(ctx.db_url).get_backend_name()}); "
                         "use `sellerguard run` for SQLite", where="--db")
    from sellerguard.daemon import check_app_quotas

    config = ctx.sync_config
    check_app_quotas(config)
    store = ctx.store
    schema.ensure(store)  # PostgreSQL only, with procrastinate installed: one clear line otherwise
    name = name or f"{socket.gethostname()}:{os.getpid()}"
    size_pool(store, concurrency, name=name)
    runtime = Runtime(config, store, SystemClock())
    logging.getLogger("sellerguard.workers").info(
        "worker %s: %d account(s) in the config, concurrency %d", name, sum(a.enabled for a in config.accounts),
        concurrency)
    serve(store.url, runtime, WorkerOptions(
        concurrency=concurrency, name=name,
        heartbeat_s=stalled_after / 3, stalled_after_s=stalled_after, check_stalled_every_s=stalled_after / 3))
