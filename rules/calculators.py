"""Calculators: turn a metric of a pack into daily counts over its window, with SQL aggregates.

Every calculator returns a ``Series``: per day of the window (plus the lag days after it), how many events
were eligible and how many were defects (for ``average``: how many ratings and the sum of their scores).
One GROUP BY query over an indexed (account, time) range produces it, so the cost grows with the window,
never with the history. The value, the headroom and the forecast are all derived from the Series
(``sellerguard.rules.assess``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, case, cast, func, literal, select
from sqlalchemy.orm import Session

from sellerguard.rules.calendars import BusinessCalendar
from sellerguard.rules.events import (
    MESSAGES,
    POPULATIONS,
    RATINGS,
    Ctx,
    defect_clause,
    population_filters,
)
from sellerguard.rules.packs import EventParams, Metric, ResponseParams
from sellerguard.store.tables import ReportedMetricRow

DAY = timedelta(days=1)


@dataclass
class Series:
    """Daily buckets from ``start``: bucket i covers [start + i days, start + i+1 days)."""

    kind: str  # rate | successes | count | average
    start: datetime
    window_days: int
    lag_days: int
    eligible: list[float]  # length window_days + lag_days (average: number of ratings)
    defects: list[float]  # (average: sum of scores)
    numerator: float = 0.0  # exact totals of the window (bucket edges are day fractions in SQLite)
    denominator: float = 0.0

    @property
    def end(self) -> datetime:
        return self.start + self.window_days * DAY


def _sqlite_text(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _bucket(col: Any, start: datetime, dialect: str) -> Any:
    if dialect == "sqlite":
        # +1e-9 day (~0.1 ms): a row exactly on a day edge lands in the later bucket despite float error
        return cast(func.julianday(col) - func.julianday(literal(_sqlite_text(start))) + 1e-9, Integer)
    return cast(func.floor(func.extract("epoch", col - literal(start)) / 86400), Integer)


def window_bounds(metric: Metric, as_of: datetime, days: int) -> tuple[datetime, datetime]:
    end = as_of - metric.lag_days * DAY
    return end - days * DAY, end


def population_key(metric: Metric, params: Any) -> tuple[Any, ...]:
    """Metrics with equal keys read the same rows: one query serves them all (``event_series_many``)."""
    return (params.events, params.anchor, getattr(params, "fulfilment", "any"),
            getattr(params, "exclude_buyer_cancelled", False), getattr(params, "exclude_cancelled", False),
            metric.window_days, metric.lag_days, metric.fallback_window)


def _defect_key(params: Any) -> tuple[Any, ...]:
    return (tuple(params.defects), getattr(params, "count_open_claims", False),
            getattr(params, "respond_hours", None), getattr(params, "hours", None))


def event_series_many(
    session: Session, dialect: str, account: str, group: list[tuple[Metric, Any]], as_of: datetime, days: int,
) -> list[Series]:
    """``rate`` / ``count`` for metrics sharing one population: one GROUP BY over the window, one defect
    column per distinct defect definition."""
    first_metric, first = group[0]
    table = POPULATIONS[first.events].table
    anchor = table.c[first.anchor]
    start, end = window_bounds(first_metric, as_of, days)
    columns: dict[tuple[Any, ...], Any] = {}
    for _, params in group:
        key = _defect_key(params)
        if key not in columns:
            ctx = Ctx(as_of=as_of, params=params, dialect=dialect)
            clause = defect_clause(params.events, params.defects, ctx)
            columns[key] = case((clause, 1), else_=0).label(f"d{len(columns)}")
    base_ctx = Ctx(as_of=as_of, params=first, dialect=dialect)
    inner = (
        select(_bucket(anchor, start, dialect).label("b"), (anchor < end).label("w"), *columns.values())
        .where(table.c.account == account, anchor >= start, anchor < as_of)
        .where(*population_filters(first.events, first, base_ctx))
        .subquery()
    )
    sums = [func.sum(inner.c[c.name]) for c in columns.values()]
    rows = session.execute(
        select(inner.c.b, inner.c.w, func.count(), *sums).group_by(inner.c.b, inner.c.w)
    ).all()
    index = {key: i for i, key in enumerate(columns)}
    out = []
    for metric, params in group:
        i = index[_defect_key(params)]
        kind = "count" if metric.calculator == "count" else (
            "successes" if params.numerator == "successes" else "rate")
        out.append(_fold(kind, start, days, metric.lag_days, [(r[0], r[1], r[2], r[3 + i] or 0) for r in rows]))
    return out


def event_series(
    session: Session, dialect: str, account: str, metric: Metric, params: EventParams, as_of: datetime,
    days: int,
) -> Series:
    """``rate`` / ``count`` for one metric."""
    return event_series_many(session, dialect, account, [(metric, params)], as_of, days)[0]


def average_series(
    session: Session, dialect: str, account: str, metric: Metric, params: Any, as_of: datetime, days: int
) -> Series:
    """``average``: ratings and the sum of their normalized scores per day."""
    start, end = window_bounds(metric, as_of, days)
    t = RATINGS
    ctx = Ctx(as_of=as_of, params=params, dialect=dialect)
    inner = (
        select(
            _bucket(t.c.rated_at, start, dialect).label("b"),
            (t.c.rated_at < end).label("w"),
            t.c.score_normalized.label("s"),
        )
        .where(t.c.account == account, t.c.rated_at >= start, t.c.rated_at < as_of)
        .where(t.c.score_normalized.is_not(None), *population_filters("ratings", params, ctx))
        .subquery()
    )
    rows = session.execute(
        select(inner.c.b, inner.c.w, func.count(), func.sum(inner.c.s)).group_by(inner.c.b, inner.c.w)
    ).all()
    return _fold("average", start, days, metric.lag_days, [(b, w, n, s or 0.0) for b, w, n, s in rows])


def business_reply_series(
    session: Session, account: str, metric: Metric, params: ResponseParams, calendar: BusinessCalendar,
    as_of: datetime, days: int,
) -> Series:
    """``response_time`` on a business clock: due times need the calendar, so the window's messages are
    read (only the window's, by the indexed received_at range) and judged here."""
    start, end = window_bounds(metric, as_of, days)
    m = MESSAGES
    rows = session.execute(
        select(m.c.received_at, m.c.first_reply_at).where(
            m.c.account == account, m.c.received_at >= start, m.c.received_at < as_of,
            m.c.needs_reply.is_(True), m.c.sender == "buyer",
        )
    ).all()
    buckets: dict[tuple[int, bool], list[float]] = {}
    for received, replied in rows:
        received = _aware(received)
        due = calendar.add_hours(received, params.hours)
        late = _aware(replied) > due if replied is not None else due < as_of
        key = (int((received - start) / DAY), received < end)
        acc = buckets.setdefault(key, [0, 0])
        acc[0] += 1
        acc[1] += int(late)
    return _fold("rate", start, days, metric.lag_days, [(b, w, n, d) for (b, w), (n, d) in buckets.items()])


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _fold(kind: str, start: datetime, days: int, lag: int, rows: list[tuple[Any, Any, Any, Any]]) -> Series:
    size = days + lag
    eligible = [0.0] * size
    defects = [0.0] * size
    num = den = 0.0
    for b, w, n, d in rows:
        i = min(max(int(b), 0), size - 1)
        eligible[i] += float(n)
        defects[i] += float(d)
        if w:
            den += float(n)
            num += float(d)
    return Series(kind, start, days, lag, eligible, defects, numerator=num, denominator=den)


def latest_reported(
    session: Session, account: str, metric_id: str, scope: str | None, as_of: datetime
) -> ReportedMetricRow | None:
    """The marketplace's newest own figure for this metric, as known at ``as_of``."""
    q = select(ReportedMetricRow).where(
        ReportedMetricRow.account == account,
        ReportedMetricRow.metric_id == metric_id,
        ReportedMetricRow.as_of <= as_of,  # type: ignore[operator]
    )
    if scope is not None:
        q = q.where(ReportedMetricRow.scope == scope)
    q = q.order_by(ReportedMetricRow.as_of.desc()).limit(1)  # type: ignore[attr-defined]
    return session.execute(q).scalars().first()


def newest_reported(
    session: Session, account: str, metric_id: str, scope: str | None, as_of: datetime
) -> list[ReportedMetricRow]:
    """Every row of the marketplace's newest report of this metric (one per scope: program, region, category)."""
    newest = latest_reported(session, account, metric_id, scope, as_of)
    if newest is None:
        return []
    q = select(ReportedMetricRow).where(
        ReportedMetricRow.account == account,
        ReportedMetricRow.metric_id == metric_id,
        ReportedMetricRow.as_of == newest.as_of,  # type: ignore[arg-type]
    )
    if scope is not None:
        q = q.where(ReportedMetricRow.scope == scope)
    return list(session.execute(q).scalars())


def window_volume(session: Session, account: str, metric: Metric, params: Any, as_of: datetime) -> int:
    """All events of the population in the metric's normal window, before any filter: what a rule such as
    eBay's "400 transactions in the last 3 months" counts. Index-only (account, anchor) count."""
    table = POPULATIONS[params.events].table
    anchor = table.c[params.anchor]
    start, end = window_bounds(metric, as_of, metric.window_days)
    q = select(func.count()).select_from(table).where(table.c.account == account, anchor >= start, anchor < end)
    return int(session.execute(q).scalar_one())
