"""``sellerguard chart ACCOUNT METRIC``: a metric's daily history, threshold, reported value and forecast."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from sellerguard.cli import Ctx, handle_errors, pass_ctx

if TYPE_CHECKING:
    from sellerguard.store import Store


@click.command(name="chart")
@click.argument("account")
@click.argument("metric")
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True, help="Days of history.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Write a picture: .png or .svg. Without it, a text chart in the terminal.")
@pass_ctx
@handle_errors
def command(ctx: Ctx, account: str, metric: str, days: int, output: Path | None) -> None:
    """Draw METRIC of ACCOUNT from the metric history (see `history backfill` for a new install).

    Lines: the daily computed value, the threshold and warn limits, the marketplace's reported value, and the
    forecast to the breach day (dashed). Reads the database only.
    """
    import shutil
    import sys
    from datetime import timedelta

    from sellerguard.clock import SystemClock
    from sellerguard.errors import ConfigError
    from sellerguard.history.chart import chart_data, render, render_text
    from sellerguard.history.record import series

    fmt = None
    if output is not None:
        fmt = output.suffix.lower().lstrip(".")
        if fmt not in ("png", "svg"):
            raise ConfigError("the picture must end in .png or .svg", where=str(output))
    today = SystemClock().now().date()
    rows = series(ctx.read_store, account, metric, today - timedelta(days=days))
    if not rows:
        raise ConfigError(f"no history for {account} / {metric} in the last {days} days"
                          f"{_close_match(ctx.read_store, account, metric)} (check the ids with `sellerguard "
                          "status`; `sellerguard history backfill` computes past days)", where="chart")
    data = chart_data(account, metric, rows)
    if output is None:
        cols, lines = shutil.get_terminal_size((100, 24))
        click.echo(render_text(data, width=max(40, cols), height=max(12, min(lines - 2, 30)),
                               colour=sys.stdout.isatty()))
        return
    body = render(data, fmt)  # type: ignore[arg-type]
    tmp = output.with_name(output.name + ".tmp")
    try:
        tmp.write_bytes(body)
        tmp.replace(output)  # nothing half-written
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write: {exc.strerror}", where=str(output)) from None
    click.echo(f"Wrote {output} ({len(rows)} days of {account} / {metric}).")


def _close_match(store: Store, account: str, metric: str) -> str:
    """``: did you mean X?`` for a mistyped account or metric id among those with history, else ``""``."""
    import difflib

    from sellerguard.history.record import recorded_ids

    accounts = recorded_ids(store)
    if account not in accounts:
        close = difflib.get_close_matches(account, accounts, n=1)
        return f": did you mean account {close[0]}?" if close else ""
    close = difflib.get_close_matches(metric, recorded_ids(store, account), n=1)
    return f": did you mean {close[0]}?" if close and close[0] != metric else ""
