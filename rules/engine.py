"""The rules engine: packs + stored records + as-of moment -> StatusReport. Reads the store, never a marketplace.

For each account (from the config, plus accounts only known to the store) the pack of its marketplace is
applied, with the account's overrides (``[accounts.policy."<metric id>"]``). Each metric is computed by its
calculator, judged (``assess``), compared with the marketplace's own figure when one is stored, and the open
items that would become defects are queued (``deadlines``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from sellerguard.config import Config, PolicyOverride
from sellerguard.errors import ConfigError
from sellerguard.rules import assess
from sellerguard.rules.calculators import (
    DAY,
    Series,
    average_series,
    business_reply_series,
    event_series_many,
    latest_reported,
    newest_reported,
    population_key,
    window_bounds,
    window_volume,
)
from sellerguard.rules.calendars import BusinessCalendar, load_calendar
from sellerguard.rules.deadlines import Evaluated, find_deadlines
from sellerguard.rules.packs import EventParams, Metric, Pack, ResponseParams, check_params
from sellerguard.rules.report import LEVEL_ORDER, AccountStatus, MetricStatus, StatusReport
from sellerguard.rules.sites import with_site_policy
from sellerguard.store import Store
from sellerguard.store.tables import AccountRow, SyncRun

DEFAULT_HORIZON_DAYS = 14


@dataclass(frozen=True)
class AccountRef:
    id: str
    marketplace: str
    display_name: str | None = None
    policy: dict[str, PolicyOverride] = field(default_factory=dict)
    stale_limit: timedelta | None = None


def accounts_to_check(
    config: Config, store: Store, *, accounts: tuple[str, ...] = (), marketplaces: tuple[str, ...] = ()
) -> list[AccountRef]:
    """Configured accounts (enabled ones) plus accounts only the store knows (imported data)."""
    refs = [
        AccountRef(a.id, a.marketplace, a.display_name, with_site_policy(a.marketplace, a.region, a.policy),
                   a.stale_limit)
        for a in config.accounts
        if a.enabled
    ]
    known = {r.id for r in refs} | {a.id for a in config.accounts}
    with store.session() as session:
        for row in session.execute(select(AccountRow)).scalars():
            if row.id not in known:
                refs.append(AccountRef(row.id, row.marketplace, row.display_name))
    if accounts:
        missing = set(accounts) - {r.id for r in refs}
        if missing:
            raise ConfigError(f"no account {', '.join(sorted(missing))} in the config or the store",
                              where="--account")
        refs = [r for r in refs if r.id in accounts]
    if marketplaces:
        refs = [r for r in refs if r.marketplace in marketplaces]
    return refs


def apply_override(metric: Metric, override: PolicyOverride | None, where: str) -> Metric | None:
    """The metric as this account sees it; None when the account switched it off (or never on)."""
    if override is None:
        return metric if metric.enabled else None
    if override.enabled is False or (override.enabled is None and not metric.enabled):
        return None
    update: dict[str, Any] = {
        k: v for k, v in (("threshold", override.threshold), ("warn", override.warn),
                          ("min_volume", override.min_volume), ("window_days", override.window_days))
        if v is not None
    }
    if override.params:
        params = {**metric.params, **override.params}
        check_params(metric, params, where=f"{where}.params")
        update["params"] = params
    if "warn" in update:
        update["warn_suggested"] = False
    return metric.model_copy(update=update)


class Engine:
    def __init__(self, store: Store, packs: dict[str, Pack], *, calendars_dir: Path | None = None) -> None:
        self.store = store
        self.packs = packs
        self.calendars_dir = calendars_dir

    @cache  # noqa: B019  (an Engine lives for one command)
    def calendar(self, name: str) -> BusinessCalendar:
        return load_calendar(name, self.calendars_dir)

    def _calendar_for(self, params: ResponseParams) -> BusinessCalendar | None:
        return self.calendar(params.calendar) if params.clock == "business" and params.calendar else None

    def evaluate(self, accounts: list[AccountRef], as_of: datetime,
                 horizon_days: int = DEFAULT_HORIZON_DAYS) -> StatusReport:
        with self.store.session() as session:
            if self.store.dialect == "sqlite":
                # windowed reads jump between table pages: memory-mapped reads skip a syscall per page
                session.execute(text("PRAGMA mmap_size=1073741824"))
            statuses = [self._account(session, acc, as_of, horizon_days) for acc in accounts]
        statuses.sort(key=lambda a: (-LEVEL_ORDER[a.level], a.marketplace, a.account))
        return StatusReport(as_of=as_of, accounts=statuses)

    def _account(self, session: Session, acc: AccountRef, as_of: datetime, horizon: int) -> AccountStatus:
        last_sync = _last_ok_sync(session, acc.id, as_of)
        pack = self.packs.get(acc.marketplace)
        if pack is None:
            return AccountStatus(marketplace=acc.marketplace, account=acc.id, display_name=acc.display_name,
                                 level="unknown", last_sync=last_sync, metrics=[], deadlines=[])
        for metric_id in acc.policy:
            if pack.metric(metric_id) is None:
                raise ConfigError(f"no metric '{metric_id}' in the {pack.marketplace} pack",
                                  where=f"accounts[{acc.id}].policy")
        stale = None
        if last_sync is not None and acc.stale_limit is not None and as_of - last_sync > acc.stale_limit:
            stale = f"data stale: last successful sync {last_sync:%Y-%m-%d %H:%M} UTC"
        elif last_sync is None and _tried_sync(session, acc.id, as_of):
            stale = "no successful sync yet"  # imported data without any sync is judged as it is
        metrics: list[MetricStatus] = []
        evaluated: list[Evaluated] = []
        effective = [apply_override(m, acc.policy.get(m.id), f"accounts[{acc.id}].policy.{m.id}") for m in pack.metrics]
        active = [m for m in effective if m is not None]
        prefetched = self._prefetch(session, acc.id, active, as_of)
        for metric in active:
            status, series = self._metric(session, acc.id, metric, as_of, horizon, stale, prefetched)
            metrics.append(status)
            evaluated.append(Evaluated(metric, series))
        deadlines = find_deadlines(session, acc.id, evaluated, as_of, horizon, self._calendar_for)
        metrics.sort(key=lambda m: -LEVEL_ORDER[m.level])
        # no enabled metric (a Shopify store before the seller sets targets) is nothing wrong, unless data is stale
        level = max((m.level for m in metrics), key=lambda lv: LEVEL_ORDER[lv], default="unknown" if stale else "ok")
        return AccountStatus(marketplace=acc.marketplace, account=acc.id, display_name=acc.display_name,
                             level=level, last_sync=last_sync, metrics=metrics, deadlines=deadlines)

    def _event_params(self, metric: Metric) -> Any:
        """The event parameters of a metric computed by ``event_series``; None for the other calculators."""
        params = metric.parsed
        if metric.calculator in ("rate", "count"):
            return params
        if metric.calculator == "response_time" and self._calendar_for(params) is None:
            as_rate = EventParams(events="messages", anchor="received_at", defects=["late_reply"])
            return _Merged(as_rate, params)
        return None

    def _prefetch(self, session: Session, account: str, metrics: list[Metric],
                  as_of: datetime) -> dict[str, tuple[Series, int]]:
        """Series of every event metric, one query per shared population (ODR and its parts read once)."""
        groups: dict[tuple[Any, ...], list[tuple[Metric, Any]]] = {}
        for metric in metrics:
            if (params := self._event_params(metric)) is not None:
                groups.setdefault(population_key(metric, params), []).append((metric, params))
        out: dict[str, tuple[Series, int]] = {}
        for group in groups.values():
            lead = group[0][0]
            days = lead.window_days
            series = event_series_many(session, self.store.dialect, account, group, as_of, days)
            if lead.fallback_window and window_volume(session, account, lead, group[0][1],
                                                      as_of) < lead.fallback_window.below:
                days = lead.fallback_window.days
                series = event_series_many(session, self.store.dialect, account, group, as_of, days)
            for (metric, _), one in zip(group, series, strict=True):
                out[metric.id] = (one, days)
        return out

    def series(self, session: Session, account: str, metric: Metric, as_of: datetime,
               days: int) -> Series:
        dialect = self.store.dialect
        params = metric.parsed
        if (event_params := self._event_params(metric)) is not None:
            return event_series_many(session, dialect, account, [(metric, event_params)], as_of, days)[0]
        if metric.calculator == "average":
            return average_series(session, dialect, account, metric, params, as_of, days)
        assert metric.calculator == "response_time"
        calendar = self._calendar_for(params)
        assert calendar is not None
        return business_reply_series(session, account, metric, params, calendar, as_of, days)

    def _metric(self, session: Session, account: str, metric: Metric, as_of: datetime, horizon: int,
                stale: str | None, prefetched: dict[str, tuple[Series, int]]) -> tuple[MetricStatus, Series | None]:
        ref = metric.reported_ref
        reported = latest_reported(session, account, ref.metric_id, ref.scope, as_of)
        base = _base_status(metric, reported)
        if metric.calculator == "reported":
            rows = newest_reported(session, account, ref.metric_id, ref.scope, as_of)
            return _reported_status(metric, base, rows, as_of, stale), None

        if metric.id in prefetched:
            series, days = prefetched[metric.id]
        else:
            days = metric.window_days
            series = self.series(session, account, metric, as_of, days)
            if metric.fallback_window:
                params = self._event_params(metric)
                volume = window_volume(session, account, metric, params, as_of) if params else series.denominator
                if volume < metric.fallback_window.below:
                    days = metric.fallback_window.days
                    series = self.series(session, account, metric, as_of, days)
        start, end = window_bounds(metric, as_of, days)
        d, n = series.numerator, series.denominator
        value = assess.value_of(series.kind, d, n)
        base.update(
            window_days=days, window_start=start, window_end=end, value=value,
            numerator=_numerator(series.kind, d, n), denominator=None if series.kind == "count" else n,
        )
        if value is not None and base["reported_value"] is not None:
            base["drift"] = value - base["reported_value"]
        kw = {}
        if metric.calculator == "average":
            p = metric.parsed
            kw = {"worst": p.worst, "best": p.best}
        base["headroom"] = assess.headroom(metric, series.kind, d, n, **kw)
        gate = d if series.kind != "average" else 0
        if stale:
            return MetricStatus(**base, level="unknown", reason=stale), series
        if series.kind != "count" and n < metric.min_volume:
            reason = f"below the minimum volume ({n:g} < {metric.min_volume})"
            return MetricStatus(**base, level="unknown", reason=reason), series
        if value is None:  # nothing to judge, and no minimum volume to miss: nothing is at risk
            return MetricStatus(**base, level="ok", reason="no eligible events in the window"), series
        if metric.threshold is None:
            return MetricStatus(**base, level="ok", reason="informational: no threshold of its own"), series
        fc = None if assess.breached(metric, value, gate) else assess.forecast(metric, series, as_of, horizon)
        level = assess.level_of(metric, value, gate, fc)
        reason = _reason(metric, value, gate, fc)
        return MetricStatus(**base, level=level, reason=reason, breach_forecast=fc), series


class _Merged:
    """Event parameters for the calendar-clock response_time, plus its own ``hours``."""

    def __init__(self, events: EventParams, response: ResponseParams) -> None:
        self._events = events
        self.hours = response.hours

    def __getattr__(self, name: str) -> Any:
        return getattr(self._events, name)


def _numerator(kind: str, d: float, n: float) -> float | None:
    if kind == "successes":
        return n - d
    if kind == "average":
        return d  # sum of scores
    return d


def _base_status(metric: Metric, reported: Any) -> dict[str, Any]:
    return {
        "id": metric.id, "name": metric.name, "value": None, "numerator": None, "denominator": None,
        "window_days": None if metric.calculator == "reported" else metric.window_days,
        "threshold": metric.threshold, "warn": metric.warn,
        "comparator": metric.comparator, "confirmed": metric.confirmed, "consequence": metric.consequence,
        "source": metric.source, "reported_value": reported.value if reported is not None else None,
    }


def _reported_level(metric: Metric, row: Any) -> str:
    """Judge one reported row: against the threshold, and by the marketplace's own verdict."""
    params = metric.parsed
    level = "ok"
    if metric.threshold is not None and row.value is not None:
        level = assess.level_of(metric, row.value, row.numerator or 0, None)
    status = (row.status or "").upper()
    if status in {s.upper() for s in params.critical_statuses}:
        level = max(level, "critical", key=LEVEL_ORDER.__getitem__)
    elif status in {s.upper() for s in params.warn_statuses}:
        level = max(level, "warn", key=LEVEL_ORDER.__getitem__)
    return level


def _reported_status(metric: Metric, base: dict[str, Any], rows: list[Any], as_of: datetime,
                     stale: str | None) -> MetricStatus:
    """A ``reported`` metric: the worst row of the newest report (one row per program / region / category)."""
    max_age = metric.parsed.max_age_days * DAY
    if stale:
        return MetricStatus(**base, level="unknown", reason=stale)
    rows = [r for r in rows if r.value is not None or r.status]
    if not rows:  # never reported: say so, without making the account unknown
        return MetricStatus(**base, level="ok", reason="not reported by the marketplace (yet)")
    reported = max(rows, key=lambda r: (LEVEL_ORDER[_reported_level(metric, r)], r.value or 0))
    level = _reported_level(metric, reported)
    reported_at = reported.as_of if reported.as_of.tzinfo else reported.as_of.replace(tzinfo=as_of.tzinfo)
    span = (reported.window_end - reported.window_start) if reported.window_start and reported.window_end else None
    base.update(value=reported.value, numerator=reported.numerator, denominator=reported.denominator,
                window_start=reported.window_start, window_end=reported.window_end, reported_value=reported.value,
                window_days=round(span / DAY) if span is not None else None)
    if as_of - reported_at > max_age:
        return MetricStatus(**base, level="unknown",
                            reason=f"the marketplace's figure is from {reported_at:%Y-%m-%d}")
    where = f" for {reported.scope}" if reported.scope and len(rows) > 1 else ""
    verdict = f"as reported by the marketplace{where} ({reported.status or '-'})"
    if metric.threshold is None and level == "ok":
        return MetricStatus(**base, level="ok", reason=f"informational; {verdict}")
    return MetricStatus(**base, level=level, reason=verdict)


def _reason(metric: Metric, value: float, gate: float, fc: datetime | None) -> str | None:
    if assess.breached(metric, value, gate):
        return "threshold crossed"
    if fc is not None:
        return f"forecast to cross on {fc:%Y-%m-%d}"
    if assess.in_warn_band(metric, value, gate):
        return "in the warning band" + (" (sellerguard default)" if metric.warn_suggested else "")
    return None


def _last_ok_sync(session: Session, account: str, as_of: datetime) -> datetime | None:
    q = (
        select(SyncRun.finished_at)
        .where(SyncRun.account == account, SyncRun.ok.is_(True), SyncRun.started_at <= as_of)  # type: ignore[attr-defined]
        .order_by(SyncRun.started_at.desc())  # type: ignore[attr-defined]
        .limit(1)
    )
    return session.execute(q).scalar_one_or_none()


def _tried_sync(session: Session, account: str, as_of: datetime) -> bool:
    q = select(SyncRun.id).where(SyncRun.account == account, SyncRun.started_at <= as_of).limit(1)  # type: ignore[arg-type]
    return session.execute(q).first() is not None
