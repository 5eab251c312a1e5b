"""What the dashboard shows, as plain data for the template: one evaluation, the history, stream freshness."""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from sellerguard.history.chart import ChartData, chart_data, render
from sellerguard.history.record import all_series
from sellerguard.history.tables import MetricHistoryRow
from sellerguard.rules.report import AccountStatus, Deadline, MetricStatus, StatusReport
from sellerguard.status import fmt_value
from sellerguard.store import Store
from sellerguard.store.tables import ConnectorState

UPCOMING_SHOWN = 15  # deadlines not yet due shown on the page; the CSV export has them all
STREAM_PREFIX = "sync:stream:"  # sellerguard.sync.STREAM_STATE (not imported: it would load requests)
_SVG_HEAD = re.compile(r"^.*?(?=<svg)", re.S)  # the XML declaration and DOCTYPE, not allowed inline


@dataclass
class StreamView:
    name: str
    ok: bool
    at: datetime | None
    age: str
    stale: bool
    error: str | None = None


@dataclass
class MetricView:
    metric: MetricStatus
    value: str
    limit: str
    headroom: str
    reported: str
    drift: str
    breach: str
    chart: str  # inline SVG (server-rendered by matplotlib)
    has_threshold: bool


@dataclass
class AccountView:
    status: AccountStatus
    metrics: list[MetricView] = field(default_factory=list)
    streams: list[StreamView] = field(default_factory=list)


@dataclass
class DeadlineView:
    account: str
    marketplace: str
    deadline: Deadline
    overdue: bool
    if_missed: str


@dataclass
class Dashboard:
    as_of: datetime
    level: str
    accounts: list[AccountView]
    deadlines: list[DeadlineView]  # overdue first, then soonest
    history_days: int

    @property
    def shown_deadlines(self) -> list[DeadlineView]:
        """Every overdue item, then the next ``UPCOMING_SHOWN`` (the page stays about the metrics)."""
        overdue = [q for q in self.deadlines if q.overdue]
        return overdue + [q for q in self.deadlines if not q.overdue][:UPCOMING_SHOWN]


def age_text(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 120:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // 1440} d ago"


def stream_views(store: Store, account: str, now: datetime, stale_after: timedelta | None) -> list[StreamView]:
    """Each stream's last sync outcome (connector state ``sync:stream:<name>``), oldest first."""
    with Session(store.engine) as session:
        keys = session.exec(select(ConnectorState.key).where(
            ConnectorState.account == account, ConnectorState.key.startswith(STREAM_PREFIX))).all()  # type: ignore[attr-defined]
    out = []
    for key in sorted(keys):
        try:
            raw = store.state(account, key)
            info: dict[str, Any] = json.loads(raw) if raw else {}
        except Exception:  # a value sealed with another key: shown as unknown, never a crash of the page
            info = {}
        at = datetime.fromisoformat(info["at"]) if info.get("at") else None
        age = now - at if at else None
        out.append(StreamView(key.removeprefix(STREAM_PREFIX), bool(info.get("ok")), at,
                              age_text(age) if age is not None else "unknown",
                              age is None or (stale_after is not None and age > stale_after),
                              info.get("error_kind")))
    out.sort(key=lambda s: (s.at is not None, s.at or now))
    return out


def _with_today(rows: list[MetricHistoryRow], acc: AccountStatus, m: MetricStatus, as_of: datetime,
                ) -> list[MetricHistoryRow]:
    """The recorded days plus the live evaluation as today's point (a new install has a chart at once)."""
    live = MetricHistoryRow(account=acc.account, metric=m.id, day=as_of.date(), marketplace=acc.marketplace,
                            as_of=as_of, value=m.value, numerator=m.numerator, denominator=m.denominator,
                            threshold=m.threshold, warn=m.warn, comparator=m.comparator, level=m.level,
                            headroom=m.headroom, breach_forecast=m.breach_forecast, reported_value=m.reported_value)
    return [r for r in rows if r.day < as_of.date()] + [live]


_CACHE: OrderedDict[tuple[Any, ...], str] = OrderedDict()  # a reload redraws only charts whose figures changed
_CACHE_LOCK = threading.Lock()
_CACHE_MAX = 4096


def _svg(data: ChartData, gid: str) -> str:
    """The chart as inline SVG (~0.1 s CPU each to draw, so drawn once per distinct series)."""
    key = (gid, data.account, data.metric, tuple(data.days), tuple(data.values), tuple(data.reported),
           tuple(data.thresholds), tuple(data.warns), data.breach_day, data.percent)
    with _CACHE_LOCK:
        if (hit := _CACHE.get(key)) is not None:
            _CACHE.move_to_end(key)
            return hit
    svg = _SVG_HEAD.sub("", render(data, "svg", size=(4.6, 1.9), gid=gid, title=False, legend=False).decode())
    with _CACHE_LOCK:
        _CACHE[key] = svg
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    return svg


def build_dashboard(report: StatusReport, store: Store, *, history_days: int = 90,
                    stale_after: dict[str, timedelta] | None = None) -> Dashboard:
    """Everything the page shows for ``report``: per account its metrics with a chart each, its streams'
    freshness, and the deadline queue with overdue items first."""
    since = report.as_of.date() - timedelta(days=history_days)
    history = all_series(store, since, [a.account for a in report.accounts])
    accounts = []
    n = 0
    for acc in report.accounts:
        view = AccountView(acc, streams=stream_views(store, acc.account, report.as_of,
                                                     (stale_after or {}).get(acc.account)))
        for m in acc.metrics:
            rows = _with_today(history.get((acc.account, m.id), []), acc, m, report.as_of)
            n += 1
            view.metrics.append(MetricView(
                metric=m, value=fmt_value(m, m.value),
                limit="-" if m.threshold is None else f"{m.comparator} {fmt_value(m, m.threshold)}",
                headroom="-" if m.headroom is None else f"{m.headroom:g}",
                reported=fmt_value(m, m.reported_value),
                drift="-" if m.drift is None else fmt_value(m, m.drift),
                breach=m.breach_forecast.strftime("%Y-%m-%d") if m.breach_forecast else "-",
                chart=_svg(chart_data(acc.account, m.id, rows), f"c{n}-"),
                has_threshold=m.threshold is not None,
            ))
        accounts.append(view)
    deadlines = []
    for acc in report.accounts:
        by_id = {m.id: m for m in acc.metrics}
        for d in acc.deadlines:
            metric = by_id.get(d.metric)
            deadlines.append(DeadlineView(acc.account, acc.marketplace, d, d.due <= report.as_of,
                                          fmt_value(metric, d.value_if_missed) if metric else "-"))
    deadlines.sort(key=lambda d: (not d.overdue, d.deadline.due))
    level = report.level if report.accounts else "unknown"
    return Dashboard(report.as_of, level, accounts, deadlines, history_days)
