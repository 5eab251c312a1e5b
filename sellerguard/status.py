"""``sellerguard status``: build the report (rules engine) and render it; the CLI prints.

Three forms: rich tables (``render_status``; a compact list below ``COMPACT_BELOW`` columns), the JSON document
(``report_json``, docs/status-json.md) and the Nagios plugin output with performance data (``render_nagios``).
The exit code is the Nagios one of the worst level (``StatusReport.exit_code``).
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sellerguard.clock import Clock
from sellerguard.config import Config
from sellerguard.errors import ConfigError
from sellerguard.rules.engine import Engine, accounts_to_check
from sellerguard.rules.packs import packs_for
from sellerguard.rules.report import AccountStatus, MetricStatus, StatusReport
from sellerguard.store import Store

if TYPE_CHECKING:  # rich loads only when a table is drawn: ``status --json`` never draws one (start-up, issue 21)
    from rich.console import RenderableType
    from rich.table import Table
    from rich.text import Text

LEVEL_STYLE = {"ok": "green", "warn": "yellow", "critical": "bold red", "unknown": "magenta"}
NAGIOS_WORD = {"ok": "OK", "warn": "WARNING", "critical": "CRITICAL", "unknown": "UNKNOWN"}
log = logging.getLogger("sellerguard.status")
COMPACT_BELOW = 120  # columns: narrower terminals get one metric per two lines instead of a wide table


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
    engine = Engine(store, packs_for({r.marketplace for r in refs}))
    moment = as_of or clock.now()
    report = engine.evaluate(refs, moment, horizon_days or config.daemon.horizon_days)
    _credential_expiry(config, store, report)
    return report


def _credential_expiry(config: Config, store: Store, report: StatusReport) -> None:
    """Each connected account's credential expiry (``sellerguard connect``), for the table, JSON and alerts."""
    from sellerguard.consent import credential_expiry

    configured = {a.id: a for a in config.accounts}
    for acc in report.accounts:
        if acc.account in configured:
            try:
                acc.credentials_expire_at = credential_expiry(store, configured[acc.account])
            except Exception:  # a store key that cannot open the row: status still reports the metrics
                log.debug("%s: credential expiry unreadable", acc.account, exc_info=True)


def _expiry_note(acc: AccountStatus) -> str:
    return f"  credentials until {acc.credentials_expire_at:%Y-%m-%d}" if acc.credentials_expire_at else ""


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
    from rich.text import Text

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
        m.breach_forecast.strftime("%Y-%m-%d") if m.breach_forecast else "-", fmt_odds(m.breach_probability),
    ]


def _as_text(cells: list[Any]) -> list[Any]:
    """Cells as rich ``Text``: a ``str`` given to a table is read as console markup, so an order ref, a note or a
    marketplace's text holding ``[...]`` lost words ("[accounts.policy]") or raised MarkupError on ``[/x]``."""
    from rich.text import Text

    return [Text(c) if isinstance(c, str) else c for c in cells]


def fmt_odds(p: float | None) -> str:
    """The breach probability as a whole percentage; never "0%" or "100%" for odds that are not certain."""
    if p is None:
        return "-"
    if 0 < p < 0.005:
        return "<1%"
    if 0.995 <= p < 1:
        return ">99%"
    return f"{p * 100:.0f}%"


def _note(m: MetricStatus) -> str | None:
    parts = [p for p in (m.reason, None if m.confirmed else "rule unconfirmed by the marketplace") if p]
    if m.level == "ok" and m.confirmed and not _past_the_limit(m):
        return None
    return f"{m.id}: {'; '.join(parts)}" if parts else None


def _past_the_limit(m: MetricStatus) -> bool:
    """An OK figure beyond its threshold (a count gate holds it back): the table must say why it is OK."""
    from sellerguard.rules.assess import is_good

    return m.value is not None and m.threshold is not None and bool(m.reason) \
        and not is_good(m.value, m.comparator, m.threshold)


def account_table(acc: AccountStatus) -> Table:
    from rich.table import Table
    from rich.text import Text

    title = Text.assemble((f"{acc.marketplace} / {acc.account}", "bold"), "  ",
                          (acc.level.upper(), LEVEL_STYLE[acc.level]))
    if acc.last_sync:
        title.append(f"  last sync {acc.last_sync:%Y-%m-%d %H:%M} UTC", style="dim")
    title.append(_expiry_note(acc), style="dim")
    table = Table(title=title, title_justify="left", caption_justify="left")
    table.add_column("metric", no_wrap=True)
    for col in ("level", "value", "count", "good if", "headroom", "breach by", "P(breach)"):
        table.add_column(col)
    for m in acc.metrics:
        table.add_row(*_as_text(_metric_row(m)))
    if not acc.metrics:
        table.add_row("(no policy pack for this marketplace)", Text("UNKNOWN", style="magenta"), *[""] * 6)
    notes = [n for m in acc.metrics if (n := _note(m))]
    if notes:
        table.caption = Text("\n".join(notes))  # never console markup (_as_text)
    return table


def _deadline_rows(report: StatusReport) -> list[tuple[AccountStatus, Any]]:
    rows = [(a, d) for a in report.accounts for d in a.deadlines]
    rows.sort(key=lambda r: r[1].due)
    return rows


def _due(report: StatusReport, d: Any) -> Text:
    """The due time, with a text marker when past due (colour is lost in pipes and with NO_COLOR)."""
    from rich.text import Text

    if d.due <= report.as_of:
        return Text.assemble((f"{d.due:%Y-%m-%d %H:%M}", "red"), " ", ("OVERDUE", "bold red"))
    return Text(f"{d.due:%Y-%m-%d %H:%M}")


def _missed(acc: AccountStatus, d: Any) -> str:
    metric = next((m for m in acc.metrics if m.id == d.metric), None)
    return fmt_value(metric, d.value_if_missed) if metric else "-"


def _more(total: int, shown: int) -> str | None:
    return f"{total - shown} more: --all (or --limit N) shows them, --json has every one" if total > shown else None


def deadline_table(report: StatusReport, limit: int | None = 20) -> Table | None:
    """The deadline queue, soonest first; ``limit=None`` shows every row. Refs and metric ids never truncate."""
    from rich.table import Table
    from rich.text import Text

    rows = _deadline_rows(report)
    if not rows:
        return None
    shown = rows if limit is None else rows[:limit]
    table = Table(title=Text("Deadlines", style="bold"), title_justify="left", caption_justify="left")
    table.add_column("due (UTC)", no_wrap=True)
    for col in ("account", "kind"):
        table.add_column(col)
    for col in ("ref", "metric"):
        table.add_column(col, overflow="fold")
    table.add_column("if missed")
    for acc, d in shown:
        table.add_row(*_as_text([_due(report, d), acc.account, d.kind, d.ref, d.metric, _missed(acc, d)]))
    table.caption = _more(len(rows), len(shown))
    return table


def _compact_account(acc: AccountStatus) -> list[RenderableType]:
    """One account as lines: the metric id on its own line (folded, never cut), its figures below."""
    from rich.padding import Padding
    from rich.text import Text

    head = Text.assemble((f"{acc.marketplace} / {acc.account}", "bold"), "  ",
                         (acc.level.upper(), LEVEL_STYLE[acc.level]), overflow="fold")
    if acc.last_sync:
        head.append(f"  last sync {acc.last_sync:%Y-%m-%d %H:%M} UTC", style="dim")
    head.append(_expiry_note(acc), style="dim")
    lines: list[RenderableType] = [head]
    if not acc.metrics:
        lines.append(Text("  UNKNOWN  (no policy pack for this marketplace)", style="magenta"))
    for m in acc.metrics:
        row = _metric_row(m)
        lines.append(Text.assemble("  ", (f"{m.level.upper():<8}", LEVEL_STYLE[m.level]), " ", m.id,
                                   overflow="fold"))
        figures = [f"{row[2]}", f"count {row[3]}", f"good if {row[4]}", f"headroom {row[5]}"]
        if m.breach_forecast:
            figures.append(f"breach by {row[6]}")
        if m.breach_probability is not None:
            figures.append(f"P(breach) {row[7]}")
        # hanging indent: a wrapped line stays under its metric, never back at column 0
        lines.append(Padding(Text(", ".join(figures), overflow="fold"), (0, 0, 0, 11), expand=False))
        if (note := _note(m)) is not None:
            lines.append(Padding(Text(note.split(": ", 1)[1], style="dim", overflow="fold"), (0, 0, 0, 11),
                                 expand=False))
    return lines


def _compact_deadlines(report: StatusReport, limit: int | None) -> list[RenderableType]:
    from rich.padding import Padding
    from rich.text import Text

    rows = _deadline_rows(report)
    if not rows:
        return []
    shown = rows if limit is None else rows[:limit]
    lines: list[RenderableType] = [Text("Deadlines (UTC)", style="bold")]
    for acc, d in shown:
        lines.append(Text.assemble("  ", _due(report, d), f"  {d.kind} ", d.ref, overflow="fold"))
        lines.append(Padding(Text(f"{acc.account}  {d.metric} if missed: {_missed(acc, d)}", overflow="fold"),
                             (0, 0, 0, 6), expand=False))
    if (more := _more(len(rows), len(shown))) is not None:
        lines.append(Text(more, style="dim"))
    return lines


def render_status(report: StatusReport, *, width: int = 140, deadline_limit: int | None = 20) -> RenderableType:
    """Tables at ``width`` >= ``COMPACT_BELOW`` columns, else a compact list; both keep every id whole."""
    from rich.console import Group
    from rich.text import Text

    parts: list[RenderableType] = [Text(f"Status as of {report.as_of:%Y-%m-%d %H:%M} UTC", style="bold")]
    if width >= COMPACT_BELOW:
        parts += [account_table(a) for a in report.accounts]
        if (deadlines := deadline_table(report, deadline_limit)) is not None:
            parts.append(deadlines)
    else:
        for acc in report.accounts:
            parts += _compact_account(acc)
        parts += _compact_deadlines(report, deadline_limit)
    if not report.accounts:
        parts.append(Text("No accounts: add [[accounts]] to the config or import data first."))
    return Group(*parts)


# -- JSON -------------------------------------------------------------------------------------------------------

def _clean_number(value: Any) -> Any:
    """Integral floats as integers (``6`` not ``6.0``), others without binary noise (0.03, not 0.030000000000000002)."""
    if isinstance(value, float) and math.isfinite(value):
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _clean_number(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_number(v) for v in value]
    return value


def report_document(report: StatusReport) -> dict[str, Any]:
    """The ``status --json`` document: ``as_of``, the overall ``level``, then ``accounts`` (docs/status-json.md)."""
    body = json.loads(report.model_dump_json())
    level = report.level if report.accounts else "unknown"
    return _clean_number({"as_of": body.pop("as_of"), "level": level, **body})


def report_json(report: StatusReport) -> str:
    return json.dumps(report_document(report), indent=2, ensure_ascii=False)


# -- Nagios plugin output -------------------------------------------------------------------------------------

def _perf_number(value: float) -> str:
    """Plain decimal notation (no exponent), as the plugin guidelines want: [-0-9.]."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _perf_range(limit: float | None, comparator: str, scale: float) -> str:
    """A Nagios range that alerts where the metric is bad: ``N`` (alert above N) or ``N:`` (alert below N)."""
    if limit is None:
        return ""
    bound = _perf_number(limit * scale)
    return bound if comparator in ("<", "<=") else f"{bound}:"


# the engine's reasons for an account with no data at all (rules/engine.py, Engine._account)
NO_DATA_REASONS = ("no data: never synced", "no successful sync yet")


def perfdata(acc: AccountStatus, m: MetricStatus) -> str | None:
    """``'account/metric'=value[UOM];warn;crit;min;max``: rates in %, counts plain; None without a value."""
    if m.value is None or not math.isfinite(m.value):
        return None
    if m.level == "unknown" and (m.reason or "").startswith(NO_DATA_REASONS):
        return None  # a count of 0 over no data at all is no measurement: a graph must show a gap, not 0
    rate = _is_rate(m)
    scale, uom = (100.0, "%") if rate else (1.0, "")
    label = f"{acc.account}/{m.id}".replace("'", "''").replace("=", "_")
    warn = _perf_range(m.warn, m.warn_comparator or m.comparator, scale)
    crit = _perf_range(m.threshold, m.comparator, scale)
    if m.breach_level == "warn":  # crossing this limit is a warning (a badge, a programme), never critical
        warn, crit = crit, ""
    bounds = ";0;100" if rate else (";0;" if m.denominator is None and m.numerator is not None else ";;")
    return f"'{label}'={_perf_number(m.value * scale)}{uom};{warn};{crit}{bounds}"


def _plain(text: str) -> str:
    """Long output must not contain '|' (it starts performance data) nor line breaks of its own."""
    return " ".join(text.replace("|", "/").split())


def render_nagios(report: StatusReport) -> str:
    """Nagios/Icinga/Checkmk plugin output (Nagios Plugin Development Guidelines, "Plugin Output").

    Line 1: ``SELLERGUARD <STATE> - <counts> of <n> accounts | <perfdata>``; then one long-output line per
    account and one per metric that is not ok, and per overdue deadline. Every metric with a value has
    performance data on the first line.
    """
    state = NAGIOS_WORD[report.level if report.accounts else "unknown"]
    if not report.accounts:
        return f"SELLERGUARD {state} - no accounts: add [[accounts]] to the config or import data first"
    counts = Counter(a.level for a in report.accounts)
    parts = [f"{counts[lv]} {lv}" for lv in ("critical", "warn", "unknown") if counts[lv]]
    n = len(report.accounts)
    summary = f"{', '.join(parts)} of {n} accounts" if parts else f"{n} of {n} accounts ok"
    perf = [p for a in report.accounts for m in a.metrics if (p := perfdata(a, m)) is not None]
    lines = [f"SELLERGUARD {state} - {summary}" + (f" | {' '.join(perf)}" if perf else "")]
    for acc in report.accounts:
        sync = f", last sync {acc.last_sync:%Y-%m-%d %H:%M} UTC" if acc.last_sync else ", never synced"
        lines.append(_plain(f"{NAGIOS_WORD[acc.level]}: {acc.marketplace}/{acc.account}{sync}"))
        for m in acc.metrics:
            if m.level == "ok":
                continue
            limit = "" if m.threshold is None else f" (good if {m.comparator} {fmt_value(m, m.threshold)})"
            reason = f": {m.reason}" if m.reason else ""
            lines.append(_plain(f"  {NAGIOS_WORD[m.level]}: {acc.account}/{m.id} = {fmt_value(m, m.value)}"
                                f"{limit}{reason}"))
        overdue = [d for d in acc.deadlines if d.due <= report.as_of]
        if overdue:
            refs = ", ".join(f"{d.kind} {d.ref}" for d in overdue[:10])
            more = f" and {len(overdue) - 10} more" if len(overdue) > 10 else ""
            lines.append(_plain(f"  OVERDUE: {len(overdue)} deadline(s): {refs}{more}"))
    return "\n".join(lines)


# -- CSV (for spreadsheets) -----------------------------------------------------------------------------------

METRIC_CSV_COLUMNS = (
    "as_of", "marketplace", "account", "metric", "name", "level", "value", "numerator", "denominator",
    "window_days", "comparator", "threshold", "warn", "headroom", "breach_forecast", "breach_probability",
    "reported_value", "drift", "reason",
)
DEADLINE_CSV_COLUMNS = ("as_of", "marketplace", "account", "due", "overdue", "kind", "ref", "metric",
                        "value_if_missed")


def _csv_cell(value: Any) -> Any:
    """Numbers as plain decimals (rates stay fractions: 0.0123), times as ISO 8601 UTC, None as empty; text that
    starts like a formula (``=``, ``+``, ``-``, ``@``) gets a leading ``'`` (OWASP's CSV-injection advice)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "" if not math.isfinite(value) else _clean_number(value)
    if isinstance(value, str) and value[:1] in _FORMULA_START:
        return "'" + value  # a marketplace's or buyer's text a spreadsheet would run as a formula: kept as text
    return "" if value is None else value


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\r\n")  # RFC 4180
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _csv_cell(row.get(c)) for c in columns})
    return buf.getvalue()


def render_csv_metrics(report: StatusReport) -> str:
    """``status --format csv``: one row per account and metric, with a header row (RFC 4180, CRLF)."""
    rows = [{"as_of": report.as_of, "marketplace": acc.marketplace, "account": acc.account, "metric": m.id,
             **m.model_dump(exclude={"id"})} for acc in report.accounts for m in acc.metrics]
    return _csv(METRIC_CSV_COLUMNS, rows)


def render_csv_deadlines(report: StatusReport) -> str:
    """``status --format csv --deadlines``: the deadline queue, soonest (so overdue) first."""
    rows = [{"as_of": report.as_of, "marketplace": acc.marketplace, "account": acc.account, "due": d.due,
             "overdue": d.due <= report.as_of, "kind": d.kind, "ref": d.ref, "metric": d.metric,
             "value_if_missed": d.value_if_missed} for acc, d in _deadline_rows(report)]
    return _csv(DEADLINE_CSV_COLUMNS, rows)


# -- changes since an earlier day (status --since) ------------------------------------------------------------

def render_changes(changes: Any, since_text: str) -> RenderableType:
    """The ``--since`` section: one row per change, bad news first (``sellerguard.history.changes.Changes``)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    if changes.base_day is None:
        return Text(f"Changes since {since_text}: no metric history that old yet (the daemon and `status --record` "
                    "write it; `sellerguard history backfill` computes past days).", style="dim")
    title = Text(f"Changes since {changes.base_day:%Y-%m-%d} (history as of "
                 f"{changes.base_as_of:%Y-%m-%d %H:%M} UTC)", style="bold")
    if not changes.items:
        return Group(title, Text("No level moved, no forecast came closer, nothing new is overdue."))
    table = Table(title=title, title_justify="left")
    for col in ("account", "item", "change", "before", "after"):
        table.add_column(col, overflow="fold")
    labels = {"level": "level", "forecast": "breach sooner", "overdue": "newly overdue", "new_metric": "new metric"}
    for c in changes.items:
        after = Text(c.after, style="bold red" if c.worse else "green")
        table.add_row(*_as_text([c.account, c.item, labels[c.kind], c.before, after]))
    return table
