"""Periodic verdicts: bol.com's ISO-week service standards, counted in items, and the strike history.

bol judges each ISO week (Monday 00:00 to the next Monday 00:00, Europe/Amsterdam) on its own; a week is bad
when the percentage is breached AND a minimum count is reached (3 late items, 3 cancelled items, 10 questions
answered late); strikes are the bad weeks among the last 22 final weeks. Source: ../shared/reference/policies/bol.md
(B1, B3, B4, B5, B8). A pack metric with ``calculator = "periodic"`` is evaluated here, not by the day buckets of
``calculators.py``, because the unit (items, split over shipments and cancellations) and the per-week verdicts
need the rows themselves. Only the rows of the weeks asked for are read (indexed account + time ranges).

Measures (``params.measure``):

- ``late_items``: items of seller-shipped orders whose promised delivery (``Order.deliver_by``) falls in the week;
  an item is late when its shipment's first delivery attempt (``Shipment.first_attempt_at``, else
  ``delivered_at``) is after the promise, or the promise has passed without an attempt. Cancelled items are
  not delivered and leave the population. Items: the order's lines x quantity (``lines``), else ``item_count``.
- ``cancelled_items``: items of seller-shipped orders placed in the week; cancelled items count when the
  seller or bol cancelled them, or the customer did and the cancellation was processed (``processed_at``, else
  ``cancelled_at``) after the promised delivery date. A customer cancellation processed by the promised date
  does not count.
- ``late_replies``: buyer questions received in the week (``needs_reply``; spam / no-reply-needed flags left out)
  first answered after ``hours`` business hours (calendar ``params.calendar``), or unanswered with that passed.
- ``strikes``: the number of bad weeks among the last ``weeks`` final weeks of the metrics in ``params.metrics``.
  For each week bol's own final figure (reported metric, ``scope = "week"``) decides when stored, else the
  computed one.

A week is final once it has ended (bol recalculates for a few days afterwards; its final figure wins when stored).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from sellerguard.rules.calendars import BusinessCalendar
from sellerguard.rules.events import CANCELLATIONS, MESSAGES, ORDERS, SHIPMENTS
from sellerguard.rules.report import MetricStatus, Period, PeriodFigures, StrikeWeek
from sellerguard.store.tables import ReportedMetricRow

if TYPE_CHECKING:
    from sellerguard.rules.packs import Metric

WEEK = timedelta(days=7)
Measure = Literal["late_items", "cancelled_items", "late_replies", "strikes"]
EXCLUDED_FLAGS = ("spam", "no_reply_needed")


class PeriodicParams(BaseModel):
    """``params`` of a ``periodic`` metric (docs/policy-packs.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    measure: Measure
    hours: float = Field(default=24, gt=0)  # late_replies: reply deadline in business hours
    calendar: str | None = None  # late_replies: rules/calendars/<name>.toml
    weeks: int = Field(default=22, ge=1, le=104)  # strikes: final weeks counted
    metrics: list[str] = Field(default_factory=list)  # strikes: the week metrics whose bad weeks strike

    @model_validator(mode="after")
    def _needs(self) -> PeriodicParams:
        if self.measure == "late_replies" and not self.calendar:
            raise ValueError("measure = \"late_replies\" needs calendar = \"<name>\" (rules/calendars/<name>.toml)")
        if self.measure == "strikes" and not self.metrics:
            raise ValueError("measure = \"strikes\" needs metrics = [\"<week metric id>\", ...]")
        return self


# -- ISO weeks in the marketplace's clock --------------------------------------------------------------


@dataclass(frozen=True)
class Week:
    label: str  # "2026-W47"
    start: datetime  # Monday 00:00 local, in UTC
    end: datetime  # next Monday 00:00 local, in UTC


def week_of(moment: datetime, tz: ZoneInfo) -> Week:
    """The ISO week (Monday 00:00 to Monday 00:00 in ``tz``) that contains ``moment``."""
    local = moment.astimezone(tz)
    monday = local.date() - timedelta(days=local.weekday())
    return _week(monday, tz)


def _week(monday: date, tz: ZoneInfo) -> Week:
    year, week, _ = monday.isocalendar()
    start = datetime.combine(monday, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(monday + WEEK, time(0), tzinfo=tz).astimezone(UTC)  # 167 or 169 h across DST
    return Week(f"{year}-W{week:02d}", start, end)


def weeks_before(week: Week, n: int, tz: ZoneInfo) -> list[Week]:
    """The ``n`` weeks before ``week``, newest first."""
    monday = week.start.astimezone(tz).date()
    return [_week(monday - WEEK * i, tz) for i in range(1, n + 1)]


# -- counting per week ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """One week of one measure: bad units over all units (items or questions)."""

    week: Week
    defects: int = 0
    eligible: int = 0

    @property
    def value(self) -> float | None:
        return self.defects / self.eligible if self.eligible else None


def _aware(dt: datetime | None) -> datetime | None:
    return None if dt is None else (dt if dt.tzinfo else dt.replace(tzinfo=UTC))


def order_items(lines: Any, item_count: int | None) -> int:
    """Items of an order: its lines x quantity when the lines are known, else ``item_count``."""
    if isinstance(lines, list) and lines:
        return sum(int(line.get("quantity", 1) or 0) for line in lines if isinstance(line, dict))
    return int(item_count if item_count is not None else 1)


def _slot(weeks: list[Week], moment: datetime | None) -> Week | None:
    if moment is None:
        return None
    return next((w for w in weeks if w.start <= moment < w.end), None)


def _related_rows(session: Session, account: str, table: Any, columns: list[Any], order_range: Any) -> dict[
        str, list[Any]]:
    """Rows of ``table`` (shipments, cancellations) of the orders in ``order_range``, by order id: one join over
    the indexed order range, whatever the number of orders."""
    o = ORDERS
    rows = session.execute(
        select(table.c.order_ref, *columns)
        .join(o, (o.c.account == table.c.account) & (o.c.external_id == table.c.order_ref))
        .where(table.c.account == account, o.c.fulfilment == "seller", *order_range)
    ).all()
    out: dict[str, list[Any]] = {}
    for row in rows:
        out.setdefault(row[0], []).append(row)
    return out


def _cancels(session: Session, account: str, order_range: Any) -> dict[str, list[Any]]:
    c = CANCELLATIONS
    return _related_rows(session, account, c, [c.c.item_count, c.c.initiated_by, c.c.buyer_requested,
                                               c.c.cancelled_at, c.c.processed_at], order_range)


def late_items(session: Session, account: str, weeks: list[Week], as_of: datetime) -> dict[str, Tally]:
    """Per week: late items / items promised for delivery in the week (seller-shipped, not cancelled)."""
    tallies = {w.label: Tally(w) for w in weeks}
    lo, hi = min(w.start for w in weeks), max(w.end for w in weeks)
    o = ORDERS
    in_range = [o.c.deliver_by >= lo, o.c.deliver_by < hi]
    orders = session.execute(
        select(o.c.external_id, o.c.deliver_by, o.c.item_count, o.c.lines, o.c.status).where(
            o.c.account == account, o.c.fulfilment == "seller", *in_range)
    ).all()
    cancels = _cancels(session, account, in_range)
    sh = SHIPMENTS
    ships = _related_rows(session, account, sh, [sh.c.item_count, sh.c.first_attempt_at, sh.c.delivered_at],
                          in_range)
    for ref, deliver_by, item_count, lines, status in orders:
        deliver_by = _aware(deliver_by)
        week = _slot(weeks, deliver_by)
        if week is None or deliver_by is None:
            continue
        items = order_items(lines, item_count)
        if status == "cancelled":
            continue
        cancelled = sum(int(c[1]) if c[1] is not None else items for c in cancels.get(ref, []))
        items = max(items - cancelled, 0)
        if items == 0:
            continue
        late = 0
        remaining = items
        # each shipment's items are judged by its own first attempt; a shipment without a count carries the rest
        for _, count, attempt, delivered in sorted(ships.get(ref, []), key=lambda r: r[1] is None):
            n = min(int(count) if count is not None else remaining, remaining)
            remaining -= n
            first = _aware(attempt) or _aware(delivered)
            if (first is not None and first > deliver_by) or (first is None and deliver_by < as_of):
                late += n
        if remaining and deliver_by < as_of:  # items never shipped: the promise has passed
            late += remaining
        t = tallies[week.label]
        t.eligible += items
        t.defects += late
    return tallies


def cancelled_items(session: Session, account: str, weeks: list[Week], as_of: datetime) -> dict[str, Tally]:
    """Per week: items cancelled against the seller / items ordered in the week (seller-shipped orders)."""
    tallies = {w.label: Tally(w) for w in weeks}
    lo, hi = min(w.start for w in weeks), max(w.end for w in weeks)
    o = ORDERS
    in_range = [o.c.purchased_at >= lo, o.c.purchased_at < hi]
    orders = session.execute(
        select(o.c.external_id, o.c.purchased_at, o.c.deliver_by, o.c.item_count, o.c.lines).where(
            o.c.account == account, o.c.fulfilment == "seller", *in_range)
    ).all()
    cancels = _cancels(session, account, in_range)
    for ref, purchased, deliver_by, item_count, lines in orders:
        week = _slot(weeks, _aware(purchased))
        if week is None:
            continue
        items = order_items(lines, item_count)
        deliver_by = _aware(deliver_by)
        bad = 0
        for _, count, by, buyer_requested, cancelled_at, processed_at in cancels.get(ref, []):
            n = int(count) if count is not None else items
            by_customer = bool(buyer_requested) or by == "buyer"
            if by_customer:
                # counts only when handled after the promised delivery date (B3); no promise known: not counted
                handled = _aware(processed_at) or _aware(cancelled_at)
                if deliver_by is None or handled is None or handled <= deliver_by:
                    continue
            bad += n
        t = tallies[week.label]
        t.eligible += items
        t.defects += min(bad, items)
    return tallies


def late_replies(session: Session, account: str, weeks: list[Week], as_of: datetime,
                 calendar: BusinessCalendar, hours: float) -> dict[str, Tally]:
    """Per week: buyer questions answered after ``hours`` business hours (or overdue) / questions received."""
    tallies = {w.label: Tally(w) for w in weeks}
    lo, hi = min(w.start for w in weeks), max(w.end for w in weeks)
    m = MESSAGES
    rows = session.execute(
        select(m.c.received_at, m.c.first_reply_at, m.c.marketplace_flag).where(
            m.c.account == account, m.c.received_at >= lo, m.c.received_at < hi,
            m.c.needs_reply.is_(True), m.c.sender == "buyer")
    ).all()
    for received, replied, flag in rows:
        if flag in EXCLUDED_FLAGS:
            continue
        received = _aware(received)
        week = _slot(weeks, received)
        if week is None or received is None:
            continue
        due = calendar.add_hours(received, hours)
        replied = _aware(replied)
        late = replied > due if replied is not None else due < as_of
        t = tallies[week.label]
        t.eligible += 1
        t.defects += int(late)
    return tallies


# -- bol's own weekly figures --------------------------------------------------------------------------


def reported_weeks(session: Session, account: str, metric_id: str, scope: str, weeks: list[Week],
                   as_of: datetime) -> dict[str, ReportedMetricRow]:
    """bol's newest stored figure per week (matched on the week's start), as known at ``as_of``."""
    if not weeks:
        return {}
    lo, hi = min(w.start for w in weeks), max(w.end for w in weeks)
    r = ReportedMetricRow
    rows = session.execute(
        select(r).where(r.account == account, r.metric_id == metric_id, r.scope == scope,
                        r.as_of <= as_of, r.window_start >= lo, r.window_start < hi)  # type: ignore[arg-type,operator]
        .order_by(r.as_of)  # type: ignore[arg-type]
    ).scalars().all()
    out: dict[str, ReportedMetricRow] = {}
    for row in rows:
        week = _slot(weeks, _aware(row.window_start))
        if week is not None and _aware(row.window_start) == week.start:
            out[week.label] = row  # later as_of wins
    return out


# -- evaluation ----------------------------------------------------------------------------------------


@dataclass
class WeekFigure:
    """One week of one metric: the computed tally, bol's figure, and the verdict."""

    week: Week
    tally: Tally
    reported: ReportedMetricRow | None
    bad: bool = False
    source: str = "computed"  # which figure decided the verdict: computed | reported | none
    level: str = "ok"


@dataclass
class Evaluation:
    final: WeekFigure
    running: WeekFigure
    history: list[WeekFigure] = field(default_factory=list)  # final weeks, newest first


def _judge(metric: Metric, fig: WeekFigure) -> None:
    """Verdict of one week: bol's own final figure when stored, else the computed one."""
    from sellerguard.rules import assess  # assess -> calculators -> packs -> this module

    row = fig.reported
    if row is not None and row.value is not None:
        value, count, fig.source = row.value, row.numerator or 0, "reported"
    elif fig.tally.eligible:
        value, count, fig.source = fig.tally.value, fig.tally.defects, "computed"
    else:
        fig.source, fig.level = "none", "unknown"
        return
    fig.bad = assess.breached(metric, value, count)
    fig.level = assess.level_of(metric, value, count, None)


def _tallies(session: Session, account: str, params: PeriodicParams, weeks: list[Week], as_of: datetime,
             calendar_of: Callable[[str], BusinessCalendar]) -> dict[str, Tally]:
    if params.measure == "late_items":
        return late_items(session, account, weeks, as_of)
    if params.measure == "cancelled_items":
        return cancelled_items(session, account, weeks, as_of)
    assert params.calendar is not None
    return late_replies(session, account, weeks, as_of, calendar_of(params.calendar), params.hours)


def week_figures(session: Session, account: str, metric: Metric, weeks: list[Week], as_of: datetime,
                 calendar_of: Callable[[str], BusinessCalendar], scope: str = "week") -> list[WeekFigure]:
    """Computed and reported figures with the verdict, for each of ``weeks``."""
    params: PeriodicParams = metric.parsed
    tallies = _tallies(session, account, params, weeks, as_of, calendar_of)
    ref = metric.reported_ref
    reported = reported_weeks(session, account, ref.metric_id, scope, weeks, as_of)
    figures = [WeekFigure(w, tallies[w.label], reported.get(w.label)) for w in weeks]
    for fig in figures:
        _judge(metric, fig)
    return figures


def _policy_of(metric: Metric) -> dict[str, Any]:
    """The metric's policy fields every periodic figure carries."""
    return {"threshold": metric.threshold, "warn": metric.warn, "comparator": metric.comparator,
            "warn_comparator": metric.warn_comparator, "breach_level": metric.breach_level,
            "confirmed": metric.confirmed, "consequence": metric.consequence, "source": metric.source}


def _figures(fig: WeekFigure) -> PeriodFigures:
    t = fig.tally
    row = fig.reported
    return PeriodFigures(
        period=fig.week.label, window_start=fig.week.start, window_end=fig.week.end,
        value=t.value, numerator=t.defects if t.eligible else None, denominator=t.eligible if t.eligible else None,
        reported_value=row.value if row is not None else None, level=fig.level,
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def evaluate(session: Session, account: str, metric: Metric, active: list[Metric], as_of: datetime,
             stale: str | None, calendar_of: Callable[[str], BusinessCalendar]) -> MetricStatus:
    """A ``periodic`` metric's status: the last final ISO week (with the running week beside it), or for
    ``strikes`` the number of bad weeks among the last ``weeks`` final weeks and which weeks they were."""
    from sellerguard.rules import assess  # assess -> calculators -> packs -> this module

    params: PeriodicParams = metric.parsed
    tz = ZoneInfo(metric.timezone)
    running = week_of(as_of, tz)
    if params.measure == "strikes":
        return _strikes(session, account, metric, params, active, as_of, stale, calendar_of, running, tz)
    last = weeks_before(running, 1, tz)[0]
    final = week_figures(session, account, metric, [last], as_of, calendar_of)[0]
    current = week_figures(session, account, metric, [running], as_of, calendar_of, scope="current")[0]
    t, row = final.tally, final.reported
    base: dict[str, Any] = {
        "id": metric.id, "name": metric.name, "window_days": 7, "window_start": last.start, "window_end": last.end,
        **_policy_of(metric),
        "period": last.label, "running": _figures(current),
        "reported_value": row.value if row is not None else None,
    }
    if t.eligible:
        base.update(value=t.value, numerator=t.defects, denominator=t.eligible)
    elif row is not None:
        base.update(value=row.value, numerator=row.numerator, denominator=row.denominator)
    else:
        base.update(value=None, numerator=None, denominator=None)
    if base["value"] is not None and base["reported_value"] is not None and t.eligible:
        base["drift"] = base["value"] - base["reported_value"]
    base.update(window_kind="iso_weeks", unit="events" if params.measure == "late_replies" else "units",
                gate_unit="unit", eligible_count=base["denominator"], defect_count=base["numerator"],
                marketplace_status=row.status if row is not None else None)
    if stale:
        return MetricStatus(**base, level="unknown", reason=stale)
    unit = "questions" if params.measure == "late_replies" else "items"
    ahead = _running_note(current, unit)  # the running week already bad: a strike is coming
    if final.source == "none":
        reason = f"no data for {last.label}: no events stored and no figure from bol"
        return MetricStatus(**base, level="warn" if ahead else "unknown",
                            reason=f"{reason}; {ahead}" if ahead else reason)
    count = row.numerator if final.source == "reported" and row is not None else t.defects
    value = row.value if final.source == "reported" and row is not None else t.value
    figure = f"{_pct(value)}, {count or 0:g} {unit}"
    who = "bol's final figure" if final.source == "reported" else "computed"
    if final.bad:
        reason = f"bad week {last.label} ({who}: {figure}): a strike"
    elif final.level == "warn":
        gate = f"; below the strike gate of {metric.count_gate} {unit}" if (
            metric.count_gate and not assess.is_good(value or 0, metric.comparator, metric.threshold or 0)) else ""
        reason = f"{last.label} in the warning band ({who}: {figure}){gate}"
    else:
        reason = f"{last.label} within the norm ({who}: {figure})"
    base["gate_count"] = count
    # the same figures as `final` too, so that readers of eBay's / Etsy's verdict field find bol's
    base["final"] = Period(at=last.end, window_start=last.start, window_end=last.end, value=value,
                           numerator=count, denominator=row.denominator if final.source == "reported" and row
                           is not None else t.eligible, gate_count=count, level=final.level, reason=reason)
    level = final.level
    if ahead:
        level = "warn" if level == "ok" else level
        reason = f"{reason}; {ahead}"
    return MetricStatus(**base, level=level, reason=reason)


def _running_note(current: WeekFigure, unit: str) -> str | None:
    """A phrase when the running week is already a bad week (percentage and count), else None."""
    if not current.bad:
        return None
    row, t = current.reported, current.tally
    value, count = (row.value, row.numerator) if current.source == "reported" and row is not None else (
        t.value, t.defects)
    who = "bol's estimate" if current.source == "reported" else "so far"
    return f"running week {current.week.label} heading for a strike ({who}: {_pct(value)}, {count or 0:g} {unit})"


def _strikes(session: Session, account: str, metric: Metric, params: PeriodicParams, active: list[Metric],
             as_of: datetime, stale: str | None, calendar_of: Callable[[str], BusinessCalendar], running: Week,
             tz: ZoneInfo) -> MetricStatus:
    weeks = weeks_before(running, params.weeks, tz)
    by_id = {m.id: m for m in active}
    struck: dict[str, StrikeWeek] = {}
    known: set[str] = set()
    for metric_id in params.metrics:
        week_metric = by_id.get(metric_id)
        if week_metric is None:  # switched off for this account: its weeks do not count
            continue
        for fig in week_figures(session, account, week_metric, weeks, as_of, calendar_of):
            if fig.source != "none":
                known.add(fig.week.label)
            if fig.bad:
                w = struck.setdefault(fig.week.label, StrikeWeek(
                    period=fig.week.label, window_start=fig.week.start, window_end=fig.week.end,
                    metrics=[], sources=[]))
                w.metrics.append(metric_id)
                w.sources.append(fig.source)
    strike_weeks = sorted(struck.values(), key=lambda w: w.window_start, reverse=True)
    count = float(len(strike_weeks))
    base: dict[str, Any] = {
        "id": metric.id, "name": metric.name, "value": count, "numerator": count, "denominator": None,
        "window_days": 7 * params.weeks, "window_start": weeks[-1].start, "window_end": weeks[0].end,
        **_policy_of(metric),
        "period": f"{weeks[-1].label}..{weeks[0].label}", "strikes": strike_weeks,
        "window_kind": "iso_weeks", "unit": "events", "defect_count": count,
    }
    if stale:
        return MetricStatus(**base, level="unknown", reason=stale)
    if not known:
        return MetricStatus(**{**base, "value": None, "numerator": None}, level="unknown",
                            reason=f"no week of the last {params.weeks} has data (no events, no figure from bol)")
    from sellerguard.rules import assess

    level = assess.level_of(metric, count, count, None)
    listed = ", ".join(w.period for w in strike_weeks)
    gaps = params.weeks - len(known)
    note = f"; {gaps} of {params.weeks} weeks without data" if gaps else ""
    if not strike_weeks:
        reason = f"no strike in the last {params.weeks} final weeks{note}"
    else:
        reason = f"{len(strike_weeks)} strike(s) in the last {params.weeks} final weeks: {listed}{note}"
    return MetricStatus(**base, level=level, reason=reason)
