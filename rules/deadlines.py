"""The deadline queue: open items that become defects unless the seller acts.

- ship: seller-fulfilled orders not yet confirmed as shipped, with ship-by (stored, or derived from the handling
  time for packs with `derive_ship_by`) in [now - 7 d, now + horizon], for every metric judged against a ship-by;
- reply: buyer messages still unanswered whose reply deadline falls in the same range;
- tracking: shipped packages without a tracking number (due: ship-by for upload-within-handling rules,
  otherwise deliver-by, or ship date + 3 days when the order has none);
- return: return requests not yet resolved (due: requested + the metric's respond hours);
- auto-cancel (kind ``ship``): seller-fulfilled orders not yet shipped that the marketplace cancels itself a fixed
  number of days after a deadline of the order, the cancellation counting against the seller (``AUTO_CANCEL``:
  Walmart, ship-by (ESD) + 4 calendar days, ``walmart.cancellation_rate``).

Each item names the most sensitive metric it feeds (the shortest window) and that metric's value if the
item is missed. Items already past due are already counted in that value. Every query reads an indexed
(account, time) range bounded by the horizon, never the whole history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Literal

from sqlalchemy import Select, bindparam, exists, not_, select
from sqlalchemy.orm import Session

from sellerguard.rules.assess import value_of
from sellerguard.rules.calculators import Series
from sellerguard.rules.calendars import BusinessCalendar
from sellerguard.rules.events import (
    MESSAGES,
    ORDERS,
    RETURNS,
    SHIP_BY_DEFECTS,
    SHIPMENTS,
    messages_to_answer,
    shipment_confirmed_at,
)
from sellerguard.rules.handling import derive_ship_by, handling_calendar
from sellerguard.rules.packs import EventParams, Metric, ResponseParams
from sellerguard.rules.report import Deadline

LOOKBACK = timedelta(days=7)
DERIVED_LOOKBACK_DAYS = 90  # handling times up to 60 business days (schema limit) end within ~12 weeks
MAX_ITEMS = 200  # per kind and account: the queue is for people, the metric carries the rest


@dataclass(frozen=True)
class AutoCancel:
    """The marketplace cancels a seller-fulfilled order still unshipped ``days`` calendar days after its ``after``
    deadline, and the cancellation counts in ``metric`` (a rate whose defects include ``seller_cancelled``).
    ``needs_tracking``: a shipment confirmed without a tracking number does not save the order."""

    metric: str
    after: Literal["ship_by", "deliver_by"]
    days: int
    needs_tracking: bool
    source: str


# Only rules whose policy page states both the rule and its clock (../shared/reference/policies/). Not here:
# Amazon (unconfirmed orders are auto-cancelled, but the delay differs by source: 24 h after the ship date vs seven
# business days), TikTok Shop (an auto-cancellation SLA, no clock given), bol.com (the 3rd day after the promised
# delivery date, but its cancellation metric is a weekly item share, rules/periodic.py), Mercado Libre (no rule).
AUTO_CANCEL: tuple[AutoCancel, ...] = (
    # "An order not moved to shipped with valid tracking by the fourth calendar day after ESD is cancelled and
    # refunded by Walmart and counts against the seller" (ESD = the stored ship_by; Performance alarms page)
    AutoCancel("walmart.cancellation_rate", "ship_by", 4, needs_tracking=True,
               source="https://marketplacelearn.walmart.com/guides/Policies%20&%20standards/Performance/Performance-alarms"),
)


@dataclass
class Evaluated:
    """A metric as evaluated now, for value-if-missed."""

    metric: Metric
    series: Series | None

    def value_if_missed(self, anchor: datetime, due: datetime, as_of: datetime, *,
                        counted: bool | None = None) -> float | None:
        """``counted``: the item is already a defect in the value (True: a package without tracking; False: not
        even past due, an auto-cancel counts once the marketplace cancels); None: it is once past due."""
        s = self.series
        if s is None:
            return None
        d, n = s.numerator, s.denominator
        if counted or (counted is None and due <= as_of):  # already counted as a defect
            return value_of(s.kind, d, n)
        inside = s.start <= anchor < s.end
        return value_of(s.kind, d + 1, n if inside else n + 1)


def _pick(evaluated: list[Evaluated], test: Callable[[Metric], bool]) -> Evaluated | None:
    hits = [e for e in evaluated if test(e.metric) and e.metric.threshold is not None]
    return min(hits, key=lambda e: e.metric.nominal_days) if hits else None


def _has_defect(*names: str) -> Callable[[Metric], bool]:
    def test(m: Metric) -> bool:
        return m.calculator in ("rate", "count") and any(d in m.params.get("defects", []) for d in names)

    return test


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def find_deadlines(
    session: Session, account: str, evaluated: list[Evaluated], as_of: datetime, horizon_days: int,
    calendar_for: Callable[[ResponseParams], BusinessCalendar | None],
) -> list[Deadline]:
    until = as_of + timedelta(days=horizon_days)
    since = as_of - LOOKBACK
    out: list[Deadline] = []

    # every metric judged against the ship-by feeds the ship queue (eBay's late shipment / tracking upload too)
    if ev := _pick(evaluated, _has_defect(*sorted(SHIP_BY_DEFECTS))):
        rows = [tuple(r) for r in session.execute(
            _due_open_orders("ship_by", "purchased_at"),
            {"account": account, "start": since, "end": until},
        ).all()]
        if ev.metric.params.get("derive_ship_by") is True:  # eBay: from payment + handling days
            bare = session.execute(
                _unscheduled_open_orders(),
                {"account": account, "start": since - timedelta(days=DERIVED_LOOKBACK_DAYS)},
            ).all()
            bought = {r[0]: r[3] for r in bare}
            calendar = handling_calendar(ev.metric.parsed, ev.metric.timezone)
            derived = derive_ship_by([(r[0], r[1], r[2]) for r in bare], calendar)
            rows += [(ref, due, bought[ref]) for ref, due in derived if since <= due < until]
        anchored_by_ship_by = ev.metric.params.get("anchor") == "ship_by"
        for ref, ship_by, purchased in sorted(rows, key=lambda r: _aware(r[1]))[:MAX_ITEMS]:
            due = _aware(ship_by)
            anchor = due if anchored_by_ship_by else _aware(purchased)
            out.append(Deadline(kind="ship", ref=ref, due=due, metric=ev.metric.id,
                                value_if_missed=ev.value_if_missed(anchor, due, as_of)))

    out += _auto_cancels(session, account, evaluated, as_of, since, until)

    if ev := _pick(evaluated, lambda m: m.calculator == "response_time"):
        params: ResponseParams = ev.metric.parsed
        calendar = calendar_for(params)
        # a business clock can stretch 24 h over a long weekend: read a few more days back
        slack = timedelta(hours=params.hours) + (timedelta(days=5) if calendar else timedelta())
        rows = session.execute(
            select(MESSAGES.c.thread_id, MESSAGES.c.external_id, MESSAGES.c.received_at).where(
                MESSAGES.c.account == account, MESSAGES.c.received_at >= since - slack,
                MESSAGES.c.received_at < as_of, MESSAGES.c.first_reply_at.is_(None),
                *messages_to_answer(MESSAGES, params),
            ).order_by(MESSAGES.c.received_at).limit(MAX_ITEMS * 5)
        ).all()
        for thread, ext, received in rows:
            received = _aware(received)
            due = calendar.add_hours(received, params.hours) if calendar else received + timedelta(
                hours=params.hours)
            if since <= due < until:
                out.append(Deadline(kind="reply", ref=thread or ext, due=due, metric=ev.metric.id,
                                    value_if_missed=ev.value_if_missed(received, due, as_of)))

    if ev := _pick(evaluated, _has_defect("invalid_tracking", "tracking_not_on_time")):
        upload_by_ship_by = "tracking_not_on_time" in ev.metric.params.get("defects", [])
        window = timedelta(days=ev.metric.nominal_days)
        rows = session.execute(untracked_shipments(),
                               {"account": account, "start": as_of - window, "end": as_of}).all()
        for ref, shipped, ship_by, deliver_by in rows:
            shipped = _aware(shipped)
            if upload_by_ship_by and ship_by is not None:
                due = _aware(ship_by)
            else:
                due = _aware(deliver_by) if deliver_by is not None else shipped + timedelta(days=3)
            if due < until:
                anchor = _anchor_for(ev.metric, shipped, ship_by)
                out.append(Deadline(kind="tracking", ref=ref, due=due, metric=ev.metric.id,
                                    value_if_missed=ev.value_if_missed(anchor, due, as_of, counted=True)))

    if ev := _pick(evaluated, _has_defect("dissatisfied")):
        hours = EventParams.model_validate(ev.metric.params).respond_hours
        rows = session.execute(
            select(RETURNS.c.external_id, RETURNS.c.order_ref, RETURNS.c.requested_at).where(
                RETURNS.c.account == account, RETURNS.c.requested_at >= since - timedelta(hours=hours),
                RETURNS.c.requested_at < as_of, RETURNS.c.resolved_at.is_(None),
            ).order_by(RETURNS.c.requested_at).limit(MAX_ITEMS)
        ).all()
        for ext, order_ref, requested in rows:
            requested = _aware(requested)
            due = requested + timedelta(hours=hours)
            if since <= due < until:
                out.append(Deadline(kind="return", ref=order_ref or ext, due=due, metric=ev.metric.id,
                                    value_if_missed=ev.value_if_missed(requested, due, as_of)))
    out.sort(key=lambda d: d.due)
    return out


# The statements are built once (bind parameters ``account``, ``start``, ``end``): building SQLAlchemy expressions
# for every account and evaluation cost about as much as running them.


@cache
def untracked_shipments() -> Select[Any]:
    """The first ``MAX_ITEMS`` seller-fulfilled packages of ``account`` shipped in [start, end) without a tracking
    number: (order_ref, shipped_at, ship_by, deliver_by). ``tracking_number IS NULL`` matches the predicate of the
    partial index ix_shipment_account_untracked (sellerguard/store/tables.py), so only those ~2 % of the window's
    shipments are read, not all of them."""
    return (select(SHIPMENTS.c.order_ref, SHIPMENTS.c.shipped_at, ORDERS.c.ship_by, ORDERS.c.deliver_by)
            .join(ORDERS, (ORDERS.c.account == SHIPMENTS.c.account)
                  & (ORDERS.c.external_id == SHIPMENTS.c.order_ref))
            .where(SHIPMENTS.c.account == bindparam("account"), SHIPMENTS.c.shipped_at >= bindparam("start"),
                   SHIPMENTS.c.shipped_at < bindparam("end"), SHIPMENTS.c.tracking_number.is_(None),
                   ORDERS.c.fulfilment == "seller")
            .order_by(SHIPMENTS.c.shipped_at).limit(MAX_ITEMS))


def _open_orders(*, needs_tracking: bool = False) -> list[Any]:
    """Conditions of a seller-fulfilled order of ``account`` not yet confirmed as shipped (with a tracking number
    when ``needs_tracking``)."""
    confirmed = [SHIPMENTS.c.account == ORDERS.c.account, SHIPMENTS.c.order_ref == ORDERS.c.external_id,
                 shipment_confirmed_at().is_not(None)]
    if needs_tracking:
        confirmed.append(SHIPMENTS.c.tracking_number.is_not(None))
    return [ORDERS.c.account == bindparam("account"), ORDERS.c.fulfilment == "seller",
            ORDERS.c.status.in_(["pending", "unshipped", "partially_shipped"]), not_(exists().where(*confirmed))]


@cache
def _due_open_orders(deadline: str, anchor: str, needs_tracking: bool = False) -> Select[Any]:
    """Open orders of ``account`` (``_open_orders``) whose ``deadline`` column is in [start, end), soonest first:
    (external_id, deadline, anchor), at most ``MAX_ITEMS``; read through the (account, deadline) index."""
    col = ORDERS.c[deadline]
    return (select(ORDERS.c.external_id, col, ORDERS.c[anchor])
            .where(col >= bindparam("start"), col < bindparam("end"), *_open_orders(needs_tracking=needs_tracking))
            .order_by(col).limit(MAX_ITEMS))


@cache
def _unscheduled_open_orders() -> Select[Any]:
    """Open orders of ``account`` bought since ``start`` with no ship-by but a handling time (eBay derives one)."""
    return (select(ORDERS.c.external_id, ORDERS.c.paid_at, ORDERS.c.handling_days, ORDERS.c.purchased_at)
            .where(ORDERS.c.purchased_at >= bindparam("start"), ORDERS.c.ship_by.is_(None),
                   ORDERS.c.handling_days.is_not(None), *_open_orders())
            .limit(MAX_ITEMS * 5))


def _auto_cancels(session: Session, account: str, evaluated: list[Evaluated], as_of: datetime,
                  since: datetime, until: datetime) -> list[Deadline]:
    """One ``ship`` item per open order the marketplace will cancel (``AUTO_CANCEL``), due at the cancel moment
    (the order's deadline + the rule's calendar days) in [since, until). The order stays in the metric's population
    (anchored by its purchase, as the metric places it), so missing adds one defect and no event outside the
    window; past due it is not counted yet either (the cancellation is a record only once the marketplace acts)."""
    by_id = {e.metric.id: e for e in evaluated if e.metric.threshold is not None}
    out: list[Deadline] = []
    for rule in AUTO_CANCEL:
        ev = by_id.get(rule.metric)
        if ev is None:
            continue
        lag = timedelta(days=rule.days)
        stmt = _due_open_orders(rule.after, ev.metric.params.get("anchor", "purchased_at"), rule.needs_tracking)
        rows = session.execute(stmt, {"account": account, "start": since - lag, "end": until - lag}).all()
        for ref, after, anchor in rows:
            due = _aware(after) + lag
            anchor = _aware(anchor) if anchor is not None else due
            out.append(Deadline(kind="ship", ref=ref, due=due, metric=rule.metric,
                                value_if_missed=ev.value_if_missed(anchor, due, as_of, counted=False)))
    return out


def _anchor_for(metric: Metric, shipped: datetime, ship_by: Any) -> datetime:
    anchor = metric.params.get("anchor")
    if anchor == "ship_by" and ship_by is not None:
        return _aware(ship_by)
    return shipped
