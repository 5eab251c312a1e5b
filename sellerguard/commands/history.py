"""``sellerguard history``: the metric history (issue 22): backfill past days, prune, and show what is kept."""

from __future__ import annotations

import click

from sellerguard.cli import Ctx, err_console, handle_errors, pass_ctx


@click.group(name="history")
def command() -> None:
    """The metric history: one row per account, metric and day (docs/dashboard.md).

    The daemon writes it after every evaluation, `status --record` once; `history backfill` computes past days.
    """


@command.command()
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True,
              help="How many days before today to compute.")
@click.option("--account", "accounts", multiple=True, help="Only this account id (repeatable).")
@click.option("--overwrite", is_flag=True, help="Recompute days that are already recorded.")
@pass_ctx
@handle_errors
def backfill(ctx: Ctx, days: int, accounts: tuple[str, ...], overwrite: bool) -> None:
    """Compute the history of past days from the stored records, as `status --as-of DAYT23:59:59Z` would.

    Days already recorded (by the daemon or an earlier backfill) are kept unless --overwrite.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from sellerguard.clock import SystemClock
    from sellerguard.history.backfill import backfill as run_backfill

    store = ctx.existing_store
    config = ctx.config
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=err_console, transient=True,
                  disable=not err_console.is_terminal) as bar:
        task = bar.add_task("evaluating days", total=days)
        result = run_backfill(config, store, days=days, now=SystemClock().now(), overwrite=overwrite,
                              accounts=accounts, progress=lambda _day: bar.advance(task))
    click.echo(f"Backfilled {result.days} day(s): {result.rows} metric rows written, "
               f"{result.skipped} account-day(s) already recorded and kept.")


@command.command()
@pass_ctx
@handle_errors
def prune(ctx: Ctx) -> None:
    """Delete rows older than `[history] retention` (default 730d; the daemon does this daily)."""
    from sellerguard.clock import SystemClock
    from sellerguard.history.record import prune_older_than

    removed = prune_older_than(ctx.existing_store, ctx.config.history.retention, SystemClock().now())
    click.echo(f"Removed {removed} metric history row(s) older than {ctx.config.history.retention.days} days.")
