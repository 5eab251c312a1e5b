"""``sellerguard status``: build the report (rules engine) and render it as rich tables; the CLI prints.

The JSON form is ``StatusReport.model_dump_json`` (docs/status-json.md); the exit code is the Nagios one of
the worst level (``StatusReport.exit_code``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from sellerguard.clock import Clock
from sellerguard.config import Config
from sellerguard.errors import ConfigError
from sellerguard.rules.engine import Engine, accounts_to_check
from sellerguard.rules.packs import load_packs
from sellerguard.rules.report import AccountStatus, MetricStatus, StatusReport
from sellerguard.store import Store

LEVEL_STYLE = {"ok": "green", "warn": "yellow", "critical": "bold red", "unknown": "magenta"}


def parse_as_of(text: str) -> datetime:
    """``2026-11-23`` (midnight UTC) or an ISO 8601 moment with an offset (``2026-11-23T12:00Z``)."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ConfigError(f"not a date or ISO 8601 timestamp: {text!r}", where="--as-of") from None
    if moment.tzinfo is None:
        raise ConfigError(f"{text!r} has no time zone; add one, e.g. {raw}Z or {raw}+02:00",
                          where="--as-of") from None
    if not 1970 <= moment.year <= 9000:  # windows reach a year back and the forecast 90 days ahead
        raise ConfigError(f"{text!r} is out of range (years 1970 to 9000)", where="--as-of")
    return moment.astimezone(UTC)


def build_status(
    config: Config, store: Store, clock: Clock, *, as_of: datetime | None = None,
    accounts: tuple[str, ...] = (), marketplaces: tuple[str, ...] = (), horizon_days: int | None = None,
) -> StatusReport:
    refs = accounts_to_check(config, store, accounts=accounts, marketplaces=marketplaces)
    engine = Engine(store, load_packs())
    moment = as_of or clock.now()
    return engine.evaluate(refs, moment, horizon_days or config.daemon.horizon_days)


def _is_rate(m: MetricStatus) -> bool:
    """Show as a percentage: computed rates, and reported figures whose limit is a fraction."""
    values = [v for v in (m.value, m.threshold, m.reported_value) if v is not None]
    fraction_limit = m.threshold is not None and 0 < m.threshold < 1
    return (m.denominator is not None or fraction_limit) and all(0 <= v <= 1 for v in values)


def fmt_value(m: MetricStatus, value: float | None) -> str:
    if value is None:
        return "-"
    if _is_rate(m):
        return f"{value * 100:.2f}%"
    return f"{value:g}" if float(value).is_integer() else f"{value:.2f}"


def _headroom(m: MetricStatus) -> str:
    if m.headroom is None:
        return "-"
    h = int(m.headroom)
    if h >= 0:
        return f"{h} more defect{'s' if h != 1 else ''}"
    return f"needs {-h} clean"


def _metric_row(m: MetricStatus) -> list[RenderableType]:
    if m.numerator is None:
        counts = "-"
    elif m.denominator is None:
        counts = f"{m.numerator:g}"
    elif m.value is not None and not _is_rate(m):  # an average: the numerator is a sum of scores
        counts = f"{m.denominator:g} rated"
    else:
        counts = f"{m.numerator:g}/{m.denominator:g}"
    if m.window_days and m.numerator is not None:
        counts += f" in {m.window_days}d"
    limit = "-" if m.threshold is None else f"{m.comparator} {fmt_value(m, m.threshold)}"
    value = fmt_value(m, m.value)
    if m.reported_value is not None:
        value += f" (mkt {fmt_value(m, m.reported_value)})"
    return [
        m.id, Text(m.level.upper(), style=LEVEL_STYLE[m.level]), value, counts, limit, _headroom(m),
        m.breach_forecast.strftime("%Y-%m-%d") if m.breach_forecast else "-",
    ]


def _note(m: MetricStatus) -> str | None:
    parts = [p for p in (m.reason, None if m.confirmed else "rule unconfirmed by the marketplace") if p]
    if m.level == "ok" and m.confirmed:
        return None
    return f"{m.id}: {'; '.join(parts)}" if parts else None


def account_table(acc: AccountStatus) -> Table:
    title = Text.assemble((f"{acc.marketplace} / {acc.account}", "bold"), "  ",
                          (acc.level.upper(), LEVEL_STYLE[acc.level]))
    if acc.last_sync:
        title.append(f"  last sync {acc.last_sync:%Y-%m-%d %H:%M} UTC", style="dim")
    table = Table(title=title, title_justify="left", caption_justify="left")
    table.add_column("metric", no_wrap=True)
    for col in ("level", "value", "count", "good if", "headroom", "breach by"):
        table.add_column(col)
    for m in acc.metrics:
        table.add_row(*_metric_row(m))
    if not acc.metrics:
        table.add_row("(no policy pack for this marketplace)", Text("UNKNOWN", style="magenta"), *[""] * 5)
    notes = [n for m in acc.metrics if (n := _note(m))]
    if notes:
        table.caption = "\n".join(notes)
    return table


def deadline_table(report: StatusReport, limit: int = 50) -> Table | None:
    rows = [(a, d) for a in report.accounts for d in a.deadlines]
    if not rows:
        return None
    rows.sort(key=lambda r: r[1].due)
    table = Table(title=Text("Deadlines", style="bold"), title_justify="left")
    for col in ("due (UTC)", "account", "kind", "ref", "metric", "if missed"):
        table.add_column(col)
    for acc, d in rows[:limit]:
        overdue = d.due <= report.as_of
        metric = next((m for m in acc.metrics if m.id == d.metric), None)
        missed = fmt_value(metric, d.value_if_missed) if metric else "-"
        table.add_row(Text(f"{d.due:%Y-%m-%d %H:%M}", style="red" if overdue else ""), acc.account,
                      d.kind, d.ref, d.metric, missed)
    if len(rows) > limit:
        table.caption = f"{len(rows) - limit} more in --json"
    return table


def render_status(report: StatusReport) -> RenderableType:
    parts: list[RenderableType] = [Text(f"Status as of {report.as_of:%Y-%m-%d %H:%M} UTC", style="bold")]
    parts += [account_table(a) for a in report.accounts]
    if (deadlines := deadline_table(report)) is not None:
        parts.append(deadlines)
    if not report.accounts:
        parts.append(Text("No accounts: add [[accounts]] to the config or import data first."))
    return Group(*parts)
