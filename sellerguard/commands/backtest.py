"""``sellerguard backtest``: replay the stored history day by day and score the breach probabilities against
what happened within the horizon, beside the naive rules (docs/forecast.md)."""

from __future__ import annotations

import sys
from datetime import date
from typing import Any

import click

from sellerguard.cli import Ctx, err_console, handle_errors, pass_ctx

_EARLIEST = date(1970, 1, 1)


def _day(text: str | None, where: str) -> date | None:
    from sellerguard.errors import ConfigError

    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"not a date (YYYY-MM-DD): {text!r}", where=where) from None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _document(result: Any) -> dict[str, Any]:
    from sellerguard.rules.forecast_backtest import FORECASTERS, MIN_POPULATED

    return {
        "from": result.start.isoformat(), "to": result.end.isoformat(), "horizon_days": result.horizon_days,
        "accounts": result.accounts, "forecasts": len(result.forecasts), "breaches": sum(
            f.outcome for f in result.forecasts), "base_rate": result.base_rate,
        "brier": {name: result.brier(name) for name in FORECASTERS},
        "reliability": {name: [{**vars(b), "populated": b.populated} for b in result.reliability(name)]
                        for name in FORECASTERS},
        "min_populated": MIN_POPULATED, "worst_gap": result.worst_gap(),
        "warnings": result.warnings(),  # empty when the forecasts are enough to score (docs/forecast.md)
    }


def _print(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from sellerguard.rules.forecast_backtest import FORECASTERS, MIN_POPULATED

    console = Console()
    n = len(result.forecasts)
    console.print(f"Backtest {result.start} .. {result.end}, horizon {result.horizon_days} days, "
                  f"{len(result.accounts)} account(s): {n} forecasts, "
                  f"{sum(f.outcome for f in result.forecasts)} followed by a breach "
                  f"(base rate {_pct(result.base_rate)})", markup=False, highlight=False)
    scores = Table(title="Brier score (lower is better; a 0/1 rule's score is its error rate)",
                   title_justify="left")
    scores.add_column("forecaster")
    scores.add_column("Brier", justify="right")
    names = {"probability": "breach_probability", "level": "today's level (breached now)",
             "forecast_day": "deterministic forecast day (breached now or breach_forecast)"}
    if result.warnings():  # said before the scores too, so they are not read alone
        console.print("Warning: these scores rest on too few forecasts (details at the end)", markup=False,
                      highlight=False)
    for name in FORECASTERS:
        brier = result.brier(name)
        scores.add_row(names[name], "-" if brier is None else f"{brier:.4f}")
    console.print(scores)
    table = Table(title=f"Reliability of breach_probability (per decile; sparse: fewer than {MIN_POPULATED} "
                        "forecasts)", title_justify="left")
    for col in ("decile", "forecasts", "series", "mean forecast", "observed", "gap", "±2 se"):
        table.add_column(col, justify="right")
    table.add_column("")
    for b in result.reliability():
        gap = None if b.mean_forecast is None or b.observed is None else abs(b.mean_forecast - b.observed)
        table.add_row(f"{b.lo:.1f}-{b.hi:.1f}", str(b.count), str(b.series), _pct(b.mean_forecast),
                      _pct(b.observed), _pct(gap), _pct(None if b.gap_se is None else 2 * b.gap_se),
                      "" if b.populated or not b.count else "sparse")
    console.print(table)
    console.print("±2 se: twice the standard error of the gap with each account/metric run counted as one draw "
                  "(its days are alike); a gap inside it is within what so few runs can tell apart",
                  markup=False, highlight=False)
    worst = result.worst_gap()
    console.print(f"Largest gap over populated deciles: {_pct(worst)}", markup=False, highlight=False)
    for warning in result.warnings():
        console.print(f"Warning: {warning}", markup=False, highlight=False)


def plot(result: Any, path: str) -> None:
    """The reliability diagram as an image (matplotlib, Agg: no display needed)."""
    import matplotlib

    from sellerguard.errors import ConfigError

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sellerguard.rules.forecast_backtest import MIN_POPULATED

    bins = [b for b in result.reliability() if b.count]
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(6, 7), height_ratios=(3, 1), sharex=True)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    ax.plot([b.mean_forecast for b in bins], [b.observed for b in bins], color="tab:blue", linewidth=1)
    full = [b for b in bins if b.populated]
    sparse = [b for b in bins if not b.populated]
    ax.errorbar([b.mean_forecast for b in full], [b.observed for b in full],
                yerr=[2 * (b.gap_se or 0.0) for b in full], fmt="o", color="tab:blue", capsize=3, elinewidth=1,
                label=f"breach_probability (decile of {MIN_POPULATED}+ forecasts; bar: ±2 se, runs clustered)")
    if sparse:
        ax.plot([b.mean_forecast for b in sparse], [b.observed for b in sparse], "o", markerfacecolor="white",
                color="tab:blue", label=f"sparse decile (< {MIN_POPULATED})")
    ax.fill_between([0, 1], [-0.1, 0.9], [0.1, 1.1], color="grey", alpha=0.12, label="within 10 points")
    ax.set_ylim(0, 1)
    ax.set_xlim(0, 1)
    ax.set_ylabel("observed breach frequency")
    brier = ", ".join(f"{k} {v:.3f}" for k in ("probability", "level", "forecast_day")
                      if (v := result.brier(k)) is not None)
    ax.set_title(f"Reliability, {len(result.forecasts)} forecasts, horizon {result.horizon_days} d\n"
                 f"Brier: {brier}", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    hist.bar([(b.lo + b.hi) / 2 for b in result.reliability()], [b.count for b in result.reliability()],
             width=0.09, color="tab:blue")
    hist.axhline(MIN_POPULATED, color="grey", linestyle=":", linewidth=1)
    hist.set_yscale("log")
    hist.set_xlabel("forecast probability (decile)")
    hist.set_ylabel("forecasts")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110, metadata={"Software": None})
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror}", where=path) from None
    finally:
        plt.close(fig)


@click.command()
@click.option("--account", "accounts", multiple=True, metavar="ID", help="Only this account (repeatable).")
@click.option("--from", "start", metavar="YYYY-MM-DD", help="First day replayed (default: 60 days before --to).")
@click.option("--to", "end", metavar="YYYY-MM-DD", help="Last day replayed (default: today, UTC).")
@click.option("--horizon", "horizon_days", type=click.IntRange(1, 90),
              help="Days ahead (default [daemon] horizon_days).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of tables.")
@click.option("--plot", "plot_path", metavar="PATH", help="Also write the reliability diagram (PNG).")
@pass_ctx
@handle_errors
def command(ctx: Ctx, accounts: tuple[str, ...], start: str | None, end: str | None, horizon_days: int | None,
            as_json: bool, plot_path: str | None) -> None:
    """Replay the stored history day by day and score the breach probability against what happened.

    Each day from --from to --to is evaluated as of 00:00 UTC; a forecast is scored when its whole horizon lies
    in the range. Prints the Brier score of breach_probability and of two naive rules (today's level; the
    deterministic forecast day) and a reliability table per decile. Exit 0, or 3 on an error.
    """
    import json
    from datetime import UTC, datetime, timedelta

    from sellerguard.errors import ConfigError
    from sellerguard.rules.engine import Engine, accounts_to_check
    from sellerguard.rules.forecast_backtest import run
    from sellerguard.rules.packs import load_packs

    last = _day(end, "--to") or datetime.now(UTC).date()
    first = _day(start, "--from") or last - timedelta(days=60)
    config = ctx.config
    horizon = horizon_days or config.daemon.horizon_days
    today = datetime.now(UTC).date()
    if last > today:  # days to come have no outcome yet; 9999-12-31 would replay for hours
        raise ConfigError(f"--to {last} is after today ({today}): nothing happened there yet", where="--to")
    if first < _EARLIEST:  # 0001-01-01 overflowed the windows (an internal error): no record predates 1970
        raise ConfigError(f"--from {first} is before {_EARLIEST}: no record is that old", where="--from")
    if first > last:
        raise ConfigError(f"--from {first} is after --to {last}", where="--from")
    if (last - first).days < horizon:
        raise ConfigError(f"the range {first} .. {last} is shorter than the horizon ({horizon} days): "
                          "no forecast could be scored", where="--from")
    store = ctx.read_store
    refs = accounts_to_check(config, store, accounts=accounts)
    if not refs:
        raise ConfigError("no accounts: add [[accounts]] to the config or import data first", where="backtest")
    total = len(refs) * ((last - first).days + 1)
    done = 0

    def progress(account: str, day: date) -> None:
        nonlocal done
        done += 1
        if err_console.is_terminal and done % 10 == 1:
            err_console.print(f"\r{account} {day} ({done}/{total})", end="", markup=False)

    result = run(Engine(store, load_packs()), refs, first, last, horizon, progress)
    if err_console.is_terminal:
        err_console.print("\r" + " " * 60 + "\r", end="", markup=False)
    if plot_path:
        plot(result, plot_path)
    if as_json:
        click.echo(json.dumps(_document(result), indent=2))
    else:
        _print(result)
    sys.exit(0)
