"""``sellerguard chart ACCOUNT METRIC``: a metric's daily history, threshold, reported value and forecast."""

from __future__ import annotations

from pathlib import Path

import click

from sellerguard.cli import Ctx, handle_errors, pass_ctx


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
        raise ConfigError(f"no history for {account} / {metric} in the last {days} days (check the ids with "
                          "`sellerguard status`; `sellerguard history backfill` computes past days)", where="chart")
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
