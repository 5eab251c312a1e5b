"""The rules engine: packs + stored records + as-of moment -> StatusReport. Reads the store, never a marketplace.

For each account (from the config, plus accounts only known to the store) the pack of its marketplace is
applied, with the account's overrides (``[accounts.policy."<metric id>"]``). Each metric is computed by its
calculator, judged (``assess``), compared with the marketplace's own figure when one is stored, and the open
items that would become defects are queued (``deadlines``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from sellerguard.config import AccountConfig, Config, PolicyOverride
from sellerguard.errors import ConfigError
from sellerguard.rules import assess, colour, fallback, periodic, windows
from sellerguard.rules import forecast as forecast_odds
from sellerguard.rules.calculators import (
    DAY,
    Series,
    average_series,
    business_reply_series,
    event_series_many,
    latest_reported,
    newest_reported,
    population_key,
    sales_count,
    window_bounds,
    window_volume,
)
from sellerguard.rules.calendars import BusinessCalendar, load_calendar
from sellerguard.rules.deadlines import Evaluated, find_deadlines
from sellerguard.rules.events import MissingColumn
from sellerguard.rules.packs import EventParams, Metric, Pack, ResponseParams, check_params
from sellerguard.rules.report import LEVEL_ORDER, AccountStatus, MetricStatus, Part, Period, StatusReport
from sellerguard.rules.sites import SITE_FROM_ORDERS
from sellerguard.store import Store
from sellerguard.store.tables import RECORD_TABLES, AccountRow, SyncRun

DEFAULT_HORIZON_DAYS = 14
EMPTY_REASONS = ("no eligible events in the window", "not reported by the marketplace (yet)")


@dataclass(frozen=True)
class AccountRef:
    id: str
    marketplace: str
    display_name: str | None = None
    policy: dict[str, PolicyOverride] = field(default_factory=dict)
    stale_limit: timedelta | None = None
    region: str | None = None  # the marketplace site (Mercado Libre MLB, MLM...): per-site colours (rules-B)


def accounts_to_check(
    config: Config, store: Store, *, accounts: tuple[str, ...] = (), marketplaces: tuple[str, ...] = ()
) -> list[AccountRef]:
    """Configured accounts (enabled ones) plus accounts only the store knows (imported data). An account's site
    (its ``region``, which picks per-site limits) is the configured one, else the stored one, else, where a
    marketplace account sells on one site only (``SITE_FROM_ORDERS``), the site its newest order names."""
    with store.session() as session:
        refs = [_account_ref(session, a.id, a.marketplace, a.display_name, a.region, a.policy, a.stale_limit)
                for a in config.accounts if a.enabled]
        known = {r.id for r in refs} | {a.id for a in config.accounts}
        for row in session.execute(select(AccountRow)).scalars():
            if row.id not in known:
                # no longer configured: judged stale after the default limit, so old data cannot look fresh
                refs.append(_account_ref(session, row.id, row.marketplace, row.display_name,
                                         getattr(row, "region", None), {},
                                         AccountConfig.model_fields["sync_every"].default * 4))
    if accounts:
        missing = set(accounts) - {r.id for r in refs}
        if missing:
            import difflib

            close = difflib.get_close_matches(sorted(missing)[0], [r.id for r in refs], n=1)  # a typo, named
            raise ConfigError(f"no account {', '.join(sorted(missing))} in the config or the store"
                              + (f" (did you mean '{close[0]}'?)" if close else ""), where="--account")
        refs = [r for r in refs if r.id in accounts]
    if marketplaces:
        refs = [r for r in refs if r.marketplace in marketplaces]
    return refs


def _account_ref(session: Session, account: str, marketplace: str, display_name: str | None, region: str | None,
                 policy: dict[str, PolicyOverride], stale_limit: timedelta | None) -> AccountRef:
    if not region and marketplace in SITE_FROM_ORDERS:
        region = colour.site_of(session, account)
    # the account's own policy only: its site's limits are the pack's row for ``region`` (``Pack.for_site``), which
    # ``Engine._account`` applies first, then this policy over it field by field (account > site > pack)
    return AccountRef(account, marketplace, display_name, policy, stale_limit, region)


def apply_override(metric: Metric, override: PolicyOverride | None, where: str) -> Metric | None:
    """The metric as this account sees it; None when the account switched it off (or never on)."""
    if override is None:
        return metric if metric.enabled else None
    if override.enabled is False or (override.enabled is None and not metric.enabled):
        return None
    update: dict[str, Any] = {
        k: v for k, v in (("threshold", override.threshold), ("warn", override.warn),
                          ("min_volume", override.min_volume), ("window_days", override.window_days),
                          ("lag_days", getattr(override, "lag_days", None)))
        if v is not None
    }
    if metric.seller_target and override.enabled and metric.threshold is None and override.threshold is None:
        raise ConfigError(f"threshold: {metric.id} is your own target: enabling it needs threshold = <your number>",
                          where=where)
    if "window_days" in update and metric.window_kind != "days":
        raise ConfigError(f"window_days: {metric.id} has a {metric.window_kind} window", where=where)
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
        self._finals: dict[datetime, dict[str, tuple[Series, int] | str]] = {}
        self._with_verdict: list[Metric] = []

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
                # local calendar dates (Etsy judges ship-by dates), as PostgreSQL does with timezone()
                raw = session.connection().connection.driver_connection
                raw.create_function("sg_local_date", 2, _sqlite_local_date, deterministic=True)  # type: ignore[union-attr]
            statuses = [self._account(session, acc, as_of, horizon_days) for acc in accounts]
        statuses.sort(key=lambda a: (-LEVEL_ORDER[a.level], a.marketplace, a.account))
        return StatusReport(as_of=as_of, accounts=statuses)

    def _account(self, session: Session, acc: AccountRef, as_of: datetime, horizon: int) -> AccountStatus:
        last_sync = _last_ok_sync(session, acc.id, as_of)
        pack = self.packs.get(acc.marketplace)
        if pack is None:
            return AccountStatus(marketplace=acc.marketplace, account=acc.id, display_name=acc.display_name,
                                 level="unknown", last_sync=last_sync, metrics=[], deadlines=[])
        pack = pack.for_site(acc.region)  # per-site limits (eBay programs, TikTok regions, Mercado Libre countries)
        for metric_id in acc.policy:
            if pack.metric(metric_id) is None:
                raise ConfigError(f"no metric '{metric_id}' in the {pack.marketplace} pack",
                                  where=f"accounts[{acc.id}].policy")
        stale = None
        if last_sync is not None and acc.stale_limit is not None and as_of - last_sync > acc.stale_limit:
            stale = f"data stale: last successful sync {last_sync:%Y-%m-%d %H:%M} UTC"
        elif last_sync is None and _tried_sync(session, acc.id, as_of):
            stale = "no successful sync yet"  # imported data without any sync is judged as it is
        elif last_sync is None and not _has_records(session, acc.id):
            stale = "no data: never synced and nothing imported"  # no data is never ok
        metrics: list[MetricStatus] = []
        evaluated: list[Evaluated] = []
        effective = [apply_override(m, acc.policy.get(m.id), f"accounts[{acc.id}].policy.{m.id}") for m in pack.metrics]
        active = [m for m in effective if m is not None]
        prefetched = self._prefetch(session, acc.id, active, as_of)
        self._finals = {}  # per verdict moment, for this account
        self._with_verdict = [m for m in active if m.verdict is not None]
        for metric in active:
            if metric.calculator == "periodic":  # per-period verdicts and strikes: rules/periodic.py (rules-B)
                metrics.append(periodic.evaluate(session, acc.id, metric, active, as_of, stale, self.calendar))
                continue
            status, series = self._metric(session, acc.id, metric, as_of, horizon, stale, prefetched)
            metrics.append(status)
            evaluated.append(Evaluated(metric, series))
        metrics = colour.annotate(session, acc.id, acc.marketplace, metrics, acc.region)  # thermometer (rules-B)
        deadlines = find_deadlines(session, acc.id, evaluated, as_of, horizon, self._calendar_for)
        metrics.sort(key=lambda m: -LEVEL_ORDER[m.level])
        # informational metrics (no threshold: ODR parts, Shopify rates before the seller sets a target) are shown
        # but never raise the account's level; no judged metric is nothing wrong, unless data is stale
        informational = {m.id for m in active if m.threshold is None and m.calculator not in ("reported", "periodic")}
        # a metric with nothing in its window (no returns in 60 days, no report yet) is unknown itself, but an
        # account whose data is current is not made unknown by it
        empty = {m.id for m in metrics if m.level == "unknown" and m.value is None and not stale
                 and (m.reason or "").startswith(EMPTY_REASONS)}
        judged = [m.level for m in metrics if m.id not in informational | empty]
        # ... but when EVERY judged metric is empty the account has no evidence at all: unknown, never ok. An
        # account with nothing to judge (Shopify before the seller sets a target) stays ok
        blind = not judged and any(m.id not in informational for m in metrics)
        level = max(judged, key=lambda lv: LEVEL_ORDER[lv], default="unknown" if stale or blind else "ok")
        return AccountStatus(marketplace=acc.marketplace, account=acc.id, display_name=acc.display_name,
                             level=level, last_sync=last_sync, metrics=metrics, deadlines=deadlines)

    def _event_params(self, metric: Metric) -> Any:
        """The event parameters of a metric computed by ``event_series``; None for the other calculators."""
        params = metric.parsed
        if metric.calculator in ("rate", "count"):
            return params
        if metric.calculator == "response_time" and self._calendar_for(params) is None:
            as_rate = EventParams(events="messages", anchor="received_at", defects=["late_reply"],
                                  numerator=params.numerator)
            return _Merged(as_rate, params)
        return None

    def _prefetch(self, session: Session, account: str, metrics: list[Metric],
                  as_of: datetime) -> dict[str, tuple[Series, int] | str]:
        """Series of every event metric, one query per shared population (ODR and its parts read once).
        A metric needing a column the store lacks maps to the column's name instead."""
        groups: dict[tuple[Any, ...], list[tuple[Metric, Any]]] = {}
        for metric in metrics:
            if metric.calculator == "periodic":
                continue
            if (params := self._event_params(metric)) is not None:
                groups.setdefault(population_key(metric, params), []).append((metric, params))
        out: dict[str, tuple[Series, int] | str] = {}
        from sellerguard.rules import rollup

        if (source := rollup.source(session)) is not None:  # every group's day rows in one query
            source.preload(session, account, [(g, *window_bounds(g[0][0], as_of)) for g in groups.values()], as_of)
        for group in groups.values():
            try:
                series, length = self._group_series(session, account, group, as_of)
            except MissingColumn as exc:
                for metric, _ in group:
                    out[metric.id] = str(exc)
                continue
            for (metric, _), one in zip(group, series, strict=True):
                out[metric.id] = (one, length)
        return out

    def _group_series(self, session: Session, account: str, group: list[tuple[Metric, Any]],
                      as_of: datetime) -> tuple[list[Series], int]:
        """The group's series on its normal window, or on the fallback window when the normal one holds fewer
        events than the fallback's ``below`` (eBay: 400 transactions in the last 3 months)."""
        lead = group[0][0]
        length = lead.window_length
        series = event_series_many(session, self.store.dialect, account, group, as_of, length)
        below = lead.fallback_window.below if lead.fallback_window else 0
        if lead.fallback_window and window_volume(session, account, lead, group[0][1], as_of, at_most=below) < below:
            length = lead.fallback_window.length
            series = event_series_many(session, self.store.dialect, account, group, as_of, length)
        return series, length

    def series(self, session: Session, account: str, metric: Metric, as_of: datetime,
               length: int | None = None) -> Series:
        dialect = self.store.dialect
        params = metric.parsed
        if (event_params := self._event_params(metric)) is not None:
            return event_series_many(session, dialect, account, [(metric, event_params)], as_of, length)[0]
        if metric.calculator == "average":
            return average_series(session, dialect, account, metric, params, as_of, length)
        assert metric.calculator == "response_time"
        calendar = self._calendar_for(params)
        assert calendar is not None
        return business_reply_series(session, account, metric, params, calendar, as_of, length)

    def _series_at(self, session: Session, account: str, metric: Metric, as_of: datetime) -> tuple[Series, int]:
        """The metric's series as of ``as_of`` with the fallback rule applied (for a past verdict moment)."""
        if (params := self._event_params(metric)) is not None:
            series, length = self._group_series(session, account, [(metric, params)], as_of)
            return series[0], length
        length = metric.window_length
        series = self.series(session, account, metric, as_of, length)
        if metric.fallback_window and series.denominator < metric.fallback_window.below:
            length = metric.fallback_window.length
            series = self.series(session, account, metric, as_of, length)
        return series, length

    def _metric(self, session: Session, account: str, metric: Metric, as_of: datetime, horizon: int,
                stale: str | None, prefetched: dict[str, tuple[Series, int]]) -> tuple[MetricStatus, Series | None]:
        ref = metric.reported_ref
        reported = latest_reported(session, account, ref.metric_id, ref.scope, as_of)
        base = _base_status(metric, reported)
        if metric.calculator == "reported":
            rows = newest_reported(session, account, ref.metric_id, ref.scope, as_of)
            return _reported_status(metric, base, rows, as_of, stale), None

        got = prefetched.get(metric.id)
        try:
            if isinstance(got, str):
                raise MissingColumn(got)
            series, length = got if got is not None else self._series_at(session, account, metric, as_of)
        except MissingColumn as exc:
            base.update(window_kind=metric.window_kind)
            return MetricStatus(**base, level="unknown", reason=f"the store has no {exc} yet"), None
        status = _judge(metric, base, series, length, as_of, horizon, stale or _few_sales(session, account, metric,
                                                                                        as_of))
        if metric.reported_fallback and not stale:  # rules-B: rules/fallback.py decides
            status = fallback.judge_reported(session, account, metric, status, as_of)
        if metric.verdict is not None:
            status.final = self._final(session, account, metric, as_of, stale)
        return status, series

    def _final(self, session: Session, account: str, metric: Metric, as_of: datetime,
               stale: str | None) -> Period | None:
        """The metric as of its last verdict moment (eBay's 20th, Etsy's 1st), judged like the running one."""
        v = metric.verdict
        assert v is not None
        at = windows.last_verdict(v.every, v.day or 1, as_of, metric.tz)
        if at not in self._finals:  # every metric with this verdict moment in one pass, sharing populations
            same = [m for m in self._with_verdict
                    if m.verdict and windows.last_verdict(m.verdict.every, m.verdict.day or 1, as_of, m.tz) == at]
            self._finals[at] = self._prefetch(session, account, same, at)
        got = self._finals[at].get(metric.id)
        try:
            if isinstance(got, str):
                raise MissingColumn(got)
            series, length = got if got is not None else self._series_at(session, account, metric, at)
        except MissingColumn:
            return None
        one = _judge(metric, _base_status(metric, None), series, length, at, 0,
                     stale or _few_sales(session, account, metric, at), forecast=False)
        return Period(at=at, window_start=one.window_start, window_end=one.window_end, value=one.value,
                      numerator=one.numerator, denominator=one.denominator, gate_count=one.gate_count,
                      level=one.level, reason=one.reason)


@lru_cache(maxsize=4096)  # a pure function of two strings: one evaluation calls it ~14,000 times for ~180 pairs
def _sqlite_local_date(moment: str | None, zone: str | None) -> str | None:
    """SQLite ``sg_local_date(stored UTC text, IANA zone)`` -> 'YYYY-MM-DD' (None in, None out)."""
    if moment is None:
        return None
    dt = datetime.fromisoformat(str(moment).replace(" ", "T"))
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt
    try:
        tz = ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return dt.astimezone(tz).date().isoformat()


def _few_sales(session: Session, account: str, metric: Metric, as_of: datetime) -> str | None:
    """Why the metric has no level yet when its minimum counts the seller's sales (Mercado Libre: grey below 10
    completed sales in 365 days; Etsy: 5 sales in the standard's 3 months), else None."""
    if metric.min_volume_of != "sales" or not metric.min_volume:
        return None
    if metric.min_volume_days is not None:
        start, end, span = as_of - timedelta(days=metric.min_volume_days), as_of, f"{metric.min_volume_days} days"
    else:
        start, end = window_bounds(metric, as_of)
        span = "the window"
    sales = sales_count(session, account, start, end, at_most=metric.min_volume)
    if sales >= metric.min_volume:
        return None
    return f"below the minimum volume ({sales} sales in {span} < {metric.min_volume})"


def _judge(metric: Metric, base: dict[str, Any], series: Series, length: int, as_of: datetime, horizon: int,
           stale: str | None, *, forecast: bool = True, history: Series | None = None) -> MetricStatus:
    """Value, gate counts, level and reason of a computed metric; a split metric is judged per scope and the
    worst scope decides (its figures are the metric's)."""
    parts = [_judge_one(metric, dict(base), p, as_of, horizon, stale, forecast, length) for p in series.parts]
    start, end = window_bounds(metric, as_of, length)
    base.update(window_kind=metric.window_kind, window_start=start, window_end=end,
                window_days=round((end - start) / DAY),
                unknown_count=series.unknown, unknown_refs=series.unknown_refs)
    whole = _judge_one(metric, base, series, as_of, horizon, stale, forecast, length, history)
    if not parts:
        return whole
    worst = max(parts, key=lambda m: (LEVEL_ORDER[m.level], _badness(metric, m.value)))
    breakdown = [Part(scope=p.scope or "", value=p.value, numerator=p.numerator, denominator=p.denominator,
                      defect_count=p.defect_count, level=p.level) for p in parts]
    keep = {k: getattr(whole, k) for k in ("window_start", "window_end", "window_days", "window_kind",
                                           "unknown_count", "unknown_refs")}
    reason = worst.reason
    if worst.level != "unknown" and len(parts) > 1:
        reason = f"{worst.scope}: {reason}" if reason else f"worst category: {worst.scope}"
    odds = [p.breach_probability for p in parts if p.breach_probability is not None]
    if odds:  # the metric breaches when any category does (rules/forecast.py)
        keep["breach_probability"] = forecast_odds.combined(odds)
    return worst.model_copy(update={**keep, "breakdown": breakdown, "reason": reason})


def _badness(metric: Metric, value: float | None) -> float:
    if value is None:
        return float("-inf")
    return -value if metric.comparator in (">", ">=") else value


def _judge_one(metric: Metric, base: dict[str, Any], series: Series, as_of: datetime, horizon: int,
               stale: str | None, forecast: bool, length: int | None = None,
               history: Series | None = None) -> MetricStatus:
    d, n = series.numerator, series.denominator
    value = assess.value_of(series.kind, d, n)
    unit = metric.parsed.unit if metric.calculator in ("rate", "count") else "events"
    counted = series.kind != "average"
    gate = series.gate(metric.gate_unit) if counted else 0.0
    gated = metric.count_gate is not None or metric.count_rule is not None or metric.warn_count_gate is not None
    base.update(
        value=value, numerator=_numerator(series.kind, d, n), denominator=None if series.kind == "count" else n,
        unit=unit, scope=series.scope,
        defect_count=(series.defect_events if series.defect_events is not None else d) if counted else None,
        eligible_count=(series.eligible_events if series.eligible_events is not None else n) if counted else None,
        gate_unit=metric.gate_unit if gated else None, gate_count=gate if gated else None,
        count_gate=metric.count_gate, warn_count_gate=metric.warn_count_gate,
        unique_buyers=series.unique_buyers,
    )
    base.setdefault("window_kind", metric.window_kind)
    if value is not None and base.get("reported_value") is not None:
        base["drift"] = value - base["reported_value"]
    kw: dict[str, Any] = {}
    if metric.calculator == "average":
        p = metric.parsed
        kw = {"worst": p.worst, "best": p.best}
    base["headroom"] = assess.headroom(metric, series.kind, d, n, gate=gate if counted else None, **kw)
    if stale:
        return MetricStatus(**base, level="unknown", reason=stale)
    if series.kind != "count" and n < metric.population_min_volume:
        reason = f"below the minimum volume ({n:g} < {metric.min_volume})"
        return MetricStatus(**base, level="unknown", reason=reason)
    if value is None:  # no data is never ok: say what is missing
        why = "no eligible events in the window"
        if series.unknown:
            why += f"; {series.unknown} without a ship-by / deliver-by (unknown, not on time)"
        if base.get("reported_value") is not None:
            why += "; the marketplace's own figure is shown beside"
        return MetricStatus(**base, level="unknown", reason=why)
    if metric.threshold is None:
        why = ("informational: no target set (yours to set: [accounts.policy] threshold)" if metric.seller_target
               else "informational: no threshold of its own")
        return MetricStatus(**base, level="ok", reason=why)
    eligible = n if counted else None
    fc = None
    if forecast and metric.window_kind != "iso_weeks" and not assess.breached(metric, value, gate, eligible):
        fc = assess.forecast(metric, series, as_of, horizon, gate_shift=gate - d if counted else 0.0)
    if forecast and horizon > 0:  # the breach odds and the value expected at the horizon (rules/forecast.py)
        odds = forecast_odds.outlook(metric, series, length or metric.window_length, as_of, horizon,
                                     gate if counted else 0.0, history=history)
        if odds is not None:
            base.update(breach_probability=odds.probability, forecast_value=odds.expected,
                        forecast_low=odds.low, forecast_high=odds.high, forecast_at=odds.at)
    level = assess.level_of(metric, value, gate, fc, eligible)
    reason = _reason(metric, value, gate, fc, eligible)
    if series.unknown:
        note = f"{series.unknown} order(s) without a ship-by / deliver-by left out as unknown"
        reason = f"{reason}; {note}" if reason else note
    return MetricStatus(**base, level=level, reason=reason, breach_forecast=fc)


class _Merged:
    """Event parameters for the calendar-clock response_time, plus its own ``hours``."""

    def __init__(self, events: EventParams, response: ResponseParams) -> None:
        self._events = events
        self.hours = response.hours
        self.senders = response.senders
        self.per_thread = response.per_thread

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
        "comparator": metric.comparator, "warn_comparator": metric.warn_comparator,
        "breach_level": metric.breach_level, "confirmed": metric.confirmed, "consequence": metric.consequence,
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
    elif status and params.ok_statuses and status not in {s.upper() for s in params.ok_statuses}:
        # a verdict sellerguard does not know is not read as ok; a numeric breach still wins
        level = level if LEVEL_ORDER[level] > LEVEL_ORDER["unknown"] else "unknown"
    return level


def _status_level(metric: Metric, status: str | None) -> str:
    """The level the marketplace's own status word alone gives (ok without a status or an unlisted one)."""
    params, word = metric.parsed, (status or "").upper()
    if word in {s.upper() for s in params.critical_statuses}:
        return "critical"
    return "warn" if word in {s.upper() for s in params.warn_statuses} else "ok"


def _reported_status(metric: Metric, base: dict[str, Any], rows: list[Any], as_of: datetime,
                     stale: str | None) -> MetricStatus:
    """A ``reported`` metric: the worst row of the newest report (one row per program / region / category)."""
    max_age = metric.parsed.max_age_days * DAY
    if stale:
        return MetricStatus(**base, level="unknown", reason=stale)
    # a block the report left out is stored as NOT_REPORTED: not a verdict
    rows = [r for r in rows if (r.value is not None or r.status) and (r.status or "").upper() != "NOT_REPORTED"]
    if not rows:  # no computed and no reported figure: unknown, never ok
        return MetricStatus(**base, level="unknown", reason="not reported by the marketplace (yet)")
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
    base.update(marketplace_status=reported.status, scope=reported.scope)
    where = f" for {reported.scope}" if reported.scope and len(rows) > 1 else ""
    said = f"the marketplace says {reported.status}" if reported.status else "as reported by the marketplace"
    verdict = f"{said}{where}"
    if level == "unknown":
        verdict = f"{said}{where}: a status sellerguard does not know"
    elif level != "ok" and reported.status and metric.threshold is not None and reported.value is not None \
            and assess.is_good(reported.value, metric.comparator, metric.warn or metric.threshold) \
            and level in ("warn", "critical"):
        verdict = f"{said}{where} ({level} by the marketplace's verdict, the figure alone is within the limit)"
    elif level in ("warn", "critical") and LEVEL_ORDER[_status_level(metric, reported.status)] < LEVEL_ORDER[level]:
        # the figure, not the marketplace's word, decided (AHR 50 while the status still reads GREAT): say so
        crossed = "threshold crossed" if level == "critical" else "in the warning band"
        verdict = f"{crossed}: {reported.value:g} ({said}{where})"
    if metric.threshold is None and level == "ok":
        return MetricStatus(**base, level="ok", reason=f"informational; {verdict}")
    return MetricStatus(**base, level=level, reason=verdict)


def _reason(metric: Metric, value: float, gate: float, fc: datetime | None,
            eligible: float | None = None) -> str | None:
    """One phrase that agrees with the level (``level_of``)."""
    rule = metric.count_rule
    counting = assess.under_count_rule(metric, eligible)
    what = {"unique_buyers": "unique buyers", "events": "defective events"}.get(metric.gate_unit, "defects")
    if gate == 1:
        what = what.replace("buyers", "buyer").replace("events", "event").replace("defects", "defect")
    if assess.breached(metric, value, gate, eligible):
        if counting and rule is not None:
            return f"count rule under {rule.below}: {gate:g} {what} > {rule.max}"
        if metric.count_gate is not None:
            return f"threshold crossed with {gate:g} {what} (gate {metric.count_gate})"
        return "threshold crossed"
    if fc is not None:
        return f"forecast to cross on {fc:%Y-%m-%d}"
    if assess.in_warn_band(metric, value, gate, eligible):
        if counting and rule is not None:
            return f"count rule under {rule.below}: at the limit of {rule.max} {what}"
        return "in the warning band" + (" (sellerguard default)" if metric.warn_suggested else "")
    if metric.count_gate is not None and not assess.is_good(value, metric.comparator, metric.threshold or 0):
        return f"rate over the limit but only {gate:g} {what} (gate {metric.count_gate}): not a breach"
    return None


def _last_ok_sync(session: Session, account: str, as_of: datetime) -> datetime | None:
    q = (
        select(SyncRun.finished_at)
        .where(SyncRun.account == account, SyncRun.ok.is_(True), SyncRun.started_at <= as_of)  # type: ignore[attr-defined]
        .order_by(SyncRun.started_at.desc())  # type: ignore[attr-defined]
        .limit(1)
    )
    return session.execute(q).scalar_one_or_none()


def _has_records(session: Session, account: str) -> bool:
    """Any stored record of the account (imported or synced), whatever its time."""
    for model in RECORD_TABLES.values():
        if session.execute(select(model.id).where(model.account == account).limit(1)).first() is not None:
            return True
    return False


def _tried_sync(session: Session, account: str, as_of: datetime) -> bool:
    q = select(SyncRun.id).where(SyncRun.account == account, SyncRun.started_at <= as_of).limit(1)  # type: ignore[arg-type]
    return session.execute(q).first() is not None
