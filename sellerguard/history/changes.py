"""What changed since an earlier day: levels that moved, forecasts that came closer, new overdue items.

``status --since 1d`` and the daily digest compare the current report with the metric history of the newest
recorded day on or before ``as_of - since``. Each change carries its before and after figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from sellerguard.history.record import day_rows, latest_day_on_or_before
from sellerguard.rules.report import LEVEL_ORDER, StatusReport
from sellerguard.store import Store

Kind = Literal["level", "forecast", "overdue", "new_metric"]


@dataclass(frozen=True)
class Change:
    account: str
    item: str  # metric id, or "<kind> <ref>" for an overdue deadline
    kind: Kind
    before: str  # the earlier figure, as text ("-" for none)
    after: str
    worse: bool  # the change is bad news (level up, breach sooner, overdue)

    @property
    def text(self) -> str:
        what = {"level": "level", "forecast": "breach forecast", "overdue": "overdue",
                "new_metric": "new metric"}[self.kind]
        return f"{self.account} {self.item}: {what} {self.before} -> {self.after}"


@dataclass
class Changes:
    base_day: date | None  # the day compared with; None when the history has no day that old
    base_as_of: datetime | None
    items: list[Change]


def _pct(value: float | None, threshold: float | None) -> str:
    if value is None:
        return "-"
    if 0 <= value <= 1 and (threshold is None or 0 < threshold < 1):
        return f"{value * 100:.2f}%"
    return f"{value:g}" if float(value).is_integer() else f"{value:.2f}"


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "none"


def changes_since(store: Store, report: StatusReport, since: timedelta) -> Changes:
    """Compare ``report`` with the history of the newest day on or before ``report.as_of - since``."""
    base_day = latest_day_on_or_before(store, (report.as_of - since).date())
    if base_day is None or base_day >= report.as_of.date():
        return Changes(None, None, [])
    rows = day_rows(store, base_day)
    base_as_of = max((r.as_of for r in rows.values()), default=None)
    items: list[Change] = []
    for acc in report.accounts:
        for m in acc.metrics:
            row = rows.get((acc.account, m.id))
            if row is None:
                if any(a == acc.account for a, _ in rows):
                    items.append(Change(acc.account, m.id, "new_metric", "-",
                                        f"{m.level} {_pct(m.value, m.threshold)}", m.level in ("warn", "critical")))
                continue
            if row.level != m.level:
                items.append(Change(
                    acc.account, m.id, "level", f"{row.level} {_pct(row.value, row.threshold)}",
                    f"{m.level} {_pct(m.value, m.threshold)}", LEVEL_ORDER[m.level] > LEVEL_ORDER[row.level]))
            if m.breach_forecast is not None and (row.breach_forecast is None
                                                  or m.breach_forecast.date() < row.breach_forecast.date()):
                items.append(Change(acc.account, m.id, "forecast", _day(row.breach_forecast),
                                    f"{_day(m.breach_forecast)} ({_pct(row.value, row.threshold)} -> "
                                    f"{_pct(m.value, m.threshold)})", True))
        for d in acc.deadlines:
            if d.due <= report.as_of and (base_as_of is None or d.due > base_as_of):
                items.append(Change(acc.account, f"{d.kind} {d.ref}", "overdue", f"due {d.due:%Y-%m-%d %H:%M}",
                                    f"overdue ({d.metric})", True))
    items.sort(key=lambda c: (not c.worse, c.account, c.kind != "level", c.item))
    return Changes(base_day, base_as_of, items)
