"""Alerts as plain data, built from a StatusReport: one per (account, metric), deadline item or sync health.

Identity is (account, item): ``item`` is a metric id (``amazon.odr``), ``deadline:<kind>:<ref>`` for an order or
thread that must be acted on, or ``sync`` when the account's data has gone stale because its sync keeps failing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sellerguard.rules.report import AccountStatus, Deadline, MetricStatus, StatusReport

LEVEL_RANK = {"ok": 0, "warn": 1, "critical": 2}
SYNC_ITEM = "sync"
CREDENTIALS_ITEM = "credentials"  # the marketplace credential runs out soon (sellerguard connect, issue 23)


@dataclass(frozen=True)
class Alert:
    account: str
    marketplace: str
    item: str
    level: str  # ok / warn / critical / unknown
    metric: MetricStatus | None = None
    deadline: Deadline | None = None
    detail: str | None = None  # sync alerts: what failed, since when

    @property
    def metric_id(self) -> str | None:
        """The metric this alert is about (a deadline's metric is the one a miss would hurt)."""
        if self.metric is not None:
            return self.metric.id
        return self.deadline.metric if self.deadline is not None else None


_GOOD = {
    "<": lambda v, t: v < t,
    "<=": lambda v, t: v <= t,
    ">": lambda v, t: v > t,
    ">=": lambda v, t: v >= t,
}


def deadline_level(deadline: Deadline, metric: MetricStatus | None, as_of: datetime, lead: timedelta) -> str:
    """Due later than ``lead``: ok (listed, not alerted). Due soon: critical when missing it would cross the
    metric's threshold, else warn. Already past due: warn (it already counts; acting late still helps)."""
    if deadline.due > as_of + lead:
        return "ok"
    if deadline.due <= as_of:
        return "warn"
    missed, m = deadline.value_if_missed, metric
    known = missed is not None and m is not None and m.threshold is not None and m.comparator in _GOOD
    if known and not _GOOD[m.comparator](missed, m.threshold):  # type: ignore[union-attr,arg-type]
        return "critical"
    return "warn"


def metric_level(m: MetricStatus, warn_probability: float | None = None) -> str:
    """The metric's level, raised to warn when it is ok but its breach probability reaches ``warn_probability``
    (``[daemon] breach_probability_warn``, docs/forecast.md)."""
    odds = m.breach_probability
    if m.level == "ok" and warn_probability is not None and odds is not None and odds >= warn_probability:
        return "warn"
    return m.level


def account_alerts(account: AccountStatus, as_of: datetime, deadline_lead: timedelta,
                   warn_probability: float | None = None) -> list[Alert]:
    metrics = {m.id: m for m in account.metrics}
    alerts = [
        Alert(account.account, account.marketplace, m.id, metric_level(m, warn_probability), metric=m)
        for m in account.metrics
    ]
    if (expiry := account.credentials_expire_at) is not None:
        alerts.append(credentials_alert(account, expiry, as_of))
    for d in account.deadlines:
        alerts.append(
            Alert(
                account.account,
                account.marketplace,
                f"deadline:{d.kind}:{d.ref}",
                deadline_level(d, metrics.get(d.metric), as_of, deadline_lead),
                deadline=d,
            )
        )
    return alerts


def credentials_alert(account: AccountStatus, expiry: datetime, as_of: datetime) -> Alert:
    """Warn ``EXPIRY_WARN_DAYS`` before the stored credential runs out, critical once it has."""
    from sellerguard.consent import EXPIRY_WARN_DAYS

    left = expiry - as_of
    level = "critical" if left <= timedelta(0) else "warn" if left <= timedelta(days=EXPIRY_WARN_DAYS) else "ok"
    when = "expired on" if left <= timedelta(0) else f"expires in {left.days} days, on"
    detail = (f"The marketplace authorization {when} {expiry:%Y-%m-%d}: run `sellerguard connect {account.account}`"
              " to renew it; syncs stop when it runs out.")
    return Alert(account.account, account.marketplace, CREDENTIALS_ITEM, level, detail=detail)


def report_alerts(report: StatusReport, deadline_lead: timedelta,
                  warn_probability: float | None = None) -> list[Alert]:
    return [a for acc in report.accounts for a in account_alerts(acc, report.as_of, deadline_lead, warn_probability)]


def effective_level(level: str, min_level: str) -> str:
    """A level below the target's minimum counts as ok for that target; unknown stays unknown."""
    if level in ("unknown", "ok"):
        return level
    return level if LEVEL_RANK[level] >= LEVEL_RANK[min_level] else "ok"


def by_account(alerts: Iterable[Alert]) -> dict[str, list[Alert]]:
    out: dict[str, list[Alert]] = {}
    for a in alerts:
        out.setdefault(a.account, []).append(a)
    return out
